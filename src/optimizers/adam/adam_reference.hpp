// Adam and AdamW: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (adam.cpp) is the specification; the kernel (adam-inl.h, compiled for every
// instruction set by adam_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (adam_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adam.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/quantize.hpp"

namespace descent {
namespace reference {

struct AdamStep {
  double beta1, beta2, eps;
  double l2;                     // Adam: weight_decay added to the gradient; AdamW: 0
  double decay_factor;           // AdamW: 1 - lr * weight_decay; Adam: 1
  double step_size;              // lr / (1 - beta1^t), or lr without bias correction
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t), or 1 without bias correction
  bool amsgrad, maximize;
  template <bool Decoupled>
  static AdamStep make(const AdamFamilyOptions<Decoupled>& options, std::int64_t step);
};
// max_exp_avg_sq is null unless amsgrad.
template <class T>
void adam(const AdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, std::size_t n);
// The same update with bfloat16 or int8 moments (slots: exp_avg, exp_avg_sq and, with amsgrad (count 3),
// max_exp_avg_sq), float32 parameters; n elements from element `first` of the tensor, a multiple of 256.
void adam_lowbit(const AdamStep& s, StateDType dtype, float* param, const float* grad, lowbit::StateRef* slots,
                 std::size_t count, std::uint32_t first, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adam) adam;
void adam_lowbit(const reference::AdamStep& s, StateDType dtype, float* param, const float* grad,
                 lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n);
}  // namespace kernels
}  // namespace descent
