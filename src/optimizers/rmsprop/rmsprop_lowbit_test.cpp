// RMSprop with bfloat16 or int8 state (state_dtype): the kernel against its scalar reference on every
// target with every combination of slots, and the trajectory against float32 RMSprop's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/optimizers/rmsprop.hpp"
#include "optimizers/rmsprop/rmsprop_reference.hpp"

namespace descent {
namespace {

TEST(Kernels, RmspropLowBitMatchesTheReference) {
  for (const auto& [bits, name] : kernels::available_targets()) {
    SCOPED_TRACE("target " + name);
    kernels::use_only_target(bits);
    std::mt19937 rng(78);
    std::normal_distribution<float> normal;
    for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
      for (const std::size_t n : {std::size_t{1}, std::size_t{255}, std::size_t{257}, std::size_t{4097}}) {
        for (int variant = 0; variant < 4; ++variant) {
          SCOPED_TRACE("n " + std::to_string(n) + " variant " + std::to_string(variant));
          const bool has_buf = variant & 1, centered = variant & 2;
          const std::size_t count = 1 + has_buf + centered;
          std::vector<float> p(n), g(n);
          for (std::size_t i = 0; i < n; ++i) {
            p[i] = normal(rng);
            g[i] = normal(rng);
          }
          std::vector<std::uint8_t> state[3];
          std::vector<float> absmax[3];
          for (std::size_t k = 0; k < 3; ++k) {
            state[k].resize(n * (dtype == StateDType::Int8 ? 1 : 2));
            for (auto& b : state[k]) b = static_cast<std::uint8_t>(rng() & 0x3f);
            absmax[k].resize(lowbit::blocks_of(n));
            for (float& a : absmax[k]) a = std::fabs(normal(rng));
          }
          auto q = p;
          auto state_b = state[0], s1 = state[1], s2 = state[2];
          std::vector<std::uint8_t>* sb[3] = {&state_b, &s1, &s2};
          auto ab = absmax[0], a1 = absmax[1], a2 = absmax[2];
          std::vector<float>* abp[3] = {&ab, &a1, &a2};
          lowbit::StateRef ra[3], rb[3];
          for (std::size_t k = 0; k < 3; ++k) {
            const bool is_int8 = dtype == StateDType::Int8;
            ra[k] = {state[k].data(), is_int8 ? absmax[k].data() : nullptr, k != 0, {variant == 3, 9u}};
            rb[k] = {sb[k]->data(), is_int8 ? abp[k]->data() : nullptr, k != 0, {variant == 3, 9u}};
          }
          const reference::RMSpropStep s{0.01, 0.99, 1e-8, 0.0, 0.5, centered, false};
          kernels::rmsprop_lowbit(s, dtype, has_buf, centered, p.data(), g.data(), ra, count, 0, n);
          reference::rmsprop_lowbit(s, dtype, has_buf, centered, q.data(), g.data(), rb, count, 0, n);
          for (std::size_t i = 0; i < n; ++i) {
            if (std::isnan(p[i]) && std::isnan(q[i])) continue;
            ASSERT_EQ(0, std::memcmp(&p[i], &q[i], 4)) << i;
          }
          for (std::size_t k = 0; k < count; ++k) {
            EXPECT_EQ(state[k], *sb[k]) << k;
            EXPECT_EQ(0, std::memcmp(absmax[k].data(), abp[k]->data(), absmax[k].size() * 4)) << k;
          }
        }
      }
    }
  }
  kernels::use_only_target(0);
}

TEST(RMSprop, LowBitStateFollowsFloat32) {
  const std::size_t n = 5000;
  const auto run = [&](StateDType dtype, std::size_t threads) {
    std::vector<float> w(n, 0.0f), g(n);
    RMSpropOptions o(0.002);
    o.momentum(0.5).state_dtype(dtype);
    RMSprop opt({Parameter("w", std::span(w), std::span(g))}, o);
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
    EXPECT_LT(worst, 2e-2) << static_cast<int>(dtype);
  }
  RMSpropOptions centered;
  centered.centered(true);
  EXPECT_THROW(centered.state_dtype(StateDType::Int8).validate(), InvalidArgument);
}

}  // namespace
}  // namespace descent
