// LAMB's vector body, bitwise equal to reference::lamb (lamb.cpp) on every target. Included once per
// instruction set by lamb_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/lamb/lamb_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

// Pass 1: the moments, and the sum of squares of the direction u.
template <class T>
double LambMoments(const reference::LAMBStep& s, const T* p, const T* g, T* m, T* v, std::size_t n) {
  return SquaresThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto bc1 = hn::Set(d, static_cast<T>(s.bias_correction1));
        const auto bc2 = hn::Set(d, static_cast<T>(s.bias_correction2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          if (has_wd) PrefetchAhead<false>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          PrefetchAhead<true>(v, i);
          const auto gv = s.maximize ? hn::Neg(hn::LoadU(d, g + i)) : hn::LoadU(d, g + i);
          const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
          const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
          hn::StoreU(mv, d, m + i);
          hn::StoreU(vv, d, v + i);
          auto u = hn::Div(hn::Div(mv, bc1), hn::Add(hn::Sqrt(hn::Div(vv, bc2)), eps));
          if (has_wd) u = hn::Add(u, hn::Mul(wd, hn::LoadU(d, p + i)));
          return u;
        };
      },
      [&](std::size_t i) { return reference::lamb_moments(s, p + i, g + i, m + i, v + i, n - i); });
}

// Pass 2: param -= scaled_lr * u, u recomputed from the stored moments exactly as in pass 1.
template <class T>
void LambApply(const reference::LAMBStep& s, double scaled_lr, T* p, const T* m, const T* v, std::size_t n) {
  VectorsThenTail<T, FullTag<T>>(
      n,
      [&](auto d) HWY_ATTR {
        const auto bc1 = hn::Set(d, static_cast<T>(s.bias_correction1));
        const auto bc2 = hn::Set(d, static_cast<T>(s.bias_correction2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto step = hn::Set(d, static_cast<T>(scaled_lr));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(m, i);
          PrefetchAhead<false>(v, i);
          const auto pv = hn::LoadU(d, p + i);
          auto u = hn::Div(hn::Div(hn::LoadU(d, m + i), bc1), hn::Add(hn::Sqrt(hn::Div(hn::LoadU(d, v + i), bc2)), eps));
          if (has_wd) u = hn::Add(u, hn::Mul(wd, pv));
          hn::StoreU(hn::Sub(pv, hn::Mul(step, u)), d, p + i);
        };
      },
      [&](std::size_t i) { reference::lamb_apply(s, scaled_lr, p + i, m + i, v + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
