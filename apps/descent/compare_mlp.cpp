#include "compare_mlp.hpp"

#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "descent/error.hpp"
#include "names.hpp"
#include "plot.hpp"
#include "train.hpp"

namespace descent::cli {
namespace {

std::string plot_lines(const std::vector<TrainRun>& runs, const std::string& file, const std::string& using_columns,
                       const std::string& style = "with lines lw 1.5") {
  std::ostringstream out;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    out << (i ? ", \\\n     " : "plot ") << "'runs/" << runs[i].label << "/" << file << "' using " << using_columns
        << " every ::1 " << style << " lc rgb '" << color(i) << "' title '" << runs[i].label
        << "'";
  }
  return out.str() + "\n";
}

}  // namespace

std::filesystem::path run_mlp_compare(const MlpCompareConfig& config, const nn::TrainTest& data, std::ostream& log,
                                      bool progress_bar) {
  const std::string data_name = data.train.name.substr(0, data.train.name.find('/'));
  const auto dir = config.out / data_name;
  std::filesystem::create_directories(dir / "runs");
  std::vector<Preset> presets;
  for (const Preset& p : config.optimizers.empty() ? cli::presets() : config.optimizers) {
    if (is_second_order(p)) {
      if (!config.optimizers.empty()) throw InvalidArgument("'" + p.name + "' is a second-order method for functions");
      continue;
    }
    presets.push_back(p);
  }
  std::vector<TrainRun> runs;
  std::vector<double> rates;
  for (const Preset& preset : presets) {
    TrainCommand command;
    command.optimizer = preset.name;
    command.epochs = config.epochs;
    command.batch_size = config.batch_size;
    command.model = config.model;
    command.seed = config.seed;
    command.threads = config.threads;
    command.out = dir / "runs" / preset.name;
    command.nonfinite = "skip";  // one diverging optimizer shows as such (its skips are logged); the others still run
    rates.push_back(default_learning_rate(preset));
    runs.push_back(run_train(command, data, command.out, log, progress_bar));
    // A smoothed loss per step (exponential moving average, 0.98) for the curves: raw batch losses are noise.
    std::ostringstream smooth;
    smooth << "step,loss,seconds,loss_smoothed\n" << std::setprecision(8);
    double ema = runs.back().steps.front().loss;
    for (const auto& s : runs.back().steps) {
      ema = 0.98 * ema + 0.02 * s.loss;
      smooth << s.step << ',' << s.loss << ',' << s.seconds << ',' << ema << '\n';
    }
    write_text(dir / "runs" / preset.name / "steps.csv", smooth.str());
  }

  std::ostringstream md, csv;
  const std::vector<std::size_t> layers = model_layers(config.model, data);
  std::string model;
  for (const std::size_t w : layers) model.append(model.empty() ? "" : "-").append(std::to_string(w));
  md << "# " << data_name << ": MLP " << model << ", " << config.epochs << " epochs, batch " << config.batch_size
     << "\n\nEach optimizer at a rate that suits it for this network (`descent train --optimizer NAME` uses the same), "
        "the same initial weights (seed " << config.seed << ") and the same batches. Test set: "
     << data.test.samples << " samples.\n\n"
     << "| optimizer | lr | final train loss | test loss | test accuracy | training time (s) | steps/s |\n"
     << "|---|---|---|---|---|---|---|\n";
  csv << "optimizer,lr,train_loss,test_loss,test_accuracy,seconds,steps_per_second\n" << std::setprecision(10);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& e = runs[i].epochs.back();
    const double steps_per_second = static_cast<double>(e.steps) / e.seconds;
    md << "| " << runs[i].label << " | " << rates[i] << " | " << std::fixed << std::setprecision(4) << e.train_loss
       << " | " << e.test_loss << " | " << std::setprecision(2) << 100.0 * e.test_accuracy << "% | "
       << std::setprecision(1) << e.seconds << " | " << std::setprecision(0) << steps_per_second << std::defaultfloat
       << " |\n";
    csv << runs[i].label << ',' << rates[i] << ',' << e.train_loss << ',' << e.test_loss << ',' << e.test_accuracy
        << ',' << e.seconds << ',' << steps_per_second << '\n';
  }
  md << "\nPictures: `loss-step.png` (training loss per step, smoothed), `loss-time.png` (the same against "
        "training time), `accuracy.png` (test accuracy per epoch). Data: `runs/<optimizer>/`. Made by "
        "`descent compare --data " << data_name << "`.\n";
  write_text(dir / "summary.md", md.str());
  write_text(dir / "summary.csv", csv.str());

  if (config.plots) {
    const std::string head = "set datafile separator ','\nset key outside right\nset grid\nset logscale y\n";
    const bool ok =
        render(dir, "loss-step",
               head + "set xlabel 'step'\nset ylabel 'training loss (smoothed, log scale)'\nset title '" + data_name +
                   ": training loss per step'\n" + plot_lines(runs, "steps.csv", "1:4")) &
        render(dir, "loss-time",
               head + "set xlabel 'training time (s)'\nset ylabel 'training loss (smoothed, log scale)'\nset title '" +
                   data_name + ": training loss against time'\n" + plot_lines(runs, "steps.csv", "3:4")) &
        render(dir, "accuracy",
               std::string("set datafile separator ','\nset key outside right\nset grid\nset xlabel 'epoch'\nset ylabel "
                           "'test accuracy (%)'\nset title '") + data_name + ": test accuracy per epoch'\n" +
                   plot_lines(runs, "metrics.csv", "1:($5*100)", "with linespoints lw 1.5 pt 7 ps 0.6"));
    if (!ok) {
      if (gnuplot_available()) throw std::runtime_error("gnuplot failed; see " + (dir / "gnuplot.log").string());
      log << "gnuplot is not installed (apt-get install gnuplot-nox): wrote the data and the .gp scripts, no pictures\n";
    }
  }
  log << "\n" << md.str();
  return dir;
}

}  // namespace descent::cli
