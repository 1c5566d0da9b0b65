// Times one optimizer step of descent beside its memory roof, for bench/compare.sh.
//
// The roof of an optimizer is a plain loop that reads and writes exactly the bytes the optimizer's step
// must move (Adam in float32: p, g, m, v read and p, m, v written, 28 bytes per parameter), run on the
// same thread pool in the same chunks. LARS and LAMB need norms before their update, so their roofs
// include those extra passes; each repeat runs the roof's loops without and with software prefetch (as
// descent's kernels issue it) and keeps the faster. Prints one JSON object per measurement, one per line.
//
//   descent_compare_step [n = 10000000] [repeats = 9] [optimizers = all ("" too), or a comma-separated list]
//                        [tensors = 1,200: the splits of the n parameters to time, comma-separated]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "engine/thread_pool.hpp"
#include "kernels/kernels.hpp"
#include "kernels/prefetch.hpp"
#include "optimizers/registry.hpp"
#include "split_parameters.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 16384;  // the engine's chunk size

using Pass = descent::registry::MemoryPass;

struct Config {
  std::string optimizer;                   // descent's name
  std::map<std::string, double> options;  // for descent (PyTorch gets the same in bench/torch_step.py)
  std::vector<Pass> roof;                  // the bytes the step must move, pass by pass
};

// Every registered optimizer, with the options and roof its folder registers (Adam in float32: read g,
// update p m v, 4 reads + 3 writes = 28 bytes per parameter).
std::vector<Config> configs() {
  std::vector<Config> all;
  for (const descent::registry::Entry& e : descent::registry::all()) {
    if (e.benchmark.matrix) continue;  // matrix rules have no memory roof (bench/muon_step.cpp for Muon)
    Config config{std::string(e.name), {}, {e.benchmark.roof.begin(), e.benchmark.roof.end()}};
    for (const auto& [name, value] : e.benchmark.options) config.options.emplace(name, value);
    all.push_back(std::move(config));
  }
  return all;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The roof's passes, each a loop the compiler vectorizes: R arrays only read, U arrays read and written;
// with kPrefetch in blocks of 16 elements (64 bytes), each block's lines prefetched first as the kernels
// prefetch theirs (kernels/prefetch.hpp).
template <int R, int U, bool kPrefetch>
void update_pass(float* const* arrays, std::size_t b, std::size_t e) {
  const float* in[R > 0 ? R : 1];
  float* out[U > 0 ? U : 1];
  for (int r = 0; r < R; ++r) in[r] = arrays[r];
  for (int u = 0; u < U; ++u) out[u] = arrays[4 + u];
  const auto update = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      float sum = 0.0f;
      for (int r = 0; r < R; ++r) sum += in[r][i];
      for (int u = 0; u < U; ++u) out[u][i] = out[u][i] * 0.5f + sum;
    }
  };
  std::size_t i = b;
  if constexpr (kPrefetch) {
    for (; i + 16 <= e; i += 16) {
      for (int r = 0; r < R; ++r) descent::kernels::PrefetchAhead<false>(in[r], i);
      for (int u = 0; u < U; ++u) descent::kernels::PrefetchAhead<true>(out[u], i);
      update(i, i + 16);
    }
  }
  update(i, e);
}

// A norm pass: R arrays read into 16 lanes of partial sums, written with GCC's vector extension so
// that it is vectorized whatever the compiler decides about reductions.
template <int R>
float reduce_pass(float* const* arrays, std::size_t b, std::size_t e) {
  typedef float v16 __attribute__((vector_size(64)));
  v16 acc = {};
  float tail = 0.0f;
  for (int r = 0; r < R; ++r) {
    const float* x = arrays[r];
    std::size_t i = b;
    for (; i + 16 <= e; i += 16) {
      v16 v;
      std::memcpy(&v, x + i, sizeof v);
      acc += v * v;
    }
    for (; i < e; ++i) tail += x[i] * x[i];
  }
  for (int j = 0; j < 16; ++j) tail += acc[j];
  return tail;
}

template <bool kPrefetch>
float run_pass(const Pass& pass, float* const* arrays, std::size_t b, std::size_t e) {
  switch (pass.reads * 10 + pass.updates) {
    case 11: update_pass<1, 1, kPrefetch>(arrays, b, e); return 0.0f;
    case 12: update_pass<1, 2, kPrefetch>(arrays, b, e); return 0.0f;
    case 13: update_pass<1, 3, kPrefetch>(arrays, b, e); return 0.0f;
    case 14: update_pass<1, 4, kPrefetch>(arrays, b, e); return 0.0f;
    case 22: update_pass<2, 2, kPrefetch>(arrays, b, e); return 0.0f;
    case 21: update_pass<2, 1, kPrefetch>(arrays, b, e); return 0.0f;
    case 10: return reduce_pass<1>(arrays, b, e);
    case 20: return reduce_pass<2>(arrays, b, e);
    default: std::fprintf(stderr, "no roof pass for %d reads, %d updates\n", pass.reads, pass.updates); std::exit(1);
  }
}

// The roof's arrays and pool, set up once; run() times one step's worth of passes.
class Roof {
 public:
  Roof(std::vector<Pass> passes, std::size_t n, std::size_t threads)
      : passes_(std::move(passes)), n_(n), storage_(8, std::vector<float>(n, 1.0f)), pool_(threads),
        partial_((n + kChunk - 1) / kChunk) {
    for (std::size_t a = 0; a < 8; ++a) arrays_[a] = storage_[a].data();
  }
  // One step's worth of passes without and with software prefetch: the faster one's time. (Prefetching
  // made some of descent's steps faster than the plain loops; the roof is the faster loop.)
  double run() { return std::min(run(false), run(true)); }
  double run(bool prefetch) {
    const auto start = Clock::now();
    for (const Pass& pass : passes_) {
      pool_.run(partial_.size(), [&](std::size_t c) {
        const std::size_t b = c * kChunk, e = std::min(n_, (c + 1) * kChunk);
        partial_[c] = prefetch ? run_pass<true>(pass, arrays_, b, e) : run_pass<false>(pass, arrays_, b, e);
      });
      for (const float v : partial_) sink_ += v;
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  double sink() const { return sink_; }

 private:
  std::vector<Pass> passes_;
  std::size_t n_;
  std::vector<std::vector<float>> storage_;
  float* arrays_[8];
  descent::detail::ThreadPool pool_;
  std::vector<float> partial_;
  double sink_ = 0.0;
};

// descent's optimizer over n float32 parameters split into `tensors` equal tensors.
struct Subject {
  descent::bench::SplitParameters memory;
  std::unique_ptr<descent::Optimizer> opt;
  Subject(const Config& config, std::size_t n, std::size_t tensors, std::size_t threads) : memory(n, tensors) {
    auto options = config.options;
    options["lr"] = 1e-6;
    opt = descent::make_optimizer(config.optimizer, memory.params(tensors), options);
    opt->set_num_threads(threads);
    // The update alone, as the roof and PyTorch measure it: no check for non-finite gradients (its cost
    // is measured by descent_bench's step-unchecked cases, docs/performance.md).
    opt->set_nonfinite_policy(descent::NonFinitePolicy::Propagate);
  }
  double run() {
    const auto start = Clock::now();
    opt->step();
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 10'000'000;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 9;
  const std::string only = argc > 3 ? argv[3] : "";
  std::vector<std::size_t> splits;
  for (std::string rest = argc > 4 ? argv[4] : "1,200"; !rest.empty();) {
    const std::size_t comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    const std::size_t tensors = item.empty() ? 0 : std::stoul(item);
    if (tensors == 0 || tensors > n) {
      std::fprintf(stderr, "tensors must be between 1 and n = %zu, got \"%s\"\n", n, item.c_str());
      return 2;
    }
    splits.push_back(tensors);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  std::printf("{\"target\": \"%s\"}\n", descent::kernels::current_target().c_str());
  for (const Config& config : configs()) {
    if (!only.empty() && ("," + only + ",").find("," + config.optimizer + ",") == std::string::npos) continue;
    for (const std::size_t tensors : splits) {
      for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        // Roof and descent alternate, repeat by repeat, so that the machine's drift hits both alike.
        Roof roof(config.roof, n, threads);
        Subject subject(config, n, tensors, threads);
        std::vector<double> roof_times, descent_times;
        for (int r = 0; r < repeats + 2; ++r) {
          const double a = roof.run(), b = subject.run();
          if (r >= 2) {
            roof_times.push_back(a);
            descent_times.push_back(b);
          }
        }
        std::printf("{\"optimizer\": \"%s\", \"parameters\": %zu, \"tensors\": %zu, \"threads\": %zu, "
                    "\"roof_s\": %.6g, \"descent_s\": %.6g}\n",
                    config.optimizer.c_str(), n, tensors, threads, median(roof_times), median(descent_times));
        if (roof.sink() == 1.5) std::printf("#");
        std::fflush(stdout);
      }
    }
  }
}
