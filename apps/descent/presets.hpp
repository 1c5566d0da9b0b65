// Named optimizer configurations for the CLI: the classic optimizers, each with sensible defaults.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace descent::cli {

struct Preset {
  std::string name;        // what the user types: "momentum", "adam", ...
  std::string optimizer;   // the library's optimizer name
  std::map<std::string, double> options;  // overrides of the optimizer's defaults (lr is tuned or given)
  std::string description;
  double train_lr = 1e-3;  // `descent train`'s learning rate when none is given (OptimizerPreset::train_lr)
  bool bf16_parameters = false;  // train with bfloat16 parameters (OptimizerPreset::bf16_parameters)
};

// The library optimizers' presets (descent::optimizer_presets(), registered in each optimizer's folder:
// gd, momentum, nesterov, adagrad, ...), then the second-order methods (descent::second_order_method_names():
// newton, newton-cg, lbfgs, trust-ncg, trust-exact, trust-krylov).
const std::vector<Preset>& presets();
// Whether the preset is a second-order method for functions (no learning rate, not for training).
bool is_second_order(const Preset& preset);
// A preset by name, or a bare optimizer name with its defaults (and its first preset's training rate). Throws NotFound.
Preset find_preset(std::string_view name);

}  // namespace descent::cli
