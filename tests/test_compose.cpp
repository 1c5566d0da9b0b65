// Composition: one optimizer over groups that run different rules (Composite), and a wrapper that
// changes how the parameters are presented around any base optimizer (EMA).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

// Two weight matrices and two biases, with gradients that depend on the values and the step.
struct Net {
  std::vector<float> w1, g1, b1, gb1, w2, g2, b2, gb2;
  Net() : w1(64 * 32), g1(64 * 32), b1(32), gb1(32), w2(32 * 10), g2(32 * 10), b2(10), gb2(10) {
    for (std::size_t i = 0; i < w1.size(); ++i) w1[i] = 0.02f * std::sin(static_cast<float>(i));
    for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = 0.03f * std::cos(static_cast<float>(i));
  }
  std::vector<Parameter> matrices() {
    return {Parameter("fc1.weight", std::span(w1), std::span(g1), {32, 64}),
            Parameter("fc2.weight", std::span(w2), std::span(g2), {10, 32})};
  }
  std::vector<Parameter> vectors() {
    return {Parameter("fc1.bias", std::span(b1), std::span(gb1)), Parameter("fc2.bias", std::span(b2), std::span(gb2))};
  }
  void gradient(int step) {
    const auto fill = [&](std::vector<float>& g, const std::vector<float>& w, float k) {
      for (std::size_t i = 0; i < g.size(); ++i) g[i] = 0.1f * w[i] + std::sin(k * static_cast<float>(i + 3 * step));
    };
    fill(g1, w1, 0.11f);
    fill(gb1, b1, 0.7f);
    fill(g2, w2, 0.23f);
    fill(gb2, b2, 1.3f);
  }
};

std::unique_ptr<Composite> lars_and_adamw(Net& net) {
  std::vector<std::unique_ptr<Optimizer>> parts;
  parts.push_back(std::make_unique<LARS>(net.matrices(), LARSOptions(0.5).momentum(0.9).weight_decay(1e-4)));
  parts.push_back(std::make_unique<AdamW>(net.vectors(), AdamWOptions(1e-2).weight_decay(0.01)));
  return std::make_unique<Composite>(std::move(parts));
}

// LARS for the matrices and AdamW for the biases in one optimizer: bitwise what the two give separately,
// a StepLR attached to it scales each group from its own lr, and one checkpoint resumes it bitwise.
TEST(Composite, RunsEachGroupWithItsOwnRule) {
  Net a, b;
  auto both = lars_and_adamw(a);
  LARS lars(b.matrices(), LARSOptions(0.5).momentum(0.9).weight_decay(1e-4));
  AdamW adamw(b.vectors(), AdamWOptions(1e-2).weight_decay(0.01));
  StepLR schedule(*both, 2, 0.5);
  StepLR lars_schedule(lars, 2, 0.5), adamw_schedule(adamw, 2, 0.5);
  ASSERT_EQ(both->num_groups(), 2u);
  EXPECT_EQ(both->group(0).rule(), "LARS");
  EXPECT_EQ(both->group(1).rule(), "AdamW");
  for (int s = 0; s < 5; ++s) {
    a.gradient(s);
    b.gradient(s);
    both->step();
    lars.step();
    adamw.step();
    schedule.step();
    lars_schedule.step();
    adamw_schedule.step();
  }
  EXPECT_EQ(a.w1, b.w1);
  EXPECT_EQ(a.w2, b.w2);
  EXPECT_EQ(a.b1, b.b1);
  EXPECT_EQ(a.b2, b.b2);
  EXPECT_EQ(both->group(0).options().lr(), 0.5 * 0.25);
  EXPECT_EQ(both->group(1).options().lr(), 1e-2 * 0.25);
  const auto momentum = both->state<float>("fc1.weight", "momentum_buffer");
  const auto expected = lars.state<float>("fc1.weight", "momentum_buffer");
  EXPECT_TRUE(std::equal(momentum.begin(), momentum.end(), expected.begin(), expected.end()));
  EXPECT_EQ(both->state<float>("fc2.bias", "exp_avg_sq")[3], adamw.state<float>("fc2.bias", "exp_avg_sq")[3]);
  EXPECT_THROW_WITH(both->state<float>("fc1.weight", "exp_avg"), NotFound, "no state slot 'exp_avg'");

  // One state dictionary: a fresh Composite over fresh memory resumes bitwise.
  const StateDict dict = decode_checkpoint(encode_checkpoint(both->state_dict(true)));
  EXPECT_EQ(dict.meta("optimizer"), "Composite");
  EXPECT_NE(dict.meta("groups").find("\"rule\":\"LARS\""), std::string::npos);
  Net c;
  auto resumed = lars_and_adamw(c);
  resumed->load_state_dict(dict);
  for (int s = 5; s < 8; ++s) {
    a.gradient(s);
    both->step();
    c.gradient(s);
    resumed->step();
  }
  EXPECT_EQ(encode_checkpoint(resumed->state_dict(true)), encode_checkpoint(both->state_dict(true)));
}

TEST(Composite, GroupsAddedLaterTakeTheRuleOfTheirOptions) {
  Net net;
  std::vector<std::unique_ptr<Optimizer>> parts;
  parts.push_back(std::make_unique<SGD>(std::vector<Parameter>{net.matrices()[0]}, SGDOptions(0.1)));
  parts.push_back(std::make_unique<Adam>(std::vector<Parameter>{net.vectors()[0]}));
  Composite opt(std::move(parts));
  opt.add_param_group({net.matrices()[1]}, AdamOptions(0.01).clone());
  EXPECT_EQ(opt.group(2).rule(), "Adam");
  EXPECT_THROW_WITH(opt.add_param_group({net.vectors()[1]}, LAMBOptions().clone()), InvalidArgument,
                    "options are for LAMB, which none of its parts runs (SGD, Adam)");
  net.gradient(0);
  opt.step();
  EXPECT_TRUE(opt.has_state("fc2.weight", "exp_avg"));
  // A dictionary whose group ran another rule is refused.
  StateDict d = opt.state_dict();
  const std::string groups = d.meta("groups");
  d.metadata["groups"] = std::string(groups).replace(groups.rfind("\"rule\":\"Adam\""), 13, "\"rule\":\"SGD\"");
  EXPECT_THROW_WITH(opt.load_state_dict(d), InvalidArgument, "runs Adam, but saved group 2 ran SGD");
}

TEST(Composite, RefusesPartsThatCannotBeCombined) {
  Net net;
  std::vector<std::unique_ptr<Optimizer>> same_name;
  same_name.push_back(std::make_unique<SGD>(net.matrices()));
  std::vector<float> other(10), g(10);
  same_name.push_back(std::make_unique<Adam>(std::vector<Parameter>{Parameter("fc1.weight", std::span(other), std::span(g))}));
  EXPECT_THROW_WITH(Composite{std::move(same_name)}, InvalidArgument, "two parts hold a parameter named 'fc1.weight'");
  std::vector<std::unique_ptr<Optimizer>> shared;
  shared.push_back(std::make_unique<SGD>(net.matrices()));
  shared.push_back(std::make_unique<Adam>(std::vector<Parameter>{Parameter("alias", std::span(net.w1).first(5), std::span(g).first(5))}));
  EXPECT_THROW_WITH(Composite{std::move(shared)}, InvalidArgument, "share memory");
  std::vector<std::unique_ptr<Optimizer>> wrapped;
  wrapped.push_back(std::make_unique<EMA>(std::make_unique<SGD>(net.vectors())));
  EXPECT_THROW_WITH(Composite{std::move(wrapped)}, InvalidArgument, "EMA cannot be a part");
}

// EMA around Adam: Adam's trajectory is unchanged, and the average follows the closed form
// average_t = average_{t-1} + (1 - decay) (param_t - average_{t-1}), average_1 = param_1, computed here
// from the parameters a plain Adam reaches.
TEST(EMA, AveragesTheWeightsAroundAnyOptimizer) {
  constexpr double kDecay = 0.9;
  std::vector<float> w(5), g(5), w2(5), g2(5);
  for (std::size_t i = 0; i < 5; ++i) w[i] = w2[i] = 0.3f * static_cast<float>(i) - 0.5f;
  EMA ema(std::make_unique<Adam>(std::vector<Parameter>{Parameter("w", std::span(w), std::span(g))}, AdamOptions(0.05)),
          kDecay);
  Adam plain({Parameter("w", std::span(w2), std::span(g2))}, AdamOptions(0.05));
  std::vector<float> average;
  for (int s = 0; s < 6; ++s) {
    for (std::size_t i = 0; i < 5; ++i) g[i] = g2[i] = w[i] * w[i] - 0.1f * static_cast<float>(s);
    ema.step();
    plain.step();
    if (average.empty()) {
      average = w2;
    } else {
      for (std::size_t i = 0; i < 5; ++i) average[i] = average[i] + static_cast<float>(1.0 - kDecay) * (w2[i] - average[i]);
    }
  }
  EXPECT_EQ(w, w2);
  const auto ema_state = ema.state<float>("w", "ema");
  EXPECT_EQ(std::vector<float>(ema_state.begin(), ema_state.end()), average);
  EXPECT_EQ(ema.state<float>("w", "exp_avg")[2], plain.state<float>("w", "exp_avg")[2]);

  // Swapped in for evaluation, and back; no step meanwhile.
  const std::vector<float> trained = w;
  ema.use_average(true);
  EXPECT_EQ(w, average);
  EXPECT_THROW_WITH(ema.step(), InvalidArgument, "step() while the averages are in the parameters");
  EXPECT_EQ(w, average);
  // A checkpoint taken in either mode resumes bitwise.
  const StateDict dict = decode_checkpoint(encode_checkpoint(ema.state_dict(true)));
  EXPECT_EQ(dict.meta("ema_average_in_parameters"), "true");
  ema.use_average(false);
  EXPECT_EQ(w, trained);

  std::vector<float> w3(5), g3(5);
  EMA resumed(std::make_unique<Adam>(std::vector<Parameter>{Parameter("w", std::span(w3), std::span(g3))}, AdamOptions(0.05)),
              0.5);
  resumed.load_state_dict(dict);
  EXPECT_TRUE(resumed.using_average());
  EXPECT_EQ(resumed.decay(), kDecay);
  resumed.use_average(false);
  EXPECT_EQ(w3, trained);
  for (std::size_t i = 0; i < 5; ++i) g[i] = g3[i] = 0.2f;
  ema.step();
  resumed.step();
  EXPECT_EQ(encode_checkpoint(resumed.state_dict(true)), encode_checkpoint(ema.state_dict(true)));
  EXPECT_THROW_WITH(ema.set_decay(1.0), InvalidArgument, "decay = 1 is out of range: must be in [0, 1)");
}

// While the averages are in the parameters, a dictionary must carry the parameters' values, and loading
// is refused (the trained values would be lost).
TEST(EMA, SwappedStateIsNeverAmbiguous) {
  std::vector<float> w(4, 1.0f), g(4, 0.25f);
  EMA ema(std::make_unique<SGD>(std::vector<Parameter>{Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1)), 0.5);
  ema.step();
  ema.step();
  const StateDict trained = ema.state_dict(true);
  ema.use_average(true);
  EXPECT_THROW_WITH(ema.state_dict(false), InvalidArgument, "without the parameters' values while the averages are in");
  EXPECT_THROW_WITH(ema.load_state_dict(trained), InvalidArgument, "while the averages are in the parameters");
  EXPECT_TRUE(ema.using_average());
  ema.use_average(false);
  EXPECT_EQ(w, trained.tensor("param/w").values<float>("w"));
}

TEST(EMA, WrapsACompositeToo) {
  Net net;
  EMA ema(lars_and_adamw(net), 0.5);
  EXPECT_EQ(ema.num_groups(), 2u);
  net.gradient(0);
  ema.step();
  EXPECT_TRUE(ema.has_state("fc1.weight", "momentum_buffer"));
  EXPECT_TRUE(ema.has_state("fc1.bias", "ema"));
  const StateDict d = ema.state_dict();
  EXPECT_EQ(d.meta("optimizer"), "EMA");
}

}  // namespace
}  // namespace descent
