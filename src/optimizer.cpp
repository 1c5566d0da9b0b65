#include "descent/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <tuple>

#include "engine/thread_pool.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace {

constexpr std::size_t round_up(std::size_t bytes, std::size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

template <class T>
void fill(void* data, std::size_t n, double value) {
  std::fill_n(static_cast<T*>(data), n, static_cast<T>(value));
}

// Elements per chunk: 64 KiB of floats per array, small enough to balance 2-64 threads on a 10M
// parameter step, large enough that a chunk's cost dwarfs handing it out. A multiple of every vector
// width, and fixed: reductions add chunk results in chunk order, so results do not depend on threads.
constexpr std::size_t kChunk = 16384;
// Below this many elements a step runs on the calling thread: waking workers would cost more.
constexpr std::size_t kParallelThreshold = 2 * kChunk;

std::size_t default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

Optimizer::Optimizer(std::string_view name, std::span<const SlotSpec> slots,
                     std::span<const ScalarSlotSpec> scalar_slots, std::unique_ptr<Options> defaults)
    : name_(name),
      slots_(slots),
      scalar_slots_(scalar_slots),
      defaults_(std::move(defaults)),
      arenas_(slots.size()),
      threads_(default_threads()) {
  if (slots.size() > 32) throw Error("internal: at most 32 state slots");
  defaults_->validate();
}

Optimizer::~Optimizer() = default;
Optimizer::Optimizer(Optimizer&&) noexcept = default;
Optimizer& Optimizer::operator=(Optimizer&&) noexcept = default;

void Optimizer::init(std::vector<Parameter> params) { add_param_group(std::move(params)); }

void Optimizer::set_num_threads(std::size_t threads) {
  const detail::ExclusiveUse use(in_use_, name_, "set_num_threads()");
  detail::checked_thread_count(threads, std::string(name_) + ": set_num_threads()");
  threads = threads == 0 ? default_threads() : threads;
  if (threads != threads_) pool_.reset();
  threads_ = threads;
}

std::vector<Optimizer::Chunk> Optimizer::chunks_of(std::span<const std::size_t> sizes) {
  std::vector<Chunk> chunks;
  for (std::size_t item = 0; item < sizes.size(); ++item) {
    for (std::size_t begin = 0; begin < sizes[item]; begin += kChunk) {
      chunks.push_back({item, begin, std::min(begin + kChunk, sizes[item])});
    }
  }
  return chunks;
}

void Optimizer::run_chunks(std::span<const Chunk> chunks, std::size_t elements,
                           const std::function<void(const Chunk&)>& fn) {
  if (threads_ <= 1 || chunks.size() <= 1 || elements < kParallelThreshold) {
    for (const Chunk& c : chunks) fn(c);
    return;
  }
  if (!pool_) pool_ = std::make_unique<detail::ThreadPool>(threads_);
  pool_->run(chunks.size(), [&](std::size_t i) { fn(chunks[i]); });
}

std::vector<double> Optimizer::parallel_sum(
    std::span<Record* const> records, const std::function<double(std::size_t, std::size_t, std::size_t)>& fn) {
  std::vector<std::size_t> sizes;
  std::size_t elements = 0;
  for (const Record* r : records) {
    sizes.push_back(r->param.size());
    elements += r->param.size();
  }
  const std::vector<Chunk> chunks = chunks_of(sizes);
  std::vector<double> partial(chunks.size());
  run_chunks(chunks, elements, [&](const Chunk& c) { partial[&c - chunks.data()] = fn(c.item, c.begin, c.end); });
  std::vector<double> sums(records.size(), 0.0);
  for (std::size_t i = 0; i < chunks.size(); ++i) sums[chunks[i].item] += partial[i];
  return sums;
}

void Optimizer::add_param_group(std::vector<Parameter> params) { add_param_group(std::move(params), defaults_->clone()); }

void Optimizer::add_param_group(std::vector<Parameter> params, std::unique_ptr<Options> options) {
  const detail::ExclusiveUse use(in_use_, name_, "add_param_group()");
  const std::string where = std::string(name_) + ": add_param_group (group " + std::to_string(groups_.size()) + ")";
  if (!options) throw InvalidArgument(where + ": no options given");
  if (options->optimizer() != name_) {
    throw InvalidArgument(where + ": options are for " + std::string(options->optimizer()) + ", not " +
                          std::string(name_));
  }
  options->validate();
  if (params.empty()) throw InvalidArgument(where + ": the group has no parameters");

  // Names must be unique across the whole optimizer: state is found by name.
  std::unordered_map<std::string_view, std::size_t> fresh_names;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].name();
    if (by_name_.count(name) || !fresh_names.emplace(name, i).second) {
      throw InvalidArgument(where + ": duplicate parameter name '" + name + "'");
    }
  }

  // No two parameters may share memory: the same tensor in two groups would be updated twice per step.
  struct Extent {
    std::uintptr_t begin, end;
    const std::string* name;
  };
  std::vector<Extent> extents;
  extents.reserve(records_.size() + params.size());
  const auto extent_of = [](const Parameter& p) {
    const auto begin = reinterpret_cast<std::uintptr_t>(p.value_data());
    return Extent{begin, begin + p.size() * size_of(p.dtype()), &p.name()};
  };
  for (const Record& r : records_) extents.push_back(extent_of(r.param));
  for (const Parameter& p : params) extents.push_back(extent_of(p));
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].begin < extents[i - 1].end) {
      throw InvalidArgument(where + ": parameters '" + *extents[i - 1].name + "' and '" + *extents[i].name +
                            "' share memory (the same parameter in two places?)");
    }
  }

  // Every check passed. Build everything that can throw (allocations) first, then commit with
  // operations that cannot, so that even an out-of-memory failure adds nothing.
  std::size_t layout = layout_bytes_;
  const std::size_t group_index = groups_.size();
  std::unique_ptr<ParamGroup> group(new ParamGroup());
  group->options_ = std::move(options);
  std::vector<Record> fresh;
  fresh.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    group->members_.push_back(records_.size() + i);
    fresh.push_back(Record{std::move(params[i]), group_index, layout, 0, 0, {}});
    for (const ScalarSlotSpec& s : scalar_slots_) fresh.back().scalars.push_back(s.initial);
    layout += round_up(fresh.back().param.size() * size_of(fresh.back().param.dtype()), AlignedBuffer::kAlignment);
  }
  records_.reserve(records_.size() + fresh.size());
  groups_.reserve(groups_.size() + 1);
  for (AlignedBuffer& arena : arenas_) {
    if (!arena.empty()) arena.resize(layout);  // growing keeps the contents; a throw leaves them valid
  }
  std::size_t named = 0;
  try {
    for (; named < fresh.size(); ++named) by_name_.emplace(fresh[named].param.name(), records_.size() + named);
  } catch (...) {
    for (std::size_t i = 0; i < named; ++i) by_name_.erase(fresh[i].param.name());
    throw;
  }
  layout_bytes_ = layout;
  for (Record& r : fresh) records_.push_back(std::move(r));  // capacity reserved: cannot throw
  groups_.push_back(std::move(group));
}

bool Optimizer::gradients_finite() {
  std::vector<const Record*> with_grad;
  std::vector<std::size_t> sizes;
  std::size_t elements = 0;
  for (const Record& r : records_) {
    if (!r.param.has_grad()) continue;
    with_grad.push_back(&r);
    sizes.push_back(r.param.size());
    elements += r.param.size();
  }
  const std::vector<Chunk> chunks = chunks_of(sizes);
  std::vector<unsigned char> bad(chunks.size(), 0);
  run_chunks(chunks, elements, [&](const Chunk& c) {
    const Parameter& p = with_grad[c.item]->param;
    bad[&c - chunks.data()] = visit_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return static_cast<unsigned char>(!kernels::all_finite(static_cast<const T*>(p.grad_data()) + c.begin, c.end - c.begin));
    });
  });
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (!bad[i]) continue;
    if (nonfinite_ == NonFinitePolicy::Skip) {
      ++skipped_steps_;
      return false;
    }
    const Record& r = *with_grad[chunks[i].item];
    std::string value;
    std::size_t at = chunks[i].begin;
    visit_dtype(r.param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* g = static_cast<const T*>(r.param.grad_data());
      while (std::isfinite(g[at])) ++at;
      value = format_number(static_cast<double>(g[at]));
    });
    throw InvalidArgument(std::string(name_) + ": step(): the gradient of '" + r.param.name() + "' is " + value +
                          " at element " + std::to_string(at) +
                          "; nothing was changed (set_nonfinite_policy(NonFinitePolicy::Skip) skips such steps)");
  }
  return true;
}

bool Optimizer::step() {
  const detail::ExclusiveUse use(in_use_, name_, "step()");
  // Check everything before touching anything.
  std::uint32_t needed = 0;
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
    if (group_has_grad) needed |= slots_needed(g.options());
    any_grad |= group_has_grad;
  }
  if (!any_grad) {
    throw InvalidArgument(std::string(name_) +
                          ": step() called but no parameter has a gradient (give Parameter a gradient span or call "
                          "set_grad)");
  }
  if (nonfinite_ != NonFinitePolicy::Propagate && !gradients_finite()) return false;
  for (std::size_t s = 0; s < arenas_.size(); ++s) {
    if ((needed >> s & 1u) && arenas_[s].empty()) arenas_[s] = AlignedBuffer(layout_bytes_);
  }

  // Plan every group (serially: slots, per-step scalars, norms), then run all the tasks together, so
  // that many small parameters are cut into chunks and spread over the threads like one large one.
  std::vector<Task> tasks;
  std::vector<Record*> active;
  for (const auto& g : groups_) {
    active.clear();
    for (const std::size_t m : g->members_) {
      Record& r = records_[m];
      if (!r.param.has_grad()) continue;
      ++r.step;
      active.push_back(&r);
    }
    if (!active.empty()) plan(g->options(), active, tasks);
  }
  std::vector<std::size_t> sizes;
  std::size_t elements = 0;
  for (const Task& t : tasks) {
    sizes.push_back(t.size);
    elements += t.size;
  }
  const std::vector<Chunk> chunks = chunks_of(sizes);
  run_chunks(chunks, elements, [&](const Chunk& c) { tasks[c.item].run(c.begin, c.end); });
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

std::vector<std::string_view> Optimizer::slot_names() const {
  std::vector<std::string_view> names;
  for (const SlotSpec& s : slots_) names.push_back(s.name);
  return names;
}

std::vector<std::string_view> Optimizer::scalar_slot_names() const {
  std::vector<std::string_view> names;
  for (const ScalarSlotSpec& s : scalar_slots_) names.push_back(s.name);
  return names;
}

std::int64_t Optimizer::step_count(std::string_view param) const { return record(param).step; }

std::size_t Optimizer::slot_index(std::string_view slot) const {
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].name == slot) return s;
  }
  std::string known;
  for (const SlotSpec& s : slots_) known += (known.empty() ? "" : ", ") + std::string(s.name);
  throw NotFound(std::string(name_) + " has no state slot '" + std::string(slot) + "' (slots: " + known + ")");
}

bool Optimizer::has_state(std::string_view param, std::string_view slot) const {
  return record(param).slots_ready >> slot_index(slot) & 1u;
}

std::pair<const void*, std::size_t> Optimizer::slot_view(std::string_view param, std::string_view slot,
                                                         DType dtype) const {
  const Record& r = record(param);
  const std::size_t s = slot_index(slot);
  if (!(r.slots_ready >> s & 1u)) {
    throw NotFound(std::string(name_) + ": parameter '" + std::string(param) + "' has no '" + std::string(slot) +
                   "' state yet (it is created by the first step that uses it)");
  }
  if (dtype != r.param.dtype()) {
    throw InvalidArgument(std::string(name_) + ": state of '" + std::string(param) + "' is " +
                          std::string(name_of(r.param.dtype())) + ", not " + std::string(name_of(dtype)));
  }
  return {arenas_[s].data() + r.offset, r.param.size()};
}

double Optimizer::scalar_state(std::string_view param, std::string_view slot) const {
  const Record& r = record(param);
  for (std::size_t s = 0; s < scalar_slots_.size(); ++s) {
    if (scalar_slots_[s].name == slot) return r.scalars[s];
  }
  std::string known;
  for (const ScalarSlotSpec& s : scalar_slots_) known += (known.empty() ? "" : ", ") + std::string(s.name);
  throw NotFound(std::string(name_) + " has no scalar state '" + std::string(slot) + "' (scalar slots: " +
                 (known.empty() ? "none" : known) + ")");
}

void* Optimizer::slot_data(Record& record, std::size_t slot, bool* created) {
  if (arenas_[slot].empty()) {
    throw Error("internal: " + std::string(name_) + " used slot '" + std::string(slots_[slot].name) +
                "' that slots_needed() did not declare");
  }
  void* data = arenas_[slot].data() + record.offset;
  const bool fresh = !(record.slots_ready >> slot & 1u);
  if (fresh) {
    visit_dtype(record.param.dtype(),
                [&](auto tag) { fill<decltype(tag)>(data, record.param.size(), slots_[slot].initial); });
    record.slots_ready |= 1u << slot;
  }
  if (created) *created = fresh;
  return data;
}

}  // namespace descent
