// Gradient accumulation (descent train --micro-batches, and each rank of --distributed): the split of a
// batch into parts and the parts' scaled gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "descent/descent.hpp"
#include "descent/nn.hpp"

namespace nn = descent::nn;

TEST(MicroBatches, PartsAreFloorSplits) {
  using Range = std::pair<std::size_t, std::size_t>;
  EXPECT_EQ(nn::micro_batch_range(10, 0, 3), Range(0, 3));
  EXPECT_EQ(nn::micro_batch_range(10, 1, 3), Range(3, 6));
  EXPECT_EQ(nn::micro_batch_range(10, 2, 3), Range(6, 10));
  EXPECT_EQ(nn::micro_batch_range(2, 0, 3), Range(0, 0));  // fewer samples than parts: empty parts
  EXPECT_EQ(nn::micro_batch_range(2, 2, 3), Range(1, 2));
  EXPECT_THROW(nn::micro_batch_range(10, 3, 3), descent::InvalidArgument);
  EXPECT_THROW(nn::micro_batch_range(10, 0, 0), descent::InvalidArgument);
}

// The parts' scaled gradients add up to the whole batch's mean-loss gradient (up to rounding), and the
// scaled losses to its mean loss; an empty part contributes zeros.
TEST(MicroBatches, ScaledPartsSumToTheBatchGradient) {
  nn::MLPConfig config;
  config.layers = {2, 8, 3};
  nn::MLP<float> model(config);
  const std::vector<float> inputs{0.1f, -0.4f, 0.7f, 0.2f, -0.9f, 0.5f, 0.3f, 0.3f, -0.2f, -0.6f, 0.8f, -0.1f, 0.0f, 0.9f};
  const std::vector<std::int32_t> labels{0, 1, 2, 1, 0, 2, 1};
  const double whole_loss = model.loss(inputs, labels, true);
  const std::vector<float> whole(model.gradients().begin(), model.gradients().end());
  for (const std::size_t parts : {2u, 3u, 7u, 9u}) {
    std::vector<double> sum(whole.size(), 0.0);
    double loss = 0.0;
    for (std::size_t part = 0; part < parts; ++part) {
      loss += nn::micro_batch_gradient(model, inputs, labels, part, parts);
      for (std::size_t k = 0; k < sum.size(); ++k) sum[k] += model.gradients()[k];
    }
    EXPECT_NEAR(loss, whole_loss, 1e-6) << parts;
    for (std::size_t k = 0; k < sum.size(); ++k) EXPECT_NEAR(sum[k], whole[k], 1e-6) << parts << " " << k;
  }
}

TEST(MicroBatches, TrainRefusesZeroParts) {
  const nn::TrainTest data = nn::make_spirals(40, 20);
  nn::MLPConfig config;
  config.layers = {2, 4, 2};
  nn::MLP<float> model(config);
  nn::TrainConfig train;
  train.epochs = 1;
  train.micro_batches = 0;
  EXPECT_THROW(nn::train(model, data.train, data.test, train), descent::InvalidArgument);
}
