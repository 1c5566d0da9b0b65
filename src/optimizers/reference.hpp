// The scalar reference updates: each optimizer's math, element by element over a contiguous range.
// They are the specification: the optimizers call them today, and the vectorised kernels of the fast
// engine are tested against them. Each is defined, with its per-step scalars, in src/optimizers/<name>.cpp.
//
// A `...Step` struct holds what is constant over one step of one parameter (bias corrections, learning
// rate after decay...): computed once in double by make(), outside the element loop.
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adadelta.hpp"
#include "descent/optimizers/adagrad.hpp"
#include "descent/optimizers/adam.hpp"
#include "descent/optimizers/adamax.hpp"
#include "descent/optimizers/lamb.hpp"
#include "descent/optimizers/lars.hpp"
#include "descent/optimizers/nadam.hpp"
#include "descent/optimizers/radam.hpp"
#include "descent/optimizers/rmsprop.hpp"
#include "descent/optimizers/sgd.hpp"

namespace descent::reference {

struct SGDStep {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first;  // the momentum buffer was just created: it starts as the gradient (PyTorch)
  static SGDStep make(const SGDOptions& options, bool first);
};
// momentum_buffer may be null when momentum == 0.
template <class T>
void sgd(const SGDStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);

struct AdagradStep {
  double clr, weight_decay, eps;  // clr: lr / (1 + (step - 1) * lr_decay)
  bool maximize;
  static AdagradStep make(const AdagradOptions& options, std::int64_t step);
};
template <class T>
void adagrad(const AdagradStep& s, T* param, const T* grad, T* sum, std::size_t n);

struct AdadeltaStep {
  double lr, rho, eps, weight_decay;
  bool maximize;
  static AdadeltaStep make(const AdadeltaOptions& options);
};
template <class T>
void adadelta(const AdadeltaStep& s, T* param, const T* grad, T* square_avg, T* acc_delta, std::size_t n);

struct RMSpropStep {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
  static RMSpropStep make(const RMSpropOptions& options);
};
// momentum_buffer is null when momentum == 0, grad_avg null when not centered.
template <class T>
void rmsprop(const RMSpropStep& s, T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
             std::size_t n);

struct AdamStep {
  double beta1, beta2, eps;
  double l2;                     // Adam: weight_decay added to the gradient; AdamW: 0
  double decay_factor;           // AdamW: 1 - lr * weight_decay; Adam: 1
  double step_size;              // lr / (1 - beta1^t), or lr without bias correction
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t), or 1 without bias correction
  bool amsgrad, maximize;
  template <bool Decoupled>
  static AdamStep make(const AdamFamilyOptions<Decoupled>& options, std::int64_t step);
};
// max_exp_avg_sq is null unless amsgrad.
template <class T>
void adam(const AdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, std::size_t n);

struct AdamaxStep {
  double beta1, beta2, eps, weight_decay;
  double clr;  // lr / (1 - beta1^t)
  bool maximize;
  static AdamaxStep make(const AdamaxOptions& options, std::int64_t step);
};
template <class T>
void adamax(const AdamaxStep& s, T* param, const T* grad, T* exp_avg, T* exp_inf, std::size_t n);

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

struct LARSStep {
  double scaled_lr;  // lr * trust ratio
  double weight_decay, momentum;
  bool nesterov, maximize;
  // weight_norm = ||param||, grad_norm = ||grad||, both before the step.
  static LARSStep make(const LARSOptions& options, double weight_norm, double grad_norm);
};
// momentum_buffer is null when momentum == 0.
template <class T>
void lars(const LARSStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);

struct LAMBStep {
  double beta1, beta2, eps, weight_decay;
  double bias_correction1, bias_correction2;  // 1 without bias correction
  bool maximize;
  static LAMBStep make(const LAMBOptions& options, std::int64_t step);
  // lr times the trust ratio, from the squared norms of the weights and of the update direction.
  static double scaled_lr(const LAMBOptions& options, double weight_sq, double direction_sq);
};
// Pass 1: updates the moments and returns the squared norm of the direction (Adam step + weight decay).
template <class T>
double lamb_moments(const LAMBStep& s, const T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);
// Pass 2: param -= scaled_lr * direction, the direction recomputed exactly as in pass 1.
template <class T>
void lamb_apply(const LAMBStep& s, double scaled_lr, T* param, const T* exp_avg, const T* exp_avg_sq, std::size_t n);

}  // namespace descent::reference
