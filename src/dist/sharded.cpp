// ShardedOptimizer: ownership, the gradient exchange, global clipping and the step (checkpoints are in
// shard_checkpoint.cpp). docs/distributed.md describes the design.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "descent/dist.hpp"
#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "clip_norm.hpp"
#include "dist/collective.hpp"
#include "dist/layout.hpp"

namespace descent::dist {

using detail::agree;
using detail::check_mpi;

std::vector<int> assign_owners(std::span<const std::size_t> bytes, std::span<const std::string> names, int world_size) {
  if (world_size < 1) throw InvalidArgument("assign_owners: world_size = " + std::to_string(world_size) + " must be >= 1");
  if (bytes.size() != names.size()) {
    throw InvalidArgument("assign_owners: " + std::to_string(bytes.size()) + " sizes for " + std::to_string(names.size()) +
                          " names");
  }
  std::vector<std::size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return bytes[a] != bytes[b] ? bytes[a] > bytes[b] : names[a] < names[b];
  });
  std::vector<std::size_t> load(static_cast<std::size_t>(world_size), 0);
  std::vector<int> owner(bytes.size(), 0);
  for (const std::size_t i : order) {
    // The least loaded rank, the lowest on ties (min_element returns the first minimum).
    const auto least = std::min_element(load.begin(), load.end());
    owner[i] = static_cast<int>(least - load.begin());
    *least += bytes[i];
  }
  return owner;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One line per parameter: what must be the same on every rank.
std::string summary_line(const Parameter& p) {
  std::string line = p.name() + " " + std::string(name_of(p.dtype())) + " [";
  for (std::size_t d = 0; d < p.shape().size(); ++d) line.append(d ? "," : "").append(std::to_string(p.shape()[d]));
  return line + "]" + (p.has_grad() ? " grad" : " no-grad");
}

int as_count(std::size_t bytes, const char* what) {
  if (bytes > static_cast<std::size_t>(INT_MAX)) {
    throw Error(std::string("descent::dist: ") + what + " of " + std::to_string(bytes) +
                " bytes exceeds MPI's int counts (2 GiB per rank and exchange)");
  }
  return static_cast<int>(bytes);
}

// acc[k] += x[k] for every k: each element's additions stay in the caller's order, so the compiler may
// vectorize across elements without changing any result.
template <class T>
void add_into(T* __restrict acc, const T* __restrict x, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) acc[k] += x[k];
}

}  // namespace

ShardedOptimizer::ShardedOptimizer(MPI_Comm comm, std::vector<Parameter> params, std::string_view optimizer,
                                   const std::map<std::string, double>& overrides, Reduction reduction)
    : ShardedOptimizer(comm, std::move(params),
                       [name = std::string(optimizer), overrides](std::vector<Parameter> owned) {
                         return make_optimizer(name, std::move(owned), overrides);
                       },
                       reduction) {}

ShardedOptimizer::ShardedOptimizer(MPI_Comm comm, std::vector<Parameter> params, const OptimizerBuilder& build,
                                   Reduction reduction)
    : reduction_(reduction), params_(std::move(params)) {
  check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
  // Errors come back as codes (thrown by check_mpi) instead of aborting the job.
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &world_), "MPI_Comm_size");
  try {
    // Every rank must hold the same parameters: rank 0's summary against each rank's own.
    std::string mine;
    for (const Parameter& p : params_) mine += summary_line(p) + "\n";
    const std::string reference = detail::broadcast_text(comm_, mine, 0);
    agree(comm_, [&] {
      if (params_.empty()) throw InvalidArgument("no parameters to optimize");
      std::map<std::string_view, std::size_t> seen;
      for (std::size_t i = 0; i < params_.size(); ++i) {
        if (!seen.emplace(params_[i].name(), i).second) {
          throw InvalidArgument("parameter name '" + excerpt(params_[i].name()) + "' is used twice");
        }
        // The reductions and clipping here compute in the parameters' own float32 or float64.
        if (params_[i].dtype() == DType::BFloat16) {
          throw InvalidArgument("'" + excerpt(params_[i].name()) +
                                "' is bfloat16: sharded optimizers take float32 or float64 parameters only");
        }
      }
      if (mine == reference) return;
      std::size_t line = 0, a = 0, b = 0;
      while (true) {
        const std::size_t ea = mine.find('\n', a), eb = reference.find('\n', b);
        const std::string here = ea == std::string::npos ? "(none)" : mine.substr(a, ea - a);
        const std::string there = eb == std::string::npos ? "(none)" : reference.substr(b, eb - b);
        if (here != there) {
          throw InvalidArgument("the ranks' parameters differ: parameter " + std::to_string(line) + " is '" +
                                excerpt(here) + "' here and '" + excerpt(there) + "' on rank 0");
        }
        a = ea + 1;
        b = eb + 1;
        ++line;
      }
    });
    bytes_.resize(params_.size());
    std::vector<std::string> names(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      bytes_[i] = params_[i].size() * size_of(params_[i].dtype());
      names[i] = params_[i].name();
    }
    owner_ = assign_owners(bytes_, names, world_);
    owned_.assign(static_cast<std::size_t>(world_), {});
    for (std::size_t i = 0; i < params_.size(); ++i) owned_[static_cast<std::size_t>(owner_[i])].push_back(i);

    // A run id names this object's checkpoint shards, so that a save never overwrites a shard an index
    // still names (of this run or of another).
    std::string id;
    if (rank_ == 0) {
      std::random_device device;
      const std::uint64_t value = (std::uint64_t{device()} << 32) ^ device();
      static constexpr char kHex[] = "0123456789abcdef";
      for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kHex[(value >> shift) & 15]);
    }
    run_id_ = detail::broadcast_text(comm_, id, 0);
    this->build(build);
  } catch (...) {
    MPI_Comm_free(&comm_);
    throw;
  }
}

void ShardedOptimizer::build(const OptimizerBuilder& build) {
  agree(comm_, [&] {
    const auto& mine = owned_[static_cast<std::size_t>(rank_)];
    if (mine.empty()) return;
    std::vector<Parameter> owned;
    for (const std::size_t i : mine) owned.push_back(params_[i]);
    auto local = build(owned);
    if (!local) throw InvalidArgument("the optimizer builder returned no optimizer");
    // The same parameters, over the same memory, in any order (a Composite orders them by part).
    bool same = local->num_parameters() == owned.size();
    for (std::size_t k = 0; same && k < owned.size(); ++k) {
      try {
        same = local->parameter(owned[k].name()).value_data() == owned[k].value_data();
      } catch (const NotFound&) {
        same = false;
      }
    }
    if (!same) {
      throw InvalidArgument("the optimizer builder must return an optimizer over exactly the parameters it is given (" +
                            std::to_string(owned.size()) + " given, " + std::to_string(local->num_parameters()) +
                            " held, or other ones)");
    }
    // step() checks the gradients of every rank together before any rank updates.
    local->set_nonfinite_policy(NonFinitePolicy::Propagate);
    local_ = std::move(local);
  });
}

ShardedOptimizer::~ShardedOptimizer() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

int ShardedOptimizer::owner(std::size_t index) const {
  if (index >= params_.size()) {
    throw InvalidArgument("owner: parameter index " + std::to_string(index) + " is out of range (" +
                          std::to_string(params_.size()) + " parameters)");
  }
  return owner_[index];
}

int ShardedOptimizer::owner(std::string_view name) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].name() == name) return owner_[i];
  }
  throw NotFound("owner: no parameter named '" + excerpt(name) + "'");
}

std::size_t ShardedOptimizer::state_bytes() const {
  if (!local_) return 0;
  std::size_t total = 0;
  for (std::size_t k = 0; k < local_->num_parameters(); ++k) {
    const std::string& name = local_->parameter(k).name();
    for (const std::string_view slot : local_->slot_names()) {
      if (!local_->has_state(name, slot)) continue;
      const SlotLayout layout = local_->state_layout(name, slot);
      std::size_t elements = 1;
      for (const std::int64_t d : layout.shape) elements *= static_cast<std::size_t>(d);
      total += elements * size_of(layout.dtype);
    }
    total += sizeof(double) * local_->scalar_slot_names().size() + sizeof(std::int64_t);  // scalars, step
  }
  return total;
}

std::size_t ShardedOptimizer::owned_bytes(int rank) const {
  std::size_t total = 0;
  for (const std::size_t i : owned_[static_cast<std::size_t>(rank)]) total += detail::padded(bytes_[i]);
  return total;
}

void ShardedOptimizer::reduce_gradients() {
  const auto start = std::chrono::steady_clock::now();
  stats_ = {};
  if (world_ == 1) {  // the one rank's gradients are the sum already
    reduced_ = true;
    return;
  }
  if (reduction_ == Reduction::Allreduce) {
    for (const Parameter& p : params_) {
      if (!p.has_grad()) continue;
      visit_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const MPI_Datatype type = std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
        std::span<T> grad = p.grad<T>();
        constexpr std::size_t kChunk = std::size_t{1} << 30;  // MPI counts are ints
        for (std::size_t begin = 0; begin < grad.size(); begin += kChunk) {
          const int count = static_cast<int>(std::min(kChunk, grad.size() - begin));
          check_mpi(MPI_Allreduce(MPI_IN_PLACE, grad.data() + begin, count, type, MPI_SUM, comm_), "MPI_Allreduce");
        }
        stats_.reduce_bytes_sent += grad.size() * sizeof(T);
      });
    }
    reduced_ = true;
    stats_.reduce_seconds = seconds_since(start);
    return;
  }

  // Rank order: every rank sends each gradient to its owner (rank d's block holds d's tensors, in
  // parameter order, each at an 8-aligned offset); the owner receives one block per rank, in rank order.
  const std::size_t world = static_cast<std::size_t>(world_);
  std::vector<int> send_counts(world), send_offsets(world), receive_counts(world), receive_offsets(world);
  std::size_t total = 0;
  for (std::size_t d = 0; d < world; ++d) {
    send_offsets[d] = as_count(total, "a gradient exchange");
    std::size_t block = 0;
    for (const std::size_t i : owned_[d]) {
      if (params_[i].has_grad()) block += detail::padded(bytes_[i]);
    }
    send_counts[d] = as_count(block, "a gradient block");
    total += block;
  }
  const std::size_t mine = static_cast<std::size_t>(send_counts[static_cast<std::size_t>(rank_)]);
  for (std::size_t s = 0; s < world; ++s) {
    receive_counts[s] = static_cast<int>(mine);
    receive_offsets[s] = as_count(s * mine, "a gradient exchange");
  }
  send_.resize(total);
  receive_.resize(world * mine);
  for (std::size_t d = 0, at = 0; d < world; ++d) {
    for (const std::size_t i : owned_[d]) {
      if (!params_[i].has_grad()) continue;
      std::memcpy(send_.data() + at, params_[i].grad_data(), bytes_[i]);
      at += detail::padded(bytes_[i]);
    }
  }
  check_mpi(MPI_Alltoallv(send_.data(), send_counts.data(), send_offsets.data(), MPI_BYTE, receive_.data(),
                          receive_counts.data(), receive_offsets.data(), MPI_BYTE, comm_),
            "MPI_Alltoallv");
  stats_.reduce_bytes_sent = total - mine;
  // ((g_0 + g_1) + g_2) + ...: rank 0's contribution copied, the others added in rank order.
  std::size_t offset = 0;
  for (const std::size_t i : owned_[static_cast<std::size_t>(rank_)]) {
    const Parameter& p = params_[i];
    if (!p.has_grad()) continue;
    visit_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* acc = p.grad<T>().data();
      std::memcpy(acc, receive_.data() + offset, bytes_[i]);
      for (std::size_t s = 1; s < world; ++s) {
        add_into(acc, reinterpret_cast<const T*>(receive_.data() + s * mine + offset), p.size());
      }
    });
    offset += detail::padded(bytes_[i]);
  }
  reduced_ = true;
  stats_.reduce_seconds = seconds_since(start);
}

double ShardedOptimizer::clip_grad_norm(double max_norm, double norm_type) {
  // The arguments are the same on every rank (collective call), so each rank refuses them alike.
  descent::detail::check_clip_norm_arguments("clip_grad_norm", max_norm, norm_type);
  if (!reduced_) throw Error("descent::dist: clip_grad_norm needs reduce_gradients() first");

  // descent::clip_grad_norm's pieces (src/clip_norm.hpp), each tensor's part done by its owner;
  // tests/dist/dist_test.cpp checks that the two agree bitwise.
  bool any = false;
  descent::detail::MaxAbs max_abs;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Parameter& p = params_[i];
    if (!p.has_grad()) continue;
    any = true;
    if (owner_[i] != rank_) continue;
    visit_dtype(p.dtype(), [&](auto tag) { max_abs.add(p.grad<decltype(tag)>()); });
  }
  if (!any) return 0.0;
  // The maximum is exact in any order; a NaN anywhere makes it NaN, as in one process.
  int nan = max_abs.nan ? 1 : 0;
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &max_abs.value, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, &nan, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
  max_abs.nan = nan != 0;

  double total = max_abs.result();
  if (descent::detail::norm_needs_sum(total, norm_type)) {
    const double scale = descent::detail::norm_scale(total);
    // One running sum over the tensors in parameter order, as one process adds: the owner of each tensor
    // continues it and hands it to the next tensor's owner.
    double sum = 0.0;
    int holder = -1;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Parameter& p = params_[i];
      if (!p.has_grad()) continue;
      const int o = owner_[i];
      if (holder >= 0 && holder != o) {
        if (rank_ == holder) check_mpi(MPI_Send(&sum, 1, MPI_DOUBLE, o, 0, comm_), "MPI_Send");
        if (rank_ == o) check_mpi(MPI_Recv(&sum, 1, MPI_DOUBLE, holder, 0, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
      }
      holder = o;
      if (rank_ != o) continue;
      visit_dtype(p.dtype(), [&](auto tag) {
        descent::detail::add_scaled_powers(p.grad<decltype(tag)>(), scale, norm_type, sum);
      });
    }
    check_mpi(MPI_Bcast(&sum, 1, MPI_DOUBLE, holder, comm_), "MPI_Bcast");
    total = descent::detail::norm_from_sum(sum, scale, norm_type);
  }
  const double coef = descent::detail::clip_coefficient(max_norm, total);
  if (descent::detail::clip_applies(coef)) {
    for (const std::size_t i : owned_[static_cast<std::size_t>(rank_)]) {
      const Parameter& p = params_[i];
      if (!p.has_grad()) continue;
      visit_dtype(p.dtype(), [&](auto tag) { descent::detail::scale_gradient(p.grad<decltype(tag)>(), coef); });
    }
  }
  return total;
}

bool ShardedOptimizer::step() {
  if (!reduced_) throw Error("descent::dist: step() needs reduce_gradients() since the last step");
  if (nonfinite_ != NonFinitePolicy::Propagate) {
    std::string bad;
    for (const std::size_t i : owned_[static_cast<std::size_t>(rank_)]) {
      const Parameter& p = params_[i];
      if (!p.has_grad() || !bad.empty()) continue;
      visit_dtype(p.dtype(), [&](auto tag) {
        const auto grad = p.grad<decltype(tag)>();
        for (std::size_t k = 0; k < grad.size(); ++k) {
          if (!std::isfinite(grad[k])) {
            bad = "the reduced gradient of '" + excerpt(p.name()) + "' holds " + format_number(grad[k]) +
                  " at element " + std::to_string(k);
            break;
          }
        }
      });
    }
    int any_bad = bad.empty() ? 0 : 1;
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &any_bad, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
    if (any_bad) {
      if (nonfinite_ == NonFinitePolicy::Raise) {
        agree(comm_, [&] {
          if (!bad.empty()) throw InvalidArgument(bad);
        });
      }
      ++skipped_steps_;
      reduced_ = false;
      return false;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  agree(comm_, [&] {
    if (!local_) return;
    bool has_grad = false;
    for (std::size_t k = 0; k < local_->num_parameters(); ++k) has_grad = has_grad || local_->parameter(k).has_grad();
    if (has_grad) local_->step();
  });
  stats_.update_seconds = seconds_since(start);
  const auto gather_start = std::chrono::steady_clock::now();
  gather_parameters();
  stats_.gather_seconds = seconds_since(gather_start);
  reduced_ = false;
  return true;
}

void ShardedOptimizer::gather_parameters() {
  if (world_ == 1) return;  // the one rank holds every new value already
  const std::size_t world = static_cast<std::size_t>(world_);
  std::vector<int> counts(world), offsets(world);
  std::size_t total = 0;
  for (std::size_t d = 0; d < world; ++d) {
    offsets[d] = as_count(total, "a parameter exchange");
    counts[d] = as_count(owned_bytes(static_cast<int>(d)), "a parameter block");
    total += static_cast<std::size_t>(counts[d]);
  }
  const std::size_t mine = static_cast<std::size_t>(counts[static_cast<std::size_t>(rank_)]);
  send_.resize(mine);
  receive_.resize(total);
  std::size_t at = 0;
  for (const std::size_t i : owned_[static_cast<std::size_t>(rank_)]) {
    std::memcpy(send_.data() + at, params_[i].value_data(), bytes_[i]);
    at += detail::padded(bytes_[i]);
  }
  check_mpi(MPI_Allgatherv(send_.data(), static_cast<int>(mine), MPI_BYTE, receive_.data(), counts.data(),
                           offsets.data(), MPI_BYTE, comm_),
            "MPI_Allgatherv");
  stats_.gather_bytes_sent = mine * (world - 1);
  for (std::size_t d = 0; d < world; ++d) {
    if (static_cast<int>(d) == rank_) continue;
    std::size_t offset = static_cast<std::size_t>(offsets[d]);
    for (const std::size_t i : owned_[d]) {
      std::memcpy(params_[i].value_data(), receive_.data() + offset, bytes_[i]);
      offset += detail::padded(bytes_[i]);
    }
  }
}

}  // namespace descent::dist
