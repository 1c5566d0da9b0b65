// ASGD's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/error.hpp"
#include "descent/optimizers/asgd.hpp"
#include "optimizers/asgd/asgd_reference.hpp"
#include "support/expect_throw.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, ASGDMatchesTheReference) {
  for (const bool average : {false, true}) {
    SCOPED_TRACE(average ? "averaging" : "not averaging yet");
    test::kernel_matches_reference([average]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
      const reference::ASGDStep s{.decay = 1.0 - 1e-4 * 0.0123,
                                  .neg_eta = -0.0123,
                                  .mu = average ? 1.0 / 7.0 : 1.0,
                                  .weight_decay = variant & 1 ? 0.1 : 0.0,
                                  .average = average,
                                  .maximize = (variant & 2) != 0};
      kernels::asgd(s, a.p.data(), a.g.data(), a.s0.data(), a.n());
      reference::asgd(s, b.p.data(), b.g.data(), b.s0.data(), b.n());
    });
  }
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
// lambd = 0 keeps eta = lr (plain SGD steps, with the average beside them).
TEST(ASGD, ConvergesOnAQuadratic) {
  test::expect_converges({"asgd", {{"lr", 0.05}, {"lambd", 0.0}}, 2000, 1e-3});
  test::expect_converges({"asgd", {{"lr", 0.05}}, 2000, 1e-3});
}

// The average, by hand: step t uses mu = 1 / max(1, (t - 1) - t0), kept as a float as torch does. With
// t0 = 1 and lambd = 0 (eta = lr), w climbs 0.5 a step and ax equals w for steps 1 to 3, then averages.
TEST(ASGD, AveragesTheIteratesAfterStepT0) {
  std::vector<double> w{0.0}, g{-1.0};
  ASGD asgd({Parameter("w", std::span(w), std::span(g))}, ASGDOptions(0.5).lambd(0.0).t0(1.0));
  for (int t = 1; t <= 3; ++t) asgd.step();
  EXPECT_EQ(w[0], 1.5);
  EXPECT_EQ(asgd.state<double>("w", "ax")[0], 1.5);
  asgd.step();  // mu = 1/2
  EXPECT_EQ(asgd.state<double>("w", "ax")[0], 1.75);
  asgd.step();  // mu = 1/3 rounded to float
  const double third = static_cast<double>(static_cast<float>(1.0 / 3.0));
  EXPECT_EQ(asgd.state<double>("w", "ax")[0], 1.75 + (2.5 - 1.75) * third);
  EXPECT_EQ(w[0], 2.5);
  EXPECT_EQ(asgd.scalar_state("w", "eta"), 0.5);
  EXPECT_EQ(asgd.scalar_state("w", "mu"), 0.25);  // for step 6: 1 / (5 - 1)
}

TEST(ASGD, RejectsOptionsOutOfRangeNamingTheValue) {
  ASGDOptions o;
  EXPECT_THROW_WITH(o.lambd(-1.0), InvalidArgument, "option 'lambd' = -1 is out of range");
  EXPECT_THROW_WITH(o.alpha(-0.5), InvalidArgument, "option 'alpha' = -0.5 is out of range");
  EXPECT_THROW_WITH(o.t0(-2.0), InvalidArgument, "option 't0' = -2 is out of range");
  EXPECT_THROW_WITH(o.weight_decay(-0.1), InvalidArgument, "option 'weight_decay' = -0.1 is out of range");
  EXPECT_THROW_WITH(o.lr(std::nan("")), InvalidArgument, "option 'lr' = nan");
  EXPECT_EQ(o.lambd(), 1e-4);
  EXPECT_EQ(o.t0(), 1e6);
}

}  // namespace
}  // namespace descent
