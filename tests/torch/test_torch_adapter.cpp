// The adapter's own behaviour, with the narrow torch headers only: bad input (a non-CPU, sparse,
// non-contiguous, integer or grad-less tensor, a gradient of another dtype or shape) is an error naming
// the tensor and changes nothing; state lives in torch tensors of the parameter's dtype that the descent
// optimizer updates in place; rules libtorch lacks (NAdam, LAMB) give exactly descent's own step; groups
// added through torch's add_param_group() are taken over; checkpoints are keyed by parameter name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/schedule.hpp"
#include "descent/torch.hpp"
#include "torch/torch_model.hpp"

namespace {

using descent::TorchOptimizer;
using descent::TorchOptions;
using descent::torch_test::filled;
using descent::torch_test::first_difference;
using descent::torch_test::Model;
using Named = std::vector<std::pair<std::string, at::Tensor>>;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const descent::Error& e) {
    return e.what();
  }
  return "(no descent::Error)";
}

at::Tensor leaf(std::vector<std::int64_t> shape, at::ScalarType dtype = at::kFloat) {
  return filled(std::move(shape), dtype, 5, 1.0).requires_grad_(true);
}

// Every byte of every parameter and state tensor, to show that a refused call changed nothing.
std::vector<std::vector<char>> snapshot(const TorchOptimizer& opt) {
  std::vector<std::vector<char>> bytes;
  const auto add = [&](const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    bytes.emplace_back(p, p + size);
  };
  const descent::Optimizer& inner = opt.descent_optimizer();
  for (std::size_t i = 0; i < inner.num_parameters(); ++i) {
    const descent::Parameter& param = inner.parameter(i);
    add(param.value_data(), param.size() * descent::size_of(param.dtype()));
    for (const auto slot : inner.slot_names()) {
      const at::Tensor t = opt.state_tensor(param.name(), slot);
      if (t.defined()) add(t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size());
    }
  }
  return bytes;
}

TEST(TorchAdapterInput, RefusesTensorsItCannotStepNamingThem) {
  const auto refuse = [](const at::Tensor& bad, const std::string& expected) {
    const Model model(at::kFloat);
    Named named = model.params;
    named.emplace_back("bad.weight", bad);
    const std::string message = error_of([&] { TorchOptimizer opt(named, TorchOptions("adam")); });
    EXPECT_THAT(message, HasSubstr("'bad.weight'"));
    EXPECT_THAT(message, HasSubstr(expected));
  };
  // Debian's libtorch has no CUDA; the meta device stands in for every non-CPU device (the same check).
  refuse(at::empty({3}, at::TensorOptions().device(at::kMeta)).requires_grad_(true), "only CPU tensors");
  refuse(filled({4, 4}, at::kFloat, 3, 1.0).to_sparse().requires_grad_(true), "sparse");
  refuse(filled({4, 4}, at::kFloat, 3, 1.0).t().requires_grad_(true), "not contiguous");
  refuse(filled({3}, at::kFloat, 3, 1.0), "does not require grad");
  refuse(at::zeros({3}, at::TensorOptions().dtype(at::kInt)), "dtype Int");
  refuse(at::zeros({3}, at::TensorOptions().dtype(at::kHalf)).requires_grad_(true), "dtype Half");
  refuse(leaf({3}).mul(2), "not a leaf");
}

TEST(TorchAdapterInput, RefusedGroupAddsNothing) {
  const Model model(at::kFloat);
  TorchOptimizer opt(model.params, TorchOptions("adam"));
  const at::Tensor bad = filled({3}, at::kDouble, 3, 1.0);  // no requires_grad
  const std::string message = error_of([&] {
    opt.add_param_group(Named{{"extra.ok", leaf({2})}, {"extra.bad", bad}}, TorchOptions("adam"));
  });
  EXPECT_THAT(message, HasSubstr("'extra.bad'"));
  EXPECT_EQ(opt.param_groups().size(), 1u);
  EXPECT_EQ(opt.descent_optimizer().num_groups(), 1u);
  EXPECT_EQ(opt.descent_optimizer().num_parameters(), model.params.size());
  // A name used twice is descent's refusal, also before anything is added.
  EXPECT_THAT(error_of([&] { opt.add_param_group(Named{{"conv.weight", leaf({2})}}, TorchOptions("adam")); }),
              HasSubstr("conv.weight"));
  EXPECT_EQ(opt.param_groups().size(), 1u);
}

// A bad gradient at step(): the error names it, and no parameter, state tensor or step count changes.
TEST(TorchAdapterInput, BadGradientChangesNothing) {
  const Model model(at::kFloat);
  TorchOptimizer opt(model.params, TorchOptions("adam", {{"lr", 0.01}}));
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    model.loss(s).backward();
    opt.step();
  }
  opt.zero_grad();
  model.loss(3).backward();
  const auto before = snapshot(opt);
  const auto refuse = [&](at::Tensor grad, const std::string& expected) {
    at::Tensor saved = model[2].grad();
    model[2].mutable_grad() = std::move(grad);
    const std::string message = error_of([&] { opt.step(); });
    model[2].mutable_grad() = saved;
    EXPECT_THAT(message, HasSubstr("gradient of 'fc1.weight'"));
    EXPECT_THAT(message, HasSubstr(expected));
    EXPECT_EQ(snapshot(opt), before);
    EXPECT_EQ(opt.descent_optimizer().step_count("fc1.weight"), 3);
    EXPECT_EQ(opt.descent_optimizer().step_count("conv.weight"), 3);
  };
  refuse(filled({6, 108}, at::kDouble, 9, 1.0), "dtype Double, not its parameter's Float");
  refuse(filled({108, 6}, at::kFloat, 9, 1.0).t(), "not contiguous");
  refuse(filled({6, 108}, at::kFloat, 9, 1.0).to_sparse(), "sparse");
  refuse(filled({3, 216}, at::kFloat, 9, 1.0), "shape [3, 216]");
  refuse(at::empty({6, 108}, at::TensorOptions().device(at::kMeta)), "only CPU tensors");
  // The good gradient still steps.
  opt.step();
  EXPECT_EQ(opt.descent_optimizer().step_count("fc1.weight"), 4);
}

TEST(TorchAdapterInput, ParameterMovedOrGroupEditedIsRefused) {
  const Model model(at::kFloat);
  TorchOptimizer opt(model.params, TorchOptions("sgd", {{"lr", 0.1}}));
  model.loss(0).backward();
  opt.param_groups()[0].params().push_back(leaf({2}));  // what add_parameters() does
  EXPECT_THAT(error_of([&] { opt.step(); }), HasSubstr("tensors of parameter group 0 changed"));
  opt.param_groups()[0].params().pop_back();
  opt.step();
  model[4].set_data(filled({4, 6}, at::kFloat, 11, 1.0));
  EXPECT_THAT(error_of([&] { opt.step(); }), HasSubstr("'fc2.weight' moved to other memory"));
}

// State lives in torch tensors of the parameter's dtype; the descent optimizer reads and writes them in
// place (the tensor's memory is the descent state's memory).
TEST(TorchAdapterState, StateTensorsFollowTheParameterDtype) {
  for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    const Model model(dtype);
    TorchOptimizer opt(model.params, TorchOptions("nadam", {{"lr", 0.01}}));
    EXPECT_FALSE(opt.state_tensor("fc1.weight", "exp_avg").defined());  // not created before the first step
    model.loss(0).backward();
    opt.step();
    const at::Tensor exp_avg = opt.state_tensor("fc1.weight", "exp_avg");
    ASSERT_TRUE(exp_avg.defined());
    EXPECT_EQ(exp_avg.scalar_type(), dtype);
    EXPECT_EQ(exp_avg.sizes(), model[2].sizes());
    const void* descent_memory = dtype == at::kFloat
                                     ? static_cast<const void*>(opt.descent_optimizer().state<float>("fc1.weight", "exp_avg").data())
                                     : static_cast<const void*>(opt.descent_optimizer().state<double>("fc1.weight", "exp_avg").data());
    EXPECT_EQ(exp_avg.data_ptr(), descent_memory);
    EXPECT_TRUE(opt.descent_optimizer().is_bound("fc1.weight", "exp_avg"));
    EXPECT_THROW(opt.state_tensor("fc1.weight", "no_such_slot"), descent::NotFound);
  }
}

// Rules libtorch lacks, through the adapter, give exactly descent's own optimizer's steps on the same
// gradients (descent's own parity with PyTorch is tests/test_parity.cpp's).
TEST(TorchAdapterState, NAdamAndLAMBMatchDescentItself) {
  for (const char* rule : {"nadam", "lamb", "radam", "adamax", "adadelta"}) {
    const Model model(at::kFloat);
    TorchOptimizer opt(model.params, TorchOptions(rule, {{"lr", 0.01}}));
    // descent's optimizer over copies of the same values, fed the adapter's gradients.
    std::vector<std::vector<float>> values, grads;
    std::vector<descent::Parameter> params;
    for (const auto& [name, t] : model.params) {
      values.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      grads.emplace_back(values.back().size());
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      params.emplace_back(model.params[i].first, std::span<float>(values[i]), std::span<float>(grads[i]));
    }
    auto own = descent::make_optimizer(rule, std::move(params), {{"lr", 0.01}});
    for (int s = 0; s < 25; ++s) {
      opt.zero_grad();
      model.loss(s).backward();
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::memcpy(grads[i].data(), model[i].grad().data_ptr<float>(), grads[i].size() * sizeof(float));
      }
      opt.step();
      own->step();
      for (std::size_t i = 0; i < values.size(); ++i) {
        ASSERT_EQ(std::memcmp(values[i].data(), model[i].data_ptr<float>(), values[i].size() * sizeof(float)), 0)
            << rule << ": '" << model.params[i].first << "' differs after step " << s + 1;
      }
    }
  }
}

// A group added through torch's own add_param_group (plain tensors, no names) is taken over at the next
// step, named by position, with its options.
TEST(TorchAdapterGroups, TorchAddParamGroupIsTakenOver) {
  const Model model(at::kFloat);
  Named first(model.params.begin(), model.params.begin() + 4);
  TorchOptimizer opt(first, TorchOptions("lamb", {{"lr", 0.01}}));
  opt.torch::optim::Optimizer::add_param_group(torch::optim::OptimizerParamGroup(
      {model[4], model[5]}, std::make_unique<TorchOptions>("lamb", std::map<std::string, double>{{"lr", 0.002}})));
  model.loss(0).backward();
  opt.step();
  ASSERT_EQ(opt.descent_optimizer().num_groups(), 2u);
  EXPECT_EQ(opt.descent_optimizer().group(1).options().lr(), 0.002);
  EXPECT_EQ(opt.descent_optimizer().step_count("param_groups.1.0"), 1);
  EXPECT_EQ(opt.descent_optimizer().parameter("param_groups.1.1").size(), 4u);
  // torch's set_lr on either group reaches the descent group, and descent's change reaches torch.
  opt.param_groups()[1].options().set_lr(0.001);
  EXPECT_EQ(opt.descent_optimizer().group(1).options().lr(), 0.001);
  opt.descent_optimizer().group(0).options().set_lr(0.02);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.02);
  // Options of another rule are refused, naming the group.
  opt.torch::optim::Optimizer::add_param_group(torch::optim::OptimizerParamGroup(
      {leaf({2})}, std::make_unique<TorchOptions>("sgd")));
  EXPECT_THAT(error_of([&] { opt.step(); }), HasSubstr("group 2"));
}

// The checkpoint is descent's, keyed by the names of named_parameters(); a checkpoint of other names is
// refused by a strict load and nothing changes.
TEST(TorchAdapterCheckpoint, KeyedByParameterNameAndStrict) {
  const Model model(at::kDouble);
  TorchOptimizer opt(model.params, TorchOptions("adam", {{"lr", 0.01}}));
  for (int s = 0; s < 5; ++s) {
    opt.zero_grad();
    model.loss(s).backward();
    opt.step();
  }
  const descent::StateDict dict = opt.state_dict();
  EXPECT_EQ(dict.tensors.count("state/fc1.weight/exp_avg"), 1u);
  EXPECT_EQ(dict.tensors.at("state/fc1.weight/exp_avg").type, descent::TensorType::F64);
  EXPECT_EQ(dict.tensors.count("param/fc1.weight"), 0u);

  const Model other(at::kDouble, 3);
  Named renamed = other.params;
  renamed[0].first = "features.0.weight";
  TorchOptimizer fresh(renamed, TorchOptions("adam", {{"lr", 0.5}}));
  const auto before = snapshot(fresh);
  EXPECT_THAT(error_of([&] { fresh.load_state_dict(dict); }), HasSubstr("conv.weight"));
  EXPECT_EQ(snapshot(fresh), before);
  EXPECT_EQ(fresh.param_groups()[0].options().get_lr(), 0.5);

  // The same names load, state and options included, into the torch tensors.
  const Model same(at::kDouble, 3);
  TorchOptimizer loaded(same.params, TorchOptions("adam", {{"lr", 0.5}}));
  loaded.load_state_dict(dict);
  EXPECT_EQ(loaded.param_groups()[0].options().get_lr(), 0.01);
  EXPECT_TRUE(at::equal(loaded.state_tensor("fc2.bias", "exp_avg_sq"), opt.state_tensor("fc2.bias", "exp_avg_sq")));
  EXPECT_EQ(loaded.descent_optimizer().step_count("conv.bias"), 5);
}

TEST(TorchAdapterOptions, OptionsAreDescentsAndValidated) {
  TorchOptions options("lamb", {{"lr", 0.003}});
  EXPECT_EQ(options.get_lr(), 0.003);
  options.set_lr(0.004);
  options.set("weight_decay", 0.02);
  EXPECT_EQ(options.get("weight_decay"), 0.02);
  EXPECT_THAT(error_of([&] { options.set("beta1", 1.5); }), HasSubstr("beta1"));
  EXPECT_EQ(options.get("beta1"), 0.9);
  EXPECT_THROW(TorchOptions("no-such-rule"), descent::NotFound);
  const auto copy = options.clone();
  copy->set_lr(0.1);
  EXPECT_EQ(options.get_lr(), 0.004);
}

}  // namespace
