// Checkpoints that descent 0.1.0 wrote (format version 1, tests/compat/v1/, made by
// tests/compat/make_v1_checkpoints.cpp against that release) still load, and resume bitwise: after
// loading "<name>.safetensors" and taking the same 4 steps, every tensor equals "<name>-after.safetensors",
// which the old code wrote after 7 uninterrupted steps.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent {
namespace {

// The model and options of tests/compat/make_v1_checkpoints.cpp, unchanged.
struct Model {
  std::vector<float> w, gw, b, gb;
  std::vector<double> s, gs;
  Model() : w(12), gw(12), b(4), gb(4), s(3), gs(3) {}
  std::vector<Parameter> params() {
    return {Parameter("layer/weight", std::span(w), std::span(gw), {3, 4}),
            Parameter("layer/bias", std::span(b), std::span(gb), {4}),
            Parameter("scale", std::span(s), std::span(gs), {3})};
  }
  void gradient(int step) {
    for (std::size_t i = 0; i < w.size(); ++i) gw[i] = w[i] * 0.5f + std::sin(0.7f * static_cast<float>(i + step));
    for (std::size_t i = 0; i < b.size(); ++i) gb[i] = b[i] - std::cos(0.3f * static_cast<float>(i * step));
    for (std::size_t i = 0; i < s.size(); ++i) gs[i] = s[i] * s[i] - 2.0 + 0.1 * static_cast<double>(step);
  }
};

std::map<std::string, double> full_options(const std::string& name) {
  if (name == "sgd") return {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 0.01}};
  if (name == "rmsprop") return {{"lr", 0.01}, {"centered", 1}, {"momentum", 0.5}};
  if (name == "adam" || name == "adamw") return {{"lr", 0.01}, {"amsgrad", 1}};
  return {};
}

const std::string kDir = DESCENT_COMPAT_DIR;

// The optimizers 0.1.0 had, by the file names it wrote.
const char* const kVersion1Optimizers[] = {"sgd",   "adagrad", "adadelta", "rmsprop", "adam", "adamw",
                                           "adamax", "nadam",  "radam",    "lars",    "lamb"};

class Version1 : public ::testing::TestWithParam<const char*> {};

TEST_P(Version1, LoadsAndResumesBitwise) {
  const std::string name = GetParam();
  const StateDict saved = load_checkpoint(kDir + "/" + name + ".safetensors");
  EXPECT_EQ(saved.meta("format_version"), "1");
  const StateDict after = load_checkpoint(kDir + "/" + name + "-after.safetensors");
  Model m;  // zero values: the checkpoint brings the trained ones
  auto opt = make_optimizer(name, m.params(), full_options(name));
  const LoadReport report = opt->load_state_dict(saved);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  for (int s = 3; s < 7; ++s) {
    m.gradient(s);
    opt->step();
  }
  const StateDict now = opt->state_dict(true);
  ASSERT_EQ(now.tensors.size(), after.tensors.size());
  for (const auto& [key, tensor] : after.tensors) {
    ASSERT_TRUE(now.tensors.count(key)) << key;
    EXPECT_EQ(now.tensors.at(key), tensor) << key;
  }
  EXPECT_EQ(now.meta("groups"), after.meta("groups"));
  EXPECT_EQ(now.meta("slots"), after.meta("slots"));
  // A plain optimizer's state of these types is still written as version 1, readable by 0.1.0.
  EXPECT_EQ(encode_checkpoint(now), encode_checkpoint(after));
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizerOf010, Version1, ::testing::ValuesIn(kVersion1Optimizers),
                         [](const auto& test) { return std::string(test.param); });

}  // namespace
}  // namespace descent
