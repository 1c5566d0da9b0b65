// A small libtorch model for the adapter's tests: a 3x3 convolution (1 -> 3 channels), ReLU, a linear
// layer to 6 and one to 4, on 8x8 inputs, built from ATen's functional ops on named leaf tensors (what a
// torch::nn::Module's named_parameters() holds), so that the tests include no <torch/nn/...> header.
// Values and data come from a fixed integer hash, so two models built with the same seed are identical.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace descent::torch_test {

// A value in [-0.5, 0.5) from (seed, index): splitmix64's finalizer.
inline double hashed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / 9007199254740992.0 - 0.5;
}

inline at::Tensor filled(std::vector<std::int64_t> shape, at::ScalarType dtype, std::uint64_t seed, double scale) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  const auto n = static_cast<std::uint64_t>(t.numel());
  for (std::uint64_t i = 0; i < n; ++i) {
    const double v = scale * hashed(seed, i);
    if (dtype == at::kFloat) t.data_ptr<float>()[i] = static_cast<float>(v);
    else t.data_ptr<double>()[i] = v;
  }
  return t;
}

struct Model {
  std::vector<std::pair<std::string, at::Tensor>> params;

  explicit Model(at::ScalarType dtype, std::uint64_t seed = 1) {
    const auto add = [&](std::string name, std::vector<std::int64_t> shape, double scale) {
      params.emplace_back(std::move(name), filled(std::move(shape), dtype, seed * 100 + params.size(), scale).requires_grad_(true));
    };
    add("conv.weight", {3, 1, 3, 3}, 0.6);
    add("conv.bias", {3}, 0.2);
    add("fc1.weight", {6, 108}, 0.2);
    add("fc1.bias", {6}, 0.2);
    add("fc2.weight", {4, 6}, 0.8);
    add("fc2.bias", {4}, 0.2);
  }
  const at::Tensor& operator[](std::size_t i) const { return params[i].second; }
  std::vector<at::Tensor> tensors() const {
    std::vector<at::Tensor> out;
    for (const auto& [name, t] : params) out.push_back(t);
    return out;
  }

  // The mean squared error on batch `step` (8 inputs of 1x8x8, 4 targets each).
  at::Tensor loss(std::int64_t step) const {
    const at::ScalarType dtype = params[0].second.scalar_type();
    const at::Tensor x = filled({8, 1, 8, 8}, dtype, 1000003 + static_cast<std::uint64_t>(step), 2.0);
    const at::Tensor y = filled({8, 4}, dtype, 2000003 + static_cast<std::uint64_t>(step), 1.0);
    at::Tensor h = at::conv2d(x, params[0].second, params[1].second).relu().reshape({8, 108});
    h = at::linear(h, params[2].second, params[3].second).tanh();
    const at::Tensor out = at::linear(h, params[4].second, params[5].second);
    return out.sub(y).pow(2).mean();
  }
};

// The first parameter whose bytes differ between the two models, or "" when all are bitwise equal.
inline std::string first_difference(const Model& a, const Model& b) {
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    const at::Tensor& x = a[i];
    const at::Tensor& y = b[i];
    if (std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<std::size_t>(x.numel()) * x.element_size()) != 0) {
      return a.params[i].first;
    }
  }
  return "";
}

}  // namespace descent::torch_test
