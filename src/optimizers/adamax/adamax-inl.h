// Adamax's vector body, bitwise equal to reference::adamax (adamax.cpp) on every target. Included once per
// instruction set by adamax_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/adamax/adamax_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Adamax(const reference::AdamaxStep& s, T* p, const T* g, T* m, T* u, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto neg_clr = hn::Set(d, static_cast<T>(-s.clr));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          PrefetchAhead<true>(u, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
          const auto uv = NanMax(hn::Mul(hn::LoadU(d, u + i), beta2), hn::Add(hn::Abs(gv), eps));
          hn::StoreU(mv, d, m + i);
          hn::StoreU(uv, d, u + i);
          hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_clr, mv), uv)), d, p + i);
        };
      },
      [&](std::size_t i) { reference::adamax(s, p + i, g + i, m + i, u + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
