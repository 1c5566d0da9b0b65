// The vector forms of lowbit/quantize.hpp's reference, per target: block-wise quantization with the
// dynamic maps, bfloat16 conversion, and the block loop that runs a rule's float32 vector update on
// float32 copies of its state (WithFloatState), or with its state in registers (WithFusedState). Bitwise
// equal to the reference on every target (tests/test_quantize.cpp): nearest codes come from the pieces
// on AVX-512 (the code tables for any vector with a flagged lane) and from the code tables elsewhere,
// which both give the search's count exactly (quantize.hpp); the values from the same single multiply or
// division. Included through an optimizer's -inl.h once per instruction set, hence the per-target
// include guard.
#if defined(DESCENT_LOWBIT_QUANTIZE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DESCENT_LOWBIT_QUANTIZE_INL_H_
#undef DESCENT_LOWBIT_QUANTIZE_INL_H_
#else
#define DESCENT_LOWBIT_QUANTIZE_INL_H_
#endif

#include <bit>
#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "lowbit/quantize.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// lowbit::table_code, lane by lane: the search's count of bounds below y from one gather (quantize.hpp
// says why that is exact). -0 becomes +0 by adding +0; NaN lanes get 0.
template <class D, class V>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> TableCodes(D d, V y, const std::uint32_t* table) {
  const hn::RebindToSigned<D> di;
  const hn::RebindToUnsigned<D> du;
  const auto bits = hn::BitCast(du, hn::Add(y, hn::Zero(d)));
  const auto negative = hn::BitCast(du, hn::ShiftRight<31>(hn::BitCast(di, bits)));  // all ones or zero
  const auto bucket = hn::Min(hn::Max(hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 0x7fffu)), hn::Set(du, lowbit::kCodeTableLow)),
                              hn::Set(du, lowbit::kCodeTableHigh));
  const auto index = hn::Add(hn::Sub(bucket, hn::Set(du, lowbit::kCodeTableLow)), hn::And(negative, hn::Set(du, lowbit::kCodeTableSpan)));
  const auto entry = hn::GatherIndex(di, reinterpret_cast<const std::int32_t*>(table), hn::BitCast(di, index));
  const auto key = hn::BitCast(di, hn::And(hn::Xor(bits, negative), hn::Set(du, 0xffffu)));
  const auto lo = hn::And(entry, hn::Set(di, 0xff));
  const auto code = hn::Sub(lo, hn::VecFromMask(di, hn::Gt(key, hn::ShiftRight<8>(entry))));  // + 1 where key > step
  return hn::IfThenZeroElse(hn::RebindMask(di, hn::IsNaN(y)), code);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// lowbit::piece_code on 16 lanes (AVX-512F): the pieces' tables live in registers, the binade's entries
// come from two-register permutes (its low 5 bits index them), the piece's from one-register permutes.
// `flagged` gets the lanes piece_code gives -1 (their codes here are meaningless).
struct PieceRegisters {
  __m512 inner_lo, inner_hi, slope, offset;
  __m512i first_lo, first_hi, top;
  explicit PieceRegisters(const lowbit::NearestPieces& p)
      : inner_lo(_mm512_load_ps(p.inner)), inner_hi(_mm512_load_ps(p.inner + 16)), slope(_mm512_load_ps(p.slope)),
        offset(_mm512_load_ps(p.offset)), first_lo(_mm512_load_si512(p.first)), first_hi(_mm512_load_si512(p.first + 16)),
        top(_mm512_load_si512(p.top)) {}
};

HWY_INLINE __m512i PieceCodes(__m512 y, const PieceRegisters& r, bool is_signed, __mmask16& flagged) {
  const __m512i magnitude = _mm512_and_si512(_mm512_castps_si512(y), _mm512_set1_epi32(0x7fffffff));
  const __m512 a = _mm512_castsi512_ps(magnitude);
  const __m512i binade = _mm512_min_epu32(_mm512_max_epu32(_mm512_srli_epi32(magnitude, 23),
                                                           _mm512_set1_epi32(lowbit::kPieceBinadeLow)),
                                          _mm512_set1_epi32(127));
  const __m512 inner = _mm512_permutex2var_ps(r.inner_lo, binade, r.inner_hi);
  const __m512i first = _mm512_permutex2var_epi32(r.first_lo, binade, r.first_hi);
  const __m512i piece = _mm512_mask_add_epi32(first, _mm512_cmp_ps_mask(a, inner, _CMP_GT_OQ), first, _mm512_set1_epi32(1));
  const __m512 t = _mm512_fmadd_ps(a, _mm512_permutexvar_ps(piece, r.slope), _mm512_permutexvar_ps(piece, r.offset));
  const __m512 distance = _mm512_abs_ps(_mm512_sub_ps(t, _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  const __m512i from_boundary = _mm512_abs_epi32(_mm512_sub_epi32(magnitude, _mm512_castps_si512(inner)));
  flagged = static_cast<__mmask16>(
      _mm512_cmple_epu32_mask(from_boundary, _mm512_set1_epi32(static_cast<int>(lowbit::kPieceBoundaryUlps))) |
      _mm512_cmp_ps_mask(distance, _mm512_set1_ps(lowbit::kPieceMargin), _CMP_NGE_UQ));
  const __m512i count = _mm512_min_epi32(_mm512_cvttps_epi32(t), _mm512_permutexvar_epi32(piece, r.top));
  const __mmask16 negative = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ);
  if (!is_signed) return _mm512_maskz_mov_epi32(static_cast<__mmask16>(~negative), count);
  const __m512i k127 = _mm512_set1_epi32(127);
  return _mm512_mask_sub_epi32(_mm512_add_epi32(count, k127), negative, k127, _mm512_min_epi32(count, k127));
}
#endif

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

// reference::stochastic_code, lane by lane (the floor code from its table).
template <class D, class V>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> StochasticCodes(D d, V y, const float* map, const std::uint32_t* floor_table,
                                                         std::uint32_t key, std::uint32_t first) {
  const hn::RebindToSigned<D> di;
  const hn::RebindToUnsigned<D> du;
  const auto index = TableCodes(d, y, floor_table);
  const auto lo = hn::GatherIndex(d, map, index);
  const auto hi = hn::GatherIndex(d, map, hn::Min(hn::Add(index, hn::Set(di, 1)), hn::Set(di, 255)));
  const auto bits = hn::ShiftRight<8>(RandomBits(du, key, first));
  const auto u = hn::Mul(hn::ConvertTo(d, hn::BitCast(di, bits)), hn::Set(d, 0x1p-24f));
  const auto up = hn::RebindMask(di, hn::Lt(hn::Mul(u, hn::Sub(hi, lo)), hn::Sub(y, lo)));
  // & 0xff: the reference's uint8 wraps 255 + 1 to 0 (only for y > 1, which a block never holds)
  return hn::And(hn::IfThenElse(up, hn::Add(index, hn::Set(di, 1)), index), hn::Set(di, 0xff));
}

// The running absmax of a block: the largest |x| as bits (an integer max: for non-negative floats it
// orders as the values do, and NaN and infinity, whose bits are above every finite value's, survive it).
template <class D>
struct AbsmaxBits {
  hn::Vec<hn::RebindToSigned<D>> top;
  explicit AbsmaxBits(D) : top(hn::Zero(hn::RebindToSigned<D>())) {}
  HWY_INLINE void Add(hn::Vec<D> x) {
    const hn::RebindToSigned<D> di;
    top = hn::Max(top, hn::And(hn::BitCast(di, x), hn::Set(di, 0x7fffffff)));
  }
  // reference::block_absmax of the values seen and of rest[0, n).
  HWY_INLINE float Finish(const float* rest, std::size_t n) const {
    const hn::RebindToSigned<D> di;
    const std::int32_t bits = hn::GetLane(hn::MaxOfLanes(di, top));
    if (bits > 0x7f7fffff) return __builtin_nanf("");
    float absmax = std::bit_cast<float>(bits);
    if (n > 0) {
      const float tail = lowbit::reference::block_absmax(rest, n);
      if (tail != tail) return tail;
      absmax = tail > absmax ? tail : absmax;
    }
    return absmax;
  }
};

// Codes of x[0, n) given the block's absmax (reference::quantize_block after its absmax).
HWY_INLINE void QuantizeCodes(const float* x, std::size_t n, float absmax, bool is_signed, lowbit::Rounding rounding,
                              std::uint32_t first, std::uint8_t* codes) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<std::uint8_t, decltype(d)> d8;
  const std::size_t N = hn::Lanes(d);
  const float* map = lowbit::dynamic_map(is_signed).data();
  const std::uint32_t* table = lowbit::code_table(is_signed, rounding.stochastic);
  const bool scaled = absmax > 0.0f;
  const auto scale = hn::Set(d, absmax);
  std::size_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (scaled && !rounding.stochastic && lowbit::pieces_hold()) {
    // nearest codes from the pieces applied to x * (1 / absmax) (quantize.hpp says why that gives y's
    // code); a vector with a flagged lane divides, as the reference does, and takes the table
    const PieceRegisters pieces(lowbit::nearest_pieces(is_signed));
    const __m512 inverse = _mm512_set1_ps(1.0f / absmax);
    for (; i + 16 <= n; i += 16) {
      const __m512 xv = _mm512_loadu_ps(x + i);
      __mmask16 flagged;
      __m512i code = PieceCodes(_mm512_mul_ps(xv, inverse), pieces, is_signed, flagged);
      if (HWY_UNLIKELY(flagged != 0)) code = TableCodes(d, hn::Vec512<float>{_mm512_div_ps(xv, scale.raw)}, table).raw;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + i), _mm512_cvtepi32_epi8(code));
    }
  }
#endif
  for (; i + N <= n; i += N) {
    const auto y = scaled ? hn::Div(hn::LoadU(d, x + i), scale) : hn::Zero(d);
    const auto code = rounding.stochastic
                          ? StochasticCodes(d, y, map, table, rounding.key, first + static_cast<std::uint32_t>(i))
                          : TableCodes(d, y, table);
    hn::StoreU(hn::DemoteTo(d8, code), d8, codes + i);
  }
  const float* thresholds = lowbit::dynamic_thresholds(is_signed).data();
  for (; i < n; ++i) {
    const float y = lowbit::reference::normalized(x[i], absmax);
    codes[i] = rounding.stochastic
                   ? lowbit::reference::stochastic_code(
                         y, map, lowbit::random_bits(rounding.key, first + static_cast<std::uint32_t>(i)))
                   : lowbit::reference::nearest_code(y, thresholds);
  }
}

// reference::quantize_block.
HWY_INLINE float QuantizeBlock(const float* x, std::size_t n, bool is_signed, lowbit::Rounding rounding,
                               std::uint32_t first, std::uint8_t* codes) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  AbsmaxBits<decltype(d)> top(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) top.Add(hn::LoadU(d, x + i));
  const float absmax = top.Finish(x + i, n - i);
  QuantizeCodes(x, n, absmax, is_signed, rounding, first, codes);
  return absmax;
}

// Whether lowbit::byte_permute::dequantize may replace the gathers: AVX-512 targets (on x86, every target
// at or above AVX3, which newer Highway splits further), on a CPU with VBMI (checked at run time).
inline constexpr bool kMayPermuteBytes = HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3;

// reference::dequantize_block.
HWY_INLINE void DequantizeBlock(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) {
  if (kMayPermuteBytes && lowbit::byte_permute::enabled()) {
    lowbit::byte_permute::dequantize(codes, n, is_signed, absmax, out);
    return;
  }
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

// reference::to_bfloat16 of one vector (element indices first, first + 1, ...): round to nearest even by
// adding 0x7fff + the lowest kept bit, or stochastically by adding 16 random bits; NaN stays a quiet NaN.
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<std::uint16_t, D>> BFloat16Bits(D d, hn::Vec<D> v, lowbit::Rounding rounding,
                                                                std::uint32_t first) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<std::uint16_t, D> d16;
  (void)d;
  const auto u = hn::BitCast(du, v);
  const auto quiet_nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
  const auto added = rounding.stochastic ? hn::ShiftRight<16>(RandomBits(du, rounding.key, first))
                                         : hn::Add(hn::Set(du, 0x7fffu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
  const auto rounded = hn::ShiftRight<16>(hn::Add(u, added));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet_nan, rounded);
  return hn::DemoteTo(d16, hn::BitCast(di, bits));
}

// reference::from_bfloat16 of one vector: the bits become the top half of a float32.
template <class D>
HWY_INLINE hn::Vec<D> LoadBFloat16(D d, const std::uint16_t* bits) {
  const hn::RebindToUnsigned<D> du;
  const hn::Rebind<std::uint16_t, D> d16;
  return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, bits))));
}

// reference::to_bfloat16 over n values (element indices first, first + 1, ...).
HWY_INLINE void ToBFloat16(const float* x, std::size_t n, lowbit::Rounding rounding, std::uint32_t first,
                           std::uint16_t* out) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<std::uint16_t, decltype(d)> d16;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(BFloat16Bits(d, hn::LoadU(d, x + i), rounding, first + static_cast<std::uint32_t>(i)), d16, out + i);
  }
  for (; i < n; ++i) out[i] = lowbit::reference::to_bfloat16(x[i], rounding, first + static_cast<std::uint32_t>(i));
}

HWY_INLINE void FromBFloat16(const std::uint16_t* bits, std::size_t n, float* out) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadBFloat16(d, bits + i), d, out + i);
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

// WithFloatState in one pass with the state in registers, for a rule that also has a vector form:
// vector_update(i, state) updates elements [i, i + Lanes) given their state as float32 vectors (state[s]
// for slot s), in place; buffer_update(b, len, views) is WithFloatState's update, for what does not fill a
// vector. bfloat16: load, update and round each vector, no buffers. int8: per block, codes are read back
// (byte permutes for the whole block with VBMI, else a gather per vector), updated, and kept in an L1 buffer while
// the block's absmax runs along; then the buffer is quantized (QuantizeCodes). The same operations
// as WithFloatState, so the same bits. Without native FMA the rules' vector forms differ from their
// scalar ones (they round twice), so WithFloatState does all of it there, as the rules' own kernels do.
template <class VectorUpdate, class BufferUpdate>
HWY_INLINE void WithFusedState(lowbit::StateDtype dtype, std::size_t n, std::uint32_t first, lowbit::StateRef* slots,
                               std::size_t count, const VectorUpdate& vector_update, const BufferUpdate& buffer_update) {
#if HWY_NATIVE_FMA
  using V = hn::Vec<hn::ScalableTag<float>>;
  const hn::ScalableTag<float> d;
  const hn::Rebind<std::uint16_t, decltype(d)> d16;
  const hn::Rebind<std::uint8_t, decltype(d)> d8;
  const hn::RebindToSigned<decltype(d)> di;
  const std::size_t N = hn::Lanes(d);
  constexpr std::size_t kBlock = lowbit::kBlock;
  if (dtype != lowbit::StateDtype::Int8) {
    std::uint16_t* bits[3] = {};
    for (std::size_t s = 0; s < count; ++s) bits[s] = static_cast<std::uint16_t*>(slots[s].data);
    std::size_t i = 0;
    for (; i + N <= n; i += N) {
      V state[3] = {hn::Zero(d), hn::Zero(d), hn::Zero(d)};
      for (std::size_t s = 0; s < count; ++s) {
        PrefetchAhead<true>(bits[s], i);
        state[s] = LoadBFloat16(d, bits[s] + i);
      }
      vector_update(i, state);
      const std::uint32_t index = first + static_cast<std::uint32_t>(i);
      for (std::size_t s = 0; s < count; ++s) hn::StoreU(BFloat16Bits(d, state[s], slots[s].rounding, index), d16, bits[s] + i);
    }
    if (i == n) return;
    lowbit::StateRef rest[3] = {};
    for (std::size_t s = 0; s < count; ++s) {
      rest[s] = slots[s];
      rest[s].data = bits[s] + i;
    }
    WithFloatState(dtype, n - i, first + static_cast<std::uint32_t>(i), rest, count,
                   [&](std::size_t b, std::size_t len, float** views) { buffer_update(i + b, len, views); });
    return;
  }
  alignas(64) float buffers[3][kBlock];
  const float* maps[3] = {};
  for (std::size_t s = 0; s < count; ++s) maps[s] = lowbit::dynamic_map(slots[s].is_signed).data();
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = n - b < kBlock ? n - b : kBlock;
    const std::uint8_t* codes[3] = {};
    float old_absmax[3] = {};
    V scale[3] = {hn::Zero(d), hn::Zero(d), hn::Zero(d)};
    AbsmaxBits<decltype(d)> top[3] = {AbsmaxBits<decltype(d)>(d), AbsmaxBits<decltype(d)>(d), AbsmaxBits<decltype(d)>(d)};
    for (std::size_t s = 0; s < count; ++s) {
      codes[s] = static_cast<const std::uint8_t*>(slots[s].data) + b;
      old_absmax[s] = slots[s].absmax[b / kBlock];
      scale[s] = hn::Set(d, old_absmax[s]);
    }
    const bool permuted = kMayPermuteBytes && lowbit::byte_permute::enabled();
    if (permuted) {  // the whole block read back at once, into the buffers the new values go to
      for (std::size_t s = 0; s < count; ++s) {
        lowbit::byte_permute::dequantize(codes[s], len, slots[s].is_signed, old_absmax[s], buffers[s]);
      }
    }
    std::size_t i = 0;
    for (; i + N <= len; i += N) {
      V state[3] = {hn::Zero(d), hn::Zero(d), hn::Zero(d)};
      for (std::size_t s = 0; s < count; ++s) {
        if (permuted) {
          state[s] = hn::Load(d, buffers[s] + i);
        } else {
          const auto code = hn::PromoteTo(di, hn::LoadU(d8, codes[s] + i));
          state[s] = hn::Mul(hn::GatherIndex(d, maps[s], code), scale[s]);
        }
      }
      vector_update(b + i, state);
      for (std::size_t s = 0; s < count; ++s) {
        hn::StoreU(state[s], d, buffers[s] + i);
        top[s].Add(state[s]);
      }
    }
    if (i < len) {
      float* views[3] = {buffers[0] + i, buffers[1] + i, buffers[2] + i};
      for (std::size_t s = 0; s < count && !permuted; ++s) {
        for (std::size_t k = i; k < len; ++k) buffers[s][k] = maps[s][codes[s][k]] * old_absmax[s];
      }
      buffer_update(b + i, len - i, views);
    }
    for (std::size_t s = 0; s < count; ++s) {
      const float absmax = top[s].Finish(buffers[s] + i, len - i);
      slots[s].absmax[b / kBlock] = absmax;
      QuantizeCodes(buffers[s], len, absmax, slots[s].is_signed, slots[s].rounding, first + static_cast<std::uint32_t>(b),
                    static_cast<std::uint8_t*>(slots[s].data) + b);
    }
  }
#else
  (void)vector_update;
  WithFloatState(dtype, n, first, slots, count, buffer_update);
#endif
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
