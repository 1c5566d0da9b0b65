// What the checkpoint fuzzer loads into, shared with the seed corpus generator (make_corpus.cpp) so that
// the seeds are checkpoints written by these very optimizers:
//   Adam (amsgrad on) over float "w" (shape {2, 3}) and float "b" (shape {3}),
//   SGD (momentum 0.9) over double "w" (shape {2, 3}),
//   NAdam over float "w" (shape {2, 3}): the one with a per-parameter scalar state ("mu_product").
// Everything is deterministic: the same kind and number of steps give bitwise the same optimizer.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/optimizer.hpp"
#include "descent/optimizers/adam.hpp"
#include "descent/optimizers/nadam.hpp"
#include "descent/optimizers/sgd.hpp"

namespace descent_fuzz {

enum class Kind { Adam, SGD, NAdam };
inline constexpr Kind kKinds[] = {Kind::Adam, Kind::SGD, Kind::NAdam};

inline std::string_view kind_name(Kind kind) {
  return kind == Kind::Adam ? "Adam" : kind == Kind::SGD ? "SGD" : "NAdam";
}

// An optimizer with the memory it updates. Neither copyable nor movable: the optimizer points into the
// vectors.
class Fixture {
 public:
  Fixture(Kind kind, int steps) : kind_(kind) {
    if (kind == Kind::Adam) {
      w_.resize(6);
      gw_.resize(6);
      b_.resize(3);
      gb_.resize(3);
      for (std::size_t i = 0; i < w_.size(); ++i) w_[i] = 0.25f * static_cast<float>(i) - 0.5f;
      for (std::size_t i = 0; i < b_.size(); ++i) b_[i] = 0.125f * static_cast<float>(i);
      opt_ = std::make_unique<descent::Adam>(
          std::vector<descent::Parameter>{descent::Parameter("w", std::span(w_), std::span(gw_), {2, 3}),
                                          descent::Parameter("b", std::span(b_), std::span(gb_), {3})},
          descent::AdamOptions(0.01).amsgrad(true));
    } else if (kind == Kind::NAdam) {
      w_.resize(6);
      gw_.resize(6);
      for (std::size_t i = 0; i < w_.size(); ++i) w_[i] = 0.5f - 0.125f * static_cast<float>(i);
      opt_ = std::make_unique<descent::NAdam>(
          std::vector<descent::Parameter>{descent::Parameter("w", std::span(w_), std::span(gw_), {2, 3})},
          descent::NAdamOptions(0.01));
    } else {
      x_.resize(6);
      gx_.resize(6);
      for (std::size_t i = 0; i < x_.size(); ++i) x_[i] = 1.0 - 0.375 * static_cast<double>(i);
      opt_ = std::make_unique<descent::SGD>(
          std::vector<descent::Parameter>{descent::Parameter("w", std::span(x_), std::span(gx_), {2, 3})},
          descent::SGDOptions(0.05).momentum(0.9));
    }
    opt_->set_num_threads(1);
    for (int s = 0; s < steps; ++s) step();
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  Kind kind() const noexcept { return kind_; }
  descent::Optimizer& optimizer() noexcept { return *opt_; }
  const descent::Optimizer& optimizer() const noexcept { return *opt_; }

  // Gradients from a fixed rule (depending on the values, so that each step differs), then one step().
  bool step() {
    ++steps_;
    const double sign = steps_ % 2 ? 1.0 : -1.0;
    for (std::size_t i = 0; i < gw_.size(); ++i) gw_[i] = 0.5f * w_[i] + static_cast<float>(sign * 0.1 * static_cast<double>(i + 1));
    for (std::size_t i = 0; i < gb_.size(); ++i) gb_[i] = b_[i] - static_cast<float>(sign * 0.2);
    for (std::size_t i = 0; i < gx_.size(); ++i) gx_[i] = 2.0 * x_[i] - sign * 0.3 * static_cast<double>(i);
    return opt_->step();
  }

  // A step with a NaN in the first gradient under NonFinitePolicy::Skip: skipped and counted, nothing
  // else changes. Restores the policy (Raise).
  bool skipped_step() {
    if (!gw_.empty()) gw_[0] = std::numeric_limits<float>::quiet_NaN();
    if (!gx_.empty()) gx_[0] = std::numeric_limits<double>::quiet_NaN();
    opt_->set_nonfinite_policy(descent::NonFinitePolicy::Skip);
    const bool stepped = opt_->step();
    opt_->set_nonfinite_policy(descent::NonFinitePolicy::Raise);
    return stepped;
  }

  // Every byte that describes the optimizer: the parameters' values and gradients as they lie in memory,
  // then the encoded state_dict(true) (step counts, every state slot, group options, skipped steps).
  std::vector<std::byte> snapshot() const {
    std::vector<std::byte> out;
    append(out, w_);
    append(out, gw_);
    append(out, b_);
    append(out, gb_);
    append(out, x_);
    append(out, gx_);
    const std::vector<std::byte> state = descent::encode_checkpoint(opt_->state_dict(/*with_parameters=*/true));
    out.insert(out.end(), state.begin(), state.end());
    return out;
  }

 private:
  template <class T>
  static void append(std::vector<std::byte>& out, const std::vector<T>& v) {
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    out.insert(out.end(), p, p + v.size() * sizeof(T));
  }

  Kind kind_;
  int steps_ = 0;
  std::vector<float> w_, gw_, b_, gb_;
  std::vector<double> x_, gx_;
  std::unique_ptr<descent::Optimizer> opt_;
};

// Rewrites the 8 hex digits of a checkpoint's "checksum": "crc32:XXXXXXXX" so that they match the bytes
// (CRC-32 of everything after the 8-byte length, the digits counted as '0's, as decode_checkpoint checks).
// Lets mutated inputs get past the checksum to the rest of the decoder and to load_state_dict. Returns
// false when no such field is found.
inline bool refresh_checksum(std::vector<std::byte>& file) {
  const auto text = [&](std::size_t at) { return at < file.size() ? static_cast<char>(file[at]) : '\0'; };
  const auto matches = [&](std::size_t at, std::string_view word) {
    if (at > file.size() || file.size() - at < word.size()) return false;
    return std::memcmp(file.data() + at, word.data(), word.size()) == 0;
  };
  const auto skip_space = [&](std::size_t at) {
    while (text(at) == ' ' || text(at) == '\t' || text(at) == '\n' || text(at) == '\r') ++at;
    return at;
  };
  for (std::size_t at = 8; at < file.size(); ++at) {
    if (!matches(at, "\"checksum\"")) continue;
    std::size_t p = skip_space(at + 10);
    if (text(p) != ':') continue;
    p = skip_space(p + 1);
    if (!matches(p, "\"crc32:") || file.size() - (p + 7) < 8) continue;
    const std::size_t digits = p + 7;
    std::memset(file.data() + digits, '0', 8);
    uLong crc = ::crc32(0L, Z_NULL, 0);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(file.data() + 8), static_cast<uInt>(file.size() - 8));
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < 8; ++i) {
      file[digits + i] = static_cast<std::byte>(kHex[(crc >> (28 - 4 * i)) & 0xF]);
    }
    return true;
  }
  return false;
}

}  // namespace descent_fuzz
