#include "descent/factory.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "optimizers/registry.hpp"

namespace descent {
namespace {

const registry::Entry& find(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const registry::Entry& e : registry::all()) {
    if (e.name == lower) return e;
  }
  std::string known;
  for (const registry::Entry& e : registry::all()) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw NotFound("unknown optimizer '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace

std::span<const std::string_view> optimizer_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const registry::Entry& e : registry::all()) out.push_back(e.name);
    return out;
  }();
  return names;
}

std::span<const OptimizerPreset> optimizer_presets() {
  static const std::vector<OptimizerPreset> presets = [] {
    std::vector<OptimizerPreset> out;
    for (const registry::Entry& e : registry::all()) out.insert(out.end(), e.presets.begin(), e.presets.end());
    return out;
  }();
  return presets;
}

std::unique_ptr<Options> make_options(std::string_view optimizer) { return find(optimizer).defaults(); }

std::unique_ptr<Options> make_options(std::string_view optimizer, const std::map<std::string, double>& overrides) {
  auto options = make_options(optimizer);
  for (const auto& [name, value] : overrides) options->set(name, value);
  return options;
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view optimizer, std::vector<Parameter> params,
                                          const Options& options) {
  const registry::Entry& e = find(optimizer);
  const auto defaults = e.defaults();
  if (options.optimizer() != defaults->optimizer()) {
    throw InvalidArgument("make_optimizer: options are for " + std::string(options.optimizer()) + ", not " +
                          std::string(defaults->optimizer()));
  }
  return e.build(std::move(params), options);
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view optimizer, std::vector<Parameter> params,
                                          const std::map<std::string, double>& overrides) {
  return make_optimizer(optimizer, std::move(params), *make_options(optimizer, overrides));
}

}  // namespace descent
