// 8-bit block-wise quantization and bfloat16 rounding (src/lowbit/quantize.hpp): the maps and codes
// against the NumPy reference written from the paper (tests/reference/generate_quantize.py), every block
// size edge, the error bound, stochastic rounding's mean, NaN and infinity, and the vector kernels against
// the scalar reference on every instruction set.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"
#include "lowbit/quantize.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

using lowbit::Rounding;

const testing::SafetensorsFile& reference_file() {
  static const testing::SafetensorsFile file =
      testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/quantize.safetensors");
  return file;
}

template <class T>
std::vector<T> tensor(const std::string& name) {
  return testing::as<T>(reference_file().tensors.at(name));
}

constexpr std::size_t kEdgeSizes[] = {1, 255, 256, 257, 4095, 4096, 4097};
constexpr std::uint32_t kKey = 0x12345678;  // the generator's stochastic_key

::testing::AssertionResult same_bits(const void* a, const void* b, std::size_t bytes) {
  if (std::memcmp(a, b, bytes) == 0) return ::testing::AssertionSuccess();
  for (std::size_t i = 0; i < bytes; ++i) {
    if (static_cast<const unsigned char*>(a)[i] != static_cast<const unsigned char*>(b)[i]) {
      return ::testing::AssertionFailure() << "first difference at byte " << i << " of " << bytes;
    }
  }
  return ::testing::AssertionFailure();
}

TEST(Quantize, MapsMatchTheNumpyReference) {
  for (const bool is_signed : {true, false}) {
    const auto expected = tensor<float>(is_signed ? "map/signed" : "map/unsigned");
    ASSERT_EQ(expected.size(), 256u);
    EXPECT_TRUE(same_bits(expected.data(), lowbit::dynamic_map(is_signed).data(), 256 * sizeof(float)));
  }
}

TEST(Quantize, ReferenceMatchesNumpyAtEveryBlockEdge) {
  for (const std::size_t n : kEdgeSizes) {
    const auto x = tensor<float>("x/" + std::to_string(n));
    ASSERT_EQ(x.size(), n);
    for (const bool is_signed : {true, false}) {
      SCOPED_TRACE("n = " + std::to_string(n) + (is_signed ? ", signed" : ", unsigned"));
      const std::string prefix = (is_signed ? "signed/" : "unsigned/") + std::to_string(n) + "/";
      std::vector<float> input = x;
      if (!is_signed) for (float& v : input) v = std::fabs(v);
      std::vector<std::uint8_t> codes(n);
      std::vector<float> absmax(lowbit::blocks_of(n)), back(n);
      lowbit::reference::quantize_blockwise(input.data(), n, is_signed, {}, codes.data(), absmax.data());
      const auto want_codes = tensor<std::uint8_t>(prefix + "codes");
      const auto want_absmax = tensor<float>(prefix + "absmax");
      ASSERT_EQ(want_absmax.size(), absmax.size());
      EXPECT_TRUE(same_bits(want_codes.data(), codes.data(), n)) << "codes";
      EXPECT_TRUE(same_bits(want_absmax.data(), absmax.data(), absmax.size() * 4)) << "absmax";
      lowbit::reference::dequantize_blockwise(codes.data(), absmax.data(), n, is_signed, back.data());
      const auto want_back = tensor<float>(prefix + "dequantized");
      EXPECT_TRUE(same_bits(want_back.data(), back.data(), n * 4)) << "dequantized";
      lowbit::reference::quantize_blockwise(input.data(), n, is_signed, {true, kKey}, codes.data(), absmax.data());
      const auto want_stochastic = tensor<std::uint8_t>(prefix + "stochastic_codes");
      EXPECT_TRUE(same_bits(want_stochastic.data(), codes.data(), n)) << "stochastic codes";
    }
  }
}

TEST(Quantize, BFloat16MatchesTorch) {
  for (const std::size_t n : kEdgeSizes) {
    const auto x = tensor<float>("x/" + std::to_string(n));
    const auto want = tensor<std::uint16_t>("bfloat16/" + std::to_string(n));
    std::vector<std::uint16_t> got(n);
    for (std::size_t i = 0; i < n; ++i) got[i] = lowbit::reference::to_bfloat16(x[i], {}, static_cast<std::uint32_t>(i));
    EXPECT_TRUE(same_bits(want.data(), got.data(), n * 2)) << "n = " << n;
  }
}

// Nearest rounding is off by at most half the widest gap of the map, times the block's absmax; at the
// signed map's lower end -absmax is stored as map[0] = -0.99297 (the map has +1 but not -1).
TEST(Quantize, ErrorIsWithinHalfTheWidestGap) {
  for (const bool is_signed : {true, false}) {
    const auto& map = lowbit::dynamic_map(is_signed);
    double bound = 1.0 + map[0];  // -1 -> map[0] (signed); 1 + 0 for unsigned, no tighter than the gaps below
    if (!is_signed) bound = 0.0;
    for (std::size_t k = 0; k + 1 < 256; ++k) bound = std::max(bound, (double(map[k + 1]) - map[k]) / 2.0);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (const std::size_t n : kEdgeSizes) {
      std::vector<float> x(n);
      for (float& v : x) v = is_signed ? normal(rng) : std::fabs(normal(rng));
      std::vector<std::uint8_t> codes(n);
      std::vector<float> absmax(lowbit::blocks_of(n)), back(n);
      lowbit::reference::quantize_blockwise(x.data(), n, is_signed, {}, codes.data(), absmax.data());
      lowbit::reference::dequantize_blockwise(codes.data(), absmax.data(), n, is_signed, back.data());
      for (std::size_t i = 0; i < n; ++i) {
        const double a = absmax[i / lowbit::kBlock];
        // + 1e-7: the float32 rounding of map[code] * absmax
        ASSERT_LE(std::fabs(double(back[i]) - x[i]), (bound + 1e-7) * a) << "element " << i << " of " << n;
      }
    }
    // What the bound is: 0.70% of absmax signed (-1 is stored as -0.99297), 0.35% unsigned.
    EXPECT_LT(bound, is_signed ? 0.0071 : 0.0036);
  }
}

// Stochastic rounding is unbiased: averaged over many keys a value reads back as itself.
TEST(Quantize, StochasticRoundingIsUnbiased) {
  const float x[2] = {1.0f, 0.3f};  // absmax 1: 0.3 lies between two codes of the unsigned map
  double sum = 0.0;
  constexpr int kTrials = 20000;
  int distinct_up = 0;
  for (int t = 0; t < kTrials; ++t) {
    std::uint8_t codes[2];
    float absmax, back[2];
    absmax = lowbit::reference::quantize_block(x, 2, false, {true, lowbit::mix32(static_cast<std::uint32_t>(t))}, 0, codes);
    lowbit::reference::dequantize_block(codes, 2, false, absmax, back);
    sum += back[1];
    distinct_up += back[1] > 0.3f;
  }
  EXPECT_NEAR(sum / kTrials, 0.3, 2e-4);  // the gap around 0.3 is about 0.007: sd of the mean ~2.5e-5
  EXPECT_GT(distinct_up, 0);
  EXPECT_LT(distinct_up, kTrials);
}

// A NaN or an infinity makes its block's absmax NaN, so that the block reads back as NaN; other blocks
// are untouched. An all-zero block reads back as zeros.
TEST(Quantize, NonFiniteValuesPoisonOnlyTheirBlock) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    const std::size_t n = 3 * lowbit::kBlock;
    std::vector<float> x(n, 0.5f), back(n);
    for (std::size_t i = 2 * lowbit::kBlock; i < n; ++i) x[i] = 0.0f;
    x[300] = bad;
    std::vector<std::uint8_t> codes(n);
    std::vector<float> absmax(3);
    lowbit::reference::quantize_blockwise(x.data(), n, true, {}, codes.data(), absmax.data());
    EXPECT_EQ(absmax[0], 0.5f);
    EXPECT_TRUE(std::isnan(absmax[1]));
    EXPECT_EQ(absmax[2], 0.0f);
    lowbit::reference::dequantize_blockwise(codes.data(), absmax.data(), n, true, back.data());
    for (std::size_t i = 0; i < n; ++i) {
      if (i < lowbit::kBlock) ASSERT_EQ(back[i], 0.5f) << i;
      else if (i < 2 * lowbit::kBlock) ASSERT_TRUE(std::isnan(back[i])) << i;
      else ASSERT_EQ(back[i], 0.0f) << i;
    }
  }
}

// The values where a code table could go wrong: every bound of the search and its neighbours (+-1 and +-2
// ulps), both ends of every bucket the tables hold and of those just outside, and the special values.
std::vector<float> table_probes(bool is_signed) {
  std::vector<float> y;
  const auto near = [&](float v) {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    for (std::uint32_t d = 0; d <= 2; ++d) {
      y.push_back(std::bit_cast<float>(bits + d));
      if (bits >= d) y.push_back(std::bit_cast<float>(bits - d));
    }
  };
  for (const auto* bounds : {&lowbit::dynamic_thresholds(is_signed), &lowbit::floor_bounds(is_signed)}) {
    for (std::size_t k = 0; k < 255; ++k) near((*bounds)[k]);
  }
  for (std::uint32_t bucket = lowbit::kCodeTableLow - 2; bucket <= lowbit::kCodeTableHigh + 2; ++bucket) {
    for (const std::uint32_t sign : {0u, 0x80000000u}) {
      for (const std::uint32_t low : {0u, 1u, 0xfffeu, 0xffffu}) y.push_back(std::bit_cast<float>(sign | bucket << 16 | low));
    }
  }
  for (const float v : {0.0f, 1.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                        std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(), 0x1p-25f, 1e-7f}) {
    near(v);
    near(-v);
  }
  y.push_back(std::numeric_limits<float>::quiet_NaN());
  y.push_back(-std::numeric_limits<float>::quiet_NaN());
  return y;
}

// The code tables give the searches' counts: at every probe, and on a dense sample of [-1, 1] (every
// 997th float32 bit pattern up to 1.0, both signs).
TEST(Quantize, CodeTablesEqualTheSearch) {
  ASSERT_TRUE(lowbit::code_tables_hold());
  for (const bool is_signed : {true, false}) {
    const float* map = lowbit::dynamic_map(is_signed).data();
    const float* thresholds = lowbit::dynamic_thresholds(is_signed).data();
    for (const bool floor_search : {false, true}) {
      SCOPED_TRACE(std::string(is_signed ? "signed" : "unsigned") + (floor_search ? ", floor" : ", nearest"));
      const std::uint32_t* table = lowbit::code_table(is_signed, floor_search);
      const auto check = [&](float y) {
        const std::uint8_t want = floor_search ? lowbit::reference::floor_code(y, map) : lowbit::reference::nearest_code(y, thresholds);
        return lowbit::table_code(y, table) == want;
      };
      for (const float y : table_probes(is_signed)) ASSERT_TRUE(check(y)) << "y = " << y << " (bits " << std::hex << std::bit_cast<std::uint32_t>(y) << ")";
      for (std::uint32_t bits = 0; bits <= 0x3f800000u; bits += 997) {
        ASSERT_TRUE(check(std::bit_cast<float>(bits))) << std::hex << bits;
        ASSERT_TRUE(check(std::bit_cast<float>(bits | 0x80000000u))) << std::hex << (bits | 0x80000000u);
      }
    }
  }
}

// The vector kernels at the same probes (TableCodes, and on AVX-512 mostly PieceCodes), on every
// instruction set: each block starts with
// +-1 so that its absmax is 1 and y is the probe itself.
TEST(Quantize, VectorCodeTablesEqualTheSearchOnEveryTarget) {
  for (const auto& [bits, name] : kernels::available_targets()) {
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    for (const bool is_signed : {true, false}) {
      std::vector<float> x;
      for (const float y : table_probes(is_signed)) {
        if (x.size() % lowbit::kBlock == 0) x.push_back(is_signed && x.size() % 512 ? -1.0f : 1.0f);
        if (std::fabs(y) <= 1.0f) x.push_back(y);
      }
      const std::size_t n = x.size();
      for (const bool stochastic : {false, true}) {
        SCOPED_TRACE(std::string(is_signed ? "signed" : "unsigned") + (stochastic ? ", stochastic" : ", nearest"));
        const Rounding r{stochastic, 0x2468ace1u};
        std::vector<std::uint8_t> ca(n), cb(n);
        std::vector<float> aa(lowbit::blocks_of(n)), ab(lowbit::blocks_of(n));
        lowbit::kernels::quantize_blockwise(x.data(), n, is_signed, r, ca.data(), aa.data());
        lowbit::reference::quantize_blockwise(x.data(), n, is_signed, r, cb.data(), ab.data());
        EXPECT_TRUE(same_bits(ca.data(), cb.data(), n)) << "codes";
        EXPECT_TRUE(same_bits(aa.data(), ab.data(), aa.size() * 4)) << "absmax";
      }
    }
  }
  kernels::use_only_target(0);
}

// Where the pieces could go wrong: every float32 within 64 ulps of each nearest-rounding threshold (both
// signs of the map), and within 300 ulps of both edges of the window of flagged floats around it (where
// a line that missed its threshold would first give a wrong code; at the lowest levels the window is
// over a thousand ulps wide), then a dense sample of [-1, 1] (every `stride`th bit pattern, both signs) and
// the tiny magnitudes below the pieces' lowest binade (2^-31), subnormals included.
std::vector<float> piece_probes(bool is_signed, std::uint32_t stride) {
  std::vector<float> y;
  const lowbit::NearestPieces& pieces = lowbit::nearest_pieces(is_signed);
  const auto around = [&](std::uint32_t bits, std::uint32_t ulps) {
    for (std::uint32_t d = 0; d <= ulps; ++d) {
      y.push_back(std::bit_cast<float>(bits + d));
      if (d > 0 && bits >= d) y.push_back(std::bit_cast<float>(bits - d));
    }
  };
  for (std::size_t k = 0; k < 255; ++k) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(lowbit::dynamic_thresholds(is_signed)[k]);
    around(bits, 64);
    // the window's edges; bits as magnitude steps away from zero (+1) and towards it (-1)
    for (const int direction : {+1, -1}) {
      std::uint32_t edge = bits;
      for (int step = 0; step < 20000 && lowbit::piece_code(std::bit_cast<float>(edge), is_signed, pieces) < 0; ++step) {
        edge = static_cast<std::uint32_t>(static_cast<std::int64_t>(edge) + direction);
      }
      around(edge, 300);
    }
  }
  for (std::uint32_t bits = 0; bits <= 0x3f800000u; bits += stride) {
    y.push_back(std::bit_cast<float>(bits));
    y.push_back(std::bit_cast<float>(bits | 0x80000000u));
  }
  for (const float v : {0x1p-31f, 0x1p-40f, 0x1p-126f, std::numeric_limits<float>::denorm_min(), 0x1p-140f}) {
    around(std::bit_cast<std::uint32_t>(v), 8);
    around(std::bit_cast<std::uint32_t>(-v), 8);
  }
  return y;
}

// The pieces (quantize.hpp) give the search's code wherever they do not flag, at the probes above and the
// table probes; and they decide nearly everywhere (else the kernels would take the table for most
// vectors). pieces_hold() is the proof over all floats; this checks it independently.
TEST(Quantize, NearestPiecesEqualTheSearchWhereTheyDecide) {
  ASSERT_TRUE(lowbit::pieces_hold());
  for (const bool is_signed : {true, false}) {
    SCOPED_TRACE(is_signed ? "signed" : "unsigned");
    const float* thresholds = lowbit::dynamic_thresholds(is_signed).data();
    const lowbit::NearestPieces& pieces = lowbit::nearest_pieces(is_signed);
    const auto check = [&](float y) {
      const int code = lowbit::piece_code(y, is_signed, pieces);
      return code < 0 || code == lowbit::reference::nearest_code(y, thresholds);
    };
    for (const float y : piece_probes(is_signed, 997)) ASSERT_TRUE(check(y)) << "y = " << y;
    for (const float y : table_probes(is_signed)) ASSERT_TRUE(check(y)) << "y = " << y;
    std::size_t sampled = 0, flagged = 0;  // on the dense sample (already checked among the probes above)
    for (std::uint32_t bits = 0; bits <= 0x3f800000u; bits += 997) {
      for (const std::uint32_t sign : {0u, 0x80000000u}) {
        ++sampled;
        flagged += lowbit::piece_code(std::bit_cast<float>(bits | sign), is_signed, pieces) < 0;
      }
    }
    EXPECT_LT(static_cast<double>(flagged) / static_cast<double>(sampled), 1e-3) << flagged << " of " << sampled;
    EXPECT_LT(lowbit::piece_code(std::numeric_limits<float>::quiet_NaN(), is_signed, pieces), 0);
    EXPECT_EQ(lowbit::piece_code(-0.0f, is_signed, pieces), is_signed ? 127 : 0);
    EXPECT_EQ(lowbit::piece_code(1.0f, is_signed, pieces), 255);
    if (is_signed) {
      EXPECT_EQ(lowbit::piece_code(-1.0f, is_signed, pieces), 0);
    }
  }
}

// The proof (pieces_are_exact, behind pieces_hold) accepts the built pieces and rejects pieces that are
// wrong somewhere: a line moved by a third of a code, a slope off by 1e-4, a top one count too low.
TEST(Quantize, PieceProofRejectsWrongPieces) {
  for (const bool is_signed : {true, false}) {
    SCOPED_TRACE(is_signed ? "signed" : "unsigned");
    const lowbit::NearestPieces& built = lowbit::nearest_pieces(is_signed);
    EXPECT_TRUE(lowbit::pieces_are_exact(is_signed, built));
    lowbit::NearestPieces wrong = built;
    wrong.offset[5] += 0.3f;
    EXPECT_FALSE(lowbit::pieces_are_exact(is_signed, wrong));
    wrong = built;
    wrong.slope[7] *= 1.0001f;
    EXPECT_FALSE(lowbit::pieces_are_exact(is_signed, wrong));
    wrong = built;
    wrong.top[3] -= 1;
    EXPECT_FALSE(lowbit::pieces_are_exact(is_signed, wrong));
  }
}

// The vector kernels at the same probes (the AVX-512 ones take the pieces there, from
// x * (1 / absmax), the table for flagged vectors; the others the table), on every instruction set. Each
// block starts with +-absmax; x = y * absmax, so that x / absmax lands within a few ulps of each probe,
// and with absmax other than 1 the product and the quotient differ in their last bits.
TEST(Quantize, VectorNearestCodesEqualTheSearchNearEveryThreshold) {
  for (const auto& [bits, name] : kernels::available_targets()) {
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    for (const bool is_signed : {true, false}) {
      for (const float absmax : {1.0f, 3.0f, 0.7f, 1.3e-3f, 5.9e4f}) {
        std::vector<float> x;
        for (const float y : piece_probes(is_signed, 99991)) {
          if (x.size() % lowbit::kBlock == 0) x.push_back(is_signed && x.size() % 512 ? -absmax : absmax);
          x.push_back(std::fabs(y * absmax) <= absmax ? y * absmax : y);
        }
        const std::size_t n = x.size();
        std::vector<std::uint8_t> ca(n), cb(n);
        std::vector<float> aa(lowbit::blocks_of(n)), ab(lowbit::blocks_of(n));
        lowbit::kernels::quantize_blockwise(x.data(), n, is_signed, {}, ca.data(), aa.data());
        lowbit::reference::quantize_blockwise(x.data(), n, is_signed, {}, cb.data(), ab.data());
        EXPECT_TRUE(same_bits(ca.data(), cb.data(), n)) << (is_signed ? "signed" : "unsigned") << ", absmax " << absmax;
        EXPECT_TRUE(same_bits(aa.data(), ab.data(), aa.size() * 4)) << "absmax";
      }
    }
  }
  kernels::use_only_target(0);
}

// The byte-permute read-back (x86 with AVX-512 VBMI) gives the reference's values for every code, at sizes
// around its 64-code step; the kernel tests below run with it and, turned off, with the gathers.
TEST(Quantize, BytePermutesEqualTheReference) {
  if (!lowbit::byte_permute::available()) GTEST_SKIP() << "this CPU has no AVX-512 VBMI";
  std::mt19937 rng(5);
  for (const std::size_t n : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{65}, std::size_t{255},
                              std::size_t{256}, std::size_t{257}}) {
    std::vector<std::uint8_t> codes(n);
    for (std::size_t i = 0; i < n; ++i) codes[i] = static_cast<std::uint8_t>(n >= 256 ? i : rng());
    for (const bool is_signed : {true, false}) {
      for (const float absmax : {1.0f, 0.0f, 3.5e-3f, std::numeric_limits<float>::quiet_NaN()}) {
        std::vector<float> a(n), b(n);
        lowbit::byte_permute::dequantize(codes.data(), n, is_signed, absmax, a.data());
        lowbit::reference::dequantize_block(codes.data(), n, is_signed, absmax, b.data());
        EXPECT_TRUE(same_bits(a.data(), b.data(), n * 4)) << "n = " << n << ", absmax " << absmax;
      }
    }
  }
}

// TurnOff turns the byte permutes off for its scope and gives back the setting it found, nested too.
TEST(Quantize, BytePermutesTurnOffForAScope) {
  const bool before = lowbit::byte_permute::enabled();
  EXPECT_EQ(before, lowbit::byte_permute::available());
  {
    const lowbit::byte_permute::TurnOff off;
    EXPECT_FALSE(lowbit::byte_permute::enabled());
    {
      const lowbit::byte_permute::TurnOff on(false);
      EXPECT_EQ(lowbit::byte_permute::enabled(), lowbit::byte_permute::available());
    }
    EXPECT_FALSE(lowbit::byte_permute::enabled());
  }
  EXPECT_EQ(lowbit::byte_permute::enabled(), before);
}

// The vector kernels give the reference's bits on every instruction set, for both roundings, at every
// block edge and at sizes that are not a whole number of vectors.
TEST(Quantize, KernelsMatchTheReferenceOnEveryTarget) {
  const auto targets = kernels::available_targets();
  ASSERT_FALSE(targets.empty());
  std::mt19937 rng(99);
  std::normal_distribution<float> normal;
  const bool permutes = lowbit::byte_permute::enabled();
  for (const auto& [bits, name] : targets) {
   for (const bool permute : {false, permutes}) {
    const lowbit::byte_permute::TurnOff gathers(!permute);
    SCOPED_TRACE("target " + name + (permute ? ", byte permutes" : ""));
    kernels::use_only_target(bits);
    for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{17}, std::size_t{255}, std::size_t{256},
                                std::size_t{257}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097}}) {
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng) * std::pow(10.0f, std::uniform_real_distribution<float>(-7, 1)(rng));
      if (n > 20) x[13] = std::numeric_limits<float>::quiet_NaN();
      if (n > 300) x[290] = std::numeric_limits<float>::infinity();
      for (const bool is_signed : {true, false}) {
        std::vector<float> input = x;
        if (!is_signed) for (float& v : input) v = std::fabs(v);
        for (const bool stochastic : {false, true}) {
          SCOPED_TRACE("n = " + std::to_string(n) + (is_signed ? " signed" : " unsigned") + (stochastic ? " stochastic" : ""));
          const Rounding r{stochastic, 0xabcdef01u};
          std::vector<std::uint8_t> ca(n), cb(n);
          std::vector<float> aa(lowbit::blocks_of(n)), ab(lowbit::blocks_of(n)), da(n), db(n);
          lowbit::kernels::quantize_blockwise(input.data(), n, is_signed, r, ca.data(), aa.data());
          lowbit::reference::quantize_blockwise(input.data(), n, is_signed, r, cb.data(), ab.data());
          EXPECT_TRUE(same_bits(ca.data(), cb.data(), n)) << "codes";
          EXPECT_TRUE(same_bits(aa.data(), ab.data(), aa.size() * 4)) << "absmax";
          lowbit::kernels::dequantize_blockwise(cb.data(), ab.data(), n, is_signed, da.data());
          lowbit::reference::dequantize_blockwise(cb.data(), ab.data(), n, is_signed, db.data());
          EXPECT_TRUE(same_bits(da.data(), db.data(), n * 4)) << "dequantized";
        }
      }
      for (const bool stochastic : {false, true}) {
        const Rounding r{stochastic, 0x5eedu};
        std::vector<std::uint16_t> ba(n), bb(n);
        std::vector<float> fa(n), fb(n);
        lowbit::kernels::to_bfloat16(x.data(), n, r, 512, ba.data());
        for (std::size_t i = 0; i < n; ++i) bb[i] = lowbit::reference::to_bfloat16(x[i], r, 512 + static_cast<std::uint32_t>(i));
        EXPECT_TRUE(same_bits(ba.data(), bb.data(), n * 2)) << "bfloat16, stochastic " << stochastic;
        lowbit::kernels::from_bfloat16(bb.data(), n, fa.data());
        for (std::size_t i = 0; i < n; ++i) fb[i] = lowbit::reference::from_bfloat16(bb[i]);
        EXPECT_TRUE(same_bits(fa.data(), fb.data(), n * 4));
      }
    }
   }
  }
  kernels::use_only_target(0);
}

}  // namespace
}  // namespace descent
