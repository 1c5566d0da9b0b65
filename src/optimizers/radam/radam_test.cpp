// RAdam's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/radam/radam_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, RadamMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const bool flag_a = variant & 1, flag_b = variant & 2;
    const reference::RAdamStep s{.lr = 0.001,
                                 .beta1 = 0.9,
                                 .beta2 = 0.999,
                                 .eps = 1e-8,
                                 .weight_decay = flag_a ? 0.1 : 0.0,
                                 .bias_correction1 = 0.2,
                                 .bias_correction2_sqrt = 0.05,
                                 .rectified = flag_b,
                                 .rectification = 0.3,
                                 .maximize = flag_a};
    kernels::radam(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.n());
    reference::radam(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(RAdam, ConvergesOnAQuadratic) {
  test::expect_converges({"radam", {{"lr", 0.05}}, 2000, 1e-3});
}

}  // namespace
}  // namespace descent
