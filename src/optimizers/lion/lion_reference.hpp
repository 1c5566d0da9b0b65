// Lion: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (lion.cpp) is the specification; the kernel (lion-inl.h, compiled for every instruction set
// by lion_kernel.cpp) applies the same operations lane by lane, so its results are bitwise the reference's
// on every target (lion_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/lion.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct LionStep {
  double beta1, beta2;
  double lr;
  double decay_factor;  // 1 - lr * weight_decay, applied to the weights before the update
  bool maximize;
  static LionStep make(const LionOptions& options);
};
template <class T>
void lion(const LionStep& s, T* param, const T* grad, T* exp_avg, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::lion) lion;
}  // namespace kernels
}  // namespace descent
