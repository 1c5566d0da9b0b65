// LARS: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (lars.cpp) is the specification; the kernel (lars-inl.h, compiled for every
// instruction set by lars_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (lars_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/lars.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct LARSStep {
  double scaled_lr;  // lr * trust ratio
  double weight_decay, momentum;
  bool nesterov, maximize;
  // weight_norm = ||param||, grad_norm = ||grad||, both before the step.
  static LARSStep make(const LARSOptions& options, double weight_norm, double grad_norm);
};
// momentum_buffer is null when momentum == 0.
template <class T>
void lars(const LARSStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::lars) lars;
}  // namespace kernels
}  // namespace descent
