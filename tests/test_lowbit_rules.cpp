// Low-bit state (state_dtype bfloat16 and int8) of every element-wise rule, table-driven: one row per rule
// and the state dtypes it takes. For each row, dtype and rounding (nearest, stochastic):
//  (a) the block loop with the dispatched kernels (lowbit::with_float_blocks) gives the bits of
//      lowbit::reference::with_float_state around the rule's scalar reference, on every target;
//  (b) one step of the optimizer equals the float32 rule's step from the same state (read back exactly)
//      followed by rounding the new state, bit for bit, on every target: the definition, which ties the
//      low-bit path to the float32 rule and through it to the PyTorch/NumPy references;
//  (c) a bfloat16 checkpoint loads into a float32 optimizer and back without changing a bit;
// and the refusals (float64 parameters, int8 where only bfloat16 is taken, state_dtype changed after the
// group was laid out), independence of the thread count, and convergence on a quadratic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "descent/compose.hpp"
#include "descent/factory.hpp"
#include "lowbit/state.hpp"
#include "optimizers/adadelta/adadelta_reference.hpp"
#include "optimizers/adagrad/adagrad_reference.hpp"
#include "optimizers/adamax/adamax_reference.hpp"
#include "optimizers/asgd/asgd_reference.hpp"
#include "optimizers/lamb/lamb_reference.hpp"
#include "optimizers/lars/lars_reference.hpp"
#include "optimizers/lion/lion_reference.hpp"
#include "optimizers/nadam/nadam_reference.hpp"
#include "optimizers/radam/radam_reference.hpp"
#include "optimizers/rmsprop/rmsprop_reference.hpp"
#include "optimizers/rprop/rprop_reference.hpp"
#include "optimizers/schedule_free/schedule_free_reference.hpp"
#include "optimizers/sgd/sgd_reference.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

// One rule: its registry name, options that make its state do something (momentum, averaging), and
// whether it takes int8 state (the issue asks int8 of Adam, AdamW, Lion, SGD and RMSprop only).
struct Rule {
  std::string_view name;
  std::map<std::string, double> options;
  bool int8;
};

const Rule kRules[] = {
    {"sgd", {{"momentum", 0.9}, {"dampening", 0.1}}, true},
    {"rmsprop", {{"momentum", 0.5}}, true},
    {"adam", {{"amsgrad", 1.0}}, true},
    {"adamw", {}, true},
    {"lion", {{"weight_decay", 0.1}}, true},
    {"adagrad", {{"initial_accumulator_value", 0.1}}, false},
    {"adadelta", {}, false},
    {"adamax", {}, false},
    {"nadam", {}, false},
    {"radam", {}, false},
    {"lars", {{"momentum", 0.9}}, false},
    {"lamb", {}, false},
    {"rprop", {}, false},
    {"asgd", {{"t0", 1.0}, {"lambd", 1e-3}}, false},
    {"sgdschedulefree", {{"warmup_steps", 2.0}}, false},
    {"adamwschedulefree", {{"warmup_steps", 2.0}}, false},
};

std::string row_name(const Rule& rule, StateDType dtype, bool stochastic) {
  return std::string(rule.name) + " " + std::string(kStateDTypeNames[static_cast<int>(dtype)]) +
         (stochastic ? " stochastic" : " nearest");
}

std::vector<StateDType> low_dtypes(const Rule& rule) {
  if (rule.int8) return {StateDType::BFloat16, StateDType::Int8};
  return {StateDType::BFloat16};
}

// Two float32 tensors: one that int8 quantizes (4097 elements: 16 whole blocks and one of 1) and one it
// keeps in float32 (300 elements), with gradients of a quadratic.
struct Model {
  static constexpr std::size_t kSizes[2] = {4097, 300};
  static constexpr std::string_view kNames[2] = {"big", "small"};
  std::vector<float> w[2], g[2];
  Model() {
    for (int k = 0; k < 2; ++k) {
      w[k].resize(kSizes[k]);
      g[k].resize(kSizes[k]);
      for (std::size_t i = 0; i < kSizes[k]; ++i) w[k][i] = std::cos(static_cast<float>(i + 7 * k));
    }
  }
  Model(const Model& other) : w{other.w[0], other.w[1]}, g{other.g[0], other.g[1]} {}
  std::vector<Parameter> params() {
    return {Parameter(std::string(kNames[0]), std::span(w[0]), std::span(g[0])),
            Parameter(std::string(kNames[1]), std::span(w[1]), std::span(g[1]))};
  }
  // f = 1/2 sum a_i (w_i - c_i)^2 with curvatures a_i in [1, 5], plus a wobble that changes each step.
  void gradients(int t) {
    for (int k = 0; k < 2; ++k) {
      for (std::size_t i = 0; i < w[k].size(); ++i) {
        const float a = 1.0f + static_cast<float>(i % 5), c = 0.5f * std::sin(static_cast<float>(i));
        g[k][i] = a * (w[k][i] - c) + 0.01f * std::cos(static_cast<float>(i + 3 * static_cast<std::size_t>(t)));
      }
    }
  }
};

std::unique_ptr<Optimizer> make(const Rule& rule, Model& model, StateDType dtype, bool stochastic) {
  auto overrides = rule.options;
  overrides["state_dtype"] = static_cast<double>(static_cast<int>(dtype));
  overrides["stochastic_rounding"] = stochastic ? 1.0 : 0.0;
  return make_optimizer(rule.name, model.params(), overrides);
}

void steps(Optimizer& opt, Model& model, int from, int count) {
  for (int t = from; t < from + count; ++t) {
    model.gradients(t);
    opt.step();
  }
}

// Equal bits, or both NaN.
::testing::AssertionResult same_bits(const float* a, const float* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// Second moments use the unsigned map under int8 (the others the signed one), as the rules declare them.
bool is_signed_slot(std::string_view slot) {
  return slot != "exp_avg_sq" && slot != "max_exp_avg_sq" && slot != "square_avg";
}

// (b): the low-bit optimizer's step against the float32 rule's from the same state, then rounded.
void expect_step_is_float32_step_then_rounding(const Rule& rule, StateDType dtype, bool stochastic) {
  Model low_model;
  auto low = make(rule, low_model, dtype, stochastic);
  steps(*low, low_model, 0, 3);  // state that is not its initial value
  Model f32_model(low_model);
  auto f32 = make(rule, f32_model, StateDType::Float32, false);
  f32->load_state_dict(low->state_dict());  // reads the narrow state back exactly (strict)
  steps(*low, low_model, 3, 1);
  steps(*f32, f32_model, 3, 1);
  const auto slots = low->slot_names();
  for (int k = 0; k < 2; ++k) {
    const std::string_view param = Model::kNames[k];
    const std::size_t n = Model::kSizes[k];
    EXPECT_TRUE(same_bits(low_model.w[k].data(), f32_model.w[k].data(), n)) << param;
    const std::uint64_t seed = lowbit::name_seed(param);
    for (std::size_t s = 0; s < slots.size(); ++s) {
      const std::string_view slot = slots[s];
      if (slot.ends_with("_absmax") || !low->has_state(param, slot)) continue;
      SCOPED_TRACE(std::string(param) + "/" + std::string(slot));
      ASSERT_TRUE(f32->has_state(param, slot));
      const auto expected = f32->state<float>(param, slot);
      const lowbit::Rounding rounding{stochastic, lowbit::rounding_key(seed, low->step_count(param), static_cast<std::uint32_t>(s))};
      switch (low->state_layout(param, slot).dtype) {
        case DType::Float32:  // a tensor too small for int8, or Schedule-Free's x
          EXPECT_TRUE(same_bits(low->state<float>(param, slot).data(), expected.data(), n));
          break;
        case DType::BFloat16: {
          const auto got = low->state<bfloat16>(param, slot);
          for (std::size_t i = 0; i < n; ++i) {
            ASSERT_EQ(got[i].bits, lowbit::reference::to_bfloat16(expected[i], rounding, static_cast<std::uint32_t>(i))) << i;
          }
          break;
        }
        case DType::UInt8: {
          std::vector<std::uint8_t> codes(n);
          std::vector<float> absmax(lowbit::blocks_of(n));
          lowbit::reference::quantize_blockwise(expected.data(), n, is_signed_slot(slot), rounding, codes.data(), absmax.data());
          const auto got = low->state<std::uint8_t>(param, slot);
          EXPECT_TRUE(std::equal(got.begin(), got.end(), codes.begin()));
          const auto got_absmax = low->state<float>(param, std::string(slot) + "_absmax");
          EXPECT_TRUE(same_bits(got_absmax.data(), absmax.data(), absmax.size()));
          break;
        }
        default:
          FAIL() << "unexpected dtype";
      }
    }
  }
}

TEST(LowBitRules, OneStepIsTheFloat32StepThenRoundingOnEveryTarget) {
  for (const auto& [bits, target] : kernels::available_targets()) {
    kernels::use_only_target(bits);
    for (const Rule& rule : kRules) {
      for (const StateDType dtype : low_dtypes(rule)) {
        for (const bool stochastic : {false, true}) {
          SCOPED_TRACE(target + ": " + row_name(rule, dtype, stochastic));
          expect_step_is_float32_step_then_rounding(rule, dtype, stochastic);
        }
      }
    }
  }
  kernels::use_only_target(0);
}

// (a): the rules whose plan() runs their float32 kernel through lowbit::float_state_task: `update` runs
// the rule on one block, the dispatched kernel (vector) or the scalar reference. SGD and RMSprop have
// per-target low-bit kernels (WithFloatState) with their own references: `whole` runs one or the other.
// (Adam's are checked in adam_lowbit_test.cpp.)
using Update = std::function<void(bool vector, float* p, const float* g, float** state, std::size_t n)>;
using Whole = std::function<void(bool vector, StateDType dtype, float* p, const float* g, lowbit::StateRef* slots,
                                 std::size_t count, std::uint32_t first, std::size_t n)>;
struct KernelRow {
  std::string_view name;
  std::size_t count;
  bool is_signed[3];
  Update update;
  Whole whole = nullptr;
};

const std::vector<KernelRow>& kernel_rows() {
  static const std::vector<KernelRow> rows = [] {
    std::vector<KernelRow> r;
    const reference::LionStep lion{0.9, 0.99, 1e-3, 0.9999, false};
    r.push_back({"lion", 1, {true}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::lion(lion, p, g, st[0], n) : reference::lion<float>(lion, p, g, st[0], n);
                 }});
    const reference::AdagradStep adagrad{0.01, 0.01, 1e-10, false};
    r.push_back({"adagrad", 1, {false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::adagrad(adagrad, p, g, st[0], n) : reference::adagrad<float>(adagrad, p, g, st[0], n);
                 }});
    const reference::AdadeltaStep adadelta{1.0, 0.9, 1e-6, 0.01, false};
    r.push_back({"adadelta", 2, {false, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::adadelta(adadelta, p, g, st[0], st[1], n)
                     : reference::adadelta<float>(adadelta, p, g, st[0], st[1], n);
                 }});
    const reference::AdamaxStep adamax{0.9, 0.999, 1e-8, 0.01, 0.02, false};
    r.push_back({"adamax", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::adamax(adamax, p, g, st[0], st[1], n) : reference::adamax<float>(adamax, p, g, st[0], st[1], n);
                 }});
    const reference::NAdamStep nadam{0.9, 0.999, 1e-8, 0.01, 0.05, -1e-3, -2e-3, false};
    r.push_back({"nadam", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::nadam(nadam, p, g, st[0], st[1], n) : reference::nadam<float>(nadam, p, g, st[0], st[1], n);
                 }});
    const reference::RAdamStep radam{1e-3, 0.9, 0.999, 1e-8, 0.01, 0.3, 0.1, true, 0.4, false};
    r.push_back({"radam", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::radam(radam, p, g, st[0], st[1], n) : reference::radam<float>(radam, p, g, st[0], st[1], n);
                 }});
    const reference::LARSStep lars{0.05, 1e-4, 0.9, true, false};
    r.push_back({"lars", 1, {true}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::lars(lars, p, g, st[0], n) : reference::lars<float>(lars, p, g, st[0], n);
                 }});
    const reference::LAMBStep lamb{0.9, 0.999, 1e-6, 0.01, 0.3, 0.1, false};
    r.push_back({"lamb", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   if (v) {
                     (void)kernels::lamb_moments(lamb, p, g, st[0], st[1], n);
                     kernels::lamb_apply(lamb, 0.7, p, st[0], st[1], n);
                   } else {
                     (void)reference::lamb_moments<float>(lamb, p, g, st[0], st[1], n);
                     reference::lamb_apply<float>(lamb, 0.7, p, st[0], st[1], n);
                   }
                 }});
    const reference::RpropStep rprop{0.5, 1.2, 1e-6, 50.0, false};
    r.push_back({"rprop", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::rprop(rprop, p, g, st[0], st[1], n) : reference::rprop<float>(rprop, p, g, st[0], st[1], n);
                 }});
    const reference::ASGDStep asgd{0.9999, -0.01, 0.25, 0.01, true, false};
    r.push_back({"asgd", 1, {true}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   v ? kernels::asgd(asgd, p, g, st[0], n) : reference::asgd<float>(asgd, p, g, st[0], n);
                 }});
    // Schedule-Free's x stays float32: the rows keep it in a buffer of their own (the same for both).
    const reference::ScheduleFreeStep sf{0.1, 0.3, 0.9, 0.999, 1e-8, 0.01, false};
    r.push_back({"sgdschedulefree", 1, {true}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   std::vector<float> x(p, p + n);
                   v ? kernels::sgd_schedule_free(sf, p, g, st[0], x.data(), n)
                     : reference::sgd_schedule_free<float>(sf, p, g, st[0], x.data(), n);
                 }});
    r.push_back({"adamwschedulefree", 2, {true, false}, [=](bool v, float* p, const float* g, float** st, std::size_t n) {
                   std::vector<float> x(p, p + n);
                   v ? kernels::adamw_schedule_free(sf, p, g, st[0], st[1], x.data(), n)
                     : reference::adamw_schedule_free<float>(sf, p, g, st[0], st[1], x.data(), n);
                 }});
    for (const bool nesterov : {false, true}) {
      const reference::SGDStep sgd{0.1, 0.9, nesterov ? 0.0 : 0.1, 0.01, nesterov, false, false};
      r.push_back({nesterov ? "sgd nesterov" : "sgd", 1, {true}, nullptr,
                   [=](bool v, StateDType d, float* p, const float* g, lowbit::StateRef* st, std::size_t c, std::uint32_t f,
                       std::size_t n) {
                     v ? kernels::sgd_lowbit(sgd, d, p, g, st, c, f, n) : reference::sgd_lowbit(sgd, d, p, g, st, c, f, n);
                   }});
    }
    for (const bool has_buf : {false, true}) {
      const reference::RMSpropStep rmsprop{0.01, 0.99, 1e-8, 0.01, has_buf ? 0.5 : 0.0, false, false};
      r.push_back({has_buf ? "rmsprop momentum" : "rmsprop", has_buf ? 2u : 1u, {false, true}, nullptr,
                   [=](bool v, StateDType d, float* p, const float* g, lowbit::StateRef* st, std::size_t c, std::uint32_t f,
                       std::size_t n) {
                     v ? kernels::rmsprop_lowbit(rmsprop, d, has_buf, false, p, g, st, c, f, n)
                       : reference::rmsprop_lowbit(rmsprop, d, has_buf, false, p, g, st, c, f, n);
                   }});
    }
    return r;
  }();
  return rows;
}

TEST(LowBitRules, BlockLoopMatchesTheScalarReferenceOnEveryTarget) {
  for (const auto& [bits, target] : kernels::available_targets()) {
    kernels::use_only_target(bits);
    std::mt19937 rng(2026);
    std::normal_distribution<float> normal;
    for (const KernelRow& row : kernel_rows()) {
      for (const StateDType dtype : {StateDType::BFloat16, StateDType::Int8}) {
        for (const bool stochastic : {false, true}) {
          for (const std::size_t n : {std::size_t{1}, std::size_t{255}, std::size_t{256}, std::size_t{257}, std::size_t{4097}}) {
            SCOPED_TRACE(target + ": " + std::string(row.name) + " dtype " + std::to_string(static_cast<int>(dtype)) +
                         (stochastic ? " stochastic" : " nearest") + " n " + std::to_string(n));
            const bool int8 = dtype == StateDType::Int8;
            std::vector<float> p(n), g(n);
            for (std::size_t i = 0; i < n; ++i) {
              p[i] = normal(rng);
              g[i] = normal(rng) * 0.1f;
            }
            if (n > 40) g[37] = std::numeric_limits<float>::quiet_NaN();  // its block goes NaN the same way
            // State: magnitudes in (0, 1] (second moments and step sizes non-negative).
            std::vector<float> values[3];
            std::vector<std::uint8_t> bytes[2][3];
            std::vector<float> absmax[2][3];
            for (std::size_t k = 0; k < row.count; ++k) {
              values[k].resize(n);
              for (float& x : values[k]) x = row.is_signed[k] ? normal(rng) * 0.1f : std::fabs(normal(rng)) * 0.1f;
              bytes[0][k].resize(n * (int8 ? 1 : 2));
              absmax[0][k].resize(lowbit::blocks_of(n));
              if (int8) {
                lowbit::reference::quantize_blockwise(values[k].data(), n, row.is_signed[k], {}, bytes[0][k].data(), absmax[0][k].data());
              } else {
                for (std::size_t i = 0; i < n; ++i) {
                  const std::uint16_t b = lowbit::reference::to_bfloat16(values[k][i], {}, 0);
                  std::memcpy(&bytes[0][k][2 * i], &b, 2);
                }
              }
              bytes[1][k] = bytes[0][k];
              absmax[1][k] = absmax[0][k];
            }
            auto q = p;
            std::array<lowbit::StateRef, 3> refs[2];
            for (int side = 0; side < 2; ++side) {
              for (std::size_t k = 0; k < row.count; ++k) {
                refs[side][k] = {bytes[side][k].data(), int8 ? absmax[side][k].data() : nullptr, row.is_signed[k],
                                 {stochastic, 0x5eedu + static_cast<std::uint32_t>(k)}};
              }
            }
            const std::uint32_t first = 16384;  // as the engine's second chunk passes it
            if (row.whole) {
              row.whole(true, dtype, p.data(), g.data(), refs[0].data(), row.count, first, n);
              row.whole(false, dtype, q.data(), g.data(), refs[1].data(), row.count, first, n);
            } else {
              lowbit::with_float_blocks(dtype, n, first, refs[0].data(), row.count, [&](std::size_t b, std::size_t len, float** st) {
                row.update(true, p.data() + b, g.data() + b, st, len);
              });
              lowbit::reference::with_float_state(dtype, n, first, refs[1].data(), row.count, [&](std::size_t b, std::size_t len, float** st) {
                row.update(false, q.data() + b, g.data() + b, st, len);
              });
            }
            EXPECT_TRUE(same_bits(p.data(), q.data(), n)) << "param";
            for (std::size_t k = 0; k < row.count; ++k) {
              if (int8) {
                EXPECT_EQ(bytes[0][k], bytes[1][k]) << "codes " << k;
                EXPECT_TRUE(same_bits(absmax[0][k].data(), absmax[1][k].data(), absmax[0][k].size())) << "absmax " << k;
              } else {
                std::vector<float> a(n), b(n);
                for (std::size_t i = 0; i < n; ++i) {
                  std::uint16_t x, y;
                  std::memcpy(&x, &bytes[0][k][2 * i], 2);
                  std::memcpy(&y, &bytes[1][k][2 * i], 2);
                  a[i] = lowbit::reference::from_bfloat16(x);
                  b[i] = lowbit::reference::from_bfloat16(y);
                }
                EXPECT_TRUE(same_bits(a.data(), b.data(), n)) << "state " << k;
              }
            }
          }
        }
      }
    }
  }
  kernels::use_only_target(0);
}

// (c): bfloat16 -> float32 -> bfloat16 through checkpoints changes no bit, and training goes on the same.
TEST(LowBitRules, BFloat16CheckpointRoundTripsThroughFloat32) {
  for (const Rule& rule : kRules) {
    SCOPED_TRACE(rule.name);
    Model a_model;
    auto a = make(rule, a_model, StateDType::BFloat16, true);
    steps(*a, a_model, 0, 3);
    const StateDict saved = a->state_dict();
    Model b_model(a_model);
    auto b = make(rule, b_model, StateDType::Float32, false);
    b->load_state_dict(saved);
    Model c_model(a_model);
    auto c = make(rule, c_model, StateDType::BFloat16, true);
    c->load_state_dict(b->state_dict());
    const StateDict again = c->state_dict();
    std::size_t compared = 0;
    for (const auto& [key, tensor] : saved.tensors) {
      if (!key.starts_with("state/")) continue;
      ASSERT_EQ(again.tensors.count(key), 1u) << key;
      EXPECT_EQ(again.tensors.at(key).type, tensor.type) << key;
      EXPECT_EQ(again.tensors.at(key).bytes, tensor.bytes) << key;
      compared += tensor.type == TensorType::BF16;
    }
    EXPECT_GT(compared, 0u);
    steps(*a, a_model, 3, 2);
    steps(*c, c_model, 3, 2);
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(same_bits(a_model.w[k].data(), c_model.w[k].data(), Model::kSizes[k]));
  }
}

// Schedule-Free keeps x in the parameters' dtype under bfloat16 state: eval() and train() still swap it
// with the parameters bit for bit, and training goes on after them.
TEST(LowBitRules, ScheduleFreeEvalSwapsItsFloat32Average) {
  for (const std::string_view name : {"sgdschedulefree", "adamwschedulefree"}) {
    SCOPED_TRACE(name);
    Model model;
    auto opt = make_optimizer(name, model.params(), {{"state_dtype", 1.0}});
    steps(*opt, model, 0, 3);
    auto* averaging = dynamic_cast<Averaging*>(opt.get());
    ASSERT_NE(averaging, nullptr);
    EXPECT_EQ(opt->state_layout("big", "z").dtype, DType::BFloat16);
    EXPECT_EQ(opt->state_layout("big", "x").dtype, DType::Float32);
    const std::vector<float> y = model.w[0];
    const auto x = opt->state<float>("big", "x");
    const std::vector<float> average(x.begin(), x.end());
    EXPECT_NE(average, y);
    averaging->use_average(true);
    EXPECT_EQ(model.w[0], average);
    averaging->use_average(false);
    EXPECT_EQ(model.w[0], y);
    steps(*opt, model, 3, 1);
    EXPECT_NE(model.w[0], y);
  }
}

TEST(LowBitRules, SameForAnyThreadCount) {
  for (const Rule& rule : kRules) {
    for (const StateDType dtype : low_dtypes(rule)) {
      SCOPED_TRACE(row_name(rule, dtype, true));
      std::vector<float> result[2];
      for (const std::size_t threads : {std::size_t{1}, std::size_t{3}}) {
        // 40000 elements: three chunks of the engine.
        std::vector<float> w(40000), g(40000);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::cos(static_cast<float>(i));
        auto overrides = rule.options;
        overrides["state_dtype"] = static_cast<double>(static_cast<int>(dtype));
        overrides["stochastic_rounding"] = 1.0;
        auto opt = make_optimizer(rule.name, {Parameter("w", std::span(w), std::span(g))}, overrides);
        opt->set_num_threads(threads);
        for (int t = 0; t < 3; ++t) {
          for (std::size_t i = 0; i < w.size(); ++i) g[i] = w[i] - std::sin(static_cast<float>(i + static_cast<std::size_t>(t)));
          opt->step();
        }
        result[threads == 1 ? 0 : 1] = w;
      }
      EXPECT_EQ(result[0], result[1]);
    }
  }
}

TEST(LowBitRules, Refusals) {
  for (const Rule& rule : kRules) {
    SCOPED_TRACE(rule.name);
    for (const StateDType dtype : low_dtypes(rule)) {
      std::vector<double> w(5000), g(5000);
      auto overrides = rule.options;
      overrides["state_dtype"] = static_cast<double>(static_cast<int>(dtype));
      EXPECT_THROW_WITH(make_optimizer(rule.name, {Parameter("w", std::span(w), std::span(g))}, overrides), InvalidArgument,
                        "needs float32 parameters, but 'w' is float64");
    }
    if (!rule.int8) {
      EXPECT_THROW_WITH(make_options(rule.name)->set_choice("state_dtype", "int8"), InvalidArgument, "int8");
    }
    if (rule.name == "rmsprop") {  // square_avg - grad_avg^2 can turn negative once both are rounded
      std::vector<float> w(10), g(10);
      EXPECT_THROW_WITH(make_optimizer("rmsprop", {Parameter("w", std::span(w), std::span(g))}, {{"centered", 1.0}, {"state_dtype", 1.0}}),
                        InvalidArgument, "centered = true needs state_dtype = float32");
    }
    Model model;
    auto opt = make(rule, model, StateDType::Float32, false);
    steps(*opt, model, 0, 1);
    const Model before(model);
    opt->group(0).options().set_choice("state_dtype", "bfloat16");
    model.gradients(1);
    EXPECT_THROW_WITH(opt->step(), InvalidArgument, "state_dtype cannot change afterwards");
    EXPECT_EQ(model.w[0], before.w[0]);
    EXPECT_EQ(model.w[1], before.w[1]);
    EXPECT_EQ(opt->step_count("big"), 1);
  }
}

// Accuracy on the quadratic, 300 steps from a root-mean-square distance of 0.80 to the minimum: the
// low-bit run ends within `trajectory` of where the float32 rule ends (element-wise) and within
// `converged` of the minimum (root mean square). Lion moves every coordinate by lr = 0.01 at every step
// and ends oscillating around the minimum, so only its distance to the minimum is compared: int8 with
// nearest rounding ends 0.020 away (float32 0.0064, stochastic rounding 0.0073), because a small momentum
// whose update (1 - beta2) * g is under half a code's width stays where it is (docs/optimizers.md).
TEST(LowBitRules, LowBitStateFollowsFloat32) {
  constexpr double kAny = HUGE_VAL;
  const struct {
    Rule rule;
    StateDType dtype;
    double trajectory, converged;
  } cases[] = {
      {{"lion", {{"lr", 1e-2}}, true}, StateDType::Int8, kAny, 0.025},
      {{"lion", {{"lr", 1e-2}}, true}, StateDType::BFloat16, kAny, 0.008},
      {{"nadam", {{"lr", 1e-2}}, false}, StateDType::BFloat16, 2e-3, 3e-3},
      {{"sgd", {{"lr", 0.02}, {"momentum", 0.9}}, true}, StateDType::Int8, 1e-4, 1e-4},
      {{"sgd", {{"lr", 0.02}, {"momentum", 0.9}}, true}, StateDType::BFloat16, 1e-4, 1e-4},
      {{"rmsprop", {{"lr", 2e-3}, {"momentum", 0.5}}, true}, StateDType::Int8, 0.02, 0.03},
      {{"rmsprop", {{"lr", 2e-3}, {"momentum", 0.5}}, true}, StateDType::BFloat16, 0.02, 0.03},
  };
  const auto rms_to_minimum = [](const std::vector<float>& w) {
    double sum = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double d = w[i] - 0.5 * std::sin(static_cast<double>(i));
      sum += d * d;
    }
    return std::sqrt(sum / static_cast<double>(w.size()));
  };
  for (const auto& [rule, dtype, trajectory, converged] : cases) {
    for (const bool stochastic : {false, true}) {
      SCOPED_TRACE(row_name(rule, dtype, stochastic));
      Model float_model, low_model;
      const double start = rms_to_minimum(float_model.w[0]);
      ASSERT_NEAR(start, 0.80, 0.01);
      auto f32 = make(rule, float_model, StateDType::Float32, false);
      auto low = make(rule, low_model, dtype, stochastic);
      steps(*f32, float_model, 0, 300);
      steps(*low, low_model, 0, 300);
      double worst = 0.0;
      for (std::size_t i = 0; i < Model::kSizes[0]; ++i) {
        worst = std::max(worst, std::fabs(double(low_model.w[0][i]) - float_model.w[0][i]));
      }
      const double float_distance = rms_to_minimum(float_model.w[0]), low_distance = rms_to_minimum(low_model.w[0]);
      std::printf("[ accuracy ] %s: from float32's %.3g, to the minimum %.3g (float32 %.3g)\n",
                  row_name(rule, dtype, stochastic).c_str(), worst, low_distance, float_distance);
      EXPECT_LT(worst, trajectory);
      EXPECT_GT(worst, 0.0);  // it did run in low precision
      EXPECT_LT(low_distance, converged);
      EXPECT_LT(float_distance, converged);
    }
  }
}

}  // namespace
}  // namespace descent
