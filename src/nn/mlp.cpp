// The MLP's forward and backward passes. Layer k maps a (batch x in) to z = a W^T + b (batch x out), then the
// activation, except on the last layer, whose z are the outputs (logits). Backward, with delta = dL/dz:
// dW = delta^T a_prev, db = column sums of delta, and delta_prev = (delta W) * activation'(z_prev).
#include "descent/nn/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "descent/error.hpp"
#include "linalg/gemm.hpp"
#include "random.hpp"

namespace descent::nn {
namespace {

template <class T>
T activate(Activation f, T z) {
  switch (f) {
    case Activation::ReLU: return z > T(0) ? z : T(0);
    case Activation::Tanh: return std::tanh(z);
    case Activation::Sigmoid: return T(1) / (T(1) + std::exp(-z));
    case Activation::GELU: return T(0.5) * z * (T(1) + std::erf(z * T(0.7071067811865476)));  // exact, erf form
  }
  return z;
}

// d activation / dz, from z and a = activation(z).
template <class T>
T derivative(Activation f, T z, T a) {
  switch (f) {
    case Activation::ReLU: return z > T(0) ? T(1) : T(0);
    case Activation::Tanh: return T(1) - a * a;
    case Activation::Sigmoid: return a * (T(1) - a);
    case Activation::GELU: {  // Phi(z) + z phi(z)
      const T cdf = T(0.5) * (T(1) + std::erf(z * T(0.7071067811865476)));
      const T pdf = std::exp(T(-0.5) * z * z) * T(0.3989422804014327);
      return cdf + z * pdf;
    }
  }
  return T(1);
}

}  // namespace

Activation activation_from(std::string_view name) {
  if (name == "relu") return Activation::ReLU;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "gelu") return Activation::GELU;
  throw InvalidArgument("unknown activation '" + std::string(name) + "' (relu, tanh, sigmoid, gelu)");
}

Init init_from(std::string_view name) {
  if (name == "pytorch") return Init::PyTorchDefault;
  if (name == "he") return Init::He;
  if (name == "xavier") return Init::Xavier;
  if (name == "normal") return Init::Normal;
  throw InvalidArgument("unknown initialisation '" + std::string(name) + "' (pytorch, he, xavier, normal)");
}

Loss loss_from(std::string_view name) {
  if (name == "cross-entropy") return Loss::SoftmaxCrossEntropy;
  if (name == "mse") return Loss::MeanSquaredError;
  throw InvalidArgument("unknown loss '" + std::string(name) + "' (cross-entropy, mse)");
}

std::vector<std::size_t> parse_layers(std::string_view text) {
  std::vector<std::size_t> layers;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find('-', begin), text.size());
    const std::string part(text.substr(begin, end - begin));
    std::size_t used = 0;
    unsigned long long width = 0;
    try {
      width = std::stoull(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || width == 0 || width > 1'000'000) {
      throw InvalidArgument("layer sizes '" + std::string(text) + "': '" + part +
                            "' is not a width from 1 to 1000000 (write e.g. 784-256-10)");
    }
    layers.push_back(static_cast<std::size_t>(width));
    begin = end + 1;
  }
  if (layers.size() < 2) throw InvalidArgument("layer sizes '" + std::string(text) + "': need inputs and outputs");
  return layers;
}

template <class T>
MLP<T>::MLP(const MLPConfig& config) : config_(config) {
  if (config_.layers.size() < 2) throw InvalidArgument("MLP: need at least an input and an output size");
  for (const std::size_t width : config_.layers) {
    if (width == 0) throw InvalidArgument("MLP: a layer of width 0");
  }
  if (!(config_.init_std > 0.0)) throw InvalidArgument("MLP: init_std = " + format_number(config_.init_std) + " must be positive");
  std::size_t total = 0;
  for (std::size_t k = 0; k < num_layers(); ++k) {
    const std::size_t in = config_.layers[k], out = config_.layers[k + 1];
    weight_offset_.push_back(total);
    total += in * out;
    bias_offset_.push_back(total);
    total += out;
  }
  values_.resize(total);
  gradients_.assign(total, T(0));
  detail::SplitMix64 rng(config_.seed);
  for (std::size_t k = 0; k < num_layers(); ++k) {
    const std::size_t in = config_.layers[k], out = config_.layers[k + 1];
    T* w = values_.data() + weight_offset_[k];
    T* b = values_.data() + bias_offset_[k];
    const double fan_in = static_cast<double>(in), fan_out = static_cast<double>(out);
    const auto uniform = [&](double bound) { return static_cast<T>((2.0 * rng.uniform() - 1.0) * bound); };
    for (std::size_t i = 0; i < in * out; ++i) {
      switch (config_.init) {
        case Init::PyTorchDefault: w[i] = uniform(1.0 / std::sqrt(fan_in)); break;
        case Init::He: w[i] = static_cast<T>(rng.normal() * std::sqrt(2.0 / fan_in)); break;
        case Init::Xavier: w[i] = uniform(std::sqrt(6.0 / (fan_in + fan_out))); break;
        case Init::Normal: w[i] = static_cast<T>(rng.normal() * config_.init_std); break;
      }
    }
    for (std::size_t i = 0; i < out; ++i) b[i] = config_.init == Init::PyTorchDefault ? uniform(1.0 / std::sqrt(fan_in)) : T(0);
  }
  pre_.resize(num_layers());
  post_.resize(num_layers());
}

template <class T>
std::vector<Parameter> MLP<T>::parameters() {
  std::vector<Parameter> params;
  for (std::size_t k = 0; k < num_layers(); ++k) {
    const std::size_t in = config_.layers[k], out = config_.layers[k + 1];
    const std::string layer = "layer" + std::to_string(k + 1);
    params.emplace_back(layer + ".weight", std::span<T>(values_.data() + weight_offset_[k], in * out),
                        std::span<T>(gradients_.data() + weight_offset_[k], in * out),
                        std::vector<std::int64_t>{static_cast<std::int64_t>(out), static_cast<std::int64_t>(in)});
    params.emplace_back(layer + ".bias", std::span<T>(values_.data() + bias_offset_[k], out),
                        std::span<T>(gradients_.data() + bias_offset_[k], out));
  }
  return params;
}

template <class T>
std::vector<Parameter> MLP<T>::bfloat16_parameters() {
  if (bf16_values_.empty()) {
    bf16_values_.resize(values_.size());
    bf16_gradients_.assign(values_.size(), bfloat16{0});
    for (std::size_t i = 0; i < values_.size(); ++i) bf16_values_[i] = to_bfloat16(static_cast<float>(values_[i]));
    load_bfloat16();
  }
  std::vector<Parameter> params;
  for (Parameter& p : parameters()) {
    const auto offset = static_cast<std::size_t>(static_cast<const T*>(p.value_data()) - values_.data());
    params.emplace_back(p.name(), std::span<bfloat16>(bf16_values_.data() + offset, p.size()),
                        std::span<bfloat16>(bf16_gradients_.data() + offset, p.size()), p.shape());
  }
  return params;
}

template <class T>
void MLP<T>::load_bfloat16() {
  if (bf16_values_.empty()) throw InvalidArgument("MLP::load_bfloat16: call bfloat16_parameters() first");
  for (std::size_t i = 0; i < values_.size(); ++i) values_[i] = static_cast<T>(to_float(bf16_values_[i]));
}

template <class T>
void MLP<T>::round_gradients_to_bfloat16() {
  if (bf16_values_.empty()) throw InvalidArgument("MLP::round_gradients_to_bfloat16: call bfloat16_parameters() first");
  for (std::size_t i = 0; i < gradients_.size(); ++i) bf16_gradients_[i] = to_bfloat16(static_cast<float>(gradients_[i]));
}

template <class T>
void MLP<T>::forward(std::span<const T> inputs, std::size_t batch) {
  batch_ = batch;
  const T* a = inputs.data();
  for (std::size_t k = 0; k < num_layers(); ++k) {
    const std::size_t in = config_.layers[k], out = config_.layers[k + 1];
    std::vector<T>& z = pre_[k];
    z.resize(batch * out);
    const T* b = values_.data() + bias_offset_[k];
    for (std::size_t r = 0; r < batch; ++r) std::copy(b, b + out, z.data() + r * out);  // z = b, then += a W^T
    linalg::gemm<T>(false, true, batch, out, in, T(1), a, in, values_.data() + weight_offset_[k], in, T(1), z.data(),
                    out);
    std::vector<T>& y = post_[k];
    if (k + 1 < num_layers()) {
      y.resize(z.size());
      for (std::size_t i = 0; i < z.size(); ++i) y[i] = activate(config_.activation, z[i]);
      a = y.data();
    }
  }
}

template <class T>
double MLP<T>::loss(std::span<const T> inputs, std::span<const std::int32_t> labels, bool backward) {
  const std::size_t in = config_.layers.front(), classes = config_.layers.back();
  const std::size_t batch = labels.size();
  if (batch == 0 || inputs.size() != batch * in) {
    throw InvalidArgument("MLP: " + std::to_string(inputs.size()) + " inputs for " + std::to_string(batch) +
                          " labels of " + std::to_string(in) + " features each");
  }
  forward(inputs, batch);
  const std::vector<T>& z = pre_.back();
  delta_.resize(batch * classes);
  double total = 0.0;
  for (std::size_t r = 0; r < batch; ++r) {
    const auto label = labels[r];
    if (label < 0 || static_cast<std::size_t>(label) >= classes) {
      throw InvalidArgument("MLP: label " + std::to_string(label) + " is not in [0, " + std::to_string(classes) + ")");
    }
    const T* row = z.data() + r * classes;
    T* d = delta_.data() + r * classes;
    if (config_.loss == Loss::SoftmaxCrossEntropy) {  // log-softmax, shifted by the row's max for stability
      const T max = *std::max_element(row, row + classes);
      T sum = T(0);
      for (std::size_t j = 0; j < classes; ++j) sum += std::exp(row[j] - max);
      total -= static_cast<double>(row[label] - max - std::log(sum));
      for (std::size_t j = 0; j < classes; ++j) {
        d[j] = (std::exp(row[j] - max) / sum - (static_cast<std::size_t>(label) == j ? T(1) : T(0))) / static_cast<T>(batch);
      }
    } else {  // mean squared error against the one-hot target, averaged over every output element
      for (std::size_t j = 0; j < classes; ++j) {
        const T diff = row[j] - (static_cast<std::size_t>(label) == j ? T(1) : T(0));
        total += static_cast<double>(diff * diff) / static_cast<double>(classes);
        d[j] = T(2) * diff / static_cast<T>(batch * classes);
      }
    }
  }
  if (backward) {
    for (std::size_t k = num_layers(); k-- > 0;) {
      const std::size_t lin = config_.layers[k], out = config_.layers[k + 1];
      const T* a_prev = k == 0 ? inputs.data() : post_[k - 1].data();
      linalg::gemm<T>(true, false, out, lin, batch, T(1), delta_.data(), out, a_prev, lin, T(0),
                      gradients_.data() + weight_offset_[k], lin);
      T* db = gradients_.data() + bias_offset_[k];
      std::fill(db, db + out, T(0));
      for (std::size_t r = 0; r < batch; ++r) {
        for (std::size_t j = 0; j < out; ++j) db[j] += delta_[r * out + j];
      }
      if (k == 0) break;
      delta_next_.resize(batch * lin);
      linalg::gemm<T>(false, false, batch, lin, out, T(1), delta_.data(), out, values_.data() + weight_offset_[k], lin,
                      T(0), delta_next_.data(), lin);
      const std::vector<T>& zp = pre_[k - 1];
      const std::vector<T>& ap = post_[k - 1];
      for (std::size_t i = 0; i < delta_next_.size(); ++i) delta_next_[i] *= derivative(config_.activation, zp[i], ap[i]);
      delta_.swap(delta_next_);
    }
  }
  return total / static_cast<double>(batch);
}

template <class T>
std::size_t MLP<T>::correct(std::span<const T> inputs, std::span<const std::int32_t> labels, double* loss_sum) {
  const double mean = loss(inputs, labels, false);
  if (loss_sum) *loss_sum += mean * static_cast<double>(labels.size());
  const std::size_t classes = config_.layers.back();
  std::size_t hits = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const T* row = pre_.back().data() + r * classes;
    hits += static_cast<std::size_t>(std::max_element(row, row + classes) - row) == static_cast<std::size_t>(labels[r]);
  }
  return hits;
}

template class MLP<float>;
template class MLP<double>;

}  // namespace descent::nn
