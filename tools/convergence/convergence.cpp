#include "convergence.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "checkpoint/json.hpp"
#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/minimize/derivatives.hpp"
#include "descent/minimize/minimize.hpp"
#include "descent/minimize/test_problems.hpp"
#include "engine/thread_pool.hpp"
#include "lr_grid.hpp"
#include "optimizers/registry.hpp"

namespace descent::cli {
namespace {

constexpr double kTarget = 1e-6;               // ||grad f||_2 <= kTarget, the same for every method
constexpr double kUnboundedLevel = -1e20;      // on a problem unbounded below, f under this counts as f -> -inf
constexpr std::size_t kFirstOrderIterations = 10000;
constexpr std::size_t kOtherIterations = 10000;  // L-BFGS needs about 5000 on rosenbrock-1000
// Methods that factor a dense Hessian (Newton, trust-exact, on both sides) run up to this dimension: at
// n = 1000 each factorization costs about 3e8 flops, and thousands of iterations would take an hour.
// (SciPy's BFGS is not run above it either: scipy_convergence.py.)
constexpr std::size_t kMaxDenseDimension = 100;
constexpr std::size_t kMaxEvaluations = 20000;
// L-BFGS (and SciPy's L-BFGS-B) also run from perturbed starts, to tell a systematic difference in their counts
// from the chance of one trajectory: x_i + kPerturbation (1 + |x_i|) cos(k + 2.5 i), k = 1 .. kPerturbedStarts.
constexpr int kPerturbedStarts = 8;
constexpr double kPerturbation = 1e-6;

// ---- the suite ------------------------------------------------------------------------------------------

struct SuiteEntry {
  std::string id;  // the name, or name-n where the dimension is not the default
  TestProblem problem;
};

std::vector<SuiteEntry> suite() {
  std::vector<SuiteEntry> out;
  for (const std::string_view name : test_problem_names()) out.push_back({std::string(name), make_test_problem(name)});
  out.push_back({"rosenbrock-100", make_test_problem("rosenbrock", 100)});
  out.push_back({"rosenbrock-1000", make_test_problem("rosenbrock", 1000)});
  return out;
}

std::vector<std::vector<double>> perturbed_starts(const std::vector<double>& start) {
  std::vector<std::vector<double>> out;
  for (int k = 1; k <= kPerturbedStarts; ++k) {
    std::vector<double> x = start;
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] += kPerturbation * (1.0 + std::abs(x[i])) * std::cos(static_cast<double>(k) + 2.5 * static_cast<double>(i));
    }
    out.push_back(std::move(x));
  }
  return out;
}

// ---- writing JSON (numbers here, strings by the library's writer) ---------------------------------------------------------------------------------------

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string json_string(std::string_view s) { return detail::json::quote(s); }

std::string json_array(std::span<const double> v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + json_number(v[i]);
  return out + "]";
}

// ---- running the methods ------------------------------------------------------------------------------------

struct MethodSpec {
  std::string name;       // as shown in the tables
  std::string optimizer;  // a second-order method's name (second_order_method_names()) or a library optimizer's
  std::map<std::string, double> options;
  bool second_order = false;
  bool first_order() const { return !second_order; }
  // Newton and trust-exact factor the dense Hessian.
  bool dense() const { return optimizer == "newton" || optimizer == "trust-exact"; }
};

// Every second-order method of the library, by its registered name.
const std::vector<MethodSpec>& second_order_methods() {
  static const std::vector<MethodSpec> methods = [] {
    const std::map<std::string_view, std::string> shown{{"newton", "Newton"}, {"newton-cg", "Newton-CG"},
                                                        {"lbfgs", "L-BFGS"}};
    std::vector<MethodSpec> out;
    for (const std::string_view name : second_order_method_names()) {
      const auto it = shown.find(name);
      out.push_back({it != shown.end() ? it->second : std::string(name), std::string(name), {}, true});
    }
    return out;
  }();
  return methods;
}

const MethodSpec& second_order(std::string_view name) {
  for (const MethodSpec& m : second_order_methods()) {
    if (m.name == name) return m;
  }
  throw std::logic_error("no second-order method shown as '" + std::string(name) + "'");
}

const MethodSpec& lbfgs_method() { return second_order("L-BFGS"); }

// Every optimizer of the library (optimizer_names()) with its defaults, except that weight decay, where an
// optimizer has it, is 0: the minimum sought is the function's own. Plus sgd with momentum 0.9. Not the
// matrix rules (Muon): a point of R^n is no weight matrix (its "muon" entry would hand it to AdamW).
const std::vector<MethodSpec>& first_order_methods() {
  static const std::vector<MethodSpec> methods = [] {
    std::vector<MethodSpec> out;
    for (const registry::Entry& e : registry::all()) {
      if (e.benchmark.matrix) continue;
      const std::string_view name = e.name;
      std::map<std::string, double> options;
      if (make_options(name)->has("weight_decay")) options["weight_decay"] = 0.0;
      out.push_back({std::string(name), std::string(name), options, false});
      if (name == "sgd") out.push_back({"sgd+momentum", "sgd", {{"momentum", 0.9}}, false});
    }
    return out;
  }();
  return methods;
}

Method method_of(const MethodSpec& spec, double lr) {
  if (spec.second_order) {
    Method method = second_order_method(spec.optimizer);
    if (auto* lbfgs = std::get_if<LBFGSOptions>(&method)) {
      lbfgs->tolerance_grad = 0.0;  // the common target decides when to stop
      lbfgs->tolerance_change = 0.0;
    }
    return method;
  }
  auto options = spec.options;
  options["lr"] = lr;
  return FirstOrder{spec.optimizer, options, 0, 0};
}

// Where a run ended, when it reached the target.
enum class Where : unsigned char { Minimum, Unknown, LocalMinimum, SaddlePoint };

struct Outcome {
  double lr = 0.0;
  bool reached = false;      // ||g|| <= kTarget was seen
  bool unbounded = false;    // f fell below kUnboundedLevel on a problem unbounded below
  std::size_t evaluations = 0;  // of f and g: when the target was first seen (or f -> -inf), else in the whole run
  std::size_t iterations = 0;
  std::size_t hessians = 0, hessian_vector_products = 0;
  double value = std::numeric_limits<double>::quiet_NaN();  // f and ||g|| where the run ended
  double gradient_norm = std::numeric_limits<double>::quiet_NaN();
  double first_step = std::numeric_limits<double>::quiet_NaN();  // ||x_1 - x_0||
  std::vector<double> x;
  StopReason reason = StopReason::kMaxIterations;
  std::string error;         // an exception's message
  bool skipped = false;      // not run: a dense method above kMaxDenseDimension
  Where where = Where::Unknown;
  // Second-order runs from the customary start only: function_evaluations and x at iterations 0, 1, ...
  std::vector<std::size_t> evaluations_by_iteration;
  std::vector<std::vector<double>> iterates;
};

bool is_global(double value, double minimum) { return value - minimum <= 1e-6 * std::max(1.0, std::abs(minimum)); }

bool unbounded_below(const TestProblem& problem) {
  return problem.minimum == -std::numeric_limits<double>::infinity();
}

// A stationary point that is not the global minimum (f - f* > 1e-6 max(1, |f*|)): a local minimum where the
// Hessian is positive semidefinite (up to 1e-8 of its largest diagonal entry), else a saddle point. Unknown
// where the minimum is (logistic regression, convex: any stationary point is its minimizer).
Where classify(const TestProblem& problem, std::span<const double> x, double value) {
  if (std::isnan(problem.minimum)) return Where::Unknown;
  if (std::isfinite(problem.minimum) && is_global(value, problem.minimum)) return Where::Minimum;
  const std::size_t n = x.size();
  std::vector<double> h(n * n);
  try {
    problem.objective->hessian(x, h);
  } catch (const std::exception&) {
    return Where::Unknown;
  }
  double scale = 1.0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(h[i * n + i]));
  for (std::size_t i = 0; i < n; ++i) h[i * n + i] += 1e-8 * scale;
  return derivatives::positive_definite(h, n) ? Where::LocalMinimum : Where::SaddlePoint;
}

Outcome run_one(const TestProblem& problem, const std::vector<double>& start, const MethodSpec& spec, double lr,
                bool keep_history) {
  Outcome out;
  out.lr = lr;
  if (spec.dense() && problem.objective->dimension() > kMaxDenseDimension) {
    out.skipped = true;
    return out;
  }
  Stopping stopping;
  stopping.max_iterations = spec.first_order() ? kFirstOrderIterations : kOtherIterations;
  stopping.max_evaluations = kMaxEvaluations;
  stopping.gradient_tolerance = 0.0;  // the callback stops at the target
  const bool unbounded_problem = unbounded_below(problem);
  Observe observe;
  observe.callback = [&](const IterationInfo& info) {
    if (keep_history) {
      out.evaluations_by_iteration.push_back(info.function_evaluations);
      out.iterates.emplace_back(info.x.begin(), info.x.end());
    }
    if (info.iteration == 1) {
      double sum = 0.0;
      for (std::size_t i = 0; i < start.size(); ++i) sum += (info.x[i] - start[i]) * (info.x[i] - start[i]);
      out.first_step = std::sqrt(sum);
    }
    if (info.gradient_norm <= kTarget) {
      out.reached = true;
      out.evaluations = info.function_evaluations;
      out.iterations = info.iteration;
      out.value = info.value;
      out.gradient_norm = info.gradient_norm;
      out.x.assign(info.x.begin(), info.x.end());
      return false;
    }
    if (unbounded_problem && info.value < kUnboundedLevel) {
      out.unbounded = true;
      out.evaluations = info.function_evaluations;
      out.iterations = info.iteration;
      return false;
    }
    return true;
  };
  try {
    const MinimizeResult result = minimize(*problem.objective, start, method_of(spec, lr), stopping, observe);
    out.hessians = result.hessian_evaluations;
    out.hessian_vector_products = result.hessian_vector_products;
    out.reason = result.reason;
    if (!out.reached) {
      if (!out.unbounded) {
        out.evaluations = result.function_evaluations;
        out.iterations = result.iterations;
      }
      out.value = result.value;
      out.gradient_norm = result.gradient_norm;
      out.x = result.x;
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  if (out.reached) out.where = classify(problem, out.x, out.value);
  return out;
}

// Lower is better. Runs that reach the target rank by evaluations, the others by their final gradient norm
// (those that ended on a non-finite value or an error last). On a problem unbounded below, where ||g|| <= 1e-6
// only holds at the saddle point, leaving for f -> -inf ranks first (fewest evaluations), then the target, then
// the lowest final f.
std::tuple<int, double> score(const Outcome& o, bool unbounded_problem) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool broken = !o.error.empty() || o.reason == StopReason::kNonFinite || !std::isfinite(o.gradient_norm);
  if (unbounded_problem) {
    if (o.unbounded) return {0, static_cast<double>(o.evaluations)};
    if (o.reached) return {1, static_cast<double>(o.evaluations)};
    return {broken ? 3 : 2, std::isfinite(o.value) ? o.value : inf};  // how far down it got
  }
  if (o.reached) return {0, static_cast<double>(o.evaluations)};
  return {broken ? 2 : 1, std::isfinite(o.gradient_norm) ? o.gradient_norm : inf};
}

// Runs jobs 0 .. count-1 on the library's thread pool; the first exception is rethrown once all have run.
template <typename Job>
void parallel_for(std::size_t count, std::size_t threads, const Job& job) {
  std::exception_ptr failure;
  std::mutex failure_mutex;
  detail::ThreadPool pool(threads);
  pool.run(count, [&](std::size_t i) {
    try {
      job(i);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);
}

// ---- SciPy's results ----------------------------------------------------------------------------------------

struct ScipyRun {
  bool present = false;
  bool reached = false, unbounded = false;
  std::size_t evaluations = 0, iterations = 0, hessian_vector_products = 0, hessians = 0;
  bool skipped = false;  // not run (a dense method above kMaxDenseDimension)
  std::optional<std::size_t> accepted_evaluations;
  double value = std::numeric_limits<double>::quiet_NaN();
  double gradient_norm = std::numeric_limits<double>::quiet_NaN();
  double first_step = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x;
  std::string where, failure, message;
  std::vector<std::size_t> evaluations_by_iteration;  // calls of fun at iterations 0, 1, ...
};

const std::vector<std::string>& scipy_methods() {
  static const std::vector<std::string> methods{"BFGS", "L-BFGS-B", "Newton-CG"};  // table 1
  return methods;
}

// SciPy's results, read with the library's JSON parser (numbers are kept as text there).
using JsonValue = detail::json::Value;

const JsonValue& member(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.find(key);
  if (v == nullptr) throw std::runtime_error("SciPy results: missing key '" + std::string(key) + "'");
  return *v;
}

double as_number(const JsonValue* j) {
  double v = std::numeric_limits<double>::quiet_NaN();
  if (j != nullptr && j->is(JsonValue::Kind::Number) && !detail::json::to_double(j->text, v)) {
    throw std::runtime_error("SciPy results: bad number '" + j->text + "'");
  }
  return v;
}

std::size_t as_count(const JsonValue* j) {
  const double v = as_number(j);
  return std::isfinite(v) && v >= 0.0 ? static_cast<std::size_t>(v) : 0;
}

std::string as_string(const JsonValue* j) {
  return j != nullptr && j->is(JsonValue::Kind::String) ? j->text : std::string();
}

bool as_bool(const JsonValue* j) { return j != nullptr && j->is(JsonValue::Kind::True); }

ScipyRun scipy_run(const JsonValue& j) {
  ScipyRun run;
  run.present = true;
  run.reached = as_bool(&member(j, "reached"));
  run.unbounded = as_bool(j.find("unbounded"));
  run.evaluations = as_count(&member(j, "evaluations"));
  run.iterations = as_count(j.find("iterations"));
  run.hessian_vector_products = as_count(j.find("hessian_vector_products"));
  run.hessians = as_count(j.find("hessians"));
  run.skipped = as_bool(j.find("skipped"));
  if (const JsonValue* a = j.find("accepted_evaluations"); a != nullptr && a->is(JsonValue::Kind::Number)) {
    run.accepted_evaluations = as_count(a);
  }
  run.value = as_number(j.find("final_f"));
  run.gradient_norm = as_number(j.find("final_gradient_norm"));
  run.first_step = as_number(j.find("first_step"));
  if (const JsonValue* x = j.find("final_x"); x != nullptr) {
    for (const JsonValue& e : x->items) run.x.push_back(as_number(&e));
  }
  run.where = as_string(j.find("where"));
  run.failure = as_string(j.find("failure"));
  run.message = as_string(j.find("message"));
  if (const JsonValue* by = j.find("evaluations_by_iteration"); by != nullptr) {
    for (const JsonValue& e : by->items) run.evaluations_by_iteration.push_back(as_count(&e));
  }
  return run;
}

struct ScipyResults {
  std::string python, numpy, scipy;
  std::map<std::string, std::map<std::string, ScipyRun>> runs;      // by problem id, then method
  std::map<std::string, std::vector<ScipyRun>> perturbed_lbfgsb;   // by problem id
};

ScipyResults read_scipy(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  JsonValue root;
  try {
    root = detail::json::parse(text);
  } catch (const descent::Error& e) {
    throw std::runtime_error(file.string() + ": " + e.what());
  }
  ScipyResults out;
  const JsonValue& versions = member(root, "versions");
  out.python = as_string(&member(versions, "python"));
  out.numpy = as_string(&member(versions, "numpy"));
  out.scipy = as_string(&member(versions, "scipy"));
  for (const JsonValue& p : member(root, "problems").items) {
    const std::string id = as_string(&member(p, "id"));
    for (const auto& [method, run] : member(p, "runs").members) out.runs[id][method] = scipy_run(run);
    if (const JsonValue* perturbed = p.find("perturbed"); perturbed != nullptr) {
      if (const JsonValue* runs = perturbed->find("L-BFGS-B"); runs != nullptr) {
        for (const JsonValue& run : runs->items) out.perturbed_lbfgsb[id].push_back(scipy_run(run));
      }
    }
  }
  return out;
}

// ---- formatting ---------------------------------------------------------------------------------------------

// %g with `digits` significant digits and a short exponent: 3.1e-5, not 3.1e-05.
std::string number(double v, int digits = 4) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "∞" : "−∞";
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  std::string s = buffer;
  const auto e = s.find('e');
  if (e != std::string::npos) {
    std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
    const bool negative = exponent[0] == '-';
    if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
    while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
    s = mantissa + "e" + (negative ? "-" : "") + exponent;
  }
  return s;
}

std::string lr_text(double lr) { return number(lr, 2); }

std::string where_suffix(Where where) {
  switch (where) {
    case Where::LocalMinimum: return " (local)";
    case Where::SaddlePoint: return " (saddle pt)";
    default: return "";
  }
}

std::string where_suffix(const std::string& where) {
  if (where == "local minimum") return " (local)";
  if (where == "saddle point") return " (saddle pt)";
  return "";
}

// Why a descent run did not reach the target, in a few words.
std::string failure_text(const Outcome& o, std::size_t max_iterations) {
  if (!o.error.empty()) return "error: " + o.error;
  if (o.unbounded) return "f → −∞";
  switch (o.reason) {
    case StopReason::kMaxIterations: return "not reached in " + std::to_string(max_iterations) + " it.";
    case StopReason::kMaxEvaluations: return "not reached in " + std::to_string(kMaxEvaluations) + " ev.";
    case StopReason::kNonFinite: return "non-finite";
    case StopReason::kLineSearchFailed: return "line search failed";
    case StopReason::kStepTolerance: return "zero step";
    default: return std::string(to_string(o.reason));
  }
}

std::string cell(const Outcome& o, std::size_t max_iterations) {
  if (o.skipped) return "not run (n > " + std::to_string(kMaxDenseDimension) + ")";
  if (o.reached) return std::to_string(o.evaluations) + where_suffix(o.where);
  if (o.unbounded) return "✗ f → −∞ (" + std::to_string(o.evaluations) + ")";
  return "✗ " + failure_text(o, max_iterations) + ", ‖g‖ " + number(o.gradient_norm, 2);
}

std::string cell(const ScipyRun& r) {
  if (!r.present) return "–";
  if (r.skipped) return "not run (n > " + std::to_string(kMaxDenseDimension) + ")";
  if (r.reached) return std::to_string(r.evaluations) + where_suffix(r.where);
  if (r.unbounded) return "✗ f → −∞ (" + std::to_string(r.evaluations) + ")";
  return "✗ " + r.failure + ", ‖g‖ " + number(r.gradient_norm, 2);
}

std::string read_key(const std::filesystem::path& file, std::string_view key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::string value = line.substr(key.size());
      const auto begin = value.find_first_not_of(" \t:=");
      value = begin == std::string::npos ? "" : value.substr(begin);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return value;
    }
  }
  return "unknown";
}

std::string machine_text() {
  return read_key("/proc/cpuinfo", "model name") + " (" + std::to_string(std::thread::hardware_concurrency()) +
         " hardware threads), " + read_key("/etc/os-release", "PRETTY_NAME");
}

std::string compiler_text() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("g++ ") + __VERSION__;
#else
  return "an unknown compiler";
#endif
}

std::string build_text() {
#ifdef NDEBUG
  return ", optimized build (NDEBUG)";
#else
  return ", debug build";
#endif
}

std::string point_text(std::span<const double> v) {
  std::string out = "(";
  const std::size_t shown = std::min<std::size_t>(v.size(), 4);
  for (std::size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + number(v[i], 4);
  return out + (v.size() > shown ? ", ...)" : ")");
}

double distance(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size() || a.empty()) return std::numeric_limits<double>::infinity();
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(sum);
}

double norm(std::span<const double> a) {
  double sum = 0.0;
  for (const double v : a) sum += v * v;
  return std::sqrt(sum);
}

struct Spread {
  std::size_t reached = 0, runs = 0;
  double median = std::numeric_limits<double>::quiet_NaN();
  std::size_t low = 0, high = 0;
};

Spread spread(std::vector<std::size_t> counts, std::size_t runs) {
  Spread s;
  s.runs = runs;
  s.reached = counts.size();
  if (counts.empty()) return s;
  std::sort(counts.begin(), counts.end());
  const std::size_t m = counts.size();
  s.median = m % 2 ? static_cast<double>(counts[m / 2])
                   : 0.5 * static_cast<double>(counts[m / 2 - 1] + counts[m / 2]);
  s.low = counts.front();
  s.high = counts.back();
  return s;
}

std::string spread_text(const Spread& s) {
  if (s.runs == 0) return "–";
  if (s.reached == 0) return "none reached";
  std::string out = number(s.median, 4) + " (" + std::to_string(s.low) + "–" + std::to_string(s.high) + ")";
  if (s.reached < s.runs) out += ", " + std::to_string(s.reached) + " of " + std::to_string(s.runs) + " reached";
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator = ", ",
                 const std::string& last_separator = " and ") {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? last_separator : separator;
    out += parts[i];
  }
  return out;
}

struct ProblemResults {
  const SuiteEntry* entry;
  std::map<std::string, Outcome> second_order;  // by method name
  std::map<std::string, Outcome> first_order;   // the best learning rate's run, by method name
  std::vector<Outcome> perturbed_lbfgs;         // L-BFGS from the perturbed starts
};

// ---- the document -----------------------------------------------------------------------------------------

void write_header(const ConvergenceConfig& config, const ScipyResults& scipy, std::ostream& md) {
  md << "<!-- Generated by " << config.command << "; do not edit. -->\n"
     << "# Convergence on the test problems: descent against SciPy\n\n"
     << "*Generated by `" << config.command << "`; do not edit. Run it again to regenerate this file.*\n\n"
     << "For every method of descent (Newton, Newton-CG, L-BFGS, trust-region Newton with three subproblem "
        "solvers, and each first-order optimizer at its best learning rate) and SciPy's `minimize` (BFGS, "
        "L-BFGS-B, Newton-CG, trust-ncg, trust-krylov, trust-exact), on every test problem from its "
        "customary start: the evaluations needed to reach the target, or why it was not reached.\n\n"
     << "- **Target**, the same for everyone: ‖∇f(x)‖₂ ≤ " << number(kTarget) << ", counted when it is first "
        "seen. descent's runs see it through the `Observe` callback of `descent::minimize()`, that is at accepted "
        "iterates; SciPy's through a wrapper around its objective, at any evaluation.\n"
     << "- **Counts** are evaluations of (f, ∇f) together (descent's `function_evaluations`; calls of SciPy's "
        "`fun` with `jac=True`), line-search trials and rejected trust-region steps included, the start included. "
        "Hessians (Newton, trust-exact) and Hessian-vector products (Newton-CG, trust-ncg, trust-krylov) are "
        "counted in their own columns.\n"
     << "- **Limits**: " << kOtherIterations << " iterations for the second-order methods and SciPy, "
     << kFirstOrderIterations << " for first-order optimizers, " << kMaxEvaluations << " evaluations for all.\n"
     << "- **Marks**: `(local)` where the point reached is a local minimum that is not the global one "
        "(f − f* > 1e-6 max(1, |f*|) with a positive semidefinite Hessian), `(saddle pt)` where it is a saddle "
        "point; ✗ a failure and its reason, with ‖∇f‖ where the run ended; `f → −∞` where f fell below "
     << number(kUnboundedLevel) << " on the saddle, which is unbounded below (the count is the evaluations "
        "until then).\n"
     << "- **Settings.** descent: every method through `descent::minimize()` with the defaults of "
        "`second_order_method(name)`: `NewtonOptions{}`, `NewtonCGOptions{}`, `TrustRegionOptions{}` with its "
        "three solvers, `LBFGSOptions` with `line_search = StrongWolfe`, `history_size = 10` (SciPy's default "
        "`maxcor`), and here `tolerance_grad = tolerance_change = 0`. SciPy: its defaults, except that its "
        "own stopping tests are off (`gtol = 0` for BFGS and the trust-region methods, `ftol = gtol = 0` for "
        "L-BFGS-B, `xtol = 1e-300` for Newton-CG, whose loop does not start with 0) so that only the common "
        "target and the limits end a run; Newton-CG, trust-ncg and trust-krylov get the exact Hessian-vector "
        "product (`hessp`), trust-exact the exact Hessian (`hess`). The dense methods are not run above n = "
     << kMaxDenseDimension << ": Newton and trust-exact on both sides, which factor the n × n Hessian, and "
        "SciPy's BFGS, which updates its n × n inverse Hessian with two n × n matrix products per iteration.\n"
     << "- **Cross-check.** `tools/convergence/scipy_convergence.py` implements every problem again in NumPy "
        "from its "
        "formulas and first checks f, ∇f (to 1e-12 relative) and the Hessian (to 1e-10) at every start against "
        "`descent-convergence problems`; logistic regression takes its generated data from that export.\n\n"
     << "Machine: " << machine_text() << ". Compiler: " << compiler_text() << build_text() << ". Python "
     << scipy.python << ", NumPy " << scipy.numpy << ", SciPy " << scipy.scipy << ".\n\n";
}

void write_problems(const std::vector<ProblemResults>& results, std::ostream& md) {
  md << "## The problems\n\n| problem | n | start | f(start) | f* | description |\n|---|---|---|---|---|---|\n";
  for (const ProblemResults& r : results) {
    const TestProblem& p = r.entry->problem;
    const double f0 = p.objective->evaluate(p.start, {});
    md << "| " << r.entry->id << " | " << p.objective->dimension() << " | " << point_text(p.start) << " | "
       << number(f0, 6) << " | "
       << (std::isnan(p.minimum) ? std::string("not known (convex)") : number(p.minimum, 10)) << " | "
       << p.description << " |\n";
  }
  md << "\n";
}

// One line per distinct end point of the six methods of table 1 where not all of them reach the global minimum.
void write_table1_notes(const std::vector<ProblemResults>& results, const ScipyResults& scipy, std::ostream& md) {
  std::vector<std::string> notes;
  for (const ProblemResults& r : results) {
    const TestProblem& p = r.entry->problem;
    // (label, description of how the run ended)
    std::vector<std::pair<std::string, std::string>> ends;
    bool all_global = true;
    for (const MethodSpec& m : second_order_methods()) {
      const Outcome& o = r.second_order.at(m.name);
      const std::string label = "descent " + m.name;
      if (o.skipped) continue;
      if (o.reached && (o.where == Where::Minimum || o.where == Where::Unknown)) {
        ends.push_back({label, "minimum"});
        continue;
      }
      all_global = false;
      if (o.reached) {
        ends.push_back({label, std::string(o.where == Where::LocalMinimum ? "a local minimum" : "a saddle point") +
                                   ", f = " + number(o.value, 8) + " at " + point_text(o.x)});
      } else if (o.unbounded) {
        ends.push_back({label, "f → −∞ after " + std::to_string(o.evaluations) + " evaluations (" +
                                   std::to_string(o.iterations) + " iterations)"});
      } else {
        ends.push_back({label, failure_text(o, kOtherIterations) + " (f = " + number(o.value, 6) + ", ‖∇f‖ = " +
                                   number(o.gradient_norm, 3) + ")"});
      }
    }
    const auto it = scipy.runs.find(r.entry->id);
    for (const std::string& m : scipy_methods()) {
      const std::string label = "SciPy " + m;
      if (it == scipy.runs.end() || !it->second.contains(m)) continue;
      const ScipyRun& s = it->second.at(m);
      if (s.skipped) continue;
      if (s.reached && s.where.empty()) {
        ends.push_back({label, "minimum"});
        continue;
      }
      all_global = false;
      if (s.reached) {
        ends.push_back({label, "a " + s.where + ", f = " + number(s.value, 8) + " at " + point_text(s.x)});
      } else if (s.unbounded) {
        ends.push_back({label, "f → −∞ after " + std::to_string(s.evaluations) + " evaluations (" +
                                   std::to_string(s.iterations) + " iterations)"});
      } else {
        ends.push_back({label, s.failure + " (SciPy: \"" + s.message + "\"; f = " + number(s.value, 6) +
                                   ", ‖∇f‖ = " + number(s.gradient_norm, 3) + ")"});
      }
    }
    if (all_global) continue;
    // Group the methods by how they ended.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const auto& [label, end] : ends) {
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& e) { return e.first == end; });
      if (g == groups.end()) {
        groups.push_back({end, {label}});
      } else {
        g->second.push_back(label);
      }
    }
    std::string line = "- **" + r.entry->id + "**: ";
    std::vector<std::string> parts;
    for (const auto& [end, labels] : groups) {
      parts.push_back(join(labels) + (end == "minimum" ? " reach the global minimum" : ": " + end));
    }
    line += join(parts, "; ", "; ") + ".";
    (void)p;
    notes.push_back(line);
  }
  if (notes.empty()) return;
  md << "Where not every method reaches the global minimum:\n\n";
  for (const std::string& n : notes) md << n << "\n";
  md << "\n";
}

void write_table1(const std::vector<ProblemResults>& results, const ScipyResults& scipy, std::ostream& md) {
  md << "## Table 1: Newton, Newton-CG and L-BFGS against SciPy\n\n"
     << "Evaluations of (f, ∇f) to ‖∇f‖ ≤ " << number(kTarget) << "; the second-order work in the columns "
        "after: dense Hessians (Newton) and Hessian-vector products (Newton-CG), counted up to the same moment.\n\n"
     << "| problem | n | Newton | Hessians | Newton-CG | H·v | L-BFGS | SciPy BFGS | SciPy L-BFGS-B | "
        "SciPy Newton-CG | H·v |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ProblemResults& r : results) {
    const Outcome& newton = r.second_order.at("Newton");
    const Outcome& newton_cg = r.second_order.at("Newton-CG");
    const Outcome& lbfgs = r.second_order.at("L-BFGS");
    md << "| " << r.entry->id << " | " << r.entry->problem.objective->dimension() << " | "
       << cell(newton, kOtherIterations) << " | " << (newton.skipped ? std::string("–") : std::to_string(newton.hessians))
       << " | " << cell(newton_cg, kOtherIterations)
       << " | " << newton_cg.hessian_vector_products << " | " << cell(lbfgs, kOtherIterations) << " |";
    const auto it = scipy.runs.find(r.entry->id);
    for (const std::string& m : scipy_methods()) {
      const ScipyRun none;
      const ScipyRun& s = it != scipy.runs.end() && it->second.contains(m) ? it->second.at(m) : none;
      md << " " << cell(s) << " |";
      if (m == "Newton-CG") md << " " << (s.present ? std::to_string(s.hessian_vector_products) : "–") << " |";
    }
    md << "\n";
  }
  md << "\n";
  write_table1_notes(results, scipy, md);

  // Whether counting SciPy at any evaluation (not at accepted iterates, as descent is counted) made a difference.
  std::vector<std::string> differ;
  for (const auto& [id, runs] : scipy.runs) {
    for (const auto& [method, run] : runs) {
      if (run.reached && run.accepted_evaluations && *run.accepted_evaluations != run.evaluations) {
        differ.push_back(id + " (" + method + ": " + std::to_string(run.evaluations) + " at a line-search trial, " +
                         std::to_string(*run.accepted_evaluations) + " at the accepted iterate)");
      }
    }
  }
  if (differ.empty()) {
    md << "In every SciPy run that reached the target, the first evaluation to meet it was an accepted iterate, "
          "so counting SciPy at evaluations and descent at iterates measures the same thing here.\n\n";
  } else {
    md << "SciPy met the target first at a line-search trial that was not the accepted iterate in: " << join(differ)
       << "; the table shows the earlier count.\n\n";
  }
}

// The (s, y) pairs descent's L-BFGS formed on its way (from the recorded iterates, with the gradients evaluated
// again outside the run): PyTorch's rule keeps a pair when y.s > 1e-10, L-BFGS-B's when y.s > eps (-g.s).
struct PairStats {
  std::size_t pairs = 0, dropped = 0, kept_by_lbfgsb = 0;
  std::size_t first_drop = 0;          // the iteration whose step formed the first dropped pair (0: none)
  double gradient_at_first_drop = std::numeric_limits<double>::quiet_NaN();
  bool tail = false;                   // every pair from the first dropped one to the end was dropped
};

PairStats pair_stats(const TestProblem& problem, const Outcome& o) {
  PairStats stats;
  const auto& xs = o.iterates;
  if (!o.reached || xs.size() < 3) return stats;
  const std::size_t n = xs.front().size();
  std::vector<std::vector<double>> gs(xs.size(), std::vector<double>(n));
  for (std::size_t k = 0; k < xs.size(); ++k) (void)problem.objective->evaluate(xs[k], gs[k]);
  // Pair k (k = 1 .. K-1) comes from the step x_(k-1) -> x_k and enters the direction of iteration k + 1.
  bool all_dropped_since_first = true;
  for (std::size_t k = 1; k + 1 < xs.size(); ++k) {
    double ys = 0.0, gs_old = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double s = xs[k][i] - xs[k - 1][i], y = gs[k][i] - gs[k - 1][i];
      ys += y * s;
      gs_old += gs[k - 1][i] * s;
    }
    ++stats.pairs;
    if (ys > 1e-10) {
      if (stats.dropped > 0) all_dropped_since_first = false;
      continue;
    }
    if (stats.dropped++ == 0) {
      stats.first_drop = k;
      stats.gradient_at_first_drop = norm(gs[k]);
    }
    if (ys > std::numeric_limits<double>::epsilon() * -gs_old) ++stats.kept_by_lbfgsb;
  }
  stats.tail = stats.dropped > 0 && all_dropped_since_first;
  return stats;
}

// The iteration whose line search took the most evaluations: (iteration, evaluations).
std::pair<std::size_t, std::size_t> costliest(const std::vector<std::size_t>& by_iteration) {
  std::pair<std::size_t, std::size_t> best{0, 0};
  for (std::size_t k = 1; k < by_iteration.size(); ++k) {
    const std::size_t cost = by_iteration[k] - by_iteration[k - 1];
    if (cost > best.second) best = {k, cost};
  }
  return best;
}

double per_iteration_rate(std::size_t evaluations, std::size_t iterations) {
  return iterations == 0 ? std::numeric_limits<double>::quiet_NaN()
                         : static_cast<double>(evaluations - 1) / static_cast<double>(iterations);
}

std::string pairs_text(const PairStats& p) {
  if (p.pairs == 0) return "–";
  std::string out = std::to_string(p.dropped) + " of " + std::to_string(p.pairs);
  if (p.tail) out += p.dropped == 1 ? " (the last)" : " (the last " + std::to_string(p.dropped) + ")";
  return out;
}

void write_lbfgs_analysis(const std::vector<ProblemResults>& results, const ScipyResults& scipy, std::ostream& md) {
  md << "## L-BFGS against SciPy's L-BFGS-B\n\n";
  struct Row {
    const ProblemResults* r;
    const Outcome* d;
    const ScipyRun* s;
    Spread dp, sp;
    PairStats pairs;
  };
  std::vector<Row> rows;
  for (const ProblemResults& r : results) {
    const auto it = scipy.runs.find(r.entry->id);
    if (it == scipy.runs.end() || !it->second.contains("L-BFGS-B")) continue;
    const Outcome& d = r.second_order.at("L-BFGS");
    Row row{&r, &d, &it->second.at("L-BFGS-B"), {}, {}, pair_stats(r.entry->problem, d)};
    std::vector<std::size_t> counts;
    for (const Outcome& o : r.perturbed_lbfgs) {
      if (o.reached) counts.push_back(o.evaluations);
    }
    row.dp = spread(counts, r.perturbed_lbfgs.size());
    counts.clear();
    const auto pit = scipy.perturbed_lbfgsb.find(r.entry->id);
    const std::size_t scipy_runs = pit == scipy.perturbed_lbfgsb.end() ? 0 : pit->second.size();
    if (pit != scipy.perturbed_lbfgsb.end()) {
      for (const ScipyRun& s : pit->second) {
        if (s.reached) counts.push_back(s.evaluations);
      }
    }
    row.sp = spread(counts, scipy_runs);
    rows.push_back(row);
  }

  std::vector<std::string> fewer, equal, more, escaped, only_scipy, only_descent, neither;
  for (const Row& row : rows) {
    const std::string id = row.r->entry->id;
    const std::string counts =
        " (" + std::to_string(row.d->evaluations) + " against " + std::to_string(row.s->evaluations) + ")";
    if (row.d->reached && row.s->reached) {
      if (row.d->evaluations < row.s->evaluations) {
        fewer.push_back(id + counts);
      } else if (row.d->evaluations == row.s->evaluations) {
        equal.push_back(id);
      } else {
        more.push_back(id + counts);
      }
    } else if (row.d->unbounded && row.s->unbounded) {
      escaped.push_back(id + ", descent after " + std::to_string(row.d->evaluations) + " evaluations, L-BFGS-B after " +
                        std::to_string(row.s->evaluations));
    } else if (row.s->reached) {
      only_scipy.push_back(id);
    } else if (row.d->reached) {
      only_descent.push_back(id);
    } else {
      neither.push_back(id);
    }
  }
  const std::size_t both = fewer.size() + equal.size() + more.size();
  md << "**Result.** Of the " << both << " problems where both reach the target, descent's L-BFGS needs no more "
     << "evaluations of (f, ∇f) than SciPy's L-BFGS-B on **" << fewer.size() + equal.size() << "**";
  std::vector<std::string> detail;
  if (!fewer.empty()) detail.push_back("fewer on " + join(fewer));
  if (!equal.empty()) detail.push_back("as many on " + join(equal));
  if (!detail.empty()) md << " (" << join(detail, "; ", "; ") << ")";
  md << ", and more on **" << more.size() << "**" << (more.empty() ? "" : ": " + join(more)) << ".";
  if (!escaped.empty()) {
    md << " Both leave for f → −∞ on " << join(escaped, "; ", "; ")
       << " (unbounded below, the problem has no point that meets the target other than its saddle point).";
  }
  if (!only_scipy.empty()) md << " Only SciPy reaches the target on " << join(only_scipy) << ".";
  if (!only_descent.empty()) md << " Only descent reaches it on " << join(only_descent) << ".";
  if (!neither.empty()) md << " Neither reaches it on " << join(neither) << ".";
  md << "\n\n";

  md << "Both also ran from " << kPerturbedStarts << " perturbed starts, x_i + " << number(kPerturbation)
     << " (1 + |x_i|) cos(k + 2.5 i) for k = 1, ..., " << kPerturbedStarts << " (`perturbed_starts` in "
     << "`descent-convergence problems`), so that a difference that belongs to one trajectory can be told from one that "
        "holds up: the last two columns give the median evaluations over those starts, with the range. The column "
        "*pairs dropped* counts the pairs (s, y) that descent's L-BFGS formed and did not keep because y·s ≤ 1e-10 "
        "(see below).\n\n"
     << "| problem | descent | iterations | ev. per iteration | first step | pairs dropped | L-BFGS-B | iterations "
        "| ev. per iteration | first step | same end point | perturbed: descent | perturbed: L-BFGS-B |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  auto same_end = [](const Outcome& d, const ScipyRun& s) {
    if (!d.reached || !s.reached) return std::string("–");
    return distance(d.x, s.x) <= 1e-4 * (1.0 + norm(s.x)) ? std::string("yes") : std::string("**no**");
  };
  for (const Row& row : rows) {
    const Outcome& d = *row.d;
    const ScipyRun& s = *row.s;
    md << "| " << row.r->entry->id << " | " << cell(d, kOtherIterations) << " | " << d.iterations << " | "
       << number(per_iteration_rate(d.evaluations, d.iterations), 3) << " | " << number(d.first_step, 3) << " | "
       << pairs_text(row.pairs) << " | " << cell(s) << " | " << s.iterations << " | "
       << number(per_iteration_rate(s.evaluations, s.iterations), 3) << " | " << number(s.first_step, 3) << " | "
       << same_end(d, s) << " | " << spread_text(row.dp) << " | " << spread_text(row.sp) << " |\n";
  }
  md << "\n(Evaluations per iteration leave out the one at the start. The first step is ‖x₁ − x₀‖.)\n\n";

  std::vector<std::string> robust_more;
  std::size_t robust_compared = 0;
  for (const Row& row : rows) {
    if (row.dp.reached == 0 || row.sp.reached == 0) continue;
    ++robust_compared;
    if (row.dp.median > row.sp.median) robust_more.push_back(row.r->entry->id);
  }
  md << "From the perturbed starts, descent's median is no larger than L-BFGS-B's on "
     << robust_compared - robust_more.size() << " of " << robust_compared << " problems"
     << (robust_more.empty() ? "" : "; larger on " + join(robust_more)) << ".\n\n";

  if (!more.empty()) {
    md << "### Where descent needs more, and why\n\n";
    for (const Row& row : rows) {
      const Outcome& d = *row.d;
      const ScipyRun& s = *row.s;
      if (!(d.reached && s.reached && d.evaluations > s.evaluations)) continue;
      const double d_rate = per_iteration_rate(d.evaluations, d.iterations);
      const double s_rate = per_iteration_rate(s.evaluations, s.iterations);
      md << "- **" << row.r->entry->id << "** (" << d.evaluations << " against " << s.evaluations << "). ";
      if (distance(d.x, s.x) <= 1e-4 * (1.0 + norm(s.x))) {
        md << "Both end at the same point. ";
      } else {
        md << "The runs end at different points, descent at f = " << number(d.value, 8) << ", " << point_text(d.x)
           << ", L-BFGS-B at f = " << number(s.value, 8) << ", " << point_text(s.x)
           << ": the counts measure two different descents. ";
      }
      md << "The first steps differ (" << number(d.first_step, 3) << " against " << number(s.first_step, 3)
         << " long), and the iterates part from there. descent then takes " << d.iterations << " iterations at "
         << number(d_rate, 3) << " evaluations each, L-BFGS-B " << s.iterations << " at " << number(s_rate, 3);
      const auto [d_worst_iteration, d_worst] = costliest(d.evaluations_by_iteration);
      const auto [s_worst_iteration, s_worst] = costliest(s.evaluations_by_iteration);
      if (d.iterations > s.iterations && d_rate <= s_rate * 1.05) {
        md << ": the extra evaluations come from more iterations, not from costlier line searches.";
      } else if (d.iterations > s.iterations) {
        md << ": more iterations, and costlier line searches.";
      } else {
        md << ": the extra evaluations come from the line searches.";
      }
      if (d_worst > 2 || s_worst > 2) {
        md << " The costliest line search takes " << d_worst << " evaluations in descent (iteration "
           << d_worst_iteration << "), " << s_worst << " in L-BFGS-B (iteration " << s_worst_iteration << ").";
      }
      if (row.pairs.dropped == 1) {
        md << " descent dropped one pair (y·s ≤ 1e-10, formed at ‖∇f‖ = "
           << number(row.pairs.gradient_at_first_drop, 2) << ", for iteration " << row.pairs.first_drop + 1 << ")"
           << (row.pairs.kept_by_lbfgsb == 1 ? ", which L-BFGS-B's relative test would have kept." : ".");
      } else if (row.pairs.dropped > 1) {
        md << " descent dropped " << row.pairs.dropped << " of its " << row.pairs.pairs << " pairs (y·s ≤ 1e-10)"
           << (row.pairs.tail ? ", every one from iteration " + std::to_string(row.pairs.first_drop + 1) +
                                    " to the end, once ‖∇f‖ had fallen to " +
                                    number(row.pairs.gradient_at_first_drop, 2) +
                                    ": its last iterations ran on a frozen memory"
                              : "")
           << "; L-BFGS-B's relative test would have kept " << row.pairs.kept_by_lbfgsb << " of them.";
      }
      if (row.dp.reached > 0 && row.sp.reached > 0) {
        md << " From the perturbed starts the medians are " << number(row.dp.median, 4) << " for descent and "
           << number(row.sp.median, 4) << " for L-BFGS-B"
           << (row.dp.median <= row.sp.median
                   ? ": there descent needs no more, so the difference belongs to this one trajectory."
                   : ": the difference holds up.");
      }
      md << "\n";
    }
    md << "\n";
  }

  md << "### How the two implementations differ\n\n"
     << "Both keep 10 pairs (s, y), scale the initial matrix by y·s / y·y of the newest pair, and try the "
        "step t = 1 first on every iteration after the first; L-BFGS-B's compact representation (Byrd, Nocedal & "
        "Schnabel 1994) and descent's two-loop recursion give the same direction from the same pairs. The "
        "differences, any of which sends the two runs along different iterates:\n\n"
     << "- **The first step.** descent follows PyTorch: t = min(1, 1/‖∇f‖₁) along −∇f, a first trial of length "
        "‖∇f‖₂ / ‖∇f‖₁ ≤ 1 (when ‖∇f‖₁ ≥ 1). L-BFGS-B's first trial is t = 1/‖∇f‖₂, of length exactly 1. "
        "Where that first trial is accepted, the column *first step* shows the two lengths; from then on the "
        "histories differ.\n"
     << "- **The line search.** descent: PyTorch's strong-Wolfe search (Nocedal & Wright, Algorithms 3.5 and "
        "3.6) with c₁ = 1e-4, c₂ = 0.9, cubic interpolation, extrapolation by at most 10× per trial and at most "
        "25 evaluations. L-BFGS-B: Moré & Thuente's `dcsrch` with ftol = 1e-3 (c₁, a stricter sufficient "
        "decrease), gtol = 0.9 (the same c₂), xtol = 0.1 and at most 20 evaluations (SciPy's `maxls`). Both accept "
        "the first trial when it satisfies the strong Wolfe conditions, which is why most iterations of both cost "
        "one evaluation; they part when the first trial fails, where each picks its next trials by its own rules "
        "and may stop at a different point of the line.\n"
     << "- **Which pairs are kept.** descent, like PyTorch, keeps a pair when y·s > 1e-10, an absolute threshold; "
        "L-BFGS-B when y·s > ε (−∇f·s), ε the machine epsilon, a test relative to the step. Near a minimizer "
        "both s and y shrink, y·s falls under 1e-10 while the pair is still good, and descent stops updating its "
        "memory: the iterations that follow use stale curvature and converge more slowly (the column *pairs "
        "dropped*). The threshold does not scale with f, so the smaller f's scale, the earlier this happens.\n\n";
}

// descent's Newton-CG against SciPy's: the counts and where the evaluations go.
void write_newton_cg_analysis(const std::vector<ProblemResults>& results, const ScipyResults& scipy,
                              std::ostream& md) {
  std::vector<std::string> no_more, more, escaped;
  for (const ProblemResults& r : results) {
    const auto it = scipy.runs.find(r.entry->id);
    if (it == scipy.runs.end() || !it->second.contains("Newton-CG")) continue;
    const Outcome& d = r.second_order.at("Newton-CG");
    const ScipyRun& s = it->second.at("Newton-CG");
    if (d.reached && s.reached) {
      if (d.evaluations <= s.evaluations) {
        no_more.push_back(r.entry->id);
        continue;
      }
      std::size_t backtracked = 0;
      for (std::size_t k = 1; k < d.evaluations_by_iteration.size(); ++k) {
        if (d.evaluations_by_iteration[k] - d.evaluations_by_iteration[k - 1] >= 3) ++backtracked;
      }
      std::size_t s_backtracked = 0;
      for (std::size_t k = 1; k < s.evaluations_by_iteration.size(); ++k) {
        if (s.evaluations_by_iteration[k] - s.evaluations_by_iteration[k - 1] >= 3) ++s_backtracked;
      }
      more.push_back("**" + r.entry->id + "** (" + std::to_string(d.evaluations) + " against " +
                     std::to_string(s.evaluations) + "; " + std::to_string(d.iterations) + " iterations against " +
                     std::to_string(s.iterations) + ", of which " + std::to_string(backtracked) + " against " +
                     std::to_string(s_backtracked) + " needed 3 or more evaluations)");
    } else if (d.unbounded && s.unbounded) {
      escaped.push_back(r.entry->id + " (descent: " + std::to_string(d.evaluations) + " evaluations in " +
                        std::to_string(d.iterations) + " iterations; SciPy: " + std::to_string(s.evaluations) + " in " +
                        std::to_string(s.iterations) + ")");
    }
  }
  md << "## Newton-CG against SciPy's Newton-CG\n\n"
     << "descent's Newton-CG needs no more evaluations of (f, ∇f) than SciPy's on " << no_more.size() << " of "
     << no_more.size() + more.size() << " problems that both solve";
  if (!more.empty()) md << "; more on " << join(more, "; ", "; ");
  md << ".";
  if (!escaped.empty()) md << " To f → −∞: " << join(escaped, "; ", "; ") << ".";
  md << " Both solve H p = −∇f by conjugate gradients with the same inexact-Newton forcing term min(0.5, √‖∇f‖) "
        "(descent in the 2-norm, SciPy in the 1-norm) and fall back to a curvature-scaled steepest-descent step "
        "at negative curvature; the difference is the step along p. descent backtracks from α = 1, halving until "
        "the Armijo condition holds, and never tries α > 1. SciPy runs a Wolfe line search (MINPACK's `dcsrch`, "
        "c₁ = 1e-4, c₂ = 0.9) whose first trial after the first iteration is min(1, 1.01 · 2 (f_k − f_(k−1)) / "
        "∇f_k·p), the step the last decrease predicts, and which may extrapolate up to α = 50 (falling back to "
        "a zoom search, `line_search_wolfe2`, where `dcsrch` fails). So where the "
        "truncated-Newton step is far too long (early on a curved valley), descent pays one evaluation per halving, "
        "and where it is far too short (along negative curvature, as on the saddle) descent crawls at α = 1 where "
        "SciPy extrapolates.\n\n";
}

// Trust-region Newton against SciPy's, method by method, and the targets of issue 17: no more evaluations
// than SciPy's trust-ncg (descent's trust-ncg) and trust-exact (descent's trust-exact) on any problem.
void write_trust_region(const std::vector<ProblemResults>& results, const ScipyResults& scipy, std::ostream& md) {
  struct Pair {
    const char* ours;
    const char* theirs;
    bool dense;
  };
  const Pair pairs[] = {{"trust-ncg", "trust-ncg", false}, {"trust-krylov", "trust-krylov", false},
                        {"trust-exact", "trust-exact", true}};
  md << "## Table 3: trust-region Newton against SciPy\n\n"
     << "Evaluations of (f, ∇f) to ‖∇f‖ ≤ " << number(kTarget) << ", rejected steps included; then the "
        "Hessian-vector products (trust-ncg, trust-krylov) or dense Hessians (trust-exact) up to that moment. "
        "descent's `TrustRegionOptions{}` has SciPy's defaults and radius update (initial radius 1, largest "
        "radius 1000, accept at ratio > 0.15, radius/4 below 1/4, twice the radius above 3/4 on the boundary); "
        "its ratio carries Conn, Gould & Toint's guard against rounding. The subproblems are solved by "
        "descent's own code (docs/minimize.md): Steihaug's CG with SciPy's forcing term; Moré–Sorensen with "
        "SciPy's tolerances (0.1, 0.2) but its own safeguards; GLTR with a boundary tolerance of "
        "min(0.05, 0.1‖∇f‖)·‖∇f‖ where SciPy calls TRLIB.\n\n"
     << "| problem | n |";
  for (const Pair& p : pairs) md << " " << p.ours << " | " << (p.dense ? "H" : "H·v") << " | SciPy " << p.theirs
                                 << " | " << (p.dense ? "H" : "H·v") << " |";
  md << "\n|---|---|";
  for (std::size_t i = 0; i < std::size(pairs); ++i) md << "---|---|---|---|";
  md << "\n";
  struct Tally {
    std::vector<std::string> no_more, more, other;
  };
  std::map<std::string, Tally> tallies;
  for (const ProblemResults& r : results) {
    md << "| " << r.entry->id << " | " << r.entry->problem.objective->dimension() << " |";
    const auto it = scipy.runs.find(r.entry->id);
    for (const Pair& p : pairs) {
      const Outcome& d = r.second_order.at(second_order(p.ours).name);
      const ScipyRun none;
      const ScipyRun& s = it != scipy.runs.end() && it->second.contains(p.theirs) ? it->second.at(p.theirs) : none;
      const std::size_t our_work = p.dense ? d.hessians : d.hessian_vector_products;
      const std::size_t their_work = p.dense ? s.hessians : s.hessian_vector_products;
      md << " " << cell(d, kOtherIterations) << " | " << (d.skipped ? std::string("–") : std::to_string(our_work))
         << " | " << cell(s) << " | " << (s.present && !s.skipped ? std::to_string(their_work) : "–") << " |";
      Tally& t = tallies[p.ours];
      if (d.skipped || s.skipped || !s.present) continue;
      const bool ours_solved = d.reached || d.unbounded, theirs_solved = s.reached || s.unbounded;
      if (ours_solved && theirs_solved && d.unbounded == s.unbounded) {
        (d.evaluations <= s.evaluations ? t.no_more : t.more)
            .push_back(r.entry->id + " (" + std::to_string(d.evaluations) + " against " +
                       std::to_string(s.evaluations) + ")");
      } else {
        t.other.push_back(r.entry->id + " (descent " + cell(d, kOtherIterations) + ", SciPy " + cell(s) + ")");
      }
    }
    md << "\n";
  }
  md << "\n";
  for (const Pair& p : pairs) {
    const Tally& t = tallies[p.ours];
    md << "- **" << p.ours << "** needs no more evaluations than SciPy's " << p.theirs << " on " << t.no_more.size()
       << " of " << t.no_more.size() + t.more.size() << " problems that both solve (or both leave for f → −∞)";
    if (!t.more.empty()) md << "; more on " << join(t.more, "; ", "; ");
    md << ".";
    if (!t.other.empty()) {
      md << " Not compared (neither side, or only one, reached the target): " << join(t.other, "; ", "; ") << ".";
    }
    md << "\n";
  }
  md << "\nOn the saddle no trust-region run, on either side, reaches f < " << number(kUnboundedLevel)
     << ": each step is at most the largest radius, 1000 long, so f falls like −(1000 k)² and is about −1e14 "
        "after " << kOtherIterations << " iterations. The saddle is left at once (from (10⁻³, 10⁻³), |y| > 1 "
        "within 5 iterations for all three solvers: tests/test_trust_region.cpp).\n\n";
}

// A cell of table 2: short, since the reason is nearly always the iteration limit (the legend says so).
std::string first_order_cell(const Outcome& o, bool unbounded_problem) {
  if (o.reached || o.unbounded) return cell(o, kFirstOrderIterations);
  std::string out = "✗";
  if (!o.error.empty() || o.reason != StopReason::kMaxIterations) out += " " + failure_text(o, kFirstOrderIterations) + ",";
  return out + (unbounded_problem ? " f = " + number(o.value, 2) : " ‖g‖ " + number(o.gradient_norm, 2));
}

void write_table2(const std::vector<ProblemResults>& results, std::ostream& md) {
  const std::vector<double> grid = learning_rate_grid();
  md << "## Table 2: first-order optimizers\n\n"
     << "Full-batch gradient descent with each update rule of the library, through `descent::minimize()` with "
        "`FirstOrder` at each learning rate of the grid " << lr_text(grid.front()) << ", " << lr_text(grid[1])
     << ", ..., " << lr_text(grid.back()) << " (factors of √10), at most " << kFirstOrderIterations
     << " iterations. Shown is the best rate (in parentheses): the fewest evaluations to the target; where no "
        "rate reaches it, the lowest ‖∇f‖ at the end (on the saddle, which is unbounded below, the fewest "
        "evaluations to f → −∞, then the lowest final f). ✗ marks a run that did not reach the target in "
     << kFirstOrderIterations << " iterations at any rate; shown then is ‖∇f‖ (on the saddle f) where the best "
        "one ended. Each iteration costs one evaluation, so a count is the iterations plus one. Options are the library's defaults except: `sgd+momentum` is sgd with momentum 0.9, "
        "`adamw` and `lamb` run with weight_decay 0 so that the minimum sought is the function's own (which "
        "makes `adamw` the same update as `adam`: the two columns agree).\n\n";
  md << "| problem |";
  for (const MethodSpec& m : first_order_methods()) md << " " << m.name << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < first_order_methods().size(); ++i) md << "---|";
  md << "\n";
  std::map<std::string, std::size_t> solved;
  for (const ProblemResults& r : results) {
    md << "| " << r.entry->id << " |";
    for (const MethodSpec& m : first_order_methods()) {
      const Outcome& o = r.first_order.at(m.name);
      md << " " << first_order_cell(o, unbounded_below(r.entry->problem)) << " (" << lr_text(o.lr) << ") |";
      if (o.reached && (o.where == Where::Minimum || o.where == Where::Unknown)) ++solved[m.name];
    }
    md << "\n";
  }
  md << "| **global minimum reached** |";
  for (const MethodSpec& m : first_order_methods()) {
    md << " " << solved[m.name] << " of " << results.size() << " |";
  }
  md << "\n\n"
     << "A best-of-grid rate can exploit the start: where a count is a handful of evaluations, the rate happens to "
        "carry the first steps almost onto the minimizer: Adagrad's and Adam's first step moves every coordinate by "
        "lr (RMSprop's by 10 lr, with alpha = 0.99) whatever the size of the gradient, and LARS's first step has "
        "length lr · trust_coefficient · ‖x‖, which on the sphere lands on the minimizer at lr = 1e3. LARS and "
        "LAMB scale every step by a trust ratio ‖x‖ / ‖update‖, so at a fixed rate they take steps of a fixed "
        "fraction of ‖x‖ and cannot settle to ‖∇f‖ ≤ 1e-6 at a minimizer away from the origin; they need a "
        "decaying learning rate, which this table does not give anyone.\n";
}

void write_document(const ConvergenceConfig& config, const std::vector<ProblemResults>& results,
                    const ScipyResults& scipy, std::ostream& md) {
  write_header(config, scipy, md);
  write_problems(results, md);
  write_table1(results, scipy, md);
  write_lbfgs_analysis(results, scipy, md);
  write_newton_cg_analysis(results, scipy, md);
  write_table2(results, md);
  md << "\n";
  write_trust_region(results, scipy, md);
}

}  // namespace

// ---- descent-convergence problems --------------------------------------------------------------------------------

void print_problems_json(std::ostream& out) {
  const std::vector<SuiteEntry> entries = suite();
  out << "{\n  \"target_gradient_norm\": " << json_number(kTarget) << ",\n  \"problems\": [";
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const TestProblem& p = entries[k].problem;
    const std::size_t n = p.objective->dimension();
    std::vector<double> g(n), h(n * n);
    const double f = p.objective->evaluate(p.start, g);
    // Not for the largest problems: a million numbers that SciPy's cross-check would not use (it skips the
    // dense methods there too).
    bool has_hessian = p.objective->has_hessian() && n <= kMaxDenseDimension;
    if (has_hessian) {
      try {
        p.objective->hessian(p.start, h);
      } catch (const descent::Error&) {  // e.g. a start where f is not twice differentiable
        has_hessian = false;
      }
    }
    out << (k ? "," : "") << "\n    {\n"
        << "      \"id\": " << json_string(entries[k].id) << ",\n"
        << "      \"name\": " << json_string(p.name) << ",\n"
        << "      \"description\": " << json_string(p.description) << ",\n"
        << "      \"dimension\": " << n << ",\n"
        << "      \"start\": " << json_array(p.start) << ",\n"
        << "      \"f_start\": " << json_number(f) << ",\n"
        << "      \"gradient_start\": " << json_array(g) << ",\n"
        << "      \"hessian_start\": " << (has_hessian ? json_array(h) : std::string("null")) << ",\n"
        << "      \"minimum\": " << json_number(p.minimum) << ",\n"
        << "      \"unbounded_below\": " << (unbounded_below(p) ? "true" : "false") << ",\n"
        << "      \"minimizers\": [";
    for (std::size_t i = 0; i < p.minimizers.size(); ++i) out << (i ? ", " : "") << json_array(p.minimizers[i]);
    out << "],\n      \"perturbed_starts\": [";
    const auto starts = perturbed_starts(p.start);
    for (std::size_t i = 0; i < starts.size(); ++i) out << (i ? ",\n        " : "\n        ") << json_array(starts[i]);
    out << "\n      ]";
    if (const auto logistic = std::dynamic_pointer_cast<const LogisticRegression>(p.objective)) {
      const std::size_t samples = logistic->num_terms();
      out << ",\n      \"data\": {\n        \"l2\": " << json_number(logistic->l2()) << ",\n        \"labels\": "
          << json_array(logistic->labels()) << ",\n        \"inputs\": [";
      for (std::size_t i = 0; i < samples; ++i) {
        out << (i ? ",\n          " : "\n          ") << json_array(logistic->inputs().subspan(i * n, n));
      }
      out << "\n        ]\n      }";
    }
    out << "\n    }";
  }
  out << "\n  ]\n}\n";
}

// ---- descent convergence ----------------------------------------------------------------------------------

void run_convergence(const ConvergenceConfig& config, std::ostream& log) {
  const ScipyResults scipy = read_scipy(config.scipy);
  const std::vector<SuiteEntry> entries = suite();
  for (const SuiteEntry& e : entries) {
    if (!scipy.runs.contains(e.id)) {
      throw std::runtime_error(config.scipy.string() + " has no results for the problem '" + e.id +
                               "': run tools/convergence/scipy_convergence.py again on `descent-convergence problems`");
    }
  }
  const std::vector<double> grid = learning_rate_grid();
  const auto& second = second_order_methods();
  const auto& first = first_order_methods();

  // Every (problem, method, learning rate or perturbed start) is one job.
  struct Job {
    std::size_t problem;
    const MethodSpec* spec;
    double lr;
    std::vector<double> start;
    bool perturbed;
    Outcome outcome;
  };
  std::vector<Job> jobs;
  for (std::size_t p = 0; p < entries.size(); ++p) {
    const TestProblem& problem = entries[p].problem;
    for (const MethodSpec& spec : second) jobs.push_back({p, &spec, 1.0, problem.start, false, {}});
    for (auto& start : perturbed_starts(problem.start)) jobs.push_back({p, &lbfgs_method(), 1.0, start, true, {}});
    for (const MethodSpec& spec : first) {
      for (const double lr : grid) jobs.push_back({p, &spec, lr, problem.start, false, {}});
    }
  }
  const std::size_t threads =
      config.jobs > 0 ? config.jobs : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  log << "convergence: " << entries.size() << " problems; " << second.size() << " second-order methods (L-BFGS also from "
      << kPerturbedStarts << " perturbed starts) and " << first.size() << " first-order optimizers x "
      << grid.size() << " learning rates: " << jobs.size() << " runs on " << threads << " threads" << std::endl;
  parallel_for(jobs.size(), threads, [&](std::size_t i) {
    Job& job = jobs[i];
    job.outcome = run_one(entries[job.problem].problem, job.start, *job.spec, job.lr,
                          !job.perturbed && !job.spec->first_order());
  });

  std::vector<ProblemResults> results;
  for (const SuiteEntry& e : entries) results.push_back({&e, {}, {}, {}});
  for (Job& job : jobs) {
    ProblemResults& r = results[job.problem];
    if (job.perturbed) {
      r.perturbed_lbfgs.push_back(std::move(job.outcome));
    } else if (!job.spec->first_order()) {
      r.second_order[job.spec->name] = std::move(job.outcome);
    } else {
      const bool unbounded_problem = unbounded_below(r.entry->problem);
      auto it = r.first_order.find(job.spec->name);
      if (it == r.first_order.end()) {
        r.first_order.emplace(job.spec->name, std::move(job.outcome));
      } else if (score(job.outcome, unbounded_problem) < score(it->second, unbounded_problem)) {
        it->second = std::move(job.outcome);
      }
    }
  }

  std::ostringstream md;
  write_document(config, results, scipy, md);
  if (!config.out.parent_path().empty()) std::filesystem::create_directories(config.out.parent_path());
  std::ofstream file(config.out, std::ios::binary);
  file << md.str();
  file.close();
  if (!file) throw std::runtime_error("cannot write " + config.out.string());
}

}  // namespace descent::cli
