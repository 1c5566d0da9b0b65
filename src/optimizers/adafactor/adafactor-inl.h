// Adafactor's vector bodies, bitwise equal to the references in adafactor.cpp on every target. Included
// once per instruction set by adafactor_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cmath>
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "optimizers/adafactor/adafactor_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

#if HWY_NATIVE_FMA
// reference::unscaled_update, lane by lane: (1 / sqrt(max((r * c) / row_mean, eps1^2))) * g, NaN kept.
template <class D, class V>
HWY_INLINE V UnscaledUpdate(D d, V g, V r, V c, V row_mean, V eps1_sq) {
  const V v = hn::Div(hn::Mul(r, c), row_mean);
  return hn::Mul(hn::Div(hn::Set(d, hn::TFromD<D>(1)), hn::Sqrt(hn::IfThenElse(hn::Lt(v, eps1_sq), eps1_sq, v))), g);
}
#endif

// 1-D parameters: variance <- lerp(variance, g^2, w), and the squared updates summed.
template <class T>
double AdafactorVariance(const reference::AdafactorStep& s, const T* grad, T* variance, std::size_t n) {
  return SquaresThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const T w_scalar = static_cast<T>(s.lerp_weight);
        const bool small = std::abs(w_scalar) < T(0.5);  // reference::lerp's branch: w is the same for every element
        const auto w = hn::Set(d, w_scalar), w_minus_one = hn::Set(d, static_cast<T>(w_scalar - T(1)));
        const auto eps1_sq = hn::Set(d, static_cast<T>(s.eps1_sq));
        const auto one = hn::Set(d, T(1));
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<false>(grad, i);
          PrefetchAhead<true>(variance, i);
          const auto gv = s.maximize ? hn::Neg(hn::LoadU(d, grad + i)) : hn::LoadU(d, grad + i);
          const auto x = hn::Mul(gv, gv);
          const auto avg = hn::LoadU(d, variance + i);
          const auto diff = hn::Sub(x, avg);
          const auto v = small ? hn::MulAdd(w, diff, avg) : hn::MulAdd(w_minus_one, diff, x);
          hn::StoreU(v, d, variance + i);
          return UnscaledUpdate(d, gv, one, v, one, eps1_sq);
        };
      },
      [&](std::size_t i) { return reference::adafactor_variance(s, grad + i, variance + i, n - i); });
}

// One row piece of a factored parameter: the squared updates summed.
template <class T>
double AdafactorFactoredSq(const reference::AdafactorStep& s, T row, T row_mean, const T* grad, const T* col,
                           std::size_t n) {
  return SquaresThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto r = hn::Set(d, row), mean = hn::Set(d, row_mean);
        const auto eps1_sq = hn::Set(d, static_cast<T>(s.eps1_sq));
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<false>(grad, i);  // col, the column factor, is the same for every row: cached
          const auto gv = s.maximize ? hn::Neg(hn::LoadU(d, grad + i)) : hn::LoadU(d, grad + i);
          return UnscaledUpdate(d, gv, r, hn::LoadU(d, col + i), mean, eps1_sq);
        };
      },
      [&](std::size_t i) { return reference::adafactor_factored_sq(s, row, row_mean, grad + i, col + i, n - i); });
}

// param <- fma(scale, U, param * decay), U recomputed as in the passes above.
template <class T>
void AdafactorApply(const reference::AdafactorStep& s, double decay, double scale, T row, T row_mean, T* param,
                    const T* grad, const T* col, std::size_t n) {
  VectorsThenTail<T, FullTag<T>>(
      n,
      [&](auto d) HWY_ATTR {
        const auto r = hn::Set(d, row), mean = hn::Set(d, row_mean);
        const auto eps1_sq = hn::Set(d, static_cast<T>(s.eps1_sq));
        const auto decay_v = hn::Set(d, static_cast<T>(decay)), scale_v = hn::Set(d, static_cast<T>(scale));
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(param, i);
          PrefetchAhead<false>(grad, i);
          PrefetchAhead<false>(col, i);  // a 1-D parameter's variance (streamed); else the column factor (cached)
          const auto gv = s.maximize ? hn::Neg(hn::LoadU(d, grad + i)) : hn::LoadU(d, grad + i);
          const auto u = UnscaledUpdate(d, gv, r, hn::LoadU(d, col + i), mean, eps1_sq);
          hn::StoreU(hn::MulAdd(scale_v, u, hn::Mul(hn::LoadU(d, param + i), decay_v)), d, param + i);
        };
      },
      [&](std::size_t i) {
        reference::adafactor_apply(s, decay, scale, row, row_mean, param + i, grad + i, col + i, n - i);
      });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
