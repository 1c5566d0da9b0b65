#include "compare.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

#include "descent/minimize.hpp"
#include "descent/minimize/minimize.hpp"
#include "descent/minimize/test_problems.hpp"
#include "names.hpp"
#include "plot.hpp"

namespace descent::cli {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// A function without a minimum (the saddle) counts as escaped once f falls below this.
constexpr double kEscapeLevel = -10.0;

struct Point {
  double x, y, f, grad_norm;
};

struct Run {
  Preset preset;
  double lr = 0.0;
  std::vector<Point> path;
  std::size_t steps_to_target = 0;  // 0: never reached
  std::size_t evaluations = 0;      // of f and its gradient
  bool diverged = false;
  double seconds = 0.0;
};

bool has_minimum(const TestProblem& fn) { return std::isfinite(fn.minimum); }

// Distance to the nearest known global minimizer (Himmelblau has four).
double distance_to_minimizer(const TestProblem& fn, const Point& p) {
  double best = kInf;
  for (const auto& m : fn.minimizers) best = std::min(best, std::hypot(p.x - m[0], p.y - m[1]));
  return best;
}

// The minimize() method a preset stands for: a first-order optimizer at learning rate lr, or a
// second-order method (which has no learning rate to tune).
Method method_of(const Preset& preset, double lr) {
  if (is_second_order(preset)) {
    Method method = second_order_method(preset.optimizer);
    if (auto* lbfgs = std::get_if<LBFGSOptions>(&method)) {
      lbfgs->tolerance_grad = 0.0;  // the comparison's own target decides when to stop
      lbfgs->tolerance_change = 0.0;
    }
    return method;
  }
  auto options = preset.options;
  options["lr"] = lr;
  return FirstOrder{preset.optimizer, options};
}

// Runs one method from the function's start through minimize(). Stops at non-finite values (the run
// then ends on its last finite point), and once it can show nothing more: the gap below 1e-14, or the
// saddle escaped far enough to overflow soon.
Run run_once(const TestProblem& fn, const Preset& preset, double lr, std::size_t steps, double tolerance) {
  Run run{preset, lr, {}, 0, 0, false, 0.0};
  run.path.reserve(steps + 1);
  Stopping stopping;
  stopping.max_iterations = steps;
  stopping.gradient_tolerance = 0.0;
  Observe observe;
  observe.callback = [&](const IterationInfo& info) {
    const double f = info.value;
    run.path.push_back({info.x[0], info.x[1], f, info.gradient_norm});
    const bool reached = has_minimum(fn) ? f - fn.minimum <= tolerance : f <= kEscapeLevel;
    if (reached && run.steps_to_target == 0) run.steps_to_target = std::max<std::size_t>(info.iteration, 1);
    return !((has_minimum(fn) && f - fn.minimum < 1e-14) || (!has_minimum(fn) && f < -1e6));
  };
  const auto start = std::chrono::steady_clock::now();
  const MinimizeResult result = minimize(*fn.objective, fn.start, method_of(preset, lr), stopping, observe);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.evaluations = result.function_evaluations;
  run.diverged = result.reason == StopReason::kNonFinite;
  return run;
}

// Lower is better: runs that reach the target rank by steps, the rest by how close they ended.
std::pair<double, double> score(const TestProblem& fn, const Run& run) {
  if (run.diverged) return {kInf, kInf};
  if (run.steps_to_target) return {static_cast<double>(run.steps_to_target), 0.0};
  const double final_f = run.path.back().f;
  return {kInf, has_minimum(fn) ? final_f - fn.minimum : final_f};
}

// Tuning picks, for each optimizer, the learning rate that reaches the minimum fastest. A function without
// a minimum (the saddle) has no such rate worth picking -- the largest escapes in one step -- so there
// every optimizer takes the same rate, and the picture shows who escapes the saddle at equal step size.
bool tuned(const TestProblem& fn, const CompareConfig& config) { return config.lr <= 0.0 && has_minimum(fn); }
bool has_learning_rate(const Preset& preset) { return !is_second_order(preset); }
double fixed_lr(const CompareConfig& config) { return config.lr > 0.0 ? config.lr : 0.01; }

Run best_run(const TestProblem& fn, const Preset& preset, const CompareConfig& config) {
  if (!has_learning_rate(preset)) return run_once(fn, preset, 1.0, config.steps, config.tolerance);
  if (!tuned(fn, config)) return run_once(fn, preset, fixed_lr(config), config.steps, config.tolerance);
  Run best;
  bool have = false;
  for (const double lr : learning_rate_grid()) {
    Run run = run_once(fn, preset, lr, config.steps, config.tolerance);
    if (!have || score(fn, run) < score(fn, best)) {
      best = std::move(run);
      have = true;
    }
  }
  return best;
}

std::string status_of(const TestProblem& fn, const Run& run, double tolerance) {
  if (run.diverged) return "diverged";
  if (!has_minimum(fn)) return run.steps_to_target ? "escaped" : "stuck";
  if (run.path.back().f - fn.minimum <= tolerance) return "converged";
  return run.steps_to_target ? "reached, did not stay" : "not converged";
}


std::string number(double v, int precision = 4) {
  std::ostringstream s;
  s << std::setprecision(precision) << v;
  return s.str();
}

void write_runs(const std::filesystem::path& dir, const std::vector<Run>& runs) {
  std::filesystem::create_directories(dir / "runs");
  for (const Run& run : runs) {
    std::ostringstream out;
    out << "step,x,y,f,grad_norm\n" << std::setprecision(17);
    for (std::size_t i = 0; i < run.path.size(); ++i) {
      const Point& p = run.path[i];
      out << i << ',' << p.x << ',' << p.y << ',' << p.f << ',' << p.grad_norm << '\n';
    }
    write_text(dir / "runs" / (run.preset.name + ".csv"), out.str());
  }
}

std::string summary_table(const TestProblem& fn, const std::vector<Run>& runs, bool tuned, double tolerance) {
  std::ostringstream md;
  md << "| optimizer | " << (tuned ? "best lr" : "lr") << " | steps to target | evaluations | final f | final grad norm | "
     << (has_minimum(fn) ? "distance to minimizer | " : "") << "status |\n|---|---|---|---|---|---|"
     << (has_minimum(fn) ? "---|" : "") << "---|\n";
  for (const Run& run : runs) {
    const Point& last = run.path.empty() ? Point{NAN, NAN, NAN, NAN} : run.path.back();
    md << "| " << run.preset.name << " | " << (has_learning_rate(run.preset) ? number(run.lr, 3) : "-") << " | "
       << (run.steps_to_target ? std::to_string(run.steps_to_target) : "-") << " | " << run.evaluations << " | "
       << number(last.f) << " | "
       << number(last.grad_norm) << " | ";
    if (has_minimum(fn)) md << number(distance_to_minimizer(fn, last)) << " | ";
    md << status_of(fn, run, tolerance) << " |\n";
  }
  return md.str();
}

void write_summary(const std::filesystem::path& dir, const TestProblem& fn, const std::vector<Run>& runs,
                   const CompareConfig& config) {
  const bool is_tuned = tuned(fn, config);
  std::ostringstream md;
  md << "# " << fn.name << ": " << fn.description << "\n\n"
     << "Start (" << fn.start[0] << ", " << fn.start[1] << "), at most " << config.steps << " steps. Target: "
     << (has_minimum(fn) ? "f - f* <= " + number(config.tolerance) : "f <= " + number(kEscapeLevel) + " (escaped the saddle)")
     << ". "
     << (is_tuned ? "Each optimizer ran at every learning rate from 1e-4 to 1e3 (factor sqrt(10)); shown is its best: "
                    "fewest steps to the target, else the lowest final value."
                  : "Every optimizer at learning rate " + number(fixed_lr(config)) +
                        " (adadelta and lars read lr on another scale: adadelta multiplies its own RMS ratio, lars "
                        "a trust ratio of about 0.001).")
     << "\n\n"
     << summary_table(fn, runs, is_tuned, config.tolerance) << "\nPictures: `loss.png` (progress per step), `paths.png` (paths on the "
     << "contours). Data: `runs/<optimizer>.csv`. Made by `descent compare --function " << fn.name << "`.\n";
  write_text(dir / "summary.md", md.str());
  std::ostringstream csv;
  csv << "optimizer,lr,steps_to_target,evaluations,final_f,final_grad_norm,status,seconds\n" << std::setprecision(17);
  for (const Run& run : runs) {
    const Point& last = run.path.back();
    csv << run.preset.name << ',' << run.lr << ',' << run.steps_to_target << ',' << run.evaluations << ',' << last.f
        << ',' << last.grad_norm
        << ',' << status_of(fn, run, config.tolerance) << ',' << run.seconds << '\n';
  }
  write_text(dir / "summary.csv", csv.str());
}

// The function's values on a grid over its view box, for gnuplot's contour lines. asinh compresses
// the range like a logarithm while keeping the sign, so Rosenbrock's valley and the saddle both show.
void write_grid(const std::filesystem::path& file, const TestProblem& fn) {
  std::ostringstream out;
  const auto [x0, x1, y0, y1] = fn.view;
  constexpr int kCells = 160;
  std::vector<double> p(2), g(2);
  for (int i = 0; i <= kCells; ++i) {
    for (int j = 0; j <= kCells; ++j) {
      p[0] = x0 + (x1 - x0) * i / kCells;
      p[1] = y0 + (y1 - y0) * j / kCells;
      const double f = fn.objective->evaluate(p, g);
      out << p[0] << ',' << p[1] << ',' << std::asinh(has_minimum(fn) ? f - fn.minimum : f) << '\n';
    }
    out << '\n';
  }
  write_text(file, out.str());
}

void write_plots(const std::filesystem::path& dir, const TestProblem& fn, const std::vector<Run>& runs,
                 double tolerance, std::ostream& log) {
  std::ostringstream loss;
  loss << "set datafile separator ','\nset key outside right\nset grid\nset xlabel 'step'\n";
  if (has_minimum(fn)) {
    loss << "set logscale y\nset format y '1e%T'\nset ylabel 'f - f* (log scale)'\n";
  } else {
    loss << "set ylabel 'f'\nset yrange [-12:" << runs.front().path.front().f + 2 << "]\n";
  }
  loss << "set title '" << fn.name << ": progress per step'\nplot ";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    loss << (i ? ", \\\n     " : "") << "'runs/" << runs[i].preset.name << ".csv' using 1:";
    if (has_minimum(fn)) {
      loss << "(($4 - " << fn.minimum << ") > 1e-16 ? ($4 - " << fn.minimum << ") : 1e-16)";
    } else {
      loss << "4";
    }
    loss << " every ::1 with lines lw 1.5 lc rgb '" << color(i) << "' title '" << runs[i].preset.name << "'";
  }
  loss << "\n";

  write_grid(dir / "contour-grid.dat", fn);
  const auto [x0, x1, y0, y1] = fn.view;
  // One panel per optimizer, each with the contours, the start, the minimum and that optimizer's path.
  const std::size_t columns = runs.size() <= 4 ? runs.size() : runs.size() <= 9 ? 3 : 4;
  const std::size_t rows = (runs.size() + columns - 1) / columns;
  std::ostringstream paths;
  paths << "set datafile separator ','\nset view map\nset contour base\nset cntrparam levels 25\n"
        << "set cntrlabel onecolor\nunset key\nunset colorbox\nset tics font ',8'\n"
        << "set xrange [" << x0 << ":" << x1 << "]\nset yrange [" << y0 << ":" << y1 << "]\n"
        << "set multiplot layout " << rows << "," << columns << " title '" << fn.name << ": paths from ("
        << fn.start[0] << ", " << fn.start[1] << "), each optimizer at its learning rate'\n";
  // Map view of a 3-D plot: contour lines of the grid (no surface) and each path drawn at z = 0.
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const std::string rate = has_learning_rate(run.preset) ? " (lr " + number(run.lr, 3) + ")" : "";
    paths << "set title '" << run.preset.name << rate << ": " << status_of(fn, run, tolerance)
          << "' font ',10'\nsplot 'contour-grid.dat' using 1:2:3 nosurface with lines lc rgb '#cccccc'";
    for (const auto& m : fn.minimizers) {
      paths << ", '+' using (" << m[0] << "):(" << m[1] << "):(0) every ::0::0 nocontours with points pt 3 ps 1.5 lc rgb 'black'";
    }
    paths << ", 'runs/" << run.preset.name << ".csv' using 2:3:(0) every ::1 nocontours with lines lw 1.5 lc rgb '"
          << color(i) << "', '+' using (" << fn.start[0] << "):(" << fn.start[1]
          << "):(0) every ::0::0 nocontours with points pt 7 ps 0.8 lc rgb '" << color(i) << "'\n";
  }
  paths << "unset multiplot\n";
  const bool ok = render(dir, "loss", loss.str()) &
                  render(dir, "paths", paths.str(), static_cast<int>(360 * columns), static_cast<int>(330 * rows + 40));
  if (!ok) {
    if (gnuplot_available()) throw std::runtime_error("gnuplot failed; see " + (dir / "gnuplot.log").string());
    log << "gnuplot is not installed (apt-get install gnuplot-nox): wrote the data and the .gp scripts, no pictures\n";
  }
}

}  // namespace

std::filesystem::path run_compare(const CompareConfig& config, std::ostream& log) {
  const TestProblem fn = make_test_problem(config.function);
  if (fn.objective->dimension() != 2) {
    throw std::invalid_argument("compare draws 2-D paths: '" + config.function + "' is " +
                                std::to_string(fn.objective->dimension()) + "-dimensional");
  }
  const auto dir = config.out / std::string(fn.name);
  std::filesystem::create_directories(dir);
  log << "compare on " << fn.name << " (" << fn.description << "), " << config.optimizers.size() << " optimizers, "
      << (tuned(fn, config) ? "tuning lr over " + std::to_string(learning_rate_grid().size()) + " values"
                            : "lr " + number(fixed_lr(config)))
      << "\n";
  std::vector<Run> runs;
  for (const Preset& preset : config.optimizers) runs.push_back(best_run(fn, preset, config));
  write_runs(dir, runs);
  write_summary(dir, fn, runs, config);
  if (config.plots) write_plots(dir, fn, runs, config.tolerance, log);
  log << summary_table(fn, runs, tuned(fn, config), config.tolerance);
  return dir;
}

}  // namespace descent::cli
