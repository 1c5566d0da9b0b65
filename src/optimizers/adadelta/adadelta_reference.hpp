// Adadelta: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (adadelta.cpp) is the specification; the kernel (adadelta-inl.h, compiled for every
// instruction set by adadelta_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (adadelta_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adadelta.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct AdadeltaStep {
  double lr, rho, eps, weight_decay;
  bool maximize;
  static AdadeltaStep make(const AdadeltaOptions& options);
};
template <class T>
void adadelta(const AdadeltaStep& s, T* param, const T* grad, T* square_avg, T* acc_delta, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adadelta) adadelta;
}  // namespace kernels
}  // namespace descent
