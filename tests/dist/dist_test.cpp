// descent::dist over MPI, run by ctest at 2 and 3 ranks (tests/CMakeLists.txt). Every rank runs every
// test; each checks its own view, and the references are computed by every rank alone with the ordinary
// one-process optimizers, so a rank's pass means: its parameters are bitwise the one-process result.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/compose.hpp"
#include "descent/descent.hpp"
#include "descent/dist.hpp"
#include "descent/factory.hpp"
#include "descent/schedule.hpp"

namespace {

using descent::Parameter;
using descent::dist::Reduction;
using descent::dist::ShardedOptimizer;

int world_rank(MPI_Comm comm = MPI_COMM_WORLD) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}
int world_size(MPI_Comm comm = MPI_COMM_WORLD) {
  int n = 0;
  MPI_Comm_size(comm, &n);
  return n;
}

// A small model of mixed shapes and dtypes; odd sizes exercise the exchange buffers' padding.
struct Model {
  std::vector<float> w1 = std::vector<float>(7 * 5), b1 = std::vector<float>(5), w2 = std::vector<float>(5 * 3),
                     b2 = std::vector<float>(3);
  std::vector<double> gain = std::vector<double>(4);
  std::vector<float> gw1 = w1, gb1 = b1, gw2 = w2, gb2 = b2;
  std::vector<double> ggain = gain;

  Model() {
    std::size_t k = 0;
    for (auto* v : {&w1, &b1, &w2, &b2}) {
      for (float& x : *v) x = static_cast<float>(static_cast<int>(k++ % 11) - 5) / 8.0f;
    }
    for (double& x : gain) x = 1.0 + static_cast<double>(k++ % 3) / 4.0;
  }
  std::vector<Parameter> parameters() {
    return {Parameter("layer1.weight", std::span(w1), std::span(gw1), {5, 7}),
            Parameter("layer1.bias", std::span(b1), std::span(gb1)),
            Parameter("layer2.weight", std::span(w2), std::span(gw2), {3, 5}),
            Parameter("layer2.bias", std::span(b2), std::span(gb2)), Parameter("gain", std::span(gain), std::span(ggain))};
  }
  // Every value's bytes, to compare bitwise.
  std::vector<std::byte> bytes() const {
    std::vector<std::byte> out;
    const auto add = [&](const auto& v) {
      const auto* p = reinterpret_cast<const std::byte*>(v.data());
      out.insert(out.end(), p, p + v.size() * sizeof(v[0]));
    };
    add(w1), add(b1), add(w2), add(b2), add(gain);
    return out;
  }
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The gradient micro-batch `micro` gives at `step`. With `exact`, multiples of 1/8 in [-1, 1], whose sums
// over a few micro-batches are exact in any order (for tests across world sizes); else any value in
// [-1, 1) with a full mantissa, whose sums depend on the order.
void set_gradient(Model& m, int step, int micro, bool exact) {
  std::uint64_t k = 0;
  const auto value = [&]() {
    const std::uint64_t h = mix((static_cast<std::uint64_t>(step) << 40) ^ (static_cast<std::uint64_t>(micro) << 32) ^ k++);
    if (exact) return static_cast<double>(static_cast<int>(h % 17) - 8) / 8.0;
    return static_cast<double>(h >> 11) / 4503599627370496.0 - 1.0;  // 2^52
  };
  for (auto* g : {&m.gw1, &m.gb1, &m.gw2, &m.gb2}) {
    for (float& x : *g) x = static_cast<float>(value());
  }
  for (double& x : m.ggain) x = value();
}

// One process accumulating micro-batches 0..n-1 in order: g = ((g_0 + g_1) + g_2) + ...
void set_accumulated(Model& m, int step, int micro_batches, bool exact) {
  set_gradient(m, step, 0, exact);
  Model part;
  for (int r = 1; r < micro_batches; ++r) {
    set_gradient(part, step, r, exact);
    for (std::size_t k = 0; k < m.gw1.size(); ++k) m.gw1[k] += part.gw1[k];
    for (std::size_t k = 0; k < m.gb1.size(); ++k) m.gb1[k] += part.gb1[k];
    for (std::size_t k = 0; k < m.gw2.size(); ++k) m.gw2[k] += part.gw2[k];
    for (std::size_t k = 0; k < m.gb2.size(); ++k) m.gb2[k] += part.gb2[k];
    for (std::size_t k = 0; k < m.ggain.size(); ++k) m.ggain[k] += part.ggain[k];
  }
}

// SGD with momentum for the matrices, Adam for the vectors: a Composite of any part that has parameters.
std::unique_ptr<descent::Optimizer> composite(std::vector<Parameter> params) {
  std::vector<Parameter> matrices, vectors;
  for (Parameter& p : params) (p.shape().size() == 2 ? matrices : vectors).push_back(std::move(p));
  std::vector<std::unique_ptr<descent::Optimizer>> parts;
  if (!matrices.empty()) parts.push_back(descent::make_optimizer("sgd", matrices, {{"lr", 0.1}, {"momentum", 0.9}}));
  if (!vectors.empty()) parts.push_back(descent::make_optimizer("adam", vectors, {{"lr", 0.01}}));
  return std::make_unique<descent::Composite>(std::move(parts));
}

struct Case {
  std::string name;
  std::function<std::unique_ptr<descent::Optimizer>(std::vector<Parameter>)> build;
};

std::vector<Case> cases() {
  const auto named = [](std::string optimizer, std::map<std::string, double> options) {
    return Case{optimizer, [=](std::vector<Parameter> p) {
                  auto opt = descent::make_optimizer(optimizer, std::move(p), options);
                  opt->set_num_threads(1);
                  return opt;
                }};
  };
  return {named("adam", {{"lr", 0.01}}), named("lamb", {{"lr", 0.01}, {"weight_decay", 0.01}}),
          named("lars", {{"lr", 0.1}, {"momentum", 0.9}}), Case{"composite", composite},
          Case{"ema", [](std::vector<Parameter> p) {
                 return std::make_unique<descent::EMA>(descent::make_optimizer("adam", std::move(p), {{"lr", 0.01}}), 0.9);
               }}};
}

// N ranks each computing one micro-batch give bitwise the parameters of one process accumulating the N
// micro-batches in rank order (docs/distributed.md's guarantee), for per-tensor-norm rules (LAMB, LARS)
// and a Composite too.
TEST(Dist, RankOrderReductionMatchesOneProcessAccumulating) {
  const int rank = world_rank(), world = world_size();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Model mine, reference;
    ShardedOptimizer dist(MPI_COMM_WORLD, mine.parameters(), c.build);
    auto ref = c.build(reference.parameters());
    for (int step = 1; step <= 4; ++step) {
      set_gradient(mine, step, rank, false);
      dist.reduce_gradients();
      EXPECT_TRUE(dist.step());
      set_accumulated(reference, step, world, false);
      ref->step();
      ASSERT_EQ(mine.bytes(), reference.bytes()) << "step " << step;
    }
    EXPECT_EQ(dist.last_step_stats().gather_bytes_sent % 8, 0u);
  }
}

// Clipping the global norm across ranks gives bitwise descent::clip_grad_norm's result in one process.
TEST(Dist, GlobalNormClippingMatchesOneProcess) {
  const int rank = world_rank(), world = world_size();
  for (const double norm_type : {2.0, 1.0, 3.0, std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(norm_type);
    Model mine, reference;
    ShardedOptimizer dist(MPI_COMM_WORLD, mine.parameters(), cases()[0].build);
    auto ref = cases()[0].build(reference.parameters());
    for (int step = 1; step <= 3; ++step) {
      set_gradient(mine, step, rank, false);
      dist.reduce_gradients();
      const double total = dist.clip_grad_norm(0.5, norm_type);
      dist.step();
      set_accumulated(reference, step, world, false);
      const double expected = descent::clip_grad_norm(*ref, 0.5, norm_type);
      ref->step();
      EXPECT_EQ(total, expected) << "step " << step;
      ASSERT_EQ(mine.bytes(), reference.bytes()) << "step " << step;
    }
  }
}

// MPI's own Allreduce: the fast option, equal to the ordered sum up to rounding only.
TEST(Dist, AllreduceIsCloseToTheOrderedSum) {
  const int rank = world_rank(), world = world_size();
  Model mine, reference;
  ShardedOptimizer dist(MPI_COMM_WORLD, mine.parameters(), cases()[0].build, Reduction::Allreduce);
  auto ref = cases()[0].build(reference.parameters());
  for (int step = 1; step <= 3; ++step) {
    set_gradient(mine, step, rank, false);
    dist.reduce_gradients();
    dist.step();
    set_accumulated(reference, step, world, false);
    ref->step();
  }
  for (std::size_t k = 0; k < mine.w1.size(); ++k) EXPECT_NEAR(mine.w1[k], reference.w1[k], 1e-5);
  for (std::size_t k = 0; k < mine.gain.size(); ++k) EXPECT_NEAR(mine.gain[k], reference.gain[k], 1e-12);
}

TEST(Dist, OwnersAreSortedGreedyBySizeThenName) {
  // Worked by hand: sorted a(40) b(40) c(30) d(20) e(10); each to the least loaded rank, lowest on ties.
  const std::vector<std::size_t> bytes{40, 40, 30, 20, 10};
  const std::vector<std::string> names{"b", "a", "c", "d", "e"};
  EXPECT_EQ(descent::dist::assign_owners(bytes, names, 1), (std::vector<int>{0, 0, 0, 0, 0}));
  EXPECT_EQ(descent::dist::assign_owners(bytes, names, 2), (std::vector<int>{1, 0, 0, 1, 1}));
  EXPECT_EQ(descent::dist::assign_owners(bytes, names, 3), (std::vector<int>{1, 0, 2, 2, 0}));
  EXPECT_THROW(descent::dist::assign_owners(bytes, names, 0), descent::InvalidArgument);
}

// A fresh folder every rank sees (rank 0 makes it and removes it at the end).
class SharedFolder {
 public:
  explicit SharedFolder(const std::string& name) {
    std::string text;
    if (world_rank() == 0) {
      text = (std::filesystem::temp_directory_path() / ("descent-dist-" + std::to_string(::getpid()) + "-" + name)).string();
      std::filesystem::remove_all(text);
      std::filesystem::create_directories(text);
    }
    int size = static_cast<int>(text.size());
    MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
    text.resize(static_cast<std::size_t>(size));
    MPI_Bcast(text.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = text;
  }
  ~SharedFolder() {
    MPI_Barrier(MPI_COMM_WORLD);
    std::error_code ignored;
    if (world_rank() == 0) std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Save with 2 ranks, resume with every rank of the job (2 or 3), then with 1: bitwise the uninterrupted
// one-process run, state included. The gradients are multiples of 1/8, whose sums are exact at any world
// size, so that only the resharding is under test.
class Reshard : public ::testing::TestWithParam<std::size_t> {};

// The Composite (two rules, state of both kinds) and an EMA wrapper (its own slot and metadata).
INSTANTIATE_TEST_SUITE_P(Dist, Reshard, ::testing::Values(std::size_t{3}, std::size_t{4}));

TEST_P(Reshard, CheckpointsLoadAtAnyWorldSize) {
  const int rank = world_rank(), world = world_size();
  const Case c = cases()[GetParam()];
  const SharedFolder folder("reshard-" + c.name);
  const int micro = 6;
  Model reference;
  auto ref = c.build(reference.parameters());
  const auto run_steps = [&](ShardedOptimizer& dist, Model& m, int from, int to) {
    for (int step = from; step <= to; ++step) {
      // This rank's share of the step's micro-batches, summed exactly.
      std::vector<float> w1(m.w1.size()), b1(m.b1.size()), w2(m.w2.size()), b2(m.b2.size());
      std::vector<double> gain(m.gain.size());
      Model part;
      for (int b = 0; b < micro; ++b) {
        if (b % dist.world_size() != dist.rank()) continue;
        set_gradient(part, step, b, true);
        for (std::size_t k = 0; k < w1.size(); ++k) w1[k] += part.gw1[k];
        for (std::size_t k = 0; k < b1.size(); ++k) b1[k] += part.gb1[k];
        for (std::size_t k = 0; k < w2.size(); ++k) w2[k] += part.gw2[k];
        for (std::size_t k = 0; k < b2.size(); ++k) b2[k] += part.gb2[k];
        for (std::size_t k = 0; k < gain.size(); ++k) gain[k] += part.ggain[k];
      }
      m.gw1 = w1, m.gb1 = b1, m.gw2 = w2, m.gb2 = b2, m.ggain = gain;
      dist.reduce_gradients();
      dist.step();
    }
  };
  for (int step = 1; step <= 8; ++step) {
    set_accumulated(reference, step, micro, true);
    ref->step();
  }

  // Two ranks, 3 steps, saved.
  MPI_Comm two;
  MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : MPI_UNDEFINED, rank, &two);
  if (rank < 2) {
    Model m;
    ShardedOptimizer dist(two, m.parameters(), c.build);
    run_steps(dist, m, 1, 3);
    dist.save(folder / "run.ckpt", {{"note", "two ranks"}});
    MPI_Comm_free(&two);
  }
  // Every rank: load, 3 more steps, saved.
  {
    Model m;
    for (float& x : m.w1) x = 99.0f;  // the load must bring every value
    ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), c.build);
    const auto meta = dist.load(folder / "run.ckpt");
    EXPECT_EQ(meta.at("note"), "two ranks");
    run_steps(dist, m, 4, 6);
    dist.save(folder / "run.ckpt");
  }
  // One rank alone: load, the last 2 steps; bitwise the uninterrupted run.
  if (rank == 0) {
    Model m;
    ShardedOptimizer dist(MPI_COMM_SELF, m.parameters(), c.build);
    dist.load(folder / "run.ckpt");
    run_steps(dist, m, 7, 8);
    EXPECT_EQ(m.bytes(), reference.bytes());
    for (const char* slot : {"exp_avg", "exp_avg_sq"}) {
      const auto a = dist.local()->state<float>("layer1.bias", slot), b = ref->state<float>("layer1.bias", slot);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << slot;
    }
    EXPECT_EQ(dist.local()->step_count("gain"), 8);
    // The second save removed the first save's shards: the index's and no other.
    std::size_t shards = 0;
    for (const auto& entry : std::filesystem::directory_iterator(folder.path())) shards += entry.path().extension() == ".safetensors";
    EXPECT_EQ(shards, static_cast<std::size_t>(world));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Runs `load` expecting the same error type on every rank, and checks nothing changed.
template <class E>
void expect_load_fails(const std::filesystem::path& index, const char* needle) {
  Model m;
  for (float& x : m.w1) x = 42.0f;
  ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), cases()[0].build);
  const auto before = m.bytes();
  try {
    dist.load(index);
    ADD_FAILURE() << "load succeeded";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_EQ(m.bytes(), before);
  if (dist.local()) {
    EXPECT_FALSE(dist.local()->has_state(dist.local()->parameter(0).name(), "exp_avg"));
  }
}

TEST(Dist, BadCheckpointsFailOnEveryRankAndLoadNothing) {
  const int rank = world_rank(), world = world_size();
  const SharedFolder folder("bad");
  const auto save_one = [&](const std::filesystem::path& index) {
    Model m;
    ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), cases()[0].build);
    set_gradient(m, 1, rank, false);
    dist.reduce_gradients();
    dist.step();
    dist.save(index);
  };
  save_one(folder / "a.ckpt");
  save_one(folder / "b.ckpt");
  const auto shard_of = [&](const std::string& index, int r) {
    for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(index + ".") && name.ends_with(".rank" + std::to_string(r) + "-of-" + std::to_string(world) + ".safetensors")) {
        return entry.path();
      }
    }
    return std::filesystem::path();
  };
  // A shard of another run under the expected name.
  if (rank == 0) {
    std::filesystem::create_directories(folder / "mixed");
    std::filesystem::copy(folder / "a.ckpt", folder / "mixed" / "a.ckpt");
    for (int r = 0; r < world; ++r) {
      std::filesystem::copy(r == world - 1 ? shard_of("b.ckpt", r) : shard_of("a.ckpt", r),
                            folder / "mixed" / shard_of("a.ckpt", r).filename());
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  expect_load_fails<descent::InvalidArgument>(folder / "mixed" / "a.ckpt", "run ");

  // The index's world size does not match its shards.
  if (rank == 0) {
    auto index = descent::load_checkpoint(folder / "a.ckpt");
    std::string& meta = index.metadata.at("descent.dist.index");
    const std::string from = "\"world_size\":" + std::to_string(world);
    meta.replace(meta.find(from), from.size(), "\"world_size\":" + std::to_string(world + 1));
    descent::save_checkpoint(folder / "wrong-world.ckpt", index);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  expect_load_fails<descent::InvalidArgument>(folder / "wrong-world.ckpt", "world size");

  // A shard the index names is missing.
  if (rank == 0) std::filesystem::remove(shard_of("a.ckpt", world - 1));
  MPI_Barrier(MPI_COMM_WORLD);
  expect_load_fails<descent::NotFound>(folder / "a.ckpt", "does not exist");

  // The parameters differ from the checkpoint's: another model.
  {
    std::vector<float> v(3), g(3);
    ShardedOptimizer other(MPI_COMM_WORLD, {Parameter("other", std::span(v), std::span(g))}, "adam");
    EXPECT_THROW(other.load(folder / "b.ckpt"), descent::InvalidArgument);
  }
}

// A save that fails on one rank (its shard's name is taken by a folder) leaves the previous checkpoint
// whole and loadable, as a rank killed before the index is written does.
TEST(Dist, FailedSaveLeavesThePreviousCheckpoint) {
  const int rank = world_rank(), world = world_size();
  const SharedFolder folder("failed-save");
  Model m;
  ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), cases()[0].build);
  set_gradient(m, 1, rank, false);
  dist.reduce_gradients();
  dist.step();
  dist.save(folder / "run.ckpt");
  const auto saved = m.bytes();
  set_gradient(m, 2, rank, false);
  dist.reduce_gradients();
  dist.step();
  if (rank == 0) {
    for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
      std::string name = entry.path().filename().string();
      const std::string last = ".1.rank" + std::to_string(world - 1) + "-of-";
      if (const std::size_t at = name.find(last); at != std::string::npos) {
        std::filesystem::create_directory(folder.path() / name.replace(at, 2, ".2"));
      }
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_THROW(dist.save(folder / "run.ckpt"), descent::Error);
  Model fresh;
  ShardedOptimizer loaded(MPI_COMM_WORLD, fresh.parameters(), cases()[0].build);
  loaded.load(folder / "run.ckpt");
  EXPECT_EQ(fresh.bytes(), saved);
}

TEST(Dist, DifferentParametersOnOneRankFailEverywhere) {
  const int rank = world_rank();
  std::vector<float> v(4), g(4);
  std::vector<Parameter> params{Parameter(rank == 1 ? "renamed" : "weight", std::span(v), std::span(g))};
  try {
    ShardedOptimizer dist(MPI_COMM_WORLD, params, "adam");
    ADD_FAILURE() << "built";
  } catch (const descent::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("differ"), std::string::npos) << e.what();
  }
}

TEST(Dist, NonFiniteGradientOnOneRankIsAgreedOn) {
  const int rank = world_rank();
  Model m;
  ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), cases()[0].build);
  set_gradient(m, 1, rank, false);
  if (rank == 1) m.gb2[1] = std::numeric_limits<float>::quiet_NaN();
  const auto before = m.bytes();
  dist.reduce_gradients();
  EXPECT_THROW(dist.step(), descent::InvalidArgument);
  EXPECT_EQ(m.bytes(), before);
  dist.set_nonfinite_policy(descent::NonFinitePolicy::Skip);
  dist.reduce_gradients();
  EXPECT_FALSE(dist.step());
  EXPECT_EQ(dist.skipped_steps(), 1);
  EXPECT_EQ(m.bytes(), before);
}

// Per-rank state: the largest rank within total / N + the largest tensor (the ownership's bound).
TEST(Dist, StateIsSharded) {
  const int rank = world_rank(), world = world_size();
  Model m;
  ShardedOptimizer dist(MPI_COMM_WORLD, m.parameters(), cases()[0].build);
  set_gradient(m, 1, rank, false);
  dist.reduce_gradients();
  dist.step();
  unsigned long mine = dist.state_bytes(), total = 0, largest = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &largest, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
  Model r;
  auto ref = cases()[0].build(r.parameters());
  set_gradient(r, 1, 0, false);
  ref->step();
  // Adam: exp_avg and exp_avg_sq of each element, a step count per tensor.
  const unsigned long one_process = 2 * (m.bytes().size()) + 5 * 8;
  EXPECT_EQ(total, one_process);
  const unsigned long biggest_tensor = 2 * 7 * 5 * 4 + 8;
  EXPECT_LE(largest, one_process / static_cast<unsigned long>(world) + biggest_tensor);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  int worst = result;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
