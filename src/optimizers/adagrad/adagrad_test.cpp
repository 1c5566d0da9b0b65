// Adagrad's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/adagrad/adagrad_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, AdagradMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const reference::AdagradStep s{
        .clr = 0.05, .weight_decay = variant & 1 ? 0.1 : 0.0, .eps = 1e-10, .maximize = (variant & 2) != 0};
    kernels::adagrad(s, a.p.data(), a.g.data(), a.s1.data(), a.n());
    reference::adagrad(s, b.p.data(), b.g.data(), b.s1.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(Adagrad, ConvergesOnAQuadratic) {
  test::expect_converges({"adagrad", {{"lr", 1.0}}, 1000, 1e-4});
}

}  // namespace
}  // namespace descent
