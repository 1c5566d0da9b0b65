// Low-bit optimizer state, in one place: the 8-bit dynamic (tree) quantization maps and block-wise
// quantization of Dettmers, Lewis, Shleifer & Zettlemoyer 2021 ("8-bit Optimizers via Block-wise
// Quantization", sections 2.1-2.3), bfloat16 rounding, and the block loop that lets any element-wise
// rule run on float32 copies of its state: unpack a block of state to float32, run the rule's float32
// update on it, pack it back (one pass over memory; the float32 block lives in L1).
//
// The scalar reference here is the specification; quantize-inl.h holds the vector forms, bitwise equal to
// it on every target (tests/test_quantize.cpp). tests/reference/generate_quantize.py is an independent
// NumPy implementation of the maps and of block-wise quantization written from the paper, and the
// C++ matches its output bit for bit.
//
// Conventions (docs/optimizers.md, "State dtypes"):
// - A map holds 256 sorted float32 values in [-1, 1] (signed, for first moments) or [0, 1] (unsigned, for
//   second moments); a code is an index into it.
// - A block is 256 consecutive elements of a tensor (the last one may be shorter) with one float32
//   absmax = max |x| over the block; x is stored as the code nearest to x / absmax, and read back as
//   map[code] * absmax. A block of zeros has absmax 0 and reads back as zeros whatever its codes.
// - Nearest rounding: the code of the map value nearest to y = x / absmax (float32 division), ties to the
//   lower code; found by a binary search over thresholds (quantize.cpp says why that is exact).
// - Stochastic rounding: with lo = map[c] <= y < map[c + 1] = hi (c the floor code), round up when
//   u * (hi - lo) < y - lo, u in [0, 1) a hash of (key, element index): deterministic, and the same for
//   any number of threads, because it depends on the element's index in its tensor, not on who runs it.
// - Non-finite values: a block whose absmax is NaN or infinite stores absmax = NaN, so that the whole
//   block reads back as NaN (a NaN reaches the state only under NonFinitePolicy::Propagate).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "descent/state_dtype.hpp"

namespace descent::lowbit {

inline constexpr std::size_t kBlock = 256;
// Tensors with fewer elements keep float32 state even when int8 is asked for, as bitsandbytes does
// (min_8bit_size = 4096): their state is small and quantizing it costs accuracy for nothing.
inline constexpr std::size_t kMinQuantizedElements = 4096;

using StateDtype = descent::StateDType;

// Blocks of n elements: ceil(n / 256).
constexpr std::size_t blocks_of(std::size_t n) noexcept { return (n + kBlock - 1) / kBlock; }

// The 256 values of the signed (first moment) or unsigned (second moment) dynamic map, sorted.
const std::array<float, 256>& dynamic_map(bool is_signed) noexcept;
// The 255 nearest-rounding thresholds of a map, then +infinity (so that a search may read index 255).
const std::array<float, 256>& dynamic_thresholds(bool is_signed) noexcept;

// The search bounds of the two roundings: nearest counts the thresholds below y (dynamic_thresholds);
// the floor code of stochastic rounding counts the map values from map[1] on that are <= y, so its
// bounds are map[1..255], then +infinity.
const std::array<float, 256>& floor_bounds(bool is_signed) noexcept;
// Code tables: the nearest code (or the floor code of stochastic rounding) of a float32 y in one table
// lookup instead of a search. y's bits are cut into a bucket (sign, exponent, top 7 mantissa bits: bits >> 16,
// the bfloat16 buckets) and its low 16 bits. Within a bucket the search's count takes at most two values,
// because no bucket holds more than one bound (buckets are 2^-8..2^-7 of y wide, the maps' gaps at least
// ~0.7% of their values: checked when the table is built, code_tables_hold()). An entry is
// lo | step << 8: the count at the bucket's smallest y, and the last key that still gets lo, the key being
// the low 16 bits of y (positive y) or their complement (negative y, whose bits grow as y falls), so that
// the key grows with y in both. Hence count = lo + (key > step), step = 0xffff when the count is constant.
// Magnitude buckets below kCodeTableLow (|y| < 2^-25, below every bound) share the entry of kCodeTableLow,
// those above kCodeTableHigh (|y| > 1.0078, infinities) that of kCodeTableHigh; both entries are constant.
// NaN has no entry: callers give it code 0, as the search does. Index: (magnitude bucket clamped to
// [low, high]) - low, + kCodeTableSpan for negative y.
inline constexpr std::uint32_t kCodeTableLow = 0x3300;   // bits >> 16 of 2^-25
inline constexpr std::uint32_t kCodeTableHigh = 0x3f81;  // the bucket above 1.0's
inline constexpr std::uint32_t kCodeTableSpan = kCodeTableHigh - kCodeTableLow + 1;
// floor_search false: the nearest code (dynamic_thresholds); true: the floor code (reference::floor_code).
const std::uint32_t* code_table(bool is_signed, bool floor_search) noexcept;
// Whether every bucket of the four tables holds at most one bound and the clamped ones none (the
// condition for the table's count to equal the search's); checked once, when the tables are built.
bool code_tables_hold() noexcept;
// The table's count for one value, the scalar form of the vector lookup (quantize-inl.h, TableCodes).
inline std::uint8_t table_code(float y, const std::uint32_t* table) noexcept {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(y);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0;  // NaN
  if (bits == 0x80000000u) bits = 0;                 // -0 counts as +0 (y + 0 in the vector form)
  const std::uint32_t negative = bits >> 31 ? 0xffffffffu : 0u;
  std::uint32_t bucket = (bits >> 16) & 0x7fffu;
  bucket = bucket < kCodeTableLow ? kCodeTableLow : bucket > kCodeTableHigh ? kCodeTableHigh : bucket;
  const std::uint32_t entry = table[bucket - kCodeTableLow + (negative & kCodeTableSpan)];
  const std::uint32_t key = (bits ^ negative) & 0xffffu;
  return static_cast<std::uint8_t>((entry & 0xffu) + (key > entry >> 8 ? 1u : 0u));
}

// Nearest codes without a table lookup, for the AVX-512 kernels (a gather per vector is their slowest
// step). On [0, 1] the count of thresholds below y is piecewise linear: constant 0 up to the first
// threshold, then one piece per level of the map (its 2^i or 2^(i+1) values evenly spaced), then the
// constant count of 1.0. So count = min(trunc(fma(|y|, slope, offset)), top) with the piece's constants,
// the piece found from y's binary exponent (at most one piece boundary per binade, compared exactly).
// The line is fitted to the level's values, whose float32 rounding moves the true thresholds by up to
// ~3e-5 of a code from where the line puts them: a lane whose fma lands within kPieceMargin of an integer,
// within kPieceBoundaryUlps of a piece boundary, or on NaN is flagged, and the caller takes its vector
// from the code table instead. Negative y (signed map) reads the count of |y| mirrored: 127 - min(count,
// 127) (the signed map has no -1), which differs from the search only at exact ties, and those are
// flagged too. pieces_hold() proves, for every float32 y, that the result equals the search where it is
// not flagged, and that every float within kProductUlps of a threshold is flagged (the check in
// quantize.cpp); where it does not hold, the kernels use the tables alone.
//
// The second property lets the kernels compute codes from q = x * (1 / absmax) instead of the
// reference's y = x / absmax (a multiply instead of a division, the slowest instruction of the loop): q
// is under 3 ulps of y away (1 / absmax, the product and the division each round once, with a relative
// error of at most 2^-24; 6 steps of float32 order where q and y sit on either side of a power of two),
// so an unflagged q has no threshold between itself and y, and its code is y's. A flagged lane's vector
// takes y itself, divided, and the table.
inline constexpr float kPieceMargin = 0x1p-13f;
inline constexpr std::uint32_t kPieceBoundaryUlps = 12;
inline constexpr std::uint32_t kProductUlps = 8;
inline constexpr std::uint32_t kPieceBinadeLow = 96;  // biased exponents clamped to [96, 127]: low 5 bits index
struct NearestPieces {
  // per binade: the piece boundary inside it (|y| above it: next piece), or +inf. (So the 12 largest
  // finite floats, within kPieceBoundaryUlps of +inf's bits in binade 31, are flagged too: harmless,
  // a block's |y| is at most 1.)
  alignas(64) float inner[32];
  alignas(64) std::int32_t first[32];  // per binade: the piece at its bottom
  alignas(64) float slope[16];         // per piece
  alignas(64) float offset[16];
  alignas(64) std::int32_t top[16];    // the piece's largest count
};
const NearestPieces& nearest_pieces(bool is_signed) noexcept;
bool pieces_hold() noexcept;
// The proof behind pieces_hold() for one map's pieces (quantize.cpp); tests give it wrong pieces too.
bool pieces_are_exact(bool is_signed, const NearestPieces& p);
// The scalar form of the vector computation: the nearest code of y, or -1 where the lane is flagged.
inline int piece_code(float y, bool is_signed, const NearestPieces& p) noexcept {
  const std::uint32_t magnitude = std::bit_cast<std::uint32_t>(y) & 0x7fffffffu;  // |y|, also for -0
  const float a = std::bit_cast<float>(magnitude);
  std::uint32_t e = magnitude >> 23;
  e = (e < kPieceBinadeLow ? kPieceBinadeLow : e > 127u ? 127u : e) & 31u;
  const std::uint32_t inner = std::bit_cast<std::uint32_t>(p.inner[e]);
  if ((magnitude > inner ? magnitude - inner : inner - magnitude) <= kPieceBoundaryUlps) return -1;
  const int piece = p.first[e] + (a > p.inner[e] ? 1 : 0);
  const float t = __builtin_fmaf(a, p.slope[piece], p.offset[piece]);
  const float distance = t - __builtin_nearbyintf(t);
  // also NaN; and |t| >= 2^23, whose floats are all integers, so the cast below is in range
  if (!((distance < 0.0f ? -distance : distance) >= kPieceMargin)) return -1;
  const int truncated = static_cast<int>(t);
  const int count = truncated < p.top[piece] ? truncated : p.top[piece];
  if (!is_signed) return y < 0.0f ? 0 : count;
  return y < 0.0f ? 127 - (count < 127 ? count : 127) : 127 + count;
}

// A 32-bit hash (MurmurHash3's finalizer) of key + index * golden ratio: the random bits of stochastic
// rounding. Written with 32-bit integer operations only, so that vector code computes the same bits.
constexpr std::uint32_t mix32(std::uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}
constexpr std::uint32_t random_bits(std::uint32_t key, std::uint32_t index) noexcept {
  return mix32(key + index * 0x9e3779b9u);
}
// The key of one step of one slot of one tensor: different for every step, slot and tensor.
constexpr std::uint32_t rounding_key(std::uint64_t seed, std::int64_t step, std::uint32_t slot) noexcept {
  return mix32(static_cast<std::uint32_t>(seed) ^ mix32(static_cast<std::uint32_t>(seed >> 32) + 0x632be59bu) ^
               mix32(static_cast<std::uint32_t>(step) * 0x9e3779b9u + slot));
}

// How values are rounded to the narrow type: nearest (even, for bfloat16), or stochastically with `key`.
struct Rounding {
  bool stochastic = false;
  std::uint32_t key = 0;
};

// One state slot as the block loop sees it: its storage (bfloat16 bits, or uint8 codes), the absmax of
// its first block (int8 only), which map it uses, and how it is rounded. Both pointers point at the
// element (block) where the loop starts.
struct StateRef {
  void* data = nullptr;
  float* absmax = nullptr;
  bool is_signed = true;
  Rounding rounding;
};

namespace reference {

// The code nearest to y: the number of thresholds below y (a binary search; NaN gives 0).
inline std::uint8_t nearest_code(float y, const float* thresholds) noexcept {
  unsigned index = 0;
  for (unsigned step = 128; step >= 1; step >>= 1) {
    if (y > thresholds[index + step - 1]) index += step;
  }
  return static_cast<std::uint8_t>(index);
}
// The floor code c: the number of map values from map[1] on that are <= y (so map[c] <= y < map[c + 1],
// or 0 below map[1]; NaN gives 0).
inline std::uint8_t floor_code(float y, const float* map) noexcept {
  unsigned index = 0;
  for (unsigned step = 128; step >= 1; step >>= 1) {
    if (map[index + step] <= y) index += step;
  }
  return static_cast<std::uint8_t>(index);
}
// The floor code c rounded up to c + 1 when u * (map[c+1] - map[c]) <
// y - map[c], u = (bits >> 8) / 2^24 in [0, 1): up with probability (y - map[c]) / (map[c+1] - map[c]).
inline std::uint8_t stochastic_code(float y, const float* map, std::uint32_t bits) noexcept {
  const unsigned index = floor_code(y, map);
  const float lo = map[index], hi = map[index < 255 ? index + 1 : 255];
  const float u = static_cast<float>(bits >> 8) * 0x1p-24f;
  return static_cast<std::uint8_t>(index + (u * (hi - lo) < y - lo ? 1 : 0));
}
// The block's absmax: max |x|, or NaN when a value is NaN or infinite.
inline float block_absmax(const float* x, std::size_t n) noexcept {
  float top = 0.0f;
  bool finite = true;
  for (std::size_t i = 0; i < n; ++i) {
    const float a = x[i] < 0.0f ? -x[i] : x[i];
    finite &= a <= 3.40282347e+38f;
    top = a > top ? a : top;
  }
  return finite ? top : __builtin_nanf("");
}
// x / absmax, the value a code stands for (0 for a block of zeros).
inline float normalized(float x, float absmax) noexcept { return absmax > 0.0f ? x / absmax : 0.0f; }

// Quantizes x[0, n) (n <= 256, one block; `first` is the index of x[0] in its tensor, for stochastic
// rounding) into codes and returns the block's absmax (NaN when it is not finite).
float quantize_block(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint32_t first,
                     std::uint8_t* codes);
void dequantize_block(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out);

// Whole tensors: n elements, blocks_of(n) absmax values.
void quantize_blockwise(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint8_t* codes,
                        float* absmax);
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, bool is_signed, float* out);

// bfloat16 bits of float32 values: round to nearest even (NaN stays a quiet NaN), or stochastically
// (add 16 random bits below the kept ones, then truncate). `first` as above.
std::uint16_t to_bfloat16(float x, Rounding rounding, std::uint32_t index) noexcept;
float from_bfloat16(std::uint16_t bits) noexcept;

// The block loop: for each block [b, b + 256) of [0, n) (`first`, the index of element 0 in its tensor,
// is a multiple of 256), copies the slots' values to float32 buffers, calls update(b, len, buffers) for
// the rule's float32 update of those elements, then stores the buffers back in the slots' dtype. The
// vector form (quantize-inl.h) does the same with vector conversions.
template <class Update>
void with_float_state(StateDtype dtype, std::size_t n, std::uint32_t first, StateRef* slots, std::size_t count,
                      const Update& update) {
  alignas(64) float buffers[3][kBlock];
  float* views[3] = {buffers[0], buffers[1], buffers[2]};
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = n - b < kBlock ? n - b : kBlock;
    const std::uint32_t index = first + static_cast<std::uint32_t>(b);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == StateDtype::Int8) {
        dequantize_block(static_cast<const std::uint8_t*>(slots[s].data) + b, len, slots[s].is_signed,
                         slots[s].absmax[b / kBlock], views[s]);
      } else {
        const auto* bits = static_cast<const std::uint16_t*>(slots[s].data) + b;
        for (std::size_t i = 0; i < len; ++i) views[s][i] = from_bfloat16(bits[i]);
      }
    }
    update(b, len, views);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == StateDtype::Int8) {
        slots[s].absmax[b / kBlock] = quantize_block(views[s], len, slots[s].is_signed, slots[s].rounding, index,
                                                     static_cast<std::uint8_t*>(slots[s].data) + b);
      } else {
        auto* bits = static_cast<std::uint16_t*>(slots[s].data) + b;
        for (std::size_t i = 0; i < len; ++i) bits[i] = to_bfloat16(views[s][i], slots[s].rounding, index + static_cast<std::uint32_t>(i));
      }
    }
  }
}

}  // namespace reference

namespace byte_permute {
// Dequantization with AVX-512 VBMI byte permutes, for x86 CPUs that have them (gathers are slow on some,
// e.g. ~1 element per cycle on Zen 4): each byte of map[code] comes from a 256-byte table held in four
// registers (vpermt2b twice and a blend by the code's top bit), the four bytes are interleaved into
// float32 and multiplied by absmax as reference::dequantize_block does. available() says whether this
// CPU has them; enabled() whether the kernels use them: available, and no TurnOff in scope. dequantize
// must only be called when available() is true.
bool available() noexcept;
bool enabled() noexcept;
// Turns the byte permutes off while it lives (off = true), for tests and benches that run the gathers
// beside them, and restores the setting it found when it goes. The setting is one process-wide atomic,
// so a step running meanwhile on another thread reads either value, never a torn one; keep the scope
// around whole steps.
class TurnOff {
 public:
  explicit TurnOff(bool off = true) noexcept;
  ~TurnOff();
  TurnOff(const TurnOff&) = delete;
  TurnOff& operator=(const TurnOff&) = delete;

 private:
  bool was_off_;
};
void dequantize(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) noexcept;
}  // namespace byte_permute

// The vector forms of the whole-tensor conversions (dispatched to the best instruction set), bitwise equal
// to the reference's.
namespace kernels {
void quantize_blockwise(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint8_t* codes,
                        float* absmax);
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, bool is_signed, float* out);
void to_bfloat16(const float* x, std::size_t n, Rounding rounding, std::uint32_t first, std::uint16_t* out);
void from_bfloat16(const std::uint16_t* bits, std::size_t n, float* out);
}  // namespace kernels

}  // namespace descent::lowbit
