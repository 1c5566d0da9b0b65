// Adamax: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (adamax.cpp) is the specification; the kernel (adamax-inl.h, compiled for every
// instruction set by adamax_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (adamax_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adamax.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct AdamaxStep {
  double beta1, beta2, eps, weight_decay;
  double clr;  // lr / (1 - beta1^t)
  bool maximize;
  static AdamaxStep make(const AdamaxOptions& options, std::int64_t step);
};
template <class T>
void adamax(const AdamaxStep& s, T* param, const T* grad, T* exp_avg, T* exp_inf, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adamax) adamax;
}  // namespace kernels
}  // namespace descent
