// LARS's vector body, bitwise equal to reference::lars (lars.cpp) on every target. Included once per
// instruction set by lars_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/lars/lars_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Lars(const reference::LARSStep& s, T* p, const T* g, T* buf, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto scaled_lr = hn::Set(d, static_cast<T>(s.scaled_lr));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          if (buf != nullptr) PrefetchAhead<true>(buf, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto scaled = hn::Mul(scaled_lr, EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd));
          if (buf != nullptr) {
            const auto bv = hn::Add(hn::Mul(momentum, hn::LoadU(d, buf + i)), scaled);
            hn::StoreU(bv, d, buf + i);
            hn::StoreU(hn::Sub(pv, s.nesterov ? hn::Add(hn::Mul(momentum, bv), scaled) : bv), d, p + i);
          } else {
            hn::StoreU(hn::Sub(pv, scaled), d, p + i);
          }
        };
      },
      [&](std::size_t i) { reference::lars(s, p + i, g + i, buf ? buf + i : nullptr, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
