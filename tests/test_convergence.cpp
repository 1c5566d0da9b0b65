// Behaviour on the quadratic of tests/support/quadratic.hpp that compares optimizers: where decoupled
// weight decay and L2 regularisation settle.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

using test::kCenter;
using test::kCurvature;

// Every optimizer's own convergence cases are in its folder (TEST(<Class>, ConvergesOnAQuadratic));
// test_registry.cpp checks that each registered optimizer has them.

TEST(Convergence, DecoupledWeightDecayMovesTheMinimumTowardZero) {
  // AdamW's fixed point satisfies lr * weight_decay * w = adam_step; with a strong decay it settles
  // between 0 and the unregularised minimum, while Adam's L2 decay shifts it to a_i c_i / (a_i + wd).
  const std::map<std::string, double> adamw{{"lr", 0.01}, {"weight_decay", 1.0}};
  const std::map<std::string, double> adam_l2{{"lr", 0.01}, {"weight_decay", 1.0}};
  std::vector<double> w(kCenter.size(), 0.5), g(w.size()), v = w, gv(w.size());
  auto opt_w = make_optimizer("adamw", {Parameter("w", std::span(w), std::span(g))}, adamw);
  auto opt_l2 = make_optimizer("adam", {Parameter("w", std::span(v), std::span(gv))}, adam_l2);
  for (int s = 0; s < 4000; ++s) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      g[i] = kCurvature[i] * (w[i] - kCenter[i]);
      gv[i] = kCurvature[i] * (v[i] - kCenter[i]);
    }
    opt_w->step();
    opt_l2->step();
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double l2_minimum = kCurvature[i] * kCenter[i] / (kCurvature[i] + 1.0);
    EXPECT_NEAR(v[i], l2_minimum, 0.02) << i;  // L2: the minimum of f + wd/2 |w|^2
    EXPECT_LT(std::abs(w[i]), std::abs(kCenter[i])) << i;  // decoupled decay: pulled toward zero
    EXPECT_GT(w[i] * kCenter[i], 0.0) << i;
  }
}

}  // namespace
}  // namespace descent
