// descent::TorchLBFGS against libtorch's own torch::optim::LBFGS (C++, an independent implementation of
// the same algorithm) on float64 problems over several tensors: a Rosenbrock function of three tensors
// and a small tanh network's mean squared error. Several step(closure) calls, so that the L-BFGS
// history carries over between calls, with and without the strong-Wolfe line search. Expected: after
// every step() the parameters, the returned loss, the number of closure calls and torch's state counters
// (n_iter, func_evals) are equal, the floats bitwise.
//
// Why bitwise is reachable: descent::LBFGS follows python torch 1.13's LBFGS operation for operation
// (tests/test_lbfgs_torch_order.cpp: bitwise at 50-D), libtorch 1.13's C++ LBFGS
// (torch/csrc/api/src/optim/lbfgs.cpp) computes the same quantities with the same ATen kernels (dot:
// BLAS ddot; x + t d: add_ with alpha; sum |g|), and the closure runs the same ATen code on bitwise equal
// parameters on both sides. One known divergence between libtorch's C++ strong-Wolfe search and
// python's (and descent's) is never reached here: docs/torch.md.
#include <gtest/gtest.h>

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/zeros.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/schedulers/step_lr.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "descent/error.hpp"
#include "descent/torch.hpp"
#include "support/expect_throw.hpp"

namespace {

using descent::TorchLBFGS;
using descent::TorchLBFGSOptions;
using Named = std::vector<std::pair<std::string, at::Tensor>>;
using Loss = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

// A float64 leaf tensor of this shape with values fill(i), i the flat index.
at::Tensor make(at::IntArrayRef shape, const std::function<double(int)>& fill, bool requires_grad = true) {
  at::Tensor t = at::empty(shape, at::kDouble);
  for (int i = 0; i < t.numel(); ++i) t.data_ptr<double>()[i] = fill(i);
  return t.requires_grad_(requires_grad);
}

std::vector<at::Tensor> tensors_of(const Named& named) {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

Named clone(const Named& named) {
  Named out;
  for (const auto& [name, t] : named) out.emplace_back(name, t.detach().clone().requires_grad_(true));
  return out;
}

// The name of the first parameter that differs bitwise, or "".
std::string first_difference(const Named& a, const Named& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(a[i].second.data_ptr(), b[i].second.data_ptr(),
                    static_cast<std::size_t>(a[i].second.numel()) * sizeof(double)) != 0) {
      return a[i].first;
    }
  }
  return "";
}

bool bits_equal(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Rosenbrock's function sum_i 100 (x_{i+1} - x_i^2)^2 + (x_i - 1)^2 of x = (a, b, c) flattened: 12 values
// in three tensors (3, 2 x 2, 5), started at the classic (-1.2, 1) pattern.
Named rosenbrock_start() {
  const auto start = [](int offset) { return [offset](int i) { return (i + offset) % 2 == 0 ? -1.2 : 1.0; }; };
  return {{"a", make({3}, start(0))}, {"b", make({2, 2}, start(3))}, {"c", make({5}, start(7))}};
}
at::Tensor rosenbrock(const std::vector<at::Tensor>& p) {
  const at::Tensor x = at::cat({p[0].reshape({-1}), p[1].reshape({-1}), p[2].reshape({-1})});
  const at::Tensor head = x.slice(0, 0, x.numel() - 1);
  const at::Tensor tail = x.slice(0, 1, x.numel());
  return tail.sub(head.pow(2)).pow(2).mul(100.0).sum().add(head.sub(1.0).pow(2).sum());
}

// A 3-5-1 tanh network's mean squared error on 16 fixed samples (inputs and targets from sin, cos).
Named network_start() {
  return {{"fc1.weight", make({5, 3}, [](int i) { return 0.3 * std::sin(1.7 * i + 0.2); })},
          {"fc1.bias", make({5}, [](int i) { return 0.1 * std::cos(0.9 * i); })},
          {"fc2.weight", make({1, 5}, [](int i) { return 0.4 * std::cos(1.3 * i + 0.5); })},
          {"fc2.bias", make({1}, [](int) { return 0.05; })}};
}
at::Tensor network_loss(const std::vector<at::Tensor>& p) {
  static const at::Tensor inputs = make({16, 3}, [](int i) { return std::sin(0.37 * i); }, false);
  static const at::Tensor targets = make({16, 1}, [](int i) { return std::cos(0.61 * i) * 0.5; }, false);
  const at::Tensor hidden = inputs.matmul(p[0].t()).add(p[1]).tanh();
  return hidden.matmul(p[2].t()).add(p[3]).sub(targets).pow(2).mean();
}

// torch's closure: zero the gradients, compute the loss, backward; counts its calls.
torch::optim::Optimizer::LossClosure closure_for(torch::optim::Optimizer& opt, const Named& params, const Loss& loss,
                                                 int& calls) {
  return [&opt, &params, loss, &calls] {
    ++calls;
    opt.zero_grad();
    at::Tensor value = loss(tensors_of(params));
    value.backward();
    return value;
  };
}

torch::optim::LBFGSOptions torch_options(const TorchLBFGSOptions& o) {
  torch::optim::LBFGSOptions t(o.lr());
  t.max_iter(o.max_iter()).tolerance_grad(o.tolerance_grad()).tolerance_change(o.tolerance_change());
  t.history_size(o.history_size());
  if (o.line_search_fn()) t.line_search_fn(*o.line_search_fn());
  return t;
}

// Runs torch::optim::LBFGS and TorchLBFGS side by side for `steps` step(closure) calls and checks that
// they stay bitwise equal. With `step_lr`, a torch::optim::StepLR(step_size 2, gamma 0.5) drives each.
void expect_same_as_torch(const Named& start, const Loss& loss, const TorchLBFGSOptions& options, int steps,
                          bool step_lr = false) {
  const Named theirs = clone(start);
  const Named ours = clone(start);
  torch::optim::LBFGS reference(tensors_of(theirs), torch_options(options));
  TorchLBFGS adapter(ours, options);
  std::optional<torch::optim::StepLR> their_schedule, our_schedule;
  if (step_lr) {
    their_schedule.emplace(reference, 2, 0.5);
    our_schedule.emplace(adapter, 2, 0.5);
  }
  int their_calls = 0, our_calls = 0;
  const auto their_closure = closure_for(reference, theirs, loss, their_calls);
  const auto our_closure = closure_for(adapter, ours, loss, our_calls);
  double first_loss = 0.0, last_loss = 0.0;
  for (int s = 0; s < steps; ++s) {
    const double their_loss = reference.step(their_closure).item<double>();
    const double our_loss = adapter.step(our_closure).item<double>();
    ASSERT_TRUE(std::isfinite(their_loss)) << "step " << s;
    EXPECT_TRUE(bits_equal(our_loss, their_loss)) << "step " << s << ": " << our_loss << " vs " << their_loss;
    ASSERT_EQ(first_difference(ours, theirs), "") << "parameters differ after step " << s;
    ASSERT_EQ(our_calls, their_calls) << "closure calls after step " << s;
    ASSERT_EQ(reference.state().size(), 1U);
    const auto& state =
        static_cast<const torch::optim::LBFGSParamState&>(*reference.state().begin()->second);
    EXPECT_EQ(adapter.iterations(), state.n_iter()) << "step " << s;
    EXPECT_EQ(adapter.function_evaluations(), state.func_evals()) << "step " << s;
    if (s == 0) first_loss = our_loss;
    last_loss = our_loss;
    if (step_lr) {
      their_schedule->step();
      our_schedule->step();
    }
  }
  EXPECT_LT(last_loss, first_loss) << "the run made no progress: the comparison would be weak";
}

// Small histories (3, 4) so that the oldest pairs are dropped within the run; max_iter below the
// number of iterations needed, so that every step() continues the previous one's history.
TEST(TorchLBFGS, RosenbrockStrongWolfeMatchesTorchBitwise) {
  expect_same_as_torch(rosenbrock_start(), rosenbrock,
                       TorchLBFGSOptions(1.0).max_iter(6).history_size(4).line_search_fn("strong_wolfe"), 8);
}

TEST(TorchLBFGS, RosenbrockFixedStepMatchesTorchBitwise) {
  expect_same_as_torch(rosenbrock_start(), rosenbrock, TorchLBFGSOptions(0.1).max_iter(5).history_size(3), 8);
}

TEST(TorchLBFGS, NetworkStrongWolfeMatchesTorchBitwise) {
  expect_same_as_torch(network_start(), network_loss,
                       TorchLBFGSOptions(1.0).max_iter(4).history_size(3).line_search_fn("strong_wolfe"), 6);
}

TEST(TorchLBFGS, NetworkFixedStepMatchesTorchBitwise) {
  expect_same_as_torch(network_start(), network_loss, TorchLBFGSOptions(0.5).max_iter(4).history_size(5), 6);
}

// torch::optim::StepLR changes lr through set_lr between step() calls; both read it at the next step().
TEST(TorchLBFGS, StepLRMatchesTorchBitwise) {
  expect_same_as_torch(network_start(), network_loss, TorchLBFGSOptions(0.5).max_iter(3), 6, /*step_lr=*/true);
}

// ---- refusals: an error naming the tensor or option, nothing changed ----

struct Trainer {
  Named params = network_start();
  std::unique_ptr<TorchLBFGS> opt;
  int calls = 0;
  torch::optim::Optimizer::LossClosure closure;
  explicit Trainer(const TorchLBFGSOptions& options = TorchLBFGSOptions(0.5).max_iter(3)) {
    opt = std::make_unique<TorchLBFGS>(params, options);
    closure = closure_for(*opt, params, network_loss, calls);
  }
  Named snapshot() const { return clone(params); }
};

TEST(TorchLBFGS, RefusesFloat32AndOtherBadParametersNamingThem) {
  Named named = network_start();
  named[1].second = named[1].second.detach().to(at::kFloat).requires_grad_(true);
  EXPECT_THROW_WITH(TorchLBFGS(named, {}), descent::InvalidArgument, "'fc1.bias' has dtype Float");
  EXPECT_THROW_WITH(TorchLBFGS(named, {}), descent::InvalidArgument, "runs in float64");

  named = network_start();
  named[2].second = named[2].second.detach();
  EXPECT_THROW_WITH(TorchLBFGS(named, {}), descent::InvalidArgument, "'fc2.weight' does not require grad");

  named = network_start();
  named[0].second = at::empty_strided({5, 3}, {1, 5}, at::kDouble).zero_().requires_grad_(true);
  EXPECT_THROW_WITH(TorchLBFGS(named, {}), descent::InvalidArgument, "'fc1.weight' is not contiguous");

  named = network_start();
  EXPECT_THROW_WITH(TorchLBFGS(tensors_of(named), TorchLBFGSOptions().line_search_fn("backtracking")),
                    descent::InvalidArgument, "'line_search_fn' = \"backtracking\"");
  EXPECT_THROW_WITH(TorchLBFGS(tensors_of(named), TorchLBFGSOptions(-1.0)), descent::InvalidArgument, "'lr'");
  named[3].second = named[3].second.detach();
  EXPECT_THROW_WITH(TorchLBFGS(tensors_of(named), {}), descent::InvalidArgument, "'param_groups.0.3'");
}

TEST(TorchLBFGS, StepRefusalsBeforeTheFirstEvaluationChangeNothing) {
  Trainer run;
  run.opt->step(run.closure);
  const Named before = run.snapshot();
  const std::int64_t iterations = run.opt->iterations(), evaluations = run.opt->function_evaluations();
  const int calls = run.calls;

  EXPECT_THROW_WITH(run.opt->step(nullptr), descent::InvalidArgument, "needs a closure");
  run.opt->param_groups()[0].options().set_lr(0.0);
  EXPECT_THROW_WITH(run.opt->step(run.closure), descent::InvalidArgument, "'lr'");
  run.opt->param_groups()[0].options().set_lr(0.5);
  run.params[3].second.requires_grad_(false);
  EXPECT_THROW_WITH(run.opt->step(run.closure), descent::InvalidArgument, "'fc2.bias' does not require grad");
  run.params[3].second.requires_grad_(true);
  run.opt->add_param_group(torch::optim::OptimizerParamGroup({make({2}, [](int) { return 0.0; })}));
  EXPECT_THROW_WITH(run.opt->step(run.closure), descent::InvalidArgument, "parameter groups changed");

  EXPECT_EQ(first_difference(run.params, before), "");
  EXPECT_EQ(run.opt->iterations(), iterations);
  EXPECT_EQ(run.opt->function_evaluations(), evaluations);
  EXPECT_EQ(run.calls, calls);
}

// A bad result of the first evaluation: the parameters and the L-BFGS state are as before, so the next
// good step() goes on exactly as an uninterrupted run (compared with one).
TEST(TorchLBFGS, BadFirstEvaluationChangesNothing) {
  Trainer run, uninterrupted;
  run.opt->step(run.closure);
  uninterrupted.opt->step(uninterrupted.closure);
  const Named before = run.snapshot();
  const std::int64_t iterations = run.opt->iterations(), evaluations = run.opt->function_evaluations();

  const auto float_grad = [&] {
    at::Tensor loss = run.closure();
    run.params[1].second.mutable_grad() = at::zeros({5}, at::kFloat);
    return loss;
  };
  EXPECT_THROW_WITH(run.opt->step(float_grad), descent::InvalidArgument, "gradient of 'fc1.bias' has dtype Float");
  run.params[1].second.mutable_grad().reset();  // (a float32 .grad would break the next backward())
  const auto vector_loss = [&] { return make({2}, [](int) { return 1.0; }, false); };
  EXPECT_THROW_WITH(run.opt->step(vector_loss), descent::InvalidArgument, "returned a tensor of 2 elements");
  const auto throwing = []() -> at::Tensor { throw std::runtime_error("data loader failed"); };
  EXPECT_THROW_WITH(run.opt->step(throwing), std::runtime_error, "data loader failed");

  EXPECT_EQ(first_difference(run.params, before), "");
  EXPECT_EQ(run.opt->iterations(), iterations);
  EXPECT_EQ(run.opt->function_evaluations(), evaluations);
  run.opt->step(run.closure);
  uninterrupted.opt->step(uninterrupted.closure);
  EXPECT_EQ(first_difference(run.params, uninterrupted.params), "");
}

// A failure later in a step: the parameters go back to where the step started and the history is cleared,
// so the next step() is a fresh optimizer's first (compared with one).
TEST(TorchLBFGS, FailureMidStepRestoresParametersAndStartsAfresh) {
  Trainer run;
  run.opt->step(run.closure);
  const Named before = run.snapshot();
  int calls = 0;
  const auto fails_third = [&] {
    if (++calls == 3) throw std::runtime_error("third evaluation failed");
    return run.closure();
  };
  EXPECT_THROW_WITH(run.opt->step(fails_third), std::runtime_error, "third evaluation failed");
  EXPECT_EQ(first_difference(run.params, before), "");
  EXPECT_EQ(run.opt->iterations(), 0);
  EXPECT_EQ(run.opt->function_evaluations(), 0);

  Named fresh_params = clone(before);
  TorchLBFGS fresh(fresh_params, TorchLBFGSOptions(0.5).max_iter(3));
  int fresh_calls = 0;
  run.opt->step(run.closure);
  fresh.step(closure_for(fresh, fresh_params, network_loss, fresh_calls));
  EXPECT_EQ(first_difference(run.params, fresh_params), "");
}

TEST(TorchLBFGS, TorchArchivesAreRefused) {
  Trainer run;
  torch::serialize::OutputArchive archive;
  EXPECT_THROW_WITH(run.opt->save(archive), descent::Error, "archives are not supported");
}

}  // namespace
