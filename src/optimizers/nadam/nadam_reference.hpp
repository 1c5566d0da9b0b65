// NAdam: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (nadam.cpp) is the specification; the kernel (nadam-inl.h, compiled for every
// instruction set by nadam_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (nadam_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/nadam.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct NAdamStep {
  double beta1, beta2, eps, weight_decay;
  double bias_correction2_sqrt;
  double grad_coefficient;     // -lr * (1 - mu_t) / (1 - prod_{i<=t} mu_i)
  double exp_avg_coefficient;  // -lr * mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
  bool maximize;
  // Advances the parameter's momentum product (prod_{i<=t} mu_i) to this step.
  static NAdamStep make(const NAdamOptions& options, std::int64_t step, double& mu_product);
};
template <class T>
void nadam(const NAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::nadam) nadam;
}  // namespace kernels
}  // namespace descent
