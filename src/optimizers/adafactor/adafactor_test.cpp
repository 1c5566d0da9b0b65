// Adafactor: its kernels against their scalar references on every target; a closed form of the first
// step; convergence; the factored state's shapes and bytes; results independent of the thread count on
// factored 2-D and 3-D parameters; and bad options refused with nothing changed. The trajectories against
// a NumPy implementation of torch 2.5's rule are in tests/test_parity.cpp (tests/reference/generate_adafactor.py).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "optimizers/adafactor/adafactor_reference.hpp"
#include "support/expect_throw.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

// Variant bit 1: maximize and a decay factor; bit 2: the first step's lerp weight (1, the other branch of
// lerp) and an eps1 large enough that the clamp of the estimate bites on some elements.
reference::AdafactorStep step_of(int variant) {
  const bool flag_a = variant & 1, flag_b = variant & 2;
  const double eps1 = flag_b ? 0.5 : 1e-3;
  return {.lerp_weight = flag_b ? 1.0 : 0.2, .eps1 = eps1, .eps1_sq = eps1 * eps1, .maximize = flag_a};
}

TEST(Kernels, AdafactorMatchesTheReference) {
  test::kernel_matches_reference(
      []<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
        const auto s = step_of(variant);
        // 1-D: s1 is the variance (non-negative).
        const double fast = kernels::adafactor_variance(s, a.g.data(), a.s1.data(), a.n());
        const double slow = reference::adafactor_variance(s, b.g.data(), b.s1.data(), b.n());
        EXPECT_NEAR(fast, slow, 1e-12 * slow) << "adafactor_variance sum";
        // A row piece of a factored parameter: s2 holds the column factors.
        const T row = T(1.25), row_mean = T(0.75);
        const double fast_sq = kernels::adafactor_factored_sq(s, row, row_mean, a.g.data(), a.s2.data(), a.n());
        const double slow_sq = reference::adafactor_factored_sq(s, row, row_mean, b.g.data(), b.s2.data(), b.n());
        EXPECT_NEAR(fast_sq, slow_sq, 1e-12 * slow_sq) << "adafactor_factored_sq sum";
        const double decay = variant & 1 ? 0.999 : 1.0;
        kernels::adafactor_apply(s, decay, -0.01, row, row_mean, a.p.data(), a.g.data(), a.s2.data(), a.n());
        reference::adafactor_apply(s, decay, -0.01, row, row_mean, b.p.data(), b.g.data(), b.s2.data(), b.n());
        kernels::adafactor_apply(s, decay, -0.02, T(1), T(1), a.s0.data(), a.g.data(), a.s1.data(), a.n());
        reference::adafactor_apply(s, decay, -0.02, T(1), T(1), b.s0.data(), b.g.data(), b.s1.data(), b.n());
      },
      test::Gradients::Finite);
}

// The first step in closed form. At t = 1 the lerp weight is 1, so row_var and col_var are the row and
// column means of g^2. For a rank-one g = a b^T (no zero entry), (row_var @ col_var) / mean(row_var) is
// g^2 exactly in real arithmetic, so U = sign(g), RMS(U) = 1, nothing is clipped, and
// p1 = p0 - max(eps2, RMS(p0)) * min(lr, 1) * sign(g).
TEST(Adafactor, FirstStepOnARankOneGradientIsASignStep) {
  const std::vector<double> a{0.5, -2.0, 1.5}, b{1.0, -0.25, 3.0, 0.75};
  std::vector<double> w(12), g(12);
  double sum_sq = 0.0;
  for (std::size_t i = 0; i < 12; ++i) {
    w[i] = 0.1 * static_cast<double>(i) - 0.4;
    g[i] = a[i / 4] * b[i % 4];
    sum_sq += w[i] * w[i];
  }
  const std::vector<double> w0 = w;
  Adafactor opt({Parameter("w", std::span(w), std::span(g), {3, 4})}, AdafactorOptions(0.05));
  opt.step();
  const double alpha = std::max(1e-3, std::sqrt(sum_sq / 12.0)) * 0.05;
  for (std::size_t i = 0; i < 12; ++i) {
    EXPECT_NEAR(w[i], w0[i] - alpha * (g[i] > 0 ? 1.0 : -1.0), 1e-15) << i;
  }
  const auto row_var = opt.state<double>("w", "row_var");
  for (std::size_t i = 0; i < 3; ++i) {
    double mean = 0.0;
    for (const double bj : b) mean += a[i] * a[i] * bj * bj / 4.0;
    EXPECT_NEAR(row_var[i], mean, 1e-15 * mean) << i;
  }
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
// The step is about RMS(w) * lr with |U| <= 1, so 3000 steps at lr 0.01 cover the distance; near the
// minimum U = g / sqrt(v) shrinks with g (v remembers the larger gradients: beta2_t -> 1), so w closes
// in on the minimum geometrically instead of hovering at a distance of a step (measured: to rounding).
TEST(Adafactor, ConvergesOnAQuadratic) { test::expect_converges({"adafactor", {{"lr", 0.01}}, 3000, 1e-6}); }

// The factored state: torch's names and shapes, and its bytes. A float32 784x256 weight keeps 784 + 256
// values (4160 bytes, 0.0207 bytes per parameter) where Adam keeps 2 * 784 * 256 (8 bytes per parameter).
TEST(Adafactor, KeepsTheSecondMomentFactored) {
  std::vector<float> w(784 * 256, 0.01f), gw(w.size(), 0.5f), bias(256), gbias(256, 0.25f), t(2 * 3 * 4), gt(t.size(), 1.0f);
  Adafactor opt({Parameter("fc.weight", std::span(w), std::span(gw), {784, 256}),
                 Parameter("fc.bias", std::span(bias), std::span(gbias)),
                 Parameter("conv", std::span(t), std::span(gt), {2, 3, 4})});
  EXPECT_EQ(opt.state_layout("fc.weight", "row_var"), (SlotLayout{{784, 1}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("fc.weight", "col_var"), (SlotLayout{{1, 256}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("fc.weight", "variance"), (SlotLayout{{0}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("fc.bias", "variance"), (SlotLayout{{256}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("fc.bias", "row_var"), (SlotLayout{{0}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("conv", "row_var"), (SlotLayout{{2, 3, 1}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("conv", "col_var"), (SlotLayout{{2, 1, 4}, DType::Float32}));
  opt.step();
  EXPECT_FALSE(opt.has_state("fc.weight", "variance"));
  EXPECT_FALSE(opt.has_state("fc.bias", "row_var"));
  EXPECT_FALSE(opt.has_state("fc.bias", "col_var"));
  std::size_t weight_bytes = 0;
  for (const auto slot : opt.slot_names()) {
    if (opt.has_state("fc.weight", slot)) weight_bytes += opt.state<float>("fc.weight", slot).size() * sizeof(float);
  }
  EXPECT_EQ(weight_bytes, (784u + 256u) * sizeof(float));
  EXPECT_EQ(weight_bytes, 4160u);
  EXPECT_NEAR(static_cast<double>(weight_bytes) / static_cast<double>(w.size()), 0.0207, 5e-5);
  EXPECT_EQ(opt.state<float>("fc.bias", "variance").size(), 256u);
  // The checkpoint holds the same factored tensors, in their shapes.
  const StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.tensors.at("state/fc.weight/row_var").shape, (std::vector<std::int64_t>{784, 1}));
  EXPECT_EQ(dict.tensors.at("state/fc.weight/col_var").shape, (std::vector<std::int64_t>{1, 256}));
  EXPECT_EQ(dict.tensors.count("state/fc.weight/variance"), 0u);
}

// Row and column means, RMS(p) and RMS(U) are whole-tensor reductions: parameters and state after a few
// steps are bitwise the same with 1, 2 and 3 threads, on tensors cut into many chunks whose boundaries
// fall inside rows, 3-D and 1-D ones beside them. (Suite Engine: the ThreadSanitizer job runs Engine tests.)
TEST(Engine, AdafactorResultsDoNotDependOnTheNumberOfThreads) {
  const std::vector<std::vector<std::int64_t>> shapes{{300, 700}, {3, 50, 130}, {40001}, {1}, {1, 5}};
  for (const bool use_float : {true, false}) {
    SCOPED_TRACE(use_float ? "float" : "double");
    std::vector<std::vector<double>> first;
    for (const std::size_t threads : {1, 2, 3}) {
      std::mt19937 rng(11);
      std::vector<std::vector<float>> wf, gf;
      std::vector<std::vector<double>> wd, gd;
      std::vector<Parameter> params;
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        std::size_t n = 1;
        for (const auto e : shapes[i]) n *= static_cast<std::size_t>(e);
        wf.push_back(test::random_vector<float>(n, rng, -1.0, 1.0));
        gf.emplace_back(n);
        wd.push_back(test::random_vector<double>(n, rng, -1.0, 1.0));
        gd.emplace_back(n);
      }
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        const std::string name = "p" + std::to_string(i);
        params.push_back(use_float ? Parameter(name, std::span(wf[i]), std::span(gf[i]), shapes[i])
                                   : Parameter(name, std::span(wd[i]), std::span(gd[i]), shapes[i]));
      }
      Adafactor opt(std::move(params), AdafactorOptions(0.05).weight_decay(0.1));
      opt.set_num_threads(threads);
      for (int step = 0; step < 3; ++step) {
        for (std::size_t i = 0; i < shapes.size(); ++i) {
          const auto fresh = test::random_vector<double>(gd[i].size(), rng, -1.0, 1.0);
          std::copy(fresh.begin(), fresh.end(), gd[i].begin());
          std::copy(fresh.begin(), fresh.end(), gf[i].begin());
        }
        opt.step();
      }
      std::vector<std::vector<double>> values;
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        const std::string name = "p" + std::to_string(i);
        if (use_float) {
          values.emplace_back(wf[i].begin(), wf[i].end());
        } else {
          values.push_back(wd[i]);
        }
        for (const auto slot : opt.slot_names()) {
          if (!opt.has_state(name, slot)) continue;
          if (use_float) {
            const auto st = opt.state<float>(name, slot);
            values.emplace_back(st.begin(), st.end());
          } else {
            const auto st = opt.state<double>(name, slot);
            values.emplace_back(st.begin(), st.end());
          }
        }
      }
      if (threads == 1) {
        first = values;
      } else {
        ASSERT_EQ(values.size(), first.size());
        for (std::size_t k = 0; k < values.size(); ++k) {
          EXPECT_TRUE(test::same_bits(values[k], first[k])) << threads << " threads, array " << k;
        }
      }
    }
  }
}

// As torch's code: eps1 floors the estimate through eps1^2, rounded to the parameter's type. The paper's
// eps1 = 1e-30 squares to 0 in float32, so a zero gradient row (estimate 0) gives 0 * (1 / sqrt(0)) =
// NaN there, while in float64 (1e-60 is representable) the row just does not move. docs/optimizers.md
// states this difference between torch's docstring and code.
TEST(Adafactor, Eps1IsSquaredInTheParametersType) {
  std::vector<float> wf{0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}, gf{0.0f, 0.0f, 0.0f, 0.4f, -0.5f, 0.6f};
  std::vector<double> wd(wf.begin(), wf.end()), gd(gf.begin(), gf.end());
  Adafactor f32({Parameter("w", std::span(wf), std::span(gf), {2, 3})}, AdafactorOptions().eps(1e-30, 1e-3));
  Adafactor f64({Parameter("w", std::span(wd), std::span(gd), {2, 3})}, AdafactorOptions().eps(1e-30, 1e-3));
  f32.step();
  f64.step();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isnan(wf[i])) << i;
    EXPECT_EQ(wd[i], static_cast<double>(std::vector<float>{0.5f, -1.0f, 2.0f}[i])) << i;
  }
  for (std::size_t i = 3; i < 6; ++i) EXPECT_TRUE(std::isfinite(wf[i])) << i;
  // With the default eps1 (float32's machine epsilon, whose square is a normal float) the row stays put.
  std::vector<float> w{0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}, g = gf;
  Adafactor plain({Parameter("w", std::span(w), std::span(g), {2, 3})});
  plain.step();
  EXPECT_EQ(w[0], 0.5f);
  EXPECT_EQ(w[2], 2.0f);
}

// Out-of-range options: each refused with an error naming the option and the value, the old value kept.
TEST(Adafactor, RefusesBadOptionsNamingTheValue) {
  AdafactorOptions o;
  EXPECT_THROW_WITH(o.eps(-1e-8, 1e-3), InvalidArgument, "'eps1' = -1e-08");
  EXPECT_THROW_WITH(o.eps(std::numeric_limits<double>::quiet_NaN(), 1e-3), InvalidArgument, "'eps1' = nan");
  EXPECT_THROW_WITH(o.eps(1e-30, -1e-3), InvalidArgument, "'eps2' = -0.001");
  EXPECT_THROW_WITH(o.eps(std::nullopt, -1.0), InvalidArgument, "'eps2' = -1");
  EXPECT_THROW_WITH(o.beta2_decay(0.5), InvalidArgument, "'beta2_decay' = 0.5");
  EXPECT_THROW_WITH(o.d(0.0), InvalidArgument, "'d' = 0");
  EXPECT_THROW_WITH(o.d(0.5), InvalidArgument, "'d' = 0.5");
  EXPECT_THROW_WITH(o.weight_decay(-0.1), InvalidArgument, "'weight_decay' = -0.1");
  EXPECT_TRUE(o.eps1_from_dtype());
  EXPECT_EQ(o.eps2(), 1e-3);
  EXPECT_EQ(o.beta2_decay(), -0.8);
  EXPECT_EQ(o.d(), 1.0);
  EXPECT_EQ(o.eps1_for(DType::Float32), 0x1p-23);
  EXPECT_EQ(o.eps1_for(DType::Float64), 0x1p-52);
  o.eps(1e-30, 1e-2);
  EXPECT_FALSE(o.eps1_from_dtype());
  EXPECT_EQ(o.eps1_for(DType::Float32), 1e-30);
  o.eps(std::nullopt, 1e-3);
  EXPECT_TRUE(o.eps1_from_dtype());
  EXPECT_NO_THROW(o.validate());
}

// An eps1 that would be ignored (eps1_from_dtype still on) stops step() before anything changes.
TEST(Adafactor, AnIgnoredEps1StopsTheStepWithNothingChanged) {
  std::vector<float> w{0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f}, g{0.1f, 0.2f, -0.3f, 0.4f, -0.5f, 0.6f};
  Adafactor opt({Parameter("w", std::span(w), std::span(g), {2, 3})});
  opt.step();
  const auto before = opt.state_dict(true).tensors;  // parameters, state and step counts
  opt.options().set("eps1", 1e-8);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "eps1 = 1e-08 would be ignored");
  EXPECT_EQ(opt.state_dict(true).tensors, before);
  opt.options().set("eps1_from_dtype", 0.0);
  EXPECT_NO_THROW(opt.step());
  EXPECT_EQ(opt.step_count("w"), 2);
  EXPECT_THROW_WITH(make_optimizer("adafactor", {Parameter("w", std::span(w), std::span(g))}, {{"eps1", 1e-8}}),
                    InvalidArgument, "eps1 = 1e-08");
}

}  // namespace
}  // namespace descent
