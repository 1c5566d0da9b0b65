// minimize(): any optimizer of the library, or a second-order method, run on an Objective until a
// stopping rule fires.
//
//   descent::FunctionObjective f(2, [](std::span<const double> x, std::span<double> g) { ... });
//   auto result = descent::minimize(f, {-1.2, 1.0}, descent::LBFGSOptions{.line_search = descent::LineSearch::StrongWolfe});
//   // result.x, result.value, result.iterations, result.reason ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "descent/minimize/lbfgs.hpp"
#include "descent/minimize/objective.hpp"

namespace descent {

// A first-order optimizer of the library (by name, with option overrides) as full-batch gradient
// descent (batch_size 0), or as mini-batch SGD over the terms of a SeparableObjective: each epoch
// visits every term once, in an order shuffled from `seed`.
struct FirstOrder {
  std::string optimizer = "sgd";
  std::map<std::string, double> options;  // e.g. {{"lr", 0.01}, {"momentum", 0.9}}
  std::size_t batch_size = 0;
  std::uint64_t seed = 0;
};

// Newton's method: solve (H + tau I) p = -g by Cholesky, with tau = 0 when H is positive definite and
// otherwise raised until the factorization succeeds (Nocedal & Wright, Algorithm 3.3), so that every
// step goes downhill, also at saddles; then Armijo backtracking from the full step.
struct NewtonOptions {
  double armijo = 1e-4;          // sufficient decrease: f(x + a p) <= f(x) + armijo * a * g.p
  double backtrack = 0.5;        // step reduction factor
  int max_backtracks = 60;
  double shift_floor = 1e-3;     // beta of Algorithm 3.3: the smallest shift tried, relative to max(1, max |H_ii|)

  void validate() const;
};

// Newton-CG (truncated Newton, Nocedal & Wright Algorithm 7.1): conjugate gradients on H p = -g using
// only Hessian-vector products (finite differences of gradients when the objective has none), stopped
// at a relative residual of min(0.5, sqrt(|g|)) or at negative curvature; then Armijo backtracking.
struct NewtonCGOptions {
  double armijo = 1e-4;
  double backtrack = 0.5;
  int max_backtracks = 60;
  int max_cg_iterations = 0;  // 0: the dimension

  void validate() const;
};

// Trust-region Newton: at x, a step p that (approximately) minimizes the quadratic model
// m(p) = f + g.p + p.Hp/2 within ||p|| <= radius, accepted when the actual decrease is more than
// `accept` times the model's; the radius shrinks to ||p|| / 4 when the model was poor (ratio < 1/4)
// and doubles, up to max_radius, when it was good (ratio > 3/4) and p reached the boundary
// (Nocedal & Wright, Algorithm 4.1). The subproblem solver:
enum class TrustRegionSolver : unsigned char {
  kSteihaugCG,  // "trust-ncg": CG on the model, stopped at the boundary or following negative curvature
                // to it (Steihaug 1983, Toint 1981; N&W Algorithm 7.2); Hessian-vector products only
  kExact,       // "trust-exact": (H + lambda I) p = -g by Cholesky, lambda by Newton's method on the
                // secular equation, the hard case included (More & Sorensen 1983; N&W Algorithm 4.3); dense H
  kKrylov,      // "trust-krylov": the model minimized exactly over the Lanczos (Krylov) subspace,
                // continued past the boundary (Gould, Lucidi, Roma & Toint 1999, GLTR); products only
};

struct TrustRegionOptions {
  TrustRegionSolver solver = TrustRegionSolver::kSteihaugCG;
  double initial_radius = 1.0;
  double max_radius = 1000.0;
  double accept = 0.15;                // eta: accept the step when actual / predicted decrease > this
  int max_inner_iterations = 0;        // CG or Lanczos steps per subproblem; 0: the dimension
  double boundary_tolerance = 0.1;     // kExact: stop when | ||p|| - radius | <= this * radius
  double hard_case_tolerance = 0.2;    // kExact: accept a hard-case step within this relative model error

  void validate() const;
};

using Method = std::variant<FirstOrder, NewtonOptions, NewtonCGOptions, LBFGSOptions, TrustRegionOptions>;

// The second-order methods by name, as the command line and the convergence table call them: "newton",
// "newton-cg", "lbfgs" (strong-Wolfe line search, history 10), "trust-ncg", "trust-exact", "trust-krylov".
std::span<const std::string_view> second_order_method_names();
// The method of that name with its defaults; throws NotFound naming the name and listing the known ones.
Method second_order_method(std::string_view name);

struct Stopping {
  std::size_t max_iterations = 1000;
  std::size_t max_evaluations = std::numeric_limits<std::size_t>::max();  // function evaluations
  double gradient_tolerance = 1e-8;   // stop when ||g||_2 <= this
  double relative_tolerance = 0.0;    // stop when |f_k - f_(k-1)| <= this * max(|f_k|, |f_(k-1)|); 0: off
  double time_budget_seconds = std::numeric_limits<double>::infinity();

  void validate() const;
};

enum class StopReason : unsigned char {
  kGradientTolerance,  // ||g|| <= gradient_tolerance (for L-BFGS also max |g_i| <= tolerance_grad)
  kRelativeChange,     // relative change of f below relative_tolerance (L-BFGS: |change| < tolerance_change)
  kStepTolerance,      // L-BFGS: step below tolerance_change
  kMaxIterations,
  kMaxEvaluations,
  kTimeBudget,
  kNonFinite,          // f or g became NaN or infinite: the result holds the last finite point
  kCallback,           // the callback returned false
  kLineSearchFailed,   // no step along a descent direction decreased f (Newton, Newton-CG)
  kSmallDirectionalDerivative,  // L-BFGS: g . d > -tolerance_change, PyTorch's test (converged along d)
  kNoModelDecrease,    // trust region: the model predicts no decrease (the step is lost in rounding), or the
                       // radius shrank below rounding of x
};
std::string_view to_string(StopReason reason);

struct IterationInfo {
  std::size_t iteration;       // 0 is the start point
  std::span<const double> x;
  double value;                // f(x); for mini-batch SGD, the mean over the batch just used
  double gradient_norm;        // of that gradient
  std::size_t function_evaluations;
};

struct TrajectoryPoint {
  std::size_t iteration;
  std::vector<double> x;
  double value;
  double gradient_norm;
};

struct Observe {
  // Called at the start and after every iteration; returning false stops the run (kCallback).
  std::function<bool(const IterationInfo&)> callback;
  bool record_trajectory = false;
};

struct MinimizeResult {
  std::vector<double> x;            // the final point: never NaN when the start was finite
  double value;                     // f(x) on the whole objective
  double gradient_norm;             // ||grad f(x)||
  std::size_t iterations = 0;
  std::size_t function_evaluations = 0;    // evaluations of f (each also computes the gradient), mini-batches included
  std::size_t gradient_evaluations = 0;
  std::size_t hessian_evaluations = 0;     // dense Hessians
  std::size_t hessian_vector_products = 0;
  std::size_t epochs = 0;                  // mini-batch SGD: passes over the terms
  StopReason reason = StopReason::kMaxIterations;
  std::vector<TrajectoryPoint> trajectory;  // iteration 0 first, when Observe::record_trajectory
};

// Throws InvalidArgument for a start of the wrong length, invalid options or stopping rules, a
// mini-batch run on an objective that is not separable, or Newton or trust-exact on an objective
// without a Hessian.
MinimizeResult minimize(const Objective& objective, std::vector<double> x, const Method& method,
                        const Stopping& stopping = {}, const Observe& observe = {});

}  // namespace descent
