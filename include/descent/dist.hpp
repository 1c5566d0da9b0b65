// Data-parallel training over MPI with sharded optimizer state (ZeRO stages 1 and 2, one whole tensor per
// owner). docs/distributed.md describes the design, what is guaranteed and what it costs.
//
//   MPI_Init(&argc, &argv);
//   descent::dist::ShardedOptimizer opt(MPI_COMM_WORLD, model.parameters(), "adam", {{"lr", 1e-3}});
//   for (...) {
//     model.loss(my_share_of_the_batch, ..., /*backward=*/true);   // every rank: its gradient, scaled
//     opt.reduce_gradients();          // owners receive the sum over ranks, added in rank order
//     opt.clip_grad_norm(1.0);         // optional: the global norm, as one process computes it
//     opt.step();                      // owners update their tensors; every rank gets the new values
//   }
//   opt.save("run.ckpt");              // one shard per rank, then the index: loadable at any world size
//
// Every parameter is owned by one rank (assign_owners: sorted-greedy by size). Only the owner holds its
// optimizer state and runs the ordinary update on it, so each tensor's update is exactly the one-process
// update of the same gradient. The constructor, reduce_gradients, clip_grad_norm, step, save and load are
// collective: all ranks of the communicator call them, in the same order, with the same arguments. A failure on any rank (bad input, a missing file) is agreed on before anything
// changes and thrown on every rank with the same message, so no rank is left waiting.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent::dist {

// How reduce_gradients() adds the ranks' gradients.
enum class Reduction : std::uint8_t {
  // Each tensor's gradients are sent to its owner (MPI_Alltoallv), which adds them in rank order:
  // ((g_0 + g_1) + g_2) + ..., so the result is bitwise that of one process accumulating the same
  // gradients in that order, for any world size and MPI algorithm. The default.
  RankOrder,
  // MPI_Allreduce(MPI_SUM) on every tensor: MPI's own order, which depends on its algorithm and the rank
  // count (OpenMPI 4.1 adds in another order from 4 ranks on). Results may differ in the last bits from
  // run to run and across world sizes; it sends the gradients of every tensor to every rank.
  Allreduce,
};

// The owner (rank) of each tensor: tensors sorted by size in bytes, largest first, ties by name, each
// given to the rank with the fewest bytes so far (ties: the lowest rank). Deterministic; the largest
// rank holds at most total / world_size + the largest tensor. Throws InvalidArgument for world_size < 1
// or sizes and names of different lengths.
std::vector<int> assign_owners(std::span<const std::size_t> bytes, std::span<const std::string> names, int world_size);

// Bytes and seconds of the last step on this rank, for the benchmark and docs/distributed.md. Bytes are
// the payload this rank handed to MPI for other ranks (its own part excluded), not MPI's own traffic.
struct StepStats {
  std::uint64_t reduce_bytes_sent = 0;  // gradients sent to their owners (RankOrder) or given to Allreduce
  std::uint64_t gather_bytes_sent = 0;  // updated values of owned tensors, once per other rank
  double reduce_seconds = 0.0;          // reduce_gradients(): exchange and ordered sum
  double update_seconds = 0.0;          // the owner's optimizer step
  double gather_seconds = 0.0;          // the exchange of the updated values
};

// Builds the optimizer of one rank over the parameters it owns (never empty). It may build any descent
// optimizer, a Composite or a wrapper, but must hold exactly the parameters it is given.
using OptimizerBuilder = std::function<std::unique_ptr<Optimizer>(std::vector<Parameter> owned)>;

class ShardedOptimizer {
 public:
  // `params` must be the same on every rank: names, shapes, dtypes, which have a gradient, in the same
  // order (checked by exchanging a summary; a difference is an InvalidArgument on every rank naming the
  // ranks and, on a differing rank, the first differing parameter). The communicator is duplicated, so
  // the caller's own messages cannot mix with ours.
  ShardedOptimizer(MPI_Comm comm, std::vector<Parameter> params, const OptimizerBuilder& build,
                   Reduction reduction = Reduction::RankOrder);
  // An optimizer of the factory (descent::make_optimizer) on every rank's owned parameters.
  ShardedOptimizer(MPI_Comm comm, std::vector<Parameter> params, std::string_view optimizer,
                   const std::map<std::string, double>& overrides = {}, Reduction reduction = Reduction::RankOrder);
  ~ShardedOptimizer();
  ShardedOptimizer(const ShardedOptimizer&) = delete;
  ShardedOptimizer& operator=(const ShardedOptimizer&) = delete;

  int rank() const noexcept { return rank_; }
  int world_size() const noexcept { return world_; }
  Reduction reduction() const noexcept { return reduction_; }
  std::span<const Parameter> parameters() const noexcept { return params_; }
  // The rank that owns parameter `index` (in the constructor's order), or the one named.
  int owner(std::size_t index) const;
  int owner(std::string_view name) const;
  // This rank's optimizer; nullptr on a rank that owns no parameter (more ranks than tensors).
  Optimizer* local() noexcept { return local_.get(); }
  const Optimizer* local() const noexcept { return local_.get(); }
  // Bytes of optimizer state this rank holds (every slot of its owned parameters, created or not yet).
  std::size_t state_bytes() const;

  // Makes every owner's gradient of its owned tensors the sum of all ranks' gradients (in rank order with
  // Reduction::RankOrder). Gradients of tensors this rank does not own are left as they were (RankOrder)
  // or summed as well (Allreduce). Each rank scales its own gradient beforehand as the loss needs (a
  // batch mean: by its share of the batch).
  void reduce_gradients();

  // descent::clip_grad_norm over the reduced gradients of all ranks: the same total norm, bitwise, as one
  // process holding all of them computes (max |g| combined exactly; the sum of |g / s|^p continued tensor
  // by tensor in parameter order, passed from owner to owner), and the same scaling of each gradient.
  // Returns the total norm on every rank. Call after reduce_gradients(), before step().
  double clip_grad_norm(double max_norm, double norm_type = 2.0);

  // Owners update their tensors with their optimizer; then every rank receives the new values of every
  // tensor. Needs reduce_gradients() since the last step (else Error). A NaN or infinite reduced gradient
  // anywhere is agreed on first: with NonFinitePolicy::Raise (the default) every rank throws
  // InvalidArgument and nothing changes; with Skip every rank skips the step and returns false.
  bool step();
  void set_nonfinite_policy(NonFinitePolicy policy) noexcept { nonfinite_ = policy; }
  std::int64_t skipped_steps() const noexcept { return skipped_steps_; }

  const StepStats& last_step_stats() const noexcept { return stats_; }

  // Saves a checkpoint: each rank writes the state of its owned tensors (descent's safetensors format,
  // with the parameters' values) to "<index>.<run>.<save>.rank<r>-of-<N>.safetensors" beside `index`,
  // atomically; when every shard is on disk, rank 0 writes the index at `index` (a safetensors file
  // without tensors whose metadata names the run, the save, the world size and every shard with its
  // parameters), atomically, last. Then rank 0 removes the shards the replaced index named. A rank that
  // fails or dies before the index is replaced leaves the previous checkpoint whole (and, if it died,
  // the new shards written so far behind, named by no index).
  // `metadata` is stored in the index (keys must not start with "descent.dist"). Throws on every rank
  // (the same message) when any rank fails.
  void save(const std::filesystem::path& index, const std::map<std::string, std::string>& metadata = {});

  // Loads a checkpoint saved at any world size: each rank reads only the shards holding the tensors it
  // owns now, loads their state (strictly: every slot and option as saved) and values, and the values are
  // then exchanged. Checks everything first on every rank and agrees: a missing shard, a shard of another
  // run or save, world sizes that disagree, parameters that differ from this model's: an error on every
  // rank, and nothing is loaded anywhere. Returns the index's caller metadata.
  std::map<std::string, std::string> load(const std::filesystem::path& index);

 private:
  void build(const OptimizerBuilder& build);
  void gather_parameters();
  std::size_t owned_bytes(int rank) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, world_ = 1;
  Reduction reduction_;
  NonFinitePolicy nonfinite_ = NonFinitePolicy::Raise;
  std::vector<Parameter> params_;
  std::vector<std::size_t> bytes_;              // each tensor's size in bytes
  std::vector<int> owner_;                      // each tensor's rank
  std::vector<std::vector<std::size_t>> owned_; // per rank: its tensors, in parameter order
  std::unique_ptr<Optimizer> local_;
  std::vector<std::byte> send_, receive_;       // exchange buffers, kept between steps
  bool reduced_ = false;
  std::int64_t skipped_steps_ = 0;
  std::string run_id_;                          // names this object's checkpoint shards
  std::uint64_t saves_ = 0;
  StepStats stats_;
};

}  // namespace descent::dist
