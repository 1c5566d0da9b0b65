// Schedule-Free SGD and AdamW: the per-step scalars, the scalar reference updates and their vector
// kernels. The references (schedule_free.cpp) are the specification; the kernels (schedule_free-inl.h,
// compiled for every instruction set by schedule_free_kernel.cpp) apply the same operations lane by
// lane, so their results are bitwise the references' on every target (schedule_free_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct ScheduleFreeStep {
  double lr;            // gamma_t: lr warmed up (AdamW: times sqrt(1 - beta2^t))
  double ckp1;          // c_{t+1} = w_t / sum of w: how far x moves towards z
  double beta;          // momentum (SGD) or beta1 (AdamW): y = (1 - beta) z + beta x
  double beta2, eps;    // AdamW only
  double weight_decay;  // at y
  bool maximize;
  // gamma_t and c_{t+1} of step `step` (1-based), updating the parameter's lr_max and weight_sum;
  // lr_scale is sqrt(1 - beta2^t) for AdamW, 1 for SGD.
  static ScheduleFreeStep make(double lr, std::int64_t warmup_steps, double r, double weight_lr_power,
                               double lr_scale, std::int64_t step, double& lr_max, double& weight_sum);
};
template <class T>
void sgd_schedule_free(const ScheduleFreeStep& s, T* param, const T* grad, T* z, T* x, std::size_t n);
template <class T>
void adamw_schedule_free(const ScheduleFreeStep& s, T* param, const T* grad, T* z, T* exp_avg_sq, T* x,
                         std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::sgd_schedule_free) sgd_schedule_free;
extern const DESCENT_KERNEL_OF(reference::adamw_schedule_free) adamw_schedule_free;
}  // namespace kernels
}  // namespace descent
