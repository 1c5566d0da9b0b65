// A test-only optimizer whose state takes every shape and dtype the state model offers, so that the
// tests can check arenas, caller-owned memory, checkpoints and loading on slots that are not "one value
// per element in the parameter's dtype". Its rule means nothing; each slot is simple enough to recompute
// by hand in a test:
//   row_sq   F32 [rows]        += sum over the row of g^2         (whole-tensor task)
//   col_sq   F32 [cols]        += sum over the column of g^2      (whole-tensor task)
//   block_max F32 [ceil(n/4)]  =  max |g| over each block of 4    (whole-tensor task)
//   m16      BF16 like param   =  bf16(0.5 * m16 + g)             (element-wise)
//   codes    U8 like param     =  min(255, round(|g| * 10))       (element-wise)
//   hits     I32 []            += 1
//   p        -= lr * m16
// A float32 parameter of shape [rows, cols] (1-D: [n, 1]).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "descent/optimizer.hpp"

namespace descent::testing {

class ToyOptions final : public Options {
 public:
  static std::span<const OptionInfo> fields() {
    static constexpr std::array<OptionInfo, 1> kFields{
        {{"lr", OptionType::Real, 0.1, 0.0, std::numeric_limits<double>::infinity(), true, false, "step size"}}};
    return kFields;
  }
  ToyOptions() : Options("Toy", fields()) {}
  std::unique_ptr<Options> clone() const override { return std::make_unique<ToyOptions>(*this); }
};

inline std::size_t toy_rows(const Parameter& p) { return p.shape().size() == 2 ? static_cast<std::size_t>(p.shape()[0]) : p.size(); }
inline std::size_t toy_cols(const Parameter& p) { return p.size() / std::max<std::size_t>(toy_rows(p), 1); }

class Toy final : public OptimizerWith<ToyOptions> {
 public:
  enum Slot : std::size_t { kRowSq, kColSq, kBlockMax, kM16, kCodes, kHits };
  explicit Toy(std::vector<Parameter> params) : OptimizerWith(slots(), {}, std::move(params), ToyOptions()) {}

  static std::span<const SlotSpec> slots() {
    static constexpr std::array<SlotSpec, 6> kSlots{{
        {"row_sq", 0.0, [](const Parameter& p, const Options&) { return SlotLayout{{static_cast<std::int64_t>(toy_rows(p))}, DType::Float32}; }, SlotCheck::NonNegative},
        {"col_sq", 0.0, [](const Parameter& p, const Options&) { return SlotLayout{{static_cast<std::int64_t>(toy_cols(p))}, DType::Float32}; }, SlotCheck::NonNegative},
        {"block_max", 0.0, [](const Parameter& p, const Options&) { return SlotLayout{{static_cast<std::int64_t>((p.size() + 3) / 4)}, DType::Float32}; }, SlotCheck::NonNegative},
        {"m16", 0.0, [](const Parameter& p, const Options&) { return SlotLayout{p.shape().empty() ? std::vector<std::int64_t>{static_cast<std::int64_t>(p.size())} : p.shape(), DType::BFloat16}; }},
        {"codes", 0.0, [](const Parameter& p, const Options&) { return SlotLayout{{static_cast<std::int64_t>(p.size())}, DType::UInt8}; }, SlotCheck::Any},
        {"hits", 0.0, [](const Parameter&, const Options&) { return SlotLayout{{}, DType::Int32}; }, SlotCheck::Any},
    }};
    return kSlots;
  }

 private:
  std::uint32_t slots_needed(const Options&) const override { return 0x3f; }
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override {
    const float lr = static_cast<float>(options.lr());
    for (Record* r : records) {
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      const std::size_t n = r->param.size(), rows = toy_rows(r->param), cols = toy_cols(r->param);
      float* row_sq = slot<float>(*r, kRowSq);
      float* col_sq = slot<float>(*r, kColSq);
      float* block_max = slot<float>(*r, kBlockMax);
      bfloat16* m16 = slot<bfloat16>(*r, kM16);
      std::uint8_t* codes = slot<std::uint8_t>(*r, kCodes);
      std::int32_t* hits = slot<std::int32_t>(*r, kHits);
      tasks.push_back({[=](std::size_t, std::size_t) {
                         for (std::size_t i = 0; i < rows; ++i) {
                           for (std::size_t j = 0; j < cols; ++j) {
                             const float v = g[i * cols + j] * g[i * cols + j];
                             row_sq[i] += v;
                             col_sq[j] += v;
                           }
                         }
                         for (std::size_t b = 0; b * 4 < n; ++b) {
                           float m = 0.0f;
                           for (std::size_t i = b * 4; i < std::min(n, b * 4 + 4); ++i) m = std::max(m, std::fabs(g[i]));
                           block_max[b] = m;
                         }
                         ++*hits;
                       },
                       n, true});
      tasks.push_back({[=](std::size_t begin, std::size_t end) {
                         for (std::size_t i = begin; i < end; ++i) {
                           m16[i] = to_bfloat16(0.5f * to_float(m16[i]) + g[i]);
                           codes[i] = static_cast<std::uint8_t>(std::min(255.0f, std::nearbyint(std::fabs(g[i]) * 10.0f)));
                           p[i] -= lr * to_float(m16[i]);
                         }
                       },
                       n});
    }
  }
};

}  // namespace descent::testing
