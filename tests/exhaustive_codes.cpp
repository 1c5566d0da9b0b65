// Every float32, both maps: lowbit::piece_code (where it does not flag) and the dispatched quantization
// kernel give the binary search's nearest code (docs/optimizers.md, "State dtypes"). Not part of ctest
// (a few minutes on one core); run it by hand after changing the maps, the pieces or the kernels:
//
//   build/test/tests/descent_exhaustive_codes        prints one line per map and check, exit status 1 on a difference
#include <bit>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "lowbit/quantize.hpp"

namespace lowbit = descent::lowbit;

int main() {
  bool same = lowbit::pieces_hold();
  std::printf("pieces_hold: %s\n", same ? "yes" : "no");
  for (const bool is_signed : {true, false}) {
    const char* name = is_signed ? "signed" : "unsigned";
    const float* thresholds = lowbit::dynamic_thresholds(is_signed).data();
    const lowbit::NearestPieces& pieces = lowbit::nearest_pieces(is_signed);
    // piece_code on all 2^32 bit patterns
    std::uint64_t flagged = 0, wrong = 0;
    for (std::uint64_t b = 0; b <= 0xffffffffu; ++b) {
      const float y = std::bit_cast<float>(static_cast<std::uint32_t>(b));
      const int code = lowbit::piece_code(y, is_signed, pieces);
      if (code < 0) ++flagged;
      else if (code != lowbit::reference::nearest_code(y, thresholds)) ++wrong;
    }
    std::printf("%s piece_code: 2^32 bit patterns, %llu flagged (NaN included), %llu different from the search\n", name,
                static_cast<unsigned long long>(flagged), static_cast<unsigned long long>(wrong));
    same &= wrong == 0;
    // the kernel on every float x in [-scale, scale]: blocks of 255 values after a +-scale that makes
    // absmax = scale. With scale 1, y = x: every y in [-1, 1]. With scale 3, the kernels' x * (1 / 3)
    // differs from the reference's x / 3 in the last bits for many x.
    for (const float scale : {1.0f, 3.0f}) {
      std::vector<float> x;
      std::vector<std::uint8_t> codes, want;
      std::vector<float> absmax, absmax_want;
      std::uint64_t kernel_wrong = 0;
      const auto flush = [&] {
        codes.resize(x.size());
        want.resize(x.size());
        absmax.resize(lowbit::blocks_of(x.size()));
        absmax_want.resize(absmax.size());
        lowbit::kernels::quantize_blockwise(x.data(), x.size(), is_signed, {}, codes.data(), absmax.data());
        lowbit::reference::quantize_blockwise(x.data(), x.size(), is_signed, {}, want.data(), absmax_want.data());
        for (std::size_t i = 0; i < x.size(); ++i) kernel_wrong += codes[i] != want[i];
        x.clear();
      };
      const std::uint32_t top = std::bit_cast<std::uint32_t>(scale);
      for (const std::uint32_t sign : {0u, 0x80000000u}) {
        for (std::uint32_t b = 0; b <= top; ++b) {
          if (x.size() % lowbit::kBlock == 0) x.push_back(sign ? -scale : scale);
          x.push_back(std::bit_cast<float>(b | sign));
          if (x.size() == (1u << 20)) flush();
        }
      }
      flush();
      std::printf("%s kernel: every float in [-%g, %g] with absmax %g, %llu different from the reference\n", name, scale,
                  scale, scale, static_cast<unsigned long long>(kernel_wrong));
      same &= kernel_wrong == 0;
    }
  }
  return same ? 0 : 1;
}
