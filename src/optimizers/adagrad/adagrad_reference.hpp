// Adagrad: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (adagrad.cpp) is the specification; the kernel (adagrad-inl.h, compiled for every
// instruction set by adagrad_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (adagrad_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adagrad.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct AdagradStep {
  double clr, weight_decay, eps;  // clr: lr / (1 + (step - 1) * lr_decay)
  bool maximize;
  static AdagradStep make(const AdagradOptions& options, std::int64_t step);
};
template <class T>
void adagrad(const AdagradStep& s, T* param, const T* grad, T* sum, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adagrad) adagrad;
}  // namespace kernels
}  // namespace descent
