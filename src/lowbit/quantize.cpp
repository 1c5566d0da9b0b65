// The dynamic quantization maps and the scalar reference of block-wise quantization (quantize.hpp).
#include "lowbit/quantize.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DESCENT_LOWBIT_BYTE_PERMUTES 1
#endif

#include "descent/dtype.hpp"

namespace descent::lowbit {
namespace {

// Dynamic tree quantization (Dettmers 2016, "8-Bit Approximations for Parallelism in Deep Learning",
// section 3; Dettmers et al. 2021, section 2.2): a value is a sign, an exponent e of 10 (the run of
// zero bits after the sign) and a linear fraction in [0.1, 1] (the bits after the first one). With 7
// bits after the sign, exponent level i = 0..6 (magnitudes 10^(i-6) * [0.1, 1]) has i fraction bits:
// 2^i intervals of [0.1, 1], each represented by its midpoint. Together with 0 and 1 this is 2 * 127 + 2
// = 256 signed values. The unsigned map (second moments, which are never negative) spends the sign bit
// on the fraction: 2^(i+1) intervals per level, 254 + 2 = 256 values. Midpoints and scales are computed
// in double ([0.1, 1] cut as numpy.linspace cuts it: 0.1 + j * (0.9 / k), the last point exactly 1) and
// rounded to float32 once.
std::array<float, 256> make_map(bool is_signed) {
  constexpr double kScale[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  std::array<float, 256> map{};
  std::size_t count = 0;
  for (int level = 0; level < 7; ++level) {
    const int intervals = 1 << (is_signed ? level : level + 1);
    const double step = (1.0 - 0.1) / intervals;
    const auto boundary = [&](int j) { return j == intervals ? 1.0 : j * step + 0.1; };
    for (int j = 0; j < intervals; ++j) {
      const double value = kScale[level] * ((boundary(j) + boundary(j + 1)) / 2.0);
      map[count++] = static_cast<float>(value);
      if (is_signed) map[count++] = static_cast<float>(-value);
    }
  }
  map[count++] = 0.0f;
  map[count++] = 1.0f;
  std::sort(map.begin(), map.end());
  return map;
}

// Threshold k: the largest float32 at or below the midpoint of map[k] and map[k + 1] (exact in double).
// For a float32 y, y > threshold[k] exactly when y is strictly nearer map[k + 1]: so searching the
// thresholds finds the nearest value, ties going to the lower code (numpy.argmin's first minimum).
std::array<float, 256> make_thresholds(const std::array<float, 256>& map) {
  std::array<float, 256> t{};
  for (std::size_t k = 0; k + 1 < map.size(); ++k) {
    const double midpoint = (static_cast<double>(map[k]) + static_cast<double>(map[k + 1])) / 2.0;
    float below = static_cast<float>(midpoint);
    if (static_cast<double>(below) > midpoint) below = std::nextafter(below, -std::numeric_limits<float>::infinity());
    t[k] = below;
  }
  t[255] = std::numeric_limits<float>::infinity();
  return t;
}

std::array<float, 256> make_floor_bounds(const std::array<float, 256>& map) {
  std::array<float, 256> b{};
  for (std::size_t k = 0; k + 1 < map.size(); ++k) b[k] = map[k + 1];
  b[255] = std::numeric_limits<float>::infinity();
  return b;
}

const std::array<float, 256> kSignedMap = make_map(true);
const std::array<float, 256> kUnsignedMap = make_map(false);
const std::array<float, 256> kSignedThresholds = make_thresholds(kSignedMap);
const std::array<float, 256> kUnsignedThresholds = make_thresholds(kUnsignedMap);
const std::array<float, 256> kSignedFloor = make_floor_bounds(kSignedMap);
const std::array<float, 256> kUnsignedFloor = make_floor_bounds(kUnsignedMap);

// The code tables of quantize.hpp, built from the searches themselves: for each bucket the count at its
// smallest y, and where (if anywhere) it steps up by one, found by bisection over the bucket's keys (the
// count grows with y). `hold` records whether no bucket steps twice and the clamped ones not at all.
struct CodeTables {
  std::array<std::uint32_t, 2 * kCodeTableSpan> table[2][2];  // [is_signed][floor_search]
  bool hold = true;
  CodeTables() {
    for (int is_signed = 0; is_signed < 2; ++is_signed) {
      for (int floor_search = 0; floor_search < 2; ++floor_search) {
        const float* map = (is_signed ? kSignedMap : kUnsignedMap).data();
        const float* thresholds = (is_signed ? kSignedThresholds : kUnsignedThresholds).data();
        const auto count = [&](std::uint32_t bits) {
          const float y = std::bit_cast<float>(bits);
          return static_cast<std::uint32_t>(floor_search ? reference::floor_code(y, map)
                                                         : reference::nearest_code(y, thresholds));
        };
        for (std::uint32_t negative = 0; negative < 2; ++negative) {
          for (std::uint32_t bucket = kCodeTableLow; bucket <= kCodeTableHigh; ++bucket) {
            // the bits of the y of this bucket whose key (growing with y) is `key`
            const auto at = [&](std::uint32_t key) {
              return negative ? 0x80000000u | bucket << 16 | (key ^ 0xffffu) : bucket << 16 | key;
            };
            const std::uint32_t lo = count(at(0)), top = count(at(0xffff));
            std::uint32_t step = 0xffff;
            if (bucket == kCodeTableLow) {  // also every |y| below it, down to the smallest nonzero; -0 counts as +0
              hold &= negative ? lo == count(0x80000001u) : count(0u) == top;
            } else if (bucket == kCodeTableHigh) {  // also every |y| above, up to infinity
              hold &= lo == top && count(negative ? 0xff800000u : 0x7f800000u) == lo;
            } else if (top != lo) {
              hold &= top == lo + 1;
              std::uint32_t last = 0, past = 0xffff;  // count(last) == lo < count(past)
              while (past - last > 1) {
                const std::uint32_t mid = (last + past) / 2;
                (count(at(mid)) == lo ? last : past) = mid;
              }
              step = last;
            }
            table[is_signed][floor_search][bucket - kCodeTableLow + negative * kCodeTableSpan] = lo | step << 8;
          }
        }
      }
    }
  }
};

const CodeTables& code_tables() {
  static const CodeTables tables;
  return tables;
}

// The pieces of quantize.hpp, from the map itself: piece 0 is the count 0 (y nearest to 0), pieces
// 1..7 the levels (slope and offset put integer count boundaries midway between the level's values,
// spaced evenly by the line through its first and last value), piece 8 the count of 1.0; pieces 9..15
// are unused. A piece starts where y passes the threshold into its first count.
NearestPieces make_pieces(bool is_signed, bool& hold) {
  NearestPieces p{};
  const auto& map = is_signed ? kSignedMap : kUnsignedMap;
  const auto& t = is_signed ? kSignedThresholds : kUnsignedThresholds;
  const int zero = is_signed ? 127 : 0, last = 255 - zero;  // the code of 0; the count of 1.0
  std::array<int, 9> start{};                                 // the first count of each piece
  int count = 1;
  for (int level = 0; level < 7; ++level) {
    const int n = 1 << (is_signed ? level : level + 1);
    start[static_cast<std::size_t>(level + 1)] = count;
    const double w0 = map[static_cast<std::size_t>(zero + count)], w1 = map[static_cast<std::size_t>(zero + count + n - 1)];
    const double spacing = n > 1 ? (w1 - w0) / (n - 1) : 0.0;
    p.slope[level + 1] = n > 1 ? static_cast<float>(1.0 / spacing) : 0.0f;
    p.offset[level + 1] = static_cast<float>(n > 1 ? count + 0.5 - w0 / spacing : count + 0.5);
    p.top[level + 1] = count + n - 1;
    count += n;
  }
  hold &= count == last;
  start[8] = last;
  for (int piece : {0, 8, 9, 10, 11, 12, 13, 14, 15}) {
    p.offset[piece] = piece == 8 ? static_cast<float>(last) + 0.5f : 0.5f;
    p.top[piece] = piece == 8 ? last : 0;
  }
  for (std::uint32_t e = 0; e < 32; ++e) {
    const float lo = e == 0 ? 0.0f : std::bit_cast<float>((kPieceBinadeLow + e) << 23);
    const float hi = e == 31 ? std::numeric_limits<float>::infinity() : std::bit_cast<float>((kPieceBinadeLow + e + 1) << 23);
    p.first[e] = 0;
    p.inner[e] = std::numeric_limits<float>::infinity();
    int inside = 0;
    for (std::size_t piece = 1; piece < start.size(); ++piece) {
      const float boundary = t[static_cast<std::size_t>(zero + start[piece] - 1)];
      if (boundary < lo) p.first[e] = static_cast<std::int32_t>(piece);
      else if (boundary < hi) p.inner[e] = boundary, ++inside;
    }
    hold &= inside <= 1;
    // a boundary at least kPieceBoundaryUlps + 1 floats from the binade's edges, so that the floats
    // flagged for it all look it up in this binade
    if (inside == 1 && e > 0 && e < 31) {
      const std::uint32_t at = std::bit_cast<std::uint32_t>(p.inner[e]);
      hold &= at - std::bit_cast<std::uint32_t>(lo) > kPieceBoundaryUlps &&
              std::bit_cast<std::uint32_t>(hi) - at > kPieceBoundaryUlps + 1;
    }
    if (e > 0) hold &= p.first[e] == p.first[e - 1] + (p.inner[e - 1] < lo ? 1 : 0);  // the piece never falls
  }
  return p;
}

}  // namespace

// Proves piece_code equal to the search wherever it does not flag, for every float32 y (both signs,
// infinities, NaN), and that it flags every float within kProductUlps of a threshold (quantize.hpp
// says why): every float within kNear ulps of a threshold is checked; between two such
// neighbourhoods the search's code is constant, and piece_code does not fall as y grows (t is monotone
// within a piece, its slope being >= 0, checked below; the count does not fall where the piece changes,
// checked below; trunc, min and the sign mirror keep the order), so the segment holds when an unflagged
// float near each of its ends does. It relies on make_pieces' own checks: at most one boundary per
// binade, and `first` following from the binade below.
bool pieces_are_exact(bool is_signed, const NearestPieces& p) {
  constexpr std::uint32_t kNear = 256;
  const float* t = (is_signed ? kSignedThresholds : kUnsignedThresholds).data();
  // floats in order as unsigned keys: -inf ... -0, +0 ... +inf
  const auto key = [](float f) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(f);
    return b >> 31 ? ~b : b | 0x80000000u;
  };
  const auto value = [](std::uint32_t k) { return std::bit_cast<float>(k >> 31 ? k & 0x7fffffffu : ~k); };
  const auto right = [&](std::uint32_t k) {
    const float y = value(k);
    const int fast = piece_code(y, is_signed, p);
    return fast < 0 || fast == reference::nearest_code(y, t);
  };
  // One segment [a, b] that holds no threshold and does not cross zero.
  const auto segment = [&](std::uint32_t a, std::uint32_t b) {
    while (a <= b && piece_code(value(a), is_signed, p) < 0) ++a;
    while (b >= a && piece_code(value(b), is_signed, p) < 0) --b;
    if (a > b) return true;  // all flagged
    return right(a) && right(b) && piece_code(value(a), is_signed, p) == piece_code(value(b), is_signed, p);
  };
  for (const float slope : p.slope) {
    if (!(slope >= 0.0f)) return false;
  }
  // The count never falls where the piece changes: just above each boundary it is at least the top of
  // the piece below (so, monotone within pieces, it is monotone in |y| everywhere).
  for (std::uint32_t e = 0; e < 32; ++e) {
    if (!(p.inner[e] < std::numeric_limits<float>::infinity())) continue;
    const float above = std::nextafter(p.inner[e], std::numeric_limits<float>::infinity());
    const int upper = p.first[e] + 1;
    const int count = std::min(static_cast<int>(std::fma(above, p.slope[upper], p.offset[upper])), p.top[upper]);
    if (count < p.top[p.first[e]]) return false;
  }
  const std::uint32_t lowest = key(-std::numeric_limits<float>::max()), highest = key(std::numeric_limits<float>::max());
  std::uint32_t from = lowest;  // the first key not yet checked
  for (int k = 0; k <= 255; ++k) {
    const std::uint32_t centre = k < 255 ? key(t[k]) : highest + kNear + 1;  // past the end: closes the last segment
    const std::uint32_t near_lo = centre - kNear;
    if (near_lo > from) {
      const std::uint32_t negative_zero = key(-0.0f);
      const std::uint32_t end = near_lo - 1;
      if (from <= negative_zero && negative_zero < end) {
        if (!segment(from, negative_zero) || !segment(negative_zero + 1, end)) return false;
      } else if (!segment(from, end)) {
        return false;
      }
    }
    if (k == 255) break;
    for (std::uint32_t q = near_lo > from ? near_lo : from; q <= centre + kNear; ++q) {
      if (!right(q)) return false;
    }
    // every float within kProductUlps of the step (between the threshold and the float above it) flagged
    for (std::uint32_t q = centre - kProductUlps; q <= centre + kProductUlps + 1; ++q) {
      if (piece_code(value(q), is_signed, p) >= 0) return false;
    }
    from = centre + kNear + 1;
  }
  // the rest: infinities and NaN are flagged
  for (const float y : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                        std::numeric_limits<float>::quiet_NaN()}) {
    if (piece_code(y, is_signed, p) >= 0) return false;
  }
  return true;
}

namespace {

struct PieceTables {
  NearestPieces pieces[2];
  bool hold = true;
  PieceTables() {
    for (int is_signed = 0; is_signed < 2; ++is_signed) {
      pieces[is_signed] = make_pieces(is_signed != 0, hold);
      hold = hold && pieces_are_exact(is_signed != 0, pieces[is_signed]);
    }
  }
};

const PieceTables& piece_tables() {
  static const PieceTables tables;
  return tables;
}

}  // namespace

const std::array<float, 256>& dynamic_map(bool is_signed) noexcept { return is_signed ? kSignedMap : kUnsignedMap; }
const std::array<float, 256>& dynamic_thresholds(bool is_signed) noexcept {
  return is_signed ? kSignedThresholds : kUnsignedThresholds;
}

const std::array<float, 256>& floor_bounds(bool is_signed) noexcept { return is_signed ? kSignedFloor : kUnsignedFloor; }

const std::uint32_t* code_table(bool is_signed, bool floor_search) noexcept {
  return code_tables().table[is_signed][floor_search].data();
}

bool code_tables_hold() noexcept { return code_tables().hold; }

const NearestPieces& nearest_pieces(bool is_signed) noexcept { return piece_tables().pieces[is_signed]; }
bool pieces_hold() noexcept { return piece_tables().hold; }

namespace byte_permute {

#ifdef DESCENT_LOWBIT_BYTE_PERMUTES
namespace {
// The four bytes of every map value, byte k of map[c] at [k][c].
struct BytePlanes {
  alignas(64) std::uint8_t plane[2][4][256];  // [is_signed][byte][code]
  // The codes reordered so that the in-lane unpacks below leave their values in order: position
  // 16 L + 4 q + r (128-bit lane L, unpack step q, r < 4) takes code 16 q + 4 L + r.
  alignas(64) std::uint8_t order[64];
  BytePlanes() {
    for (int is_signed = 0; is_signed < 2; ++is_signed) {
      for (int c = 0; c < 256; ++c) {
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(dynamic_map(is_signed != 0)[static_cast<std::size_t>(c)]);
        for (int k = 0; k < 4; ++k) plane[is_signed][k][c] = static_cast<std::uint8_t>(bits >> (8 * k));
      }
    }
    for (int lane = 0; lane < 4; ++lane) {
      for (int q = 0; q < 4; ++q) {
        for (int r = 0; r < 4; ++r) order[16 * lane + 4 * q + r] = static_cast<std::uint8_t>(16 * q + 4 * lane + r);
      }
    }
  }
};
const BytePlanes kBytePlanes;
}  // namespace

bool available() noexcept {
  static const bool available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vbmi");
  return available;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void dequantize(
    const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) noexcept {
  const auto& planes = kBytePlanes.plane[is_signed];
  __m512i table[4][4];  // [byte][quarter of the codes]
  for (int k = 0; k < 4; ++k) {
    for (int h = 0; h < 4; ++h) table[k][h] = _mm512_load_si512(planes[k] + 64 * h);
  }
  const __m512i order = _mm512_load_si512(kBytePlanes.order);
  const __m512 scale = _mm512_set1_ps(absmax);
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    // (the maskz form: GCC 12 warns about the plain one's undefined source operand)
    const __m512i c = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, order, _mm512_loadu_si512(codes + i));
    const __mmask64 upper = _mm512_movepi8_mask(c);  // codes 128..255
    __m512i bytes[4];
    for (int k = 0; k < 4; ++k) {
      bytes[k] = _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(table[k][0], c, table[k][1]),
                                        _mm512_permutex2var_epi8(table[k][2], c, table[k][3]));
    }
    const __m512i low01 = _mm512_unpacklo_epi8(bytes[0], bytes[1]), high01 = _mm512_unpackhi_epi8(bytes[0], bytes[1]);
    const __m512i low23 = _mm512_unpacklo_epi8(bytes[2], bytes[3]), high23 = _mm512_unpackhi_epi8(bytes[2], bytes[3]);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(low01, low23)), scale));
    _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(low01, low23)), scale));
    _mm512_storeu_ps(out + i + 32, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(high01, high23)), scale));
    _mm512_storeu_ps(out + i + 48, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(high01, high23)), scale));
  }
  const float* map = dynamic_map(is_signed).data();
  for (; i < n; ++i) out[i] = map[codes[i]] * absmax;
}
#else
bool available() noexcept { return false; }
void dequantize(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) noexcept {
  reference::dequantize_block(codes, n, is_signed, absmax, out);
}
#endif

namespace {
std::atomic<bool> turned_off{false};
}  // namespace

bool enabled() noexcept { return available() && !turned_off.load(std::memory_order_relaxed); }

TurnOff::TurnOff(bool off) noexcept : was_off_(turned_off.exchange(off, std::memory_order_relaxed)) {}
TurnOff::~TurnOff() { turned_off.store(was_off_, std::memory_order_relaxed); }

}  // namespace byte_permute

namespace reference {

float quantize_block(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint32_t first,
                     std::uint8_t* codes) {
  const float absmax = block_absmax(x, n);
  const float* map = dynamic_map(is_signed).data();
  const float* thresholds = dynamic_thresholds(is_signed).data();
  for (std::size_t i = 0; i < n; ++i) {
    const float y = normalized(x[i], absmax);
    codes[i] = rounding.stochastic
                   ? stochastic_code(y, map, random_bits(rounding.key, first + static_cast<std::uint32_t>(i)))
                   : nearest_code(y, thresholds);
  }
  return absmax;
}

void dequantize_block(const std::uint8_t* codes, std::size_t n, bool is_signed, float absmax, float* out) {
  const float* map = dynamic_map(is_signed).data();
  for (std::size_t i = 0; i < n; ++i) out[i] = map[codes[i]] * absmax;
}

void quantize_blockwise(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint8_t* codes,
                        float* absmax) {
  for (std::size_t b = 0; b < n; b += kBlock) {
    absmax[b / kBlock] = quantize_block(x + b, std::min(kBlock, n - b), is_signed, rounding,
                                        static_cast<std::uint32_t>(b), codes + b);
  }
}

void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, bool is_signed, float* out) {
  for (std::size_t b = 0; b < n; b += kBlock) {
    dequantize_block(codes + b, std::min(kBlock, n - b), is_signed, absmax[b / kBlock], out + b);
  }
}

std::uint16_t to_bfloat16(float x, Rounding rounding, std::uint32_t index) noexcept {
  if (!rounding.stochastic) return descent::to_bfloat16(x).bits;
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  // Adding 16 random bits below the kept 16 carries into them with probability (dropped bits) / 2^16.
  u += random_bits(rounding.key, index) >> 16;
  return static_cast<std::uint16_t>(u >> 16);
}

float from_bfloat16(std::uint16_t bits) noexcept { return descent::to_float(bfloat16{bits}); }

}  // namespace reference
}  // namespace descent::lowbit
