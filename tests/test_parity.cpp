// Replays the reference trajectories of tests/reference/data (written by tests/reference/generate.py from
// PyTorch 1.13, or from NumPy implementations of the papers where PyTorch lacks the optimizer, and by
// generate_adafactor.py, NumPy from torch 2.5's Adafactor rule): same
// initial values and gradients, then parameters, state and step counts compared after every step.
//
// Tolerances: float64 within a relative 1e-10 (the bound), float32 within rtol 1e-5 plus atol 1e-7.
// Beyond that, descent claims to round exactly as PyTorch's CPU kernels do (src/optimizers/common.hpp),
// so every case that PyTorch produced must match bit for bit. That claim is asserted where the
// references were made (glibc on x86-64); another libm may round the per-step pow() differently.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "descent/descent.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/registry.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

using testing::SafetensorsFile;

struct Tolerance {
  double rtol, atol;
};
constexpr Tolerance kFloat64{1e-10, 1e-14};
constexpr Tolerance kFloat32{1e-5, 1e-7};

// Worst error seen, relative to the tolerance allowed, and the plain relative error.
struct Worst {
  double relative = 0.0;  // max |a - b| / |b| over |b| >= 1e-3 (where relative error means something)
  double absolute = 0.0;  // max |a - b|
  double ratio = 0.0;     // max |a - b| / (atol + rtol |b|): <= 1 passes
};

std::map<std::string, Worst>& worst_by_key() {
  static std::map<std::string, Worst> worst;
  return worst;
}

std::map<std::string, double> options_of(const nlohmann::json& group) {
  std::map<std::string, double> out;
  for (const auto& [name, v] : group.items()) {
    if (v.is_boolean()) {
      out[name] = v.get<bool>() ? 1.0 : 0.0;
    } else if (v.is_string() && v.get<std::string>() == "inf") {
      out[name] = HUGE_VAL;
    } else {
      out[name] = v.get<double>();
    }
  }
  return out;
}

template <class T>
void replay(const std::string& optimizer, const SafetensorsFile& file, const nlohmann::json& c) {
  const std::string id = c.at("id").get<std::string>();
  SCOPED_TRACE(optimizer + "/" + id + " (" + c.at("reference").get<std::string>() + ")");
  const Tolerance tol = std::is_same_v<T, double> ? kFloat64 : kFloat32;
  // Reported per optimizer, dtype and source of the reference (and per case with DESCENT_PARITY_BY_CASE=1).
  const std::string source = c.at("reference").get<std::string>().rfind("torch", 0) == 0 ? "torch" : "numpy";
  Worst& worst = worst_by_key()[optimizer + " " + std::string(name_of(dtype_of<T>())) + " vs " + source +
                                (std::getenv("DESCENT_PARITY_BY_CASE") ? " " + id : "")];

  const auto init = file.tensors.at(id + "/init").values();
  const auto grads = file.tensors.at(id + "/grad").values();
  const auto params_ref = file.tensors.at(id + "/param").values();
  const std::size_t n = init.size();
  const std::size_t steps = c.at("steps").get<std::size_t>();
  ASSERT_EQ(grads.size(), steps * n);

  std::vector<T> value(init.begin(), init.end());
  std::vector<T> grad(n);

  // Parameters, split into their groups.
  struct ParamInfo {
    std::string name;
    std::size_t offset, size;
  };
  std::vector<ParamInfo> infos;
  const auto& groups = c.at("groups");
  std::vector<std::vector<Parameter>> by_group(groups.size());
  std::size_t offset = 0;
  for (const auto& p : c.at("params")) {
    auto shape = p.at("shape").get<std::vector<std::int64_t>>();
    std::size_t size = 1;
    for (auto e : shape) size *= static_cast<std::size_t>(e);
    const std::string name = p.at("name").get<std::string>();
    by_group[p.at("group").get<std::size_t>()].emplace_back(name, std::span<T>(value.data() + offset, size),
                                                           std::span<T>(grad.data() + offset, size), shape);
    infos.push_back({name, offset, size});
    offset += size;
  }
  ASSERT_EQ(offset, n);
  auto opt = make_optimizer(optimizer, by_group[0], options_of(groups[0]));
  for (std::size_t g = 1; g < groups.size(); ++g) {
    opt->add_param_group(by_group[g], make_options(optimizer, options_of(groups[g])));
  }

  // State tensors present in the reference.
  std::map<std::string, std::vector<double>> states, scalars;
  for (const auto& [name, tensor] : file.tensors) {
    const std::string prefix = id + "/state.", scalar_prefix = id + "/scalar.";
    if (name.rfind(prefix, 0) == 0) states[name.substr(prefix.size())] = tensor.values();
    if (name.rfind(scalar_prefix, 0) == 0) scalars[name.substr(scalar_prefix.size())] = tensor.values();
  }
  // Where each parameter's part of a slot lies in a step's row of the slot's tensor: by default one value
  // per element, at the parameter's offset (NaN where it has no such slot). A case with "state_shapes"
  // (slots of their own shape, e.g. Adafactor's factors) gives each parameter's slot shape, or null where
  // it has none; the row then holds only the parameters that have the slot, in order.
  struct SlotPart {
    bool present;
    std::size_t offset, size;
  };
  std::map<std::string, std::vector<SlotPart>> parts;
  std::map<std::string, std::size_t> widths;
  for (const auto& [slot, ref] : states) {
    std::size_t width = 0;
    for (std::size_t j = 0; j < infos.size(); ++j) {
      if (!c.contains("state_shapes")) {
        parts[slot].push_back({true, infos[j].offset, infos[j].size});  // NaN-marked absence: checked per step
        continue;
      }
      const auto& shape = c.at("state_shapes").at(slot).at(j);
      if (shape.is_null()) {
        parts[slot].push_back({false, 0, 0});
        continue;
      }
      const auto extents = shape.template get<std::vector<std::int64_t>>();
      EXPECT_EQ(opt->state_layout(infos[j].name, slot).shape, extents) << infos[j].name << "." << slot;
      std::size_t size = 1;
      for (const auto e : extents) size *= static_cast<std::size_t>(e);
      parts[slot].push_back({true, width, size});
      width += size;
    }
    widths[slot] = c.contains("state_shapes") ? width : n;
    ASSERT_EQ(ref.size(), steps * widths[slot]) << slot;
  }

  const auto compare = [&](double actual, double expected, const std::string& what, std::size_t step) {
    const double diff = std::abs(actual - expected);
    const double allowed = tol.atol + tol.rtol * std::abs(expected);
    worst.absolute = std::max(worst.absolute, diff);
    if (std::abs(expected) >= 1e-3) worst.relative = std::max(worst.relative, diff / std::abs(expected));
    worst.ratio = std::max(worst.ratio, diff / allowed);
    if (!(diff <= allowed)) {
      ADD_FAILURE() << what << " after step " << step + 1 << ": descent " << actual << ", reference " << expected
                    << " (|diff| " << diff << " > allowed " << allowed << ")";
      return false;
    }
    return true;
  };

  for (std::size_t k = 0; k < steps; ++k) {
    std::copy_n(grads.begin() + static_cast<std::ptrdiff_t>(k * n), n, grad.begin());
    opt->step();
    bool ok = true;
    for (std::size_t i = 0; i < n && ok; ++i) ok = compare(value[i], params_ref[k * n + i], "param[" + std::to_string(i) + "]", k);
    for (const auto& [slot, ref] : states) {
      for (std::size_t j = 0; j < infos.size(); ++j) {
        const ParamInfo& p = infos[j];
        const SlotPart& part = parts[slot][j];
        if (!part.present || std::isnan(ref[k * widths[slot] + part.offset])) {  // no such state for this parameter
          EXPECT_FALSE(opt->has_state(p.name, slot)) << p.name << "." << slot;
          continue;
        }
        const auto actual = opt->state<T>(p.name, slot);
        if (actual.size() != part.size) {
          ADD_FAILURE() << p.name << "." << slot << " holds " << actual.size() << " values, the reference " << part.size;
          return;
        }
        for (std::size_t i = 0; i < part.size && ok; ++i) {
          ok = compare(actual[i], ref[k * widths[slot] + part.offset + i],
                       p.name + "." + slot + "[" + std::to_string(i) + "]", k);
        }
      }
    }
    for (const auto& [slot, ref] : scalars) {
      for (std::size_t j = 0; j < infos.size() && ok; ++j) {
        ok = compare(opt->scalar_state(infos[j].name, slot), ref[k * infos.size() + j], infos[j].name + "." + slot, k);
      }
    }
    for (const ParamInfo& p : infos) ASSERT_EQ(opt->step_count(p.name), static_cast<std::int64_t>(k + 1));
    if (!ok) return;  // one failing step is enough to read; later steps only repeat it
  }
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, ReplaysReferenceTrajectories) {
  const std::string optimizer = GetParam();
  const auto file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/" + optimizer + ".safetensors");
  ASSERT_EQ(file.metadata.at("optimizer").get<std::string>(), optimizer);
  const auto cases = nlohmann::json::parse(file.metadata.at("cases").get<std::string>());
  ASSERT_GE(cases.size(), 4u);
  // On every instruction set the kernels were compiled for and this CPU has.
  for (const auto& [bits, target] : kernels::available_targets()) {
    SCOPED_TRACE("target " + target);
    kernels::use_only_target(bits);
    for (const auto& c : cases) {
      ASSERT_GE(c.at("steps").get<int>(), 100);
      if (c.at("dtype") == "float64") {
        replay<double>(optimizer, file, c);
      } else {
        replay<float>(optimizer, file, c);
      }
    }
  }
  kernels::use_only_target(0);
#if defined(__GLIBC__) && defined(__x86_64__)
  for (const auto& [key, w] : worst_by_key()) {
    if (key.rfind(optimizer + " ", 0) == 0 && key.find(" vs torch") != std::string::npos) {
      EXPECT_EQ(w.absolute, 0.0) << key << ": not bitwise equal to PyTorch";
    }
  }
#endif
  for (const auto& [key, w] : worst_by_key()) {
    if (key.rfind(optimizer + " ", 0) == 0) {
      std::printf("parity %-27s worst relative error %.3g, worst absolute %.3g, worst/allowed %.3g\n", key.c_str(),
                  w.relative, w.absolute, w.ratio);
    }
  }
}

// Every registered optimizer: one without a reference file (tests/reference/generate.py) fails here.
// Matrix rules (Muon) replay their own references in their folder's test, with derived tolerances.
std::vector<std::string> every_optimizer() {
  std::vector<std::string> names;
  for (const registry::Entry& e : registry::all()) {
    if (!e.benchmark.matrix) names.emplace_back(e.name);
  }
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, Parity, ::testing::ValuesIn(every_optimizer()),
                         [](const ::testing::TestParamInfo<std::string>& test) { return test.param; });

}  // namespace
}  // namespace descent
