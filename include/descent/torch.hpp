// descent inside libtorch: any descent optimizer as a torch::optim::Optimizer over torch::Tensor
// parameters (target descent::torch, find_package(descent COMPONENTS torch); docs/torch.md).
//
//   auto options = descent::TorchOptions("nadam").set("lr", 2e-3).set("weight_decay", 1e-4);
//   descent::TorchOptimizer opt(model->named_parameters(), options);
//   torch::optim::StepLR sched(opt, /*step_size=*/10, /*gamma=*/0.5);   // torch's schedulers work
//   for (...) { opt.zero_grad(); loss(model).backward(); opt.step(); }
//   opt.save("run.safetensors");                                       // descent's name-keyed checkpoint
//
// What it is: the named parameters become descent::Parameters viewing the tensors' memory; every state
// slot of the rule is a torch tensor the adapter allocates (in the slot's dtype, which follows the
// parameter's unless the rule declares its own) and binds into the descent optimizer as caller-owned state
// (Optimizer::bind_state), so the update runs in descent's kernels, bitwise as descent's own step, and
// the state can be read as tensors (state()). Only CPU, dense, contiguous float32/float64 leaf tensors
// that require grad are accepted; anything else is descent::InvalidArgument naming the tensor, and
// nothing is changed.
//
// This header includes only <torch/optim/optimizer.h> and <ATen/core/Tensor.h>, not <torch/torch.h>.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>
#include <torch/ordered_dict.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/optimizer.hpp"
#include "descent/options.hpp"

namespace descent {

// The options of one torch parameter group: a descent optimizer's options (any kind in the registry),
// seen by torch as OptimizerOptions. get_lr()/set_lr() read and write the "lr" option, so that
// torch::optim::StepLR (and any torch LRScheduler) drives it.
//
// Once its group is in a TorchOptimizer, the group's TorchOptions and the descent optimizer's group options
// are the same values: a change through either (torch's scheduler through set_lr(), descent's schedules
// through descent_optimizer().group(i).options()) is seen by both. clone() (which torch calls when it
// copies a group) gives an independent copy of the current values.
class TorchOptions final : public torch::optim::OptimizerOptions {
 public:
  // The optimizer's defaults (a registry name: "adam", "nadam", "lamb", ..., case-insensitive) with these
  // overrides by option name, each validated. Throws NotFound or InvalidArgument naming the value.
  explicit TorchOptions(std::string_view optimizer, const std::map<std::string, double>& overrides = {});
  // A copy of descent options of any kind (descent::AdamOptions(1e-3).weight_decay(0.01), ...).
  explicit TorchOptions(const Options& options);
  TorchOptions(const TorchOptions& other);
  TorchOptions& operator=(const TorchOptions& other);
  ~TorchOptions() override;

  // Sets one option by name (validated; InvalidArgument keeps the old value) and returns *this.
  TorchOptions& set(std::string_view name, double value);
  double get(std::string_view name) const;

  double get_lr() const override;
  void set_lr(double lr) override;

  // The descent options themselves (those of the descent optimizer's group once the group is added).
  Options& options() noexcept { return live_ != nullptr ? *live_ : *own_; }
  const Options& options() const noexcept { return live_ != nullptr ? *live_ : *own_; }

  std::unique_ptr<torch::optim::OptimizerOptions> clone() const override;

 private:
  friend class TorchOptimizer;
  std::unique_ptr<Options> own_;  // the values while the options are in no group (or were copied out of one)
  Options* live_ = nullptr;       // the descent group's options, once bound by the TorchOptimizer
};

// Any descent optimizer as a torch::optim::Optimizer.
//
// Parameters are named: the constructor takes a module's named_parameters() (or any ordered name ->
// tensor list), and the names key the checkpoints (descent's state_dict: "state/<name>/exp_avg", ...).
// Groups added through torch's own add_param_group() (plain tensors, no names) are taken over at the next
// step() and named "param_groups.<group>.<index>"; their options must be TorchOptions (torch gives a group
// without options a copy of the defaults, the first group's options).
//
// step(): calls the closure (if any, with grad mode on) and returns its loss, then checks every parameter
// and gradient and runs one descent step. A parameter whose grad is undefined is skipped, as torch skips
// it; when none has a gradient descent's step() throws. A gradient or parameter that is not a CPU, dense,
// contiguous tensor of the parameter's dtype and shape, a parameter whose storage moved (set_data) or a
// group whose tensors changed (add_parameters): InvalidArgument naming the tensor, nothing changed.
//
// L-BFGS is not a registry rule: step(closure) here calls the closure once, as for every first-order
// rule. For L-BFGS use TorchLBFGS (below).
class TorchOptimizer final : public torch::optim::Optimizer {
 public:
  using NamedTensors = torch::OrderedDict<std::string, at::Tensor>;

  // One group of these parameters with these options; the options also serve as the defaults.
  TorchOptimizer(const NamedTensors& named_parameters, const TorchOptions& options);
  TorchOptimizer(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
                 const TorchOptions& options);
  ~TorchOptimizer() override;
  TorchOptimizer(TorchOptimizer&&) = delete;  // the torch param groups point into the descent optimizer

  // Adds a group of named parameters with their own options (of the same kind as the first group's:
  // a descent optimizer runs one rule). Checks every tensor and name first; throws InvalidArgument naming
  // the tensor, adding nothing.
  void add_param_group(const NamedTensors& named_parameters, const TorchOptions& options);
  void add_param_group(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
                       const TorchOptions& options);
  using torch::optim::Optimizer::add_param_group;

  at::Tensor step(LossClosure closure = nullptr) override;

  // The descent optimizer underneath: for descent's schedules (descent::CosineAnnealingLR(opt.descent_optimizer(),
  // ...)), set_num_threads(), set_nonfinite_policy(), step_count(), ...
  descent::Optimizer& descent_optimizer() noexcept { return *inner_; }
  const descent::Optimizer& descent_optimizer() const noexcept { return *inner_; }

  // The tensor that holds a parameter's slot ("exp_avg", "momentum_buffer", ...): the optimizer's live
  // state, in the slot's dtype and shape. Undefined until the slot is created (the first step that uses
  // it, or a load). Throws NotFound for an unknown parameter or slot.
  at::Tensor state_tensor(std::string_view param, std::string_view slot) const;

  // descent's name-keyed checkpoints (docs/checkpoint-format.md): the descent optimizer's state_dict(),
  // whose slot tensors are read from the torch state tensors, and load_state_dict(), which checks
  // everything first and then writes into them (and, for "param/" tensors, into the parameters).
  StateDict state_dict(bool with_parameters = false) const;
  LoadReport load_state_dict(const StateDict& dict, bool strict = true);
  // save_checkpoint(path, state_dict(with_parameters)) and load_state_dict(load_checkpoint(path), strict).
  void save(const std::filesystem::path& path, bool with_parameters = false) const;
  LoadReport load(const std::filesystem::path& path, bool strict = true);

  // torch's archives are not supported (they would key state by tensor address): these throw Error
  // pointing to save(path) / load(path).
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  struct Entry;  // one parameter: its name, tensor and state tensors

  // Checks the tensors, adds the descent group and binds its state tensors (add_named_group also adds
  // the torch group; a group torch's add_param_group() added has one already).
  void add_named_group(const std::vector<std::pair<std::string, at::Tensor>>& named, const TorchOptions& options);
  void add_descent_group(const std::vector<std::pair<std::string, at::Tensor>>& named, const TorchOptions& options);
  // Takes over groups added through torch's add_param_group and binds every group's options.
  void sync_groups();
  // Binds the torch group's options to the descent group's, copying the torch values in first when they
  // are an unbound copy.
  void bind_options(std::size_t group);

  std::unique_ptr<descent::Optimizer> inner_;  // (inside this class, plain Optimizer is torch's)
  std::vector<std::unique_ptr<Entry>> entries_;  // in the descent optimizer's parameter order
  std::vector<std::vector<std::size_t>> group_entries_;
};

// The options of TorchLBFGS, by torch::optim::LBFGSOptions's names and defaults (set as there:
// TorchLBFGSOptions(0.5).max_iter(10).line_search_fn("strong_wolfe")). max_eval unset means
// max_iter * 5 / 4, fixed when the optimizer is built (as torch does); line_search_fn unset is fixed
// steps of lr, "strong_wolfe" the strong-Wolfe line search. get_lr()/set_lr() are lr, for torch's schedulers.
// Checked at every step() (descent::InvalidArgument naming the option; nothing changes).
struct TorchLBFGSOptions final : public torch::optim::OptimizerCloneableOptions<TorchLBFGSOptions> {
  TorchLBFGSOptions(double lr = 1.0) : lr_(lr) {}  // NOLINT(google-explicit-constructor): as torch's
  TORCH_ARG(double, lr) = 1.0;
  TORCH_ARG(std::int64_t, max_iter) = 20;
  TORCH_ARG(std::optional<std::int64_t>, max_eval) = std::nullopt;
  TORCH_ARG(double, tolerance_grad) = 1e-7;
  TORCH_ARG(double, tolerance_change) = 1e-9;
  TORCH_ARG(std::int64_t, history_size) = 100;
  TORCH_ARG(std::optional<std::string>, line_search_fn) = std::nullopt;

 public:
  double get_lr() const override { return lr_; }
  void set_lr(double lr) override { lr_ = lr; }
};

// L-BFGS as a torch::optim::Optimizer: step(closure) runs one step of descent::LBFGS (descent::minimize:
// torch.optim.LBFGS's algorithm, options and operation order) with the closure as the objective, as
// torch::optim::LBFGS's step(closure) does. The parameters are one flat vector (in their order, as
// torch's _gather_flat_grad): each evaluation writes the point into the parameter tensors, calls the
// closure with grad mode on (it returns the loss and fills .grad, usually after zero_grad()), and reads
// the gradients back (an undefined .grad counts as zeros, as in torch). step() returns the closure's
// first loss and leaves the parameters at the new point. The L-BFGS history (directions, steps, H_diag,
// the previous gradient and loss, the iteration count) carries over from one step() to the next, as torch's does.
//
// float64 only: every parameter must be a CPU, dense, contiguous float64 leaf tensor that requires grad
// (float32: convert the model with .to(torch::kDouble); docs/torch.md says why). One parameter group.
// Costs beyond torch's: the point and the gradient are copied between the tensors and a flat double
// vector at every evaluation (2n doubles), and the entry point is kept (n doubles) to restore on error.
//
// Errors (descent::InvalidArgument naming the tensor or option): a bad parameter at construction (nothing
// is built); at step(), a missing closure, a changed parameter list, a parameter no longer acceptable, an
// invalid option, and nothing changes. A closure that throws, returns something other than one number, or
// leaves a .grad that is not a CPU, dense, contiguous float64 tensor of its parameter's size: in the
// first evaluation of a step nothing changes; later in a step the parameters are put back as they were
// at the step's start and the L-BFGS history is cleared (the next step starts afresh, as a new optimizer).
class TorchLBFGS final : public torch::optim::Optimizer {
 public:
  using NamedTensors = torch::OrderedDict<std::string, at::Tensor>;

  TorchLBFGS(const NamedTensors& named_parameters, const TorchLBFGSOptions& options = {});
  TorchLBFGS(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
             const TorchLBFGSOptions& options = {});
  // Unnamed parameters, as torch::optim::LBFGS takes them; errors call them "param_groups.0.<index>".
  explicit TorchLBFGS(const std::vector<at::Tensor>& parameters, const TorchLBFGSOptions& options = {});
  ~TorchLBFGS() override;
  TorchLBFGS(TorchLBFGS&&) = delete;  // the L-BFGS state refers to its objective, which lives in here

  at::Tensor step(LossClosure closure) override;

  // The state torch keeps as func_evals and n_iter (LBFGSParamState), over all step() calls.
  std::int64_t iterations() const noexcept;
  std::int64_t function_evaluations() const noexcept;

  // torch's archives are not supported: these throw Error.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace descent
