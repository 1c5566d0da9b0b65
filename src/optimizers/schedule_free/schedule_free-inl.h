// Schedule-Free SGD's and AdamW's vector bodies, bitwise equal to reference::sgd_schedule_free and
// reference::adamw_schedule_free (schedule_free.cpp) on every target. Included once per instruction set
// by schedule_free_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/schedule_free/schedule_free_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

#if HWY_NATIVE_FMA
// reference::toward: from + weight * (to - from), one fused rounding.
template <class V>
HWY_INLINE V Toward(V from, V to, V weight) {
  return hn::MulAdd(weight, hn::Sub(to, from), from);
}
#endif

template <class T>
void SgdScheduleFree(const reference::ScheduleFreeStep& s, T* p, const T* g, T* z, T* x, std::size_t n) {
  VectorsThenTail<T, FullTag<T>>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr)), ckp1 = hn::Set(d, static_cast<T>(s.ckp1));
        const auto beta = hn::Set(d, static_cast<T>(s.beta)), wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(z, i);
          PrefetchAhead<true>(x, i);
          const auto dv = EffectiveGrad(hn::LoadU(d, g + i), hn::LoadU(d, p + i), s.maximize, has_wd, wd);
          const auto zv = hn::MulAdd(neg_lr, dv, hn::LoadU(d, z + i));
          const auto xv = Toward(hn::LoadU(d, x + i), zv, ckp1);
          hn::StoreU(zv, d, z + i);
          hn::StoreU(xv, d, x + i);
          hn::StoreU(Toward(zv, xv, beta), d, p + i);
        };
      },
      [&](std::size_t i) { reference::sgd_schedule_free(s, p + i, g + i, z + i, x + i, n - i); });
}

template <class T>
void AdamwScheduleFree(const reference::ScheduleFreeStep& s, T* p, const T* g, T* z, T* v, T* x, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr)), ckp1 = hn::Set(d, static_cast<T>(s.ckp1));
        const auto beta = hn::Set(d, static_cast<T>(s.beta));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps)), wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(z, i);
          PrefetchAhead<true>(v, i);
          PrefetchAhead<true>(x, i);
          const auto gl = hn::LoadU(d, g + i);
          const auto gv = s.maximize ? hn::Neg(gl) : gl;
          const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
          const auto normalised = hn::Div(gv, hn::Add(hn::Sqrt(vv), eps));
          const auto dv = has_wd ? hn::MulAdd(wd, hn::LoadU(d, p + i), normalised) : normalised;
          const auto zv = hn::MulAdd(neg_lr, dv, hn::LoadU(d, z + i));
          const auto xv = Toward(hn::LoadU(d, x + i), zv, ckp1);
          hn::StoreU(vv, d, v + i);
          hn::StoreU(zv, d, z + i);
          hn::StoreU(xv, d, x + i);
          hn::StoreU(Toward(zv, xv, beta), d, p + i);
        };
      },
      [&](std::size_t i) { reference::adamw_schedule_free(s, p + i, g + i, z + i, v + i, x + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
