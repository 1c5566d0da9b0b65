// Random numbers that are the same on every platform (the standard library's distributions are not):
// splitmix64 (Steele, Lea & Flood, OOPSLA 2014), with uniform, normal, bounded and shuffle helpers.
// Used wherever descent itself draws numbers: mini-batch order, generated data sets, initial weights.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace descent::detail {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Approximately standard normal: the sum of 12 uniforms minus 6 (Irwin-Hall; mean 0, variance 1, tails
  // cut at +-6). Box-Muller would need log and cos, which are not correctly rounded everywhere; these are
  // only additions, so the numbers are bit-for-bit the same on every IEEE platform.
  double normal() {
    double sum = 0.0;
    for (int i = 0; i < 12; ++i) sum += uniform();
    return sum - 6.0;
  }

  // Uniform in [0, bound), without modulo bias (Lemire's multiply-and-reject method).
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const __uint128_t product = static_cast<__uint128_t>(next()) * bound;
      if (static_cast<std::uint64_t>(product) >= threshold) return static_cast<std::uint64_t>(product >> 64);
    }
  }

  // Fisher-Yates.
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

  std::uint64_t state() const { return state_; }

 private:
  std::uint64_t state_;
};

}  // namespace descent::detail
