// RAdam: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (radam.cpp) is the specification; the kernel (radam-inl.h, compiled for every
// instruction set by radam_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (radam_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/radam.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct RAdamStep {
  double lr, beta1, beta2, eps, weight_decay;
  double bias_correction1, bias_correction2_sqrt;
  bool rectified;    // rho_t > 5: the adaptive, rectified step; otherwise plain momentum SGD
  double rectification;
  bool maximize;
  static RAdamStep make(const RAdamOptions& options, std::int64_t step);
};
template <class T>
void radam(const RAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::radam) radam;
}  // namespace kernels
}  // namespace descent
