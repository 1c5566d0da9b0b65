#include "descent/factory.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>

#include "descent/optimizers/adadelta.hpp"
#include "descent/optimizers/adagrad.hpp"
#include "descent/optimizers/adam.hpp"
#include "descent/optimizers/adamax.hpp"
#include "descent/optimizers/lamb.hpp"
#include "descent/optimizers/lars.hpp"
#include "descent/optimizers/nadam.hpp"
#include "descent/optimizers/radam.hpp"
#include "descent/optimizers/rmsprop.hpp"
#include "descent/optimizers/sgd.hpp"

namespace descent {
namespace {

// One row per optimizer: its name, its default options, and how to build it.
struct Entry {
  std::string_view name;
  std::function<std::unique_ptr<Options>()> defaults;
  std::function<std::unique_ptr<Optimizer>(std::vector<Parameter>, const Options&)> build;
};

template <class OptimizerT, class OptionsT>
Entry entry(std::string_view name) {
  return {name, [] { return std::make_unique<OptionsT>(); },
          [](std::vector<Parameter> params, const Options& options) -> std::unique_ptr<Optimizer> {
            return std::make_unique<OptimizerT>(std::move(params), static_cast<const OptionsT&>(options));
          }};
}

const std::array<Entry, 11>& registry() {
  static const std::array<Entry, 11> entries{
      entry<SGD, SGDOptions>("sgd"),          entry<Adagrad, AdagradOptions>("adagrad"),
      entry<Adadelta, AdadeltaOptions>("adadelta"), entry<RMSprop, RMSpropOptions>("rmsprop"),
      entry<Adam, AdamOptions>("adam"),       entry<AdamW, AdamWOptions>("adamw"),
      entry<Adamax, AdamaxOptions>("adamax"), entry<NAdam, NAdamOptions>("nadam"),
      entry<RAdam, RAdamOptions>("radam"),    entry<LARS, LARSOptions>("lars"),
      entry<LAMB, LAMBOptions>("lamb"),
  };
  return entries;
}

const Entry& find(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const Entry& e : registry()) {
    if (e.name == lower) return e;
  }
  std::string known;
  for (const Entry& e : registry()) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw NotFound("unknown optimizer '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace

std::span<const std::string_view> optimizer_names() {
  static const std::array<std::string_view, 11> names = [] {
    std::array<std::string_view, 11> out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = registry()[i].name;
    return out;
  }();
  return names;
}

std::unique_ptr<Options> make_options(std::string_view optimizer) { return find(optimizer).defaults(); }

std::unique_ptr<Options> make_options(std::string_view optimizer, const std::map<std::string, double>& overrides) {
  auto options = make_options(optimizer);
  for (const auto& [name, value] : overrides) options->set(name, value);
  return options;
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view optimizer, std::vector<Parameter> params,
                                          const Options& options) {
  const Entry& e = find(optimizer);
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
