// Adam and AdamW with bfloat16 and int8 state (state_dtype): the fused kernel against its scalar reference
// on every target, the slots' layouts and bytes per parameter, independence of the thread count, accuracy
// against float32 Adam, and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/optimizers/adam.hpp"
#include "optimizers/adam/adam_reference.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

// The arrays of one low-bit call: parameter, gradient, three moments (storage bytes) and their absmax.
struct LowBitCase {
  std::vector<float> p, g;
  std::vector<std::uint8_t> state[3];
  std::vector<float> absmax[3];
  LowBitCase(std::size_t n, StateDType dtype, std::mt19937& rng) {
    std::normal_distribution<float> normal;
    for (std::size_t i = 0; i < n; ++i) {
      p.push_back(normal(rng));
      g.push_back(normal(rng) * 1e-2f);
    }
    if (n > 40) g[37] = std::numeric_limits<float>::quiet_NaN();  // its block goes NaN the same way
    const std::size_t width = dtype == StateDType::Int8 ? 1 : 2;
    for (int k = 0; k < 3; ++k) {
      state[k].resize(n * width);
      for (auto& b : state[k]) b = static_cast<std::uint8_t>(rng() & (dtype == StateDType::Int8 ? 0xff : 0x3f));
      absmax[k].resize(lowbit::blocks_of(n));
      for (float& a : absmax[k]) a = std::fabs(normal(rng)) * 1e-3f;
    }
    if (n > 2 * lowbit::kBlock) {  // a block of zero scale (its values read back as +-0) and zero gradients
      for (int k = 0; k < 3; ++k) absmax[k][1] = 0.0f;
      for (std::size_t i = lowbit::kBlock; i < 2 * lowbit::kBlock; i += 2) g[i] = -0.0f;
    }
    if (dtype == StateDType::BFloat16) {  // bfloat16 second moments must be >= 0: clear their sign bits
      for (int k = 1; k < 3; ++k) {
        for (std::size_t i = 1; i < state[k].size(); i += 2) state[k][i] &= 0x3f;
      }
    }
  }
  std::array<lowbit::StateRef, 3> refs(StateDType dtype, bool stochastic) {
    std::array<lowbit::StateRef, 3> r{};
    for (int k = 0; k < 3; ++k) {
      r[k].data = state[k].data();
      r[k].absmax = dtype == StateDType::Int8 ? absmax[k].data() : nullptr;
      r[k].is_signed = k == 0;
      r[k].rounding = {stochastic, 0x9876u + static_cast<std::uint32_t>(k)};
    }
    return r;
  }
};

// Equal bits, or both NaN (a NaN's payload may differ between scalar and vector code).
::testing::AssertionResult same_or_both_nan(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], 4) != 0) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(Kernels, AdamLowBitMatchesTheReference) {
  const auto targets = kernels::available_targets();
  const bool permutes = lowbit::byte_permute::enabled();
  for (const auto& [bits, name] : targets) {
   for (const bool permute : {false, permutes}) {  // int8 read back with gathers, and with byte permutes where the CPU has them
    const lowbit::byte_permute::TurnOff gathers(!permute);
    SCOPED_TRACE("target " + name + (permute ? ", byte permutes" : ""));
    kernels::use_only_target(bits);
    std::mt19937 rng(4242);
    for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
      for (const std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{255}, std::size_t{256},
                                  std::size_t{257}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097}}) {
        for (int variant = 0; variant < 4; ++variant) {
          SCOPED_TRACE("dtype " + std::to_string(static_cast<int>(dtype)) + ", n " + std::to_string(n) + ", variant " +
                       std::to_string(variant));
          const bool amsgrad = variant & 1, stochastic = variant & 2;
          const reference::AdamStep s{.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .l2 = 0.0,
                                      .decay_factor = amsgrad ? 0.999 : 1.0, .step_size = 0.01,
                                      .bias_correction2_sqrt = 0.03, .amsgrad = amsgrad, .maximize = false};
          LowBitCase a(n, dtype, rng);
          LowBitCase b = a;
          auto ra = a.refs(dtype, stochastic), rb = b.refs(dtype, stochastic);
          const std::size_t count = amsgrad ? 3 : 2;
          const std::uint32_t first = 16384;  // as the engine's second chunk would pass it
          kernels::adam_lowbit(s, dtype, a.p.data(), a.g.data(), ra.data(), count, first, n);
          reference::adam_lowbit(s, dtype, b.p.data(), b.g.data(), rb.data(), count, first, n);
          EXPECT_TRUE(same_or_both_nan(a.p, b.p)) << "param";
          for (int k = 0; k < 3; ++k) {
            if (dtype == StateDType::Int8) {
              EXPECT_EQ(a.state[k], b.state[k]) << "state " << k;
            } else {
              std::vector<float> fa(n), fb(n);
              for (std::size_t i = 0; i < n; ++i) {
                fa[i] = lowbit::reference::from_bfloat16(static_cast<std::uint16_t>(a.state[k][2 * i] | a.state[k][2 * i + 1] << 8));
                fb[i] = lowbit::reference::from_bfloat16(static_cast<std::uint16_t>(b.state[k][2 * i] | b.state[k][2 * i + 1] << 8));
              }
              EXPECT_TRUE(same_or_both_nan(fa, fb)) << "state " << k;
            }
            EXPECT_EQ(0, std::memcmp(a.absmax[k].data(), b.absmax[k].data(), a.absmax[k].size() * 4)) << "absmax " << k;
          }
        }
      }
    }
  }
   }
  kernels::use_only_target(0);
}

// The reference is float32 Adam on the values read back: with zero state and absmax it is exactly
// float32 Adam's first step, whose moments it then stores.
TEST(Adam, LowBitFirstStepIsFloat32Adam) {
  const std::size_t n = 600;
  std::vector<float> p(n, 0.5f), g(n), q(n, 0.5f), m(n, 0.0f), v(n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) g[i] = std::sin(static_cast<float>(i)) * 0.1f;
  std::vector<std::uint8_t> codes[2] = {std::vector<std::uint8_t>(n, 0), std::vector<std::uint8_t>(n, 0)};
  std::vector<float> absmax[2] = {std::vector<float>(3, 0.0f), std::vector<float>(3, 0.0f)};
  lowbit::StateRef refs[2] = {{codes[0].data(), absmax[0].data(), true, {}}, {codes[1].data(), absmax[1].data(), false, {}}};
  const reference::AdamStep s{.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .l2 = 0.0, .decay_factor = 1.0,
                              .step_size = 0.01, .bias_correction2_sqrt = std::sqrt(0.001), .amsgrad = false,
                              .maximize = false};
  reference::adam_lowbit(s, StateDType::Int8, p.data(), g.data(), refs, 2, 0, n);
  reference::adam<float>(s, q.data(), g.data(), m.data(), v.data(), nullptr, n);
  EXPECT_EQ(p, q);
  std::vector<float> m_back(n);
  lowbit::reference::dequantize_blockwise(codes[0].data(), absmax[0].data(), n, true, m_back.data());
  for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(m_back[i], m[i], 0.0071 * absmax[0][i / 256]) << i;
}

std::vector<float> run_adam(StateDType dtype, std::size_t n, int steps, std::size_t threads, bool amsgrad = false,
                            bool stochastic = false) {
  std::vector<float> w(n, 0.0f), g(n);
  AdamOptions o(0.01);
  o.state_dtype(dtype).amsgrad(amsgrad).stochastic_rounding(stochastic);
  Adam opt({Parameter("w", std::span(w), std::span(g))}, o);
  opt.set_num_threads(threads);
  for (int t = 0; t < steps; ++t) {
    // f = 1/2 sum a_i (w_i - c_i)^2, curvatures and centres over several magnitudes
    for (std::size_t i = 0; i < n; ++i) {
      const float a = 1.0f + static_cast<float>(i % 13), c = std::sin(static_cast<float>(i)) * 0.5f;
      g[i] = a * (w[i] - c);
    }
    opt.step();
  }
  return w;
}

TEST(Adam, LowBitStateIsTheSameForAnyThreadCount) {
  const std::size_t n = 2 * 16384 + 1000;  // three chunks of the engine
  for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
    for (const bool stochastic : {false, true}) {
      EXPECT_EQ(run_adam(dtype, n, 3, 1, true, stochastic), run_adam(dtype, n, 3, 4, true, stochastic));
    }
  }
}

// Accuracy on a quadratic: 200 steps of int8 and bfloat16 Adam end within 0.01 of where float32 Adam
// ends (lr 0.01; the minimum is at |c| <= 0.5).
TEST(Adam, LowBitStateFollowsFloat32) {
  const std::size_t n = 5000;
  const auto reference = run_adam(StateDType::Float32, n, 200, 1);
  for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
    for (const bool stochastic : {false, true}) {
      const auto w = run_adam(dtype, n, 200, 1, false, stochastic);
      double worst = 0.0;
      for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(w[i]) - reference[i]));
      EXPECT_LT(worst, 0.01) << "dtype " << static_cast<int>(dtype) << ", stochastic " << stochastic;
      EXPECT_GT(worst, 0.0);  // it did run in low precision
    }
  }
}

TEST(Adam, LowBitLayoutsAndBytesPerParameter) {
  std::vector<float> big(10000), big_g(10000), small(100), small_g(100);
  const auto bytes_per_parameter = [&](StateDType dtype, bool amsgrad) {
    AdamWOptions o;
    o.state_dtype(dtype).amsgrad(amsgrad);
    AdamW opt({Parameter("big", std::span(big), std::span(big_g)), Parameter("small", std::span(small), std::span(small_g))}, o);
    opt.step();
    double bytes = 0.0;
    for (const auto slot : opt.slot_names()) {
      if (!opt.has_state("big", slot)) continue;
      const SlotLayout l = opt.state_layout("big", slot);
      std::size_t count = 1;
      for (const auto d : l.shape) count *= static_cast<std::size_t>(d);
      bytes += static_cast<double>(count * size_of(l.dtype));
    }
    if (dtype == StateDType::Int8) {
      EXPECT_EQ(opt.state_layout("big", "exp_avg"), (SlotLayout{{10000}, DType::UInt8}));
      EXPECT_EQ(opt.state_layout("big", "exp_avg_sq_absmax"), (SlotLayout{{40}, DType::Float32}));
      EXPECT_EQ(opt.state_layout("small", "exp_avg"), (SlotLayout{{100}, DType::Float32}));  // under 4096
      EXPECT_FALSE(opt.has_state("small", "exp_avg_absmax"));
    }
    if (dtype == StateDType::BFloat16) {
      EXPECT_EQ(opt.state_layout("small", "exp_avg_sq"), (SlotLayout{{100}, DType::BFloat16}));
    }
    return bytes / 10000.0;
  };
  EXPECT_EQ(bytes_per_parameter(StateDType::Float32, false), 8.0);
  EXPECT_EQ(bytes_per_parameter(StateDType::BFloat16, false), 4.0);
  EXPECT_EQ(bytes_per_parameter(StateDType::Int8, false), 2.0 + 2 * 40 * 4 / 10000.0);  // 2.032
  EXPECT_LE(bytes_per_parameter(StateDType::Int8, true), 3.05);
}

TEST(Adam, LowBitRefusals) {
  std::vector<double> w(5000), g(5000);
  EXPECT_THROW_WITH(Adam({Parameter("w", std::span(w), std::span(g))}, AdamOptions().state_dtype(StateDType::Int8)),
                    InvalidArgument, "needs float32 parameters, but 'w' is float64");
  std::vector<float> x(5000, 1.0f), gx(5000, 0.5f);
  Adam opt({Parameter("x", std::span(x), std::span(gx))});
  opt.step();
  const auto before = x;
  opt.options().state_dtype(StateDType::Int8);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "state_dtype cannot change afterwards");
  EXPECT_EQ(x, before);
  EXPECT_EQ(opt.step_count("x"), 1);
  EXPECT_THROW_WITH(opt.options().set_choice("state_dtype", "int4"), InvalidArgument, "int4");
}

}  // namespace
}  // namespace descent

namespace descent {
namespace {

// A 5000-element parameter (quantized under int8) and a 100-element one (kept float32), a few steps in.
struct Trained {
  std::vector<float> big, big_g, small, small_g;
  std::unique_ptr<Adam> opt;
  Trained(StateDType dtype, int steps) : big(5000), big_g(5000), small(100), small_g(100) {
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::cos(static_cast<float>(i));
    AdamOptions o(0.01);
    o.state_dtype(dtype).amsgrad(true);
    opt = std::make_unique<Adam>(std::vector<Parameter>{Parameter("big", std::span(big), std::span(big_g)),
                                                        Parameter("small", std::span(small), std::span(small_g))},
                                 o);
    for (int t = 0; t < steps; ++t) step(t);
  }
  void step(int t) {
    for (std::size_t i = 0; i < big.size(); ++i) big_g[i] = (big[i] - 0.1f * static_cast<float>(i % 7)) * (1.0f + static_cast<float>(t % 3));
    for (std::size_t i = 0; i < small.size(); ++i) small_g[i] = small[i] - 1.0f;
    opt->step();
  }
  // A slot of "big" as float32, whatever its dtype.
  std::vector<float> values(std::string_view slot) const {
    const SlotLayout l = opt->state_layout("big", slot);
    std::vector<float> out(5000);
    if (l.dtype == DType::Float32) {
      const auto s = opt->state<float>("big", slot);
      out.assign(s.begin(), s.end());
    } else if (l.dtype == DType::BFloat16) {
      const auto s = opt->state<bfloat16>("big", slot);
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = to_float(s[i]);
    } else {
      const auto codes = opt->state<std::uint8_t>("big", slot);
      const auto absmax = opt->state<float>("big", std::string(slot) + "_absmax");
      lowbit::reference::dequantize_blockwise(codes.data(), absmax.data(), 5000, slot == "exp_avg", out.data());
    }
    return out;
  }
};

constexpr std::string_view kMoments[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

TEST(AdamCheckpoint, Int8StateIsSavedAsCodesAndBlockScales) {
  Trained a(StateDType::Int8, 3);
  const StateDict d = a.opt->state_dict();
  EXPECT_EQ(d.tensors.at("state/big/exp_avg").type, TensorType::U8);
  EXPECT_EQ(d.tensors.at("state/big/exp_avg").shape, (std::vector<std::int64_t>{5000}));
  EXPECT_EQ(d.tensors.at("state/big/exp_avg_sq_absmax").type, TensorType::F32);
  EXPECT_EQ(d.tensors.at("state/big/exp_avg_sq_absmax").shape, (std::vector<std::int64_t>{20}));
  EXPECT_EQ(d.tensors.at("state/small/exp_avg").type, TensorType::F32);
  EXPECT_EQ(d.tensors.count("state/small/exp_avg_absmax"), 0u);
  EXPECT_NE(d.meta("groups").find("\"state_dtype\":\"int8\""), std::string::npos);
  // Same dtype: loads as it is and resumes bitwise.
  Trained b(StateDType::Int8, 0);
  b.big = a.big;
  b.opt->load_state_dict(d);
  a.step(3);
  b.step(3);
  EXPECT_EQ(a.big, b.big);
  for (const auto slot : kMoments) EXPECT_EQ(a.values(slot), b.values(slot)) << slot;
}

// float32 -> int8 quantizes each moment once (nearest): within 0.71% (m) and 0.36% (v) of its block's
// absmax; int8 -> float32 reads the codes back exactly; float32 -> bfloat16 rounds to nearest even
// (relative error <= 2^-8).
TEST(AdamCheckpoint, LoadsAcrossStateDtypes) {
  for (const StateDType from : {StateDType::Float32, StateDType::BFloat16, StateDType::Int8}) {
    for (const StateDType to : {StateDType::Float32, StateDType::BFloat16, StateDType::Int8}) {
      SCOPED_TRACE("from " + std::to_string(static_cast<int>(from)) + " to " + std::to_string(static_cast<int>(to)));
      Trained a(from, 4);
      Trained b(to, 0);
      b.big = a.big;
      b.small = a.small;
      const LoadReport report = b.opt->load_state_dict(a.opt->state_dict());  // strict
      EXPECT_TRUE(report.unexpected.empty());
      EXPECT_EQ(b.opt->options().state_dtype(), to);  // the group keeps its layout
      EXPECT_EQ(b.opt->state_layout("big", "exp_avg").dtype,
                to == StateDType::Float32 ? DType::Float32 : to == StateDType::BFloat16 ? DType::BFloat16 : DType::UInt8);
      for (const auto slot : kMoments) {
        const auto want = a.values(slot), got = b.values(slot);
        if (to == StateDType::Float32 || to == from) {
          EXPECT_EQ(got, want) << slot;
          continue;
        }
        for (std::size_t i = 0; i < want.size(); ++i) {
          double bound;
          if (to == StateDType::BFloat16) {
            bound = std::fabs(want[i]) * 0x1p-8;  // half a unit in the last of 8 significant bits
          } else {
            float top = 0.0f;
            for (std::size_t j = i / 256 * 256; j < std::min<std::size_t>(want.size(), i / 256 * 256 + 256); ++j) top = std::max(top, std::fabs(want[j]));
            bound = (slot == "exp_avg" ? 0.0071 : 0.0036) * top;
          }
          ASSERT_LE(std::fabs(double(got[i]) - want[i]), bound) << slot << " element " << i;
        }
      }
      // and it trains on: the next step (lr 0.01) differs by less than a fifth of a step
      a.step(4);
      b.step(4);
      double worst = 0.0;
      for (std::size_t i = 0; i < a.big.size(); ++i) worst = std::max(worst, std::fabs(double(a.big[i]) - b.big[i]));
      EXPECT_LT(worst, 2e-3);
    }
  }
}

TEST(AdamCheckpoint, CodesWithoutTheirBlockScalesAreRefused) {
  Trained a(StateDType::Int8, 2);
  StateDict d = a.opt->state_dict();
  d.tensors.erase("state/big/exp_avg_absmax");
  Trained b(StateDType::Float32, 0);
  const auto before = b.big;
  EXPECT_THROW_WITH(b.opt->load_state_dict(d), InvalidArgument, "need 'state/big/exp_avg_absmax' as F32 [20]");
  EXPECT_EQ(b.big, before);
  EXPECT_EQ(b.opt->step_count("big"), 0);
  // an infinite block scale is refused too
  d = a.opt->state_dict();
  auto& scales = d.tensors.at("state/big/exp_avg_sq_absmax");
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(scales.bytes.data() + 8, &inf, 4);
  EXPECT_THROW_WITH(b.opt->load_state_dict(d), InvalidArgument, "exp_avg_sq_absmax' holds inf at element 2");
  Trained c(StateDType::Int8, 0);
  EXPECT_THROW_WITH(c.opt->load_state_dict(d), InvalidArgument, "exp_avg_sq_absmax' holds inf at element 2");
}

}  // namespace
}  // namespace descent
