// Checking a kernel against its scalar reference: on every instruction set compiled in and supported here,
// in float and double, at awkward sizes (1, N-1, N+1 for every vector width N up to 16 lanes, and large),
// element-wise kernels must agree bit for bit (they apply the same operations). Each optimizer's test
// (src/optimizers/<name>/<name>_test.cpp) runs its kernel and its reference through kernel_matches_reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"

namespace descent::test {

inline constexpr std::size_t kSizes[] = {1, 7, 15, 16, 17, 31, 33, 1023, 65537};

template <class T>
std::vector<T> random_vector(std::size_t n, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

// Equal bit patterns, or both NaN (a NaN's payload may differ between scalar and vector code).
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      return ::testing::AssertionFailure() << "element " << i << " of " << a.size() << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// The arrays of one call: parameters, gradients and up to three state arrays.
template <class T>
struct Case {
  std::vector<T> p, g, s0, s1, s2;
  Case(std::size_t n, std::mt19937& rng, bool non_finite) {
    p = random_vector<T>(n, rng, -2.0, 2.0);
    g = random_vector<T>(n, rng, -3.0, 3.0);
    s0 = random_vector<T>(n, rng, -1.0, 1.0);
    s1 = random_vector<T>(n, rng, 0.0, 2.0);  // second moments are non-negative
    s2 = random_vector<T>(n, rng, 0.0, 2.0);
    if (non_finite && n > 5) {  // non-finite gradients must go the same way too
      g[3] = std::numeric_limits<T>::quiet_NaN();
      g[5] = std::numeric_limits<T>::infinity();
    }
  }
  std::size_t n() const { return p.size(); }
};

enum class Gradients { WithNonFinite, Finite };

// Calls run(kernel_case, reference_case, variant) on identical inputs for every target, type, size and
// variant 0..3 (two flags, variant & 1 and variant & 2, for the test to turn options on with), then
// expects every array bitwise equal. `run` is a template lambda: []<class T>(Case<T>& a, Case<T>& b, int v).
// A reduction over a NaN is NaN either way, which says nothing: reductions ask for Gradients::Finite.
template <class Run>
void kernel_matches_reference(const Run& run, Gradients gradients = Gradients::WithNonFinite) {
  const auto targets = kernels::available_targets();
  ASSERT_FALSE(targets.empty());
  for (const auto& [bits, name] : targets) {
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    EXPECT_EQ(kernels::current_target(), name);
    std::mt19937 rng(12345);
    const auto check = [&]<class T>(T) {
      SCOPED_TRACE(sizeof(T) == 4 ? "float" : "double");
      for (const std::size_t n : kSizes) {
        for (int variant = 0; variant < 4; ++variant) {
          SCOPED_TRACE("n = " + std::to_string(n) + ", variant " + std::to_string(variant));
          Case<T> a(n, rng, gradients == Gradients::WithNonFinite);
          Case<T> b = a;
          run(a, b, variant);
          EXPECT_TRUE(same_bits(a.p, b.p)) << "param";
          EXPECT_TRUE(same_bits(a.s0, b.s0)) << "state 0";
          EXPECT_TRUE(same_bits(a.s1, b.s1)) << "state 1";
          EXPECT_TRUE(same_bits(a.s2, b.s2)) << "state 2";
        }
      }
    };
    check(float{});
    check(double{});
  }
  kernels::use_only_target(0);
}

}  // namespace descent::test
