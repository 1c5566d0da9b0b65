// A multilayer perceptron: dense layers with an activation between them, softmax cross-entropy or mean
// squared error on top, forward and backward passes through BLAS (OpenBLAS's CBLAS). Its parameters are
// views the optimizers update in place, named "layer1.weight", "layer1.bias", ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/parameter.hpp"

namespace descent::nn {

enum class Activation { ReLU, Tanh, Sigmoid, GELU };
// Weight initialisation, the notes' first hyperparameter of gradient descent. PyTorchDefault is
// torch.nn.Linear's: weights and biases uniform in +-1/sqrt(fan_in). He (Kaiming) normal: std sqrt(2/fan_in),
// for ReLU. Xavier (Glorot) uniform: +-sqrt(6/(fan_in + fan_out)), for tanh and sigmoid. Normal: std
// `init_std`. Biases are 0 except with PyTorchDefault.
enum class Init { PyTorchDefault, He, Xavier, Normal };
// Softmax cross-entropy on class labels, or mean squared error against one-hot targets (mean over the
// batch of the sum over outputs of (y - t)^2 / outputs, as torch.nn.MSELoss's mean over all elements).
enum class Loss { SoftmaxCrossEntropy, MeanSquaredError };

Activation activation_from(std::string_view name);  // "relu", "tanh", "sigmoid", "gelu"
Init init_from(std::string_view name);              // "pytorch", "he", "xavier", "normal"
Loss loss_from(std::string_view name);              // "cross-entropy", "mse"
// "784-256-10" to {784, 256, 10}; throws InvalidArgument naming the text.
std::vector<std::size_t> parse_layers(std::string_view text);

struct MLPConfig {
  std::vector<std::size_t> layers{784, 256, 10};  // inputs, hidden..., outputs (classes)
  Activation activation = Activation::ReLU;
  Init init = Init::PyTorchDefault;
  double init_std = 0.01;  // for Init::Normal
  Loss loss = Loss::SoftmaxCrossEntropy;
  std::uint64_t seed = 1;
};

template <class T>
class MLP {
 public:
  explicit MLP(const MLPConfig& config);

  const MLPConfig& config() const noexcept { return config_; }
  std::size_t num_layers() const noexcept { return config_.layers.size() - 1; }
  std::size_t num_parameters() const noexcept { return values_.size(); }

  // Views over the weights and their gradients, "layer<k>.weight" (out x in, row-major, as torch.nn.Linear)
  // and "layer<k>.bias", for an optimizer. They stay valid as long as the MLP lives.
  std::vector<Parameter> parameters();
  // bfloat16 storage of the same parameters, for an optimizer of bfloat16 parameters (Adam's bf16_params):
  // the first call rounds the weights to it (nearest even) and sets the weights to the rounded values. The
  // bfloat16 values are then the model: load_bfloat16() sets the weights (which the passes read) from them,
  // exactly, and round_gradients_to_bfloat16() rounds the last backward pass's gradients into the bfloat16
  // gradients (nearest even). The views stay valid as long as the MLP lives.
  std::vector<Parameter> bfloat16_parameters();
  void load_bfloat16();
  void round_gradients_to_bfloat16();
  // All parameter values and gradients, flattened in parameters() order.
  std::span<T> values() noexcept { return values_; }
  std::span<const T> values() const noexcept { return values_; }
  std::span<const T> gradients() const noexcept { return gradients_; }

  // The mean loss over a batch (inputs: batch x layers.front(), row-major; labels in [0, outputs)); with
  // `backward`, the gradients of that mean loss overwrite gradients().
  double loss(std::span<const T> inputs, std::span<const std::int32_t> labels, bool backward);
  // Number of samples whose largest output is their label; the mean loss over them into *loss_sum.
  std::size_t correct(std::span<const T> inputs, std::span<const std::int32_t> labels, double* loss_sum = nullptr);

 private:
  void forward(std::span<const T> inputs, std::size_t batch);

  MLPConfig config_;
  std::vector<T> values_, gradients_;
  std::vector<bfloat16> bf16_values_, bf16_gradients_;  // empty until bfloat16_parameters()
  std::vector<std::size_t> weight_offset_, bias_offset_;
  std::vector<std::vector<T>> pre_, post_;  // per layer: pre-activation z and activation a (batch x width)
  std::vector<T> delta_, delta_next_;       // backward scratch
  std::size_t batch_ = 0;
};

extern template class MLP<float>;
extern template class MLP<double>;

}  // namespace descent::nn
