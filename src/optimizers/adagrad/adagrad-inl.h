// Adagrad's vector body, bitwise equal to reference::adagrad (adagrad.cpp) on every target. Included once per
// instruction set by adagrad_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/adagrad/adagrad_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Adagrad(const reference::AdagradStep& s, T* p, const T* g, T* sum, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_clr = hn::Set(d, static_cast<T>(-s.clr));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(sum, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto sv = hn::MulAdd(gv, gv, hn::LoadU(d, sum + i));
          hn::StoreU(sv, d, sum + i);
          const auto std_dev = hn::Add(hn::Sqrt(sv), eps);
          hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_clr, gv), std_dev)), d, p + i);
        };
      },
      [&](std::size_t i) { reference::adagrad(s, p + i, g + i, sum + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
