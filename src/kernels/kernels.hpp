// The fused update kernels: one pass over memory per step (load gradient, state and weight once,
// compute, store), vectorized with Highway and dispatched at run time to the best instruction set the
// CPU has (AVX2, AVX-512...). No SIMD types here; the bodies are in kernels-inl.h.
//
// On every target with a native fused multiply-add they apply exactly the operations of the scalar
// reference (src/optimizers/reference.hpp), so their results are bitwise the reference's; on targets
// without one (SSE4 and older), they call the reference itself, which uses std::fma. Reductions
// (sum_of_squares, lamb_moments) sum in a different order than the reference's loop: equal to rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "optimizers/reference.hpp"

namespace descent::kernels {

template <class T> void sgd(const reference::SGDStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);
template <class T> void adagrad(const reference::AdagradStep& s, T* param, const T* grad, T* sum, std::size_t n);
template <class T>
void adadelta(const reference::AdadeltaStep& s, T* param, const T* grad, T* square_avg, T* acc_delta, std::size_t n);
template <class T>
void rmsprop(const reference::RMSpropStep& s, T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
             std::size_t n);
template <class T>
void adam(const reference::AdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
          std::size_t n);
template <class T>
void adamax(const reference::AdamaxStep& s, T* param, const T* grad, T* exp_avg, T* exp_inf, std::size_t n);
template <class T>
void nadam(const reference::NAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);
template <class T>
void radam(const reference::RAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);
template <class T> void lars(const reference::LARSStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n);
template <class T>
double lamb_moments(const reference::LAMBStep& s, const T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                    std::size_t n);
template <class T>
void lamb_apply(const reference::LAMBStep& s, double scaled_lr, T* param, const T* exp_avg, const T* exp_avg_sq,
                std::size_t n);
// sum_i x_i^2, accumulated in double.
template <class T> double sum_of_squares(const T* x, std::size_t n);
// Whether no element is a NaN or an infinity (the check NonFinitePolicy::Raise and Skip make).
template <class T> bool all_finite(const T* x, std::size_t n);

// The instruction sets compiled in and usable on this CPU, best first (Highway target bits and names),
// and a way to restrict dispatch to one of them (tests run every kernel on every target).
std::vector<std::pair<std::int64_t, std::string>> available_targets();
void use_only_target(std::int64_t target);  // 0: all again
std::string current_target();

}  // namespace descent::kernels
