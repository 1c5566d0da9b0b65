#include "names.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/options.hpp"

namespace descent::cli {

Preset resolve_optimizer(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  try {
    return find_preset(lower);
  } catch (const NotFound&) {
    std::string known;
    for (const Preset& p : presets()) known += (known.empty() ? "" : ", ") + p.name;
    for (const std::string_view o : optimizer_names()) {
      if (std::none_of(presets().begin(), presets().end(), [&](const Preset& p) { return p.name == o; })) {
        known.append(", ").append(o);
      }
    }
    throw NotFound("unknown optimizer '" + std::string(name) + "' (known, in any case: " + known + ")");
  }
}

std::vector<Preset> resolve_optimizers(const std::vector<std::string>& names) {
  if (names.empty()) return presets();
  std::vector<Preset> out;
  for (const std::string& name : names) {
    Preset preset = resolve_optimizer(name);
    const bool seen = std::any_of(out.begin(), out.end(), [&](const Preset& p) { return p.name == preset.name; });
    if (!seen) out.push_back(std::move(preset));
  }
  return out;
}

std::map<std::string, double> parse_settings(std::string_view optimizer, const std::vector<std::string>& settings) {
  const std::unique_ptr<Options> options = make_options(optimizer);
  std::map<std::string, double> out;
  for (const std::string& setting : settings) {
    const std::size_t equals = setting.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw InvalidArgument("--set '" + setting + "': write name=value (the names: descent options " +
                            std::string(optimizer) + ")");
    }
    const std::string name = setting.substr(0, equals), text = setting.substr(equals + 1);
    const auto info = options->info();
    const auto field = std::find_if(info.begin(), info.end(), [&](const OptionInfo& f) { return f.name == name; });
    if (field == info.end()) {
      throw NotFound("--set '" + setting + "': " + std::string(optimizer) + " has no option '" + name +
                     "' (see descent options " + std::string(optimizer) + ")");
    }
    double value = 0.0;
    if (field->type == OptionType::Bool && (text == "true" || text == "false")) {
      value = text == "true" ? 1.0 : 0.0;
    } else {
      const char* end = text.data() + text.size();
      const auto [stop, error] = std::from_chars(text.data(), end, value);
      if (text.empty() || error != std::errc() || stop != end) {
        throw InvalidArgument("--set '" + setting + "': '" + text + "' is not a number" +
                              (field->type == OptionType::Bool ? " or true/false" : ""));
      }
    }
    if (out.count(name)) throw InvalidArgument("--set: option '" + name + "' is given twice");
    try {
      options->set(name, value);  // the option table's range check, with its message
    } catch (const Error& e) {
      throw InvalidArgument("--set '" + setting + "': " + e.what());
    }
    out[name] = value;
  }
  return out;
}

}  // namespace descent::cli
