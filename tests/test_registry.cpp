// The registry (src/optimizers/registry.cpp): the one list of optimizers, from which the factory, the
// CLI's presets and training learning rates, the benchmarks and the tests' lists all come.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

TEST(Registry, NamesAreUniqueAndLowerCase) {
  const auto entries = registry::all();
  const auto names = optimizer_names();
  ASSERT_EQ(entries.size(), names.size());
  ASSERT_FALSE(names.empty());
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(seen.insert(names[i]).second) << "registered twice: " << names[i];
    for (const char c : names[i]) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(c))) << names[i];
  }
}

TEST(Registry, EachEntryBuildsItsOwnOptimizer) {
  for (const registry::Entry& e : registry::all()) {
    SCOPED_TRACE(std::string(e.name));
    const auto options = e.defaults();
    EXPECT_EQ(make_options(e.name)->optimizer(), options->optimizer());
    std::vector<float> w(3, 1.0f), g(3, 0.5f);
    const auto opt = e.build({Parameter("w", std::span(w), std::span(g))}, *options);
    // "muon" builds a Composite that gives this vector to its aux AdamW (muon_with_aux_adamw).
    if (opt->name() != "Composite") {
      EXPECT_EQ(opt->group(0).options().optimizer(), options->optimizer());
    }
    opt->step();
    opt->step();  // SOAP's first step only builds its preconditioners, as its reference does
    EXPECT_NE(w[0], 1.0f) << "two steps with a non-zero gradient moved nothing";
  }
}

// Every preset names its optimizer, its overrides and training learning rate are valid options of it, and
// each optimizer's first preset is its defaults (the CLI's bare optimizer name takes its learning rate).
TEST(Registry, PresetsAreValidAndEachOptimizerStartsWithItsDefaults) {
  std::set<std::string_view> preset_names;
  std::size_t total = 0;
  for (const registry::Entry& e : registry::all()) {
    SCOPED_TRACE(std::string(e.name));
    ASSERT_FALSE(e.presets.empty());
    EXPECT_TRUE(e.presets[0].overrides.empty()) << "first preset " << e.presets[0].name << " has overrides";
    for (const OptimizerPreset& p : e.presets) {
      SCOPED_TRACE(std::string(p.name));
      EXPECT_TRUE(preset_names.insert(p.name).second) << "preset name used twice";
      EXPECT_EQ(p.optimizer, e.name);
      EXPECT_FALSE(p.description.empty());
      std::map<std::string, double> overrides;
      for (const auto& [name, value] : p.overrides) overrides[std::string(name)] = value;
      overrides["lr"] = p.train_lr;
      EXPECT_NO_THROW(make_options(p.optimizer, overrides));
      EXPECT_GT(p.train_lr, 0.0);
    }
    total += e.presets.size();
  }
  EXPECT_EQ(optimizer_presets().size(), total);
}

TEST(Registry, BenchmarksHaveValidOptionsAndARoof) {
  for (const registry::Entry& e : registry::all()) {
    SCOPED_TRACE(std::string(e.name));
    std::map<std::string, double> options;
    for (const auto& [name, value] : e.benchmark.options) options[std::string(name)] = value;
    EXPECT_NO_THROW(make_options(e.name, options));
    if (e.benchmark.matrix) {  // no memory roof: its folder's own benchmark measures it
      EXPECT_TRUE(e.benchmark.roof.empty());
      continue;
    }
    ASSERT_FALSE(e.benchmark.roof.empty());
    for (const registry::MemoryPass& pass : e.benchmark.roof) {
      EXPECT_GE(pass.reads, 0);
      EXPECT_GE(pass.updates, 0);
      EXPECT_GT(pass.reads + pass.updates, 0);
    }
  }
}

// Each optimizer's folder tests its behaviour on a known function: TEST(<Class>, ConvergesOnAQuadratic),
// with <Class> the optimizer's name in its own capitals (AdamW for "adamw").
TEST(Registry, EveryOptimizerHasItsConvergenceTest) {
  std::set<std::string> suites;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j) {
      if (std::string(suite.GetTestInfo(j)->name()) != "ConvergesOnAQuadratic") continue;
      std::string name = suite.name();
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      suites.insert(name);
    }
  }
  for (const std::string_view name : optimizer_names()) {
    EXPECT_TRUE(suites.count(std::string(name))) << name << " has no TEST(..., ConvergesOnAQuadratic) in its folder";
  }
}

}  // namespace
}  // namespace descent
