// SGD: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (sgd.cpp) is the specification; the kernel (sgd-inl.h, compiled for every
// instruction set by sgd_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (sgd_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/sgd.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/quantize.hpp"

namespace descent {
namespace reference {

struct SGDStep {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first;  // the momentum buffer was just created: it starts as the gradient (PyTorch)
  static SGDStep make(const SGDOptions& options, bool first);
};
// momentum_buffer may be null when momentum == 0.
template <class T>
void sgd(const SGDStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);
// With a bfloat16 or int8 momentum buffer (one slot), float32 parameters, from element `first` (a multiple of 256).
void sgd_lowbit(const SGDStep& s, StateDType dtype, float* param, const float* grad, lowbit::StateRef* slots,
                std::size_t count, std::uint32_t first, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::sgd) sgd;
void sgd_lowbit(const reference::SGDStep& s, StateDType dtype, float* param, const float* grad,
                lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n);
}  // namespace kernels
}  // namespace descent
