// descent::TorchOptimizer (include/descent/torch.hpp), one of descent::torch's two translation units. It
// includes only the narrow torch headers it needs (no <torch/torch.h>, which costs about a minute a TU).
#include "descent/torch.hpp"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <c10/core/GradMode.h>
#include <c10/core/ScalarType.h>

#include <algorithm>
#include <span>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "tensor_checks.hpp"

namespace descent {

// ---- TorchOptions ----

TorchOptions::TorchOptions(std::string_view optimizer, const std::map<std::string, double>& overrides)
    : own_(make_options(optimizer, overrides)) {}
TorchOptions::TorchOptions(const Options& options) : own_(options.clone()) {}
TorchOptions::TorchOptions(const TorchOptions& other) : own_(other.options().clone()) {}
TorchOptions& TorchOptions::operator=(const TorchOptions& other) {
  if (this != &other) {
    own_ = other.options().clone();
    live_ = nullptr;
  }
  return *this;
}
TorchOptions::~TorchOptions() = default;

TorchOptions& TorchOptions::set(std::string_view name, double value) {
  options().set(name, value);
  return *this;
}
double TorchOptions::get(std::string_view name) const { return options().get(name); }
double TorchOptions::get_lr() const { return options().lr(); }
void TorchOptions::set_lr(double lr) { options().set_lr(lr); }

std::unique_ptr<torch::optim::OptimizerOptions> TorchOptions::clone() const {
  return std::make_unique<TorchOptions>(*this);
}

// ---- TorchOptimizer ----

namespace {

constexpr std::string_view kWho = "descent::TorchOptimizer: ";

at::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return at::kFloat;
    case DType::Float64: return at::kDouble;
    case DType::BFloat16: return at::kBFloat16;
    case DType::Float16: return at::kHalf;
    case DType::UInt8: return at::kByte;
    case DType::Int32: return at::kInt;
    case DType::Int64: return at::kLong;
  }
  throw Error(std::string(kWho) + "unknown state dtype");
}

std::string describe_device(const at::Tensor& t) { return t.device().str(); }

std::vector<std::int64_t> shape_of(const at::Tensor& t) { return {t.sizes().begin(), t.sizes().end()}; }

Parameter make_parameter(const std::string& name, const at::Tensor& t) {
  const auto n = static_cast<std::size_t>(t.numel());
  if (t.scalar_type() == at::kFloat) return Parameter(name, std::span<float>(t.data_ptr<float>(), n), {}, shape_of(t));
  return Parameter(name, std::span<double>(t.data_ptr<double>(), n), {}, shape_of(t));
}

// Marks the tensor as changed in place, as torch's own in-place updates do, so that autograd refuses a
// backward through a graph that saved its old values.
void bump_version(const at::Tensor& t) {
  if (t.defined()) t.unsafeGetTensorImpl()->bump_version();
}

}  // namespace

std::string torch_detail::refusal(const at::Tensor& t, at::ScalarType dtype) {
  if (!t.defined()) return "is an undefined tensor";
  if (!t.device().is_cpu()) return "is on " + describe_device(t) + "; only CPU tensors are supported";
  if (t.is_sparse() || t.layout() != at::kStrided) return "is sparse (not a dense, strided tensor)";
  const at::ScalarType type = t.scalar_type();
  if (dtype == at::ScalarType::Undefined) {
    if (type != at::kFloat && type != at::kDouble) {
      return std::string("has dtype ") + c10::toString(type) + "; only float32 and float64 are supported";
    }
  } else if (type != dtype) {
    return std::string("has dtype ") + c10::toString(type) + ", not its parameter's " + c10::toString(dtype);
  }
  if (!t.is_contiguous()) return "is not contiguous (call .contiguous() on it before handing it over)";
  return "";
}

struct TorchOptimizer::Entry {
  std::string name;
  at::Tensor param;
  const void* data = nullptr;  // the memory the descent parameter views
  std::map<std::string, at::Tensor, std::less<>> slots;
};

TorchOptimizer::TorchOptimizer(const NamedTensors& named_parameters, const TorchOptions& options)
    : TorchOptimizer(std::vector<std::pair<std::string, at::Tensor>>(named_parameters.pairs()), options) {}

TorchOptimizer::TorchOptimizer(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
                               const TorchOptions& options)
    : torch::optim::Optimizer(std::vector<torch::optim::OptimizerParamGroup>{}, options.clone()) {
  add_named_group(named_parameters, options);
}

TorchOptimizer::~TorchOptimizer() = default;

void TorchOptimizer::add_param_group(const NamedTensors& named_parameters, const TorchOptions& options) {
  add_named_group(std::vector<std::pair<std::string, at::Tensor>>(named_parameters.pairs()), options);
}
void TorchOptimizer::add_param_group(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
                                     const TorchOptions& options) {
  add_named_group(named_parameters, options);
}

void TorchOptimizer::add_named_group(const std::vector<std::pair<std::string, at::Tensor>>& named,
                                     const TorchOptions& options) {
  // Groups torch's add_param_group() added come first, so that the descent group indices match torch's.
  if (inner_) sync_groups();
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : named) tensors.push_back(t);
  add_descent_group(named, options);
  torch::optim::Optimizer::add_param_group(torch::optim::OptimizerParamGroup(std::move(tensors), options.clone()));
  // Adding may have copied the earlier groups' options (a vector reallocation): bind them all again.
  for (std::size_t g = 0; g < param_groups_.size(); ++g) bind_options(g);
}

void TorchOptimizer::add_descent_group(const std::vector<std::pair<std::string, at::Tensor>>& named,
                                       const TorchOptions& options) {
  // Check every tensor before anything changes; descent checks names (empty, repeated) and memory.
  if (named.empty()) throw InvalidArgument(std::string(kWho) + "a parameter group needs at least one tensor");
  for (const auto& [name, t] : named) {
    std::string why = torch_detail::refusal(t, at::ScalarType::Undefined);
    if (why.empty() && !t.requires_grad()) why = "does not require grad (nothing would ever update it)";
    if (why.empty() && !t.is_leaf()) why = "is not a leaf tensor (optimize the leaf it was computed from)";
    if (!why.empty()) {
      throw InvalidArgument(std::string(kWho) + "parameter '" + excerpt(name) + "' " + why + "; nothing was changed");
    }
  }
  std::vector<Parameter> params;
  params.reserve(named.size());
  for (const auto& [name, t] : named) params.push_back(make_parameter(name, t));

  if (!inner_) {
    inner_ = make_optimizer(options.options().optimizer(), std::move(params), options.options());
  } else {
    inner_->add_param_group(std::move(params), options.options().clone());
  }
  // From here on the descent group exists: allocate its state tensors and bind them.
  std::vector<std::size_t> members;
  for (const auto& [name, t] : named) {
    auto entry = std::make_unique<Entry>();
    entry->name = name;
    entry->param = t;
    entry->data = t.data_ptr();
    for (const std::string_view slot : inner_->slot_names()) {
      const SlotLayout layout = inner_->state_layout(name, slot);
      at::Tensor memory = at::empty(layout.shape, at::TensorOptions().dtype(scalar_type_of(layout.dtype)));
      const auto elements = static_cast<std::size_t>(memory.numel());
      if (elements == 0) continue;  // nothing to hold; descent keeps the empty slot itself
      // Unused slots (Adam's max_exp_avg_sq without amsgrad) are never written by descent: a large one
      // costs address space, not memory.
      inner_->bind_state(name, slot, memory.data_ptr(), elements, layout.dtype);
      entry->slots.emplace(std::string(slot), std::move(memory));
    }
    members.push_back(entries_.size());
    entries_.push_back(std::move(entry));
  }
  group_entries_.push_back(std::move(members));
}

void TorchOptimizer::bind_options(std::size_t group) {
  auto* options = dynamic_cast<TorchOptions*>(&param_groups_[group].options());
  if (options == nullptr) {
    throw InvalidArgument(std::string(kWho) + "parameter group " + std::to_string(group) +
                          " has options that are not descent::TorchOptions; nothing was changed");
  }
  Options& live = inner_->group(group).options();
  if (options->live_ == &live) return;
  // An unbound copy (torch copied the group, or the options were replaced): its values become the group's.
  const Options& values = *options->own_;
  if (values.optimizer() != live.optimizer()) {
    throw InvalidArgument(std::string(kWho) + "parameter group " + std::to_string(group) + " has options of " +
                          std::string(values.optimizer()) + ", but the optimizer runs " +
                          std::string(live.optimizer()) + "; nothing was changed");
  }
  const std::unique_ptr<Options> trial = live.clone();
  for (const OptionInfo& info : values.info()) trial->set(info.name, values.get(info.name));
  trial->validate();
  for (const OptionInfo& info : values.info()) live.set(info.name, values.get(info.name));
  options->live_ = &live;
}

void TorchOptimizer::sync_groups() {
  if (param_groups_.size() < group_entries_.size()) {
    throw InvalidArgument(std::string(kWho) + "param_groups() lost groups (" + std::to_string(group_entries_.size()) +
                          " expected, " + std::to_string(param_groups_.size()) + " found)");
  }
  // Groups torch's add_param_group() added: named by position.
  while (group_entries_.size() < param_groups_.size()) {
    const std::size_t g = group_entries_.size();
    auto* options = dynamic_cast<TorchOptions*>(&param_groups_[g].options());
    if (options == nullptr) {
      throw InvalidArgument(std::string(kWho) + "parameter group " + std::to_string(g) +
                            " has options that are not descent::TorchOptions");
    }
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (std::size_t i = 0; i < param_groups_[g].params().size(); ++i) {
      named.emplace_back("param_groups." + std::to_string(g) + "." + std::to_string(i), param_groups_[g].params()[i]);
    }
    add_descent_group(named, *options);
  }
  for (std::size_t g = 0; g < param_groups_.size(); ++g) {
    const std::vector<at::Tensor>& tensors = param_groups_[g].params();
    const std::vector<std::size_t>& members = group_entries_[g];
    bool same = tensors.size() == members.size();
    for (std::size_t i = 0; same && i < members.size(); ++i) {
      same = tensors[i].unsafeGetTensorImpl() == entries_[members[i]]->param.unsafeGetTensorImpl();
    }
    if (!same) {
      throw InvalidArgument(std::string(kWho) + "the tensors of parameter group " + std::to_string(g) +
                            " changed since it was added (add_parameters() or an edit of param_groups()); add new "
                            "tensors with add_param_group() instead; nothing was changed");
    }
    bind_options(g);
  }
}

at::Tensor TorchOptimizer::step(LossClosure closure) {
  at::Tensor loss;
  if (closure != nullptr) {
    const at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  sync_groups();
  // Check every parameter and gradient before changing anything.
  for (const auto& entry : entries_) {
    const at::Tensor& p = entry->param;
    std::string why = torch_detail::refusal(p, at::ScalarType::Undefined);
    if (why.empty() && p.data_ptr() != entry->data) {
      why = "moved to other memory since it was added (set_data() or a resize); nothing was changed";
    }
    if (!why.empty()) {
      throw InvalidArgument(std::string(kWho) + "step(): parameter '" + excerpt(entry->name) + "' " + why +
                            "; nothing was changed");
    }
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    why = torch_detail::refusal(g, p.scalar_type());
    if (why.empty() && g.sizes() != p.sizes()) {
      why = "has shape " + shape_text(shape_of(g)) + ", not its parameter's " + shape_text(shape_of(p));
    }
    if (!why.empty()) {
      throw InvalidArgument(std::string(kWho) + "step(): the gradient of '" + excerpt(entry->name) + "' " + why +
                            "; nothing was changed");
    }
  }
  for (const auto& entry : entries_) {
    const at::Tensor& g = entry->param.grad();
    const auto n = g.defined() ? static_cast<std::size_t>(g.numel()) : 0;
    if (entry->param.scalar_type() == at::kFloat) {
      inner_->set_grad(entry->name, g.defined() ? std::span<float>(g.data_ptr<float>(), n) : std::span<float>());
    } else {
      inner_->set_grad(entry->name, g.defined() ? std::span<double>(g.data_ptr<double>(), n) : std::span<double>());
    }
  }
  if (inner_->step()) {
    for (const auto& entry : entries_) {
      if (!entry->param.grad().defined()) continue;
      bump_version(entry->param);
      for (const auto& [name, state] : entry->slots) bump_version(state);
    }
  }
  return loss;
}

at::Tensor TorchOptimizer::state_tensor(std::string_view param, std::string_view slot) const {
  if (!inner_->has_state(param, slot)) return {};  // throws NotFound for an unknown name
  for (const auto& entry : entries_) {
    if (entry->name != param) continue;
    const auto it = entry->slots.find(slot);
    if (it != entry->slots.end()) return it->second;
  }
  return {};  // a slot of no elements
}

StateDict TorchOptimizer::state_dict(bool with_parameters) const {
  // Groups added through torch's add_param_group() since the last step are taken over first.
  const_cast<TorchOptimizer*>(this)->sync_groups();
  return inner_->state_dict(with_parameters);
}

LoadReport TorchOptimizer::load_state_dict(const StateDict& dict, bool strict) {
  sync_groups();
  LoadReport report = inner_->load_state_dict(dict, strict);
  for (const auto& entry : entries_) {
    bump_version(entry->param);
    for (const auto& [name, state] : entry->slots) bump_version(state);
  }
  return report;
}

void TorchOptimizer::save(const std::filesystem::path& path, bool with_parameters) const {
  save_checkpoint(path, state_dict(with_parameters));
}

LoadReport TorchOptimizer::load(const std::filesystem::path& path, bool strict) {
  return load_state_dict(load_checkpoint(path), strict);
}

void TorchOptimizer::save(torch::serialize::OutputArchive& archive) const {
  (void)archive;
  throw Error(std::string(kWho) +
              "torch archives (torch::save) are not supported; save(path) writes descent's checkpoint, keyed by "
              "parameter name");
}

void TorchOptimizer::load(torch::serialize::InputArchive& archive) {
  (void)archive;
  throw Error(std::string(kWho) +
              "torch archives (torch::load) are not supported; load(path) reads descent's checkpoint, keyed by "
              "parameter name");
}

}  // namespace descent
