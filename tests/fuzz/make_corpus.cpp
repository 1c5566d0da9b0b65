// Writes the checkpoint fuzzer's seed corpus into a directory (scripts/fuzz.sh: build/fuzz/corpus):
//   - valid checkpoints of the fuzzer's own optimizers (fixtures.hpp) after 0, 1 and 3 steps, with and
//     without parameter values, each checked here to decode and to load strictly into a fresh optimizer
//     that then saves the very same bytes;
//   - hand-broken variants: damaged bytes, hostile layouts and dictionaries that decode but must not load
//     (or load only non-strictly), their checksums made right where the damage is elsewhere.
// Usage: descent_fuzz_make_corpus DIR
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/error.hpp"
#include "fixtures.hpp"

namespace {

using descent_fuzz::Fixture;
using descent_fuzz::Kind;
using Bytes = std::vector<std::byte>;

std::filesystem::path out_dir;
int written = 0;

void write(const std::string& name, const Bytes& bytes) {
  const std::filesystem::path path = out_dir / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
  ++written;
}

// Replaces the first `from` in the bytes by `to` (a header edit); throws when there is none.
Bytes patch(Bytes bytes, std::string_view from, std::string_view to) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::size_t at = text.find(from);
  if (at == std::string_view::npos) throw std::runtime_error("make_corpus: no '" + std::string(from) + "' to patch");
  Bytes out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(at));
  for (const char c : to) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at + from.size()), bytes.end());
  return out;
}

// Sets the 8-byte header length to the header's new size after a patch that changed its length.
Bytes fix_length(Bytes bytes, std::int64_t delta) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | std::to_integer<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
  n = static_cast<std::uint64_t>(static_cast<std::int64_t>(n) + delta);
  for (int i = 0; i < 8; ++i, n >>= 8) bytes[static_cast<std::size_t>(i)] = static_cast<std::byte>(n & 0xFF);
  return bytes;
}

// A patch of the header of the same length, with the checksum made right again.
Bytes header_edit(const Bytes& bytes, std::string_view from, std::string_view to) {
  Bytes out = fix_length(patch(bytes, from, to), static_cast<std::int64_t>(to.size()) - static_cast<std::int64_t>(from.size()));
  descent_fuzz::refresh_checksum(out);
  return out;
}

// A file from a header written by hand (it must hold "checksum":"crc32:00000000") and the data.
Bytes raw_file(std::string header, const Bytes& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  Bytes out(8);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) out[static_cast<std::size_t>(i)] = static_cast<std::byte>(n & 0xFF);
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), data.begin(), data.end());
  descent_fuzz::refresh_checksum(out);
  return out;
}

const std::string kMeta = R"("__metadata__":{"checksum":"crc32:00000000","format":"descent.checkpoint","format_version":"1")";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

void valid_seeds() {
  for (const Kind kind : descent_fuzz::kKinds) {
    for (const int steps : {0, 1, 3}) {
      for (const bool with_parameters : {false, true}) {
        const Fixture f(kind, steps);
        const Bytes bytes = descent::encode_checkpoint(f.optimizer().state_dict(with_parameters));
        const std::string name = lower(descent_fuzz::kind_name(kind)) + "-" + std::to_string(steps) + "steps" +
                                 (with_parameters ? "-params" : "") + ".safetensors";
        // The seed must reach load_state_dict, and load in full: otherwise the fixtures have drifted.
        Fixture fresh(kind, with_parameters ? 0 : steps);
        fresh.optimizer().load_state_dict(descent::decode_checkpoint(bytes, name), /*strict=*/true);
        if (descent::encode_checkpoint(fresh.optimizer().state_dict(with_parameters)) != bytes) {
          throw std::runtime_error("make_corpus: " + name + " does not load back to the same state");
        }
        write(name, bytes);
      }
    }
  }
}

void broken_seeds() {
  const Fixture adam(Kind::Adam, 3);
  const Fixture sgd(Kind::SGD, 1);
  const descent::StateDict adam_dict = adam.optimizer().state_dict(true);
  const descent::StateDict sgd_dict = sgd.optimizer().state_dict(true);
  const Bytes adam_bytes = descent::encode_checkpoint(adam_dict);
  const Bytes sgd_bytes = descent::encode_checkpoint(sgd_dict);

  // Damaged bytes.
  write("broken-empty", {});
  write("broken-length-only", Bytes(8));
  write("broken-truncated", Bytes(adam_bytes.begin(), adam_bytes.end() - 4));
  Bytes flipped = adam_bytes;
  flipped[flipped.size() - 3] ^= std::byte{0x10};
  write("broken-flipped-byte", flipped);
  write("broken-header-length", fix_length(adam_bytes, static_cast<std::int64_t>(adam_bytes.size())));
  write("broken-version", header_edit(adam_bytes, R"("format_version":"1")", R"("format_version":"2")"));
  write("broken-format", header_edit(sgd_bytes, R"("descent.checkpoint")", R"("descent.checkpoinT")"));

  // Dictionaries that decode but do not load (or load only non-strictly).
  descent::StateDict d = adam_dict;
  d.metadata["optimizer"] = "SGD";
  write("broken-other-optimizer", descent::encode_checkpoint(d));
  d = adam_dict;
  for (const char* key : {"param/b", "state/b/step", "state/b/exp_avg", "state/b/exp_avg_sq", "state/b/max_exp_avg_sq"}) {
    d.tensors.erase(key);
  }
  d.tensors["state/c/step"] = descent::Tensor::scalar(std::int64_t{1});
  d.tensors["state/w/momentum_buffer"] = d.tensors.at("state/w/exp_avg");
  write("nonstrict-missing-and-unexpected", descent::encode_checkpoint(d));
  d = adam_dict;
  d.tensors.at("state/w/exp_avg").shape = {3, 2};
  write("broken-mis-shaped", descent::encode_checkpoint(d));
  d = adam_dict;
  d.tensors.at("state/b/exp_avg_sq").type = descent::TensorType::I64;
  d.tensors.at("state/b/exp_avg_sq").bytes.resize(24);
  write("broken-mistyped", descent::encode_checkpoint(d));
  {  // NAdam's per-parameter scalar state: missing, and of the wrong type
    const Fixture nadam(Kind::NAdam, 3);
    d = nadam.optimizer().state_dict(false);
    const descent::StateDict nadam_dict = d;
    d.tensors.erase("state/w/mu_product");
    write("broken-missing-scalar-state", descent::encode_checkpoint(d));
    d = nadam_dict;
    d.tensors["state/w/mu_product"] = descent::Tensor::scalar(std::int64_t{1});
    write("broken-mistyped-scalar-state", descent::encode_checkpoint(d));
  }
  d = sgd_dict;
  d.tensors["state/w/step"] = descent::Tensor::scalar(std::int64_t{-1});
  write("broken-negative-step", descent::encode_checkpoint(d));
  d = sgd_dict;
  d.metadata["skipped_steps"] = "-3";
  write("broken-skipped-steps", descent::encode_checkpoint(d));
  d = adam_dict;
  {  // [{"params":["w","b"],"options":{...}}] split in two groups with the same options
    const std::string& groups = adam_dict.metadata.at("groups");
    const std::string options = groups.substr(groups.find("\"options\":"), std::string::npos);
    const std::string tail = options.substr(0, options.size() - 1);  // without the closing ']'
    d.metadata["groups"] = "[{\"params\":[\"w\"]," + tail + ",{\"params\":[\"b\"]," + tail + "]";
  }
  write("nonstrict-two-groups", descent::encode_checkpoint(d));
  d = adam_dict;
  d.metadata["groups"] = std::string(100, '[') + std::string(100, ']');
  write("broken-groups-nesting", descent::encode_checkpoint(d));
  write("broken-option-range", header_edit(adam_bytes, R"(\"lr\":\"0.01\")", R"(\"lr\":\"-1.0\")"));
  // Nesterov momentum without momentum: each option in range, the pair invalid (SGDOptions::validate).
  write("broken-nesterov", header_edit(header_edit(sgd_bytes, R"(\"nesterov\":\"0\")", R"(\"nesterov\":\"1\")"),
                                       R"(\"momentum\":\"0.9\")", R"(\"momentum\":\"0\")"));
  write("nonstrict-unknown-option",
        header_edit(sgd_bytes, R"(\"nesterov\":\"0\")", R"(\"nesterov\":\"0\",\"foo\":\"1\")"));

  // Hostile layouts, written by hand.
  const Bytes eight(8, std::byte{1});
  write("layout-overlap", raw_file("{" + kMeta + R"(},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)" +
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight));
  write("layout-gap", raw_file("{" + kMeta + R"(},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight));
  write("layout-shape-overflow",
        raw_file("{" + kMeta + R"(},"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight));
  write("layout-dtype", raw_file("{" + kMeta + R"(},"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", eight));
  write("layout-duplicate-key",
        raw_file("{" + kMeta + R"(},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)" +
                     R"("a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", eight));
  write("layout-escaped-name",
        raw_file("{" + kMeta + R"(,"optimizer":"SGD"},"state\/w\u002fstep":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
                 eight));
  write("layout-nesting", raw_file("{" + kMeta + R"(},"a":)" + std::string(70, '[') + std::string(70, ']') + "}", {}));
  write("layout-bad-utf8", raw_file("{" + kMeta + ",\"optimizer\":\"SGD\xC0\xAF\"}}", {}));
  write("layout-scalar-zero-size",
        raw_file("{" + kMeta + R"(},"z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},)" +
                     R"("a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", eight));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    out_dir = argv[1];
    std::filesystem::create_directories(out_dir);
    valid_seeds();
    broken_seeds();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  std::printf("make_corpus: wrote %d seeds to %s\n", written, out_dir.string().c_str());
  return 0;
}
