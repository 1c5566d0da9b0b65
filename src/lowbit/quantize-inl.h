// The vector forms of lowbit/quantize.hpp's reference, per target: block-wise quantization with the
// dynamic maps, bfloat16 conversion, and the block loop that runs a rule's float32 vector update on
// float32 copies of its state. Bitwise equal to the reference on every target (tests/test_quantize.cpp):
// the codes come from the same comparisons (a binary search over the thresholds, with gathers), the
// values from the same single multiply or division. Included through an optimizer's -inl.h once per
// instruction set, hence the per-target include guard.
#if defined(DESCENT_LOWBIT_QUANTIZE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DESCENT_LOWBIT_QUANTIZE_INL_H_
#undef DESCENT_LOWBIT_QUANTIZE_INL_H_
#else
#define DESCENT_LOWBIT_QUANTIZE_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "lowbit/quantize.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The number of bounds below y (or at most y, `or_equal`), lane by lane, for 256 sorted bounds whose last is
// +infinity: reference::nearest_code (the thresholds) and the floor search of stochastic_code (map[1..]).
// Without gathers, which are slow on some CPUs: the bounds are cut into N segments of W = 256 / N; the
// segment s of y is found by comparing it with the N - 1 segment boundaries (broadcast), and the count
// within it by comparing with bounds[s * W + k], k < W - 1, each looked up from a transposed table by
// TableLookupLanes. The same comparisons as the scalar search, so the same count.
template <class D, class V>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> CountBelow(D d, V y, const float* bounds, const float* tables, bool or_equal) {
  const hn::RebindToSigned<D> di;
  const std::size_t N = hn::Lanes(d), W = 256 / N;
  const auto below = [&](auto bound) HWY_ATTR { return or_equal ? hn::Le(bound, y) : hn::Lt(bound, y); };
  const auto one = hn::Set(di, 1);
  // count + 1 where the mask is set (one masked add on AVX-512)
  const auto add_if = [&](auto count, auto mask) HWY_ATTR { return hn::IfThenElse(hn::RebindMask(di, mask), hn::Add(count, one), count); };
  auto segment = hn::Zero(di);
  for (std::size_t m = 1; m < N; ++m) segment = add_if(segment, below(hn::Set(d, bounds[m * W - 1])));
  const auto lookup = hn::IndicesFromVec(d, segment);
  auto count = hn::Mul(segment, hn::Set(di, static_cast<int>(W)));
  for (std::size_t k = 0; k + 1 < W; ++k) count = add_if(count, below(hn::TableLookupLanes(hn::LoadU(d, tables + k * N), lookup)));
  return count;
}

// reference::random_bits for the lanes' element indices first, first + 1, ...
template <class DU>
HWY_INLINE hn::Vec<DU> RandomBits(DU du, std::uint32_t key, std::uint32_t first) {
  auto h = hn::Add(hn::Set(du, key), hn::Mul(hn::Iota(du, first), hn::Set(du, 0x9e3779b9u)));
  h = hn::Xor(h, hn::ShiftRight<16>(h));
  h = hn::Mul(h, hn::Set(du, 0x85ebca6bu));
  h = hn::Xor(h, hn::ShiftRight<13>(h));
  h = hn::Mul(h, hn::Set(du, 0xc2b2ae35u));
  return hn::Xor(h, hn::ShiftRight<16>(h));
}

// reference::stochastic_code, lane by lane.
template <class D, class V>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> StochasticCodes(D d, V y, const float* map, const float* floor_bounds,
                                                         const float* floor_tables, std::uint32_t key, std::uint32_t first) {
  const hn::RebindToSigned<D> di;
  const hn::RebindToUnsigned<D> du;
  const auto index = CountBelow(d, y, floor_bounds, floor_tables, true);
  const auto lo = hn::GatherIndex(d, map, index);
  const auto hi = hn::GatherIndex(d, map, hn::Min(hn::Add(index, hn::Set(di, 1)), hn::Set(di, 255)));
  const auto bits = hn::ShiftRight<8>(RandomBits(du, key, first));
  const auto u = hn::Mul(hn::ConvertTo(d, hn::BitCast(di, bits)), hn::Set(d, 0x1p-24f));
  const auto up = hn::RebindMask(di, hn::Lt(hn::Mul(u, hn::Sub(hi, lo)), hn::Sub(y, lo)));
  return hn::IfThenElse(up, hn::Add(index, hn::Set(di, 1)), index);
}

// reference::quantize_block.
HWY_INLINE float QuantizeBlock(const float* x, std::size_t n, bool is_signed, lowbit::Rounding rounding,
                               std::uint32_t first, std::uint8_t* codes) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<std::uint8_t, decltype(d)> d8;
  const std::size_t N = hn::Lanes(d);
  // The absmax: Max is exact on finite values in any order; a non-finite value makes it NaN.
  const auto largest_finite = hn::Set(d, 3.40282347e+38f);
  auto top = hn::Zero(d);
  auto bad = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto a = hn::Abs(hn::LoadU(d, x + i));
    top = hn::Max(top, a);
    bad = hn::Or(bad, hn::VecFromMask(d, hn::Not(hn::Le(a, largest_finite))));
  }
  float absmax = 0.0f;
  bool finite = hn::AllTrue(d, hn::Eq(bad, hn::Zero(d)));
  if (i > 0) absmax = hn::GetLane(hn::MaxOfLanes(d, top));
  if (i < n) {
    const float rest = lowbit::reference::block_absmax(x + i, n - i);
    finite &= rest == rest;
    absmax = rest > absmax ? rest : absmax;
  }
  if (!finite) absmax = __builtin_nanf("");

  const float* map = lowbit::dynamic_map(is_signed).data();
  const float* thresholds = lowbit::dynamic_thresholds(is_signed).data();
  const float* floor_bounds = lowbit::floor_bounds(is_signed).data();
  const float* tables = lowbit::segment_tables(is_signed, rounding.stochastic, N);
  const bool scaled = absmax > 0.0f;
  const auto scale = hn::Set(d, absmax);
  i = 0;
  if (tables != nullptr) {  // 4, 8 or 16 lanes; otherwise the scalar loop below does all of it
    for (; i + N <= n; i += N) {
      const auto y = scaled ? hn::Div(hn::LoadU(d, x + i), scale) : hn::Zero(d);
      const auto code = rounding.stochastic
                            ? StochasticCodes(d, y, map, floor_bounds, tables, rounding.key, first + static_cast<std::uint32_t>(i))
                            : CountBelow(d, y, thresholds, tables, false);
      hn::StoreU(hn::DemoteTo(d8, code), d8, codes + i);
    }
  }
  for (; i < n; ++i) {
    const float y = lowbit::reference::normalized(x[i], absmax);
    codes[i] = rounding.stochastic
                   ? lowbit::reference::stochastic_code(
                         y, map, lowbit::random_bits(rounding.key, first + static_cast<std::uint32_t>(i)))
                   : lowbit::reference::nearest_code(y, thresholds);
  }
  (void)di;
  return absmax;
}

// reference::dequantize_block.
HWY_INLINE void DequantizeBlock(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<std::uint8_t, decltype(d)> d8;
  const std::size_t N = hn::Lanes(d);
  const float* map = lowbit::dynamic_map(is_signed).data();
  const auto scale = hn::Set(d, absmax);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto code = hn::PromoteTo(di, hn::LoadU(d8, codes + i));
    hn::StoreU(hn::Mul(hn::GatherIndex(d, map, code), scale), d, out + i);
  }
  for (; i < n; ++i) out[i] = map[codes[i]] * absmax;
}

// reference::to_bfloat16 over n values (element indices first, first + 1, ...).
HWY_INLINE void ToBFloat16(const float* x, std::size_t n, lowbit::Rounding rounding, std::uint32_t first,
                           std::uint16_t* out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<std::uint16_t, decltype(d)> d16;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(d, x + i);
    const auto u = hn::BitCast(du, v);
    const auto quiet_nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
    const auto added = rounding.stochastic
                           ? hn::ShiftRight<16>(RandomBits(du, rounding.key, first + static_cast<std::uint32_t>(i)))
                           : hn::Add(hn::Set(du, 0x7fffu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
    const auto rounded = hn::ShiftRight<16>(hn::Add(u, added));
    const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet_nan, rounded);
    hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, bits)), d16, out + i);
  }
  for (; i < n; ++i) out[i] = lowbit::reference::to_bfloat16(x[i], rounding, first + static_cast<std::uint32_t>(i));
}

HWY_INLINE void FromBFloat16(const std::uint16_t* bits, std::size_t n, float* out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const hn::Rebind<std::uint16_t, decltype(d)> d16;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, bits + i)))), d, out + i);
  }
  for (; i < n; ++i) out[i] = lowbit::reference::from_bfloat16(bits[i]);
}

// reference::with_float_state with the vector conversions; `update` is the rule's float32 vector update.
template <class Update>
HWY_INLINE void WithFloatState(lowbit::StateDtype dtype, std::size_t n, std::uint32_t first, lowbit::StateRef* slots,
                               std::size_t count, const Update& update) {
  constexpr std::size_t kBlock = lowbit::kBlock;
  alignas(64) float buffers[3][kBlock];
  float* views[3] = {buffers[0], buffers[1], buffers[2]};
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = n - b < kBlock ? n - b : kBlock;
    const std::uint32_t index = first + static_cast<std::uint32_t>(b);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == lowbit::StateDtype::Int8) {
        DequantizeBlock(static_cast<const std::uint8_t*>(slots[s].data) + b, len, slots[s].is_signed,
                        slots[s].absmax[b / kBlock], views[s]);
      } else {
        FromBFloat16(static_cast<const std::uint16_t*>(slots[s].data) + b, len, views[s]);
      }
    }
    update(b, len, views);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == lowbit::StateDtype::Int8) {
        slots[s].absmax[b / kBlock] = QuantizeBlock(views[s], len, slots[s].is_signed, slots[s].rounding, index,
                                                    static_cast<std::uint8_t*>(slots[s].data) + b);
      } else {
        ToBFloat16(views[s], len, slots[s].rounding, index, static_cast<std::uint16_t*>(slots[s].data) + b);
      }
    }
  }
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
