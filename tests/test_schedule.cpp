// Learning-rate schedules and gradient clipping against PyTorch 1.13 (tests/reference/data/schedules.json,
// written by tests/reference/generate_schedules.py): every recorded lr (and OneCycleLR's momentum or
// beta1) within 1e-12 relative of torch.optim.lr_scheduler's, ReduceLROnPlateau's counters exactly,
// clip_grad_norm_ / clip_grad_value_ within 1e-12 (float64) or 1e-6 (float32) relative. Then argument
// validation, state save/restore, and a schedule driving Adam between steps.
//
// PyTorch's schedulers use their chainable (recursive) get_lr(), descent the closed forms; each replay
// prints the worst relative difference it found ("[ worst ]" lines). Measured (x86-64, GCC 12, glibc):
//   ConstantLR 0   StepLR 3.2e-16   MultiStepLR 0   ExponentialLR 1.5e-15   CosineAnnealingLR 2.6e-14
//   CosineAnnealingWarmRestarts 0   LinearLR 1.2e-15   PolynomialLR 1.0e-15   OneCycleLR 0 (momentum and
//   beta1 0)   SequentialLR 4.6e-14   ReduceLROnPlateau 0 (counters and best identical)
//   clip_grad_norm: total norm 3.5e-16 (float64) / 5.6e-8 (float32), gradients 4.3e-16 / 1.2e-7
//   clip_grad_value 0.
// The nonzero differences are PyTorch's recursion drifting: CosineAnnealingLR(T_max = 10) gives
// 0.10000000000000205 at step 120 where the closed form gives 0.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "descent/schedule.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

using nlohmann::json;


constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTolerance = 1e-12;

const json& reference() {
  static const json data = [] {
    std::ifstream in(std::string(DESCENT_REFERENCE_DIR) + "/schedules.json");
    if (!in) throw std::runtime_error("cannot open schedules.json");
    return json::parse(in);
  }();
  return data;
}

double decode(const json& value) {
  if (value.is_string()) {
    const auto s = value.get<std::string>();
    if (s == "inf") return kInf;
    if (s == "-inf") return -kInf;
    throw std::runtime_error("unexpected string " + s);
  }
  return value.get<double>();
}

double relative_difference(double a, double b) {
  if (a == b) return 0.0;
  return std::abs(a - b) / std::max(std::abs(a), std::abs(b));
}

// Two groups of one float64 parameter each, base lrs 0.1 and 0.05, as in the generator.
struct TwoGroups {
  std::vector<double> w0 = {1.0, -1.0}, g0 = {0.5, 0.25}, w1 = {2.0, 0.5}, g1 = {-0.5, 1.0};
  std::unique_ptr<Optimizer> optimizer;

  explicit TwoGroups(const std::string& kind = "SGD") {
    const auto lrs = reference().at("base_lrs").get<std::vector<double>>();
    const double momentum = reference().at("momentum").get<double>();
    Parameter p0("w0", std::span(w0), std::span(g0)), p1("w1", std::span(w1), std::span(g1));
    if (kind == "SGD") {
      auto sgd = std::make_unique<SGD>(std::vector<Parameter>{p0}, SGDOptions(lrs[0]).momentum(momentum));
      sgd->add_param_group({p1}, SGDOptions(lrs[1]).momentum(momentum));
      optimizer = std::move(sgd);
    } else {
      auto adam = std::make_unique<Adam>(std::vector<Parameter>{p0}, AdamOptions(lrs[0]));
      adam->add_param_group({p1}, AdamOptions(lrs[1]));
      optimizer = std::move(adam);
    }
  }
  Optimizer& opt() { return *optimizer; }
};

std::unique_ptr<LRScheduler> make_schedule(Optimizer& opt, const std::string& name, const json& a) {
  if (name == "ConstantLR") {
    return std::make_unique<ConstantLR>(opt, a.at("factor").get<double>(), a.at("total_iters").get<std::int64_t>());
  }
  if (name == "StepLR") {
    return std::make_unique<StepLR>(opt, a.at("step_size").get<std::int64_t>(), a.at("gamma").get<double>());
  }
  if (name == "MultiStepLR") {
    return std::make_unique<MultiStepLR>(opt, a.at("milestones").get<std::vector<std::int64_t>>(),
                                         a.at("gamma").get<double>());
  }
  if (name == "ExponentialLR") return std::make_unique<ExponentialLR>(opt, a.at("gamma").get<double>());
  if (name == "CosineAnnealingLR") {
    return std::make_unique<CosineAnnealingLR>(opt, a.at("T_max").get<std::int64_t>(), a.at("eta_min").get<double>());
  }
  if (name == "CosineAnnealingWarmRestarts") {
    return std::make_unique<CosineAnnealingWarmRestarts>(opt, a.at("T_0").get<std::int64_t>(),
                                                         a.at("T_mult").get<std::int64_t>(), a.at("eta_min").get<double>());
  }
  if (name == "LinearLR") {
    return std::make_unique<LinearLR>(opt, a.at("start_factor").get<double>(), a.at("end_factor").get<double>(),
                                      a.at("total_iters").get<std::int64_t>());
  }
  if (name == "PolynomialLR") {
    return std::make_unique<PolynomialLR>(opt, a.at("total_iters").get<std::int64_t>(), a.at("power").get<double>());
  }
  if (name == "OneCycleLR") {
    OneCycleLRConfig c;
    const auto& max_lr = a.at("max_lr");
    c.max_lr = max_lr.is_array() ? max_lr.get<std::vector<double>>() : std::vector<double>{max_lr.get<double>()};
    c.total_steps = a.at("total_steps").get<std::int64_t>();
    c.pct_start = a.value("pct_start", c.pct_start);
    c.anneal_strategy = a.value("anneal_strategy", std::string("cos")) == "cos" ? AnnealStrategy::Cos : AnnealStrategy::Linear;
    c.cycle_momentum = a.value("cycle_momentum", c.cycle_momentum);
    c.base_momentum = a.value("base_momentum", c.base_momentum);
    c.max_momentum = a.value("max_momentum", c.max_momentum);
    c.div_factor = a.value("div_factor", c.div_factor);
    c.final_div_factor = a.value("final_div_factor", c.final_div_factor);
    c.three_phase = a.value("three_phase", c.three_phase);
    return std::make_unique<OneCycleLR>(opt, c);
  }
  throw std::runtime_error("unknown schedule " + name);
}

struct Worst {
  double value = 0.0;
  std::size_t compared = 0;
  void add(double a, double b) {
    value = std::max(value, relative_difference(a, b));
    ++compared;
  }
  void print(const std::string& what) const {
    std::cout << "[ worst ] " << what << ": " << value << " relative over " << compared << " values vs PyTorch 1.13\n";
  }
};

// Checks the schedule's lrs, and the optimizer's, against one row of PyTorch's.
void expect_row(const LRScheduler& schedule, const Optimizer& opt, const json& row, std::size_t step, Worst& worst) {
  for (std::size_t g = 0; g < 2; ++g) {
    const double expected = row.at(g).get<double>();
    EXPECT_EQ(schedule.lr(g), opt.group(g).options().lr()) << "step " << step << " group " << g;
    EXPECT_LE(relative_difference(schedule.lr(g), expected), kTolerance)
        << "step " << step << " group " << g << ": " << schedule.lr(g) << " vs " << expected;
    EXPECT_EQ(schedule.lr_at(static_cast<std::int64_t>(step), g), schedule.lr(g));
    worst.add(schedule.lr(g), expected);
  }
}

void replay_class(const std::string& name) {
  Worst worst, momentum_worst;
  std::size_t cases = 0;
  for (const auto& c : reference().at("schedules")) {
    if (c.at("schedule") != name) continue;
    ++cases;
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    TwoGroups groups(c.at("optimizer").get<std::string>());
    auto schedule = make_schedule(groups.opt(), name, c.at("args"));
    const auto& rows = c.at("lr");
    const auto steps = c.at("steps").get<std::size_t>();
    ASSERT_EQ(rows.size(), steps + 1);
    // OneCycleLR's row total_steps is PyTorch's extrapolation past the end; descent holds the last value.
    const bool one_cycle = name == "OneCycleLR";
    const std::string momentum_name = c.value("momentum_name", std::string());
    for (std::size_t step = 0; step <= steps; ++step) {
      if (step > 0) schedule->step();
      ASSERT_EQ(schedule->last_step(), static_cast<std::int64_t>(step));
      if (one_cycle && step == steps) {
        for (std::size_t g = 0; g < 2; ++g) {
          EXPECT_EQ(schedule->lr(g), schedule->lr_at(static_cast<std::int64_t>(steps) - 1, g));
          std::cout << "[ note  ] " << id << " group " << g << ", step total_steps: PyTorch "
                    << rows.at(step).at(g).get<double>() << ", descent " << schedule->lr(g) << "\n";
        }
        continue;
      }
      expect_row(*schedule, groups.opt(), rows.at(step), step, worst);
      if (!momentum_name.empty()) {
        for (std::size_t g = 0; g < 2; ++g) {
          const double expected = c.at("momentum").at(step).at(g).get<double>();
          const double actual = groups.opt().group(g).options().get(momentum_name);
          EXPECT_LE(relative_difference(actual, expected), kTolerance) << momentum_name << " step " << step;
          momentum_worst.add(actual, expected);
        }
      }
    }
  }
  EXPECT_GT(cases, 0u);
  worst.print(name + " lr (" + std::to_string(cases) + " cases)");
  if (momentum_worst.compared) momentum_worst.print(name + " momentum/beta1");
}

TEST(Schedule, ConstantLRMatchesPyTorch) { replay_class("ConstantLR"); }
TEST(Schedule, StepLRMatchesPyTorch) { replay_class("StepLR"); }
TEST(Schedule, MultiStepLRMatchesPyTorch) { replay_class("MultiStepLR"); }
TEST(Schedule, ExponentialLRMatchesPyTorch) { replay_class("ExponentialLR"); }
TEST(Schedule, CosineAnnealingLRMatchesPyTorch) { replay_class("CosineAnnealingLR"); }
TEST(Schedule, CosineAnnealingWarmRestartsMatchesPyTorch) { replay_class("CosineAnnealingWarmRestarts"); }
TEST(Schedule, LinearLRMatchesPyTorch) { replay_class("LinearLR"); }
TEST(Schedule, PolynomialLRMatchesPyTorch) { replay_class("PolynomialLR"); }
TEST(Schedule, OneCycleLRMatchesPyTorch) { replay_class("OneCycleLR"); }

TEST(Schedule, EveryReferenceCaseIsReplayed) {
  const std::vector<std::string> known = {"ConstantLR",    "StepLR",       "MultiStepLR", "ExponentialLR",
                                          "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "LinearLR",
                                          "PolynomialLR", "OneCycleLR"};
  for (const auto& c : reference().at("schedules")) {
    EXPECT_NE(std::find(known.begin(), known.end(), c.at("schedule").get<std::string>()), known.end())
        << c.at("id");
  }
  EXPECT_EQ(reference().at("torch_version").get<std::string>().substr(0, 4), "1.13");
}

TEST(Schedule, SequentialLRMatchesPyTorch) {
  Worst worst;
  for (const auto& c : reference().at("sequential")) {
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    TwoGroups groups;
    std::vector<std::unique_ptr<LRScheduler>> children;
    for (const auto& child : c.at("children")) {
      children.push_back(make_schedule(groups.opt(), child.at("schedule").get<std::string>(), child.at("args")));
    }
    SequentialLR schedule(groups.opt(), std::move(children), c.at("milestones").get<std::vector<std::int64_t>>());
    const auto& rows = c.at("lr");
    for (std::size_t step = 0; step < rows.size(); ++step) {
      if (step > 0) schedule.step();
      expect_row(schedule, groups.opt(), rows.at(step), step, worst);
    }
    if (id == "warmup-cosine") {  // the helper builds the same schedule
      TwoGroups other;
      auto helper = make_warmup_cosine(other.opt(), 5, 50, 0.1, 0.0);
      for (std::size_t step = 0; step < rows.size(); ++step) {
        if (step > 0) helper->step();
        expect_row(*helper, other.opt(), rows.at(step), step, worst);
      }
    }
  }
  worst.print("SequentialLR lr");
}

ReduceLROnPlateauConfig plateau_config(const json& a) {
  ReduceLROnPlateauConfig c;
  c.mode = a.value("mode", std::string("min")) == "min" ? PlateauMode::Min : PlateauMode::Max;
  c.factor = a.value("factor", c.factor);
  c.patience = a.value("patience", c.patience);
  c.threshold = a.value("threshold", c.threshold);
  c.threshold_mode = a.value("threshold_mode", std::string("rel")) == "rel" ? ThresholdMode::Rel : ThresholdMode::Abs;
  c.cooldown = a.value("cooldown", c.cooldown);
  if (a.contains("min_lr")) {
    const auto& m = a.at("min_lr");
    c.min_lr = m.is_array() ? m.get<std::vector<double>>() : std::vector<double>{m.get<double>()};
  }
  c.eps = a.value("eps", c.eps);
  return c;
}

TEST(Schedule, ReduceLROnPlateauMatchesPyTorch) {
  Worst worst;
  std::size_t reductions = 0;
  for (const auto& c : reference().at("plateau")) {
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    TwoGroups groups;
    ReduceLROnPlateau schedule(groups.opt(), plateau_config(c.at("args")));
    const auto& metrics = c.at("metrics");
    const auto& rows = c.at("lr");
    ASSERT_EQ(rows.size(), metrics.size() + 1);
    for (std::size_t step = 0; step < rows.size(); ++step) {
      if (step > 0) schedule.step(metrics.at(step - 1).get<double>());
      EXPECT_EQ(schedule.last_step(), static_cast<std::int64_t>(step));
      for (std::size_t g = 0; g < 2; ++g) {
        const double expected = rows.at(step).at(g).get<double>();
        EXPECT_EQ(schedule.lr(g), groups.opt().group(g).options().lr());
        EXPECT_LE(relative_difference(schedule.lr(g), expected), kTolerance) << "step " << step << " group " << g;
        worst.add(schedule.lr(g), expected);
        if (step > 0 && expected != rows.at(step - 1).at(g).get<double>()) ++reductions;
      }
      EXPECT_EQ(schedule.best(), decode(c.at("best").at(step))) << "step " << step;
      EXPECT_EQ(schedule.num_bad_epochs(), c.at("num_bad_epochs").at(step).get<std::int64_t>()) << "step " << step;
      EXPECT_EQ(schedule.cooldown_counter(), c.at("cooldown_counter").at(step).get<std::int64_t>()) << "step " << step;
    }
  }
  EXPECT_GT(reductions, 20u);  // the cases do exercise reductions
  worst.print("ReduceLROnPlateau lr");
}

// ---------------------------------------------------------------------------------------------------
// Gradient clipping

struct ClipCase {
  std::vector<std::vector<double>> values, grads64;
  std::vector<std::vector<float>> values32, grads32;
  std::unique_ptr<SGD> sgd;
  bool f32;

  explicit ClipCase(const json& c) : f32(c.at("dtype") == "float32") {
    const auto& grads = c.at("grads");
    const auto& shapes = c.at("shapes");
    std::vector<Parameter> params;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      std::size_t n = 1;
      for (const auto& d : shapes.at(i)) n *= d.get<std::size_t>();
      const bool has = !grads.at(i).is_null();
      values.emplace_back(n, 0.0);
      values32.emplace_back(n, 0.0f);
      grads64.push_back(has ? grads.at(i).get<std::vector<double>>() : std::vector<double>{});
      grads32.emplace_back(grads64.back().begin(), grads64.back().end());  // exact: float32 values stored
    }
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const std::string name = "p" + std::to_string(i);
      if (f32) {
        params.emplace_back(name, std::span(values32[i]), std::span(grads32[i]));
      } else {
        params.emplace_back(name, std::span(values[i]), std::span(grads64[i]));
      }
    }
    sgd = std::make_unique<SGD>(std::move(params), SGDOptions(0.1));
  }

  // Checks every gradient against the clipped ones; returns the worst relative difference.
  void expect_grads(const json& clipped, double tolerance, Worst& worst) const {
    for (std::size_t i = 0; i < clipped.size(); ++i) {
      if (clipped.at(i).is_null()) {
        EXPECT_TRUE(grads64[i].empty() && grads32[i].empty());
        continue;
      }
      const auto expected = clipped.at(i).get<std::vector<double>>();
      for (std::size_t k = 0; k < expected.size(); ++k) {
        const double actual = f32 ? static_cast<double>(grads32[i][k]) : grads64[i][k];
        EXPECT_LE(relative_difference(actual, expected[k]), tolerance) << "param " << i << " element " << k;
        worst.add(actual, expected[k]);
      }
    }
  }
};

TEST(Clip, GradNormMatchesPyTorch) {
  Worst norm64, norm32, grad64, grad32;
  for (const auto& c : reference().at("clip_grad_norm")) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    ClipCase clip(c);
    const double norm_type = decode(c.at("norm_type"));
    const double total = clip_grad_norm(*clip.sgd, c.at("max_norm").get<double>(), norm_type);
    const double expected = c.at("total_norm").get<double>();
    const double tolerance = clip.f32 ? 1e-6 : kTolerance;
    EXPECT_LE(relative_difference(total, expected), tolerance) << total << " vs " << expected;
    (clip.f32 ? norm32 : norm64).add(total, expected);
    clip.expect_grads(c.at("clipped"), tolerance, clip.f32 ? grad32 : grad64);
  }
  norm64.print("clip_grad_norm total norm, float64");
  norm32.print("clip_grad_norm total norm, float32");
  grad64.print("clip_grad_norm gradients, float64");
  grad32.print("clip_grad_norm gradients, float32");
}

TEST(Clip, GradValueMatchesPyTorch) {
  Worst worst;
  for (const auto& c : reference().at("clip_grad_value")) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    ClipCase clip(c);
    clip_grad_value(*clip.sgd, c.at("clip_value").get<double>());
    clip.expect_grads(c.at("clipped"), 0.0, worst);
  }
  worst.print("clip_grad_value gradients");
}

TEST(Clip, WithoutGradientsNothingHappens) {
  std::vector<double> w = {1.0, 2.0};
  SGD sgd({Parameter("w", std::span(w), std::span<double>())}, SGDOptions(0.1));
  EXPECT_EQ(clip_grad_norm(sgd, 1.0), 0.0);
  clip_grad_value(sgd, 1.0);
}

TEST(Clip, NonFiniteNormsFollowPyTorchOrThrow) {
  std::vector<double> w = {1.0, 2.0, 3.0}, g = {3.0, kInf, -4.0};
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1));
  EXPECT_THROW_WITH(clip_grad_norm(sgd, 1.0, 2.0, true), InvalidArgument, "total norm of order 2 of the gradients is inf");
  EXPECT_EQ(g, (std::vector<double>{3.0, kInf, -4.0}));  // unchanged
  EXPECT_EQ(clip_grad_norm(sgd, 1.0, kInf), kInf);         // coefficient 1 / inf = 0: as torch, 0 and inf * 0 = NaN
  EXPECT_EQ(g[0], 0.0);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_EQ(g[2], 0.0);
  g = {1.0, std::nan(""), 1.0};
  EXPECT_TRUE(std::isnan(clip_grad_norm(sgd, 1.0)));
  EXPECT_TRUE(std::isnan(g[0]) && std::isnan(g[2]));  // torch's clamp keeps the NaN coefficient
  g = {1.0, std::nan(""), -3.0};
  clip_grad_value(sgd, 2.0);
  EXPECT_EQ(g[0], 1.0);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_EQ(g[2], -2.0);
}

TEST(Clip, ExtremeGradientsKeepTheirNorm) {
  // Squares of 1e200 overflow and of 1e-200 underflow a double; the scaled sum does not.
  std::vector<double> w = {0.0, 0.0}, g = {3e200, 4e200};
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1));
  EXPECT_LE(relative_difference(clip_grad_norm(sgd, kInf), 5e200), 1e-15);
  g = {3e-200, 4e-200};
  EXPECT_LE(relative_difference(clip_grad_norm(sgd, kInf), 5e-200), 1e-15);
  std::vector<float> wf = {0.0f}, gf = {1.0f};
  SGD sgdf({Parameter("w", std::span(wf), std::span(gf))}, SGDOptions(0.1));
  clip_grad_value(sgdf, 1e300);  // beyond float's range: no clipping, no undefined conversion
  EXPECT_EQ(gf[0], 1.0f);
}

TEST(Clip, RejectsBadArguments) {
  std::vector<double> w = {1.0}, g = {2.0};
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1));
  EXPECT_THROW_WITH(clip_grad_norm(sgd, -1.0), InvalidArgument,
                    "clip_grad_norm: argument 'max_norm' = -1 is out of range: must be in [0, inf]");
  EXPECT_THROW_WITH(clip_grad_norm(sgd, std::nan("")), InvalidArgument, "'max_norm' = nan");
  EXPECT_THROW_WITH(clip_grad_norm(sgd, 1.0, 0.0), InvalidArgument,
                    "argument 'norm_type' = 0 is out of range: must be > 0 (inf for the maximum norm)");
  EXPECT_THROW_WITH(clip_grad_norm(sgd, 1.0, -kInf), InvalidArgument, "'norm_type' = -inf");
  EXPECT_THROW_WITH(clip_grad_value(sgd, -0.5), InvalidArgument,
                    "clip_grad_value: argument 'clip_value' = -0.5 is out of range: must be in [0, inf]");
  EXPECT_EQ(g[0], 2.0);
}

// ---------------------------------------------------------------------------------------------------
// Validation: each bad argument throws InvalidArgument naming it, its value and the valid range, and
// leaves the optimizer's lrs as they were.

TEST(Schedule, RejectsBadArgumentsAndChangesNothing) {
  TwoGroups groups;
  Optimizer& opt = groups.opt();
  auto lrs_unchanged = [&] {
    EXPECT_EQ(opt.group(0).options().lr(), 0.1);
    EXPECT_EQ(opt.group(1).options().lr(), 0.05);
  };
  EXPECT_THROW_WITH(StepLR(opt, -2), InvalidArgument, "StepLR: argument 'step_size' = -2 is out of range: must be in [1, inf)");
  EXPECT_THROW_WITH(StepLR(opt, 0), InvalidArgument, "'step_size' = 0");
  EXPECT_THROW_WITH(StepLR(opt, 3, 0.0), InvalidArgument, "StepLR: argument 'gamma' = 0 is out of range: must be in (0, inf)");
  EXPECT_THROW_WITH(StepLR(opt, 3, -0.5), InvalidArgument, "'gamma' = -0.5");
  EXPECT_THROW_WITH(MultiStepLR(opt, {3, -1}), InvalidArgument, "MultiStepLR: argument 'milestones' = -1");
  EXPECT_THROW_WITH(MultiStepLR(opt, {3}, std::nan("")), InvalidArgument, "'gamma' = nan");
  EXPECT_THROW_WITH(ExponentialLR(opt, 0.0), InvalidArgument, "ExponentialLR: argument 'gamma' = 0");
  EXPECT_THROW_WITH(ExponentialLR(opt, kInf), InvalidArgument, "'gamma' = inf");
  EXPECT_THROW_WITH(ConstantLR(opt, 1.5), InvalidArgument, "ConstantLR: argument 'factor' = 1.5 is out of range: must be in [0, 1]");
  EXPECT_THROW_WITH(ConstantLR(opt, 0.5, 0), InvalidArgument, "'total_iters' = 0 is out of range: must be in [1, inf)");
  EXPECT_THROW_WITH(CosineAnnealingLR(opt, 0), InvalidArgument,
                    "CosineAnnealingLR: argument 'T_max' = 0 is out of range: must be in [1, inf)");
  EXPECT_THROW_WITH(CosineAnnealingLR(opt, -5), InvalidArgument, "'T_max' = -5");
  EXPECT_THROW_WITH(CosineAnnealingLR(opt, 10, -0.1), InvalidArgument, "'eta_min' = -0.1 is out of range: must be in [0, inf)");
  EXPECT_THROW_WITH(CosineAnnealingWarmRestarts(opt, 0), InvalidArgument, "'T_0' = 0");
  EXPECT_THROW_WITH(CosineAnnealingWarmRestarts(opt, 5, 0), InvalidArgument, "'T_mult' = 0 is out of range: must be in [1, inf)");
  EXPECT_THROW_WITH(CosineAnnealingWarmRestarts(opt, 5, 2, kInf), InvalidArgument, "'eta_min' = inf");
  EXPECT_THROW_WITH(LinearLR(opt, 0.0), InvalidArgument, "LinearLR: argument 'start_factor' = 0 is out of range: must be in (0, 1]");
  EXPECT_THROW_WITH(LinearLR(opt, 1.2), InvalidArgument, "'start_factor' = 1.2");
  EXPECT_THROW_WITH(LinearLR(opt, 0.5, -0.1), InvalidArgument, "'end_factor' = -0.1 is out of range: must be in [0, 1]");
  EXPECT_THROW_WITH(LinearLR(opt, 0.5, 1.0, 0), InvalidArgument, "'total_iters' = 0");
  EXPECT_THROW_WITH(PolynomialLR(opt, 0), InvalidArgument, "PolynomialLR: argument 'total_iters' = 0");
  EXPECT_THROW_WITH(PolynomialLR(opt, 10, -1.0), InvalidArgument, "'power' = -1 is out of range: must be in [0, inf)");

  OneCycleLRConfig c{.max_lr = {0.5}, .total_steps = 100};
  auto bad = [&](auto change, const std::string& fragment) {
    OneCycleLRConfig copy = c;
    change(copy);
    EXPECT_THROW_WITH(OneCycleLR(opt, copy), InvalidArgument, fragment);
  };
  bad([](auto& x) { x.pct_start = 0.0; }, "OneCycleLR: argument 'pct_start' = 0 is out of range: must be in (0, 1)");
  bad([](auto& x) { x.pct_start = 1.0; }, "'pct_start' = 1 is out of range");
  bad([](auto& x) { x.pct_start = -0.2; }, "'pct_start' = -0.2");
  bad([](auto& x) { x.total_steps = 0; }, "'total_steps' = 0 is out of range: must be in [1, inf)");
  bad([](auto& x) { x.max_lr = {}; }, "argument 'max_lr' holds 0 values: give one, or one per group (2)");
  bad([](auto& x) { x.max_lr = {0.1, 0.2, 0.3}; }, "'max_lr' holds 3 values");
  bad([](auto& x) { x.max_lr = {0.1, -0.2}; }, "'max_lr' = -0.2 is out of range: must be in (0, inf)");
  bad([](auto& x) { x.div_factor = 0.0; }, "'div_factor' = 0");
  bad([](auto& x) { x.final_div_factor = -1.0; }, "'final_div_factor' = -1");
  bad([](auto& x) { x.base_momentum = 1.0; }, "'base_momentum' = 1 is out of range: must be in [0, 1)");
  bad([](auto& x) { x.max_momentum = -0.1; }, "'max_momentum' = -0.1");
  bad([](auto& x) { x.total_steps = 10; x.pct_start = 0.1; }, "pct_start * total_steps = 1 gives a warm-up phase of no steps");

  auto bad_plateau = [&](auto change, const std::string& fragment) {
    ReduceLROnPlateauConfig config;
    change(config);
    EXPECT_THROW_WITH(ReduceLROnPlateau(opt, config), InvalidArgument, fragment);
  };
  bad_plateau([](auto& x) { x.factor = 1.0; }, "ReduceLROnPlateau: argument 'factor' = 1 is out of range: must be in [0, 1)");
  bad_plateau([](auto& x) { x.factor = -0.5; }, "'factor' = -0.5");
  bad_plateau([](auto& x) { x.patience = -1; }, "'patience' = -1 is out of range: must be in [0, inf)");
  bad_plateau([](auto& x) { x.threshold = 1.0; }, "'threshold' = 1 is out of range: must be in [0, 1) (mode Min, threshold_mode Rel)");
  bad_plateau([](auto& x) { x.threshold = -1e-3; x.threshold_mode = ThresholdMode::Abs; }, "'threshold' = -0.001");
  bad_plateau([](auto& x) { x.cooldown = -2; }, "'cooldown' = -2");
  bad_plateau([](auto& x) { x.min_lr = {0.1, 0.2, 0.3}; }, "'min_lr' holds 3 values");
  bad_plateau([](auto& x) { x.min_lr = {-1e-3}; }, "'min_lr' = -0.001");
  bad_plateau([](auto& x) { x.eps = std::nan(""); }, "'eps' = nan");
  lrs_unchanged();

  // A larger threshold is fine where the bar is best * (1 + threshold) or best -/+ threshold.
  ReduceLROnPlateauConfig max_rel;
  max_rel.mode = PlateauMode::Max;
  max_rel.threshold = 2.0;
  EXPECT_NO_THROW(ReduceLROnPlateau(opt, max_rel));
}

TEST(Schedule, RejectsWhatPyTorchFailsOnLater) {
  // PyTorch 1.13 accepts these at construction and then divides by zero (the generator records it).
  for (const auto& e : reference().at("torch_errors")) {
    const std::string error = e.at("error").is_null() ? "none" : e.at("error").get<std::string>();
    std::cout << "[ torch ] " << e.at("what").get<std::string>() << ": " << error << "\n";
  }
  TwoGroups groups;
  Optimizer& opt = groups.opt();
  EXPECT_THROW(LinearLR(opt, 0.0, 1.0, 5), InvalidArgument);
  EXPECT_THROW(StepLR(opt, 0), InvalidArgument);
  EXPECT_THROW(OneCycleLR(opt, OneCycleLRConfig{.max_lr = {0.5}, .total_steps = 10, .pct_start = 0.1}), InvalidArgument);
  {
    // ConstantLR with factor 0: the closed form is well defined (lr 0, then base_lr at total_iters).
    ConstantLR constant(opt, 0.0, 3);
    EXPECT_EQ(constant.lr(0), 0.0);
    for (int i = 0; i < 3; ++i) constant.step();
    EXPECT_EQ(constant.lr(0), 0.1);
    EXPECT_EQ(constant.lr(1), 0.05);
  }
  {
    // OneCycleLR: total_steps step() calls are allowed, the next one throws and changes nothing.
    OneCycleLR one_cycle(opt, {.max_lr = {0.5}, .total_steps = 10, .anneal_strategy = AnnealStrategy::Linear});
    for (int i = 0; i < 10; ++i) one_cycle.step();
    const double last = one_cycle.lr(0);
    EXPECT_LE(relative_difference(last, 0.5 / 25.0 / 1e4), 1e-11);  // min_lr (to PyTorch's rounding), where PyTorch's linear extrapolation goes negative
    EXPECT_THROW_WITH(one_cycle.step(), Error, "OneCycleLR: step 11 is past the end of the schedule (total_steps = 10");
    EXPECT_EQ(one_cycle.last_step(), 10);
    EXPECT_EQ(opt.group(0).options().lr(), last);
  }
}

TEST(Schedule, LrOutsideTheOptionRangeThrowsAndChangesNothing) {
  TwoGroups groups;
  ExponentialLR grow(groups.opt(), 1e100);
  grow.step();
  grow.step();
  grow.step();  // 0.1 * 1e300
  EXPECT_THROW_WITH(grow.step(), InvalidArgument, "ExponentialLR: the lr of group 0 at step 4 would be inf, outside the lr option's range [0, inf)");
  EXPECT_EQ(grow.last_step(), 3);
  EXPECT_EQ(groups.opt().group(0).options().lr(), grow.lr(0));
  EXPECT_EQ(groups.opt().group(1).options().lr(), grow.lr(1));
}

TEST(Schedule, OneCycleCyclesBeta1OrMomentumOrNeedsItOff) {
  std::vector<double> w = {1.0}, g = {1.0};
  Adagrad adagrad({Parameter("w", std::span(w), std::span(g))}, AdagradOptions(0.1));
  EXPECT_THROW_WITH(OneCycleLR(adagrad, {.max_lr = {0.5}, .total_steps = 20}), InvalidArgument,
                    "cycle_momentum needs an optimizer with a 'beta1' or 'momentum' option, which Adagrad lacks");
  OneCycleLR plain(adagrad, {.max_lr = {0.5}, .total_steps = 20, .cycle_momentum = false});
  EXPECT_TRUE(plain.momentum_option().empty());
  EXPECT_TRUE(std::isnan(plain.momentum_at(3)));
  EXPECT_EQ(plain.base_lrs()[0], 0.02);  // max_lr / div_factor, whatever the group's lr was

  Adam adam({Parameter("w", std::span(w), std::span(g))}, AdamOptions(0.1).betas(0.9, 0.99));
  OneCycleLR cycle(adam, {.max_lr = {0.5}, .total_steps = 20});
  EXPECT_EQ(cycle.momentum_option(), "beta1");
  EXPECT_EQ(adam.options().beta1(), cycle.momentum_at(0));
  EXPECT_EQ(adam.options().beta2(), 0.99);  // beta2 is not touched
  for (int i = 0; i < 5; ++i) cycle.step();
  EXPECT_EQ(adam.options().beta1(), cycle.momentum_at(5));
  EXPECT_EQ(adam.options().beta1(), 0.85);  // the warm-up ends at step pct_start * 20 - 1 = 5: the peak lr, base_momentum
  EXPECT_EQ(adam.options().lr(), 0.5);
}

// ---------------------------------------------------------------------------------------------------
// A schedule drives Adam: the lr changes between steps exactly as if set by hand.

TEST(Schedule, DrivesAdamBetweenSteps) {
  std::vector<float> wa = {1.0f, -2.0f, 0.5f}, ga(3), wb = wa, gb(3);
  Adam scheduled({Parameter("w", std::span(wa), std::span(ga))}, AdamOptions(0.05));
  Adam by_hand({Parameter("w", std::span(wb), std::span(gb))}, AdamOptions(0.05));
  CosineAnnealingLR schedule(scheduled, 10, 0.001);
  EXPECT_EQ(scheduled.options().lr(), 0.05);
  std::vector<double> seen;
  for (int step = 0; step < 25; ++step) {
    for (std::size_t i = 0; i < wa.size(); ++i) {
      ga[i] = 2.0f * wa[i] + 0.1f * static_cast<float>(step);
      gb[i] = 2.0f * wb[i] + 0.1f * static_cast<float>(step);
    }
    by_hand.options().lr(0.001 + (0.05 - 0.001) * (1.0 + std::cos(std::numbers::pi * step / 10.0)) / 2.0);
    EXPECT_LE(relative_difference(scheduled.options().lr(), by_hand.options().lr()), 1e-15);
    by_hand.options().lr(scheduled.options().lr());  // bitwise the same lr, to compare the parameters bitwise
    scheduled.step();
    by_hand.step();
    seen.push_back(scheduled.options().lr());
    schedule.step();
  }
  EXPECT_EQ(wa, wb);
  EXPECT_EQ(seen[10], 0.001);                       // the minimum at T_max
  EXPECT_LT(seen[5], 0.05);
  EXPECT_EQ(seen[20], 0.05);                        // and back up after 2 T_max, as PyTorch's does
  EXPECT_EQ(schedule.last_step(), 25);
}

// ---------------------------------------------------------------------------------------------------
// State for checkpoints

TEST(Schedule, StateRestoresAScheduleOnAFreshOptimizer) {
  TwoGroups original;
  OneCycleLR a(original.opt(), {.max_lr = {0.4, 0.2}, .total_steps = 50, .three_phase = true});
  for (int i = 0; i < 17; ++i) a.step();
  const SchedulerState saved = a.state();
  EXPECT_EQ(saved.last_step, 17);

  TwoGroups restored;
  OneCycleLR b(restored.opt(), {.max_lr = {0.4, 0.2}, .total_steps = 50, .three_phase = true});
  b.load_state(saved);
  EXPECT_EQ(b.last_step(), 17);
  for (int i = 0; i < 20; ++i) {
    for (std::size_t g = 0; g < 2; ++g) {
      EXPECT_EQ(b.lr(g), a.lr(g));
      EXPECT_EQ(restored.opt().group(g).options().lr(), original.opt().group(g).options().lr());
      EXPECT_EQ(restored.opt().group(g).options().get("momentum"), original.opt().group(g).options().get("momentum"));
    }
    a.step();
    b.step();
  }

  // A step-count schedule re-attached to an optimizer whose lr is already scheduled keeps its base lrs.
  TwoGroups first;
  StepLR s1(first.opt(), 3, 0.5);
  for (int i = 0; i < 7; ++i) s1.step();
  TwoGroups second;
  second.opt().group(0).options().set_lr(first.opt().group(0).options().lr());  // as a checkpoint restores it
  StepLR s2(second.opt(), 3, 0.5);
  s2.load_state(s1.state());
  EXPECT_EQ(s2.base_lrs()[0], 0.1);
  EXPECT_EQ(s2.lr(0), 0.025);
  s1.step();
  s2.step();
  EXPECT_EQ(s2.lr(0), s1.lr(0));

  // Bad states throw and change nothing.
  SchedulerState wrong = s1.state();
  wrong.base_lrs.push_back(0.1);
  EXPECT_THROW_WITH(s2.load_state(wrong), InvalidArgument, "StepLR: the state holds 3 base lrs, but the schedule drives 2 groups");
  wrong = s1.state();
  wrong.last_step = -1;
  EXPECT_THROW_WITH(s2.load_state(wrong), InvalidArgument, "argument 'last_step' = -1");
  wrong = s1.state();
  wrong.base_lrs[1] = -0.1;
  EXPECT_THROW_WITH(s2.load_state(wrong), InvalidArgument, "argument 'base_lrs' = -0.1");
  EXPECT_EQ(s2.last_step(), 8);
  EXPECT_EQ(s2.lr(0), s1.lr(0));
}

TEST(Schedule, PlateauStateRoundTrips) {
  ReduceLROnPlateauConfig config;
  config.factor = 0.5;
  config.patience = 2;
  config.cooldown = 2;
  TwoGroups a_groups, b_groups;
  ReduceLROnPlateau a(a_groups.opt(), config), b(b_groups.opt(), config);
  EXPECT_EQ(a.best(), kInf);
  EXPECT_EQ(a.lr(1), 0.05);  // construction changes nothing (PyTorch 1.13 has no get_last_lr() for it at all)
  const std::vector<double> metrics = {1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9, 0.8, 0.8};
  for (std::size_t i = 0; i < 6; ++i) a.step(metrics[i]);
  const SchedulerState saved = a.state();
  EXPECT_EQ(saved.best, 0.9);
  EXPECT_EQ(saved.last_lrs[0], 0.05);
  b.load_state(saved);
  EXPECT_EQ(b_groups.opt().group(0).options().lr(), 0.05);
  EXPECT_EQ(b.cooldown_counter(), a.cooldown_counter());
  for (std::size_t i = 6; i < metrics.size(); ++i) {
    a.step(metrics[i]);
    b.step(metrics[i]);
    EXPECT_EQ(b.lr(0), a.lr(0));
    EXPECT_EQ(b.num_bad_epochs(), a.num_bad_epochs());
    EXPECT_EQ(b.cooldown_counter(), a.cooldown_counter());
    EXPECT_EQ(b.best(), a.best());
  }
  SchedulerState wrong = saved;
  wrong.num_bad_epochs = -3;
  EXPECT_THROW_WITH(b.load_state(wrong), InvalidArgument, "'num_bad_epochs' = -3");
  wrong = saved;
  wrong.last_lrs = {0.1};
  EXPECT_THROW_WITH(b.load_state(wrong), InvalidArgument, "the state holds 1 last lrs");
}

TEST(Schedule, PlateauReducesTheCurrentLr) {
  TwoGroups groups;
  ReduceLROnPlateauConfig config;
  config.patience = 0;
  config.factor = 0.5;
  ReduceLROnPlateau plateau(groups.opt(), config);
  plateau.step(1.0);
  groups.opt().group(0).options().set_lr(0.3);  // changed by someone else: the reduction starts from it
  plateau.step(1.0);
  EXPECT_EQ(plateau.lr(0), 0.15);
  EXPECT_EQ(plateau.lr(1), 0.025);
  EXPECT_FALSE(plateau.is_better(std::nan("")));  // a NaN metric is a bad epoch, as in PyTorch
}

TEST(Schedule, SequentialLRChecksItsChildrenAndRestoresTheLrs) {
  TwoGroups groups, other;
  auto children = [&](Optimizer& second) {
    std::vector<std::unique_ptr<LRScheduler>> v;
    v.push_back(std::make_unique<LinearLR>(groups.opt(), 0.1, 1.0, 5));
    v.push_back(std::make_unique<ExponentialLR>(second, 0.9));
    return v;
  };
  EXPECT_THROW_WITH(SequentialLR(groups.opt(), children(groups.opt()), {}), InvalidArgument,
                    "SequentialLR: needs one milestone fewer than schedules: 2 schedules, 0 milestones");
  EXPECT_EQ(groups.opt().group(0).options().lr(), 0.1);  // given back
  EXPECT_THROW_WITH(SequentialLR(groups.opt(), children(groups.opt()), {0}), InvalidArgument, "'milestones' = 0");
  EXPECT_THROW_WITH(SequentialLR(groups.opt(), children(other.opt()), {5}), InvalidArgument,
                    "schedule 1 drives another optimizer");
  EXPECT_THROW_WITH(SequentialLR(groups.opt(), {}, {}), InvalidArgument, "needs at least one schedule");
  EXPECT_THROW_WITH(make_warmup_cosine(groups.opt(), 10, 10), InvalidArgument,
                    "make_warmup_cosine: argument 'total_steps' = 10 is out of range: must be in (warmup_steps, inf)");
  EXPECT_EQ(groups.opt().group(1).options().lr(), 0.05);
}

TEST(Schedule, LrAtAndWarmRestartCycles) {
  TwoGroups groups;
  CosineAnnealingWarmRestarts restarts(groups.opt(), 5, 2);
  EXPECT_EQ(restarts.cycle_at(0), (std::pair<std::int64_t, std::int64_t>{0, 5}));
  EXPECT_EQ(restarts.cycle_at(5), (std::pair<std::int64_t, std::int64_t>{0, 10}));
  EXPECT_EQ(restarts.cycle_at(14), (std::pair<std::int64_t, std::int64_t>{9, 10}));
  EXPECT_EQ(restarts.cycle_at(15), (std::pair<std::int64_t, std::int64_t>{0, 20}));
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  EXPECT_LT(restarts.cycle_at(huge).first, restarts.cycle_at(huge).second);
  EXPECT_EQ(restarts.lr_at(15, 1), 0.05);
  EXPECT_THROW_WITH((void)restarts.lr_at(-1), InvalidArgument, "argument 'step' = -1");
  EXPECT_THROW_WITH((void)restarts.lr_at(3, 2), NotFound, "CosineAnnealingWarmRestarts: no group 2 (it drives 2)");
  EXPECT_THROW_WITH((void)restarts.lr(7), NotFound, "no group 7");
  EXPECT_EQ(restarts.name(), "CosineAnnealingWarmRestarts");
  EXPECT_EQ(&restarts.optimizer(), &groups.opt());
}

}  // namespace
}  // namespace descent
