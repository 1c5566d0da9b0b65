// L-BFGS at 50 dimensions against torch.optim.LBFGS (tests/reference/generate_lbfgs_50d.py): the same
// evaluations in every step() call, at bitwise the same points with bitwise the same values. At 2
// dimensions (test_lbfgs.cpp) any summation order gives the same sums; here descent must add in
// PyTorch's order: |g| summed as ATen's AVX2 cascade sum, dot products by the BLAS ddot both link.
#include <cblas.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "descent/minimize/lbfgs.hpp"
#include "support/lbfgs_case.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(LBFGS, FollowsTorchBitwiseAt50Dimensions) {
  const auto file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/lbfgs_50d.safetensors");
  const auto c = file.tensors.at("c").values();
  const auto t = file.tensors.at("t").values();
  const auto start = file.tensors.at("start").values();
  const std::size_t n = c.size();
  ASSERT_EQ(n, 50u);

  // The reference's dot products came from the BLAS torch linked on the machine that made it; a BLAS
  // whose ddot rounds differently here (another kernel for another CPU) makes the comparison moot.
  const auto dot_a = file.tensors.at("dot_a").values();
  const auto dot_b = file.tensors.at("dot_b").values();
  const auto dot_ab = file.tensors.at("dot_ab").values();
  for (std::size_t k = 0; k < dot_ab.size(); ++k) {
    const double here = cblas_ddot(static_cast<int>(n), dot_a.data() + k * n, 1, dot_b.data() + k * n, 1);
    if (!same_bits(here, dot_ab[k])) {
      GTEST_SKIP() << "this machine's BLAS ddot rounds differently from the one torch used for the reference; "
                      "regenerate it here with /usr/bin/python3 tests/reference/generate_lbfgs_50d.py";
    }
  }

  const auto cases = nlohmann::json::parse(file.metadata.at("cases").get<std::string>());
  ASSERT_EQ(cases.size(), 2u);
  for (const auto& cs : cases) {
    const std::string id = cs.at("id").get<std::string>();
    SCOPED_TRACE(id);
    const LBFGSOptions options = testing::lbfgs_options_of(cs.at("options"));

    std::vector<std::vector<double>> points;
    std::vector<double> values;
    // The generator's expression, term by term and left to right.
    FunctionObjective objective(n, [&](std::span<const double> x, std::span<double> g) {
      points.emplace_back(x.begin(), x.end());
      double f = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        const double d = x[i] - t[i];
        f += 0.5 * c[i] * d * d;
        g[i] = c[i] * d;
      }
      values.push_back(f);
      return f;
    });
    LBFGS lbfgs(objective, options);
    std::vector<double> x = start;
    const auto ref_x = file.tensors.at(id + "/eval_x").values();
    const auto ref_f = file.tensors.at(id + "/eval_f").values();
    const auto per_call = file.tensors.at(id + "/evals_per_call").values();
    std::size_t seen = 0;
    for (std::size_t call = 0; call < per_call.size(); ++call) {
      lbfgs.step(x);
      EXPECT_EQ(values.size() - seen, static_cast<std::size_t>(per_call[call])) << "step() call " << call;
      seen = values.size();
    }
    // The first evaluation that differs, if any, with its first differing coordinate.
    const std::size_t evaluations = std::min(values.size(), ref_f.size());
    for (std::size_t e = 0; e < evaluations; ++e) {
      std::size_t i = 0;
      while (i < n && same_bits(points[e][i], ref_x[e * n + i])) ++i;
      ASSERT_TRUE(i == n && same_bits(values[e], ref_f[e]))
          << "evaluation " << e << " of " << ref_f.size() << ": "
          << (i < n ? "coordinate " + std::to_string(i) + " differs" : std::string("f differs"));
    }
    EXPECT_EQ(values.size(), ref_f.size());
  }
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// The first step's sum |g| at sizes where ATen's cascade sum takes its other paths (no whole vector,
// leftover vectors, cascade levels): the second evaluation point x + t d, t = min(1, 1 / sum |g|),
// is torch's bit for bit.
TEST(LBFGS, FirstStepSumsLikeTorchAtEverySize) {
  const auto file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/lbfgs_50d.safetensors");
  const auto sizes = nlohmann::json::parse(file.metadata.at("first_step_sizes").get<std::string>());
  ASSERT_GE(sizes.size(), 5u);
  for (const auto& size : sizes) {
    const auto n = size.get<std::size_t>();
    SCOPED_TRACE(n);
    std::vector<double> c(n), t(n), x(n);
    for (std::size_t i = 0; i < n; ++i) {
      c[i] = 1.0 + static_cast<double>(i % 10) * 0.37;
      t[i] = static_cast<double>(i % 13) * 0.1 - 1.0;
      x[i] = static_cast<double>(i % 7) - 3.0;
    }
    std::vector<std::vector<double>> points;
    FunctionObjective objective(n, [&](std::span<const double> p, std::span<double> g) {
      points.emplace_back(p.begin(), p.end());
      double f = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        const double d = p[i] - t[i];
        f += 0.5 * c[i] * d * d;
        g[i] = c[i] * d;
      }
      return f;
    });
    LBFGSOptions options;
    options.max_iter = 2;
    options.max_eval = 2;
    options.tolerance_grad = 0.0;
    options.tolerance_change = 0.0;
    LBFGS lbfgs(objective, options);
    lbfgs.step(x);
    ASSERT_EQ(points.size(), 2u);
    const auto expected = file.tensors.at("first-step/" + std::to_string(n)).values();
    ASSERT_EQ(expected.size(), n);
    std::size_t i = 0;
    while (i < n && same_bits(points[1][i], expected[i])) ++i;
    EXPECT_EQ(i, n) << "coordinate " << i << " of the first step differs";
  }
}

}  // namespace
}  // namespace descent
