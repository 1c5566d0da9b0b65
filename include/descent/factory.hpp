// Building optimizers by name: for the CLI, configuration files, tests and checkpoints.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent {

// "sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "adamax", "nadam", "radam", "lars", "lamb".
std::span<const std::string_view> optimizer_names();

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
