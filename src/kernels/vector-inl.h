// What every vector kernel shares, per target (see kernels.hpp): the loop over full vectors with its tail,
// and the vector forms of the shared math of src/optimizers/common.hpp. Included, through each kernel's
// -inl.h, once per instruction set by hwy/foreach_target.h, hence the per-target include guard.
//
// A kernel applies, lane by lane, exactly the operations of its scalar reference (MulAdd where the
// reference calls std::fma, a separate Mul and Add where it does not), and hands the tail (fewer elements
// than a vector) to the reference itself.
#if defined(DESCENT_KERNELS_VECTOR_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DESCENT_KERNELS_VECTOR_INL_H_
#undef DESCENT_KERNELS_VECTOR_INL_H_
#else
#define DESCENT_KERNELS_VECTOR_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "hwy/highway.h"
#include "kernels/prefetch.hpp"
#include "optimizers/common.hpp"

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

// The vectors of the element-wise kernels: the target's full vector, but at most 256 bits. These loops
// stream memory, and on AVX-512 targets 512-bit vectors made most of them slower: on this machine's AMD
// EPYC (Zen 4, which splits 512-bit operations in two) one thread of Lion, ASGD and Rprop ran at
// 1.15-1.26x of their memory roof with 512-bit vectors and at 0.99-1.11x with 256-bit ones, Adam at
// 1.18-1.20x and 1.04-1.12x. The few kernels that do more arithmetic per byte (Adafactor's and LAMB's
// update, Schedule-Free SGD) were faster at full width and ask for FullTag; the low-bit state loops
// (src/lowbit/quantize-inl.h) keep it too: a trial of 256-bit bfloat16 Adam state was slower. Both widths were
// measured in one script (docs/performance.md). Element-wise results do not depend on the width.
template <class T>
using StreamTag = hn::CappedTag<T, 32 / sizeof(T)>;
template <class T>
using FullTag = hn::ScalableTag<T>;

// An element-wise kernel over [0, n) in vectors of Tag: make_body(d) broadcasts the per-step scalars once
// and returns the body of one full vector, body(i) for the elements [i, i + Lanes(d)); tail(i) then
// updates [i, n) with the scalar reference. Without a native fused multiply-add (SSE4 and older) no vector
// is run and the reference does all of it: only with one do the lanes round as the reference's std::fma
// does.
template <class T, class Tag = StreamTag<T>, class MakeBody, class Tail>
HWY_INLINE void VectorsThenTail(std::size_t n, const MakeBody& make_body, const Tail& tail) {
  std::size_t i = 0;
#if HWY_NATIVE_FMA
  const Tag d;
  const std::size_t N = hn::Lanes(d);
  const auto body = make_body(d);
  for (; i + N <= n; i += N) body(i);
#else
  (void)make_body;
  (void)n;
#endif
  tail(i);
}

// The same for a sum of squares: body(i) returns the vector whose squares are summed (in double lanes),
// tail(i) the reference's sum over [i, n). Returns the total.
template <class T, class MakeBody, class Tail>
HWY_INLINE double SquaresThenTail(std::size_t n, const MakeBody& make_body, const Tail& tail) {
  std::size_t i = 0;
  double sum = 0.0;
#if HWY_NATIVE_FMA
  const hn::ScalableTag<T> d;
  const DoubleTag<decltype(d)> dd;
  const std::size_t N = hn::Lanes(d);
  const auto body = make_body(d);
  auto acc = hn::Zero(dd);
  for (; i + N <= n; i += N) acc = AccumulateSquares(dd, d, body(i), acc);
  sum = hn::GetLane(hn::SumOfLanes(dd, acc));
#else
  (void)make_body;
  (void)n;
#endif
  return sum + tail(i);
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
