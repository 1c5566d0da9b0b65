// Option validation: every field of every optimizer rejects out-of-range values with a message that
// names the optimizer, the option, the value and the valid range, and keeps its old value.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Values just outside an option's interval, and the never-valid ones.
std::vector<double> invalid_values(const OptionInfo& f) {
  if (f.type == OptionType::Bool) return {0.5, 2.0, -1.0, std::nan("")};
  std::vector<double> out{std::nan("")};
  out.push_back(f.min_inclusive ? (f.min == 0.0 ? -1e-12 : f.min - 1e-9) : f.min);
  if (std::isfinite(f.max)) {
    out.push_back(f.max_inclusive ? f.max + 1e-9 : f.max);
    out.push_back(kInf);
  } else if (!f.max_inclusive) {
    out.push_back(kInf);
  }
  out.push_back(-kInf);
  return out;
}

class EveryOptimizer : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EveryOptimizer, DefaultsAreValidAndTheTableStartsWithLr) {
  const auto options = make_options(GetParam());
  ASSERT_FALSE(options->info().empty());
  EXPECT_EQ(options->info()[0].name, "lr");
  EXPECT_NO_THROW(options->validate());
  for (const OptionInfo& f : options->info()) {
    EXPECT_TRUE(f.contains(f.default_value)) << f.name;
    EXPECT_EQ(options->get(f.name), f.default_value) << f.name;
    EXPECT_FALSE(f.meaning.empty()) << f.name;
  }
}

TEST_P(EveryOptimizer, RejectsEveryOutOfRangeValueAndKeepsTheOldOne) {
  auto options = make_options(GetParam());
  for (const OptionInfo& f : options->info()) {
    for (const double bad : invalid_values(f)) {
      const double before = options->get(f.name);
      try {
        options->set(f.name, bad);
        ADD_FAILURE() << GetParam() << "." << f.name << " accepted " << bad;
      } catch (const InvalidArgument& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(std::string(options->optimizer()) + ":"), std::string::npos) << message;
        EXPECT_NE(message.find("'" + std::string(f.name) + "'"), std::string::npos) << message;
        EXPECT_NE(message.find(format_number(bad)), std::string::npos) << message;
        if (f.type == OptionType::Real) {
          EXPECT_NE(message.find(f.range_text()), std::string::npos) << message;
        }
      }
      EXPECT_EQ(options->get(f.name), before) << f.name;
    }
  }
}

TEST_P(EveryOptimizer, AcceptsTheEdgesOfItsRanges) {
  auto options = make_options(GetParam());
  for (const OptionInfo& f : options->info()) {
    if (f.type == OptionType::Bool) {
      EXPECT_NO_THROW(options->set(f.name, 1.0));
      EXPECT_NO_THROW(options->set(f.name, 0.0));
      options->set(f.name, f.default_value);
      continue;
    }
    if (f.min_inclusive) {
      EXPECT_NO_THROW(options->set(f.name, f.min)) << f.name;
      EXPECT_EQ(options->get(f.name), f.min);
    }
    if (f.max_inclusive) {
      EXPECT_NO_THROW(options->set(f.name, f.max)) << f.name;
    }
    options->set(f.name, f.default_value);
  }
}

TEST_P(EveryOptimizer, UnknownOptionNamesAreListed) {
  auto options = make_options(GetParam());
  try {
    options->set("learning_rate", 0.1);
    FAIL() << "accepted an unknown option";
  } catch (const NotFound& e) {
    EXPECT_NE(std::string(e.what()).find("'learning_rate'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos);
  }
}

TEST_P(EveryOptimizer, DocsHoldTheGeneratedOptionTable) {
  std::ifstream in(std::string(DESCENT_DOCS_DIR) + "/optimizers.md");
  ASSERT_TRUE(in) << "docs/optimizers.md is missing";
  std::stringstream docs;
  docs << in.rdbuf();
  const std::string table = markdown_table(*make_options(GetParam()));
  EXPECT_NE(docs.str().find(table), std::string::npos)
      << "docs/optimizers.md does not contain, verbatim, the table of " << GetParam()
      << "; regenerate it with `descent options " << GetParam() << " --markdown`:\n"
      << table;
}

INSTANTIATE_TEST_SUITE_P(All, EveryOptimizer, ::testing::ValuesIn(optimizer_names()),
                         [](const ::testing::TestParamInfo<std::string_view>& test) { return std::string(test.param); });

TEST(Options, MessageNamesOptionValueAndRange) {
  try {
    AdamOptions().betas(0.9, 1.0);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "Adam: option 'beta2' = 1 is out of range: must be in [0, 1)");
  }
  try {
    SGDOptions(-0.1);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "SGD: option 'lr' = -0.1 is out of range: must be in [0, inf)");
  }
}

TEST(Options, BetasChangeTogetherOrNotAtAll) {
  AdamOptions options;
  EXPECT_THROW(options.betas(0.5, 1.5), InvalidArgument);
  EXPECT_EQ(options.beta1(), 0.9);  // the valid first value was not applied alone
  EXPECT_EQ(options.beta2(), 0.999);
  options.betas(0.5, 0.6);
  EXPECT_EQ(options.beta1(), 0.5);
  EXPECT_EQ(options.beta2(), 0.6);
}

TEST(Options, ChainedSettersAndGetByName) {
  const auto o = AdamWOptions(3e-4).betas(0.8, 0.95).weight_decay(0.1).amsgrad(true);
  EXPECT_EQ(o.lr(), 3e-4);
  EXPECT_EQ(o.get("beta1"), 0.8);
  EXPECT_EQ(o.get("amsgrad"), 1.0);
  EXPECT_EQ(o.to_string(), "lr=0.0003, beta1=0.8, beta2=0.95, eps=1e-08, weight_decay=0.1, amsgrad=true, "
                           "maximize=false, bias_correction=true");
  EXPECT_EQ(AdamWOptions().weight_decay(), 0.01);  // AdamW's default decay, unlike Adam's 0
  EXPECT_EQ(AdamOptions().weight_decay(), 0.0);
}

TEST(Options, RulesBetweenOptionsAreCheckedWhenTheOptimizerIsBuilt) {
  std::vector<double> w{1.0}, g{1.0};
  const auto params = [&] { return std::vector<Parameter>{Parameter("w", std::span(w), std::span(g))}; };
  try {
    SGD(params(), SGDOptions(0.1).nesterov(true));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("nesterov = true needs momentum > 0 and dampening = 0"), std::string::npos);
  }
  EXPECT_THROW(SGD(params(), SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)), InvalidArgument);
  EXPECT_NO_THROW(SGD(params(), SGDOptions(0.1).momentum(0.9).nesterov(true)));
  EXPECT_THROW(LARS(params(), LARSOptions().momentum(0.0).nesterov(true)), InvalidArgument);
  EXPECT_THROW(LAMB(params(), LAMBOptions().weight_norm_min(2.0).weight_norm_max(1.0)), InvalidArgument);
}

TEST(Options, FactoryAppliesOverridesAndRejectsUnknownOptimizers) {
  const auto o = make_options("RMSprop", {{"alpha", 0.9}, {"centered", 1.0}});
  EXPECT_EQ(o->optimizer(), "RMSprop");
  EXPECT_EQ(o->get("alpha"), 0.9);
  EXPECT_EQ(o->get("centered"), 1.0);
  EXPECT_THROW(make_options("adamm"), NotFound);
  EXPECT_THROW(make_options("adam", {{"beta1", 1.0}}), InvalidArgument);
}

}  // namespace
}  // namespace descent
