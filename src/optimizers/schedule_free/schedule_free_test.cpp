// Schedule-Free's kernels against their scalar references (bitwise, every instruction set, awkward
// sizes); convergence; and eval mode: an exact swap of x and y, no step while x is in, checkpoints in
// either mode resuming bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/optimizers/schedule_free.hpp"
#include "optimizers/schedule_free/schedule_free_reference.hpp"
#include "support/expect_throw.hpp"
#include "support/kernel_check.hpp"
#include "support/quadratic.hpp"

namespace descent {
namespace {

reference::ScheduleFreeStep step_of(int variant) {
  return {.lr = 0.05,
          .ckp1 = 0.3,
          .beta = 0.9,
          .beta2 = 0.999,
          .eps = 1e-8,
          .weight_decay = variant & 1 ? 0.1 : 0.0,
          .maximize = (variant & 2) != 0};
}

TEST(Kernels, SGDScheduleFreeMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const auto s = step_of(variant);
    kernels::sgd_schedule_free(s, a.p.data(), a.g.data(), a.s0.data(), a.s2.data(), a.n());
    reference::sgd_schedule_free(s, b.p.data(), b.g.data(), b.s0.data(), b.s2.data(), b.n());
  });
}

TEST(Kernels, AdamWScheduleFreeMatchesTheReference) {
  test::kernel_matches_reference([]<class T>(test::Case<T>& a, test::Case<T>& b, int variant) {
    const auto s = step_of(variant);
    kernels::adamw_schedule_free(s, a.p.data(), a.g.data(), a.s0.data(), a.s1.data(), a.s2.data(), a.n());
    reference::adamw_schedule_free(s, b.p.data(), b.g.data(), b.s0.data(), b.s1.data(), b.s2.data(), b.n());
  });
}

// tests/support/quadratic.hpp: minimizes a small quadratic, and maximizes its negative, in both types,
// with no schedule (the point of the method); the parameters hold y, which converges with x.
TEST(SGDScheduleFree, ConvergesOnAQuadratic) {
  test::expect_converges({"sgdschedulefree", {{"lr", 0.05}}, 2000, 1e-3});
}
TEST(AdamWScheduleFree, ConvergesOnAQuadratic) {
  test::expect_converges({"adamwschedulefree", {{"lr", 0.05}, {"warmup_steps", 20}}, 3000, 1e-3});
}

// The first step's averaging weight is 1, so x_2 = z_2 and y_2 = z_2 = w - lr * g; then a swap.
TEST(SGDScheduleFree, EvalSwapsTheAverageInExactly) {
  std::vector<double> w{1.0, -2.0}, g{0.5, 0.25};
  SGDScheduleFree opt({Parameter("w", std::span(w), std::span(g))}, SGDScheduleFreeOptions(0.5));
  opt.eval();  // before any step: nothing to swap
  EXPECT_EQ(w, (std::vector<double>{1.0, -2.0}));
  opt.train();
  opt.step();
  EXPECT_EQ(w, (std::vector<double>{0.75, -2.125}));
  EXPECT_EQ(opt.scalar_state("w", "weight_sum"), 0.25);  // lr_max^2
  g = {1.0, -1.0};
  opt.step();
  const std::vector<double> y = w;
  const auto x = opt.state<double>("w", "x");
  const std::vector<double> x_values(x.begin(), x.end());
  EXPECT_NE(y, x_values);
  opt.eval();
  EXPECT_TRUE(opt.using_average());
  EXPECT_EQ(w, x_values);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "SGDScheduleFree: step() while the averages x (eval mode)");
  EXPECT_EQ(w, x_values);  // nothing changed
  EXPECT_EQ(opt.step_count("w"), 2);
  EXPECT_EQ(opt.state<double>("w", "x")[0], y[0]);
  EXPECT_EQ(opt.scalar_state("w", "weight_sum"), 0.5);
  opt.train();
  EXPECT_EQ(w, y);
}

// A run that saves a checkpoint in train mode and one in eval mode, each resumed in a fresh optimizer and
// continued beside the original: the same bits.
template <class Opt, class Opts>
void expect_resumes_bitwise(const Opts& options) {
  std::vector<float> w{0.5f, -1.0f, 2.0f}, g(3);
  Opt opt({Parameter("w", std::span(w), std::span(g))}, options);
  const auto gradient = [](std::vector<float>& grad, const std::vector<float>& at, int step) {
    for (std::size_t i = 0; i < at.size(); ++i) grad[i] = at[i] * at[i] - 0.1f * static_cast<float>(step);
  };
  for (int s = 0; s < 5; ++s) {
    gradient(g, w, s);
    opt.step();
  }
  const StateDict train_mode = decode_checkpoint(encode_checkpoint(opt.state_dict(true)));
  EXPECT_EQ(train_mode.meta("schedule_free_eval_mode"), "false");
  opt.eval();
  EXPECT_THROW_WITH(opt.state_dict(false), InvalidArgument, "without the parameters' values");
  const StateDict eval_mode = decode_checkpoint(encode_checkpoint(opt.state_dict(true)));
  EXPECT_EQ(eval_mode.meta("schedule_free_eval_mode"), "true");
  EXPECT_THROW_WITH(opt.load_state_dict(train_mode), InvalidArgument, "load_state_dict() while the averages x");
  opt.train();
  std::vector<float> w_a(3), g_a(3), w_b(3), g_b(3);
  Opt from_train({Parameter("w", std::span(w_a), std::span(g_a))}, options);
  Opt from_eval({Parameter("w", std::span(w_b), std::span(g_b))}, options);
  from_train.load_state_dict(train_mode);
  from_eval.load_state_dict(eval_mode);
  EXPECT_FALSE(from_train.using_average());
  EXPECT_TRUE(from_eval.using_average());
  from_eval.train();
  EXPECT_EQ(w_a, w);
  EXPECT_EQ(w_b, w);
  for (int s = 5; s < 8; ++s) {
    gradient(g, w, s);
    gradient(g_a, w_a, s);
    gradient(g_b, w_b, s);
    opt.step();
    from_train.step();
    from_eval.step();
  }
  const auto bytes = encode_checkpoint(opt.state_dict(true));
  EXPECT_EQ(encode_checkpoint(from_train.state_dict(true)), bytes);
  EXPECT_EQ(encode_checkpoint(from_eval.state_dict(true)), bytes);
}

TEST(SGDScheduleFree, CheckpointsInEitherModeResumeBitwise) {
  expect_resumes_bitwise<SGDScheduleFree>(SGDScheduleFreeOptions(0.1).warmup_steps(3).weight_decay(0.01));
}
TEST(AdamWScheduleFree, CheckpointsInEitherModeResumeBitwise) {
  expect_resumes_bitwise<AdamWScheduleFree>(AdamWScheduleFreeOptions(0.01).warmup_steps(3).r(0.5));
}

TEST(AdamWScheduleFree, OptionsOutOfRangeAreNamed) {
  EXPECT_THROW_WITH(AdamWScheduleFreeOptions().betas(0.9, 1.0), InvalidArgument, "beta2");
  EXPECT_THROW_WITH(SGDScheduleFreeOptions().momentum(1.0), InvalidArgument, "momentum");
  EXPECT_THROW_WITH(SGDScheduleFreeOptions().warmup_steps(-1), InvalidArgument, "warmup_steps");
  EXPECT_THROW_WITH(SGDScheduleFreeOptions().r(-0.5), InvalidArgument, "option 'r' = -0.5 is out of range");
}

}  // namespace
}  // namespace descent
