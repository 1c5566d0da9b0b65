// Adadelta's vector body, bitwise equal to reference::adadelta (adadelta.cpp) on every target. Included once per
// instruction set by adadelta_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/adadelta/adadelta_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Adadelta(const reference::AdadeltaStep& s, T* p, const T* g, T* square_avg, T* acc_delta, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
        const auto rho = hn::Set(d, static_cast<T>(s.rho));
        const auto one_minus_rho = hn::Set(d, static_cast<T>(1.0 - s.rho));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(square_avg, i);
          PrefetchAhead<true>(acc_delta, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto sq = EmaSq(hn::LoadU(d, square_avg + i), gv, rho, one_minus_rho);
          hn::StoreU(sq, d, square_avg + i);
          const auto std_dev = hn::Sqrt(hn::Add(sq, eps));
          const auto acc = hn::LoadU(d, acc_delta + i);
          const auto delta = hn::Mul(hn::Div(hn::Sqrt(hn::Add(acc, eps)), std_dev), gv);
          hn::StoreU(EmaSq(acc, delta, rho, one_minus_rho), d, acc_delta + i);
          hn::StoreU(hn::MulAdd(neg_lr, delta, pv), d, p + i);
        };
      },
      [&](std::size_t i) { reference::adadelta(s, p + i, g + i, square_avg + i, acc_delta + i, n - i); });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
