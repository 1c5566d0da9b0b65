// NAdam's vector body, bitwise equal to reference::nadam (nadam.cpp) on every target. Included once per
// instruction set by nadam_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/nadam/nadam_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Nadam(const reference::NAdamStep& s, T* p, const T* g, T* m, T* v, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto bc2_sqrt = hn::Set(d, static_cast<T>(s.bias_correction2_sqrt));
        const auto grad_coefficient = hn::Set(d, static_cast<T>(s.grad_coefficient));
        const auto exp_avg_coefficient = hn::Set(d, static_cast<T>(s.exp_avg_coefficient));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          PrefetchAhead<true>(v, i);
          auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
          const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
          hn::StoreU(mv, d, m + i);
          hn::StoreU(vv, d, v + i);
          const auto denom = hn::Add(hn::Div(hn::Sqrt(vv), bc2_sqrt), eps);
          pv = hn::Add(pv, hn::Div(hn::Mul(grad_coefficient, gv), denom));
          pv = hn::Add(pv, hn::Div(hn::Mul(exp_avg_coefficient, mv), denom));
          hn::StoreU(pv, d, p + i);
        };
      },
      [&](std::size_t i) { reference::nadam(s, p + i, g + i, m + i, v + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
