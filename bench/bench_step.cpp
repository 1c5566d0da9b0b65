// Time of one optimizer step, per optimizer, for one tensor and for many small tensors of the same
// total size (with the default check for non-finite gradients), and SGD and Adam without the check.
// Run: build/test/bench/descent_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "optimizers/registry.hpp"
#include "split_parameters.hpp"

namespace {

void bench_step(benchmark::State& state, const std::string& optimizer, descent::NonFinitePolicy policy) {
  const auto tensors = static_cast<std::size_t>(state.range(1));
  descent::bench::SplitParameters memory(static_cast<std::size_t>(state.range(0)), tensors);
  const std::vector<float>& w = memory.w;
  auto opt = descent::make_optimizer(optimizer, memory.params(tensors), {{"lr", 1e-6}});
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
  for (const descent::registry::Entry& e : descent::registry::all()) {
    if (e.benchmark.matrix) continue;  // Muon: bench/muon_step.cpp (1-D tensors would all go to its AdamW)
    const std::string_view name = e.name;
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
