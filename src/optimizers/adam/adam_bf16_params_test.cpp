// Adam and AdamW on bfloat16 parameters (bf16_params: kahan, master, none; src/lowbit/bf16_params.hpp):
// trajectories bitwise against the NumPy reference (tests/reference/generate_bf16_params.py), the slots'
// layouts and checkpoints, why compensation matters (a closed form), and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "descent/compose.hpp"
#include "descent/optimizers/adam.hpp"
#include "descent/optimizers/sgd.hpp"
#include "descent/schedule.hpp"
#include "support/expect_throw.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

const testing::SafetensorsFile& reference_file() {
  static const testing::SafetensorsFile file =
      testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/bf16_params.safetensors");
  return file;
}

template <class T>
std::vector<T> tensor(const std::string& name) {
  return testing::as<T>(reference_file().tensors.at(name));
}

std::vector<std::uint16_t> bits_of(std::span<const bfloat16> x) {
  std::vector<std::uint16_t> out;
  for (const bfloat16 v : x) out.push_back(v.bits);
  return out;
}

std::vector<bfloat16> bfloat16s(const std::vector<std::uint16_t>& bits) {
  std::vector<bfloat16> out;
  for (const std::uint16_t b : bits) out.push_back({b});
  return out;
}

// Writes into the gradient's own memory: the parameter views it (a vector assigned from a temporary would
// take the temporary's buffer).
void feed(std::vector<bfloat16>& grad, const std::vector<std::uint16_t>& bits) {
  ASSERT_EQ(grad.size(), bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) grad[i] = {bits[i]};
}

std::vector<std::uint32_t> bits_of(std::span<const float> x) {
  std::vector<std::uint32_t> out(x.size());
  std::memcpy(out.data(), x.data(), x.size() * 4);
  return out;
}

struct Case {
  const char* name;
  bool decoupled;
  double weight_decay;
  bool bf16_state;
};
constexpr Case kCases[] = {{"adam", false, 0.0, false},
                           {"adam_l2", false, 0.1, false},
                           {"adamw", true, 0.1, false},
                           {"adam_bf16_state", false, 0.0, true}};
constexpr std::size_t kSizes[] = {1, 255, 257, 1000};
constexpr int kSteps = 5;

template <class OptionsT>
OptionsT options_for(const Case& c, BF16Params mode) {
  OptionsT o(1e-3);
  o.weight_decay(c.weight_decay).bf16_params(mode);
  if (c.bf16_state) o.state_dtype(StateDType::BFloat16);
  return o;
}

std::unique_ptr<Optimizer> build(const Case& c, BF16Params mode, std::vector<Parameter> params) {
  if (c.decoupled) return std::make_unique<AdamW>(std::move(params), options_for<AdamWOptions>(c, mode));
  return std::make_unique<Adam>(std::move(params), options_for<AdamOptions>(c, mode));
}

TEST(AdamBF16Params, TrajectoriesMatchTheNumpyReferenceBitwise) {
  for (const std::size_t n : kSizes) {
    for (const Case& c : kCases) {
      for (const BF16Params mode : {BF16Params::Kahan, BF16Params::Master, BF16Params::None}) {
        if (c.bf16_state && mode != BF16Params::Kahan) continue;
        const std::string mode_name(kBF16ParamsNames[static_cast<int>(mode)]);
        const std::string prefix = std::to_string(n) + "/" + c.name + "/" + mode_name + "/";
        SCOPED_TRACE(prefix);
        std::vector<bfloat16> p = bfloat16s(tensor<std::uint16_t>(std::to_string(n) + "/param0"));
        std::vector<bfloat16> g(n);
        auto opt = build(c, mode, {Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))});
        opt->set_num_threads(2);
        for (int t = 1; t <= kSteps; ++t) {
          feed(g, tensor<std::uint16_t>(std::to_string(n) + "/grad/" + std::to_string(t)));
          ASSERT_TRUE(opt->step());
          const std::string at = prefix + std::to_string(t) + "/";
          ASSERT_EQ(bits_of(std::span<const bfloat16>(p)), tensor<std::uint16_t>(at + "param")) << "step " << t;
          if (mode == BF16Params::Kahan) {
            ASSERT_EQ(bits_of(opt->state<bfloat16>("w", "kahan_compensation")),
                      tensor<std::uint16_t>(at + "kahan_compensation")) << "step " << t;
          }
        }
        const std::string last = prefix + std::to_string(kSteps) + "/";
        if (mode == BF16Params::Master) {
          EXPECT_EQ(bits_of(opt->state<float>("w", "master_param")), tensor<std::uint32_t>(last + "master_param"));
        }
        for (const char* slot : {"exp_avg", "exp_avg_sq"}) {
          if (c.bf16_state) {
            EXPECT_EQ(bits_of(opt->state<bfloat16>("w", slot)), tensor<std::uint16_t>(last + slot)) << slot;
          } else {
            EXPECT_EQ(bits_of(opt->state<float>("w", slot)), tensor<std::uint32_t>(last + slot)) << slot;
          }
        }
      }
    }
  }
}

// Adam with a constant gradient steps by lr * g / (|g| + eps) ~ lr each step (bias-corrected m / sqrt(v) = 1).
// From 1.0, whose bfloat16 neighbours are 2^-8 below and 2^-7 above, a step of 1e-4 is under half an ulp:
// rounding each step (none) never moves; kahan and master reach 1 - 200 lr = 0.98. Error bounds, per step
// in [0.5, 1]: master rounds p32 + step to float32 (2^-24); kahan also rounds the residual, |c| <= 2^-9,
// to bfloat16 (2^-9 * 2^-8 = 2^-17).
TEST(AdamBF16Params, CompensationKeepsUpdatesBelowHalfAnUlp) {
  const double expected = 1.0 - 200 * 1e-4;
  for (const BF16Params mode : {BF16Params::Kahan, BF16Params::Master, BF16Params::None}) {
    SCOPED_TRACE(std::string(kBF16ParamsNames[static_cast<int>(mode)]));
    std::vector<bfloat16> p(300, to_bfloat16(1.0f)), g(300, to_bfloat16(0.5f));
    Adam opt({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))}, AdamOptions(1e-4).bf16_params(mode));
    for (int t = 0; t < 200; ++t) opt.step();
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (mode == BF16Params::None) {
        ASSERT_EQ(to_float(p[i]), 1.0f);
      } else if (mode == BF16Params::Master) {
        ASSERT_NEAR(opt.state<float>("w", "master_param")[i], expected, 200 * std::ldexp(1.0, -23));
        ASSERT_EQ(p[i], to_bfloat16(opt.state<float>("w", "master_param")[i]));
      } else {
        const double kept = static_cast<double>(to_float(p[i])) + to_float(opt.state<bfloat16>("w", "kahan_compensation")[i]);
        ASSERT_NEAR(kept, expected, 200 * (std::ldexp(1.0, -17) + std::ldexp(1.0, -23)));
        ASSERT_LT(to_float(p[i]), 0.985f);  // the bfloat16 value itself moved (0.98 is 2.6 ulps below 1)
      }
    }
  }
}

TEST(AdamBF16Params, SlotsHaveTheirOwnDtypesAndFloat32MomentsWhateverTheParameter) {
  std::vector<bfloat16> p(10, to_bfloat16(1.0f)), g(10, to_bfloat16(0.5f));
  std::vector<float> q(10, 1.0f), h(10, 0.5f);
  AdamW opt({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g)),
             Parameter("f", std::span<float>(q), std::span<float>(h))},
            AdamWOptions().bf16_params(BF16Params::Master));
  EXPECT_EQ(opt.state_layout("w", "master_param"), (SlotLayout{{10}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("w", "exp_avg"), (SlotLayout{{10}, DType::Float32}));
  EXPECT_EQ(opt.state_layout("w", "kahan_compensation"), (SlotLayout{{0}, DType::BFloat16}));
  EXPECT_EQ(opt.state_layout("f", "master_param"), (SlotLayout{{0}, DType::Float32}));  // float32: no copy
  opt.step();
  // The master copy starts from the bfloat16 values: the first AdamW step moves it by lr (1e-3) after decay.
  EXPECT_NEAR(opt.state<float>("w", "master_param")[0], 1.0 * (1 - 1e-3 * 1e-2) - 1e-3, 3e-7);
  EXPECT_EQ(q, std::vector<float>(10, opt.state<float>("w", "master_param")[0]));  // the float32 rule, same result
}

TEST(AdamBF16Params, CheckpointRoundTripResumesBitwise) {
  for (const BF16Params mode : {BF16Params::Kahan, BF16Params::Master}) {
    SCOPED_TRACE(std::string(kBF16ParamsNames[static_cast<int>(mode)]));
    std::vector<bfloat16> p = bfloat16s(tensor<std::uint16_t>("257/param0")), g(257);
    std::vector<bfloat16> p2 = p, g2(257);
    Adam a({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))}, AdamOptions().bf16_params(mode));
    Adam b({Parameter("w", std::span<bfloat16>(p2), std::span<bfloat16>(g2))}, AdamOptions().bf16_params(mode));
    for (int t = 1; t <= 3; ++t) {
      feed(g, tensor<std::uint16_t>("257/grad/" + std::to_string(t)));
      a.step();
    }
    const StateDict d = a.state_dict(/*with_parameters=*/true);
    const std::string slot = mode == BF16Params::Kahan ? "kahan_compensation" : "master_param";
    EXPECT_EQ(d.tensors.at("state/w/" + slot).type, mode == BF16Params::Kahan ? TensorType::BF16 : TensorType::F32);
    EXPECT_EQ(d.tensors.at("state/w/" + slot).shape, (std::vector<std::int64_t>{257}));
    EXPECT_EQ(d.tensors.at("param/w").type, TensorType::BF16);
    EXPECT_EQ(d.tensors.count("state/w/" + std::string(mode == BF16Params::Kahan ? "master_param" : "kahan_compensation")), 0u);
    // Saved only when not the default (kahan), as state_dtype: a checkpoint without it means kahan.
    EXPECT_EQ(d.meta("groups").find("\"bf16_params\":\"master\"") != std::string::npos, mode == BF16Params::Master);
    b.load_state_dict(d);  // strict, parameters included
    EXPECT_EQ(p2, p);
    for (int t = 4; t <= 5; ++t) {
      feed(g, tensor<std::uint16_t>("257/grad/" + std::to_string(t)));
      feed(g2, tensor<std::uint16_t>("257/grad/" + std::to_string(t)));
      a.step();
      b.step();
    }
    EXPECT_EQ(p2, p);
    EXPECT_EQ(p, bfloat16s(tensor<std::uint16_t>("257/adam/" + std::string(kBF16ParamsNames[static_cast<int>(mode)]) + "/5/param")));
  }
}

TEST(AdamBF16Params, ACheckpointOfAnotherBF16ParamsIsRefused) {
  std::vector<bfloat16> p(8, to_bfloat16(1.0f)), g(8, to_bfloat16(0.5f)), p2 = p, g2 = g;
  Adam a({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))}, AdamOptions().bf16_params(BF16Params::Master));
  Adam b({Parameter("w", std::span<bfloat16>(p2), std::span<bfloat16>(g2))});  // kahan
  a.step();
  b.step();
  const std::vector<bfloat16> before = p2;
  EXPECT_THROW_WITH(b.load_state_dict(a.state_dict(true)), InvalidArgument,
                    "bf16_params=master was saved, but this group has bf16_params=kahan");
  EXPECT_EQ(p2, before);
  EXPECT_EQ(b.options().bf16_params(), BF16Params::Kahan);

  // Without bfloat16 parameters the option lays out nothing: the saved value loads, as any option does.
  std::vector<float> w(8, 1.0f), wg(8, 0.5f), w2 = w, wg2 = wg;
  Adam c({Parameter("w", std::span(w), std::span(wg))}, AdamOptions().bf16_params(BF16Params::Master));
  Adam d({Parameter("w", std::span(w2), std::span(wg2))});  // kahan
  c.step();
  d.load_state_dict(c.state_dict(true));
  EXPECT_EQ(d.options().bf16_params(), BF16Params::Master);
  d.step();
  c.step();
  EXPECT_EQ(w2, w);
}

TEST(AdamBF16Params, OtherOptimizersAndWrappersRefuseThemNamingTheParameter) {
  std::vector<bfloat16> p(4, to_bfloat16(1.0f)), g(4, to_bfloat16(0.5f));
  std::vector<float> q(4, 1.0f), h(4, 0.5f);
  EXPECT_THROW_WITH(SGD({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))}, SGDOptions(0.1)),
                    InvalidArgument, "'w' is bfloat16, but SGD takes float32 or float64 parameters only");
  SGD sgd({Parameter("f", std::span<float>(q), std::span<float>(h))}, SGDOptions(0.1));
  EXPECT_THROW_WITH(sgd.add_param_group({Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))}),
                    InvalidArgument, "'w' is bfloat16");
  EXPECT_EQ(sgd.num_parameters(), 1u);  // nothing added
  auto adam = std::make_unique<Adam>(std::vector<Parameter>{Parameter("f", std::span<float>(q), std::span<float>(h)),
                                                              Parameter("w", std::span<bfloat16>(p), std::span<bfloat16>(g))});
  // Clipping computes in float32 or float64: it refuses before touching the float32 gradient.
  EXPECT_THROW_WITH(clip_grad_value(*adam, 0.1), InvalidArgument, "the gradient of 'w' is bfloat16");
  EXPECT_THROW_WITH(clip_grad_norm(*adam, 0.1), InvalidArgument, "the gradient of 'w' is bfloat16");
  EXPECT_EQ(h, std::vector<float>(4, 0.5f));
  EXPECT_THROW_WITH(EMA(std::move(adam)), InvalidArgument, "'w' is bfloat16");
}

TEST(AdamBF16Params, BadGradientsAreRefusedAndChangeNothing) {
  std::vector<bfloat16> p(300, to_bfloat16(1.0f)), g(300, to_bfloat16(0.5f)), short_grad(299);
  std::vector<float> float_grad(300);
  Parameter w("w", std::span<bfloat16>(p), std::span<bfloat16>(g));
  EXPECT_THROW_WITH(w.set_grad(std::span<float>(float_grad)), InvalidArgument,
                    "'w' is bfloat16 but its gradient is float32");
  EXPECT_THROW_WITH(Parameter("v", std::span<bfloat16>(p), std::span<bfloat16>(short_grad)), InvalidArgument,
                    "gradient has 299 elements but the value has 300");
  Adam opt({w});
  opt.step();
  const std::vector<bfloat16> before = p;
  const std::vector<bfloat16> compensation(opt.state<bfloat16>("w", "kahan_compensation").begin(),
                                           opt.state<bfloat16>("w", "kahan_compensation").end());
  g[123] = to_bfloat16(std::numeric_limits<float>::infinity());
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "the gradient of 'w' is inf at element 123");
  opt.set_nonfinite_policy(NonFinitePolicy::Skip);
  EXPECT_FALSE(opt.step());
  g[123] = to_bfloat16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_FALSE(opt.step());
  EXPECT_EQ(p, before);
  EXPECT_EQ(opt.step_count("w"), 1);
  EXPECT_TRUE(std::equal(compensation.begin(), compensation.end(), opt.state<bfloat16>("w", "kahan_compensation").begin()));
  // bf16_params is fixed when the group is added, as state_dtype is.
  g[123] = to_bfloat16(0.5f);
  opt.options().bf16_params(BF16Params::Master);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "bf16_params cannot change");
  EXPECT_EQ(p, before);
}

}  // namespace
}  // namespace descent
