#include "presets.hpp"

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/minimize/minimize.hpp"

namespace descent::cli {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = [] {
    std::vector<Preset> out;
    for (const OptimizerPreset& p : optimizer_presets()) {
      std::map<std::string, double> options;
      for (const auto& [name, value] : p.overrides) options.emplace(name, value);
      out.push_back({std::string(p.name), std::string(p.optimizer), std::move(options), std::string(p.description),
                     p.train_lr, p.bf16_parameters});
    }
    // The second-order methods are not library optimizers (src/minimize/): the CLI names them here.
    out.push_back({"newton", "newton", {}, "Newton's method: shifted Cholesky, Armijo backtracking"});
    out.push_back({"newton-cg", "newton-cg", {}, "Newton-CG: Hessian-vector products only"});
    out.push_back({"lbfgs", "lbfgs", {}, "L-BFGS, history 10, strong-Wolfe line search"});
    out.push_back({"trust-ncg", "trust-ncg", {}, "trust-region Newton, Steihaug-Toint CG: Hessian-vector products only"});
    out.push_back({"trust-exact", "trust-exact", {}, "trust-region Newton, More-Sorensen exact subproblem: dense Hessian"});
    out.push_back({"trust-krylov", "trust-krylov", {}, "trust-region Newton, GLTR Lanczos subproblem: Hessian-vector products"});
    return out;
  }();
  return all;
}

bool is_second_order(const Preset& preset) {
  for (const std::string_view name : second_order_method_names()) {
    if (preset.optimizer == name) return true;
  }
  return false;
}

Preset find_preset(std::string_view name) {
  for (const Preset& p : presets()) {
    if (p.name == name) return p;
  }
  for (const OptimizerPreset& p : optimizer_presets()) {
    if (p.optimizer == name) {  // the optimizer's first preset: its defaults
      return {std::string(name), std::string(name), {}, std::string(name) + " with its defaults", p.train_lr};
    }
  }
  std::string known;
  for (const Preset& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
  throw NotFound("unknown optimizer '" + std::string(name) + "' (known: " + known + ", or any library name)");
}

}  // namespace descent::cli
