#include "presets.hpp"

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/minimize/minimize.hpp"

namespace descent::cli {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all{
      {"gd", "sgd", {}, "gradient descent: w -= lr * g"},
      {"momentum", "sgd", {{"momentum", 0.9}}, "SGD with momentum 0.9"},
      {"nesterov", "sgd", {{"momentum", 0.9}, {"nesterov", 1.0}}, "SGD with Nesterov momentum 0.9"},
      {"adagrad", "adagrad", {}, "Adagrad"},
      {"adadelta", "adadelta", {}, "Adadelta (rho 0.9)"},
      {"rmsprop", "rmsprop", {}, "RMSprop (alpha 0.99)"},
      {"adam", "adam", {}, "Adam (0.9, 0.999) with bias correction"},
      {"adam-nobc", "adam", {{"bias_correction", 0.0}}, "Adam without bias correction (large first steps)"},
      {"adamw", "adamw", {}, "AdamW, decoupled weight decay 0.01"},
      {"adamax", "adamax", {}, "Adamax"},
      {"nadam", "nadam", {}, "NAdam"},
      {"radam", "radam", {}, "RAdam"},
      {"lars", "lars", {}, "LARS, momentum 0.9, trust coefficient 0.001"},
      {"lamb", "lamb", {}, "LAMB, weight decay 0.01"},
      {"newton", "newton", {}, "Newton's method: shifted Cholesky, Armijo backtracking"},
      {"newton-cg", "newton-cg", {}, "Newton-CG: Hessian-vector products only"},
      {"lbfgs", "lbfgs", {}, "L-BFGS, history 10, strong-Wolfe line search"},
      {"trust-ncg", "trust-ncg", {}, "trust-region Newton, Steihaug-Toint CG: Hessian-vector products only"},
      {"trust-exact", "trust-exact", {}, "trust-region Newton, More-Sorensen exact subproblem: dense Hessian"},
      {"trust-krylov", "trust-krylov", {}, "trust-region Newton, GLTR Lanczos subproblem: Hessian-vector products"},
  };
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
  for (const std::string_view optimizer : optimizer_names()) {
    if (optimizer == name) return {std::string(name), std::string(name), {}, std::string(name) + " with its defaults"};
  }
  std::string known;
  for (const Preset& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
  throw NotFound("unknown optimizer '" + std::string(name) + "' (known: " + known + ", or any library name)");
}

}  // namespace descent::cli
