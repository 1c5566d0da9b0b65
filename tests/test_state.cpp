// The state model: slots with their own shape and dtype, memory the caller owns, whole-tensor tasks
// beside element-range ones (the same result for any thread count), checkpoints of every state dtype,
// the invariants loaded state must satisfy, strict loading's checks, and refusing concurrent use.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"
#include "support/toy_optimizer.hpp"

namespace descent {
namespace {

using testing::Toy;

struct Matrix {
  std::size_t rows, cols;
  std::vector<float> w, g;
  Matrix(std::size_t r, std::size_t c) : rows(r), cols(c), w(r * c), g(r * c) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i % 97) - 0.3f;
  }
  Parameter param(const std::string& name) {
    return Parameter(name, std::span(w), std::span(g),
                     {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)});
  }
  void gradient(int step) {
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(step)) * 2.0f;
  }
};

TEST(SlotLayout, EachSlotHasItsOwnShapeAndDtype) {
  Matrix m(3, 5);
  Toy toy({m.param("w")});
  EXPECT_EQ(toy.state_layout("w", "row_sq"), (SlotLayout{{3}, DType::Float32}));
  EXPECT_EQ(toy.state_layout("w", "col_sq"), (SlotLayout{{5}, DType::Float32}));
  EXPECT_EQ(toy.state_layout("w", "block_max"), (SlotLayout{{4}, DType::Float32}));  // ceil(15 / 4)
  EXPECT_EQ(toy.state_layout("w", "m16"), (SlotLayout{{3, 5}, DType::BFloat16}));
  EXPECT_EQ(toy.state_layout("w", "codes"), (SlotLayout{{15}, DType::UInt8}));
  EXPECT_EQ(toy.state_layout("w", "hits"), (SlotLayout{{}, DType::Int32}));
  m.gradient(0);
  toy.step();
  m.gradient(1);
  toy.step();

  // Recompute every slot by hand from the two gradients.
  std::vector<float> row(3, 0.0f), col(5, 0.0f), m16(15, 0.0f), block(4, 0.0f);
  std::vector<std::uint8_t> codes(15);
  for (int s = 0; s < 2; ++s) {
    m.gradient(s);
    for (std::size_t i = 0; i < 3; ++i) {
      for (std::size_t j = 0; j < 5; ++j) {
        const float v = m.g[i * 5 + j] * m.g[i * 5 + j];
        row[i] += v;
        col[j] += v;
      }
    }
    for (std::size_t i = 0; i < 15; ++i) {
      m16[i] = to_float(to_bfloat16(0.5f * m16[i] + m.g[i]));
      codes[i] = static_cast<std::uint8_t>(std::min(255.0f, std::nearbyint(std::fabs(m.g[i]) * 10.0f)));
      block[i / 4] = i % 4 == 0 ? std::fabs(m.g[i]) : std::max(block[i / 4], std::fabs(m.g[i]));
    }
  }
  EXPECT_EQ(std::vector<float>(toy.state<float>("w", "row_sq").begin(), toy.state<float>("w", "row_sq").end()), row);
  EXPECT_EQ(std::vector<float>(toy.state<float>("w", "col_sq").begin(), toy.state<float>("w", "col_sq").end()), col);
  EXPECT_EQ(std::vector<float>(toy.state<float>("w", "block_max").begin(), toy.state<float>("w", "block_max").end()), block);
  const auto got16 = toy.state<bfloat16>("w", "m16");
  for (std::size_t i = 0; i < 15; ++i) EXPECT_EQ(to_float(got16[i]), m16[i]) << i;
  EXPECT_EQ(std::vector<std::uint8_t>(toy.state<std::uint8_t>("w", "codes").begin(), toy.state<std::uint8_t>("w", "codes").end()), codes);
  EXPECT_EQ(toy.state<std::int32_t>("w", "hits")[0], 2);
  EXPECT_THROW_WITH(toy.state<float>("w", "m16"), InvalidArgument, "is bfloat16, not float32");
}

TEST(SlotLayout, CheckpointsHoldEveryDtypeAndResumeBitwise) {
  Matrix a(4, 6), b(4, 6);
  Toy first({a.param("w")});
  for (int s = 0; s < 3; ++s) {
    a.gradient(s);
    first.step();
  }
  const auto bytes = encode_checkpoint(first.state_dict(true));
  const StateDict dict = decode_checkpoint(bytes);
  EXPECT_EQ(dict.meta("format_version"), "2");  // BF16, U8 and I32 tensors need version 2
  EXPECT_EQ(dict.tensor("state/w/m16").type, TensorType::BF16);
  EXPECT_EQ(dict.tensor("state/w/codes").type, TensorType::U8);
  EXPECT_EQ(dict.tensor("state/w/hits").type, TensorType::I32);
  EXPECT_EQ(dict.tensor("state/w/hits").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(dict.tensor("state/w/row_sq").shape, std::vector<std::int64_t>{4});

  Toy second({b.param("w")});
  second.load_state_dict(dict);
  for (int s = 3; s < 5; ++s) {
    a.gradient(s);
    first.step();
    b.gradient(s);
    second.step();
  }
  EXPECT_EQ(encode_checkpoint(second.state_dict(true)), encode_checkpoint(first.state_dict(true)));
}

TEST(SlotLayout, LoadRefusesAShapeOrDtypeOtherThanTheSlots) {
  Matrix a(3, 5), b(5, 3);
  Toy first({a.param("w")});
  a.gradient(0);
  first.step();
  StateDict dict = first.state_dict(false);
  Toy other({b.param("w")});  // rows and columns swapped: row_sq has 5 values, not 3
  EXPECT_THROW_WITH(other.load_state_dict(dict), InvalidArgument,
                    "mis-shaped 'state/w/row_sq': F32 [3], but the 'row_sq' slot of 'w' is F32 [5]");
  Matrix c(3, 5);
  Toy same({c.param("w")});
  dict.tensors["state/w/hits"] = Tensor::scalar(std::int64_t{1});
  EXPECT_THROW_WITH(same.load_state_dict(dict), InvalidArgument, "I64 [], but the 'hits' slot of 'w' is I32 []");
  EXPECT_FALSE(same.has_state("w", "hits"));
}

// Whole-tensor and element-range tasks over several parameters, on 1, 2 and 3 threads: the same bytes.
TEST(Engine, WholeTensorTasksGiveTheSameResultForAnyThreadCount) {
  std::vector<std::vector<std::byte>> results;
  for (const std::size_t threads : {1u, 2u, 3u}) {
    Matrix a(300, 200), b(7, 9), c(128, 512);
    Toy toy({a.param("a"), b.param("b"), c.param("c")});
    toy.set_num_threads(threads);
    for (int s = 0; s < 3; ++s) {
      a.gradient(s);
      b.gradient(s + 1);
      c.gradient(s + 2);
      toy.step();
    }
    results.push_back(encode_checkpoint(toy.state_dict(true)));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(CallerOwnedState, TheOptimizerUpdatesMemoryTheCallerBound) {
  std::vector<float> w(6, 1.0f), g(6), w2(6, 1.0f), g2(6);
  Adam own({Parameter("w", std::span(w), std::span(g))}, AdamOptions(0.1));
  Adam bound({Parameter("w", std::span(w2), std::span(g2))}, AdamOptions(0.1));
  std::vector<float> exp_avg(6, -7.0f), exp_avg_sq(6, -7.0f);  // filled by the first step
  bound.bind_state<float>("w", "exp_avg", exp_avg);
  bound.bind_state<float>("w", "exp_avg_sq", exp_avg_sq);
  EXPECT_TRUE(bound.is_bound("w", "exp_avg"));
  EXPECT_FALSE(bound.has_state("w", "exp_avg"));
  for (int s = 0; s < 3; ++s) {
    for (std::size_t i = 0; i < 6; ++i) g[i] = g2[i] = 0.5f * static_cast<float>(i) - w[i];
    own.step();
    bound.step();
  }
  EXPECT_EQ(w2, w);
  const auto m = own.state<float>("w", "exp_avg");
  EXPECT_EQ(exp_avg, std::vector<float>(m.begin(), m.end()));
  EXPECT_EQ(bound.state<float>("w", "exp_avg").data(), exp_avg.data());  // no copy: the caller's memory
  EXPECT_EQ(encode_checkpoint(bound.state_dict(true)), encode_checkpoint(own.state_dict(true)));

  // Binding after state exists copies it over (holds_state = false); with holds_state the memory is taken
  // as the state.
  std::vector<float> moved(6);
  bound.bind_state<float>("w", "exp_avg", moved);
  EXPECT_EQ(moved, exp_avg);
  std::vector<float> given(6, 0.25f);
  bound.bind_state<float>("w", "exp_avg", given, /*holds_state=*/true);
  EXPECT_EQ(bound.state<float>("w", "exp_avg")[0], 0.25f);
}

// What the torch adapters do with a state dict torch wrote: set the step count and scalar state, bind the
// slots' memory as holding state; the next step is the one the original optimizer takes.
TEST(CallerOwnedState, StepCountsAndScalarsSetByTheCallerResumeBitwise) {
  std::vector<double> w(5), g(5), w2(5), g2(5);
  for (std::size_t i = 0; i < 5; ++i) w[i] = w2[i] = 0.3 * static_cast<double>(i) - 0.5;
  NAdam first({Parameter("w", std::span(w), std::span(g))}, NAdamOptions(0.05));
  const auto gradient = [](std::span<double> out, std::span<const double> at) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::sin(3.0 * at[i]) + 0.1 * static_cast<double>(i);
  };
  for (int s = 0; s < 4; ++s) {
    gradient(g, w);
    first.step();
  }
  w2 = w;
  NAdam second({Parameter("w", std::span(w2), std::span(g2))}, NAdamOptions(0.05));
  std::vector<double> m(first.state<double>("w", "exp_avg").begin(), first.state<double>("w", "exp_avg").end());
  std::vector<double> v(first.state<double>("w", "exp_avg_sq").begin(), first.state<double>("w", "exp_avg_sq").end());
  second.set_step_count("w", first.step_count("w"));
  second.set_scalar_state("w", "mu_product", first.scalar_state("w", "mu_product"));
  second.bind_state<double>("w", "exp_avg", m, /*holds_state=*/true);
  second.bind_state<double>("w", "exp_avg_sq", v, /*holds_state=*/true);
  for (int s = 0; s < 3; ++s) {
    gradient(g, w);
    gradient(g2, w2);
    first.step();
    second.step();
  }
  EXPECT_EQ(w2, w);
  EXPECT_EQ(second.step_count("w"), 7);
  EXPECT_EQ(second.scalar_state("w", "mu_product"), first.scalar_state("w", "mu_product"));

  // Bad values are refused naming them, and change nothing.
  EXPECT_THROW_WITH(second.set_step_count("w", -1), InvalidArgument, "set_step_count('w', -1)");
  EXPECT_THROW_WITH(second.set_step_count("w", kMaxStepCount + 1), InvalidArgument, "[0, 2^53]");
  EXPECT_THROW_WITH(second.set_scalar_state("w", "mu_product", -0.5), InvalidArgument, "-0.5");
  EXPECT_THROW_WITH(second.set_scalar_state("w", "mu_product", std::nan("")), InvalidArgument, "finite and > 0");
  EXPECT_THROW_WITH(second.set_scalar_state("w", "mu", 1.0), NotFound, "mu_product");
  EXPECT_THROW_WITH(second.set_step_count("v", 1), NotFound, "'v'");
  EXPECT_EQ(second.step_count("w"), 7);
  EXPECT_EQ(second.scalar_state("w", "mu_product"), first.scalar_state("w", "mu_product"));
}

// A slot with no elements for a parameter (Adafactor's full `variance` of a matrix, which keeps its
// second moment factored) needs no memory; an empty torch tensor's data pointer is null.
TEST(CallerOwnedState, ASlotWithNoElementsNeedsNoMemory) {
  Matrix m(3, 4);
  Adafactor opt({m.param("w")}, AdafactorOptions(1e-2));
  EXPECT_EQ(opt.state_layout("w", "variance").shape, (std::vector<std::int64_t>{0}));
  opt.bind_state("w", "variance", nullptr, 0, DType::Float32);
  EXPECT_FALSE(opt.is_bound("w", "variance"));
  EXPECT_THROW_WITH(opt.bind_state("w", "row_var", nullptr, 3, DType::Float32), InvalidArgument, "no memory given");
  m.gradient(0);
  opt.step();
  EXPECT_EQ(opt.state<float>("w", "row_var").size(), 3u);
}

TEST(CallerOwnedState, LoadingWritesIntoBoundMemory) {
  std::vector<float> w(4, 1.0f), g(4, 0.5f), w2(4), g2(4);
  SGD a({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1).momentum(0.9));
  a.step();
  SGD b({Parameter("w", std::span(w2), std::span(g2))}, SGDOptions(0.1).momentum(0.9));
  std::vector<float> buffer(4, 3.0f);
  b.bind_state<float>("w", "momentum_buffer", buffer);
  b.load_state_dict(a.state_dict(true));
  EXPECT_EQ(buffer, std::vector<float>(4, 0.5f));
}

TEST(CallerOwnedState, BadMemoryIsRefusedNamingTheProblem) {
  std::vector<float> w(6, 1.0f), g(6), other(8);
  std::vector<double> wrong(6);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  EXPECT_THROW_WITH(adam.bind_state<double>("w", "exp_avg", wrong), InvalidArgument, "the memory is float64, the slot float32");
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "exp_avg", other), InvalidArgument, "holds 8 elements, the slot 6");
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "exp_avg", std::span(w)), InvalidArgument, "share memory");
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "exp_avg", std::span(g)), InvalidArgument, "the gradient of 'w'");
  std::vector<float> one(6);
  adam.bind_state<float>("w", "exp_avg", one);
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "exp_avg_sq", std::span(one)), InvalidArgument, "'exp_avg' state of 'w'");
  std::vector<std::byte> raw(6 * sizeof(float) + 1);
  EXPECT_THROW_WITH(adam.bind_state("w", "exp_avg_sq", raw.data() + 1, 6, DType::Float32), InvalidArgument,
                    "not aligned");
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "no_such_slot", std::span(other).first(6)), NotFound, "no state slot 'no_such_slot'");
  EXPECT_THROW_WITH(adam.bind_state<float>("v", "exp_avg", std::span(other).first(6)), NotFound, "no parameter named 'v'");
  EXPECT_FALSE(adam.is_bound("w", "exp_avg_sq"));
}

// Loaded state must satisfy each slot's invariant.
TEST(LoadedState, BrokenInvariantsAreRefusedAndNothingChanges) {
  std::vector<float> w(3, 1.0f), g(3, 0.5f);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  adam.step();
  const StateDict good = adam.state_dict(true);
  const auto before = encode_checkpoint(good);
  const auto with = [&](const std::string& key, float value) {
    StateDict d = good;
    std::vector<float> v = d.tensor(key).values<float>(key);
    v[1] = value;
    d.tensors[key] = Tensor::of<float>(v, d.tensor(key).shape);
    return d;
  };
  EXPECT_THROW_WITH(adam.load_state_dict(with("state/w/exp_avg_sq", -1.0f)), InvalidArgument,
                    "'state/w/exp_avg_sq' holds -1 at element 1, but must be finite and >= 0");
  EXPECT_THROW_WITH(adam.load_state_dict(with("state/w/exp_avg", std::nanf(""))), InvalidArgument,
                    "'state/w/exp_avg' holds nan at element 1, but must be finite");
  EXPECT_THROW_WITH(adam.load_state_dict(with("param/w", std::numeric_limits<float>::infinity())), InvalidArgument,
                    "'param/w' holds inf at element 1");
  EXPECT_EQ(encode_checkpoint(adam.state_dict(true)), before);

  std::vector<float> x(3, 1.0f), gx(3, 0.5f);
  NAdam nadam({Parameter("w", std::span(x), std::span(gx))});
  nadam.step();
  StateDict d = nadam.state_dict();
  d.tensors["state/w/mu_product"] = Tensor::scalar(-0.5);
  EXPECT_THROW_WITH(nadam.load_state_dict(d), InvalidArgument, "'state/w/mu_product' holds -0.5 at element 0, but must be finite and > 0");
}

TEST(StrictLoad, RefusesWhatTheOptimizerCannotHave) {
  std::vector<float> w(3, 1.0f), g(3, 0.5f), v(2, 1.0f), gv(2, 0.5f);
  Adam adam({Parameter("w", std::span(w), std::span(g)), Parameter("v", std::span(v), std::span(gv))});
  adam.step();
  const StateDict good = adam.state_dict();

  StateDict d = good;
  d.metadata["slots"] = R"({"w":["exp_avg","exp_avg_sq","momentum"],"v":["exp_avg","exp_avg_sq"]})";
  EXPECT_THROW_WITH(adam.load_state_dict(d), InvalidArgument, "slot 'momentum' of 'w' in metadata 'slots'");
  d = good;
  d.metadata["slots"] = R"({"w":["exp_avg","exp_avg_sq"],"v":["exp_avg","exp_avg_sq"],"ghost":[]})";
  EXPECT_THROW_WITH(adam.load_state_dict(d), InvalidArgument, "metadata 'slots' entry for 'ghost'");
  d = good;
  const std::string groups = d.meta("groups");
  d.metadata["groups"] = std::string(groups).replace(groups.find("\"v\""), 3, "\"v\",\"v\"");
  EXPECT_THROW_WITH(adam.load_state_dict(d), InvalidArgument, "parameter 'v' is listed twice in saved group 0");
  d = good;
  d.tensors["state/w/step"] = Tensor::scalar(std::int64_t{0});
  EXPECT_THROW_WITH(adam.load_state_dict(d), InvalidArgument, "'state/w/exp_avg' exists, but 'w' has taken 0 steps");
  EXPECT_EQ(adam.step_count("w"), 1);
}

// Whatever descent saves it reads back: counts are read up to 2^53, so step() refuses to go past it.
TEST(StepCounts, StopAtTheLargestCountACheckpointHolds) {
  std::vector<float> w(3, 1.0f), g(3, 0.5f);
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1));
  sgd.step();
  StateDict d = sgd.state_dict();
  d.tensors["state/w/step"] = Tensor::scalar(kMaxStepCount);
  sgd.load_state_dict(d);
  const auto before = encode_checkpoint(sgd.state_dict(true));
  EXPECT_THROW_WITH(sgd.step(), InvalidArgument, "'w' has taken 9007199254740992 steps, the most a checkpoint can hold");
  EXPECT_EQ(encode_checkpoint(sgd.state_dict(true)), before);
  sgd.load_state_dict(decode_checkpoint(encode_checkpoint(sgd.state_dict())));  // what it saved, it reads
}

TEST(ErrorMessages, EchoAtMostAFewHundredBytesOfAName) {
  std::vector<float> w(3, 1.0f), g(3, 0.5f);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  adam.step();
  StateDict d = adam.state_dict();
  d.tensors["state/" + std::string(1 << 20, 'x') + "/exp_avg"] = d.tensor("state/w/exp_avg");
  try {
    adam.load_state_dict(d);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_LT(std::string(e.what()).size(), 2000u);
    EXPECT_NE(std::string(e.what()).find("(1048590 bytes)"), std::string::npos) << e.what();
  }
}

// Bound memory: no arena is allocated for a slot every stepping parameter keeps in the caller's memory;
// a parameter added later may not overlap bound memory; state cannot be "held" before the first step.
TEST(CallerOwnedState, BoundSlotsTakeNoArenaAndAreProtected) {
  std::vector<float> w(1000, 1.0f), g(1000, 0.5f), m(1000), v(1000);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  EXPECT_THROW_WITH(adam.bind_state<float>("w", "exp_avg", m, /*holds_state=*/true), InvalidArgument,
                    "'w' has taken no step, so it has no state yet");
  adam.bind_state<float>("w", "exp_avg", m);
  adam.bind_state<float>("w", "exp_avg_sq", v);
  adam.step();
  // The optimizer's own arena for exp_avg was never allocated: its state is where the caller bound it.
  EXPECT_EQ(adam.state<float>("w", "exp_avg").data(), m.data());
  EXPECT_EQ(adam.state<float>("w", "exp_avg_sq").data(), v.data());
  EXPECT_THROW_WITH(adam.add_param_group({Parameter("alias", std::span(m).first(10), std::span(g).first(10))}),
                    InvalidArgument, "share memory");
  // A state bound with holds_state after a step round-trips through a checkpoint.
  std::vector<float> m2(1000, 0.125f);
  adam.bind_state<float>("w", "exp_avg", m2, /*holds_state=*/true);
  const StateDict d = decode_checkpoint(encode_checkpoint(adam.state_dict(true)));
  adam.load_state_dict(d);
  EXPECT_EQ(m2[17], 0.125f);
}

TEST(Float16, ConvertsExactly) {
  EXPECT_EQ(to_float(float16{0x3c00}), 1.0f);
  EXPECT_EQ(to_float(float16{0xc000}), -2.0f);
  EXPECT_EQ(to_float(float16{0x7bff}), 65504.0f);
  EXPECT_EQ(to_float(float16{0x0001}), std::ldexp(1.0f, -24));
  EXPECT_EQ(to_float(float16{0x0200}), std::ldexp(1.0f, -15));
  EXPECT_TRUE(std::isinf(to_float(float16{0x7c00})));
  EXPECT_TRUE(std::isnan(to_float(float16{0x7e00})));
}

}  // namespace
}  // namespace descent
