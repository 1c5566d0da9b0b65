// Lion's vector body, bitwise equal to reference::lion (lion.cpp) on every target. Included once per
// instruction set by lion_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/lion/lion_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Lion(const reference::LionStep& s, T* p, const T* g, T* m, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
        const auto decay_factor = hn::Set(d, static_cast<T>(s.decay_factor));
        const auto zero = hn::Zero(d), one = hn::Set(d, T(1)), minus_one = hn::Set(d, T(-1));
        const bool decays = s.decay_factor != 1.0;
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          const auto gl = hn::LoadU(d, g + i);
          const auto gv = s.maximize ? hn::Neg(gl) : gl;
          const auto pl = hn::LoadU(d, p + i);
          const auto wv = decays ? hn::Mul(pl, decay_factor) : pl;
          const auto mv = hn::LoadU(d, m + i);
          const auto c = Ema(mv, gv, beta1, one_minus_beta1);
          // reference::sign_of: 1, -1, or c * 0 (a zero for a zero, NaN for a NaN).
          const auto sign = hn::IfThenElse(hn::Gt(c, zero), one, hn::IfThenElse(hn::Lt(c, zero), minus_one, hn::Mul(c, zero)));
          hn::StoreU(hn::Add(wv, hn::Mul(neg_lr, sign)), d, p + i);
          hn::StoreU(Ema(mv, gv, beta2, one_minus_beta2), d, m + i);
        };
      },
      [&](std::size_t i) { reference::lion(s, p + i, g + i, m + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
