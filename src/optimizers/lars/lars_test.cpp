// LARS's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/lars/lars_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, LarsMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const bool flag_a = variant & 1, flag_b = variant & 2;
    const reference::LARSStep s{
        .scaled_lr = 0.02, .weight_decay = flag_a ? 5e-4 : 0.0, .momentum = 0.9, .nesterov = flag_b, .maximize = flag_a};
    kernels::lars(s, a.p.data(), a.g.data(), variant != 0 ? a.s0.data() : nullptr, a.n());
    reference::lars(s, b.p.data(), b.g.data(), variant != 0 ? b.s0.data() : nullptr, b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(LARS, ConvergesOnAQuadratic) {
  // LARS steps have length ~ lr * trust_coefficient * ||w|| whatever ||g|| is, so it needs decay.
  test::expect_converges({"lars", {{"lr", 20.0}, {"momentum", 0.9}}, 2000, 1e-3, true});
  test::expect_converges({"lars", {{"lr", 0.05}, {"exclude", 1.0}}, 2000, 1e-4});
}

}  // namespace
}  // namespace descent
