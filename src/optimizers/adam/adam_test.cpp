// Adam's and AdamW's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/adam/adam_reference.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

TEST(Kernels, AdamMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const bool flag_a = variant & 1, flag_b = variant & 2;
    const reference::AdamStep s{.beta1 = 0.9,
                                .beta2 = 0.999,
                                .eps = 1e-8,
                                .l2 = flag_a ? 0.1 : 0.0,
                                .decay_factor = flag_b ? 0.999 : 1.0,  // AdamW
                                .step_size = 0.01,
                                .bias_correction2_sqrt = 0.03,
                                .amsgrad = flag_b,
                                .maximize = flag_a};
    kernels::adam(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), flag_b ? a.s2.data() : nullptr, a.n());
    reference::adam(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), flag_b ? b.s2.data() : nullptr, b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types.
TEST(Adam, ConvergesOnAQuadratic) {
  test::expect_converges({"adam", {{"lr", 0.05}}, 2000, 1e-3});
  test::expect_converges({"adam", {{"lr", 0.05}, {"amsgrad", 1.0}}, 2000, 1e-3});
  test::expect_converges({"adam", {{"lr", 0.05}, {"bias_correction", 0.0}}, 2000, 1e-3});
}

TEST(AdamW, ConvergesOnAQuadratic) { test::expect_converges({"adamw", {{"lr", 0.05}, {"weight_decay", 0.0}}, 2000, 1e-3}); }

}  // namespace
}  // namespace descent
