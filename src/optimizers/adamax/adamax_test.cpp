// Adamax's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/optimizers/adamax.hpp"
#include "optimizers/adamax/adamax_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, AdamaxMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const reference::AdamaxStep s{.beta1 = 0.9,
                                  .beta2 = 0.999,
                                  .eps = 1e-8,
                                  .weight_decay = variant & 1 ? 0.1 : 0.0,
                                  .clr = 0.02,
                                  .maximize = (variant & 2) != 0};
    kernels::adamax(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.n());
    reference::adamax(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(Adamax, ConvergesOnAQuadratic) {
  test::expect_converges({"adamax", {{"lr", 0.05}}, 2000, 1e-3});
}

// Under NonFinitePolicy::Propagate a NaN gradient stays in the running maximum: max(NaN * beta2, |g| + eps)
// is NaN, as torch.amax keeps it (std::max would drop it).
TEST(Adamax, ANaNGradientStaysInTheRunningMaximum) {
  std::vector<float> w{1.0f, 2.0f}, g{std::nanf(""), 1.0f};
  Adamax adamax({Parameter("b", std::span(w), std::span(g))});
  adamax.set_nonfinite_policy(NonFinitePolicy::Propagate);
  adamax.step();
  g = {1.0f, 1.0f};
  adamax.step();
  EXPECT_TRUE(std::isnan(adamax.state<float>("b", "exp_inf")[0]));
  EXPECT_FALSE(std::isnan(adamax.state<float>("b", "exp_inf")[1]));
}

}  // namespace
}  // namespace descent
