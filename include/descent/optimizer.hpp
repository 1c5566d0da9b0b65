// The optimizer base: parameter groups, state of any shape and dtype (in the optimizer's arenas or in
// memory the caller owns), step() through the engine, state access, and composition (Composite runs a
// different rule per group; a wrapper such as EMA changes how the parameters are presented around any
// base optimizer). docs/architecture.md describes the model.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
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
class Engine;
}

// What loaded values of a slot must satisfy: load_state_dict() refuses a checkpoint that breaks it
// (a negative second moment, a NaN momentum), naming the tensor, the element and the value.
enum class SlotCheck : std::uint8_t {
  Finite,       // every value finite (first moments, momentum buffers)
  NonNegative,  // finite and >= 0 (second moments, accumulated squares)
  Positive,     // finite and > 0 (NAdam's product of momentum coefficients)
  Any,          // not checked (codes, indices)
};

// The most steps (and skipped steps) a parameter may take: checkpoints hold counts up to 2^53, where a
// double still counts exactly; step() refuses to go past it.
inline constexpr std::int64_t kMaxStepCount = std::int64_t{1} << 53;

// A slot's shape and element type for one parameter.
struct SlotLayout {
  std::vector<std::int64_t> shape;  // empty: one value (a scalar)
  DType dtype = DType::Float32;
  friend bool operator==(const SlotLayout&, const SlotLayout&) = default;
};

// A state slot (e.g. Adam's "exp_avg"), created the first time a step needs it and filled with
// `initial`. By default it holds one value per parameter element in the parameter's shape and dtype, as
// PyTorch keeps state; `layout` gives it a shape and dtype of its own instead (Adafactor's row and
// column factors, one [d, d] matrix per dimension, a value per block, bfloat16 or uint8 codes),
// computed from the parameter and its group's options when the parameter is added.
struct SlotSpec {
  std::string_view name;
  double initial = 0.0;
  SlotLayout (*layout)(const Parameter& param, const Options& options) = nullptr;
  SlotCheck check = SlotCheck::Finite;
};

// A per-parameter scalar state (e.g. NAdam's "mu_product"), always kept in double.
struct ScalarSlotSpec {
  std::string_view name;
  double initial = 0.0;
  SlotCheck check = SlotCheck::Finite;
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
  // The update rule this group runs ("Adam", "LARS", ...): its options' kind.
  std::string_view rule() const noexcept { return options_->optimizer(); }

 private:
  friend class Optimizer;
  ParamGroup() = default;
  std::unique_ptr<Options> options_;
  std::vector<std::size_t> members_;
  std::size_t rule_ = 0;  // index of the part that runs this group (0 for a plain optimizer)
};

// Not thread-safe: use an optimizer from one thread at a time (step() runs its own worker threads).
// step(), zero_grad(), set_num_threads(), add_param_group(), bind_state() and load_state_dict() called
// while another of them runs on the same optimizer throw Error and change nothing, instead of racing or
// hanging.
class Optimizer {
 public:
  virtual ~Optimizer();

  // "Adam", "SGD", ..., "Composite", "EMA": the kind saved in checkpoints.
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
  std::size_t num_threads() const noexcept;

  // Adds a group. Throws InvalidArgument, adding nothing, for an empty group, a name already used,
  // memory shared with another parameter, or options of another optimizer (in a Composite: of a kind
  // none of its parts runs).
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
  void set_grad(std::string_view name, std::span<bfloat16> grad);

  // Names of the state slots and per-parameter scalar slots of this optimizer's rule (in a Composite or
  // wrapper: of every part, each name once, then the wrapper's).
  std::vector<std::string_view> slot_names() const;
  std::vector<std::string_view> scalar_slot_names() const;
  // Names of the slots a step of group `group` uses with its current options: those of the rule that the
  // options call for (Adam's max_exp_avg_sq only with amsgrad) and that hold values for one of its
  // parameters at least (kahan_compensation: bfloat16 ones), then a wrapper's. A step allocates exactly
  // these; the Python adapters give torch exactly these tensors. NotFound for a group that does not exist.
  std::vector<std::string_view> slots_in_use(std::size_t group) const;

  // Number of steps this parameter has taken (steps it had a gradient for).
  std::int64_t step_count(std::string_view param) const;
  // Whether the slot exists yet for this parameter (e.g. "max_exp_avg_sq" only once amsgrad ran).
  bool has_state(std::string_view param, std::string_view slot) const;
  // The shape and dtype the slot has for this parameter (whether created yet or not).
  SlotLayout state_layout(std::string_view param, std::string_view slot) const;
  // A slot's values for one parameter: T must be the slot's dtype (the parameter's unless the slot
  // declares its own). Throws NotFound for an unknown name or a slot not created yet. The span is valid
  // until the next add_param_group() or bind_state() of that slot.
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
  // Set a parameter's step count, or one of its scalar states, for a caller that keeps them itself (the
  // torch adapters keep "step" in torch's own state). The count must be in [0, kMaxStepCount] and the
  // value must pass its slot's check (finite, >= 0 ...); slots are left as they are. Throws
  // InvalidArgument or NotFound naming the parameter and the value, changing nothing.
  void set_step_count(std::string_view param, std::int64_t step);
  void set_scalar_state(std::string_view param, std::string_view slot, double value);

  // Hands the optimizer memory the caller owns (a torch tensor, a shard of a distributed buffer) to hold
  // one parameter's slot instead of the optimizer's own arena. The memory must have exactly the slot's
  // element count (state_layout) and dtype, be aligned to its element size, and share no byte with any
  // parameter, gradient or other bound slot; the caller keeps it alive and in place while the optimizer
  // uses it. With `holds_state` the memory already holds the slot's state (e.g. loaded by the caller)
  // and the slot counts as created; without it, the slot's state so far (if created) is copied into it,
  // else the first step that uses it fills it with the initial value. Binding again replaces the
  // previous memory. A slot with no elements for this parameter needs no memory: binding it does
  // nothing. Throws InvalidArgument naming the parameter, the slot and the mismatch, changing nothing.
  void bind_state(std::string_view param, std::string_view slot, void* data, std::size_t elements, DType dtype,
                  bool holds_state = false);
  template <class T>
  void bind_state(std::string_view param, std::string_view slot, std::span<T> memory, bool holds_state = false) {
    bind_state(param, slot, memory.data(), memory.size(), dtype_of<T>(), holds_state);
  }
  // Whether the slot lives in memory the caller bound.
  bool is_bound(std::string_view param, std::string_view slot) const;

  // The optimizer's whole state, keyed by parameter name (docs/checkpoint-format.md):
  //   tensor "state/<param>/step" (I64), "state/<param>/<scalar slot>" (F64), "state/<param>/<slot>" (the
  //   slot's dtype and shape) for each slot created so far, and with `with_parameters` also
  //   "param/<param>", the parameter's values; metadata "optimizer" (the kind), "groups" (each group's
  //   parameter names and options, as JSON, and in a Composite or wrapper its rule) and "skipped_steps".
  StateDict state_dict(bool with_parameters = false) const;

  // Restores what state_dict() saved, matching parameters by name; "param/" tensors, when present, are
  // copied into the parameters' memory. Strict (the default): every parameter, slot and option must match
  // exactly, both ways. Non-strict: entries the optimizer has no use for are ignored and parameters the
  // dictionary lacks keep their state; both are listed in the report. In both modes, a dictionary of
  // another optimizer, a mis-shaped or mistyped tensor, a value that breaks its slot's invariant (a
  // negative second moment, a NaN) or an option value out of range is an error. Checks everything first
  // and throws one InvalidArgument listing every problem; a throwing load changes nothing.
  LoadReport load_state_dict(const StateDict& dict, bool strict = true);

 protected:
  // Moves exist only between optimizers of the same type (the final classes' own moves): moving an SGD
  // into an Adam through Optimizer& would pair Adam's update with SGD's state. A moved-from optimizer
  // may only be destroyed or assigned to.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) noexcept;
  Optimizer& operator=(Optimizer&&) noexcept;

  // Where one slot of one parameter lives.
  struct SlotPlace {
    SlotLayout layout;
    std::size_t elements = 0;
    std::size_t offset = 0;          // byte offset in the slot's arena
    AlignedBuffer* arena = nullptr;  // the optimizer's arena for this rule and slot
    void* external = nullptr;        // memory the caller bound (bind_state), else null
    bool ready = false;              // created: filled with its initial value, loaded or bound with state
  };

  // What a derived optimizer's update() sees of one parameter.
  struct Record {
    Parameter param;
    std::size_t group = 0;
    std::int64_t step = 0;         // steps taken, including the one being applied
    std::vector<double> scalars;   // one per scalar slot of its rule
    std::vector<SlotPlace> slots;  // one per slot of its rule, then one per slot of a wrapper
  };

  Optimizer(std::string_view name, std::span<const SlotSpec> slots, std::span<const ScalarSlotSpec> scalar_slots,
            std::unique_ptr<Options> defaults);
  // A Composite or wrapper: takes over every parameter, group and state of `parts`, in order (a part that
  // is itself a Composite gives up its own parts instead; a wrapper cannot be a part). `wrapper_slots`
  // are slots the wrapper keeps for every parameter beside the rules' (an EMA's average).
  Optimizer(std::string_view name, std::vector<std::unique_ptr<Optimizer>> parts,
            std::span<const SlotSpec> wrapper_slots);

  // Must be called by the derived constructor (after the base is built) with the first group.
  void init(std::vector<Parameter> params);

  // One parameter's work. An element-range task (the default) is runnable on any sub-range of its
  // elements: the engine cuts [0, size) into fixed chunks and runs them on its threads, and `run` may
  // touch only the elements of its range. A whole-tensor task (`whole`) runs once as run(0, size), on
  // one thread, beside the others: matrix products, decompositions, row and column reductions.
  struct Task {
    std::function<void(std::size_t begin, std::size_t end)> run;
    std::size_t size;
    bool whole = false;
  };

  // The update rule: appends its tasks for the records (the parameters of one group that have a
  // gradient; their step counts already include this step). Runs before any task, on the calling thread,
  // so it may create slots and compute per-step scalars; LARS and LAMB first run parallel_sum() for norms.
  virtual void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) = 0;
  // Bit s set: the update with these options uses slot s. Its arena is allocated before any update runs.
  virtual std::uint32_t slots_needed(const Options& options) const = 0;

  // A wrapper's work around its parts' step: check_step runs first (a throw changes nothing); before_step
  // once every check passed, before the parts plan; after_step once their tasks are done. `records` are
  // the ones that step (they have a gradient), their step counts already including this step.
  virtual void check_step() const {}
  virtual void before_step(std::span<Record* const> records) { (void)records; }
  virtual void after_step(std::span<Record* const> records) { (void)records; }
  // A wrapper's own metadata: save_extra adds it to state_dict(); load_extra checks a dictionary's
  // (throwing InvalidArgument, having changed nothing) and returns what commits it.
  virtual void save_extra(StateDict& dict) const { (void)dict; }
  virtual std::function<void()> load_extra(const StateDict& dict) {
    (void)dict;
    return [] {};
  }

  // For each record, the sum of fn(record index, begin, end) over fixed chunks of its elements, computed
  // in parallel and added in chunk order: the same result for any number of threads.
  std::vector<double> parallel_sum(std::span<Record* const> records,
                                   const std::function<double(std::size_t record, std::size_t begin, std::size_t end)>& fn);
  // Runs tasks now, on the engine's threads (for a plan() that needs one phase done before the next).
  void run_tasks(std::span<const Task> tasks);

  // The record's region of slot `slot` (an index into its rule's slots, then the wrapper's), created and
  // filled with its initial value on first use; `created` (if given) tells whether that happened now
  // (SGD's first momentum step differs). T must be the slot's dtype.
  template <class T>
  T* slot(Record& record, std::size_t slot, bool* created = nullptr) {
    return static_cast<T*>(slot_data(record, slot, created, dtype_of<T>()));
  }
  // The records of every parameter, for a wrapper's own work (e.g. swapping in its averages).
  std::span<Record> records() noexcept { return records_; }
  // Holds this optimizer's in-use flag for a wrapper's own call (use_average): a second thread's call throws.
  [[nodiscard]] detail::ExclusiveUse exclusive_use(std::string_view call) { return detail::ExclusiveUse(in_use_, name_, call); }
  // Index of the first wrapper slot in a record's slots.
  std::size_t wrapper_slot_base(const Record& record) const;

 private:
  // The optimizer that runs group g's rule: this one, or its part.
  Optimizer& rule_of(std::size_t group);
  const Optimizer& rule_of(std::size_t group) const;
  const SlotSpec& spec_of(const Record& record, std::size_t slot) const;
  void* slot_data(Record& record, std::size_t slot, bool* created, DType dtype);
  static void* slot_address(const SlotPlace& place);
  std::pair<const void*, std::size_t> slot_view(std::string_view param, std::string_view slot, DType dtype) const;
  // Throws (Raise) or returns false (Skip) when a gradient of the parameters about to step is not finite.
  bool gradients_finite();
  const Record& record(std::string_view name) const;
  Record& record(std::string_view name);
  // The slot's index in the record's slots; NotFound listing the known ones.
  std::size_t slot_index(const Record& record, std::string_view slot) const;
  // Lays out the record's slots (layouts, offsets in the arenas of its rule) with its group's options.
  void lay_out(Record& record, std::size_t rule, const Options& options);
  // Lays out the wrapper's slots of a record, after its rule's.
  void lay_out_wrapper(Record& record, const Options& options);
  // Where slot `slot` of arena set `arena_index` (a rule's, or the wrapper's last) puts this record.
  SlotPlace place_slot(const Record& record, const SlotSpec& spec, const Options& options, std::size_t arena_index,
                       std::size_t slot);
  std::unique_ptr<AlignedBuffer>& arena(std::size_t rule, std::size_t slot);
  // Every byte range a parameter, gradient or bound slot occupies, named.
  using Extent = std::tuple<std::uintptr_t, std::uintptr_t, std::string>;
  // Values (and, with_grads, gradients) of every parameter, and every bound slot but `skip`.
  std::vector<Extent> memory_extents(bool with_grads, const SlotPlace* skip = nullptr) const;
  // Throws InvalidArgument (prefixed with `where`) when two of the ranges overlap.
  static void check_disjoint(const std::string& where, std::vector<Extent> extents);

  std::string_view name_;
  std::span<const SlotSpec> slots_;
  std::span<const ScalarSlotSpec> scalar_slots_;
  std::span<const SlotSpec> wrapper_slots_;
  std::vector<std::unique_ptr<Optimizer>> parts_;  // the rules of a Composite or wrapper; empty otherwise
  std::unique_ptr<Options> defaults_;
  std::vector<std::unique_ptr<ParamGroup>> groups_;
  std::vector<Record> records_;
  std::unordered_map<std::string, std::size_t> by_name_;
  // arenas_[rule][slot], allocated when a step first needs it; records point at these objects, so they
  // are held by pointer and never move. arena_bytes_ holds the bytes each needs for every record.
  std::vector<std::vector<std::unique_ptr<AlignedBuffer>>> arenas_;
  std::vector<std::vector<std::size_t>> arena_bytes_;
  NonFinitePolicy nonfinite_ = NonFinitePolicy::Raise;
  std::int64_t skipped_steps_ = 0;
  std::shared_ptr<detail::Engine> engine_;  // shared with the parts of a Composite or wrapper
  detail::InUseFlag in_use_;  // refuses a second thread's call while one runs
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
