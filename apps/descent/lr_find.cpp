#include "lr_find.hpp"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>
#include <vector>

#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/optimizer.hpp"
#include "names.hpp"
#include "plot.hpp"
#include "train.hpp"

namespace descent::cli {

void check_lr_find(const LrFindCommand& command) {
  if (!(command.start_lr > 0.0) || !(command.end_lr > command.start_lr) || !std::isfinite(command.end_lr) ||
      command.steps < 10) {
    throw InvalidArgument("lr-find: need 0 < --start-lr < --end-lr and at least 10 --steps (--start-lr " +
                          format_number(command.start_lr) + ", --end-lr " + format_number(command.end_lr) +
                          ", --steps " + std::to_string(command.steps) + ")");
  }
  if (parse_settings(resolve_optimizer(command.optimizer).optimizer, command.settings).count("lr")) {
    throw InvalidArgument("lr-find: --set lr: the test sweeps the rate from --start-lr to --end-lr");
  }
}

double run_lr_find(const LrFindCommand& command, const nn::TrainTest& data, std::ostream& log) {
  check_lr_find(command);
  const Preset preset = resolve_optimizer(command.optimizer);
  if (preset.bf16_parameters) {  // the range test runs float32 weights: it would silently test another thing
    throw InvalidArgument("lr-find: '" + preset.name + "' trains bfloat16 parameters, which lr-find does not; "
                          "run it with the same rule on float32 weights ('" + preset.optimizer + "')");
  }
  nn::MLPConfig config;
  config.layers = model_layers(command.model, data);
  config.seed = command.seed;
  nn::MLP<float> mlp(config);
  auto options = preset.options;
  for (const auto& [name, value] : parse_settings(preset.optimizer, command.settings)) options[name] = value;
  options["lr"] = command.start_lr;
  auto optimizer = make_optimizer(preset.optimizer, mlp.parameters(), options);
  // A rate too large for the network is where the test ends, not an error: a non-finite gradient stops it
  // as a non-finite loss does.
  optimizer->set_nonfinite_policy(NonFinitePolicy::Skip);
  nn::BatchLoader loader(data.train, command.batch_size, command.seed);

  // lr grows by a constant factor each step; the loss is smoothed by a bias-corrected moving average.
  constexpr double kBeta = 0.98;
  const double growth = std::pow(command.end_lr / command.start_lr, 1.0 / static_cast<double>(command.steps - 1));
  std::vector<double> lrs, losses, smoothed;
  std::vector<float> inputs;
  std::vector<std::int32_t> labels;
  double average = 0.0, best = std::numeric_limits<double>::infinity();
  double lr = command.start_lr;
  for (std::size_t k = 0; k < command.steps; ++k, lr *= growth) {
    for (std::size_t g = 0; g < optimizer->num_groups(); ++g) optimizer->group(g).options().set_lr(lr);
    std::span<const std::size_t> indices;
    if (!loader.next(indices)) loader.next(indices);  // a new epoch
    loader.gather(indices, inputs, labels);
    const double loss = mlp.loss(inputs, labels, true);
    if (!std::isfinite(loss)) break;
    average = kBeta * average + (1.0 - kBeta) * loss;
    const double smooth = average / (1.0 - std::pow(kBeta, static_cast<double>(k + 1)));
    lrs.push_back(lr);
    losses.push_back(loss);
    smoothed.push_back(smooth);
    best = std::min(best, smooth);
    if (k > 10 && smooth > 4.0 * best) break;  // diverging: the interesting part is over
    if (!optimizer->step()) break;
  }

  if (lrs.empty()) {
    throw std::runtime_error("lr-find: the loss of the first batch, at the initial weights, is not finite");
  }
  // The suggestion: where the smoothed loss falls fastest per decade of lr, before its minimum (Smith's
  // "steepest descent" reading of the plot; the minimum itself is already too large a rate).
  std::size_t minimum = 0;
  for (std::size_t i = 0; i < smoothed.size(); ++i) {
    if (smoothed[i] < smoothed[minimum]) minimum = i;
  }
  std::size_t steepest = 0;
  double slope_best = 0.0;
  const std::size_t skip = smoothed.size() / 10;  // the first steps: the average has not settled yet
  for (std::size_t i = std::max<std::size_t>(skip, 1); i < minimum; ++i) {
    const double slope = (smoothed[i] - smoothed[i - 1]) / (std::log10(lrs[i]) - std::log10(lrs[i - 1]));
    if (slope < slope_best) {
      slope_best = slope;
      steepest = i;
    }
  }
  const double suggestion = steepest > 0 ? lrs[steepest] : lrs[minimum] / 10.0;
  const auto three_digits = [](double v) {
    std::ostringstream s;
    s << std::setprecision(3) << v;
    return s.str();
  };

  std::filesystem::create_directories(command.out);
  std::ostringstream csv;
  csv << "lr,loss,smoothed_loss\n" << std::setprecision(10);
  for (std::size_t i = 0; i < lrs.size(); ++i) csv << lrs[i] << ',' << losses[i] << ',' << smoothed[i] << '\n';
  {
    std::ofstream out(command.out / "lr-find.csv");
    out << csv.str();
    out.close();
    if (!out) throw std::runtime_error("cannot write " + (command.out / "lr-find.csv").string());
  }
  if (command.plots) {
    std::ostringstream gp;
    // The y range ends at 1.5x the starting loss: the batches of the diverging end would flatten the curve.
    gp << "set datafile separator ','\nset logscale x\nset format x '1e%T'\nset grid\nset key top left\n"
       << "set yrange [0:" << 1.5 * smoothed.front() << "]\n"
       << "set xlabel 'learning rate (log scale)'\nset ylabel 'training loss'\n"
       << "set title 'learning-rate range test: " << preset.name << " on " << data.train.name << "'\n"
       << "set arrow from " << suggestion << ", graph 0 to " << suggestion
       << ", graph 1 nohead lc rgb '#d62728' dt 2\n"
       << "set label 'suggested " << three_digits(suggestion) << "' at " << suggestion
       << ", graph 0.95 offset 0.5,0 tc rgb '#d62728'\n"
       << "plot 'lr-find.csv' using 1:2 every ::1 with lines lc rgb '#cccccc' title 'loss per batch', \\\n"
       << "     '' using 1:3 every ::1 with lines lw 2 lc rgb '#1f77b4' title 'smoothed'\n";
    if (!render(command.out, "lr-find", gp.str())) {
      if (gnuplot_available()) throw std::runtime_error("gnuplot failed; see " + (command.out / "gnuplot.log").string());
      log << "gnuplot is not installed (apt-get install gnuplot-nox): wrote the data and the .gp script, no picture\n";
    }
  }
  log << "lr-find: " << preset.name << ", " << lrs.size() << " steps from lr " << format_number(command.start_lr)
      << "; lowest smoothed loss " << three_digits(smoothed[minimum]) << " at lr " << three_digits(lrs[minimum])
      << "\nsuggested learning rate: " << three_digits(suggestion) << " (steepest descent of the loss)\n"
      << "plot: " << (command.out / "lr-find.png").string() << "\n";
  return suggestion;
}

}  // namespace descent::cli
