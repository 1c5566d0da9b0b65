// The registry: every optimizer once, with what the factory, the CLI, the benchmarks and the tests need
// to know about it. Each optimizer's entry is written in its own folder (src/optimizers/<name>/<name>.cpp,
// function registry::<name>()); registry.cpp lists the folders, and that list is the only one.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/factory.hpp"
#include "descent/optimizer.hpp"

namespace descent::registry {

// One pass over memory of an optimizer's step, per parameter element: `reads` arrays only read, `updates`
// arrays read and written. bench/compare_step.cpp times a plain loop that moves these bytes (the roof).
struct MemoryPass {
  int reads, updates;
};

// How bench/compare.sh measures an optimizer: with these options (lr aside), and against this roof.
struct Benchmark {
  std::span<const std::pair<std::string_view, double>> options;
  std::span<const MemoryPass> roof;
  // A matrix rule (Muon, SOAP): its step is matrix products and decompositions, not one memory pass, so
  // it has no roof (empty) and bench/compare.sh leaves it out; its folder's own benchmark measures it.
  // Its products are not bitwise reproducible against NumPy, so its folder's test replays its reference
  // with a derived tolerance, instead of tests/test_parity.cpp.
  bool matrix = false;
};

struct Entry {
  std::string_view name;  // lower case: "adamw"
  std::unique_ptr<Options> (*defaults)();
  std::unique_ptr<Optimizer> (*build)(std::vector<Parameter> params, const Options& options);
  std::span<const OptimizerPreset> presets;  // the CLI's named configurations, the first with no overrides
  Benchmark benchmark;
};

// An entry for OptimizerT, whose options are OptionsT.
template <class OptimizerT, class OptionsT>
constexpr Entry entry(std::string_view name, std::span<const OptimizerPreset> presets, Benchmark benchmark) {
  return {name, []() -> std::unique_ptr<Options> { return std::make_unique<OptionsT>(); },
          [](std::vector<Parameter> params, const Options& options) -> std::unique_ptr<Optimizer> {
            return std::make_unique<OptimizerT>(std::move(params), static_cast<const OptionsT&>(options));
          },
          presets, benchmark};
}

// Every optimizer, in the order of the docs: sgd, adagrad, ... (registry.cpp).
std::span<const Entry> all();

// Each folder's entries (adam/ holds Adam and AdamW).
#define DESCENT_OPTIMIZER_FOLDERS(X) X(sgd) X(adagrad) X(adadelta) X(rmsprop) X(adam) X(adamax) X(nadam) X(radam) X(lars) X(lamb) X(rprop) X(asgd) X(adafactor) X(lion) X(schedule_free) X(muon) X(soap)
#define DESCENT_DECLARE_FOLDER(folder) std::span<const Entry> folder();
DESCENT_OPTIMIZER_FOLDERS(DESCENT_DECLARE_FOLDER)
#undef DESCENT_DECLARE_FOLDER

}  // namespace descent::registry
