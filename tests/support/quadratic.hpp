// Behaviour on a known function: an optimizer, in float32 and float64, minimizes the small ill-conditioned
// quadratic f(w) = 1/2 sum_i a_i (w_i - c_i)^2 (a_i from 1 to 10) from w = 0.5, and with maximize = true
// climbs -f to the same point. The bounds are those of each optimizer's nature: adaptive methods without
// learning-rate decay hover within about lr of the minimum, so their tolerance is a few lr. Each optimizer's
// cases are in its folder's test (src/optimizers/<name>/<name>_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "descent/factory.hpp"
#include "descent/error.hpp"

namespace descent::test {

inline const std::vector<double> kCurvature{1.0, 2.5, 4.0, 10.0};
inline const std::vector<double> kCenter{1.0, -2.0, 0.5, 3.0};

struct QuadraticCase {
  std::string optimizer;
  std::map<std::string, double> options;
  int steps;
  double tolerance;         // max |w_i - c_i| at the end
  bool poly_decay = false;  // lr_t = lr * (1 - t/steps)^2, the LARS paper's schedule
};

// max_i |w_i - c_i| after the case's steps.
template <class T>
double final_error(const QuadraticCase& c, bool maximize) {
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

// The case converges within its tolerance, descending f and ascending -f, in both types; and the start is
// far from the minimum (with zero steps the case would fail), so that the check can fail.
inline void expect_converges(const QuadraticCase& c) {
  std::string label = c.optimizer;
  for (const auto& [k, v] : c.options) label += " " + k + "=" + format_number(v);
  for (const bool maximize : {false, true}) {
    const double e64 = final_error<double>(c, maximize);
    const double e32 = final_error<float>(c, maximize);
    EXPECT_LE(e64, c.tolerance) << label << (maximize ? " (maximize -f)" : "") << " float64";
    EXPECT_LE(e32, c.tolerance) << label << (maximize ? " (maximize -f)" : "") << " float32";
  }
  QuadraticCase no_steps = c;
  no_steps.steps = 0;
  EXPECT_GT(final_error<double>(no_steps, false), 1.0) << label;
}

}  // namespace descent::test
