// Rprop's vector body, bitwise equal to reference::rprop (rprop.cpp) on every target. Included once per
// instruction set by rprop_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/rprop/rprop_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Rprop(const reference::RpropStep& s, T* p, const T* g, T* prev, T* step_size, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto etaplus = hn::Set(d, static_cast<T>(s.etaplus));
        const auto etaminus = hn::Set(d, static_cast<T>(s.etaminus));
        const auto shrink = hn::Set(d, reference::shrink_factor<T>(s.etaminus));
        const auto lo = hn::Set(d, static_cast<T>(s.step_size_min)), hi = hn::Set(d, static_cast<T>(s.step_size_max));
        const auto zero = hn::Zero(d), one = hn::Set(d, T(1)), minus_one = hn::Set(d, T(-1));
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(prev, i);
          PrefetchAhead<true>(step_size, i);
          auto gv = hn::LoadU(d, g + i);
          if (s.maximize) gv = hn::Neg(gv);
          const auto product = hn::Mul(gv, hn::LoadU(d, prev + i));
          // Comparisons are false for a NaN product, which so gets the factor 1, as torch.sign(NaN) = 0.
          const auto factor =
              hn::IfThenElse(hn::Gt(product, zero), etaplus, hn::IfThenElse(hn::Lt(product, zero), shrink, one));
          const auto grown = hn::Mul(hn::LoadU(d, step_size + i), factor);
          const auto at_least = hn::IfThenElse(hn::Lt(grown, lo), lo, grown);
          const auto sv = hn::IfThenElse(hn::Lt(hi, at_least), hi, at_least);
          gv = hn::IfThenZeroElse(hn::Eq(factor, etaminus), gv);
          const auto sign = hn::IfThenElse(hn::Gt(gv, zero), one, hn::IfThenElseZero(hn::Lt(gv, zero), minus_one));
          hn::StoreU(sv, d, step_size + i);
          hn::StoreU(gv, d, prev + i);
          hn::StoreU(hn::Add(hn::LoadU(d, p + i), hn::Mul(hn::Mul(minus_one, sign), sv)), d, p + i);
        };
      },
      [&](std::size_t i) { reference::rprop(s, p + i, g + i, prev + i, step_size + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
