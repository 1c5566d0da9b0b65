// Step time of descent::TorchOptimizer (descent's Adam through the adapter) against torch::optim::Adam on
// the same libtorch parameters: 200 tensors holding about 10M float32 values (100 weight matrices of
// 320 x 312 and their biases), fixed random gradients, 1 and 2 threads (torch's intra-op threads and
// descent's engine set alike). Prints one line per (optimizer, threads): the median and the minimum of
// `steps` timed steps after two warm-up steps, and the process CPU time per step (on a loaded machine the
// wall clock also counts time spent waiting for a core).
//
//   descent_bench_torch [steps, default 20]
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/randn.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "descent/torch.hpp"

namespace {

struct Model {
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> tensors;
  std::int64_t elements = 0;
  Model() {
    for (int layer = 0; layer < 100; ++layer) {
      for (const bool bias : {false, true}) {
        std::vector<std::int64_t> shape = bias ? std::vector<std::int64_t>{320} : std::vector<std::int64_t>{320, 312};
        at::Tensor p = at::randn(shape).mul_(0.05).requires_grad_(true);
        p.mutable_grad() = at::randn(shape);
        named.emplace_back("layer" + std::to_string(layer) + (bias ? ".bias" : ".weight"), p);
        tensors.push_back(p);
        elements += p.numel();
      }
    }
  }
};

struct Timing {
  double median_ms, min_ms, cpu_ms;  // wall clock median and minimum; process CPU time per step (all threads)
};

double cpu_now_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

Timing time_steps(torch::optim::Optimizer& opt, int steps) {
  for (int i = 0; i < 2; ++i) opt.step();
  std::vector<double> ms;
  const double cpu_start = cpu_now_ms();
  for (int i = 0; i < steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    opt.step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  const double cpu = (cpu_now_ms() - cpu_start) / steps;
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), cpu};
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  std::printf("# %d timed steps each; parameters: 200 tensors, ", steps);
  for (const int threads : {1, 2}) {
    at::set_num_threads(threads);
    Model theirs_model, ours_model;
    if (threads == 1) std::printf("%lld float32 values\n", static_cast<long long>(ours_model.elements));
    torch::optim::Adam theirs(theirs_model.tensors, torch::optim::AdamOptions(1e-3));
    descent::TorchOptimizer ours(ours_model.named, descent::TorchOptions("adam", {{"lr", 1e-3}}));
    ours.descent_optimizer().set_num_threads(static_cast<std::size_t>(threads));
    const Timing t = time_steps(theirs, steps);
    const Timing o = time_steps(ours, steps);
    ours.descent_optimizer().set_nonfinite_policy(descent::NonFinitePolicy::Propagate);
    const Timing p = time_steps(ours, steps);
    const auto line = [&](const char* what, const Timing& x) {
      std::printf("threads %d  %-30s median %8.2f ms  min %8.2f ms  cpu %8.2f ms/step  torch/this %.2fx\n", threads,
                  what, x.median_ms, x.min_ms, x.cpu_ms, t.median_ms / x.median_ms);
    };
    line("torch::optim::Adam", t);
    line("descent Adam (adapter)", o);
    line("adapter, no finite check", p);
  }
  return 0;
}
