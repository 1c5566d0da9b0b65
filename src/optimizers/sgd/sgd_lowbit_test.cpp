// SGD with momentum with a bfloat16 or int8 momentum buffer (state_dtype): the kernel against its scalar
// reference on every target, and the trajectory against float32 SGD's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "descent/optimizers/sgd.hpp"
#include "optimizers/sgd/sgd_reference.hpp"

namespace descent {
namespace {

TEST(Kernels, SgdLowBitMatchesTheReference) {
  for (const auto& [bits, name] : kernels::available_targets()) {
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    std::mt19937 rng(77);
    std::normal_distribution<float> normal;
    for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
      for (const std::size_t n : {std::size_t{1}, std::size_t{255}, std::size_t{257}, std::size_t{4097}}) {
        for (const bool stochastic : {false, true}) {
          SCOPED_TRACE("n " + std::to_string(n));
          std::vector<float> p(n), g(n), absmax(lowbit::blocks_of(n));
          for (std::size_t i = 0; i < n; ++i) {
            p[i] = normal(rng);
            g[i] = normal(rng);
          }
          for (float& a : absmax) a = std::fabs(normal(rng));
          std::vector<std::uint8_t> state(n * (dtype == StateDType::Int8 ? 1 : 2));
          for (auto& b : state) b = static_cast<std::uint8_t>(rng() & 0x3f);
          auto q = p;
          auto state_b = state;
          auto absmax_b = absmax;
          lowbit::StateRef a_ref{state.data(), dtype == StateDType::Int8 ? absmax.data() : nullptr, true, {stochastic, 5u}};
          lowbit::StateRef b_ref{state_b.data(), dtype == StateDType::Int8 ? absmax_b.data() : nullptr, true, {stochastic, 5u}};
          const reference::SGDStep s{0.1, 0.9, 0.1, 0.01, false, false, false};
          kernels::sgd_lowbit(s, dtype, p.data(), g.data(), &a_ref, 1, 256, n);
          reference::sgd_lowbit(s, dtype, q.data(), g.data(), &b_ref, 1, 256, n);
          EXPECT_EQ(0, std::memcmp(p.data(), q.data(), n * 4));
          EXPECT_EQ(state, state_b);
          EXPECT_EQ(0, std::memcmp(absmax.data(), absmax_b.data(), absmax.size() * 4));
        }
      }
    }
  }
  kernels::use_only_target(0);
}

TEST(SGD, LowBitMomentumFollowsFloat32) {
  const std::size_t n = 5000;
  const auto run = [&](StateDType dtype, std::size_t threads) {
    std::vector<float> w(n, 0.0f), g(n);
    SGDOptions o(0.02);
    o.momentum(0.9).state_dtype(dtype);
    SGD opt({Parameter("w", std::span(w), std::span(g))}, o);
    opt.set_num_threads(threads);
    for (int t = 0; t < 200; ++t) {
      for (std::size_t i = 0; i < n; ++i) g[i] = (1.0f + static_cast<float>(i % 5)) * (w[i] - std::sin(static_cast<float>(i)));
      opt.step();
    }
    return w;
  };
  const auto reference = run(StateDType::Float32, 1);
  for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
    const auto w = run(dtype, 1);
    EXPECT_EQ(w, run(dtype, 3));
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(w[i]) - reference[i]));
    EXPECT_LT(worst, 1e-2) << static_cast<int>(dtype);
  }
}

}  // namespace
}  // namespace descent
