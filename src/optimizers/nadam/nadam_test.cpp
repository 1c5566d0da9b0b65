// NAdam's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/nadam/nadam_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, NadamMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const reference::NAdamStep s{.beta1 = 0.9,
                                 .beta2 = 0.999,
                                 .eps = 1e-8,
                                 .weight_decay = variant & 1 ? 0.1 : 0.0,
                                 .bias_correction2_sqrt = 0.04,
                                 .grad_coefficient = -0.002,
                                 .exp_avg_coefficient = -0.01,
                                 .maximize = (variant & 2) != 0};
    kernels::nadam(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.n());
    reference::nadam(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(NAdam, ConvergesOnAQuadratic) {
  test::expect_converges({"nadam", {{"lr", 0.05}}, 2000, 1e-3});
}

}  // namespace
}  // namespace descent
