// RMSprop: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (rmsprop.cpp) is the specification; the kernel (rmsprop-inl.h, compiled for every
// instruction set by rmsprop_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (rmsprop_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/rmsprop.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/quantize.hpp"

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
// With bfloat16 or int8 state, float32 parameters: `slots` holds square_avg, then momentum_buffer
// (has_buf) and grad_avg (centered); from element `first` (a multiple of 256).
void rmsprop_lowbit(const RMSpropStep& s, StateDType dtype, bool has_buf, bool centered, float* param,
                    const float* grad, lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::rmsprop) rmsprop;
void rmsprop_lowbit(const reference::RMSpropStep& s, StateDType dtype, bool has_buf, bool centered, float* param,
                    const float* grad, lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n);
}  // namespace kernels
}  // namespace descent
