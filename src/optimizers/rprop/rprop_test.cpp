// Rprop's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/optimizers/rprop.hpp"
#include "optimizers/rprop/rprop_reference.hpp"
#include "support/expect_throw.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, RpropMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    // Every third previous gradient zero (a first step, or one after a sign flip): the factor-1 branch.
    for (std::size_t i = 0; i < a.n(); i += 3) a.s0[i] = b.s0[i] = T(0);
    // variant 2: bounds that clamp often, and an etaminus that rounds to 0 in float (torch then uses 1).
    const reference::RpropStep s{.etaminus = variant & 2 ? 1e-50 : 0.5,
                                 .etaplus = 1.2,
                                 .step_size_min = variant & 2 ? 0.5 : 1e-6,
                                 .step_size_max = variant & 2 ? 1.5 : 50.0,
                                 .maximize = (variant & 1) != 0};
    kernels::rprop(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.n());
    reference::rprop(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(Rprop, ConvergesOnAQuadratic) {
  test::expect_converges({"rprop", {{"lr", 0.01}}, 2000, 1e-3});
}

// The rule by hand on one element: grow while the sign holds, shrink and hold still after a flip.
TEST(Rprop, GrowsWhileTheSignHoldsAndShrinksAfterAFlip) {
  std::vector<double> w{1.0}, g{2.0};
  Rprop rprop({Parameter("w", std::span(w), std::span(g))}, RpropOptions(0.1).etas(0.5, 1.2));
  rprop.step();  // prev = 0: factor 1, w -= 0.1
  EXPECT_EQ(w[0], 1.0 - 0.1);
  rprop.step();  // same sign: step 0.1 * 1.2
  EXPECT_EQ(rprop.state<double>("w", "step_size")[0], 0.1 * 1.2);
  EXPECT_EQ(w[0], 1.0 - 0.1 - 0.1 * 1.2);
  g[0] = -3.0;
  const double before = w[0];
  rprop.step();  // flip: step shrinks, no move, prev zeroed
  EXPECT_EQ(rprop.state<double>("w", "step_size")[0], 0.1 * 1.2 * 0.5);
  EXPECT_EQ(w[0], before);
  EXPECT_EQ(rprop.state<double>("w", "prev")[0], 0.0);
}

TEST(Rprop, RejectsOptionsOutOfRangeNamingTheValue) {
  RpropOptions o;
  EXPECT_THROW_WITH(o.etas(1.5, 1.2), InvalidArgument, "option 'etaminus' = 1.5 is out of range");
  EXPECT_THROW_WITH(o.etas(0.5, 0.9), InvalidArgument, "option 'etaplus' = 0.9 is out of range");
  EXPECT_THROW_WITH(o.etas(0.0, 1.2), InvalidArgument, "option 'etaminus' = 0 is out of range");
  EXPECT_THROW_WITH(o.step_sizes(-1.0, 50.0), InvalidArgument, "option 'step_size_min' = -1 is out of range");
  EXPECT_EQ(o.etaminus(), 0.5);  // a failed pair changes neither
  EXPECT_EQ(o.etaplus(), 1.2);
  o.step_sizes(2.0, 1.0);  // each in range, together not
  std::vector<float> w{1.0f}, g{1.0f};
  EXPECT_THROW_WITH(Rprop({Parameter("w", std::span(w), std::span(g))}, o), InvalidArgument,
                    "step_size_min = 2 is larger than step_size_max = 1");
  EXPECT_EQ(w[0], 1.0f);

  // The same rule broken after construction: step() refuses before it changes anything.
  Rprop rprop({Parameter("w", std::span(w), std::span(g))}, RpropOptions(0.1));
  rprop.step();
  const float after_one = w[0];
  rprop.options(0).step_sizes(0.5, 0.25);
  EXPECT_THROW_WITH(rprop.step(), InvalidArgument, "step_size_min = 0.5 is larger than step_size_max = 0.25");
  EXPECT_EQ(w[0], after_one);
  EXPECT_EQ(rprop.step_count("w"), 1);
  EXPECT_EQ(rprop.state<float>("w", "step_size")[0], 0.1f);
}

}  // namespace
}  // namespace descent
