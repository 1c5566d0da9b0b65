// Adadelta's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/adadelta/adadelta_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, AdadeltaMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const reference::AdadeltaStep s{
        .lr = 1.0, .rho = 0.9, .eps = 1e-6, .weight_decay = variant & 1 ? 0.1 : 0.0, .maximize = (variant & 2) != 0};
    kernels::adadelta(s, a.p.data(), a.g.data(), a.s1.data(), a.s2.data(), a.n());
    reference::adadelta(s, b.p.data(), b.g.data(), b.s1.data(), b.s2.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(Adadelta, ConvergesOnAQuadratic) {
  test::expect_converges({"adadelta", {{"lr", 1.0}}, 6000, 2e-2});
}

}  // namespace
}  // namespace descent
