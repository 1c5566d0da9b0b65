// descent::dist's costs per step, for docs/distributed.md: run with mpirun at 1, 2, 3 ranks.
//   mpirun -np 2 --oversubscribe build/bench/descent_dist_step [layers=784-1024-1024-10] [batch=256] [steps=10]
// Each rank computes its share of a batch of random inputs through an MLP (compute), reduces the
// gradients (communication: exchange and ordered sum), steps its owned tensors with Adam (update) and
// gathers the new values (communication). Rank 0 prints one line per rank and mode: optimizer state held,
// bytes sent per step against the reduce-scatter + all-gather optimum 2 (N - 1) / N x gradient bytes, and
// the mean seconds of each phase over the measured steps (after 2 warm-up steps).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "descent/dist.hpp"
#include "descent/factory.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/nn/train.hpp"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void run(descent::dist::Reduction reduction, const std::vector<std::size_t>& layers, std::size_t batch, int steps) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  descent::nn::MLPConfig config;
  config.layers = layers;
  descent::nn::MLP<float> mlp(config);
  descent::dist::ShardedOptimizer opt(MPI_COMM_WORLD, mlp.parameters(), [](std::vector<descent::Parameter> owned) {
    auto local = descent::make_optimizer("adam", std::move(owned), {{"lr", 1e-3}});
    local->set_num_threads(1);
    return local;
  }, reduction);
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> inputs(batch * layers.front());
  for (float& x : inputs) x = uniform(random);
  std::vector<std::int32_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<std::int32_t>(i % layers.back());

  double compute = 0.0, reduce = 0.0, update = 0.0, gather = 0.0;
  for (int step = 0; step < steps + 2; ++step) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = now();
    descent::nn::micro_batch_gradient(mlp, inputs, labels, static_cast<std::size_t>(rank), static_cast<std::size_t>(world));
    const double computed = now() - start;
    opt.reduce_gradients();
    opt.step();
    if (step < 2) continue;
    const auto& s = opt.last_step_stats();
    compute += computed;
    reduce += s.reduce_seconds;
    update += s.update_seconds;
    gather += s.gather_seconds;
  }
  const auto& s = opt.last_step_stats();
  const double gradient_bytes = static_cast<double>(mlp.num_parameters() * sizeof(float));
  double row[8] = {static_cast<double>(opt.state_bytes()), static_cast<double>(s.reduce_bytes_sent),
                   static_cast<double>(s.gather_bytes_sent), compute / steps, reduce / steps, update / steps,
                   gather / steps, 0.0};
  std::vector<double> rows(static_cast<std::size_t>(8 * world));
  MPI_Gather(row, 8, MPI_DOUBLE, rows.data(), 8, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank != 0) return;
  const double optimum = 2.0 * (world - 1) / world * gradient_bytes;
  for (int r = 0; r < world; ++r) {
    const double* v = &rows[static_cast<std::size_t>(8 * r)];
    std::printf("%-10s ranks %d rank %d: state %.2f MB (one process %.2f MB), sent %.2f MB/step (reduce %.2f + gather "
                "%.2f; optimum %.2f), compute %.2f ms, reduce %.2f ms, update %.2f ms, gather %.2f ms\n",
                reduction == descent::dist::Reduction::RankOrder ? "rank-order" : "allreduce", world, r, v[0] / 1e6,
                2.0 * gradient_bytes / 1e6, (v[1] + v[2]) / 1e6, v[1] / 1e6, v[2] / 1e6, optimum / 1e6, 1e3 * v[3],
                1e3 * v[4], 1e3 * v[5], 1e3 * v[6]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const std::vector<std::size_t> layers = descent::nn::parse_layers(argc > 1 ? argv[1] : "784-1024-1024-10");
  const std::size_t batch = argc > 2 ? std::stoul(argv[2]) : 256;
  const int steps = argc > 3 ? std::stoi(argv[3]) : 10;
  run(descent::dist::Reduction::RankOrder, layers, batch, steps);
  run(descent::dist::Reduction::Allreduce, layers, batch, steps);
  MPI_Finalize();
  return 0;
}
