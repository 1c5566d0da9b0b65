// Muon's step beside AdamW's, and its Newton-Schulz products' rate beside plain sgemm, in ONE run:
//   1. one step of muon_with_aux_adamw (Muon for the weights, AdamW for the biases) and of AdamW on the
//      784-256-10 MLP's parameters (weights [256, 784] and [10, 256], biases [256] and [10]);
//      then SOAP's step and state bytes on the same parameters;
//   2. Muon and AdamW on one [big, big] matrix (default 4096);
//   3. the Newton-Schulz iteration alone (5 steps) on [256, 784] and [big, big], in GFLOP/s
//      (4 m^2 n + 2 m^3 flops per iteration), beside cblas_sgemm of [big, big] x [big, big] (2 big^3 flops):
//      the machine's sgemm rate with OpenBLAS's threads.
// Float32, default threads (the engine's one per core, OpenBLAS's own). Prints one JSON object per line:
// medians over `repeats` after one warm-up.
//   build/bench/bench/descent_muon_step [big=4096] [repeats=5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "linalg/gemm.hpp"
#include "optimizers/muon/newton_schulz.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median_seconds(int repeats, const std::function<void()>& fn) {
  fn();  // warm-up: creates state, faults pages in
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> w, g;
};

std::vector<Tensor> tensors(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& specs) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<Tensor> out;
  for (const auto& [name, shape] : specs) {
    std::size_t n = 1;
    for (const auto d : shape) n *= static_cast<std::size_t>(d);
    Tensor t{name, shape, std::vector<float>(n), std::vector<float>(n)};
    for (auto& v : t.w) v = 0.05f * normal(rng);
    for (auto& v : t.g) v = normal(rng);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<descent::Parameter> params(std::vector<Tensor>& ts) {
  std::vector<descent::Parameter> out;
  for (Tensor& t : ts) out.emplace_back(t.name, std::span(t.w), std::span(t.g), t.shape);
  return out;
}

void step_pair(const char* set, const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& specs,
               int repeats) {
  auto for_muon = tensors(specs), for_adamw = tensors(specs);
  auto muon = descent::muon_with_aux_adamw(params(for_muon), descent::MuonOptions(0.02));
  descent::AdamW adamw(params(for_adamw), descent::AdamWOptions(1e-3));
  for (descent::Optimizer* o : {muon.get(), static_cast<descent::Optimizer*>(&adamw)}) {
    o->set_nonfinite_policy(descent::NonFinitePolicy::Propagate);  // the update alone
  }
  const double muon_s = median_seconds(repeats, [&] { muon->step(); });
  const double adamw_s = median_seconds(repeats, [&] { adamw.step(); });
  std::printf("{\"set\": \"%s\", \"muon_step_s\": %.6g, \"adamw_step_s\": %.6g, \"muon_over_adamw\": %.4g}\n", set,
              muon_s, adamw_s, muon_s / adamw_s);
  std::fflush(stdout);
}

// SOAP's step on the same set (its first step, which only builds the preconditioners, is the warm-up;
// the timed ones are plain steps, refreshes every 10 of them included in proportion when repeats >= 10).
void soap_step(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& specs, int repeats) {
  auto ts = tensors(specs);
  descent::SOAP soap(params(ts));
  soap.set_nonfinite_policy(descent::NonFinitePolicy::Propagate);
  soap.step();  // the first step: eigendecompositions only
  const double seconds = median_seconds(repeats, [&] { soap.step(); });
  std::size_t state = 0;
  for (const Tensor& t : ts) {
    for (const auto slot : soap.slot_names()) {
      std::size_t n = 4;
      for (const auto d : soap.state_layout(t.name, slot).shape) n *= static_cast<std::size_t>(d);
      state += n;
    }
  }
  std::printf("{\"set\": \"mlp-784-256-10\", \"soap_step_s\": %.6g, \"soap_state_bytes\": %zu}\n", seconds, state);
  std::fflush(stdout);
}

void newton_schulz_rate(std::size_t m, std::size_t n, int repeats) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  std::vector<float> start(m * n), x(m * n);
  double sq = 0.0;
  for (auto& v : start) {
    v = normal(rng);
    sq += static_cast<double>(v) * v;
  }
  for (auto& v : start) v = static_cast<float>(v / std::sqrt(sq));
  const double seconds = median_seconds(repeats, [&] {
    std::copy(start.begin(), start.end(), x.begin());
    descent::muon::newton_schulz(x.data(), m, n, {3.4445, -4.7750, 2.0315}, 5);
  });
  const double flops = descent::muon::ns_flops(m, n, 5);
  std::printf("{\"newton_schulz\": [%zu, %zu], \"steps\": 5, \"seconds\": %.6g, \"gflops\": %.4g}\n", m, n, seconds,
              flops / seconds * 1e-9);
  std::fflush(stdout);
}

double sgemm_rate(std::size_t k, int repeats) {
  std::vector<float> a(k * k, 0.5f), b(k * k, 0.25f), c(k * k, 0.0f);
  const double seconds = median_seconds(repeats, [&] {
    descent::linalg::gemm<float>(false, false, k, k, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), k);
  });
  const double gflops = 2.0 * static_cast<double>(k) * k * k / seconds * 1e-9;
  std::printf("{\"sgemm\": [%zu, %zu, %zu], \"seconds\": %.6g, \"gflops\": %.4g}\n", k, k, k, seconds, gflops);
  std::fflush(stdout);
  return gflops;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t big = argc > 1 ? std::stoll(argv[1]) : 4096;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 5;
  step_pair("mlp-784-256-10", {{"layer1.weight", {256, 784}}, {"layer1.bias", {256}}, {"layer2.weight", {10, 256}},
                               {"layer2.bias", {10}}}, repeats);
  soap_step({{"layer1.weight", {256, 784}}, {"layer1.bias", {256}}, {"layer2.weight", {10, 256}}, {"layer2.bias", {10}}},
            repeats);
  step_pair("matrix", {{"w", {big, big}}}, repeats);
  sgemm_rate(static_cast<std::size_t>(big), repeats);
  newton_schulz_rate(256, 784, repeats);
  newton_schulz_rate(static_cast<std::size_t>(big), static_cast<std::size_t>(big), repeats);
}
