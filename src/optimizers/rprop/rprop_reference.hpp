// Rprop: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (rprop.cpp) is the specification; the kernel (rprop-inl.h, compiled for every
// instruction set by rprop_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (rprop_test.cpp checks it).
#pragma once

#include <cstddef>

#include "descent/optimizers/rprop.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct RpropStep {
  double etaminus, etaplus, step_size_min, step_size_max;
  bool maximize;
  static RpropStep make(const RpropOptions& options);
};
template <class T>
void rprop(const RpropStep& s, T* param, const T* grad, T* prev, T* step_size, std::size_t n);

// The factor a step size is multiplied by when g * prev < 0, in T: etaminus rounded to T, except that
// torch's in-place assignments turn an etaminus that rounds to 0 (below float's smallest subnormal) into 1.
template <class T>
T shrink_factor(double etaminus) {
  const T f = static_cast<T>(etaminus);
  return f == T(0) ? T(1) : f;
}

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::rprop) rprop;
}  // namespace kernels
}  // namespace descent
