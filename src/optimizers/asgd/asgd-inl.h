// ASGD's vector body, bitwise equal to reference::asgd (asgd.cpp) on every target. Included once per
// instruction set by asgd_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/asgd/asgd_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void ASGD(const reference::ASGDStep& s, T* p, const T* g, T* ax, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto decay = hn::Set(d, static_cast<T>(s.decay));
        const auto neg_eta = hn::Set(d, static_cast<T>(s.neg_eta));
        const auto mu = hn::Set(d, static_cast<T>(s.mu));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(ax, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto w = hn::MulAdd(neg_eta, gv, hn::Mul(pv, decay));
          hn::StoreU(w, d, p + i);
          if (s.average) {
            const auto av = hn::LoadU(d, ax + i);
            hn::StoreU(hn::Add(av, hn::Mul(hn::Sub(w, av), mu)), d, ax + i);
          } else {
            hn::StoreU(w, d, ax + i);
          }
        };
      },
      [&](std::size_t i) { reference::asgd(s, p + i, g + i, ax + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
