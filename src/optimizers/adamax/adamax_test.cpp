// Adamax's kernel against its scalar reference: bitwise equal on every instruction set, at awkward sizes.
#include <gtest/gtest.h>

#include "optimizers/adamax/adamax_reference.hpp"
#include "support/kernel_check.hpp"

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

}  // namespace
}  // namespace descent
