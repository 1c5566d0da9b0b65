// bfloat16 parameters, in one place: the option "bf16_params", the layouts of the slots it needs, and the
// block loop that lets a rule's float32 update run on bfloat16 parameters and gradients.
//
// Each step, for each block of 256 elements, the loop forms the float32 parameter p32 and gradient g32,
// runs the rule's float32 update on them (the same code as for float32 parameters), and stores back:
//   master: p32 = master (float32 slot "master_param", filled from the bfloat16 values at the first step);
//           after the update master = p32 and p = rne(p32) (mixed precision, Micikevicius et al. 2018).
//   kahan:  p32 = float(p) + float(c) (c: bfloat16 slot "kahan_compensation", zero at the start); after the
//           update p = rne(p32), c = rne(p32 - float(p)).
//   none:   p32 = float(p); after the update p = rne(p32).
// rne is float32 to bfloat16, round to nearest even. Under kahan the pair (p, c) carries the parameter to
// about 16 significant bits: p32 - float(p) is exact in float32 (p is p32 rounded to its top 8 bits), so the
// only loss is rounding that residual to 8 bits. This is Kahan's compensated summation (Kahan 1965) as used
// for bfloat16 weights by Zamirai et al. 2020 ("Revisiting BFloat16 Training") and by optimi's
// and torchdistx's AnyPrecisionAdamW: they add the step to c and move c into p, keeping p + c equal to the
// weight; we form p + c first and let the rule see that compensated weight (so that weight decay and the L2
// term act on it, not on its rounding), then split it again. Without compensation an update smaller than
// half an ulp of p (2^-9 |p|) is lost every step: Adam's steps of about lr = 1e-3 vanish for |p| > 0.5.
//
// The parameter is always rounded to nearest even (stochastic_rounding concerns the state only).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/bf16_params.hpp"
#include "descent/dtype.hpp"
#include "descent/optimizer.hpp"
#include "lowbit/quantize.hpp"
#include "optimizers/common.hpp"

namespace descent::lowbit {

constexpr OptionInfo bf16_params_option() {
  return detail::choice_option("bf16_params", "kahan", kBF16ParamsNames,
                               "bfloat16 parameters only: kahan (a bfloat16 compensation slot), master (a float32 "
                               "master copy) or none (rounded each step); fixed when the group is added");
}

BF16Params bf16_params_of(const Options& options);
// "master_param": float32 in the parameter's shape for a bfloat16 parameter under master; empty otherwise.
SlotLayout master_param_layout(const Parameter& param, const Options& options);
// "kahan_compensation": bfloat16 in the parameter's shape for a bfloat16 parameter under kahan; empty otherwise.
SlotLayout kahan_compensation_layout(const Parameter& param, const Options& options);
// Throws InvalidArgument when the group's bf16_params is not the one the parameter's slots were laid out
// for (master and compensation slots of `master_elements` and `compensation_elements` elements).
void check_bf16_params_unchanged(std::string_view optimizer, const Parameter& param, BF16Params now,
                                 std::size_t master_elements, std::size_t compensation_elements);

// One bfloat16 parameter as the block loop sees it, from element 0 of the range it is given.
struct BF16ParamRef {
  bfloat16* param = nullptr;
  const bfloat16* grad = nullptr;
  float* master = nullptr;           // master only
  bfloat16* compensation = nullptr;  // kahan only
  BF16ParamRef advanced(std::size_t b) const noexcept {
    return {param + b, grad + b, master ? master + b : nullptr, compensation ? compensation + b : nullptr};
  }
};

// The block loop over [0, n): update(b, len, p32, g32) runs the rule's float32 update of elements
// [b, b + len) (len <= 256) on p32 and g32, which it may overwrite; the results are stored as above.
// Conversions go through the vector kernels of quantize.hpp (bitwise the scalar ones).
template <class Update>
void with_float_params(const BF16ParamRef& ref, std::size_t n, const Update& update) {
  alignas(64) float value[kBlock], grad[kBlock], low[kBlock];
  auto* const param_bits = reinterpret_cast<std::uint16_t*>(ref.param);
  auto* const compensation_bits = reinterpret_cast<std::uint16_t*>(ref.compensation);
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = n - b < kBlock ? n - b : kBlock;
    float* const p32 = ref.master ? ref.master + b : value;
    if (!ref.master) {
      kernels::from_bfloat16(param_bits + b, len, value);
      if (ref.compensation) {
        kernels::from_bfloat16(compensation_bits + b, len, low);
        for (std::size_t i = 0; i < len; ++i) value[i] += low[i];
      }
    }
    kernels::from_bfloat16(reinterpret_cast<const std::uint16_t*>(ref.grad) + b, len, grad);
    update(b, len, p32, grad);
    kernels::to_bfloat16(p32, len, Rounding{}, 0, param_bits + b);
    if (ref.compensation) {
      kernels::from_bfloat16(param_bits + b, len, low);
      for (std::size_t i = 0; i < len; ++i) low[i] = p32[i] - low[i];
      kernels::to_bfloat16(low, len, Rounding{}, 0, compensation_bits + b);
    }
  }
}

}  // namespace descent::lowbit
