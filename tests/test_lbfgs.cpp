// L-BFGS: follows torch.optim.LBFGS on 2-D Rosenbrock (tests/reference/generate_lbfgs.py): the same
// number of function evaluations in every step() call, and every evaluated point and value within a
// relative 1e-10. And it never returns NaN: a non-finite trial value makes it back off.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/lbfgs.hpp"
#include "support/lbfgs_case.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

// The same expression as the generator's closure.
double rosenbrock(std::span<const double> x, std::span<double> g) {
  const double a = 1.0 - x[0];
  const double b = x[1] - x[0] * x[0];
  g[0] = -2.0 * a - 400.0 * x[0] * b;
  g[1] = 200.0 * b;
  return a * a + 100.0 * b * b;
}

struct Recorder {
  std::vector<std::vector<double>> points;
  std::vector<double> values;
};

TEST(LBFGS, FollowsTorchOnRosenbrock) {
  const auto file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/lbfgs.safetensors");
  const auto cases = nlohmann::json::parse(file.metadata.at("cases").get<std::string>());
  ASSERT_EQ(cases.size(), 3u);
  double worst = 0.0;
  for (const auto& c : cases) {
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    const LBFGSOptions options = testing::lbfgs_options_of(c.at("options"));

    Recorder recorder;
    FunctionObjective objective(2, [&](std::span<const double> x, std::span<double> g) {
      recorder.points.emplace_back(x.begin(), x.end());
      const double f = rosenbrock(x, g);
      recorder.values.push_back(f);
      return f;
    });
    LBFGS lbfgs(objective, options);
    auto x = c.at("start").get<std::vector<double>>();

    const auto ref_x = file.tensors.at(id + "/eval_x").values();
    const auto ref_f = file.tensors.at(id + "/eval_f").values();
    const auto per_call = file.tensors.at(id + "/evals_per_call").values();
    const auto final_x = file.tensors.at(id + "/final_x").values();
    const auto close = [&](double actual, double expected) {
      const double error = std::abs(actual - expected) / std::max(std::abs(expected), 1e-3);
      worst = std::max(worst, error);
      return error <= 1e-10;
    };
    std::size_t seen = 0;
    for (std::size_t call = 0; call < per_call.size(); ++call) {
      lbfgs.step(x);
      ASSERT_EQ(recorder.values.size() - seen, static_cast<std::size_t>(per_call[call])) << "step() call " << call;
      seen = recorder.values.size();
      EXPECT_TRUE(close(x[0], final_x[2 * call]) && close(x[1], final_x[2 * call + 1]))
          << "after call " << call << ": (" << x[0] << ", " << x[1] << ") vs (" << final_x[2 * call] << ", "
          << final_x[2 * call + 1] << ")";
    }
    ASSERT_EQ(recorder.values.size(), ref_f.size());
    for (std::size_t e = 0; e < ref_f.size(); ++e) {
      ASSERT_TRUE(close(recorder.values[e], ref_f[e]) && close(recorder.points[e][0], ref_x[2 * e]) &&
                  close(recorder.points[e][1], ref_x[2 * e + 1]))
          << "evaluation " << e << ": descent f(" << recorder.points[e][0] << ", " << recorder.points[e][1]
          << ") = " << recorder.values[e] << ", torch f(" << ref_x[2 * e] << ", " << ref_x[2 * e + 1]
          << ") = " << ref_f[e];
    }
  }
  std::printf("lbfgs parity: worst relative difference from torch.optim.LBFGS %.3g\n", worst);
}

// f(x) = x^2 for |x| < 3 and NaN beyond: a fixed step of lr 10 from x = 1 lands at x = -19, where f
// is NaN. L-BFGS must halve the step until it is finite, never store the NaN.
TEST(LBFGS, BacksOffFromNonFiniteValues) {
  FunctionObjective cliff(1, [](std::span<const double> x, std::span<double> g) {
    if (std::abs(x[0]) >= 3.0) {
      g[0] = std::numeric_limits<double>::quiet_NaN();
      return std::numeric_limits<double>::quiet_NaN();
    }
    g[0] = 2.0 * x[0];
    return x[0] * x[0];
  });
  for (const LineSearch search : {LineSearch::None, LineSearch::StrongWolfe}) {
    LBFGSOptions options;
    options.lr = 10.0;
    options.line_search = search;
    LBFGS lbfgs(cliff, options);
    std::vector<double> x{1.0};
    lbfgs.step(x);
    EXPECT_TRUE(std::isfinite(x[0]));
    EXPECT_LT(std::abs(x[0]), 3.0);
    EXPECT_TRUE(std::isfinite(lbfgs.value()));
    // With the line search it must also make progress; fixed steps of lr 10 may only oscillate.
    if (search == LineSearch::StrongWolfe) {
      EXPECT_LT(lbfgs.value(), 1e-10);
    }
  }
}

TEST(LBFGS, OptionsAreValidated) {
  FunctionObjective f(1, [](std::span<const double> x, std::span<double> g) { g[0] = x[0]; return 0.5 * x[0] * x[0]; });
  LBFGSOptions options;
  options.history_size = 0;
  try {
    LBFGS lbfgs(f, options);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "LBFGS: option 'history_size' = 0 is out of range: must be an integer >= 1");
  }
  options = {};
  options.lr = -1.0;
  EXPECT_THROW(LBFGS(f, options), InvalidArgument);
  LBFGS ok(f, LBFGSOptions{});
  std::vector<double> wrong_size{1.0, 2.0};
  EXPECT_THROW(ok.step(wrong_size), InvalidArgument);
}

}  // namespace
}  // namespace descent
