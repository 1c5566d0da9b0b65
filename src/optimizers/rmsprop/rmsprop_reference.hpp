// RMSprop: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (rmsprop.cpp) is the specification; the kernel (rmsprop-inl.h, compiled for every
// instruction set by rmsprop_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (rmsprop_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/rmsprop.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct RMSpropStep {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
  static RMSpropStep make(const RMSpropOptions& options);
};
// momentum_buffer is null when momentum == 0, grad_avg null when not centered.
template <class T>
void rmsprop(const RMSpropStep& s, T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
             std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::rmsprop) rmsprop;
}  // namespace kernels
}  // namespace descent
