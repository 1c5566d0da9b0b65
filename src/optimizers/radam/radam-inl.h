// RAdam's vector body, bitwise equal to reference::radam (radam.cpp) on every target. Included once per
// instruction set by radam_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/radam/radam_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Radam(const reference::RAdamStep& s, T* p, const T* g, T* m, T* v, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto lr = hn::Set(d, static_cast<T>(s.lr));
        const auto bc1 = hn::Set(d, static_cast<T>(s.bias_correction1));
        const auto bc2_sqrt = hn::Set(d, static_cast<T>(s.bias_correction2_sqrt));
        const auto rect = hn::Set(d, static_cast<T>(s.rectification));
        const auto one = hn::Set(d, T(1));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          PrefetchAhead<true>(v, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
          const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
          hn::StoreU(mv, d, m + i);
          hn::StoreU(vv, d, v + i);
          const auto corrected = hn::Div(mv, bc1);
          if (s.rectified) {
            const auto adaptive_lr = hn::Mul(hn::Div(one, hn::Add(hn::Sqrt(vv), eps)), bc2_sqrt);
            hn::StoreU(hn::Sub(pv, hn::Mul(hn::Mul(hn::Mul(corrected, lr), adaptive_lr), rect)), d, p + i);
          } else {
            hn::StoreU(hn::Sub(pv, hn::Mul(corrected, lr)), d, p + i);
          }
        };
      },
      [&](std::size_t i) { reference::radam(s, p + i, g + i, m + i, v + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
