// The fused kernels against the scalar reference, on every instruction set compiled in and supported
// here, at awkward sizes: element-wise kernels must agree bit for bit (they apply the same operations),
// reductions to rounding. And the threaded engine: results bitwise the same for any number of threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace {

// "p0", "p1", ... (built by append: GCC 12's -Wrestrict misfires on "p" + std::to_string(i), bug 105329).
std::string param_name(std::size_t i) {
  std::string name = "p";
  name.append(std::to_string(i));
  return name;
}

constexpr std::size_t kSizes[] = {1, 7, 15, 16, 17, 31, 33, 1023, 65537};

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

// One kernel and its reference on identical inputs: params, gradients and up to three state arrays.
template <class T>
struct Case {
  std::vector<T> p, g, s0, s1, s2;
  Case(std::size_t n, std::mt19937& rng, bool non_finite = true) {
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
};

template <class T>
void check_all_kernels(std::mt19937& rng) {
  for (const std::size_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    for (int variant = 0; variant < 4; ++variant) {
      SCOPED_TRACE("variant " + std::to_string(variant));
      const bool flag_a = variant & 1, flag_b = variant & 2;
      Case<T> a(n, rng);
      Case<T> b = a;
      const auto compare = [&](const char* what) {
        EXPECT_TRUE(same_bits(a.p, b.p)) << what << " param";
        EXPECT_TRUE(same_bits(a.s0, b.s0)) << what << " state 0";
        EXPECT_TRUE(same_bits(a.s1, b.s1)) << what << " state 1";
        EXPECT_TRUE(same_bits(a.s2, b.s2)) << what << " state 2";
      };
      {
        const reference::SGDStep s{0.1, 0.9, flag_b ? 0.0 : 0.3, flag_a ? 0.01 : 0.0, flag_b, flag_a, variant == 2};
        kernels::sgd<T>(s, a.p.data(), a.g.data(), a.s0.data(), n);
        reference::sgd<T>(s, b.p.data(), b.g.data(), b.s0.data(), n);
        compare("sgd");
      }
      {
        const reference::AdagradStep s{0.05, flag_a ? 0.1 : 0.0, 1e-10, flag_b};
        kernels::adagrad<T>(s, a.p.data(), a.g.data(), a.s1.data(), n);
        reference::adagrad<T>(s, b.p.data(), b.g.data(), b.s1.data(), n);
        compare("adagrad");
      }
      {
        const reference::AdadeltaStep s{1.0, 0.9, 1e-6, flag_a ? 0.1 : 0.0, flag_b};
        kernels::adadelta<T>(s, a.p.data(), a.g.data(), a.s1.data(), a.s2.data(), n);
        reference::adadelta<T>(s, b.p.data(), b.g.data(), b.s1.data(), b.s2.data(), n);
        compare("adadelta");
      }
      {
        const reference::RMSpropStep s{0.01, 0.99, 1e-8, flag_a ? 0.1 : 0.0, 0.9, flag_b, flag_a};
        kernels::rmsprop<T>(s, a.p.data(), a.g.data(), a.s1.data(), flag_a ? a.s0.data() : nullptr,
                            flag_b ? a.s2.data() : nullptr, n);
        reference::rmsprop<T>(s, b.p.data(), b.g.data(), b.s1.data(), flag_a ? b.s0.data() : nullptr,
                              flag_b ? b.s2.data() : nullptr, n);
        compare("rmsprop");
      }
      {
        const reference::AdamStep s{0.9, 0.999, 1e-8, flag_a ? 0.1 : 0.0, flag_b ? 0.999 : 1.0, 0.01, 0.03, flag_b, flag_a};
        kernels::adam<T>(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), flag_b ? a.s2.data() : nullptr, n);
        reference::adam<T>(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), flag_b ? b.s2.data() : nullptr, n);
        compare("adam");
      }
      {
        const reference::AdamaxStep s{0.9, 0.999, 1e-8, flag_a ? 0.1 : 0.0, 0.02, flag_b};
        kernels::adamax<T>(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), n);
        reference::adamax<T>(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), n);
        compare("adamax");
      }
      {
        const reference::NAdamStep s{0.9, 0.999, 1e-8, flag_a ? 0.1 : 0.0, 0.04, -0.002, -0.01, flag_b};
        kernels::nadam<T>(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), n);
        reference::nadam<T>(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), n);
        compare("nadam");
      }
      {
        const reference::RAdamStep s{0.001, 0.9, 0.999, 1e-8, flag_a ? 0.1 : 0.0, 0.2, 0.05, flag_b, 0.3, flag_a};
        kernels::radam<T>(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), n);
        reference::radam<T>(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), n);
        compare("radam");
      }
      {
        const reference::LARSStep s{0.02, flag_a ? 5e-4 : 0.0, 0.9, flag_b, flag_a};
        kernels::lars<T>(s, a.p.data(), a.g.data(), flag_b || flag_a ? a.s0.data() : nullptr, n);
        reference::lars<T>(s, b.p.data(), b.g.data(), flag_b || flag_a ? b.s0.data() : nullptr, n);
        compare("lars");
      }
      {
        const reference::LAMBStep s{0.9, 0.999, 1e-6, flag_a ? 0.01 : 0.0, flag_b ? 0.1 : 1.0, flag_b ? 0.001 : 1.0, flag_a};
        // Finite inputs here: a reduction over a NaN is NaN either way, which says nothing.
        a = Case<T>(n, rng, false);
        b = a;
        const double fast = kernels::lamb_moments<T>(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), n);
        const double slow = reference::lamb_moments<T>(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), n);
        EXPECT_NEAR(fast, slow, 1e-12 * slow) << "lamb_moments sum";
        kernels::lamb_apply<T>(s, 0.01, a.p.data(), a.s0.data(), a.s1.data(), n);
        reference::lamb_apply<T>(s, 0.01, b.p.data(), b.s0.data(), b.s1.data(), n);
        compare("lamb");
        const double fast_sq = kernels::sum_of_squares<T>(a.p.data(), n);
        double slow_sq = 0.0;
        for (const T x : a.p) slow_sq += static_cast<double>(x) * static_cast<double>(x);
        EXPECT_NEAR(fast_sq, slow_sq, 1e-12 * slow_sq) << "sum_of_squares";
      }
      {  // all_finite: one NaN, +inf or -inf at each position (vector body and tail), or none at all
        std::vector<T> x = Case<T>(n, rng, false).g;
        if (n > 0) x[0] = std::numeric_limits<T>::max();  // finite extremes must pass
        if (n > 1) x[1] = std::numeric_limits<T>::denorm_min();
        EXPECT_TRUE(kernels::all_finite<T>(x.data(), n)) << "all_finite, finite input";
        const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                              -std::numeric_limits<T>::infinity()};
        for (std::size_t at = 0; at < n; at += at < 70 || at + 70 > n ? 1 : 997) {  // the ends, and a stride between
          const T saved = x[at];
          x[at] = specials[(at + static_cast<std::size_t>(variant)) % 3];
          EXPECT_FALSE(kernels::all_finite<T>(x.data(), n)) << "all_finite misses element " << at;
          x[at] = saved;
        }
      }
    }
  }
}

TEST(Kernels, EveryTargetMatchesTheReference) {
  const auto targets = kernels::available_targets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (const auto& [bits, name] : targets) {
    names.append(name).append(" ");
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    EXPECT_EQ(kernels::current_target(), name);
    std::mt19937 rng(12345);
    check_all_kernels<float>(rng);
    check_all_kernels<double>(rng);
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
