#include "descent/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "engine/engine.hpp"
#include "engine/thread_pool.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace {

constexpr std::size_t round_up(std::size_t bytes, std::size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

// Fills n elements of any storage type with `value` (rounded to nearest even for bfloat16).
void fill(void* data, std::size_t n, DType dtype, double value) {
  visit_any_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T v;
    if constexpr (std::is_same_v<T, bfloat16>) v = to_bfloat16(static_cast<float>(value));
    else if constexpr (std::is_same_v<T, float16>) {
      if (value != 0.0) throw Error("internal: a float16 slot can only start at 0");
      v = float16{0};
    }
    else v = static_cast<T>(value);
    std::fill_n(static_cast<T*>(data), n, v);
  });
}

// An exponent of all ones is an infinity or a NaN, as in float32.
bool all_finite_bfloat16(const bfloat16* x, std::size_t n) {
  bool finite = true;
  for (std::size_t i = 0; i < n; ++i) finite &= (x[i].bits & 0x7f80u) != 0x7f80u;
  return finite;
}

}  // namespace

Optimizer::Optimizer(std::string_view name, std::span<const SlotSpec> slots,
                     std::span<const ScalarSlotSpec> scalar_slots, std::unique_ptr<Options> defaults)
    : name_(name),
      slots_(slots),
      scalar_slots_(scalar_slots),
      defaults_(std::move(defaults)),
      engine_(std::make_shared<detail::Engine>()) {
  if (slots.size() > 32) throw Error("internal: at most 32 state slots");
  arenas_.resize(2);  // this rule's slots, then a wrapper's (none)
  for (std::size_t s = 0; s < slots.size(); ++s) arenas_[0].push_back(std::make_unique<AlignedBuffer>());
  arena_bytes_ = {std::vector<std::size_t>(slots.size(), 0), {}};
  defaults_->validate();
}

Optimizer::Optimizer(std::string_view name, std::vector<std::unique_ptr<Optimizer>> parts,
                     std::span<const SlotSpec> wrapper_slots)
    : name_(name),
      wrapper_slots_(wrapper_slots),
      engine_(std::make_shared<detail::Engine>()) {
  const std::string where = std::string(name);
  if (parts.empty()) throw InvalidArgument(where + ": no optimizer given");
  // Every check first, so that a refusal leaves each part whole.
  std::unordered_map<std::string_view, std::size_t> names;
  std::vector<Extent> extents;
  for (const auto& p : parts) {
    if (!p) throw InvalidArgument(where + ": a part is null");
    if (!p->defaults_) throw InvalidArgument(where + ": a part was moved from");
    if (!p->wrapper_slots_.empty()) {
      throw InvalidArgument(where + ": " + std::string(p->name_) + " cannot be a part (a wrapper goes around, not inside)");
    }
    for (const Record& r : p->records_) {
      if (!names.emplace(r.param.name(), 0).second) {
        throw InvalidArgument(where + ": two parts hold a parameter named '" + excerpt(r.param.name()) + "'");
      }
      if (r.param.dtype() == DType::BFloat16 && !wrapper_slots.empty()) {
        throw InvalidArgument(where + ": '" + excerpt(r.param.name()) +
                              "' is bfloat16, and this wrapper keeps its own state in the parameters' dtype: it "
                              "takes float32 or float64 parameters only");
      }
    }
    for (Extent& e : p->memory_extents(/*with_grads=*/false)) extents.push_back(std::move(e));
  }
  check_disjoint(where + ": parameters", std::move(extents));

  for (auto& p : parts) {
    const std::size_t rule_base = parts_.size();
    const std::size_t group_base = groups_.size();
    const std::size_t record_base = records_.size();
    std::vector<std::unique_ptr<Optimizer>> rules;
    if (p->parts_.empty()) {
      arenas_.push_back(std::move(p->arenas_[0]));
      arena_bytes_.push_back(p->arena_bytes_[0]);
    } else {
      rules = std::move(p->parts_);
      for (std::size_t r = 0; r < rules.size(); ++r) {
        arenas_.push_back(std::move(p->arenas_[r]));
        arena_bytes_.push_back(p->arena_bytes_[r]);
      }
    }
    skipped_steps_ += p->skipped_steps_;
    for (auto& g : p->groups_) {
      g->rule_ += rule_base;
      for (std::size_t& m : g->members_) m += record_base;
      groups_.push_back(std::move(g));
    }
    for (Record& r : p->records_) {
      r.group += group_base;
      records_.push_back(std::move(r));
    }
    p->groups_.clear();
    p->records_.clear();
    p->by_name_.clear();
    p->arena_bytes_.assign(2, {});
    if (!defaults_) defaults_ = p->defaults_->clone();
    if (rules.empty()) {
      p->arenas_.clear();
      p->arenas_.resize(2);
      parts_.push_back(std::move(p));
    } else {
      for (auto& r : rules) parts_.push_back(std::move(r));
    }
  }
  for (auto& p : parts_) p->engine_ = engine_;
  arenas_.emplace_back();  // the wrapper's slots
  arena_bytes_.emplace_back(wrapper_slots.size(), 0);
  for (std::size_t s = 0; s < wrapper_slots.size(); ++s) arenas_.back().push_back(std::make_unique<AlignedBuffer>());
  for (std::size_t i = 0; i < records_.size(); ++i) {
    by_name_.emplace(records_[i].param.name(), i);
    lay_out_wrapper(records_[i], groups_[records_[i].group]->options());
  }
}

Optimizer::~Optimizer() = default;
Optimizer::Optimizer(Optimizer&&) noexcept = default;
Optimizer& Optimizer::operator=(Optimizer&&) noexcept = default;

void Optimizer::init(std::vector<Parameter> params) { add_param_group(std::move(params)); }

void Optimizer::set_num_threads(std::size_t threads) {
  const detail::ExclusiveUse use(in_use_, name_, "set_num_threads()");
  detail::checked_thread_count(threads, std::string(name_) + ": set_num_threads()");
  engine_->set_threads(threads);
}
std::size_t Optimizer::num_threads() const noexcept { return engine_->threads(); }

Optimizer& Optimizer::rule_of(std::size_t group) {
  return parts_.empty() ? *this : *parts_[groups_[group]->rule_];
}
const Optimizer& Optimizer::rule_of(std::size_t group) const {
  return parts_.empty() ? *this : *parts_[groups_[group]->rule_];
}

std::size_t Optimizer::wrapper_slot_base(const Record& record) const {
  return record.slots.size() - wrapper_slots_.size();
}

const SlotSpec& Optimizer::spec_of(const Record& record, std::size_t slot) const {
  const std::size_t base = wrapper_slot_base(record);
  if (slot >= base) return wrapper_slots_[slot - base];
  return rule_of(record.group).slots_[slot];
}

std::vector<double> Optimizer::parallel_sum(
    std::span<Record* const> records, const std::function<double(std::size_t, std::size_t, std::size_t)>& fn) {
  std::vector<std::size_t> sizes;
  for (const Record* r : records) sizes.push_back(r->param.size());
  return engine_->sum(sizes, fn);
}

void Optimizer::run_tasks(std::span<const Task> tasks) {
  std::vector<detail::EngineTask> work;
  work.reserve(tasks.size());
  for (const Task& t : tasks) work.push_back({t.run, t.size, t.whole});
  engine_->run(work);
}

std::unique_ptr<AlignedBuffer>& Optimizer::arena(std::size_t rule, std::size_t slot) { return arenas_[rule][slot]; }

Optimizer::SlotPlace Optimizer::place_slot(const Record& record, const SlotSpec& spec, const Options& options,
                                           std::size_t arena_index, std::size_t slot) {
  SlotPlace place;
  place.layout = spec.layout ? spec.layout(record.param, options) : SlotLayout{record.param.shape(), record.param.dtype()};
  std::size_t n = 1;
  for (const std::int64_t d : place.layout.shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<std::size_t>(d), &n)) {
      throw Error("internal: slot '" + std::string(spec.name) + "' of '" + excerpt(record.param.name()) +
                  "' has the shape " + shape_text(place.layout.shape));
    }
  }
  place.elements = n;
  place.offset = arena_bytes_[arena_index][slot];
  place.arena = arenas_[arena_index][slot].get();
  arena_bytes_[arena_index][slot] += round_up(n * size_of(place.layout.dtype), AlignedBuffer::kAlignment);
  return place;
}

void Optimizer::lay_out(Record& record, std::size_t rule, const Options& options) {
  const Optimizer& owner = parts_.empty() ? *this : *parts_[rule];
  record.slots.clear();
  for (std::size_t s = 0; s < owner.slots_.size(); ++s) {
    record.slots.push_back(place_slot(record, owner.slots_[s], options, rule, s));
  }
  record.scalars.clear();
  for (const ScalarSlotSpec& s : owner.scalar_slots_) record.scalars.push_back(s.initial);
  lay_out_wrapper(record, options);
}

void Optimizer::lay_out_wrapper(Record& record, const Options& options) {
  for (std::size_t s = 0; s < wrapper_slots_.size(); ++s) {
    record.slots.push_back(place_slot(record, wrapper_slots_[s], options, arenas_.size() - 1, s));
  }
}

void Optimizer::add_param_group(std::vector<Parameter> params) { add_param_group(std::move(params), defaults_->clone()); }

void Optimizer::add_param_group(std::vector<Parameter> params, std::unique_ptr<Options> options) {
  const detail::ExclusiveUse use(in_use_, name_, "add_param_group()");
  const std::string where = std::string(name_) + ": add_param_group (group " + std::to_string(groups_.size()) + ")";
  if (!options) throw InvalidArgument(where + ": no options given");
  std::size_t rule = 0;
  if (parts_.empty()) {
    if (options->optimizer() != name_) {
      throw InvalidArgument(where + ": options are for " + std::string(options->optimizer()) + ", not " +
                            std::string(name_));
    }
  } else {
    std::string kinds;
    for (rule = 0; rule < parts_.size() && parts_[rule]->name_ != options->optimizer(); ++rule) {
      kinds += (kinds.empty() ? "" : ", ") + std::string(parts_[rule]->name_);
    }
    if (rule == parts_.size()) {
      throw InvalidArgument(where + ": options are for " + std::string(options->optimizer()) +
                            ", which none of its parts runs (" + kinds + ")");
    }
  }
  options->validate();
  if (params.empty()) throw InvalidArgument(where + ": the group has no parameters");
  // A rule takes bfloat16 parameters when its option table says how ("bf16_params"); a wrapper's own
  // slots (an EMA's average) would be kept in bfloat16 and computed in float64, so wrappers refuse them.
  for (const Parameter& p : params) {
    if (p.dtype() != DType::BFloat16) continue;
    if (!options->has("bf16_params") || !wrapper_slots_.empty()) {
      throw InvalidArgument(where + ": '" + excerpt(p.name()) + "' is bfloat16, but " +
                            std::string(wrapper_slots_.empty() ? options->optimizer() : name_) +
                            " takes float32 or float64 parameters only (bfloat16 parameters: Adam and AdamW, "
                            "option bf16_params); nothing was added");
    }
  }

  // Names must be unique across the whole optimizer: state is found by name.
  std::unordered_map<std::string_view, std::size_t> fresh_names;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].name();
    if (by_name_.count(name) || !fresh_names.emplace(name, i).second) {
      throw InvalidArgument(where + ": duplicate parameter name '" + name + "'");
    }
  }

  // No two parameters may share memory: the same tensor in two groups would be updated twice per step.
  // (Nor memory bound to a slot: the optimizer would write it twice.)
  std::vector<Extent> extents = memory_extents(/*with_grads=*/false);
  for (const Parameter& p : params) {
    const auto begin = reinterpret_cast<std::uintptr_t>(p.value_data());
    extents.emplace_back(begin, begin + p.size() * size_of(p.dtype()), "'" + p.name() + "'");
  }
  check_disjoint(where + ": parameters", std::move(extents));

  // Every check passed. Build everything that can throw (allocations, layouts) first, then commit with
  // operations that cannot, so that even an out-of-memory failure adds nothing.
  const auto saved_bytes = arena_bytes_;
  const std::size_t group_index = groups_.size();
  std::unique_ptr<ParamGroup> group(new ParamGroup());
  group->rule_ = rule;
  std::vector<Record> fresh;
  try {
    fresh.reserve(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      group->members_.push_back(records_.size() + i);
      fresh.push_back(Record{std::move(params[i]), group_index, 0, {}, {}});
      lay_out(fresh.back(), rule, *options);
    }
    records_.reserve(records_.size() + fresh.size());
    groups_.reserve(groups_.size() + 1);
    for (std::size_t r = 0; r < arenas_.size(); ++r) {
      for (std::size_t s = 0; s < arenas_[r].size(); ++s) {
        // Growing keeps the contents; a throw leaves them valid (and merely larger).
        if (!arenas_[r][s]->empty()) arenas_[r][s]->resize(arena_bytes_[r][s]);
      }
    }
  } catch (...) {
    arena_bytes_ = saved_bytes;
    throw;
  }
  group->options_ = std::move(options);
  std::size_t named = 0;
  try {
    for (; named < fresh.size(); ++named) by_name_.emplace(fresh[named].param.name(), records_.size() + named);
  } catch (...) {
    for (std::size_t i = 0; i < named; ++i) by_name_.erase(fresh[i].param.name());
    arena_bytes_ = saved_bytes;
    throw;
  }
  for (Record& r : fresh) records_.push_back(std::move(r));  // capacity reserved: cannot throw
  groups_.push_back(std::move(group));
}

void Optimizer::check_disjoint(const std::string& where, std::vector<Extent> extents) {
  std::sort(extents.begin(), extents.end());
  for (std::size_t i = 1; i < extents.size(); ++i) {
    const auto& [begin, end, name] = extents[i];
    const auto& [prev_begin, prev_end, prev_name] = extents[i - 1];
    if (begin < prev_end && begin != end && prev_begin != prev_end) {
      throw InvalidArgument(where + " " + prev_name + " and " + name + " share memory (the same memory in two places?)");
    }
  }
}

std::vector<Optimizer::Extent> Optimizer::memory_extents(bool with_grads, const SlotPlace* skip) const {
  std::vector<Extent> out;
  for (const Record& r : records_) {
    const std::size_t bytes = r.param.size() * size_of(r.param.dtype());
    const auto value = reinterpret_cast<std::uintptr_t>(r.param.value_data());
    out.emplace_back(value, value + bytes, with_grads ? "the value of '" + r.param.name() + "'" : "'" + r.param.name() + "'");
    if (with_grads && r.param.has_grad()) {
      const auto grad = reinterpret_cast<std::uintptr_t>(r.param.grad_data());
      out.emplace_back(grad, grad + bytes, "the gradient of '" + r.param.name() + "'");
    }
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      const SlotPlace& place = r.slots[s];
      if (!place.external || &place == skip) continue;
      const auto begin = reinterpret_cast<std::uintptr_t>(place.external);
      out.emplace_back(begin, begin + place.elements * size_of(place.layout.dtype),
                       "the '" + std::string(spec_of(r, s).name) + "' state of '" + r.param.name() + "'");
    }
  }
  return out;
}

bool Optimizer::gradients_finite() {
  std::vector<const Record*> with_grad;
  std::vector<std::size_t> sizes;
  for (const Record& r : records_) {
    if (!r.param.has_grad()) continue;
    with_grad.push_back(&r);
    sizes.push_back(r.param.size());
  }
  const detail::Engine::Hit hit = engine_->find_first(sizes, [&](std::size_t item, std::size_t begin, std::size_t end) {
    const Parameter& p = with_grad[item]->param;
    if (p.dtype() == DType::BFloat16) return !all_finite_bfloat16(static_cast<const bfloat16*>(p.grad_data()) + begin, end - begin);
    return visit_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return !kernels::all_finite(static_cast<const T*>(p.grad_data()) + begin, end - begin);
    });
  });
  if (hit.item == sizes.size()) return true;
  if (nonfinite_ == NonFinitePolicy::Skip) {
    ++skipped_steps_;
    return false;
  }
  const Record& r = *with_grad[hit.item];
  std::string value;
  std::size_t at = hit.begin;
  if (r.param.dtype() == DType::BFloat16) {
    const bfloat16* g = static_cast<const bfloat16*>(r.param.grad_data());
    while (std::isfinite(to_float(g[at]))) ++at;
    value = format_number(static_cast<double>(to_float(g[at])));
  } else {
    visit_dtype(r.param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* g = static_cast<const T*>(r.param.grad_data());
      while (std::isfinite(g[at])) ++at;
      value = format_number(static_cast<double>(g[at]));
    });
  }
  throw InvalidArgument(std::string(name_) + ": step(): the gradient of '" + r.param.name() + "' is " + value +
                        " at element " + std::to_string(at) +
                        "; nothing was changed (set_nonfinite_policy(NonFinitePolicy::Skip) skips such steps)");
}

bool Optimizer::step() {
  const detail::ExclusiveUse use(in_use_, name_, "step()");
  // Check everything before touching anything.
  check_step();
  std::vector<std::uint32_t> needed(arenas_.size(), 0);
  bool any_grad = false;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const ParamGroup& g = *groups_[i];
    try {
      g.options().validate();
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("step(), group " + std::to_string(i) + ": " + e.what());
    }
    bool group_has_grad = false;
    for (const std::size_t m : g.members_) group_has_grad |= records_[m].param.has_grad();
    if (group_has_grad) needed[parts_.empty() ? 0 : g.rule_] |= rule_of(i).slots_needed(g.options());
    any_grad |= group_has_grad;
  }
  if (!any_grad) {
    throw InvalidArgument(std::string(name_) +
                          ": step() called but no parameter has a gradient (give Parameter a gradient span or call "
                          "set_grad)");
  }
  if (skipped_steps_ >= kMaxStepCount) {
    throw InvalidArgument(std::string(name_) + ": step(): " + std::to_string(skipped_steps_) +
                          " steps were skipped, the most a checkpoint can hold; nothing was changed");
  }
  std::vector<Record*> stepping;
  std::size_t elements = 0;
  for (Record& r : records_) {
    if (!r.param.has_grad()) continue;
    // Counts are read back from checkpoints up to 2^53 (exact in a double): never step past it.
    if (r.step >= kMaxStepCount) {
      throw InvalidArgument(std::string(name_) + ": step(): '" + excerpt(r.param.name()) + "' has taken " +
                            std::to_string(r.step) + " steps, the most a checkpoint can hold; nothing was changed");
    }
    stepping.push_back(&r);
    elements += r.param.size();
  }
  if (nonfinite_ != NonFinitePolicy::Propagate && !gradients_finite()) return false;

  // Arenas of the slots a stepping parameter keeps in the optimizer's memory (not in memory it bound).
  needed.back() = wrapper_slots_.empty() ? 0u : ~0u;
  for (const Record* r : stepping) {
    const std::size_t rule = parts_.empty() ? 0 : groups_[r->group]->rule_;
    const std::size_t base = wrapper_slot_base(*r);
    for (std::size_t s = 0; s < r->slots.size(); ++s) {
      const std::size_t set = s < base ? rule : arenas_.size() - 1;
      const std::size_t index = s < base ? s : s - base;
      if (!(needed[set] >> index & 1u) || r->slots[s].external) continue;
      AlignedBuffer& arena = *arenas_[set][index];
      if (arena.empty() && arena_bytes_[set][index] > 0) arena = AlignedBuffer(arena_bytes_[set][index]);
    }
  }
  engine_->prepare(elements);

  // Plan every group (serially: slots, per-step scalars, norms), then run all the tasks together, so
  // that many small parameters are cut into chunks and spread over the threads like one large one. A
  // plan that throws (out of memory) leaves the step counts and the slots' creation as they were.
  struct Before {
    std::int64_t step;
    std::vector<bool> ready;
  };
  std::vector<Before> before;
  before.reserve(stepping.size());
  for (const Record* r : stepping) {
    before.push_back({r->step, {}});
    for (const SlotPlace& place : r->slots) before.back().ready.push_back(place.ready);
  }
  std::vector<Task> tasks;
  try {
    for (Record* r : stepping) ++r->step;
    before_step(stepping);
    std::vector<Record*> active;
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      active.clear();
      for (const std::size_t m : groups_[i]->members_) {
        if (records_[m].param.has_grad()) active.push_back(&records_[m]);
      }
      if (!active.empty()) rule_of(i).plan(groups_[i]->options(), active, tasks);
    }
  } catch (...) {
    for (std::size_t k = 0; k < stepping.size(); ++k) {
      stepping[k]->step = before[k].step;
      for (std::size_t s = 0; s < stepping[k]->slots.size(); ++s) stepping[k]->slots[s].ready = before[k].ready[s];
    }
    throw;
  }
  run_tasks(tasks);
  after_step(stepping);
  return true;
}

void Optimizer::zero_grad() {
  const detail::ExclusiveUse use(in_use_, name_, "zero_grad()");
  for (Record& r : records_) {
    if (r.param.has_grad()) std::memset(r.param.grad_data(), 0, r.param.size() * size_of(r.param.dtype()));
  }
}

ParamGroup& Optimizer::group(std::size_t index) {
  if (index >= groups_.size()) {
    throw NotFound(std::string(name_) + ": no group " + std::to_string(index) + " (there are " +
                   std::to_string(groups_.size()) + ")");
  }
  return *groups_[index];
}

const ParamGroup& Optimizer::group(std::size_t index) const { return const_cast<Optimizer*>(this)->group(index); }

const Parameter& Optimizer::parameter(std::size_t index) const {
  if (index >= records_.size()) {
    throw NotFound(std::string(name_) + ": no parameter " + std::to_string(index) + " (there are " +
                   std::to_string(records_.size()) + ")");
  }
  return records_[index].param;
}

const Optimizer::Record& Optimizer::record(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) throw NotFound(std::string(name_) + ": no parameter named '" + std::string(name) + "'");
  return records_[it->second];
}

Optimizer::Record& Optimizer::record(std::string_view name) {
  return const_cast<Record&>(static_cast<const Optimizer*>(this)->record(name));
}

const Parameter& Optimizer::parameter(std::string_view name) const { return record(name).param; }

void Optimizer::set_grad(std::string_view name, std::span<float> grad) { record(name).param.set_grad(grad); }
void Optimizer::set_grad(std::string_view name, std::span<double> grad) { record(name).param.set_grad(grad); }
void Optimizer::set_grad(std::string_view name, std::span<bfloat16> grad) { record(name).param.set_grad(grad); }

std::vector<std::string_view> Optimizer::slot_names() const {
  std::vector<std::string_view> names;
  const auto add = [&](std::string_view n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  if (parts_.empty()) {
    for (const SlotSpec& s : slots_) add(s.name);
  } else {
    for (const auto& p : parts_) {
      for (const SlotSpec& s : p->slots_) add(s.name);
    }
  }
  for (const SlotSpec& s : wrapper_slots_) add(s.name);
  return names;
}

std::vector<std::string_view> Optimizer::scalar_slot_names() const {
  std::vector<std::string_view> names;
  const auto add = [&](std::string_view n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  if (parts_.empty()) {
    for (const ScalarSlotSpec& s : scalar_slots_) add(s.name);
  } else {
    for (const auto& p : parts_) {
      for (const ScalarSlotSpec& s : p->scalar_slots_) add(s.name);
    }
  }
  return names;
}

std::vector<std::string_view> Optimizer::slots_in_use(std::size_t group_index) const {
  const ParamGroup& g = group(group_index);
  const Optimizer& rule = rule_of(group_index);
  const std::uint32_t bits = rule.slots_needed(g.options());
  // A slot whose layout holds no value for any of the group's parameters (Adam's kahan_compensation for
  // float32 parameters, an int8 slot's absmax for a tensor too small to quantize) is not in use.
  const auto holds_values = [&](std::size_t s) {
    if (g.members().empty()) return true;
    for (const std::size_t m : g.members()) {
      std::int64_t count = 1;
      for (const std::int64_t d : records_[m].slots[s].layout.shape) count *= d;
      if (count != 0) return true;
    }
    return false;
  };
  std::vector<std::string_view> names;
  for (std::size_t s = 0; s < rule.slots_.size() && s < 32; ++s) {
    if ((bits >> s & 1u) && holds_values(s)) names.push_back(rule.slots_[s].name);
  }
  for (const SlotSpec& s : wrapper_slots_) names.push_back(s.name);
  return names;
}

std::int64_t Optimizer::step_count(std::string_view param) const { return record(param).step; }

std::size_t Optimizer::slot_index(const Record& r, std::string_view slot) const {
  for (std::size_t s = 0; s < r.slots.size(); ++s) {
    if (spec_of(r, s).name == slot) return s;
  }
  std::string known;
  for (std::size_t s = 0; s < r.slots.size(); ++s) known += (known.empty() ? "" : ", ") + std::string(spec_of(r, s).name);
  throw NotFound(std::string(name_) + ": parameter '" + r.param.name() + "' has no state slot '" + std::string(slot) +
                 "' (slots: " + (known.empty() ? "none" : known) + ")");
}

bool Optimizer::has_state(std::string_view param, std::string_view slot) const {
  const Record& r = record(param);
  return r.slots[slot_index(r, slot)].ready;
}

SlotLayout Optimizer::state_layout(std::string_view param, std::string_view slot) const {
  const Record& r = record(param);
  return r.slots[slot_index(r, slot)].layout;
}

bool Optimizer::is_bound(std::string_view param, std::string_view slot) const {
  const Record& r = record(param);
  return r.slots[slot_index(r, slot)].external != nullptr;
}

void* Optimizer::slot_address(const SlotPlace& place) {
  return place.external ? place.external : static_cast<void*>(place.arena->data() + place.offset);
}

std::pair<const void*, std::size_t> Optimizer::slot_view(std::string_view param, std::string_view slot,
                                                         DType dtype) const {
  const Record& r = record(param);
  const SlotPlace& place = r.slots[slot_index(r, slot)];
  if (!place.ready) {
    throw NotFound(std::string(name_) + ": parameter '" + std::string(param) + "' has no '" + std::string(slot) +
                   "' state yet (it is created by the first step that uses it)");
  }
  if (dtype != place.layout.dtype) {
    throw InvalidArgument(std::string(name_) + ": the '" + std::string(slot) + "' state of '" + std::string(param) +
                          "' is " + std::string(name_of(place.layout.dtype)) + ", not " + std::string(name_of(dtype)));
  }
  return {slot_address(place), place.elements};
}

double Optimizer::scalar_state(std::string_view param, std::string_view slot) const {
  const Record& r = record(param);
  const auto& specs = rule_of(r.group).scalar_slots_;
  for (std::size_t s = 0; s < specs.size(); ++s) {
    if (specs[s].name == slot) return r.scalars[s];
  }
  std::string known;
  for (const ScalarSlotSpec& s : specs) known += (known.empty() ? "" : ", ") + std::string(s.name);
  throw NotFound(std::string(name_) + ": parameter '" + std::string(param) + "' has no scalar state '" +
                 std::string(slot) + "' (scalar slots: " + (known.empty() ? "none" : known) + ")");
}

void Optimizer::set_step_count(std::string_view param, std::int64_t step) {
  const detail::ExclusiveUse use(in_use_, name_, "set_step_count()");
  Record& r = record(param);
  if (step < 0 || step > kMaxStepCount) {
    throw InvalidArgument(std::string(name_) + ": set_step_count('" + excerpt(r.param.name()) + "', " +
                          std::to_string(step) + "): a step count must be in [0, 2^53]");
  }
  r.step = step;
}

void Optimizer::set_scalar_state(std::string_view param, std::string_view slot, double value) {
  const detail::ExclusiveUse use(in_use_, name_, "set_scalar_state()");
  Record& r = record(param);
  const auto& specs = rule_of(r.group).scalar_slots_;
  for (std::size_t s = 0; s < specs.size(); ++s) {
    if (specs[s].name != slot) continue;
    const SlotCheck check = specs[s].check;
    const bool ok = check == SlotCheck::Any ||
                    (std::isfinite(value) && (check == SlotCheck::Finite || (check == SlotCheck::NonNegative && value >= 0.0) ||
                                              (check == SlotCheck::Positive && value > 0.0)));
    if (!ok) {
      throw InvalidArgument(std::string(name_) + ": set_scalar_state('" + excerpt(r.param.name()) + "', '" +
                            std::string(slot) + "', " + format_number(value) + "): the value must be " +
                            (check == SlotCheck::Finite ? "finite" : check == SlotCheck::NonNegative ? "finite and >= 0" : "finite and > 0"));
    }
    r.scalars[s] = value;
    return;
  }
  (void)scalar_state(param, slot);  // throws NotFound naming the known scalar slots
}

void Optimizer::bind_state(std::string_view param, std::string_view slot, void* data, std::size_t elements,
                           DType dtype, bool holds_state) {
  const detail::ExclusiveUse use(in_use_, name_, "bind_state()");
  Record& r = record(param);
  const std::size_t s = slot_index(r, slot);
  SlotPlace& place = r.slots[s];
  const std::string what = std::string(name_) + ": bind_state('" + std::string(param) + "', '" + std::string(slot) + "')";
  if (dtype != place.layout.dtype) {
    throw InvalidArgument(what + ": the memory is " + std::string(name_of(dtype)) + ", the slot " +
                          std::string(name_of(place.layout.dtype)));
  }
  if (elements != place.elements) {
    throw InvalidArgument(what + ": the memory holds " + std::to_string(elements) + " elements, the slot " +
                          std::to_string(place.elements) + " (shape " + shape_text(place.layout.shape) + ")");
  }
  // A slot with no elements for this parameter (Adafactor's unused factor) needs no memory: there is
  // nothing to bind, and an empty tensor's data pointer may be null.
  if (place.elements == 0) return;
  if (data == nullptr) throw InvalidArgument(what + ": no memory given (null)");
  if (reinterpret_cast<std::uintptr_t>(data) % size_of(dtype) != 0) {
    throw InvalidArgument(what + ": the memory is not aligned to its element size (" + std::to_string(size_of(dtype)) +
                          " bytes)");
  }
  if (holds_state && r.step == 0) {
    throw InvalidArgument(what + ": holds_state, but '" + excerpt(r.param.name()) +
                          "' has taken no step, so it has no state yet (bind without holds_state)");
  }
  // The slot's own previous binding is replaced, so it does not count.
  std::vector<Extent> extents = memory_extents(/*with_grads=*/true, &place);
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  extents.emplace_back(begin, begin + elements * size_of(dtype), "the memory given for '" + std::string(slot) + "'");
  check_disjoint(what + ":", std::move(extents));
  if (!holds_state && place.ready && elements > 0) std::memcpy(data, slot_address(place), elements * size_of(dtype));
  place.external = data;
  if (holds_state) place.ready = true;
}

void* Optimizer::slot_data(Record& record, std::size_t slot, bool* created, DType dtype) {
  SlotPlace& place = record.slots[slot];
  const SlotSpec& spec = spec_of(record, slot);
  if (place.layout.dtype != dtype) {
    throw Error("internal: " + std::string(name_) + " read slot '" + std::string(spec.name) + "' as " +
                std::string(name_of(dtype)) + ", but it holds " + std::string(name_of(place.layout.dtype)));
  }
  if (!place.external && place.arena->empty() && place.elements > 0) {
    throw Error("internal: " + std::string(name_) + " used slot '" + std::string(spec.name) +
                "' that slots_needed() did not declare");
  }
  void* data = slot_address(place);
  const bool fresh = !place.ready;
  if (fresh) {
    fill(data, place.elements, place.layout.dtype, spec.initial);
    place.ready = true;
  }
  if (created) *created = fresh;
  return data;
}

}  // namespace descent
