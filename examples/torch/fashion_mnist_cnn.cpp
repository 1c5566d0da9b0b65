// A small libtorch CNN on Fashion-MNIST, trained with NAdam and then LAMB from descent, optimizers that
// libtorch's C++ API does not have, each as a torch::optim::Optimizer (descent::TorchOptimizer), with
// torch's StepLR and a descent checkpoint. The data is read by descent::nn (Debian's
// dataset-fashion-mnist ships it gzip-compressed, which torch::data::datasets::MNIST does not read).
//
//   fashion_mnist_cnn [train samples, default 12000] [epochs, default 2]
#include <torch/torch.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <span>
#include <string>

#include "descent/nn.hpp"
#include "descent/torch.hpp"

namespace {

struct NetImpl : torch::nn::Module {
  NetImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3)))),
        fc(register_module("fc", torch::nn::Linear(16 * 5 * 5, 10))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);  // 28 -> 26 -> 13
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);  // 13 -> 11 -> 5
    return fc(x.flatten(1));
  }

  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc;
};
TORCH_MODULE(Net);

// The first `count` samples of a set (all when count is larger).
descent::nn::Dataset first(const descent::nn::Dataset& set, std::size_t count) {
  descent::nn::Dataset part = set;
  part.samples = std::min(count, set.samples);
  part.inputs.resize(part.samples * set.features);
  part.labels.resize(part.samples);
  return part;
}

// A set's images as an N x 1 x 28 x 28 tensor, and its labels.
std::pair<torch::Tensor, torch::Tensor> tensors(const descent::nn::Dataset& set) {
  const auto n = static_cast<std::int64_t>(set.samples);
  auto x = torch::from_blob(const_cast<float*>(set.inputs.data()), {n, 1, 28, 28}).clone();
  auto y = torch::from_blob(const_cast<std::int32_t*>(set.labels.data()), {n}, torch::kInt32).to(torch::kLong);
  return {x, y};
}

double accuracy(Net& net, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return net->forward(x).argmax(1).eq(y).to(torch::kDouble).mean().item<double>();
}

void train(const std::string& rule, const descent::TorchOptions& options, const descent::nn::TrainTest& data,
           std::size_t samples, int epochs) {
  torch::manual_seed(1);
  Net net;
  descent::TorchOptimizer opt(net->named_parameters(), options);
  torch::optim::StepLR schedule(opt, /*step_size=*/1, /*gamma=*/0.5);  // per epoch
  const descent::nn::Dataset train_set = first(data.train, samples);
  const auto [x, y] = tensors(train_set);
  const auto [test_x, test_y] = tensors(data.test);
  descent::nn::BatchLoader loader(train_set, 64, /*seed=*/1);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    std::span<const std::size_t> batch;
    double loss_sum = 0;
    int batches = 0;
    while (loader.next(batch)) {
      const std::vector<std::int64_t> rows(batch.begin(), batch.end());
      const auto index = torch::tensor(rows);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net->forward(x.index_select(0, index)), y.index_select(0, index));
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++batches;
    }
    const double lr = opt.param_groups()[0].options().get_lr();
    schedule.step();
    std::printf("%-5s epoch %d  lr %.2g  train loss %.4f  test accuracy %.4f\n", rule.c_str(), epoch + 1, lr,
                loss_sum / batches, accuracy(net, test_x, test_y));
  }
  opt.save(rule + "_cnn.safetensors", /*with_parameters=*/true);
  std::printf("%-5s checkpoint: %s_cnn.safetensors (state of %zu tensors, keyed by name, e.g. 'conv1.weight')\n",
              rule.c_str(), rule.c_str(), opt.descent_optimizer().num_parameters());
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t samples = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 12000;
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;
  if (!descent::nn::fashion_mnist_available()) {
    std::fprintf(stderr, "Fashion-MNIST not found in %s (Debian: apt install dataset-fashion-mnist)\n",
                 descent::nn::kFashionMnistFolder);
    return 1;
  }
  const auto data = descent::nn::load_mnist_format(descent::nn::kFashionMnistFolder, "fashion-mnist");
  train("nadam", descent::TorchOptions("nadam", {{"lr", 2e-3}}), data, samples, epochs);
  train("lamb", descent::TorchOptions("lamb", {{"lr", 1e-2}, {"weight_decay", 1e-2}}), data, samples, epochs);
  return 0;
}
