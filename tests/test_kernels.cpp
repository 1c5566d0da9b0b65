// The kernels every optimizer shares, on every instruction set compiled in and supported here, at awkward
// sizes. And the threaded engine: results bitwise the same for any number of threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "kernels/kernels.hpp"
#include "support/kernel_check.hpp"

namespace descent {
namespace {

// "p0", "p1", ... (built by append: GCC 12's -Wrestrict misfires on "p" + std::to_string(i), bug 105329).
std::string param_name(std::size_t i) {
  std::string name = "p";
  name.append(std::to_string(i));
  return name;
}

using test::random_vector;
using test::same_bits;

// The kernels every optimizer shares. sum_of_squares sums in another order than a plain loop: equal to
// rounding. all_finite: one NaN, +inf or -inf at each position (vector body and tail), or none at all.
template <class T>
void check_shared_kernels(std::mt19937& rng) {
  for (const std::size_t n : test::kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    std::vector<T> x = random_vector<T>(n, rng, -3.0, 3.0);
    const double fast_sq = kernels::sum_of_squares(x.data(), n);
    double slow_sq = 0.0;
    for (const T v : x) slow_sq += static_cast<double>(v) * static_cast<double>(v);
    EXPECT_NEAR(fast_sq, slow_sq, 1e-12 * slow_sq) << "sum_of_squares";

    if (n > 0) x[0] = std::numeric_limits<T>::max();  // finite extremes must pass
    if (n > 1) x[1] = std::numeric_limits<T>::denorm_min();
    EXPECT_TRUE(kernels::all_finite(x.data(), n)) << "all_finite, finite input";
    const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity()};
    for (std::size_t at = 0; at < n; at += at < 70 || at + 70 > n ? 1 : 997) {  // the ends, and a stride between
      const T saved = x[at];
      x[at] = specials[at % 3];
      EXPECT_FALSE(kernels::all_finite(x.data(), n)) << "all_finite misses element " << at;
      x[at] = saved;
    }
  }
}

// Each optimizer's kernel is checked against its reference beside it (src/optimizers/<name>/<name>_test.cpp).
TEST(Kernels, SharedKernelsOnEveryTarget) {
  const auto targets = kernels::available_targets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (const auto& [bits, name] : targets) {
    names.append(name).append(" ");
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    EXPECT_EQ(kernels::current_target(), name);
    std::mt19937 rng(12345);
    check_shared_kernels<float>(rng);
    check_shared_kernels<double>(rng);
  }
  kernels::use_only_target(0);
  std::printf("kernels checked on: %s\n", names.c_str());
}

// Every optimizer, several parameters large enough to be cut into chunks: the parameters and the state
// after a few steps are bitwise the same with 1, 2, 3 and 8 threads (LARS and LAMB norms included).
TEST(Engine, ResultsDoNotDependOnTheNumberOfThreads) {
  const std::vector<std::size_t> sizes{100003, 50000, 7, 40000};
  for (const std::string_view name : optimizer_names()) {
    SCOPED_TRACE(std::string(name));
    std::vector<std::vector<float>> reference_values;
    for (const std::size_t threads : {1, 2, 3, 8}) {
      std::mt19937 rng(7);
      std::vector<std::vector<float>> w, g;
      std::vector<Parameter> params;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        w.push_back(random_vector<float>(sizes[i], rng, -1.0, 1.0));
        g.push_back(std::vector<float>(sizes[i]));
      }
      for (std::size_t i = 0; i < sizes.size(); ++i) params.emplace_back(param_name(i), std::span(w[i]), std::span(g[i]));
      auto opt = make_optimizer(name, std::move(params), {{"lr", 1e-3}});
      opt->set_num_threads(threads);
      for (int step = 0; step < 3; ++step) {
        for (auto& gi : g) {  // refill in place: the optimizer holds views of these buffers
          const auto fresh = random_vector<float>(gi.size(), rng, -1.0, 1.0);
          std::copy(fresh.begin(), fresh.end(), gi.begin());
        }
        opt->step();
      }
      std::vector<std::vector<float>> values = w;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        for (const auto slot : opt->slot_names()) {
          const std::string param = param_name(i);
          if (!opt->has_state(param, slot)) continue;
          const auto st = opt->state<float>(param, slot);
          values.emplace_back(st.begin(), st.end());
        }
      }
      if (threads == 1) {
        reference_values = values;
      } else {
        ASSERT_EQ(values.size(), reference_values.size());
        for (std::size_t k = 0; k < values.size(); ++k) {
          EXPECT_TRUE(same_bits(values[k], reference_values[k])) << threads << " threads, array " << k;
        }
      }
    }
  }
}

TEST(Engine, ThreadCountIsAnOption) {
  std::vector<float> w(4), g(4);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  EXPECT_GE(adam.num_threads(), 1u);
  adam.set_num_threads(3);
  EXPECT_EQ(adam.num_threads(), 3u);
  adam.set_num_threads(0);  // back to one per core
  EXPECT_GE(adam.num_threads(), 1u);
}

}  // namespace
}  // namespace descent
