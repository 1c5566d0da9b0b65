// The optimizer API: parameters, groups, state access, option changes between steps, and bad input
// (each rejected with a clear error, leaving parameters and state untouched).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {


struct Buffers {
  std::vector<float> w, g;
  explicit Buffers(std::vector<float> values) : w(std::move(values)), g(w.size(), 0.0f) {}
  Parameter param(const std::string& name) { return Parameter(name, std::span(w), std::span(g)); }
};

TEST(Parameter, RejectsMismatchedSizesAndShapes) {
  std::vector<float> w(4), g(3);
  EXPECT_THROW_WITH(Parameter("fc.weight", std::span(w), std::span(g)), InvalidArgument,
                    "parameter 'fc.weight': gradient has 3 elements but the value has 4");
  g.resize(4);
  EXPECT_THROW_WITH(Parameter("fc.weight", std::span(w), std::span(g), {3, 2}), InvalidArgument,
                    "shape holds 6 elements but the value span has 4");
  EXPECT_THROW_WITH(Parameter("", std::span(w), std::span(g)), InvalidArgument, "name must not be empty");
  std::vector<float> none;
  EXPECT_THROW_WITH(Parameter("b", std::span(none), std::span(none)), InvalidArgument, "has no elements");
  const Parameter p("fc.weight", std::span(w), std::span(g), {2, 2});
  EXPECT_EQ(p.shape(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_THROW_WITH((void)p.value<double>(), InvalidArgument, "is float32, not float64");
}

TEST(Optimizer, PlainSGDIsTheNotesGradientDescent) {
  Buffers b({1.0f, -2.0f, 3.0f});
  SGD sgd({b.param("w")}, SGDOptions(0.5));
  b.g = {0.2f, 0.4f, -1.0f};
  sgd.step();
  EXPECT_EQ(b.w, (std::vector<float>{0.9f, -2.2f, 3.5f}));  // w - lr * g, exactly representable here
  EXPECT_EQ(sgd.step_count("w"), 1);
}

TEST(Optimizer, StateIsReadableByParameterAndSlotName) {
  Buffers fc({1.0f, 2.0f}), bias({0.5f});
  Adam adam({fc.param("fc.weight"), bias.param("fc.bias")}, AdamOptions(0.1));
  fc.g = {1.0f, -1.0f};
  bias.g = {2.0f};
  adam.step();
  const auto exp_avg = adam.state<float>("fc.weight", "exp_avg");
  ASSERT_EQ(exp_avg.size(), 2u);
  EXPECT_FLOAT_EQ(exp_avg[0], 0.1f);   // (1 - beta1) * g
  EXPECT_FLOAT_EQ(exp_avg[1], -0.1f);
  EXPECT_FLOAT_EQ(adam.state<float>("fc.bias", "exp_avg_sq")[0], 0.001f * 4.0f);  // (1 - beta2) * g^2
  EXPECT_EQ(adam.step_count("fc.bias"), 1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(exp_avg.data()) % AlignedBuffer::kAlignment, 0u);
  // The *_absmax slots hold int8 state's block scales (state_dtype, docs/optimizers.md), master_param and
  // kahan_compensation belong to bfloat16 parameters (bf16_params); never created here.
  EXPECT_EQ(adam.slot_names(), (std::vector<std::string_view>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_avg_absmax",
                                                              "exp_avg_sq_absmax", "max_exp_avg_sq_absmax",
                                                              "master_param", "kahan_compensation"}));
  EXPECT_FALSE(adam.has_state("fc.weight", "exp_avg_absmax"));
  // amsgrad is off: its slot was never created.
  EXPECT_FALSE(adam.has_state("fc.weight", "max_exp_avg_sq"));
  EXPECT_THROW_WITH((void)adam.state<float>("fc.weight", "max_exp_avg_sq"), NotFound, "has no 'max_exp_avg_sq' state yet");
  EXPECT_THROW_WITH((void)adam.state<float>("fc.weight", "momentum"), NotFound, "no state slot 'momentum'");
  EXPECT_THROW_WITH((void)adam.state<float>("conv.weight", "exp_avg"), NotFound, "no parameter named 'conv.weight'");
  EXPECT_THROW_WITH((void)adam.state<double>("fc.weight", "exp_avg"), InvalidArgument, "is float32, not float64");
}

// slots_in_use() names the state torch.optim keeps for the group's options (Adam: exp_avg and exp_avg_sq,
// max_exp_avg_sq only with amsgrad; SGD: momentum_buffer only with momentum), and a step creates exactly
// those slots; in a Composite each group has its own rule's, and a wrapper adds its own to every group.
TEST(Optimizer, SlotsInUseAreTheSlotsAStepCreates) {
  Buffers w({1.0f, 2.0f}), v({0.5f});
  Adam adam({w.param("w")}, AdamOptions(0.1));
  adam.add_param_group({v.param("v")}, AdamOptions(0.1).amsgrad(true).clone());
  using Names = std::vector<std::string_view>;
  EXPECT_EQ(adam.slots_in_use(0), (Names{"exp_avg", "exp_avg_sq"}));
  EXPECT_EQ(adam.slots_in_use(1), (Names{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}));
  w.g = {1.0f, -1.0f};
  v.g = {2.0f};
  adam.step();
  for (const auto& [param, group] : {std::pair{"w", 0}, std::pair{"v", 1}}) {
    const Names in_use = adam.slots_in_use(group);
    for (const std::string_view slot : adam.slot_names()) {
      EXPECT_EQ(adam.has_state(param, slot), std::find(in_use.begin(), in_use.end(), slot) != in_use.end())
          << param << " " << slot;
    }
  }
  EXPECT_THROW_WITH((void)adam.slots_in_use(2), NotFound, "Adam: no group 2 (there are 2)");

  Buffers a({1.0f}), b({2.0f});
  std::vector<std::unique_ptr<Optimizer>> parts;
  parts.push_back(std::make_unique<SGD>(std::vector<Parameter>{a.param("a")}, SGDOptions(0.1)));
  parts.push_back(std::make_unique<Adam>(std::vector<Parameter>{b.param("b")}));
  Composite composite(std::move(parts));
  EXPECT_EQ(composite.slots_in_use(0), Names{});  // SGD without momentum keeps nothing
  EXPECT_EQ(composite.slots_in_use(1), (Names{"exp_avg", "exp_avg_sq"}));
  composite.group(0).options().set("momentum", 0.9);
  EXPECT_EQ(composite.slots_in_use(0), Names{"momentum_buffer"});

  Buffers e({1.0f});
  EMA ema(std::make_unique<SGD>(std::vector<Parameter>{e.param("e")}, SGDOptions(0.1)));
  EXPECT_EQ(ema.slots_in_use(0), Names{"ema"});

  // bf16_params asks for its slot in every group (kahan by default), but only bfloat16 parameters give it
  // values: a group of float32 ones does not use it, a group with a bfloat16 one does.
  std::vector<bfloat16> h(3, to_bfloat16(1.0f)), hg(3, to_bfloat16(0.5f)), k(3, to_bfloat16(1.0f)), kg(hg);
  Buffers f({1.0f, 2.0f});
  Adam mixed({f.param("f")}, AdamOptions(0.1));
  mixed.add_param_group({Parameter("h", std::span(h), std::span(hg))}, AdamOptions(0.1).clone());
  mixed.add_param_group({Parameter("k", std::span(k), std::span(kg))},
                        AdamOptions(0.1).bf16_params(BF16Params::Master).clone());
  EXPECT_EQ(mixed.slots_in_use(0), (Names{"exp_avg", "exp_avg_sq"}));
  EXPECT_EQ(mixed.slots_in_use(1), (Names{"exp_avg", "exp_avg_sq", "kahan_compensation"}));
  EXPECT_EQ(mixed.slots_in_use(2), (Names{"exp_avg", "exp_avg_sq", "master_param"}));
}

TEST(Optimizer, ParametersWithoutGradientAreSkipped) {
  Buffers a({1.0f}), frozen({2.0f});
  SGD sgd({a.param("a"), Parameter("frozen", std::span(frozen.w), std::span<float>())}, SGDOptions(0.1).momentum(0.9));
  a.g = {1.0f};
  sgd.step();
  EXPECT_EQ(frozen.w[0], 2.0f);
  EXPECT_EQ(sgd.step_count("frozen"), 0);
  EXPECT_FALSE(sgd.has_state("frozen", "momentum_buffer"));
  EXPECT_TRUE(sgd.has_state("a", "momentum_buffer"));
  // Attaching a gradient later brings it in.
  frozen.g = {1.0f};
  sgd.set_grad("frozen", std::span(frozen.g));
  sgd.step();
  EXPECT_EQ(sgd.step_count("frozen"), 1);
  EXPECT_FLOAT_EQ(frozen.w[0], 1.9f);
}

TEST(Optimizer, AStepWithNoGradientsIsAnError) {
  Buffers a({1.0f});
  SGD sgd({Parameter("a", std::span(a.w), std::span<float>())}, SGDOptions(0.1));
  EXPECT_THROW_WITH(sgd.step(), InvalidArgument, "SGD: step() called but no parameter has a gradient");
  EXPECT_EQ(a.w[0], 1.0f);
  EXPECT_EQ(sgd.step_count("a"), 0);
}

TEST(Optimizer, BadGroupsAreRejectedAndNothingIsAdded) {
  Buffers a({1.0f, 2.0f}), b({3.0f});
  Adam adam({a.param("a")});
  // Duplicate names, inside a group and across groups.
  EXPECT_THROW_WITH(adam.add_param_group({b.param("b"), Parameter("b", std::span(a.w).subspan(0, 1), std::span(a.g).subspan(0, 1))}),
                    InvalidArgument, "duplicate parameter name 'b'");
  EXPECT_THROW_WITH(adam.add_param_group({Parameter("a", std::span(b.w), std::span(b.g))}), InvalidArgument,
                    "duplicate parameter name 'a'");
  // The same memory under another name, or overlapping it.
  EXPECT_THROW_WITH(adam.add_param_group({Parameter("a_again", std::span(a.w), std::span(a.g))}), InvalidArgument,
                    "share memory");
  EXPECT_THROW_WITH(adam.add_param_group({Parameter("a_tail", std::span(a.w).subspan(1), std::span(b.g))}), InvalidArgument,
                    "'a' and 'a_tail' share memory");
  EXPECT_THROW_WITH(adam.add_param_group({}), InvalidArgument, "the group has no parameters");
  EXPECT_THROW_WITH(adam.add_param_group({b.param("b")}, std::make_unique<SGDOptions>()), InvalidArgument,
                    "options are for SGD, not Adam");
  EXPECT_EQ(adam.num_groups(), 1u);
  EXPECT_EQ(adam.num_parameters(), 1u);
  EXPECT_THROW((void)adam.parameter("b"), NotFound);
  // And a good group still goes in afterwards.
  adam.add_param_group({b.param("b")}, AdamOptions(0.5));
  EXPECT_EQ(adam.num_groups(), 2u);
  EXPECT_EQ(adam.options(1).lr(), 0.5);
}

TEST(Optimizer, OptionsChangeBetweenStepsAndBadChangesAreRefused) {
  Buffers a({1.0f});
  SGD sgd({a.param("a")}, SGDOptions(0.1));
  a.g = {1.0f};
  sgd.step();
  EXPECT_FLOAT_EQ(a.w[0], 0.9f);
  sgd.options().lr(0.5);  // e.g. a learning-rate schedule
  sgd.step();
  EXPECT_FLOAT_EQ(a.w[0], 0.4f);
  sgd.group(0).options().set_lr(0.25);
  sgd.step();
  EXPECT_FLOAT_EQ(a.w[0], 0.15f);
  EXPECT_THROW_WITH(sgd.options().lr(-1.0), InvalidArgument, "'lr' = -1");
  EXPECT_EQ(sgd.options().lr(), 0.25);
  EXPECT_THROW_WITH(sgd.group(0).options().set("momentum", 1.0), InvalidArgument, "must be in [0, 1)");
}

TEST(Optimizer, AStepRefusedForAnInvalidCombinationChangesNothing) {
  Buffers a({1.0f, -1.0f});
  SGD sgd({a.param("a")}, SGDOptions(0.1).momentum(0.9));
  a.g = {1.0f, 2.0f};
  sgd.step();
  const std::vector<float> w_before = a.w;
  const std::vector<float> buf_before(sgd.state<float>("a", "momentum_buffer").begin(),
                                      sgd.state<float>("a", "momentum_buffer").end());
  sgd.options().nesterov(true).dampening(0.5);  // each value is in range; together they are not
  EXPECT_THROW_WITH(sgd.step(), InvalidArgument, "nesterov = true needs momentum > 0 and dampening = 0");
  EXPECT_EQ(a.w, w_before);
  const auto buf = sgd.state<float>("a", "momentum_buffer");
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), buf_before.begin()));
  EXPECT_EQ(sgd.step_count("a"), 1);
}

TEST(Optimizer, AddingAGroupLaterKeepsExistingState) {
  Buffers a({1.0f, 2.0f, 3.0f}), b({4.0f});
  Adam adam({a.param("a")}, AdamOptions(0.1));
  a.g = {1.0f, 1.0f, 1.0f};
  adam.step();
  const std::vector<float> before(adam.state<float>("a", "exp_avg_sq").begin(), adam.state<float>("a", "exp_avg_sq").end());
  adam.add_param_group({b.param("b")}, AdamOptions(0.01));
  const auto after = adam.state<float>("a", "exp_avg_sq");
  EXPECT_TRUE(std::equal(after.begin(), after.end(), before.begin()));
  b.g = {1.0f};
  adam.step();
  EXPECT_EQ(adam.step_count("a"), 2);
  EXPECT_EQ(adam.step_count("b"), 1);
}

TEST(Optimizer, MixedFloatAndDoubleParameters) {
  std::vector<float> wf{1.0f}, gf{1.0f};
  std::vector<double> wd{1.0}, gd{1.0};
  RMSprop rmsprop({Parameter("f32", std::span(wf), std::span(gf)), Parameter("f64", std::span(wd), std::span(gd))},
                  RMSpropOptions(0.01).momentum(0.5).centered(true));
  for (int i = 0; i < 3; ++i) rmsprop.step();
  EXPECT_NEAR(wf[0], wd[0], 1e-6);
  EXPECT_NEAR(rmsprop.state<float>("f32", "grad_avg")[0], rmsprop.state<double>("f64", "grad_avg")[0], 1e-6);
}

TEST(Optimizer, ZeroGradClearsEveryGradient) {
  Buffers a({1.0f, 2.0f});
  a.g = {3.0f, 4.0f};
  Adagrad adagrad({a.param("a")});
  adagrad.zero_grad();
  EXPECT_EQ(a.g, (std::vector<float>{0.0f, 0.0f}));
}

TEST(Optimizer, AdagradAccumulatorStartsAtTheGroupsInitialValue) {
  Buffers a({1.0f}), b({1.0f});
  Adagrad adagrad({a.param("a")}, AdagradOptions(0.1).initial_accumulator_value(0.5));
  adagrad.add_param_group({b.param("b")}, AdagradOptions(0.1).initial_accumulator_value(2.0));
  a.g = {1.0f};
  b.g = {1.0f};
  adagrad.step();
  EXPECT_FLOAT_EQ(adagrad.state<float>("a", "sum")[0], 1.5f);
  EXPECT_FLOAT_EQ(adagrad.state<float>("b", "sum")[0], 3.0f);
}

// Under NonFinitePolicy::Propagate a non-finite gradient flows into the parameter and every state slot it
// touches, as in PyTorch (whose maximum/amax propagate NaN). The default policy raises (test_checkpoint.cpp).
TEST(Optimizer, ANaNGradientPropagatesUnderThePropagatePolicy) {
  Buffers a({1.0f, 2.0f});
  Adam adam({a.param("a")}, AdamOptions().amsgrad(true));
  adam.set_nonfinite_policy(NonFinitePolicy::Propagate);
  a.g = {std::nanf(""), 1.0f};
  adam.step();
  EXPECT_TRUE(std::isnan(a.w[0]));
  EXPECT_TRUE(std::isnan(adam.state<float>("a", "exp_avg")[0]));
  EXPECT_TRUE(std::isnan(adam.state<float>("a", "max_exp_avg_sq")[0]));
  EXPECT_FALSE(std::isnan(a.w[1]));
  EXPECT_FALSE(std::isnan(adam.state<float>("a", "max_exp_avg_sq")[1]));

}

TEST(Parameter, ShapeOverflowIsRejected) {
  std::vector<float> w(4), g(4);
  EXPECT_THROW_WITH(Parameter("w", std::span(w), std::span(g), {(std::int64_t{1} << 62) + 1, 4}), InvalidArgument,
                    "overflows");
}

TEST(AlignedBuffer, AMovedFromBufferIsEmpty) {
  AlignedBuffer a(128);
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.size(), 128u);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
  a.resize(64);            // usable again
  EXPECT_EQ(a.size(), 64u);
}

TEST(Optimizer, StepErrorsNameTheGroup) {
  Buffers a({1.0f}), b({2.0f});
  SGD sgd({a.param("a")}, SGDOptions(0.1));
  sgd.add_param_group({b.param("b")}, SGDOptions(0.1).momentum(0.9));
  sgd.options(1).nesterov(true).dampening(0.5);
  a.g = b.g = {1.0f};
  EXPECT_THROW_WITH(sgd.step(), InvalidArgument, "step(), group 1: SGD: nesterov = true");
}

TEST(Optimizer, EveryOptimizerIsBuiltByNameAndKeepsItsName) {
  for (const std::string_view name : optimizer_names()) {
    Buffers a({1.0f});
    auto opt = make_optimizer(name, {a.param("a")});
    if (opt->name() != "Composite") {  // "muon" builds Muon + its aux AdamW (muon_with_aux_adamw)
      EXPECT_EQ(opt->name(), make_options(name)->optimizer());
      EXPECT_EQ(opt->defaults().optimizer(), opt->name());
    }
    a.g = {1.0f};
    opt->step();
    opt->step();  // SOAP's first step only builds its preconditioners, as its reference does
    EXPECT_EQ(opt->step_count("a"), 2) << name;
    EXPECT_LT(a.w[0], 1.0f) << name << " did not move downhill";
  }
}

}  // namespace
}  // namespace descent
