// Behaviour: every optimizer, in float32 and float64, minimizes a small ill-conditioned quadratic
// f(w) = 1/2 sum_i a_i (w_i - c_i)^2 (a_i from 1 to 10), and with maximize = true climbs -f to the same
// point. The bounds are those of each optimizer's nature: adaptive methods without learning-rate decay
// hover within about lr of the minimum, so their tolerance is a few lr.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent {
namespace {

struct Case {
  std::string optimizer;
  std::map<std::string, double> options;
  int steps;
  double tolerance;  // max |w_i - c_i| at the end
  bool poly_decay = false;  // lr_t = lr * (1 - t/steps)^2, the LARS paper's schedule
};

const std::vector<double> kCurvature{1.0, 2.5, 4.0, 10.0};
const std::vector<double> kCenter{1.0, -2.0, 0.5, 3.0};

std::vector<Case> cases() {
  return {
      {"sgd", {{"lr", 0.15}}, 300, 1e-4},
      {"sgd", {{"lr", 0.05}, {"momentum", 0.9}}, 400, 1e-4},
      {"sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1.0}}, 400, 1e-4},
      {"sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"dampening", 0.5}}, 400, 1e-4},
      {"adagrad", {{"lr", 1.0}}, 1000, 1e-4},
      {"adadelta", {{"lr", 1.0}}, 6000, 2e-2},
      {"rmsprop", {{"lr", 0.01}}, 2000, 3e-2},
      {"rmsprop", {{"lr", 0.01}, {"centered", 1.0}, {"momentum", 0.5}}, 2000, 3e-2},
      {"adam", {{"lr", 0.05}}, 2000, 1e-3},
      {"adam", {{"lr", 0.05}, {"amsgrad", 1.0}}, 2000, 1e-3},
      {"adam", {{"lr", 0.05}, {"bias_correction", 0.0}}, 2000, 1e-3},
      {"adamw", {{"lr", 0.05}, {"weight_decay", 0.0}}, 2000, 1e-3},
      {"adamax", {{"lr", 0.05}}, 2000, 1e-3},
      {"nadam", {{"lr", 0.05}}, 2000, 1e-3},
      {"radam", {{"lr", 0.05}}, 2000, 1e-3},
      // LARS steps have length ~ lr * trust_coefficient * ||w|| whatever ||g|| is, so it needs decay.
      {"lars", {{"lr", 20.0}, {"momentum", 0.9}}, 2000, 1e-3, true},
      {"lars", {{"lr", 0.05}, {"exclude", 1.0}}, 2000, 1e-4},
      {"lamb", {{"lr", 0.01}, {"weight_decay", 0.0}}, 3000, 5e-2},
  };
}

template <class T>
double final_error(const Case& c, bool maximize) {
  std::vector<T> w(kCenter.size(), T(0.5)), g(w.size());
  auto options = c.options;
  if (maximize) options["maximize"] = 1.0;
  auto opt = make_optimizer(c.optimizer, {Parameter("w", std::span(w), std::span(g))}, options);
  const double lr = opt->group(0).options().lr();
  for (int step = 0; step < c.steps; ++step) {
    if (c.poly_decay) opt->group(0).options().set_lr(lr * std::pow(1.0 - double(step) / c.steps, 2));
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double grad_f = kCurvature[i] * (static_cast<double>(w[i]) - kCenter[i]);
      g[i] = static_cast<T>(maximize ? -grad_f : grad_f);  // maximize -f: its gradient is -grad f
    }
    opt->step();
  }
  double error = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) error = std::max(error, std::abs(static_cast<double>(w[i]) - kCenter[i]));
  return error;
}

TEST(Convergence, EveryOptimizerReachesTheMinimumOfAQuadratic) {
  for (const Case& c : cases()) {
    std::string label = c.optimizer;
    for (const auto& [k, v] : c.options) label += " " + k + "=" + format_number(v);
    for (const bool maximize : {false, true}) {
      const double e64 = final_error<double>(c, maximize);
      const double e32 = final_error<float>(c, maximize);
      EXPECT_LE(e64, c.tolerance) << label << (maximize ? " (maximize -f)" : "") << " float64";
      EXPECT_LE(e32, c.tolerance) << label << (maximize ? " (maximize -f)" : "") << " float32";
    }
  }
}

TEST(Convergence, TheStartIsFarFromTheMinimum) {
  // Guards the test above: with zero steps every case would fail its tolerance.
  for (Case c : cases()) {
    c.steps = 0;
    EXPECT_GT(final_error<double>(c, false), 1.0);
  }
}

TEST(Convergence, DecoupledWeightDecayMovesTheMinimumTowardZero) {
  // AdamW's fixed point satisfies lr * weight_decay * w = adam_step; with a strong decay it settles
  // between 0 and the unregularised minimum, while Adam's L2 decay shifts it to a_i c_i / (a_i + wd).
  Case adamw{"adamw", {{"lr", 0.01}, {"weight_decay", 1.0}}, 4000, 0.0};
  Case adam_l2{"adam", {{"lr", 0.01}, {"weight_decay", 1.0}}, 4000, 0.0};
  std::vector<double> w(kCenter.size(), 0.5), g(w.size()), v = w, gv(w.size());
  auto opt_w = make_optimizer("adamw", {Parameter("w", std::span(w), std::span(g))}, adamw.options);
  auto opt_l2 = make_optimizer("adam", {Parameter("w", std::span(v), std::span(gv))}, adam_l2.options);
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
