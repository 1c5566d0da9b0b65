// Adam with float32, bfloat16 and int8 state side by side (docs/optimizers.md, "State dtypes"): bytes of
// state per parameter, step time on n float32 parameters, and each one's memory roof, in one run; and
// the peak resident memory of a step.
//
//   descent_lowbit_step [n = 10000000] [repeats = 9] [threads = 1]   JSON lines: one per state dtype, the
//                                                                     medians of repeats that take the three
//                                                                     dtypes in turn
//   descent_lowbit_step --rss float32|bfloat16|int8 [n = 100000000]  one JSON line: peak RSS (VmHWM) of
//                                                                     a process that builds n parameters
//                                                                     and takes two steps
//   descent_lowbit_step --cpu [n = 65536] [repeats = 400]            JSON lines: the kernels' compute cost,
//                                                                     ns of thread CPU time per parameter
//                                                                     (the least of `repeats` calls) on n
//                                                                     parameters that stay in cache (int8
//                                                                     twice where the CPU has VBMI: read
//                                                                     back with byte permutes, then gathers)
//
// The roof of a state dtype is a vector loop (Highway, the same instruction set as the step) over the same
// chunks and threads that moves exactly the bytes its step must and does little else: g read, p read and
// written, and each moment read and written in its storage type (float32 28 bytes per parameter, bfloat16
// 20, int8 16 plus the two block scales, 4 bytes per 128 parameters), run in full-width and in 256-bit
// vectors, each with and without software prefetch (as Adam's kernels issue it): the fastest of the four
// in the first (discarded) repeat, three passes each, is the one timed in the others.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "engine/thread_pool.hpp"
#include "kernels/kernels.hpp"
#include "kernels/prefetch.hpp"
#include "optimizers/adam/adam_reference.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit_step.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit_roof::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// p = p / 2 + g + m + v; m += g; v += g, on [b, e), the moments stored as S (float, bfloat16 bits as
// uint16_t, codes as uint8_t), converted with a shift (bfloat16) or an integer conversion (codes). In
// vectors of D: the target's full width, or 256 bits (`narrow`), which streams faster on Zen 4
// (src/kernels/vector-inl.h); with or without the software prefetch the Adam kernels issue
// (kernels/prefetch.hpp); the roof is the fastest of the four.
template <class S, class D>
void RoofChunk(D d, bool prefetch, const float* g, float* p, S* m, S* v, std::size_t b, std::size_t e) {
  const hn::RebindToSigned<decltype(d)> di;
  const hn::RebindToUnsigned<decltype(d)> du;
  const hn::Rebind<S, decltype(d)> ds;
  const std::size_t N = hn::Lanes(d);
  const auto half = hn::Set(d, 0.5f);
  (void)di;
  (void)du;
  (void)ds;
  const auto load = [&](const S* x) HWY_ATTR {
    if constexpr (sizeof(S) == 4) return hn::LoadU(d, reinterpret_cast<const float*>(x));
    else if constexpr (sizeof(S) == 2) return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(ds, x))));
    else return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(ds, x)));
  };
  const auto store = [&](hn::Vec<decltype(d)> x, S* to) HWY_ATTR {
    if constexpr (sizeof(S) == 4) hn::StoreU(x, d, reinterpret_cast<float*>(to));
    else if constexpr (sizeof(S) == 2) hn::StoreU(hn::DemoteTo(ds, hn::BitCast(di, hn::ShiftRight<16>(hn::BitCast(du, x)))), ds, to);
    else hn::StoreU(hn::DemoteTo(ds, hn::ConvertTo(di, x)), ds, to);
  };
  std::size_t i = b;
  for (; i + N <= e; i += N) {
    if (prefetch) {
      descent::kernels::PrefetchAhead<false>(g, i);
      descent::kernels::PrefetchAhead<true>(p, i);
      descent::kernels::PrefetchAhead<true>(m, i);
      descent::kernels::PrefetchAhead<true>(v, i);
    }
    const auto gv = hn::LoadU(d, g + i), mv = load(m + i), vv = load(v + i);
    hn::StoreU(hn::Add(hn::MulAdd(hn::LoadU(d, p + i), half, gv), hn::Add(mv, vv)), d, p + i);
    store(hn::Add(mv, gv), m + i);
    store(hn::Add(vv, gv), v + i);
  }
  for (; i < e; ++i) {  // not reached for the bench's sizes (multiples of every vector length)
    p[i] = p[i] * 0.5f + g[i];
  }
}
// variant: bit 0 narrow (256-bit vectors), bit 1 software prefetch.
template <class S>
void RoofAt(int variant, const float* g, float* p, S* m, S* v, std::size_t b, std::size_t e) {
  if (variant & 1) {
    RoofChunk(hn::CappedTag<float, 8>(), (variant & 2) != 0, g, p, m, v, b, e);
  } else {
    RoofChunk(hn::ScalableTag<float>(), (variant & 2) != 0, g, p, m, v, b, e);
  }
}
void RoofFloat32(int variant, const float* g, float* p, float* m, float* v, std::size_t b, std::size_t e) {
  RoofAt(variant, g, p, m, v, b, e);
}
void RoofBFloat16(int variant, const float* g, float* p, std::uint16_t* m, std::uint16_t* v, std::size_t b, std::size_t e) {
  RoofAt(variant, g, p, m, v, b, e);
}
void RoofInt8(int variant, const float* g, float* p, std::uint8_t* m, std::uint8_t* v, std::size_t b, std::size_t e) {
  RoofAt(variant, g, p, m, v, b, e);
}

}  // namespace lowbit_roof::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit_roof {
HWY_EXPORT(RoofFloat32);
HWY_EXPORT(RoofBFloat16);
HWY_EXPORT(RoofInt8);
}  // namespace lowbit_roof

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 16384;  // the engine's chunk size
constexpr const char* kNames[] = {"float32", "bfloat16", "int8"};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void roof_chunk(int variant, const float* g, float* p, float* m, float* v, std::size_t b, std::size_t e) {
  HWY_DYNAMIC_DISPATCH(lowbit_roof::RoofFloat32)(variant, g, p, m, v, b, e);
}
void roof_chunk(int variant, const float* g, float* p, std::uint16_t* m, std::uint16_t* v, std::size_t b, std::size_t e) {
  HWY_DYNAMIC_DISPATCH(lowbit_roof::RoofBFloat16)(variant, g, p, m, v, b, e);
}
void roof_chunk(int variant, const float* g, float* p, std::uint8_t* m, std::uint8_t* v, std::size_t b, std::size_t e) {
  HWY_DYNAMIC_DISPATCH(lowbit_roof::RoofInt8)(variant, g, p, m, v, b, e);
}

template <class S>
struct Roof {
  std::vector<float> g, p;
  std::vector<S> m, v;
  std::vector<float> scales;  // int8: the two moments' block scales, read and written once per block
  descent::detail::ThreadPool pool;
  Roof(std::size_t n, std::size_t threads, bool blocks)
      : g(n, 1.0f), p(n, 1.0f), m(n, S{1}), v(n, S{1}), scales(blocks ? 2 * ((n + 255) / 256) : 0, 1.0f), pool(threads) {}
  // The first call times each of the four loops (each vector width, with and without prefetch) three
  // times and keeps the one with the least median for the later calls, so that a roof time, like a
  // step time, is one sample (a minimum of four noisy samples per repeat would bias the roof low). The
  // bench discards that call.
  int best = -1;
  double run() {
    if (best >= 0) return run(best);
    double fastest = 0.0;
    for (int variant = 0; variant < 4; ++variant) {
      double t[3] = {run(variant), run(variant), run(variant)};
      std::sort(t, t + 3);
      if (best < 0 || t[1] < fastest) best = variant, fastest = t[1];
    }
    return fastest;
  }
  double run(int variant) {
    const std::size_t n = p.size(), chunks = (n + kChunk - 1) / kChunk;
    const auto start = Clock::now();
    pool.run(chunks, [&](std::size_t c) {
      const std::size_t b = c * kChunk, e = std::min(n, b + kChunk);
      roof_chunk(variant, g.data(), p.data(), m.data(), v.data(), b, e);
      for (std::size_t k = b / 128; k < e / 128 && k < scales.size(); ++k) scales[k] = scales[k] * 0.5f + 1.0f;
    });
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
};

std::unique_ptr<descent::Adam> make_adam(std::vector<float>& w, std::vector<float>& g, int dtype, std::size_t threads) {
  descent::AdamOptions o(1e-6);
  o.state_dtype(static_cast<descent::StateDType>(dtype));
  auto opt = std::make_unique<descent::Adam>(
      std::vector<descent::Parameter>{descent::Parameter("w", std::span(w), std::span(g))}, o);
  opt->set_num_threads(threads);
  opt->set_nonfinite_policy(descent::NonFinitePolicy::Propagate);  // the update alone, as the roof
  return opt;
}

double state_bytes_per_parameter(const descent::Optimizer& opt, std::size_t n) {
  double bytes = 0.0;
  for (const auto slot : opt.slot_names()) {
    if (!opt.has_state("w", slot)) continue;
    const descent::SlotLayout l = opt.state_layout("w", slot);
    std::size_t count = 1;
    for (const auto d : l.shape) count *= static_cast<std::size_t>(d);
    bytes += static_cast<double>(count * descent::size_of(l.dtype));
  }
  return bytes / static_cast<double>(n);
}

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace

namespace {

// Thread CPU time, so that other processes on a busy machine count less than they do in wall time.
double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// The Adam kernels alone (no engine, one thread) on n parameters, float32, bfloat16 and int8 state.
void compute_cost(std::size_t n, int repeats) {
  std::vector<float> p(n, 0.5f), g(n), m(n, 0.0f), v(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<float>(i % 1000) * 1e-3f - 0.5f;
  std::vector<std::uint16_t> m16(n), v16(n);
  std::vector<std::uint8_t> m8(n), v8(n);
  std::vector<float> m_absmax(descent::lowbit::blocks_of(n)), v_absmax(descent::lowbit::blocks_of(n));
  const descent::reference::AdamStep s{0.9, 0.999, 1e-8, 0.0, 1.0, 1e-6, 0.03, false, false};
  const bool permutes = descent::lowbit::byte_permute::enabled();
  for (int row = 0; row < (permutes ? 4 : 3); ++row) {  // row 3: int8 read back with gathers instead
    const int dtype = row < 3 ? row : 2;
    const descent::lowbit::byte_permute::TurnOff gathers(row == 3);
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) {
      descent::lowbit::StateRef slots[2]{};
      slots[0].is_signed = true;
      slots[1].is_signed = false;
      slots[0].data = dtype == 1 ? static_cast<void*>(m16.data()) : m8.data();
      slots[1].data = dtype == 1 ? static_cast<void*>(v16.data()) : v8.data();
      slots[0].absmax = m_absmax.data();
      slots[1].absmax = v_absmax.data();
      const double start = thread_seconds();
      if (dtype == 0) {
        descent::kernels::adam(s, p.data(), g.data(), m.data(), v.data(), nullptr, n);
      } else {
        descent::kernels::adam_lowbit(s, static_cast<descent::StateDType>(dtype), p.data(), g.data(), slots, 2, 0, n);
      }
      best = std::min(best, thread_seconds() - start);
    }
    std::printf("{\"state_dtype\": \"%s\", \"read_back\": \"%s\", \"parameters\": %zu, \"cpu_ns_per_parameter\": %.3f}\n",
                kNames[dtype], dtype < 2 ? "-" : row == 2 && permutes ? "byte permutes" : "gathers", n,
                best / static_cast<double>(n) * 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--cpu") {
    compute_cost(argc > 2 ? std::stoul(argv[2]) : 65536, argc > 3 ? std::stoi(argv[3]) : 400);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--rss") {
    const std::string name = argc > 2 ? argv[2] : "float32";
    const std::size_t n = argc > 3 ? std::stoul(argv[3]) : 100'000'000;
    int dtype = 0;
    while (dtype < 3 && name != kNames[dtype]) ++dtype;
    if (dtype == 3) {
      std::fprintf(stderr, "unknown state dtype '%s' (float32, bfloat16, int8)\n", name.c_str());
      return 2;
    }
    std::vector<float> w(n, 0.5f), g(n, 0.25f);
    auto opt = make_adam(w, g, dtype, 0);
    opt->step();
    opt->step();
    std::printf("{\"state_dtype\": \"%s\", \"parameters\": %zu, \"peak_rss_mib\": %.1f, \"state_bytes_per_parameter\": %.4f}\n",
                kNames[dtype], n, static_cast<double>(peak_rss_kib()) / 1024.0, state_bytes_per_parameter(*opt, n));
    return 0;
  }
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 10'000'000;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 9;
  const std::size_t threads = argc > 3 ? std::stoul(argv[3]) : 1;
  std::printf("{\"target\": \"%s\"}\n", descent::kernels::current_target().c_str());
  // The three dtypes are measured in turn within each repeat (roof, then step), so that the machine's
  // drift over the run hits all of them alike and the ratios between them compare like with like.
  std::vector<float> w[3], g[3];
  std::unique_ptr<descent::Adam> opt[3];
  for (int dtype = 0; dtype < 3; ++dtype) {
    w[dtype].assign(n, 0.5f);
    g[dtype].resize(n);
    for (std::size_t i = 0; i < n; ++i) g[dtype][i] = static_cast<float>(i % 1000) * 1e-3f - 0.5f;
    opt[dtype] = make_adam(w[dtype], g[dtype], dtype, threads);
  }
  Roof<float> roof32(n, threads, false);
  Roof<std::uint16_t> roof16(n, threads, false);
  Roof<std::uint8_t> roof8(n, threads, true);
  std::vector<double> roof_times[3], step_times[3];
  for (int r = 0; r < repeats + 2; ++r) {
    for (int dtype = 0; dtype < 3; ++dtype) {
      const double a = dtype == 0 ? roof32.run() : dtype == 1 ? roof16.run() : roof8.run();
      const auto start = Clock::now();
      opt[dtype]->step();
      const double b = std::chrono::duration<double>(Clock::now() - start).count();
      if (r >= 2) {
        roof_times[dtype].push_back(a);
        step_times[dtype].push_back(b);
      }
    }
  }
  for (int dtype = 0; dtype < 3; ++dtype) {
    const double roof = median(roof_times[dtype]), step = median(step_times[dtype]);
    std::printf("{\"state_dtype\": \"%s\", \"parameters\": %zu, \"threads\": %zu, \"state_bytes_per_parameter\": %.4f, "
                "\"roof_s\": %.6g, \"step_s\": %.6g, \"step_over_roof\": %.3f, \"step_over_float32\": %.3f}\n",
                kNames[dtype], n, threads, state_bytes_per_parameter(*opt[dtype], n), roof, step, step / roof,
                step / median(step_times[0]));
  }
}
#endif  // HWY_ONCE
