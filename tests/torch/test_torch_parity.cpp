// The adapter against libtorch's own C++ optimizers (torch::optim::Adam, AdamW, SGD, Adagrad, RMSprop) on
// the same libtorch model: 100 steps, parameters bitwise equal after every step, with and without
// torch::optim::StepLR, and a checkpoint saved mid-run that resumes bitwise. The reference is libtorch
// itself (an independent implementation); descent's kernels follow python torch's operation order, and
// libtorch 1.13's C++ optimizers use the same order for these rules (docs/torch.md).
//
// This translation unit and test_torch_lbfgs.cpp include libtorch's optimizer headers (they pull in
// torch/nn/module.h and the serialization headers: about a minute to compile).
#include <gtest/gtest.h>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/schedulers/step_lr.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "descent/schedule.hpp"
#include "descent/torch.hpp"
#include "torch/torch_model.hpp"

namespace {

using descent::TorchOptimizer;
using descent::TorchOptions;
using descent::torch_test::first_difference;
using descent::torch_test::Model;

using TorchFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<at::Tensor>)>;

struct Case {
  std::string label;
  TorchFactory reference;
  TorchOptions ours;
};

std::vector<Case> cases() {
  namespace optim = torch::optim;
  std::vector<Case> all;
  all.push_back({"Adam", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(0.1));
                 },
                 TorchOptions("adam", {{"lr", 0.01}, {"beta1", 0.9}, {"beta2", 0.99}, {"eps", 1e-8}, {"weight_decay", 0.1}})});
  all.push_back({"Adam_amsgrad", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::Adam>(p, optim::AdamOptions(0.02).amsgrad(true));
                 },
                 TorchOptions("adam", {{"lr", 0.02}, {"amsgrad", 1}})});
  all.push_back({"AdamW", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(0.01).betas({0.8, 0.995}).weight_decay(0.05));
                 },
                 TorchOptions("adamw", {{"lr", 0.01}, {"beta1", 0.8}, {"beta2", 0.995}, {"weight_decay", 0.05}})});
  all.push_back({"SGD_momentum", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9).dampening(0.1).weight_decay(1e-3));
                 },
                 TorchOptions("sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"dampening", 0.1}, {"weight_decay", 1e-3}})});
  all.push_back({"SGD_nesterov", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
                 },
                 TorchOptions("sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 1e-3}})});
  all.push_back({"Adagrad", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::Adagrad>(
                       p, optim::AdagradOptions(0.1).lr_decay(0.01).weight_decay(1e-3).initial_accumulator_value(0.1).eps(1e-10));
                 },
                 TorchOptions("adagrad", {{"lr", 0.1}, {"lr_decay", 0.01}, {"weight_decay", 1e-3},
                                          {"initial_accumulator_value", 0.1}, {"eps", 1e-10}})});
  all.push_back({"RMSprop", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions(0.01).alpha(0.95));
                 },
                 TorchOptions("rmsprop", {{"lr", 0.01}, {"alpha", 0.95}})});
  all.push_back({"RMSprop_centered_momentum", [](std::vector<at::Tensor> p) {
                   return std::make_unique<optim::RMSprop>(
                       p, optim::RMSpropOptions(0.005).alpha(0.9).weight_decay(1e-3).momentum(0.5).centered(true));
                 },
                 TorchOptions("rmsprop", {{"lr", 0.005}, {"alpha", 0.9}, {"weight_decay", 1e-3}, {"momentum", 0.5},
                                          {"centered", 1}})});
  return all;
}

void train_step(torch::optim::Optimizer& opt, const Model& model, std::int64_t step) {
  opt.zero_grad();
  model.loss(step).backward();
  opt.step();
}

// StepLR resumed at a step count: torch's StepLR keeps its count in a protected member and has no state
// dictionary, so a resumed run sets it as a restored scheduler would.
class ResumedStepLR : public torch::optim::StepLR {
 public:
  ResumedStepLR(torch::optim::Optimizer& opt, unsigned step_size, double gamma, unsigned done)
      : StepLR(opt, step_size, gamma) {
    step_count_ = done;
  }
};

constexpr int kSteps = 100;
constexpr unsigned kStepSize = 30;
constexpr double kGamma = 0.3;

class TorchParity : public ::testing::TestWithParam<std::tuple<std::size_t, at::ScalarType, bool>> {};

// Both optimizers step the same model from the same values on the same batches; after every step the
// parameters must be bitwise equal (the gradients then are too).
TEST_P(TorchParity, HundredStepsBitwise) {
  const auto [index, dtype, with_step_lr] = GetParam();
  const Case c = cases()[index];
  const Model theirs_model(dtype), ours_model(dtype);
  const auto theirs = c.reference(theirs_model.tensors());
  TorchOptimizer ours(ours_model.params, c.ours);
  std::unique_ptr<torch::optim::StepLR> theirs_lr, ours_lr;
  if (with_step_lr) {
    theirs_lr = std::make_unique<torch::optim::StepLR>(*theirs, kStepSize, kGamma);
    ours_lr = std::make_unique<torch::optim::StepLR>(ours, kStepSize, kGamma);
  }
  for (int s = 0; s < kSteps; ++s) {
    train_step(*theirs, theirs_model, s);
    train_step(ours, ours_model, s);
    if (with_step_lr) {
      theirs_lr->step();
      ours_lr->step();
    }
    const std::string differs = first_difference(theirs_model, ours_model);
    ASSERT_EQ(differs, "") << c.label << ": '" << differs << "' differs after step " << s + 1;
  }
  EXPECT_EQ(ours.param_groups()[0].options().get_lr(), theirs->param_groups()[0].options().get_lr());
  if (with_step_lr) {
    EXPECT_LT(ours.param_groups()[0].options().get_lr(), c.ours.get_lr());
  }
}

// A checkpoint saved after 50 steps (with the parameters) resumes in a fresh model and optimizer, with a
// StepLR resumed at its count, and the run ends bitwise where torch's uninterrupted run ends.
class TorchResume : public ::testing::TestWithParam<std::tuple<std::size_t, at::ScalarType>> {};

TEST_P(TorchResume, CheckpointResumesBitwise) {
  const auto [index, dtype] = GetParam();
  const Case c = cases()[index];
  const Model theirs_model(dtype), first_model(dtype);
  const auto theirs = c.reference(theirs_model.tensors());
  torch::optim::StepLR theirs_lr(*theirs, kStepSize, kGamma);
  for (int s = 0; s < kSteps; ++s) {
    train_step(*theirs, theirs_model, s);
    theirs_lr.step();
  }

  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("descent_torch_resume_" + c.label + ".safetensors");
  {
    TorchOptimizer first(first_model.params, c.ours);
    torch::optim::StepLR first_lr(first, kStepSize, kGamma);
    for (int s = 0; s < kSteps / 2; ++s) {
      train_step(first, first_model, s);
      first_lr.step();
    }
    first.save(file, /*with_parameters=*/true);
  }
  const Model resumed_model(dtype, /*seed=*/7);  // other values: the checkpoint must bring the parameters back
  TorchOptimizer resumed(resumed_model.params, c.ours);
  resumed.load(file);
  ResumedStepLR resumed_lr(resumed, kStepSize, kGamma, kSteps / 2);
  ASSERT_EQ(first_difference(first_model, resumed_model), "");
  for (int s = kSteps / 2; s < kSteps; ++s) {
    train_step(resumed, resumed_model, s);
    resumed_lr.step();
  }
  std::filesystem::remove(file);
  const std::string differs = first_difference(theirs_model, resumed_model);
  EXPECT_EQ(differs, "") << c.label << ": '" << differs << "' differs after the resumed run";
}

std::string case_name(const ::testing::TestParamInfo<TorchParity::ParamType>& info) {
  const auto [index, dtype, with_step_lr] = info.param;
  return cases()[index].label + (dtype == at::kFloat ? "_float32" : "_float64") + (with_step_lr ? "_StepLR" : "");
}

std::string resume_name(const ::testing::TestParamInfo<TorchResume::ParamType>& info) {
  const auto [index, dtype] = info.param;
  return cases()[index].label + (dtype == at::kFloat ? "_float32" : "_float64");
}

INSTANTIATE_TEST_SUITE_P(Rules, TorchResume,
                         ::testing::Combine(::testing::Range<std::size_t>(0, 8), ::testing::Values(at::kFloat, at::kDouble)),
                         resume_name);
INSTANTIATE_TEST_SUITE_P(Rules, TorchParity,
                         ::testing::Combine(::testing::Range<std::size_t>(0, 8), ::testing::Values(at::kFloat, at::kDouble),
                                            ::testing::Bool()),
                         case_name);

// step(closure) calls the closure with grad mode on and returns its loss, as torch's optimizers do.
TEST(TorchAdapter, StepWithClosureMatchesTorch) {
  const Model theirs_model(at::kFloat), ours_model(at::kFloat);
  torch::optim::Adam theirs(theirs_model.tensors(), torch::optim::AdamOptions(0.01));
  TorchOptimizer ours(ours_model.params, TorchOptions("adam", {{"lr", 0.01}}));
  for (int s = 0; s < 20; ++s) {
    const at::Tensor a = theirs.step([&] {
      theirs.zero_grad();
      at::Tensor loss = theirs_model.loss(s);
      loss.backward();
      return loss;
    });
    const at::Tensor b = ours.step([&] {
      ours.zero_grad();
      at::Tensor loss = ours_model.loss(s);
      loss.backward();
      return loss;
    });
    ASSERT_TRUE(b.defined());
    ASSERT_EQ(a.item<float>(), b.item<float>()) << "step " << s;
    ASSERT_EQ(first_difference(theirs_model, ours_model), "") << "step " << s;
  }
}

// Per-group options: two groups with their own lr and weight decay, against torch's Adam with the same
// groups.
TEST(TorchAdapter, ParamGroupsMatchTorch) {
  const Model theirs_model(at::kDouble), ours_model(at::kDouble);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{theirs_model[0], theirs_model[1]},
                      std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(0.02)));
  groups.emplace_back(std::vector<at::Tensor>{theirs_model[2], theirs_model[3], theirs_model[4], theirs_model[5]},
                      std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(0.005).weight_decay(0.01)));
  torch::optim::Adam theirs(groups, torch::optim::AdamOptions(0.001));
  const auto& p = ours_model.params;
  using Named = std::vector<std::pair<std::string, at::Tensor>>;
  TorchOptimizer ours(Named{p[0], p[1]}, TorchOptions("adam", {{"lr", 0.02}}));
  ours.add_param_group(Named{p[2], p[3], p[4], p[5]}, TorchOptions("adam", {{"lr", 0.005}, {"weight_decay", 0.01}}));
  ASSERT_EQ(ours.param_groups().size(), 2u);
  ASSERT_EQ(ours.descent_optimizer().num_groups(), 2u);
  for (int s = 0; s < 30; ++s) {
    train_step(theirs, theirs_model, s);
    train_step(ours, ours_model, s);
    ASSERT_EQ(first_difference(theirs_model, ours_model), "") << "step " << s;
  }
}

// descent's own schedules drive the adapter through descent_optimizer(), and torch sees the lr they set.
// The reference is torch's Adam with the lr set by hand to PyTorch's StepLR formula, base * gamma^floor(t /
// step_size) after t scheduler steps: libtorch 1.13's C++ StepLR decays one call later than that (at its
// (step_size + 1)-th step(), since it tests its count before incrementing it), which is pinned here too.
TEST(TorchAdapter, DescentScheduleDrivesTheAdapter) {
  const Model theirs_model(at::kFloat), ours_model(at::kFloat);
  torch::optim::Adam theirs(theirs_model.tensors(), torch::optim::AdamOptions(0.01));
  TorchOptimizer ours(ours_model.params, TorchOptions("adam", {{"lr", 0.01}}));
  descent::StepLR ours_lr(ours.descent_optimizer(), 10, 0.5);
  for (int s = 0; s < 40; ++s) {
    train_step(theirs, theirs_model, s);
    train_step(ours, ours_model, s);
    ours_lr.step();
    theirs.param_groups()[0].options().set_lr(0.01 * std::pow(0.5, (s + 1) / 10));
    ASSERT_EQ(ours.param_groups()[0].options().get_lr(), theirs.param_groups()[0].options().get_lr()) << s;
    ASSERT_EQ(first_difference(theirs_model, ours_model), "") << "step " << s;
  }
  EXPECT_EQ(ours.param_groups()[0].options().get_lr(), 0.01 * 0.5 * 0.5 * 0.5 * 0.5);

  // libtorch's StepLR: still the base lr after 10 calls, decayed after 11.
  torch::optim::Adam plain(theirs_model.tensors(), torch::optim::AdamOptions(0.01));
  torch::optim::StepLR torch_lr(plain, 10, 0.5);
  for (int s = 0; s < 10; ++s) torch_lr.step();
  EXPECT_EQ(plain.param_groups()[0].options().get_lr(), 0.01);
  torch_lr.step();
  EXPECT_EQ(plain.param_groups()[0].options().get_lr(), 0.005);
}

}  // namespace
