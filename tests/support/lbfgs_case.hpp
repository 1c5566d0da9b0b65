// The torch.optim.LBFGS settings of one reference case (tests/reference/generate_lbfgs*.py write them as
// JSON in the file's "cases" metadata), as descent's LBFGSOptions.
#pragma once

#include <nlohmann/json.hpp>

#include "descent/minimize.hpp"

namespace descent::testing {

inline LBFGSOptions lbfgs_options_of(const nlohmann::json& o) {
  LBFGSOptions options;
  options.lr = o.at("lr").get<double>();
  options.max_iter = o.at("max_iter").get<int>();
  options.max_eval = o.at("max_eval").get<int>();
  options.tolerance_grad = o.at("tolerance_grad").get<double>();
  options.tolerance_change = o.at("tolerance_change").get<double>();
  options.history_size = o.at("history_size").get<int>();
  options.line_search = o.at("line_search") == "strong_wolfe" ? LineSearch::StrongWolfe : LineSearch::None;
  return options;
}

}  // namespace descent::testing
