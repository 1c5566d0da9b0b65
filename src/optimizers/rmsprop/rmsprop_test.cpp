// RMSprop's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/rmsprop/rmsprop_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, RmspropMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const bool momentum = variant & 1, centered = variant & 2;
    const reference::RMSpropStep s{.lr = 0.01,
                                   .alpha = 0.99,
                                   .eps = 1e-8,
                                   .weight_decay = momentum ? 0.1 : 0.0,
                                   .momentum = 0.9,
                                   .centered = centered,
                                   .maximize = momentum};
    kernels::rmsprop(s, a.p.data(), a.g.data(), a.s1.data(), momentum ? a.s0.data() : nullptr,
                     centered ? a.s2.data() : nullptr, a.n());
    reference::rmsprop(s, b.p.data(), b.g.data(), b.s1.data(), momentum ? b.s0.data() : nullptr,
                       centered ? b.s2.data() : nullptr, b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(RMSprop, ConvergesOnAQuadratic) {
  test::expect_converges({"rmsprop", {{"lr", 0.01}}, 2000, 3e-2});
  test::expect_converges({"rmsprop", {{"lr", 0.01}, {"centered", 1.0}, {"momentum", 0.5}}, 2000, 3e-2});
}

}  // namespace
}  // namespace descent
