// Per-target bodies of the fused update kernels (see kernels.hpp). Included once per instruction set by
// kernels.cpp through hwy/foreach_target.h, hence no include guard. Each kernel applies, lane by lane,
// exactly the operations of its scalar reference in src/optimizers/<name>.cpp (MulAdd where the reference
// calls std::fma, a separate Mul and Add where it does not), and hands the tail (fewer elements than a
// vector) to the reference itself.

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "hwy/highway.h"
#include "optimizers/common.hpp"
#include "optimizers/reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_NATIVE_FMA

// The gradient an update uses: negated when maximizing, then fma(l2, param, g) when l2 != 0.
template <class V>
HWY_INLINE V EffectiveGrad(V grad, V param, bool maximize, bool has_l2, V l2) {
  const V g = maximize ? hn::Neg(grad) : grad;
  return has_l2 ? hn::MulAdd(l2, param, g) : g;
}

// descent::detail::nan_max: NaN if either is NaN, else the larger (the first on ties).
template <class V>
HWY_INLINE V NanMax(V a, V b) {
  const auto either_nan = hn::Or(hn::IsNaN(a), hn::IsNaN(b));
  return hn::IfThenElse(either_nan, hn::Add(a, b), hn::IfThenElse(hn::Lt(a, b), b, a));
}

// avg * beta + (1 - beta) * x, and the same with x * x: detail::ema and detail::ema_sq.
template <class V>
HWY_INLINE V Ema(V avg, V x, V beta, V one_minus_beta) {
  return hn::MulAdd(one_minus_beta, x, hn::Mul(avg, beta));
}
template <class V>
HWY_INLINE V EmaSq(V avg, V x, V beta, V one_minus_beta) {
  return hn::MulAdd(hn::Mul(one_minus_beta, x), x, hn::Mul(avg, beta));
}

// Sum of squares of a float vector, accumulated in double lanes.
template <class DD, class VD, class D, class V>
HWY_INLINE VD AccumulateSquares(DD dd, D d, V v, VD acc) {
  if constexpr (sizeof(hn::TFromD<D>) == 4) {
    const hn::Half<D> dh;
    const auto lo = hn::PromoteTo(dd, hn::LowerHalf(dh, v));
    const auto hi = hn::PromoteTo(dd, hn::UpperHalf(dh, v));
    return hn::MulAdd(hi, hi, hn::MulAdd(lo, lo, acc));
  } else {
    (void)d;
    (void)dd;
    return hn::MulAdd(v, v, acc);
  }
}

// The accumulator's tag: double lanes, half as many as a float vector has, or the double vector's own.
template <class D>
using DoubleTag = std::conditional_t<sizeof(hn::TFromD<D>) == 4, hn::Rebind<double, hn::Half<D>>, D>;

#endif  // HWY_NATIVE_FMA

template <class T>
void Sgd(const reference::SGDStep& s, T* p, const T* g, T* buf, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
  const auto one_minus_dampening = hn::Set(d, static_cast<T>(1.0 - s.dampening));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    auto dv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    if (buf != nullptr) {
      const auto bv = s.first ? dv : hn::MulAdd(one_minus_dampening, dv, hn::Mul(hn::LoadU(d, buf + i), momentum));
      hn::StoreU(bv, d, buf + i);
      dv = s.nesterov ? hn::MulAdd(momentum, bv, dv) : bv;
    }
    hn::StoreU(hn::MulAdd(neg_lr, dv, pv), d, p + i);
  }
#endif
  reference::sgd(s, p + i, g + i, buf ? buf + i : nullptr, n - i);
}

template <class T>
void Adagrad(const reference::AdagradStep& s, T* p, const T* g, T* sum, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto neg_clr = hn::Set(d, static_cast<T>(-s.clr));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    const auto sv = hn::MulAdd(gv, gv, hn::LoadU(d, sum + i));
    hn::StoreU(sv, d, sum + i);
    const auto std_dev = hn::Add(hn::Sqrt(sv), eps);
    hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_clr, gv), std_dev)), d, p + i);
  }
#endif
  reference::adagrad(s, p + i, g + i, sum + i, n - i);
}

template <class T>
void Adadelta(const reference::AdadeltaStep& s, T* p, const T* g, T* square_avg, T* acc_delta, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
  const auto rho = hn::Set(d, static_cast<T>(s.rho));
  const auto one_minus_rho = hn::Set(d, static_cast<T>(1.0 - s.rho));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    const auto sq = EmaSq(hn::LoadU(d, square_avg + i), gv, rho, one_minus_rho);
    hn::StoreU(sq, d, square_avg + i);
    const auto std_dev = hn::Sqrt(hn::Add(sq, eps));
    const auto acc = hn::LoadU(d, acc_delta + i);
    const auto delta = hn::Mul(hn::Div(hn::Sqrt(hn::Add(acc, eps)), std_dev), gv);
    hn::StoreU(EmaSq(acc, delta, rho, one_minus_rho), d, acc_delta + i);
    hn::StoreU(hn::MulAdd(neg_lr, delta, pv), d, p + i);
  }
#endif
  reference::adadelta(s, p + i, g + i, square_avg + i, acc_delta + i, n - i);
}

template <class T>
void Rmsprop(const reference::RMSpropStep& s, T* p, const T* g, T* square_avg, T* buf, T* grad_avg, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
  const auto alpha = hn::Set(d, static_cast<T>(s.alpha));
  const auto one_minus_alpha = hn::Set(d, static_cast<T>(1.0 - s.alpha));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    const auto sq = EmaSq(hn::LoadU(d, square_avg + i), gv, alpha, one_minus_alpha);
    hn::StoreU(sq, d, square_avg + i);
    auto avg = hn::Sqrt(sq);
    if (grad_avg != nullptr) {
      const auto ga = Ema(hn::LoadU(d, grad_avg + i), gv, alpha, one_minus_alpha);
      hn::StoreU(ga, d, grad_avg + i);
      avg = hn::Sqrt(hn::MulAdd(hn::Neg(ga), ga, sq));
    }
    avg = hn::Add(avg, eps);
    if (buf != nullptr) {
      const auto bv = hn::Add(hn::Mul(hn::LoadU(d, buf + i), momentum), hn::Div(gv, avg));
      hn::StoreU(bv, d, buf + i);
      hn::StoreU(hn::MulAdd(neg_lr, bv, pv), d, p + i);
    } else {
      hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_lr, gv), avg)), d, p + i);
    }
  }
#endif
  reference::rmsprop(s, p + i, g + i, square_avg + i, buf ? buf + i : nullptr, grad_avg ? grad_avg + i : nullptr, n - i);
}

template <class T>
void Adam(const reference::AdamStep& s, T* p, const T* g, T* m, T* v, T* vmax, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
  const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto l2 = hn::Set(d, static_cast<T>(s.l2));
  const auto decay = hn::Set(d, static_cast<T>(s.decay_factor));
  const auto neg_step = hn::Set(d, static_cast<T>(-s.step_size));
  const auto bc2_sqrt = hn::Set(d, static_cast<T>(s.bias_correction2_sqrt));
  const bool has_l2 = static_cast<T>(s.l2) != T(0);
  const bool decoupled = s.decay_factor != 1.0;
  for (; i + N <= n; i += N) {
    auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_l2, l2);
    if (decoupled) pv = hn::Mul(pv, decay);
    const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
    const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    auto second = vv;
    if (vmax != nullptr) {
      second = NanMax(hn::LoadU(d, vmax + i), vv);
      hn::StoreU(second, d, vmax + i);
    }
    const auto denom = hn::Add(hn::Div(hn::Sqrt(second), bc2_sqrt), eps);
    hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_step, mv), denom)), d, p + i);
  }
#endif
  reference::adam(s, p + i, g + i, m + i, v + i, vmax ? vmax + i : nullptr, n - i);
}

template <class T>
void Adamax(const reference::AdamaxStep& s, T* p, const T* g, T* m, T* u, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
  const auto beta2 = hn::Set(d, static_cast<T>(s.beta2));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto neg_clr = hn::Set(d, static_cast<T>(-s.clr));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
    const auto uv = NanMax(hn::Mul(hn::LoadU(d, u + i), beta2), hn::Add(hn::Abs(gv), eps));
    hn::StoreU(mv, d, m + i);
    hn::StoreU(uv, d, u + i);
    hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_clr, mv), uv)), d, p + i);
  }
#endif
  reference::adamax(s, p + i, g + i, m + i, u + i, n - i);
}

template <class T>
void Nadam(const reference::NAdamStep& s, T* p, const T* g, T* m, T* v, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
  const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto bc2_sqrt = hn::Set(d, static_cast<T>(s.bias_correction2_sqrt));
  const auto grad_coefficient = hn::Set(d, static_cast<T>(s.grad_coefficient));
  const auto exp_avg_coefficient = hn::Set(d, static_cast<T>(s.exp_avg_coefficient));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    auto pv = hn::LoadU(d, p + i);
    const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
    const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
    const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    const auto denom = hn::Add(hn::Div(hn::Sqrt(vv), bc2_sqrt), eps);
    pv = hn::Add(pv, hn::Div(hn::Mul(grad_coefficient, gv), denom));
    pv = hn::Add(pv, hn::Div(hn::Mul(exp_avg_coefficient, mv), denom));
    hn::StoreU(pv, d, p + i);
  }
#endif
  reference::nadam(s, p + i, g + i, m + i, v + i, n - i);
}

template <class T>
void Radam(const reference::RAdamStep& s, T* p, const T* g, T* m, T* v, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
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
  for (; i + N <= n; i += N) {
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
  }
#endif
  reference::radam(s, p + i, g + i, m + i, v + i, n - i);
}

template <class T>
void Lars(const reference::LARSStep& s, T* p, const T* g, T* buf, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto scaled_lr = hn::Set(d, static_cast<T>(s.scaled_lr));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    const auto scaled = hn::Mul(scaled_lr, EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd));
    if (buf != nullptr) {
      const auto bv = hn::Add(hn::Mul(momentum, hn::LoadU(d, buf + i)), scaled);
      hn::StoreU(bv, d, buf + i);
      hn::StoreU(hn::Sub(pv, s.nesterov ? hn::Add(hn::Mul(momentum, bv), scaled) : bv), d, p + i);
    } else {
      hn::StoreU(hn::Sub(pv, scaled), d, p + i);
    }
  }
#endif
  reference::lars(s, p + i, g + i, buf ? buf + i : nullptr, n - i);
}

template <class T>
double SumOfSquares(const T* x, std::size_t n) {
  std::size_t i = 0;
  double sum = 0.0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const DoubleTag<decltype(d)> dd;
  const std::size_t N = hn::Lanes(d);
  auto acc = hn::Zero(dd);
  for (; i + N <= n; i += N) acc = AccumulateSquares(dd, d, hn::LoadU(d, x + i), acc);
  sum = hn::GetLane(hn::SumOfLanes(dd, acc));
#endif
  return sum + detail::sum_of_squares(x + i, n - i);
}

template <class T>
double LambMoments(const reference::LAMBStep& s, const T* p, const T* g, T* m, T* v, std::size_t n) {
  std::size_t i = 0;
  double sum = 0.0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const DoubleTag<decltype(d)> dd;
  const std::size_t N = hn::Lanes(d);
  const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
  const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
  const auto bc1 = hn::Set(d, static_cast<T>(s.bias_correction1));
  const auto bc2 = hn::Set(d, static_cast<T>(s.bias_correction2));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  auto acc = hn::Zero(dd);
  for (; i + N <= n; i += N) {
    const auto gv = s.maximize ? hn::Neg(hn::LoadU(d, g + i)) : hn::LoadU(d, g + i);
    const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
    const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    auto u = hn::Div(hn::Div(mv, bc1), hn::Add(hn::Sqrt(hn::Div(vv, bc2)), eps));
    if (has_wd) u = hn::Add(u, hn::Mul(wd, hn::LoadU(d, p + i)));
    acc = AccumulateSquares(dd, d, u, acc);
  }
  sum = hn::GetLane(hn::SumOfLanes(dd, acc));
#endif
  return sum + reference::lamb_moments(s, p + i, g + i, m + i, v + i, n - i);
}

template <class T>
void LambApply(const reference::LAMBStep& s, double scaled_lr, T* p, const T* m, const T* v, std::size_t n) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const auto bc1 = hn::Set(d, static_cast<T>(s.bias_correction1));
  const auto bc2 = hn::Set(d, static_cast<T>(s.bias_correction2));
  const auto eps = hn::Set(d, static_cast<T>(s.eps));
  const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
  const auto step = hn::Set(d, static_cast<T>(scaled_lr));
  const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
  for (; i + N <= n; i += N) {
    const auto pv = hn::LoadU(d, p + i);
    auto u = hn::Div(hn::Div(hn::LoadU(d, m + i), bc1), hn::Add(hn::Sqrt(hn::Div(hn::LoadU(d, v + i), bc2)), eps));
    if (has_wd) u = hn::Add(u, hn::Mul(wd, pv));
    hn::StoreU(hn::Sub(pv, hn::Mul(step, u)), d, p + i);
  }
#endif
  reference::lamb_apply(s, scaled_lr, p + i, m + i, v + i, n - i);
}

// Whether no element is a NaN or an infinity: exactly those have every exponent bit set. Compares bits,
// so any target can run it (no FMA needed); four vectors a round keep the loads in flight.
template <class T>
bool AllFinite(const T* x, std::size_t n) {
  using U = hwy::MakeUnsigned<T>;
  constexpr U kExponent = sizeof(T) == 4 ? static_cast<U>(0x7f800000u) : static_cast<U>(0x7ff0000000000000ull);
  const hn::ScalableTag<T> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const std::size_t N = hn::Lanes(d);
  const auto exponent = hn::Set(du, kExponent);
  const auto exponent_of = [&](std::size_t i) { return hn::And(hn::BitCast(du, hn::LoadU(d, x + i)), exponent); };
  auto top = hn::Zero(du);  // the largest masked exponent seen: kExponent exactly when one was non-finite
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    top = hn::Max(top, hn::Max(hn::Max(exponent_of(i), exponent_of(i + N)),
                               hn::Max(exponent_of(i + 2 * N), exponent_of(i + 3 * N))));
  }
  for (; i + N <= n; i += N) top = hn::Max(top, exponent_of(i));
  if (!hn::AllFalse(du, hn::Eq(top, exponent))) return false;
  for (; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
