#include "descent/nn/train.hpp"

#include <chrono>
#include <string>

#include "descent/error.hpp"
#include "descent/factory.hpp"

namespace descent::nn {
namespace {

void check_fits(const MLP<float>& model, const Dataset& data) {
  const auto& layers = model.config().layers;
  if (data.features != layers.front()) {
    throw InvalidArgument("the model takes " + std::to_string(layers.front()) + " inputs but data set '" + data.name +
                          "' has " + std::to_string(data.features) + " features");
  }
  if (data.classes > layers.back()) {
    throw InvalidArgument("the model has " + std::to_string(layers.back()) + " outputs but data set '" + data.name +
                          "' has " + std::to_string(data.classes) + " classes");
  }
}

}  // namespace

Evaluation evaluate(MLP<float>& model, const Dataset& data) {
  check_fits(model, data);
  constexpr std::size_t kChunk = 1000;
  double loss_sum = 0.0;
  std::size_t hits = 0;
  for (std::size_t begin = 0; begin < data.samples; begin += kChunk) {
    const std::size_t count = std::min(kChunk, data.samples - begin);
    hits += model.correct(std::span(data.inputs).subspan(begin * data.features, count * data.features),
                          std::span(data.labels).subspan(begin, count), &loss_sum);
  }
  return {loss_sum / static_cast<double>(data.samples), static_cast<double>(hits) / static_cast<double>(data.samples)};
}

std::vector<EpochMetrics> train(MLP<float>& model, const Dataset& train_set, const Dataset& test_set,
                                const TrainConfig& config, const TrainHooks& hooks,
                                std::unique_ptr<Optimizer>* optimizer_out) {
  check_fits(model, train_set);
  check_fits(model, test_set);
  auto optimizer = make_optimizer(config.optimizer, model.parameters(), config.options);
  optimizer->set_num_threads(config.threads);
  if (hooks.on_start) hooks.on_start(*optimizer);
  BatchLoader loader(train_set, config.batch_size, config.seed);
  std::vector<float> inputs;
  std::vector<std::int32_t> labels;
  std::vector<EpochMetrics> history;
  std::size_t steps = 0;
  double training_seconds = 0.0;
  for (std::size_t epoch = 1; epoch <= config.epochs; ++epoch) {
    const double lr = optimizer->group(0).options().lr();
    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0.0;
    std::size_t batches = 0;
    std::span<const std::size_t> indices;
    while (loader.next(indices)) {
      loader.gather(indices, inputs, labels);
      const double loss = model.loss(inputs, labels, true);
      if (hooks.before_step) hooks.before_step(*optimizer);
      optimizer->step();
      loss_sum += loss;
      ++batches;
      ++steps;
      if (hooks.on_step) {
        const double now = training_seconds +
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        hooks.on_step({steps, loss, now});
      }
    }
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    training_seconds += epoch_seconds;
    const Evaluation test = evaluate(model, test_set);
    history.push_back({epoch, steps, loss_sum / static_cast<double>(batches), test.loss, test.accuracy,
                       training_seconds, epoch_seconds, lr});
    if (hooks.on_epoch) hooks.on_epoch(*optimizer, history.back());
  }
  if (optimizer_out) *optimizer_out = std::move(optimizer);
  return history;
}

}  // namespace descent::nn
