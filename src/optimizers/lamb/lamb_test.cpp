// LAMB's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/lamb/lamb_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

// Both passes; the first is a reduction, which sums in another order than the reference: equal to rounding.
TEST(Kernels, LambMatchesTheReference) {
  test::kernel_matches_reference(
      []<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
        const bool flag_a = variant & 1, flag_b = variant & 2;
        const reference::LAMBStep s{.beta1 = 0.9,
                                    .beta2 = 0.999,
                                    .eps = 1e-6,
                                    .weight_decay = flag_a ? 0.01 : 0.0,
                                    .bias_correction1 = flag_b ? 0.1 : 1.0,
                                    .bias_correction2 = flag_b ? 0.001 : 1.0,
                                    .maximize = flag_a};
        const double fast = kernels::lamb_moments(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.n());
        const double slow = reference::lamb_moments(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.n());
        EXPECT_NEAR(fast, slow, 1e-12 * slow) << "lamb_moments sum";
        kernels::lamb_apply(s, 0.01, a.p.data(), a.s0.data(), a.s1.data(), a.n());
        reference::lamb_apply(s, 0.01, b.p.data(), b.s0.data(), b.s1.data(), b.n());
      },
      test::Gradients::Finite);
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(LAMB, ConvergesOnAQuadratic) {
  test::expect_converges({"lamb", {{"lr", 0.01}, {"weight_decay", 0.0}}, 3000, 5e-2});
}

}  // namespace
}  // namespace descent
