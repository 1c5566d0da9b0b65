// The benchmarks' subject: n float32 parameters split into `tensors` equal tensors ("p0", "p1", ...),
// values and gradients drawn from a seeded normal distribution, so every benchmark steps the same numbers.
#pragma once

#include <cstddef>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "descent/parameter.hpp"

namespace descent::bench {

struct SplitParameters {
  std::vector<float> w, g;  // the memory the parameters view; must outlive the optimizer

  SplitParameters(std::size_t n, std::size_t tensors) : w(n / tensors * tensors), g(w.size()) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    for (auto& v : w) v = normal(rng);
    for (auto& v : g) v = normal(rng);
  }

  std::vector<Parameter> params(std::size_t tensors) {
    const std::size_t each = w.size() / tensors;
    std::vector<Parameter> out;
    for (std::size_t t = 0; t < tensors; ++t) {
      out.emplace_back("p" + std::to_string(t), std::span(w).subspan(t * each, each), std::span(g).subspan(t * each, each));
    }
    return out;
  }
};

}  // namespace descent::bench
