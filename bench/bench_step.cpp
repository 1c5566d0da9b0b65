// Time of one optimizer step, per optimizer, for one tensor and for many small tensors of the same
// total size (with the default check for non-finite gradients), and SGD and Adam without the check.
// Run: build/test/bench/descent_bench
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace {

void bench_step(benchmark::State& state, const std::string& optimizer, descent::NonFinitePolicy policy) {
  const auto total = static_cast<std::size_t>(state.range(0));
  const auto tensors = static_cast<std::size_t>(state.range(1));
  const std::size_t each = total / tensors;
  std::vector<float> w(each * tensors), g(w.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : w) v = normal(rng);
  for (auto& v : g) v = normal(rng);
  std::vector<descent::Parameter> params;
  for (std::size_t t = 0; t < tensors; ++t) {
    params.emplace_back("p" + std::to_string(t), std::span(w).subspan(t * each, each), std::span(g).subspan(t * each, each));
  }
  auto opt = descent::make_optimizer(optimizer, std::move(params), {{"lr", 1e-6}});
  opt->set_nonfinite_policy(policy);
  opt->step();  // create the state outside the timed loop
  for (auto _ : state) {
    opt->step();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(w.size()));
  state.counters["ns_per_param"] = benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(w.size()),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

const bool registered = [] {
  for (const auto name : descent::optimizer_names()) {
    benchmark::RegisterBenchmark(("step/" + std::string(name)).c_str(), bench_step, std::string(name),
                                 descent::NonFinitePolicy::Raise)
        ->Args({1 << 16, 1})
        ->Args({10'000'000, 1})
        ->Args({10'000'000, 200})
        ->Unit(benchmark::kMillisecond);
  }
  // The cost of the default check for non-finite gradients: the same steps without it.
  for (const char* name : {"sgd", "adam"}) {
    benchmark::RegisterBenchmark(("step-unchecked/" + std::string(name)).c_str(), bench_step, std::string(name),
                                 descent::NonFinitePolicy::Propagate)
        ->Args({10'000'000, 1})
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
