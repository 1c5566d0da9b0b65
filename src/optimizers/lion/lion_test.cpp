// Lion's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes;
// and what its sign update means.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/optimizers/lion.hpp"
#include "optimizers/lion/lion_reference.hpp"
#include "support/expect_throw.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, LionMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const double lr = 0.01, weight_decay = variant & 1 ? 0.1 : 0.0;
    const reference::LionStep s{.beta1 = 0.9,
                                .beta2 = 0.99,
                                .lr = lr,
                                .decay_factor = 1.0 - lr * weight_decay,
                                .maximize = (variant & 2) != 0};
    kernels::lion(s, a.p.data(), a.g.data(), a.s0.data(), a.n());
    reference::lion(s, b.p.data(), b.g.data(), b.s0.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
// A sign method oscillates within about lr of the minimum: the decaying lr (poly_decay) settles it.
TEST(Lion, ConvergesOnAQuadratic) {
  test::expect_converges({"lion", {{"lr", 0.01}}, 1500, 1e-3, true});
}

// sign(0) = 0: a zero gradient on zero momentum leaves the weight where it is (only the decay moves it),
// and every other coordinate moves by exactly lr.
TEST(Lion, ZeroInterpolationMovesNothingAndTheRestMoveByLr) {
  std::vector<double> w{1.0, 1.0, 1.0}, g{0.0, 2.0, -1e-30};
  Lion lion({Parameter("w", std::span(w), std::span(g))}, LionOptions(0.125));
  lion.step();
  EXPECT_EQ(w[0], 1.0);
  EXPECT_EQ(w[1], 0.875);
  EXPECT_EQ(w[2], 1.125);
  EXPECT_EQ(lion.state<double>("w", "exp_avg")[0], 0.0);
}

// Out-of-range options are refused with their value named, changing nothing.
TEST(Lion, OptionsOutOfRangeAreNamed) {
  EXPECT_THROW_WITH(LionOptions().betas(0.9, 1.0), InvalidArgument, "option 'beta2' = 1 is out of range");
  EXPECT_THROW_WITH(LionOptions().weight_decay(-0.1), InvalidArgument, "option 'weight_decay' = -0.1");
  std::vector<float> w{1.0f}, g{1.0f};
  Lion lion({Parameter("w", std::span(w), std::span(g))});
  EXPECT_THROW_WITH(lion.group(0).options().set("lr", -1.0), InvalidArgument, "option 'lr' = -1 is out of range");
  EXPECT_EQ(lion.options().lr(), 1e-4);
}

}  // namespace
}  // namespace descent
