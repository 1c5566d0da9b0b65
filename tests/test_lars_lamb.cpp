// LARS and LAMB on cases small enough to compute by hand (the expected values are written as the
// arithmetic from the papers' equations, not copied from descent's output).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/descent.hpp"

namespace descent {
namespace {

struct Pair {
  std::vector<double> w, g;
  Parameter param(const char* name = "w") { return Parameter(name, std::span(w), std::span(g)); }
};

// LARS with w = (3, 4), ||w|| = 5, g = (0.6, 0.8), ||g|| = 1, trust_coefficient 0.1, weight_decay 0.5:
// ratio = 0.1 * 5 / (1 + 0.5 * 5) = 1/7; d = g + 0.5 w = (2.1, 2.8); lr * ratio * d = (0.3, 0.4).
TEST(LARS, OneStepByHand) {
  Pair p{{3.0, 4.0}, {0.6, 0.8}};
  LARS lars({p.param()}, LARSOptions(1.0).momentum(0.0).trust_coefficient(0.1).weight_decay(0.5));
  lars.step();
  EXPECT_NEAR(p.w[0], 2.7, 1e-15);
  EXPECT_NEAR(p.w[1], 3.6, 1e-15);
}

// Second step with momentum 0.9, same gradient: ||w|| = 4.5, ratio = 0.45 / 3.25; d = (1.95, 2.6);
// ratio * d = (0.27, 0.36); buf = 0.9 * (0.3, 0.4) + (0.27, 0.36) = (0.54, 0.72); w = (2.16, 2.88).
TEST(LARS, MomentumByHand) {
  Pair p{{3.0, 4.0}, {0.6, 0.8}};
  LARS lars({p.param()}, LARSOptions(1.0).momentum(0.9).trust_coefficient(0.1).weight_decay(0.5));
  lars.step();
  lars.step();
  EXPECT_NEAR(p.w[0], 2.16, 1e-14);
  EXPECT_NEAR(p.w[1], 2.88, 1e-14);
  EXPECT_NEAR(lars.state<double>("w", "momentum_buffer")[1], 0.72, 1e-14);
}

// Nesterov, first step: buf = (0.3, 0.4); update = 0.9 * buf + (0.3, 0.4) = (0.57, 0.76).
TEST(LARS, NesterovByHand) {
  Pair p{{3.0, 4.0}, {0.6, 0.8}};
  LARS lars({p.param()}, LARSOptions(1.0).momentum(0.9).nesterov(true).trust_coefficient(0.1).weight_decay(0.5));
  lars.step();
  EXPECT_NEAR(p.w[0], 2.43, 1e-14);
  EXPECT_NEAR(p.w[1], 3.24, 1e-14);
}

TEST(LARS, RatioIsOneWhenEitherNormIsZero) {
  Pair zero_w{{0.0, 0.0}, {1.0, 2.0}};
  LARS a({zero_w.param()}, LARSOptions(0.1).momentum(0.0));
  a.step();  // ratio 1: w = -0.1 g
  EXPECT_NEAR(zero_w.w[0], -0.1, 1e-16);
  EXPECT_NEAR(zero_w.w[1], -0.2, 1e-16);

  Pair zero_g{{3.0, 4.0}, {0.0, 0.0}};
  LARS b({zero_g.param()}, LARSOptions(0.1).momentum(0.0).weight_decay(0.5));
  b.step();  // ratio 1, d = 0.5 w: w = w - 0.05 w
  EXPECT_NEAR(zero_g.w[0], 2.85, 1e-15);
  EXPECT_NEAR(zero_g.w[1], 3.8, 1e-15);
}

TEST(LARS, ExcludedGroupTakesPlainStepsBesideATrustedOne) {
  Pair weight{{3.0, 4.0}, {0.6, 0.8}}, bias{{3.0, 4.0}, {0.6, 0.8}};
  LARS lars({weight.param("fc.weight")}, LARSOptions(1.0).momentum(0.0).trust_coefficient(0.1).weight_decay(0.5));
  lars.add_param_group({bias.param("fc.bias")}, LARSOptions(0.1).momentum(0.0).weight_decay(0.5).exclude(true));
  lars.step();
  EXPECT_NEAR(weight.w[0], 2.7, 1e-15);  // as in OneStepByHand
  EXPECT_NEAR(bias.w[0], 3.0 - 0.1 * 0.6, 1e-15);  // no ratio, no decay
  EXPECT_NEAR(bias.w[1], 4.0 - 0.1 * 0.8, 1e-15);
}

// LAMB, step 1 with eps = 0: m_hat = g and v_hat = g^2, so r = sign(g) = (1, -1) for g = (0.6, -0.8).
// With w = (3, 4) and weight_decay 0.5: u = r + 0.5 w = (2.5, 1), ||u|| = sqrt(7.25), ||w|| = 5.
TEST(LAMB, OneStepByHand) {
  Pair p{{3.0, 4.0}, {0.6, -0.8}};
  LAMB lamb({p.param()}, LAMBOptions(0.1).eps(0.0).weight_decay(0.5));
  lamb.step();
  const double ratio = 5.0 / std::sqrt(7.25);
  EXPECT_NEAR(p.w[0], 3.0 - 0.1 * ratio * 2.5, 1e-15);
  EXPECT_NEAR(p.w[1], 4.0 - 0.1 * ratio * 1.0, 1e-15);
}

TEST(LAMB, WeightNormClampByHand) {
  for (const auto& [lo, hi, phi] : {std::tuple{0.0, 2.0, 2.0}, std::tuple{10.0, 20.0, 10.0}}) {
    Pair p{{3.0, 4.0}, {0.6, -0.8}};
    LAMB lamb({p.param()}, LAMBOptions(0.1).eps(0.0).weight_decay(0.5).weight_norm_min(lo).weight_norm_max(hi));
    lamb.step();
    EXPECT_NEAR(p.w[0], 3.0 - 0.1 * phi / std::sqrt(7.25) * 2.5, 1e-15) << "phi = " << phi;
  }
}

// Without bias correction at step 1: m = 0.1 g, v = 0.001 g^2, r = 0.1 / sqrt(0.001) * sign(g).
TEST(LAMB, NoBiasCorrectionByHand) {
  Pair p{{3.0, 4.0}, {0.6, -0.8}};
  LAMB lamb({p.param()}, LAMBOptions(0.1).eps(0.0).weight_decay(0.5).bias_correction(false));
  lamb.step();
  const double r = 0.1 / std::sqrt(0.001);
  const double u0 = r + 1.5, u1 = -r + 2.0;
  const double ratio = 5.0 / std::hypot(u0, u1);
  EXPECT_NEAR(p.w[0], 3.0 - 0.1 * ratio * u0, 1e-14);
  EXPECT_NEAR(p.w[1], 4.0 - 0.1 * ratio * u1, 1e-14);
}

TEST(LAMB, RatioIsOneForZeroWeightsAndExcludedGroupsAreAdam) {
  Pair zero{{0.0, 0.0}, {0.6, -0.8}};
  LAMB a({zero.param()}, LAMBOptions(0.1).eps(0.0).weight_decay(0.5));
  a.step();  // u = r + 0.5 * 0 = (1, -1), ratio 1
  EXPECT_NEAR(zero.w[0], -0.1, 1e-16);
  EXPECT_NEAR(zero.w[1], 0.1, 1e-16);

  // Excluded: the Adam step lr * m_hat / (sqrt(v_hat) + eps), compared with descent's own Adam.
  Pair excluded{{3.0, 4.0}, {0.6, -0.8}}, adam_run{{3.0, 4.0}, {0.6, -0.8}};
  LAMB lamb({excluded.param()}, LAMBOptions(0.1).eps(1e-6).weight_decay(0.5).exclude(true));
  Adam adam({adam_run.param()}, AdamOptions(0.1).eps(1e-6));
  for (int i = 0; i < 5; ++i) {
    excluded.g = adam_run.g = {0.6 - 0.1 * i, -0.8 + 0.3 * i};
    lamb.step();
    adam.step();
  }
  // Same math up to where eps enters (LAMB: sqrt(v / bc2) + eps; Adam: sqrt(v) / sqrt(bc2) + eps).
  EXPECT_NEAR(excluded.w[0], adam_run.w[0], 1e-12);
  EXPECT_NEAR(excluded.w[1], adam_run.w[1], 1e-12);
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// A NaN gradient element makes the norms NaN; the NaN must reach the whole tensor (as a NaN gradient
// does in every other optimizer), not fall back to ratio 1 and an unscaled step for the other elements.
TEST(TrustRatio, ANaNGradientPoisonsTheWholeTensor) {
  Pair lars_p{{3.0, 4.0}, {std::nan(""), 0.8}}, lamb_p{{3.0, 4.0}, {std::nan(""), 0.8}};
  LARS lars({lars_p.param()}, LARSOptions(1.0).momentum(0.0));
  LAMB lamb({lamb_p.param()});
  lars.set_nonfinite_policy(NonFinitePolicy::Propagate);  // the default would refuse the step
  lamb.set_nonfinite_policy(NonFinitePolicy::Propagate);
  lars.step();
  lamb.step();
  EXPECT_TRUE(std::isnan(lars_p.w[1]));
  EXPECT_TRUE(std::isnan(lamb_p.w[1]));
}

}  // namespace
}  // namespace descent
