// libFuzzer target for the checkpoint loader: descent::decode_checkpoint on arbitrary bytes and, when that
// succeeds, Optimizer::load_state_dict, strict and not, into the small Adam, SGD and NAdam of fixtures.hpp
// (each fresh and after two steps). Run by scripts/fuzz.sh; built by tests/fuzz/CMakeLists.txt.
//
// Findings, besides whatever AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer report:
//   - an exception not derived from descent::Error, from anything;
//   - a descent::Error from anything but decoding, loading or the step after a load;
//   - a load that throws but changed the optimizer (parameter values, gradients, state, options, counts);
//   - a load that succeeds but does not leave each parameter's state exactly as the dictionary has it
//     (or, for a parameter a non-strict load reports missing, exactly as it was), or a strict load that
//     succeeds while the dictionary holds a tensor the optimizer has no use for;
//   - a loaded optimizer whose state_dict() does not encode and decode again, or that cannot take a
//     step and a skipped step (NaN gradient, NonFinitePolicy::Skip) without a crash or UB.
// The checksum covers every byte, so almost every mutation fails it: an input that does not decode is
// tried a second time with its checksum recomputed (refresh_checksum), so that mutations reach the rest
// of the decoder and load_state_dict.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/error.hpp"
#include "fixtures.hpp"

namespace {

using descent_fuzz::Fixture;
using descent_fuzz::Kind;

struct Case {
  Kind kind;
  int steps;
  bool strict;
};

[[noreturn]] void finding(const Case& c, const std::string& what) {
  std::fprintf(stderr, "\n==fuzz_checkpoint== FINDING (%s after %d steps, %s load): %s\n",
               std::string(descent_fuzz::kind_name(c.kind)).c_str(), c.steps, c.strict ? "strict" : "non-strict",
               what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool same(const descent::Tensor& a, const descent::Tensor& b) {
  return a.type == b.type && a.shape == b.shape && a.bytes == b.bytes;
}

using Tensors = std::map<std::string, const descent::Tensor*>;

bool same(const Tensors& a, const Tensors& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first || !same(*i->second, *j->second)) return false;
  }
  return true;
}

// The tensors of `dict` that the optimizer reads as state of `param`: "state/<param>/<slot>" for its step
// count, scalar slots and slots (the loader splits the key at its last '/').
Tensors state_of(const descent::StateDict& dict, const descent::Optimizer& opt, const std::string& param) {
  std::set<std::string, std::less<>> slots{"step"};
  for (const std::string_view s : opt.slot_names()) slots.emplace(s);
  for (const std::string_view s : opt.scalar_slot_names()) slots.emplace(s);
  const std::string prefix = "state/" + param + "/";
  Tensors out;
  for (const auto& [key, t] : dict.tensors) {
    if (key.starts_with(prefix) && key.rfind('/') == prefix.size() - 1 && slots.count(key.substr(prefix.size()))) {
      out.emplace(key, &t);
    }
  }
  return out;
}

std::string describe(const Tensors& t) {
  std::string out = "{";
  for (const auto& [key, tensor] : t) {
    out += (out.size() > 1 ? ", " : "") + key + ": " + std::string(descent::name_of(tensor->type)) + " x" +
           std::to_string(tensor->elements());
  }
  return out + "}";
}

void load_into(const Case& c, const descent::StateDict& dict) {
  Fixture f(c.kind, c.steps);
  descent::Optimizer& opt = f.optimizer();
  const std::vector<std::byte> before = f.snapshot();
  const descent::StateDict before_dict = opt.state_dict(/*with_parameters=*/true);

  descent::LoadReport report;
  try {
    report = opt.load_state_dict(dict, c.strict);
  } catch (const descent::Error& e) {
    // The property the loader promises: a throwing load changes nothing.
    if (f.snapshot() != before) finding(c, std::string("a failed load changed the optimizer; it threw: ") + e.what());
    return;
  }

  const descent::StateDict after = opt.state_dict(/*with_parameters=*/true);
  if (c.strict && (!report.missing.empty() || !report.unexpected.empty())) {
    finding(c, "a strict load returned a report that is not empty");
  }
  for (std::size_t i = 0; i < opt.num_parameters(); ++i) {
    const std::string& name = opt.parameter(i).name();
    bool missing = false;
    for (const std::string& m : report.missing) missing = missing || m == name;
    const Tensors expected = missing ? state_of(before_dict, opt, name) : state_of(dict, opt, name);
    const Tensors got = state_of(after, opt, name);
    if (!same(got, expected)) {
      finding(c, "after the load the state of '" + name + "' is " + describe(got) + ", but " +
                     (missing ? "the load reported it missing and it was " : "the dictionary has ") + describe(expected));
    }
    const std::string value = "param/" + name;
    const auto given = dict.tensors.find(value);
    const descent::Tensor& want = given != dict.tensors.end() ? given->second : before_dict.tensors.at(value);
    if (!same(after.tensors.at(value), want)) {
      finding(c, "after the load the values of '" + name + "' are not " +
                     (given != dict.tensors.end() ? "the dictionary's" : "what they were (the dictionary has none)"));
    }
  }
  if (c.strict) {
    for (const auto& [key, t] : dict.tensors) {
      const auto it = after.tensors.find(key);
      if (it == after.tensors.end() || !same(it->second, t)) {
        finding(c, "a strict load succeeded, but the optimizer does not hold the dictionary's '" + key + "'");
      }
    }
  }

  // What was loaded can be saved and read back, and stepped from: one step, and one skipped for a NaN
  // gradient (which counts in skipped_steps). An error is an answer; a crash or undefined behaviour is not.
  try {
    descent::decode_checkpoint(descent::encode_checkpoint(after), "re-encoded state");
  } catch (const descent::Error& e) {
    finding(c, std::string("the state_dict() of a loaded optimizer does not encode and decode: ") + e.what());
  }
  try {
    f.step();
  } catch (const descent::Error&) {
  }
  try {
    if (f.skipped_step()) finding(c, "a step with a NaN gradient under NonFinitePolicy::Skip was not skipped");
  } catch (const descent::Error&) {
  }
}

std::optional<descent::StateDict> decode(std::span<const std::byte> bytes) {
  try {
    return descent::decode_checkpoint(bytes, "fuzz input");
  } catch (const descent::Error&) {
    return std::nullopt;
  }
}

void run(std::span<const std::byte> bytes) {
  std::optional<descent::StateDict> dict = decode(bytes);
  if (!dict) {
    std::vector<std::byte> fixed(bytes.begin(), bytes.end());
    if (descent_fuzz::refresh_checksum(fixed) && !std::equal(fixed.begin(), fixed.end(), bytes.begin())) {
      dict = decode(fixed);
    }
  }
  if (!dict) return;
  for (const Kind kind : descent_fuzz::kKinds) {
    for (const int steps : {0, 2}) {
      for (const bool strict : {true, false}) load_into(Case{kind, steps, strict}, *dict);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    run(std::span(reinterpret_cast<const std::byte*>(data), size));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n==fuzz_checkpoint== FINDING: an exception escaped: %s%s: %s\n",
                 dynamic_cast<const descent::Error*>(&e) ? "descent::Error from an unexpected place, " : "not a descent::Error, ",
                 typeid(e).name(), e.what());
    std::fflush(stderr);
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "\n==fuzz_checkpoint== FINDING: an exception escaped that is not a std::exception\n");
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}
