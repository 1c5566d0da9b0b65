// Optimizer names and option settings on the command line: one resolver that every subcommand uses, so
// that a name `compare` accepts is accepted by `train`, `lr-find` and `options` too.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "presets.hpp"

namespace descent::cli {

// A preset ("momentum", "adam-nobc") or a library optimizer ("sgd") by name, ignoring case. Throws
// NotFound naming the value and the known names.
Preset resolve_optimizer(std::string_view name);
// Each named preset once, in the order given (a name given twice runs once); empty: every preset.
std::vector<Preset> resolve_optimizers(const std::vector<std::string>& names);

// `--set name=value` arguments as overrides: a number, or true/false for a Bool option. Each name and
// value is checked against `optimizer`'s option table (Options::set): throws NotFound for an unknown
// name and InvalidArgument for a malformed setting, a value out of range or a name given twice.
std::map<std::string, double> parse_settings(std::string_view optimizer, const std::vector<std::string>& settings);

}  // namespace descent::cli
