// Option validation: every field of every optimizer rejects out-of-range values with a message that
// names the optimizer, the option, the value and the valid range, and keeps its old value.
#include <gtest/gtest.h>

#include <cmath>
#include <array>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"
#include "support/option_toy.hpp"

namespace descent {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Values just outside an option's interval, and the never-valid ones.
std::vector<double> invalid_values(const OptionInfo& f) {
  if (f.type == OptionType::Bool) return {0.5, 2.0, -1.0, std::nan("")};
  if (f.type == OptionType::Choice) {
    return {-1.0, static_cast<double>(f.choices.size()), 0.5, std::nan(""), kInf, -kInf};
  }
  if (f.type == OptionType::Int) {
    std::vector<double> out{std::nan(""), kInf, -kInf, 1e300, -1e300};
    if (std::isfinite(f.min)) {
      out.push_back(f.min_inclusive ? f.min - 1.0 : f.min);
      out.push_back(f.min + 0.5);  // inside the interval, not an integer
    }
    if (std::isfinite(f.max)) out.push_back(f.max_inclusive ? f.max + 1.0 : f.max);
    return out;
  }
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

// Shared by every registered optimizer and the test-only Toy (the only one with Int and Choice options so far).
void expect_rejects_out_of_range_and_keeps_old_value(Options& options) {
  for (const OptionInfo& f : options.info()) {
    for (const double bad : invalid_values(f)) {
      const double before = options.get(f.name);
      try {
        options.set(f.name, bad);
        ADD_FAILURE() << options.optimizer() << "." << f.name << " accepted " << bad;
      } catch (const InvalidArgument& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(std::string(options.optimizer()) + ":"), std::string::npos) << message;
        EXPECT_NE(message.find("'" + std::string(f.name) + "'"), std::string::npos) << message;
        EXPECT_NE(message.find(format_number(bad)), std::string::npos) << message;
        if (f.type != OptionType::Bool) {
          EXPECT_NE(message.find(f.range_text()), std::string::npos) << message;
        }
      }
      EXPECT_EQ(options.get(f.name), before) << f.name;
    }
  }
}

void expect_accepts_range_edges(Options& options) {
  for (const OptionInfo& f : options.info()) {
    if (f.type == OptionType::Bool) {
      EXPECT_NO_THROW(options.set(f.name, 1.0));
      EXPECT_NO_THROW(options.set(f.name, 0.0));
      options.set(f.name, f.default_value);
      continue;
    }
    if (f.min_inclusive) {
      EXPECT_NO_THROW(options.set(f.name, f.min)) << f.name;
      EXPECT_EQ(options.get(f.name), f.min);
    }
    if (f.max_inclusive) {
      EXPECT_NO_THROW(options.set(f.name, f.max)) << f.name;
    }
    options.set(f.name, f.default_value);
  }
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
  expect_rejects_out_of_range_and_keeps_old_value(*make_options(GetParam()));
}

TEST_P(EveryOptimizer, AcceptsTheEdgesOfItsRanges) { expect_accepts_range_edges(*make_options(GetParam())); }

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
                           "maximize=false, bias_correction=true, state_dtype=float32, stochastic_rounding=false, "
                           "bf16_params=kahan");
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

// ---- Int and Choice options, on the test-only Toy optimizer (tests/support/option_toy.hpp) ----

using test_support::Toy;
using test_support::ToyOptions;

TEST(IntAndChoiceOptions, PassTheChecksEveryOptimizerPasses) {
  ToyOptions options;
  expect_rejects_out_of_range_and_keeps_old_value(options);
  expect_accepts_range_edges(options);
  EXPECT_EQ(options.to_string(), ToyOptions().to_string());  // every value went back to its default
}

TEST(IntAndChoiceOptions, IntRangeEdgesAreInclusiveOrExclusiveAsDeclared) {
  ToyOptions o;
  // repeats in [1, 8]: both ends allowed, the integers beyond refused.
  EXPECT_NO_THROW(o.set("repeats", 1.0));
  EXPECT_NO_THROW(o.set("repeats", 8.0));
  EXPECT_EQ(o.repeats(), 8);
  EXPECT_THROW_WITH(o.set("repeats", 9.0), InvalidArgument, "Toy: option 'repeats' = 9 is out of range: must be an integer in [1, 8]");
  EXPECT_THROW_WITH(o.set("repeats", 0.0), InvalidArgument, "option 'repeats' = 0 is out of range: must be an integer in [1, 8]");
  EXPECT_THROW_WITH(o.set("repeats", 2.5), InvalidArgument, "option 'repeats' = 2.5 is not an integer: must be an integer in [1, 8]");
  EXPECT_THROW_WITH(o.set("repeats", std::nan("")), InvalidArgument, "option 'repeats' = nan is not an integer");
  EXPECT_THROW_WITH(o.set("repeats", kInf), InvalidArgument, "option 'repeats' = inf is not an integer");
  EXPECT_EQ(o.repeats(), 8);  // every refusal kept the old value
  // period in (0, inf): 0 is the open end; no upper bound, but no integer a double cannot hold exactly.
  EXPECT_THROW_WITH(o.set("period", 0.0), InvalidArgument, "option 'period' = 0 is out of range: must be an integer in (0, inf)");
  EXPECT_NO_THROW(o.set("period", 1.0));
  EXPECT_NO_THROW(o.set("period", 9007199254740992.0));  // 2^53
  EXPECT_EQ(o.period(), std::int64_t{1} << 53);
  EXPECT_EQ(o.value_text("period"), "9007199254740992");  // exact, where format_number writes 9.007199254740992e+15
  EXPECT_THROW_WITH(o.set("period", 9007199254740994.0), InvalidArgument,
                    "= 9.007199254740994e+15 is out of range: must be an integer in (0, inf) of magnitude at most 2^53");
  EXPECT_THROW_WITH(o.set("period", 1e300), InvalidArgument,
                    "Toy: option 'period' = 1e+300 is out of range: must be an integer in (0, inf) of magnitude at most 2^53");
  EXPECT_THROW_WITH(o.set("period", kInf), InvalidArgument, "option 'period' = inf is not an integer: must be an integer in (0, inf)");
  EXPECT_EQ(o.period(), std::int64_t{1} << 53);
  // The chained setter checks the same way.
  EXPECT_THROW_WITH(ToyOptions().repeats(0), InvalidArgument, "option 'repeats' = 0 is out of range");
}

TEST(IntAndChoiceOptions, ChoicesByNameAndByIndex) {
  ToyOptions o;
  EXPECT_EQ(o.mode(), "plain");
  EXPECT_EQ(o.choice("mode"), "plain");
  EXPECT_EQ(o.get("mode"), 0.0);  // get() reads the index
  o.set_choice("mode", "sign");
  EXPECT_EQ(o.mode(), "sign");
  EXPECT_EQ(o.get("mode"), 1.0);
  o.set("mode", 0.0);  // set() by index, as schedules and make_options overrides do
  EXPECT_EQ(o.choice("mode"), "plain");
  o.mode("sign");
  EXPECT_THROW_WITH(o.set_choice("mode", "fast"), InvalidArgument, "Toy: option 'mode' = 'fast' is not one of {plain, sign}");
  EXPECT_THROW_WITH(o.mode("Sign"), InvalidArgument, "'Sign' is not one of {plain, sign}");  // names are exact
  EXPECT_THROW_WITH(o.set("mode", 2.0), InvalidArgument,
                    "Toy: option 'mode' = 2 is not the index of a choice: must be 0 to 1, one of {plain, sign}");
  EXPECT_THROW_WITH(o.set("mode", 0.5), InvalidArgument, "option 'mode' = 0.5 is not the index of a choice");
  EXPECT_THROW_WITH(o.set("mode", std::nan("")), InvalidArgument, "option 'mode' = nan is not the index of a choice");
  EXPECT_EQ(o.mode(), "sign");  // every refusal kept the old value
  EXPECT_THROW_WITH(o.choice("repeats"), InvalidArgument, "Toy: option 'repeats' is not a choice (its type is int)");
  EXPECT_THROW_WITH(o.set_choice("lr", "plain"), InvalidArgument, "option 'lr' is not a choice (its type is double)");
  EXPECT_THROW_WITH(o.set_choice("modes", "plain"), NotFound, "Toy has no option 'modes' (options: lr, repeats, period, mode, maximize)");
}

TEST(IntAndChoiceOptions, TextFormsReadBackExactlyAndNothingElseIsAccepted) {
  ToyOptions o(0.25);
  o.repeats(3).mode("sign").maximize(true);
  EXPECT_EQ(o.value_text("lr"), "0.25");
  EXPECT_EQ(o.value_text("repeats"), "3");
  EXPECT_EQ(o.value_text("mode"), "sign");
  EXPECT_EQ(o.value_text("maximize"), "1");  // a number, as format-version-1 checkpoints hold booleans
  ToyOptions back;
  for (const OptionInfo& f : o.info()) back.set_from_text(f.name, o.value_text(f.name));
  EXPECT_EQ(back.to_string(), o.to_string());

  for (const std::string_view bad : {"3.0", "3e0", "+3", " 3", "3 ", "", "three", "0x3"}) {
    EXPECT_THROW_WITH(back.set_from_text("repeats", bad), InvalidArgument,
                      "option 'repeats' = '" + std::string(bad) + "' is not an integer: must be an integer in [1, 8]");
  }
  EXPECT_THROW_WITH(back.set_from_text("repeats", "9"), InvalidArgument, "option 'repeats' = 9 is out of range");
  // 2^53 + 1 would round to the allowed 2^53 as a double: refused as text, before any rounding.
  EXPECT_THROW_WITH(back.set_from_text("period", "9007199254740993"), InvalidArgument,
                    "option 'period' = '9007199254740993' is out of range: must be an integer in (0, inf) of magnitude at most 2^53");
  EXPECT_THROW_WITH(back.set_from_text("period", "99999999999999999999"), InvalidArgument, "is not an integer");
  EXPECT_THROW_WITH(back.set_from_text("mode", "1"), InvalidArgument, "option 'mode' = '1' is not one of {plain, sign}");
  EXPECT_THROW_WITH(back.set_from_text("lr", "fast"), InvalidArgument, "option 'lr' = 'fast' is not a number");
  EXPECT_THROW_WITH(back.set_from_text("maximize", "true"), InvalidArgument, "option 'maximize' = 'true' is not a number");
  EXPECT_EQ(back.to_string(), o.to_string());  // every refusal kept the old value
}

TEST(IntAndChoiceOptions, ToStringRangeTextAndMarkdownTable) {
  EXPECT_EQ(ToyOptions(0.25).repeats(3).mode("sign").to_string(), "lr=0.25, repeats=3, period=10, mode=sign, maximize=false");
  EXPECT_EQ(test_support::kToyFields[ToyOptions::kRepeats].range_text(), "[1, 8]");
  EXPECT_EQ(test_support::kToyFields[ToyOptions::kPeriod].range_text(), "(0, inf)");
  EXPECT_EQ(test_support::kToyFields[ToyOptions::kMode].range_text(), "{plain, sign}");
  EXPECT_EQ(markdown_table(ToyOptions()),
            "| name | type | default | valid range | meaning |\n"
            "|---|---|---|---|---|\n"
            "| `lr` | double | 0.1 | [0, inf) | learning rate (step size) |\n"
            "| `repeats` | int | 1 | [1, 8] | times the step is applied |\n"
            "| `period` | int | 10 | (0, inf) | test only: an integer in (0, inf) |\n"
            "| `mode` | choice | plain | {plain, sign} | plain: step along the gradient; sign: along its sign |\n"
            "| `maximize` | bool | false | {false, true} | ascend the objective instead of descending (negates the gradient) |\n");
}

// Saved in a real checkpoint file's bytes, loaded into an optimizer built with the defaults: the loaded
// Int and Choice values are the ones the next step uses.
TEST(IntAndChoiceOptions, SurviveACheckpointAndTakeEffectAfterLoading) {
  std::vector<double> w{1.0, -2.0}, g{2.0, -0.5};
  Toy saved({Parameter("w", std::span(w), std::span(g))}, ToyOptions(0.25).repeats(3).period(7).mode("sign"));
  const StateDict dict = decode_checkpoint(encode_checkpoint(saved.state_dict()));
  const std::string& groups = dict.metadata.at("groups");
  EXPECT_EQ(groups, R"([{"params":["w"],"options":{"lr":"0.25","repeats":"3","period":"7","mode":"sign","maximize":"0"}}])");

  std::vector<double> w2{1.0, -2.0}, g2{2.0, -0.5};
  Toy loaded({Parameter("w", std::span(w2), std::span(g2))}, ToyOptions(0.25));
  const auto with = [&](const std::string& from, const std::string& to) {
    StateDict d = dict;
    d.metadata["groups"].replace(groups.find(from), from.size(), to);
    return d;
  };
  // Tampered values are refused, naming the value, and change nothing.
  EXPECT_THROW_WITH(loaded.load_state_dict(with("\"sign\"", "\"fast\"")), InvalidArgument,
                    "group 0: option 'mode': Toy: option 'mode' = 'fast' is not one of {plain, sign}");
  EXPECT_THROW_WITH(loaded.load_state_dict(with("\"repeats\":\"3\"", "\"repeats\":\"3.0\"")), InvalidArgument,
                    "option 'repeats' = '3.0' is not an integer: must be an integer in [1, 8]");
  EXPECT_THROW_WITH(loaded.load_state_dict(with("\"repeats\":\"3\"", "\"repeats\":\"9\"")), InvalidArgument,
                    "option 'repeats' = 9 is out of range: must be an integer in [1, 8]");
  EXPECT_THROW_WITH(loaded.load_state_dict(with("\"mode\":\"sign\"", "\"mode\":\"1\"")), InvalidArgument,
                    "option 'mode' = '1' is not one of {plain, sign}");
  EXPECT_EQ(loaded.options().to_string(), ToyOptions(0.25).to_string());

  loaded.load_state_dict(dict);
  EXPECT_EQ(loaded.options().repeats(), 3);
  EXPECT_EQ(loaded.options().period(), 7);
  EXPECT_EQ(loaded.options().mode(), "sign");
  loaded.step();
  // By hand: sign(2) = 1 and sign(-0.5) = -1, three steps of 0.25 each. The defaults (one plain step)
  // would give 0.5 and -1.875.
  EXPECT_EQ(w2[0], 0.25);
  EXPECT_EQ(w2[1], -1.25);
}

// ---- Option tables ----

class TableOptions final : public Options {
 public:
  explicit TableOptions(std::span<const OptionInfo> table) : Options("Table", table) {}
  std::unique_ptr<Options> clone() const override { return std::make_unique<TableOptions>(*this); }
};

constexpr std::array<std::string_view, 20> kManyNames{"lr", "o1",  "o2",  "o3",  "o4",  "o5",  "o6",
                                                      "o7", "o8",  "o9",  "o10", "o11", "o12", "o13",
                                                      "o14", "o15", "o16", "o17", "o18", "o19"};
constexpr auto kManyFields = [] {
  std::array<OptionInfo, kManyNames.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = detail::real_option(kManyNames[i], static_cast<double>(i), 0.0, detail::kInf, true, false, "test only");
  }
  return out;
}();

TEST(OptionTables, HoldMoreThanSixteenOptions) {
  TableOptions o(kManyFields);
  EXPECT_EQ(o.get("o19"), 19.0);
  o.set("o17", 2.5);
  EXPECT_EQ(o.get("o17"), 2.5);
  EXPECT_EQ(o.clone()->get("o17"), 2.5);
  EXPECT_NE(o.to_string().find("o16=16, o17=2.5, o18=18, o19=19"), std::string::npos) << o.to_string();
}

TEST(OptionTables, BadTablesAreInternalErrors) {
  const std::array<OptionInfo, 2> twice{detail::lr_option(0.1), detail::lr_option(0.1)};
  EXPECT_THROW_WITH(TableOptions{twice}, Error, "internal: the option table of Table has two options named 'lr'");
  const std::array<OptionInfo, 2> closed_at_inf{detail::lr_option(0.1),
                                                detail::int_option("n", 1, 1.0, detail::kInf, true, true, "test only")};
  EXPECT_THROW_WITH(TableOptions{closed_at_inf}, Error, "closes Int option 'n''s interval at infinity");
  const std::array<OptionInfo, 2> fractional{detail::lr_option(0.1),
                                             detail::int_option("n", 1, 0.5, 8.0, true, true, "test only")};
  EXPECT_THROW_WITH(TableOptions{fractional}, Error, "gives Int option 'n' the bound 0.5");
  const std::array<OptionInfo, 2> bad_default{detail::lr_option(0.1),
                                              detail::int_option("n", 0, 1.0, 8.0, true, true, "test only")};
  EXPECT_THROW_WITH(TableOptions{bad_default}, Error, "gives option 'n' a default outside its range");
  constexpr std::array<std::string_view, 2> same{"a", "a"};
  const std::array<OptionInfo, 2> repeated{detail::lr_option(0.1), detail::choice_option("c", "a", same, "test only")};
  EXPECT_THROW_WITH(TableOptions{repeated}, Error, "lists choice 'a' of 'c' twice");
  // Outside a constexpr table (where it would not compile), a default that is not a choice throws.
  EXPECT_THROW_WITH(static_cast<void>(detail::choice_option("c", "b", same, "test only")), Error,
                    "the default of option 'c' is not one of its choices");
}

}  // namespace
}  // namespace descent
