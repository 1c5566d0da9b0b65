// Building optimizers by name: for the CLI, configuration files, tests and checkpoints.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent {

// Every optimizer the factory builds ("sgd", "adam", ...), in the order of docs/optimizers.md
// (src/optimizers/registry.hpp lists them; `descent list --names` prints them).
std::span<const std::string_view> optimizer_names();

// A named configuration of an optimizer, as the command line offers it ("momentum": SGD with momentum 0.9),
// with the learning rate `descent train` uses for it when none is given (tuned on its MLP examples).
struct OptimizerPreset {
  std::string_view name;
  std::string_view optimizer;  // one of optimizer_names()
  std::span<const std::pair<std::string_view, double>> overrides;  // of the optimizer's default options
  std::string_view description;
  double train_lr;
  // The CLI trains with the model's weights and gradients in bfloat16 (the rule's option bf16_params says how).
  bool bf16_parameters = false;
};
// Every optimizer's presets, optimizer by optimizer in the order of optimizer_names(); each optimizer's
// first preset has no overrides.
std::span<const OptimizerPreset> optimizer_presets();

// Default options of a named optimizer (case-insensitive); throws NotFound for an unknown name.
std::unique_ptr<Options> make_options(std::string_view optimizer);

// Default options with the given overrides applied by option name, each validated.
std::unique_ptr<Options> make_options(std::string_view optimizer, const std::map<std::string, double>& overrides);

// An optimizer of the named kind over `params` (one group) with these options (of the same kind).
std::unique_ptr<Optimizer> make_optimizer(std::string_view optimizer, std::vector<Parameter> params,
                                          const Options& options);
std::unique_ptr<Optimizer> make_optimizer(std::string_view optimizer, std::vector<Parameter> params,
                                          const std::map<std::string, double>& overrides = {});

}  // namespace descent
