// The optimizer base: parameter groups, state arenas, step() and state access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "descent/aligned_buffer.hpp"
#include "descent/checkpoint.hpp"
#include "descent/detail/exclusive_use.hpp"
#include "descent/error.hpp"
#include "descent/options.hpp"
#include "descent/parameter.hpp"

namespace descent {

namespace detail {
class ThreadPool;
}

// A per-element state slot (e.g. Adam's "exp_avg"): one value per parameter element, stored in the
// parameter's dtype, created the first time a step needs it and filled with `initial`.
struct SlotSpec {
  std::string_view name;
  double initial;
};

// A per-parameter scalar state (e.g. NAdam's "mu_product"), always kept in double.
struct ScalarSlotSpec {
  std::string_view name;
  double initial;
};

// What step() does when a gradient holds a NaN or an infinity.
enum class NonFinitePolicy : std::uint8_t {
  Raise,      // throw InvalidArgument naming the parameter, element and value; nothing changes (the default)
  Skip,       // skip the whole step: parameters, state and step counts untouched; counted in skipped_steps()
  Propagate,  // no check: the value flows into the parameter and state, as in PyTorch (the fastest)
};

class ParamGroup {
 public:
  ParamGroup(const ParamGroup&) = delete;
  ParamGroup& operator=(const ParamGroup&) = delete;

  Options& options() noexcept { return *options_; }
  const Options& options() const noexcept { return *options_; }
  // Positions of this group's parameters in Optimizer::parameters().
  std::span<const std::size_t> members() const noexcept { return members_; }

 private:
  friend class Optimizer;
  ParamGroup() = default;
  std::unique_ptr<Options> options_;
  std::vector<std::size_t> members_;
};

// Not thread-safe: use an optimizer from one thread at a time (step() runs its own worker threads).
// step(), zero_grad(), set_num_threads() and add_param_group() called while another of them runs on the
// same optimizer throw Error and change nothing, instead of racing or hanging.
class Optimizer {
 public:
  virtual ~Optimizer();

  // "Adam", "SGD", ...: the name the options of this optimizer carry.
  std::string_view name() const noexcept { return name_; }

  // Applies one update to every parameter that has a gradient, using its group's options, and returns
  // true; returns false when the step was skipped for a non-finite gradient (NonFinitePolicy::Skip).
  // Checks everything first (option rules, at least one gradient, finite gradients unless the policy is
  // Propagate), so a throwing step changes nothing.
  bool step();

  // What step() does with a NaN or infinite gradient; Raise by default. The check reads every gradient
  // once more (about 4 bytes per float parameter against Adam's 28 of the update itself).
  void set_nonfinite_policy(NonFinitePolicy policy) noexcept { nonfinite_ = policy; }
  NonFinitePolicy nonfinite_policy() const noexcept { return nonfinite_; }
  // Steps skipped under NonFinitePolicy::Skip since construction (saved in checkpoints).
  std::int64_t skipped_steps() const noexcept { return skipped_steps_; }

  // Sets every gradient to zero (the memory stays the caller's).
  void zero_grad();

  // Threads that step() uses (counting the caller); 0 means one per core of the machine, the default.
  // Results are bitwise the same for any number of threads. More than 1024 threads: InvalidArgument.
  void set_num_threads(std::size_t threads);
  std::size_t num_threads() const noexcept { return threads_; }

  // Adds a group. Throws InvalidArgument, adding nothing, for an empty group, a name already used,
  // memory shared with another parameter, or options of another optimizer.
  void add_param_group(std::vector<Parameter> params, std::unique_ptr<Options> options);
  // Adds a group with a copy of the optimizer's default options.
  void add_param_group(std::vector<Parameter> params);

  std::size_t num_groups() const noexcept { return groups_.size(); }
  ParamGroup& group(std::size_t index);
  const ParamGroup& group(std::size_t index) const;
  const Options& defaults() const noexcept { return *defaults_; }

  std::size_t num_parameters() const noexcept { return records_.size(); }
  const Parameter& parameter(std::size_t index) const;
  const Parameter& parameter(std::string_view name) const;
  // Attaches (or, with an empty span, detaches) a parameter's gradient; its length and dtype must match.
  void set_grad(std::string_view name, std::span<float> grad);
  void set_grad(std::string_view name, std::span<double> grad);

  // Names of the per-element and per-parameter scalar state slots this optimizer can create.
  std::vector<std::string_view> slot_names() const;
  std::vector<std::string_view> scalar_slot_names() const;

  // Number of steps this parameter has taken (steps it had a gradient for).
  std::int64_t step_count(std::string_view param) const;
  // Whether the slot exists yet for this parameter (e.g. "max_exp_avg_sq" only once amsgrad ran).
  bool has_state(std::string_view param, std::string_view slot) const;
  // A slot's values for one parameter: T must be the parameter's dtype. Throws NotFound for an
  // unknown name or a slot not created yet. The span is valid until the next add_param_group().
  template <class T>
  std::span<const T> state(std::string_view param, std::string_view slot) const {
    const auto [data, size] = slot_view(param, slot, dtype_of<T>());
    return {static_cast<const T*>(data), size};
  }
  template <class T>
  std::span<T> mutable_state(std::string_view param, std::string_view slot) {
    const auto [data, size] = slot_view(param, slot, dtype_of<T>());
    return {static_cast<T*>(const_cast<void*>(data)), size};
  }
  double scalar_state(std::string_view param, std::string_view slot) const;

  // The optimizer's whole state, keyed by parameter name (docs/checkpoint-format.md):
  //   tensor "state/<param>/step" (I64), "state/<param>/<scalar slot>" (F64), "state/<param>/<slot>" (the
  //   parameter's dtype and shape) for each slot created so far, and with `with_parameters` also
  //   "param/<param>", the parameter's values; metadata "optimizer" (the kind), "groups" (each group's
  //   parameter names and options, as JSON) and "skipped_steps".
  StateDict state_dict(bool with_parameters = false) const;

  // Restores what state_dict() saved, matching parameters by name; "param/" tensors, when present, are
  // copied into the parameters' memory. Strict (the default): every parameter, slot and option must match
  // exactly, both ways. Non-strict: entries the optimizer has no use for are ignored and parameters the
  // dictionary lacks keep their state; both are listed in the report. In both modes, a dictionary of
  // another optimizer, a mis-shaped or mistyped tensor or an option value out of range is an error.
  // Checks everything first and throws one InvalidArgument listing every problem; a throwing load
  // changes nothing.
  LoadReport load_state_dict(const StateDict& dict, bool strict = true);

 protected:
  // Moves exist only between optimizers of the same type (the final classes' own moves): moving an SGD
  // into an Adam through Optimizer& would pair Adam's update with SGD's state. A moved-from optimizer
  // may only be destroyed or assigned to.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) noexcept;
  Optimizer& operator=(Optimizer&&) noexcept;

  // What a derived optimizer's update() sees of one parameter.
  struct Record {
    Parameter param;
    std::size_t group = 0;
    std::size_t offset = 0;          // byte offset of this parameter's region in every slot arena
    std::int64_t step = 0;           // steps taken, including the one being applied
    std::uint32_t slots_ready = 0;   // bit s: slot s has been created for this parameter
    std::vector<double> scalars;     // one per scalar slot
  };

  Optimizer(std::string_view name, std::span<const SlotSpec> slots, std::span<const ScalarSlotSpec> scalar_slots,
            std::unique_ptr<Options> defaults);

  // Must be called by the derived constructor (after the base is built) with the first group.
  void init(std::vector<Parameter> params);

  // One parameter's update, runnable on any sub-range of its elements: the engine cuts [0, size) into
  // fixed chunks and runs them on its threads. `run` may touch only the elements of its range.
  struct Task {
    std::function<void(std::size_t begin, std::size_t end)> run;
    std::size_t size;
  };

  // The update rule: appends one task per record (the parameters of one group that have a gradient;
  // their step counts already include this step). Runs before any task, on the calling thread, so it
  // may create slots and compute per-step scalars; LARS and LAMB first run parallel_sum() for norms.
  virtual void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) = 0;

  // For each record, the sum of fn(record index, begin, end) over fixed chunks of its elements, computed
  // in parallel and added in chunk order: the same result for any number of threads.
  std::vector<double> parallel_sum(std::span<Record* const> records,
                                   const std::function<double(std::size_t record, std::size_t begin, std::size_t end)>& fn);
  // Bit s set: the update with these options uses slot s. Its arena is allocated before any update runs.
  virtual std::uint32_t slots_needed(const Options& options) const = 0;

  // The record's region of slot `slot`, created and filled with its initial value on first use;
  // `created` (if given) tells whether that happened now (SGD's first momentum step differs).
  template <class T>
  T* slot(Record& record, std::size_t slot, bool* created = nullptr) {
    return static_cast<T*>(slot_data(record, slot, created));
  }

 private:
  struct Chunk {
    std::size_t item, begin, end;
  };
  // Cuts items of the given sizes into chunks of at most kChunk elements, in order.
  static std::vector<Chunk> chunks_of(std::span<const std::size_t> sizes);
  // Runs fn(chunk) for every chunk, on the pool when there is enough work.
  void run_chunks(std::span<const Chunk> chunks, std::size_t elements, const std::function<void(const Chunk&)>& fn);
  void* slot_data(Record& record, std::size_t slot, bool* created);
  std::pair<const void*, std::size_t> slot_view(std::string_view param, std::string_view slot, DType dtype) const;
  // Throws (Raise) or returns false (Skip) when a gradient of the parameters about to step is not finite.
  bool gradients_finite();
  const Record& record(std::string_view name) const;
  Record& record(std::string_view name);
  std::size_t slot_index(std::string_view slot) const;

  std::string_view name_;
  std::span<const SlotSpec> slots_;
  std::span<const ScalarSlotSpec> scalar_slots_;
  std::unique_ptr<Options> defaults_;
  std::vector<std::unique_ptr<ParamGroup>> groups_;
  std::vector<Record> records_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::vector<AlignedBuffer> arenas_;  // one per slot, empty until first needed
  std::size_t layout_bytes_ = 0;       // bytes of every arena once allocated
  std::size_t threads_;
  NonFinitePolicy nonfinite_ = NonFinitePolicy::Raise;
  std::int64_t skipped_steps_ = 0;
  std::unique_ptr<detail::ThreadPool> pool_;  // created by the first step with enough work
  detail::InUseFlag in_use_;                  // refuses a second thread's call while one runs
};

// Typed access to the options of an optimizer whose groups all hold OptionsT.
template <class OptionsT>
class OptimizerWith : public Optimizer {
 public:
  OptionsT& options(std::size_t group_index = 0) { return static_cast<OptionsT&>(group(group_index).options()); }
  const OptionsT& options(std::size_t group_index = 0) const {
    return static_cast<const OptionsT&>(group(group_index).options());
  }
  using Optimizer::add_param_group;
  void add_param_group(std::vector<Parameter> params, const OptionsT& options) {
    Optimizer::add_param_group(std::move(params), options.clone());
  }

 protected:
  OptimizerWith(std::span<const SlotSpec> slots, std::span<const ScalarSlotSpec> scalar_slots,
                std::vector<Parameter> params, const OptionsT& defaults)
      : Optimizer(defaults.optimizer(), slots, scalar_slots, defaults.clone()) {
    init(std::move(params));
  }
};

}  // namespace descent
