// Checkpoints: name-keyed state dictionaries, exact resume for every optimizer, strict and non-strict
// loading, hostile files (each rejected with a clear error, the optimizer untouched), and the policy for
// non-finite gradients.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

// A little model: two float tensors with shapes, gradients filled by a fixed rule from the step.
struct Model {
  std::vector<float> w, gw, b, gb;
  Model() : w(12), gw(12), b(4), gb(4) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 0.5f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.25f * static_cast<float>(i);
  }
  std::vector<Parameter> params() {
    return {Parameter("layer/weight", std::span(w), std::span(gw), {3, 4}),
            Parameter("layer/bias", std::span(b), std::span(gb), {4})};
  }
  // A gradient that depends on the parameters (so state and parameters both matter) and on the step.
  void gradient(int step) {
    for (std::size_t i = 0; i < w.size(); ++i) gw[i] = w[i] * 0.5f + std::sin(0.7f * static_cast<float>(i + step));
    for (std::size_t i = 0; i < b.size(); ++i) gb[i] = b[i] - std::cos(0.3f * static_cast<float>(i * step));
  }
};

// Options that make each optimizer create every slot it has.
std::map<std::string, double> full_options(std::string_view name) {
  if (name == "sgd") return {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 0.01}};
  if (name == "rmsprop") return {{"lr", 0.01}, {"centered", 1}, {"momentum", 0.5}};
  if (name == "adam" || name == "adamw") return {{"lr", 0.01}, {"amsgrad", 1}};
  if (name == "asgd") return {{"lr", 0.05}, {"t0", 1}};  // averaging from step 3: ax, eta and mu all move
  return {};
}

// The bytes of everything an optimizer holds: parameters, state, options, counts.
std::vector<std::byte> snapshot(const Optimizer& opt) { return encode_checkpoint(opt.state_dict(true)); }

std::filesystem::path temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("descent-test-checkpoint-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

class ExactResume : public ::testing::TestWithParam<std::string_view> {};

// N steps, save to a file, a fresh model and optimizer load it, M more steps: bitwise the same as N + M
// steps without interruption, including an lr changed between steps (restored from the group options).
TEST_P(ExactResume, SavingAndLoadingChangesNothing) {
  const std::string_view name = GetParam();
  constexpr int kBefore = 3, kAfter = 4;
  Model straight;
  auto a = make_optimizer(name, straight.params(), full_options(name));
  for (int s = 0; s < kBefore + kAfter; ++s) {
    if (s == 2) a->group(0).options().set_lr(a->group(0).options().lr() * 0.5);
    straight.gradient(s);
    a->step();
  }

  Model first;
  auto b = make_optimizer(name, first.params(), full_options(name));
  for (int s = 0; s < kBefore; ++s) {
    if (s == 2) b->group(0).options().set_lr(b->group(0).options().lr() * 0.5);
    first.gradient(s);
    b->step();
  }
  const auto path = temp_path(std::string(name) + ".safetensors");
  save_checkpoint(path, b->state_dict(/*with_parameters=*/true));

  Model resumed;  // initial values, not the trained ones: the checkpoint must bring those
  auto c = make_optimizer(name, resumed.params(), full_options(name));
  const LoadReport report = c->load_state_dict(load_checkpoint(path));
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_EQ(snapshot(*c), snapshot(*b));
  for (int s = kBefore; s < kBefore + kAfter; ++s) {
    resumed.gradient(s);
    c->step();
  }
  EXPECT_EQ(resumed.w, straight.w);
  EXPECT_EQ(resumed.b, straight.b);
  EXPECT_EQ(snapshot(*c), snapshot(*a));
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, ExactResume, ::testing::ValuesIn(optimizer_names()),
                         [](const auto& test) { return std::string(test.param); });

TEST(StateDict, IsKeyedByNameAndDescribesItself) {
  Model m;
  Adam adam(m.params(), AdamOptions(0.01).amsgrad(false));
  m.gradient(0);
  adam.step();
  const StateDict d = adam.state_dict();
  EXPECT_EQ(d.meta("optimizer"), "Adam");
  EXPECT_EQ(d.meta("skipped_steps"), "0");
  EXPECT_NE(d.meta("groups").find("\"params\":[\"layer/weight\",\"layer/bias\"]"), std::string::npos);
  EXPECT_NE(d.meta("groups").find("\"lr\":\"0.01\""), std::string::npos);
  EXPECT_EQ(d.tensor("state/layer/weight/step").values<std::int64_t>("step")[0], 1);
  EXPECT_EQ(d.tensor("state/layer/weight/exp_avg").shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(d.tensors.count("state/layer/weight/max_exp_avg_sq"), 0u);  // amsgrad off: never created
  EXPECT_EQ(d.tensors.count("param/layer/weight"), 0u);                // only with_parameters
  EXPECT_EQ(encode_checkpoint(d), encode_checkpoint(adam.state_dict()));  // the same state, the same bytes
}

// Groups are matched by the parameters they hold, not by position.
TEST(StateDict, GroupOptionsFollowTheirParameters) {
  Model m;
  SGD a({m.params()[0]}, SGDOptions(0.1));
  a.add_param_group({m.params()[1]}, SGDOptions(0.2).momentum(0.5));
  Model n;
  SGD b({n.params()[1]}, SGDOptions(0.7));  // the groups in the other order
  b.add_param_group({n.params()[0]}, SGDOptions(0.9));
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.options(0).lr(), 0.2);
  EXPECT_EQ(b.options(0).momentum(), 0.5);
  EXPECT_EQ(b.options(1).lr(), 0.1);
}

TEST(StateDict, StrictLoadListsEveryProblemAndChangesNothing) {
  Model m;
  Adam saved(m.params(), AdamOptions(0.01));
  m.gradient(0);
  saved.step();
  const StateDict dict = saved.state_dict(true);

  // Another model: "layer/bias" missing, "extra" unexpected, "layer/weight" mis-shaped.
  std::vector<float> w(12, 1.0f), gw(12), x(2, 3.0f), gx(2);
  Adam other({Parameter("layer/weight", std::span(w), std::span(gw), {4, 3}),
              Parameter("extra", std::span(x), std::span(gx))},
             AdamOptions(0.5));
  gx = {1.0f, 1.0f};
  other.step();
  const auto before = snapshot(other);
  try {
    other.load_state_dict(dict);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& error) {
    const std::string what = error.what();
    for (const char* fragment : {"nothing was changed", "missing state of parameter 'extra'",
                                 "mis-shaped 'state/layer/weight/exp_avg': F32 [3, 4], but the 'exp_avg' slot of 'layer/weight' is F32 [4, 3]",
                                 "unexpected state 'state/layer/bias/step' (no parameter of that name)",
                                 "unexpected parameter 'param/layer/bias'"}) {
      EXPECT_NE(what.find(fragment), std::string::npos) << fragment << "\nin: " << what;
    }
  }
  EXPECT_EQ(snapshot(other), before);

  // Non-strict: a mis-shaped tensor is still an error; with a matching shape the rest loads.
  EXPECT_THROW_WITH(other.load_state_dict(dict, false), InvalidArgument, "mis-shaped");
  EXPECT_EQ(snapshot(other), before);
  Adam fits({Parameter("layer/weight", std::span(w), std::span(gw), {3, 4}), Parameter("extra", std::span(x), std::span(gx))},
            AdamOptions(0.5));
  const LoadReport report = fits.load_state_dict(dict, false);
  EXPECT_EQ(report.missing, std::vector<std::string>{"extra"});
  EXPECT_EQ(report.unexpected.size(), 4u);  // layer/bias: its value, step, exp_avg and exp_avg_sq
  EXPECT_EQ(fits.step_count("layer/weight"), 1);
  EXPECT_EQ(fits.step_count("extra"), 0);
  EXPECT_EQ(fits.options().lr(), 0.01);
  EXPECT_EQ(w, m.w);  // the saved values were copied into the parameter
}

TEST(StateDict, RejectsAnotherOptimizerAndBadOptions) {
  Model m;
  Adam adam(m.params(), AdamOptions(0.01));
  Model n;
  SGD sgd(n.params(), SGDOptions(0.1));
  EXPECT_THROW_WITH(sgd.load_state_dict(adam.state_dict()), InvalidArgument, "holds the state of Adam, not SGD");

  StateDict d = adam.state_dict();
  const std::string good = d.metadata["groups"];
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string groups = good;
    groups.replace(groups.find(from), from.size(), to);
    d.metadata["groups"] = groups;
    return d;
  };
  Model t;
  Adam target(t.params(), AdamOptions(0.3));
  const auto before = snapshot(target);
  EXPECT_THROW_WITH(target.load_state_dict(with("\"lr\":\"0.01\"", "\"lr\":\"-1\"")), InvalidArgument,
                    "option 'lr': Adam: option 'lr' = -1 is out of range");
  EXPECT_THROW_WITH(target.load_state_dict(with("\"lr\":\"0.01\"", "\"lr\":\"fast\"")), InvalidArgument,
                    "option 'lr' = 'fast' is not a number");
  EXPECT_THROW_WITH(target.load_state_dict(with("\"lr\":\"0.01\"", "\"lr\":\"0.01\",\"warp\":\"9\"")), InvalidArgument,
                    "unexpected option 'warp' of saved group 0 (Adam has no such option)");
  EXPECT_THROW_WITH(target.load_state_dict(with("\"lr\":\"0.01\",", "")), InvalidArgument, "missing option 'lr'");
  EXPECT_THROW_WITH(target.load_state_dict(with("[{", "[[{")), InvalidArgument, "metadata 'groups'");
  EXPECT_EQ(snapshot(target), before);
  // Non-strict: an unknown option is reported, not fatal; a value out of range still is.
  const LoadReport report = target.load_state_dict(with("\"lr\":\"0.01\"", "\"lr\":\"0.02\",\"warp\":\"9\""), false);
  ASSERT_EQ(report.unexpected.size(), 1u);
  EXPECT_EQ(target.options().lr(), 0.02);
}

// A dictionary built in memory is checked as a file is: bytes that do not fill the shape are refused.
TEST(StateDict, RefusesTensorsWhoseBytesDoNotMatchTheirShape) {
  Model m;
  SGD sgd(m.params(), SGDOptions(0.1).momentum(0.9));
  m.gradient(0);
  sgd.step();
  const auto before = snapshot(sgd);
  for (const std::size_t bytes : {std::size_t{0}, std::size_t{4}, std::size_t{4096}}) {
    StateDict d = sgd.state_dict(true);
    d.tensors["param/layer/weight"].bytes.resize(bytes);
    d.tensors["state/layer/bias/momentum_buffer"].bytes.resize(bytes);
    d.tensors["state/layer/bias/step"].bytes.clear();
    try {
      sgd.load_state_dict(d);
      ADD_FAILURE() << "no exception";
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("mis-shaped 'param/layer/weight': " + std::to_string(bytes) + " bytes for shape [3, 4] of F32"),
                std::string::npos) << what;
      EXPECT_NE(what.find("mis-shaped 'state/layer/bias/momentum_buffer'"), std::string::npos) << what;
      EXPECT_NE(what.find("mis-shaped 'state/layer/bias/step': 0 bytes for shape [] of I64"), std::string::npos) << what;
    }
    EXPECT_EQ(snapshot(sgd), before);
  }
}

// A strict load knows which slots each parameter had created: a dropped slot tensor is an error, not a
// silent reset of that state.
TEST(StateDict, ADroppedSlotIsMissingNotReset) {
  Model m;
  Adam adam(m.params(), AdamOptions(0.01).amsgrad(true));
  m.gradient(0);
  adam.step();
  StateDict d = adam.state_dict();
  EXPECT_EQ(d.meta("slots"), R"({"layer/weight":["exp_avg","exp_avg_sq","max_exp_avg_sq"],"layer/bias":["exp_avg","exp_avg_sq","max_exp_avg_sq"]})");
  d.tensors.erase("state/layer/weight/exp_avg_sq");
  Model n;
  Adam fresh(n.params(), AdamOptions(0.01).amsgrad(true));
  EXPECT_THROW_WITH(fresh.load_state_dict(d), InvalidArgument,
                    "missing 'state/layer/weight/exp_avg_sq' (the parameter had created that slot)");
  EXPECT_FALSE(fresh.has_state("layer/bias", "exp_avg"));
  const LoadReport report = fresh.load_state_dict(d, false);
  EXPECT_EQ(report.missing, std::vector<std::string>{"state/layer/weight/exp_avg_sq"});
  EXPECT_FALSE(fresh.has_state("layer/weight", "exp_avg_sq"));  // non-strict: recreated by the next step
  d.metadata.erase("slots");
  EXPECT_THROW_WITH(fresh.load_state_dict(d), InvalidArgument, "no 'slots' metadata");
  // Slot tensors without a step count are not loaded, and a non-strict load says so.
  d = adam.state_dict();
  d.tensors.erase("state/layer/bias/step");
  const LoadReport partial = fresh.load_state_dict(d, false);
  EXPECT_EQ(partial.missing, std::vector<std::string>{"layer/bias"});
  EXPECT_EQ(partial.unexpected.size(), 3u);  // exp_avg, exp_avg_sq, max_exp_avg_sq of layer/bias
}

TEST(StateDict, RefusesCountsThatCouldOverflow) {
  Model m;
  SGD sgd(m.params(), SGDOptions(0.1));
  StateDict d = sgd.state_dict();
  d.tensors["state/layer/bias/step"] = Tensor::scalar(std::numeric_limits<std::int64_t>::max());
  EXPECT_THROW_WITH(sgd.load_state_dict(d), InvalidArgument,
                    "'state/layer/bias/step' = 9223372036854775807 is not a step count in [0, 2^53]");
  d = sgd.state_dict();
  d.metadata["skipped_steps"] = "9223372036854775807";
  EXPECT_THROW_WITH(sgd.load_state_dict(d), InvalidArgument, "'skipped_steps' = '9223372036854775807' is not a count");
}

// --- Hostile files -------------------------------------------------------------------------------------

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// A file from a header text and data, with the length prefix and a correct checksum: each test breaks one
// rule while keeping every other, so that the check under test (not the checksum) is the one that fires.
std::vector<std::byte> craft(std::string header, const std::string& data, std::uint64_t length_delta = 0) {
  const std::size_t at = header.find("crc32:00000000");
  std::vector<std::byte> file(8);
  std::uint64_t n = header.size() + length_delta;
  for (int i = 0; i < 8; ++i, n >>= 8) file[static_cast<std::size_t>(i)] = static_cast<std::byte>(n & 0xFF);
  const auto h = bytes_of(header), d = bytes_of(data);
  file.insert(file.end(), h.begin(), h.end());
  file.insert(file.end(), d.begin(), d.end());
  if (at != std::string::npos) {
    const uLong crc = ::crc32(0, reinterpret_cast<const Bytef*>(file.data() + 8), static_cast<uInt>(file.size() - 8));
    char digits[9];
    std::snprintf(digits, sizeof digits, "%08lx", crc);
    std::memcpy(file.data() + 8 + at + 6, digits, 8);
  }
  return file;
}

const std::string kMeta = R"("__metadata__":{"checksum":"crc32:00000000","format":"descent.checkpoint","format_version":"1"})";

std::string header_with(const std::string& tensors, const std::string& meta = kMeta) {
  return "{" + meta + (tensors.empty() ? "" : "," + tensors) + "}";
}

TEST(CheckpointFile, TheCraftingHelperMakesValidFiles) {  // so that the failures below are the intended ones
  const StateDict d = decode_checkpoint(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"),
                                              std::string(8, '\0')));
  EXPECT_EQ(d.tensor("x").values<float>("x"), (std::vector<float>{0.0f, 0.0f}));
}

TEST(CheckpointFile, RejectsEachKindOfHostileInput) {
  const std::string x8 = std::string(8, '\0');
  const auto expect_rejected = [](const std::vector<std::byte>& file, const std::string& fragment) {
    EXPECT_THROW_WITH(decode_checkpoint(file, "hostile.safetensors"), InvalidArgument, fragment);
  };
  expect_rejected(bytes_of("abc"), "hostile.safetensors: truncated: 3 bytes");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), x8, 1000),
                  "header length 1150 is larger than the rest of the file");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})",
                                    R"("__metadata__":{"checksum":"crc32:00000000","format":"descent.checkpoint","format_version":"3"})"),
                        x8),
                  "unsupported checkpoint format version '3' (this build reads versions 1 and 2)");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})",
                                    R"("__metadata__":{"checksum":"crc32:00000000"})"),
                        x8),
                  "not a descent checkpoint");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})"),
                        x8),
                  "tensors 'x' and 'y' overlap");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})"), x8),
                  "tensor 'x': data_offsets [8, 16] are out of range (the data has 8 bytes)");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), x8),
                  "bytes 0 to 4 of the data belong to no tensor");
  expect_rejected(craft(header_with(R"("x":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]})"), x8),
                  "tensor 'x': unsupported dtype 'BF16' (format version 1 holds F32, F64 and I64)");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F64","shape":[2],"data_offsets":[0,8]})"), x8),
                  "data_offsets span 8 bytes but shape [2] of F64 needs 16");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"), x8),
                  "shape [4294967296, 4294967296] has more bytes than fit in 64 bits");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), x8),
                  "shape entry '-2' is not a non-negative 64-bit integer");
  expect_rejected(craft(header_with("\"x\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), x8),
                  "not valid UTF-8 at byte");
  expect_rejected(craft(header_with("\"x\xed\xa0\x80\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), x8),
                  "not valid UTF-8");  // an encoded surrogate
  expect_rejected(craft(header_with(R"("x\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), x8),
                  "unpaired surrogate");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_rejected(craft(header_with("\"x\":" + deep), ""), "nesting deeper than 64 levels");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[0],"data_offsets":[8,8]})"), x8),
                  "duplicate key \"x\"");
  expect_rejected(craft(header_with(R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1})"), x8),
                  "expected exactly the keys dtype, shape and data_offsets");
  expect_rejected(craft(R"({"__metadata__":{"checksum":"crc32:00000000","format":"descent.checkpoint","format_version":1}})", ""),
                  "metadata 'format_version' is not a string");
  expect_rejected(craft("[1]", ""), "does not start with '{'");
  // Cheap to write, costly to parse: a bound on the number of values (and hashed duplicate checks, so
  // many keys cost linear time).
  std::string wide = "[0";
  for (int i = 0; i < (1 << 20); ++i) wide += ",0";
  expect_rejected(craft(header_with("\"x\":" + wide + "]"), ""), "more than 1048576 values");
  std::string keys = R"("__metadata__":{"checksum":"crc32:00000000","format":"descent.checkpoint","format_version":"1")";
  for (int i = 0; i < 200000; ++i) keys += ",\"k" + std::to_string(i) + "\":\"\"";
  expect_rejected(craft(header_with("\"x\":1", keys + "}"), ""), "tensor 'x': its entry is not an object");
}

TEST(CheckpointFile, AFifoIsRefusedWithoutWaitingForAWriter) {
  const auto fifo = temp_path("fifo.safetensors");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW_WITH(load_checkpoint(fifo), InvalidArgument, "is not a regular file");
  std::filesystem::remove(fifo);
}

TEST(CheckpointFile, EveryTruncationAndEveryFlippedBitIsCaught) {
  Model m;
  RMSprop opt(m.params(), RMSpropOptions(0.01).centered(true));
  m.gradient(1);
  opt.step();
  const std::vector<std::byte> good = encode_checkpoint(opt.state_dict(true));
  ASSERT_NO_THROW(decode_checkpoint(good));
  std::size_t caught = 0, tried = 0;
  for (std::size_t n = 0; n < good.size(); ++n) {
    ++tried;
    try {
      decode_checkpoint(std::span(good).first(n));
    } catch (const InvalidArgument&) {
      ++caught;
    }
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::byte> bad = good;
      bad[i] ^= static_cast<std::byte>(1 << bit);
      ++tried;
      try {
        decode_checkpoint(bad);
      } catch (const InvalidArgument&) {
        ++caught;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " bit " << bit << ": " << e.what();
      }
    }
  }
  EXPECT_EQ(caught, tried);
}

TEST(CheckpointFile, AFlippedDataByteNamesTheChecksum) {
  Model m;
  SGD opt(m.params(), SGDOptions(0.1));
  std::vector<std::byte> file = encode_checkpoint(opt.state_dict(true));
  file.back() ^= std::byte{0x40};
  EXPECT_THROW_WITH(decode_checkpoint(file, "run.safetensors"), InvalidArgument,
                    "run.safetensors: checksum mismatch");
}

TEST(CheckpointFile, MissingFileAndEncodeErrors) {
  EXPECT_THROW_WITH(load_checkpoint(temp_path("none.safetensors")), NotFound, "no file");
  StateDict d;
  d.tensors["x"] = Tensor{TensorType::F32, {3}, std::vector<std::byte>(8)};
  EXPECT_THROW_WITH(encode_checkpoint(d), InvalidArgument, "tensor 'x' has 8 bytes, which does not match its shape [3]");
  d.tensors.clear();
  d.metadata["note"] = "\xc3";
  EXPECT_THROW_WITH(encode_checkpoint(d), InvalidArgument, "metadata value of 'note' is not valid UTF-8");
}

// --- Non-finite gradients ------------------------------------------------------------------------------

TEST(NonFinite, RaiseIsTheDefaultAndChangesNothing) {
  Model m;
  Adam adam(m.params(), AdamOptions(0.01));
  EXPECT_EQ(adam.nonfinite_policy(), NonFinitePolicy::Raise);
  m.gradient(0);
  adam.step();
  const auto before = snapshot(adam);
  m.gradient(1);
  m.gb[2] = std::numeric_limits<float>::infinity();
  EXPECT_THROW_WITH(adam.step(), InvalidArgument, "Adam: step(): the gradient of 'layer/bias' is inf at element 2");
  m.gb[2] = 0.0f;
  m.gw[7] = -std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW_WITH(adam.step(), InvalidArgument, "the gradient of 'layer/weight' is nan at element 7");
  EXPECT_EQ(snapshot(adam), before);
  EXPECT_EQ(adam.step_count("layer/weight"), 1);
}

TEST(NonFinite, SkipCountsTheStepAndChangesNothing) {
  // Large enough for the threaded check (several chunks on several threads).
  std::vector<double> w(100000, 1.0), g(100000, 0.5);
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1).momentum(0.9));
  sgd.set_num_threads(3);
  sgd.set_nonfinite_policy(NonFinitePolicy::Skip);
  EXPECT_TRUE(sgd.step());
  const StateDict before = sgd.state_dict(true);
  g[99999] = std::nan("");
  EXPECT_FALSE(sgd.step());
  EXPECT_EQ(sgd.skipped_steps(), 1);
  const StateDict after = sgd.state_dict(true);
  EXPECT_EQ(after.tensors, before.tensors);  // parameters, state and step counts untouched
  EXPECT_EQ(after.meta("skipped_steps"), "1");
  EXPECT_EQ(sgd.step_count("w"), 1);
  EXPECT_EQ(w[0], 1.0 - 0.1 * 0.5);
  g[99999] = 0.5;
  EXPECT_TRUE(sgd.step());
  EXPECT_EQ(sgd.step_count("w"), 2);
  // The count is state: it travels with the checkpoint.
  std::vector<double> w2(100000), g2(100000);
  SGD other({Parameter("w", std::span(w2), std::span(g2))}, SGDOptions(0.1).momentum(0.9));
  other.load_state_dict(sgd.state_dict(true));
  EXPECT_EQ(other.skipped_steps(), 1);
  EXPECT_EQ(w2, w);
}

}  // namespace
}  // namespace descent
