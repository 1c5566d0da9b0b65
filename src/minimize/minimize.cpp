// minimize(): the dispatch, the option checks, and the first-order and L-BFGS runs.
// Newton and Newton-CG are in newton.cpp, the trust-region methods in trust_region.cpp; the shared loop is the Driver (driver.hpp).
#include "descent/minimize/minimize.hpp"

#include <cmath>
#include <numeric>
#include <string>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "minimize/driver.hpp"
#include "random.hpp"

namespace descent {
namespace detail {
MinimizeResult run_newton(Driver& driver, const Objective& objective, const NewtonOptions& options);
MinimizeResult run_newton_cg(Driver& driver, const Objective& objective, const NewtonCGOptions& options);
MinimizeResult run_trust_region(Driver& driver, const Objective& objective, const TrustRegionOptions& options);
}  // namespace detail

namespace {

void require(bool ok, const char* owner, const char* option, double value, const char* range) {
  if (!ok) {
    throw InvalidArgument(std::string(owner) + ": option '" + option + "' = " + format_number(value) +
                          " is out of range: must be " + range);
  }
}

MinimizeResult run_first_order(detail::Driver& driver, const Objective& objective, const FirstOrder& method) {
  const SeparableObjective* separable = nullptr;
  if (method.batch_size > 0) {
    separable = dynamic_cast<const SeparableObjective*>(&objective);
    if (separable == nullptr) {
      throw InvalidArgument("minimize: batch_size = " + std::to_string(method.batch_size) +
                            " needs a SeparableObjective (a mean of terms); this objective is not one");
    }
    if (separable->num_terms() == 0) throw InvalidArgument("minimize: the separable objective has no terms");
  }
  // The optimizer updates a working copy; the driver keeps the last finite point.
  std::vector<double> x = driver.x();
  std::vector<double> g(x.size());
  auto optimizer = make_optimizer(method.optimizer, {Parameter("x", std::span<double>(x), std::span<double>(g))},
                                  method.options);
  if (auto stop = driver.start()) return driver.finish(*stop);
  const auto start_gradient = driver.gradient();
  std::copy(start_gradient.begin(), start_gradient.end(), g.begin());

  if (separable == nullptr) {  // full batch: gradient descent with the chosen update rule
    for (;;) {
      optimizer->step();
      const double f = driver.evaluate(x, g);
      if (auto stop = driver.advance(x, f, g)) return driver.finish(*stop);
    }
  }

  // Mini-batch SGD: every epoch visits each term once, in a freshly shuffled order.
  const std::size_t terms = separable->num_terms();
  const std::size_t batch = std::min(method.batch_size, terms);
  std::vector<std::size_t> order(terms);
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::SplitMix64 rng(method.seed);
  for (;;) {
    rng.shuffle(order);
    for (std::size_t begin = 0; begin < terms; begin += batch) {
      const std::span<const std::size_t> indices(order.data() + begin, std::min(batch, terms - begin));
      const double batch_value = driver.evaluate_terms(*separable, x, indices, g);
      if (!detail::finite(batch_value, g)) return driver.finish(StopReason::kNonFinite, true);
      optimizer->step();
      // The iterate is the point after the step; its value is the batch mean that produced the step.
      if (auto stop = driver.advance(x, batch_value, g, /*partial=*/true)) return driver.finish(*stop, true);
    }
    driver.count_epoch();
    if (auto stop = driver.check_full()) return driver.finish(*stop, true);
  }
}

MinimizeResult run_lbfgs(detail::Driver& driver, const LBFGSOptions& options) {
  LBFGS lbfgs(driver.counted(), options);
  std::vector<double> x = driver.x();
  const LBFGSStatus first = lbfgs.begin(x);
  if (first == LBFGSStatus::kNonFinite) return driver.finish(StopReason::kNonFinite);
  if (auto stop = driver.start(lbfgs.value(), lbfgs.gradient())) return driver.finish(*stop);
  if (first == LBFGSStatus::kGradientTolerance) return driver.finish(StopReason::kGradientTolerance);
  for (;;) {
    const LBFGSStatus status = lbfgs.iterate(x);
    if (status == LBFGSStatus::kSmallDirectionalDerivative) return driver.finish(StopReason::kSmallDirectionalDerivative);
    if (status == LBFGSStatus::kNonFinite) return driver.finish(StopReason::kNonFinite);
    if (auto stop = driver.advance(x, lbfgs.value(), lbfgs.gradient())) return driver.finish(*stop);
    switch (status) {
      case LBFGSStatus::kGradientTolerance: return driver.finish(StopReason::kGradientTolerance);
      case LBFGSStatus::kStepTolerance: return driver.finish(StopReason::kStepTolerance);
      case LBFGSStatus::kValueTolerance: return driver.finish(StopReason::kRelativeChange);
      default: break;
    }
  }
}

}  // namespace

void Stopping::validate() const {
  require(max_iterations >= 1, "Stopping", "max_iterations", static_cast<double>(max_iterations), "at least 1");
  require(max_evaluations >= 1, "Stopping", "max_evaluations", static_cast<double>(max_evaluations), "at least 1");
  require(gradient_tolerance >= 0.0, "Stopping", "gradient_tolerance", gradient_tolerance, "in [0, inf)");
  require(relative_tolerance >= 0.0 && relative_tolerance < 1.0, "Stopping", "relative_tolerance", relative_tolerance,
          "in [0, 1)");
  require(time_budget_seconds > 0.0, "Stopping", "time_budget_seconds", time_budget_seconds, "positive");
}

void NewtonOptions::validate() const {
  require(armijo > 0.0 && armijo < 1.0, "Newton", "armijo", armijo, "in (0, 1)");
  require(backtrack > 0.0 && backtrack < 1.0, "Newton", "backtrack", backtrack, "in (0, 1)");
  require(max_backtracks >= 1, "Newton", "max_backtracks", max_backtracks, "at least 1");
  require(shift_floor > 0.0 && std::isfinite(shift_floor), "Newton", "shift_floor", shift_floor, "in (0, inf)");
}

void NewtonCGOptions::validate() const {
  require(armijo > 0.0 && armijo < 1.0, "NewtonCG", "armijo", armijo, "in (0, 1)");
  require(backtrack > 0.0 && backtrack < 1.0, "NewtonCG", "backtrack", backtrack, "in (0, 1)");
  require(max_backtracks >= 1, "NewtonCG", "max_backtracks", max_backtracks, "at least 1");
  require(max_cg_iterations >= 0, "NewtonCG", "max_cg_iterations", max_cg_iterations, "0 (the dimension) or more");
}

void TrustRegionOptions::validate() const {
  require(initial_radius > 0.0 && std::isfinite(initial_radius), "TrustRegion", "initial_radius", initial_radius,
          "in (0, inf)");
  require(max_radius >= initial_radius && std::isfinite(max_radius), "TrustRegion", "max_radius", max_radius,
          "finite and at least initial_radius");
  require(accept >= 0.0 && accept < 0.25, "TrustRegion", "accept", accept, "in [0, 0.25)");
  require(max_inner_iterations >= 0, "TrustRegion", "max_inner_iterations", max_inner_iterations,
          "0 (the dimension) or more");
  require(boundary_tolerance > 0.0 && boundary_tolerance < 1.0, "TrustRegion", "boundary_tolerance",
          boundary_tolerance, "in (0, 1)");
  require(hard_case_tolerance > 0.0 && hard_case_tolerance < 1.0, "TrustRegion", "hard_case_tolerance",
          hard_case_tolerance, "in (0, 1)");
  require(solver == TrustRegionSolver::kSteihaugCG || solver == TrustRegionSolver::kExact ||
              solver == TrustRegionSolver::kKrylov,
          "TrustRegion", "solver", static_cast<double>(solver), "kSteihaugCG, kExact or kKrylov");
}

namespace {
constexpr std::string_view kSecondOrderNames[] = {"newton",    "newton-cg",   "lbfgs",
                                                  "trust-ncg", "trust-exact", "trust-krylov"};
}  // namespace

std::span<const std::string_view> second_order_method_names() { return kSecondOrderNames; }

Method second_order_method(std::string_view name) {
  if (name == "newton") return NewtonOptions{};
  if (name == "newton-cg") return NewtonCGOptions{};
  if (name == "lbfgs") {
    LBFGSOptions options;
    options.line_search = LineSearch::StrongWolfe;
    options.history_size = 10;
    return options;
  }
  TrustRegionOptions trust;
  if (name == "trust-ncg") return trust;
  if (name == "trust-exact") {
    trust.solver = TrustRegionSolver::kExact;
    return trust;
  }
  if (name == "trust-krylov") {
    trust.solver = TrustRegionSolver::kKrylov;
    return trust;
  }
  std::string known;
  for (const std::string_view n : kSecondOrderNames) known += (known.empty() ? "" : ", ") + std::string(n);
  throw NotFound("unknown second-order method '" + std::string(name) + "' (known: " + known + ")");
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kGradientTolerance: return "gradient tolerance reached";
    case StopReason::kRelativeChange: return "relative change of f below tolerance";
    case StopReason::kStepTolerance: return "step below tolerance";
    case StopReason::kMaxIterations: return "maximum iterations";
    case StopReason::kMaxEvaluations: return "maximum evaluations";
    case StopReason::kTimeBudget: return "time budget spent";
    case StopReason::kNonFinite: return "non-finite value or gradient";
    case StopReason::kCallback: return "stopped by the callback";
    case StopReason::kLineSearchFailed: return "line search failed";
    case StopReason::kSmallDirectionalDerivative: return "directional derivative below tolerance_change";
    case StopReason::kNoModelDecrease: return "the trust-region model predicts no decrease";
  }
  return "unknown";
}

MinimizeResult minimize(const Objective& objective, std::vector<double> x, const Method& method,
                        const Stopping& stopping, const Observe& observe) {
  // A NaN or infinite start would be evaluated and reported as a non-finite stop: a caller's mistake.
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      throw InvalidArgument("minimize: the start's coordinate " + std::to_string(i) + " is " + format_number(x[i]) +
                            "; the start must be finite");
    }
  }
  detail::Driver driver(objective, std::move(x), stopping, observe);
  return std::visit(
      [&](const auto& m) -> MinimizeResult {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, FirstOrder>) {
          return run_first_order(driver, objective, m);
        } else if constexpr (std::is_same_v<M, LBFGSOptions>) {
          m.validate();
          return run_lbfgs(driver, m);
        } else if constexpr (std::is_same_v<M, NewtonOptions>) {
          m.validate();
          return detail::run_newton(driver, objective, m);
        } else if constexpr (std::is_same_v<M, NewtonCGOptions>) {
          m.validate();
          return detail::run_newton_cg(driver, objective, m);
        } else {
          m.validate();
          return detail::run_trust_region(driver, objective, m);
        }
      },
      method);
}

}  // namespace descent
