// Adam and AdamW: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (adam.cpp) is the specification; the kernel (adam-inl.h, compiled for every
// instruction set by adam_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (adam_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adam.hpp"
#include "kernels/kernels.hpp"

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

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adam) adam;
}  // namespace kernels
}  // namespace descent
