// SGD's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/sgd/sgd_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, SgdMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const bool flag_a = variant & 1, flag_b = variant & 2;
    const reference::SGDStep s{.lr = 0.1,
                               .momentum = 0.9,
                               .dampening = flag_b ? 0.0 : 0.3,
                               .weight_decay = flag_a ? 0.01 : 0.0,
                               .nesterov = flag_b,
                               .maximize = flag_a,
                               .first = variant == 2};
    kernels::sgd(s, a.p.data(), a.g.data(), a.s0.data(), a.n());
    reference::sgd(s, b.p.data(), b.g.data(), b.s0.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(SGD, ConvergesOnAQuadratic) {
  test::expect_converges({"sgd", {{"lr", 0.15}}, 300, 1e-4});
  test::expect_converges({"sgd", {{"lr", 0.05}, {"momentum", 0.9}}, 400, 1e-4});
  test::expect_converges({"sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1.0}}, 400, 1e-4});
  test::expect_converges({"sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"dampening", 0.5}}, 400, 1e-4});
}

}  // namespace
}  // namespace descent
