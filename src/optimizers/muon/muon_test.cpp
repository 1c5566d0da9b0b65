// Muon against NumPy references (tests/reference/generate_muon.py), its refusals, its composition with
// AdamW (muon_with_aux_adamw), and its convergence.
//
// Tolerance. The Newton-Schulz products go through BLAS (sgemm/dgemm), whose summation order is not
// NumPy's, so parameters cannot match bit for bit. generate_muon.py derives, for every step of every case,
// a bound on the distance of any correct implementation in the case's dtype from the exact result: a
// first-order forward error analysis of the normalisation (3u), of each gemm (gamma_k = k u / (1 - k u)
// times the products of the operands' Frobenius norms), of their propagation through the iteration
// (Lipschitz constant max |p'(x)| of the polynomial over the singular values' range) and of the two
// roundings of the final p * decay - lr * O, summed over the steps. descent and NumPy each keep to it, so
// they differ by at most twice the bound; against the float64 trajectory of the same inputs, by at most
// the bound plus the float64 one. The script checks that the bound is below 5% of ||O||_F (at most 1.1%
// in the cases here), so a wrong polynomial, a missing iteration or a transposition fails (checked by
// hand: one iteration fewer fails every case at step 1). In float64 the bound is about 1e-16 relative,
// so those cases pin the arithmetic tightly; the float32 ones check the sgemm path. The momentum buffer
// is element-wise arithmetic in the same order on both sides: equal bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "optimizers/muon/newton_schulz.hpp"
#include "support/expect_throw.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

using testing::SafetensorsFile;

void apply_options(MuonOptions& o, const nlohmann::json& options) {
  for (const auto& [name, v] : options.items()) {
    if (v.is_string()) {
      o.set_choice(name, v.get<std::string>());
    } else if (v.is_boolean()) {
      o.set(name, v.get<bool>() ? 1.0 : 0.0);
    } else {
      o.set(name, v.get<double>());
    }
  }
}

template <class T>
void replay(const SafetensorsFile& file, const nlohmann::json& c) {
  const std::string id = c.at("id").get<std::string>();
  SCOPED_TRACE("muon/" + id);
  const auto shape = c.at("shape").get<std::vector<std::int64_t>>();
  const std::size_t steps = c.at("steps").get<std::size_t>();
  const auto init = file.tensors.at(id + "/init").values();
  const auto grads = file.tensors.at(id + "/grad").values();
  const auto param_ref = file.tensors.at(id + "/param").values();
  const auto param_f64 = file.tensors.at(id + "/param_f64").values();
  const auto buf_ref = file.tensors.at(id + "/state.momentum_buffer").values();
  const auto bound = file.tensors.at(id + "/bound").values();
  const auto bound_f64 = file.tensors.at(id + "/bound_f64").values();
  const std::size_t n = init.size();
  ASSERT_EQ(grads.size(), steps * n);

  MuonOptions options;
  apply_options(options, c.at("options"));
  std::vector<T> w(init.begin(), init.end()), g(n);
  Muon opt({Parameter("w", std::span(w), std::span(g), shape)}, options);
  double worst = 0.0;
  for (std::size_t t = 0; t < steps; ++t) {
    for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<T>(grads[t * n + i]);
    opt.step();
    const auto buf = opt.state<T>("w", "momentum_buffer");
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(static_cast<double>(buf[i]), buf_ref[t * n + i]) << "momentum_buffer, step " << t + 1 << ", element " << i;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const double ours = static_cast<double>(w[i]);
      const double to_same = std::abs(ours - param_ref[t * n + i]), to_f64 = std::abs(ours - param_f64[t * n + i]);
      ASSERT_LE(to_same, 2.0 * bound[t]) << "param vs NumPy in the same dtype, step " << t + 1 << ", element " << i;
      ASSERT_LE(to_f64, bound[t] + bound_f64[t]) << "param vs NumPy in float64, step " << t + 1 << ", element " << i;
      worst = std::max(worst, to_same / (2.0 * bound[t]));
    }
  }
  std::printf("muon/%s: |descent - NumPy| at most %.3g of the allowed 2 x bound\n", id.c_str(), worst);
}

TEST(Muon, MatchesTheNumPyReference) {
  const SafetensorsFile file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/muon.safetensors");
  const auto cases = nlohmann::json::parse(file.metadata.at("cases").get<std::string>());
  ASSERT_EQ(cases.size(), 12u);
  for (const auto& c : cases) {
    if (c.at("dtype") == "f32") {
      replay<float>(file, c);
    } else {
      replay<double>(file, c);
    }
  }
}

// The iteration itself, with the classic convergent quintic (15x - 10x^3 + 3x^5) / 8: it drives every
// singular value in (0, 1] to 1, so X X^T -> I, whichever BLAS computes it.
TEST(Muon, NewtonSchulzOrthogonalizes) {
  const std::size_t m = 5, n = 9;
  std::vector<double> x(m * n);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(1.0 + 3.7 * static_cast<double>(i));
  double norm = 0.0;
  for (const double v : x) norm += v * v;
  for (double& v : x) v /= std::sqrt(norm);
  muon::newton_schulz(x.data(), m, n, {15.0 / 8, -10.0 / 8, 3.0 / 8}, 60);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < m; ++j) {
      double dot = 0.0;
      for (std::size_t k = 0; k < n; ++k) dot += x[i * n + k] * x[j * n + k];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-9) << i << ", " << j;
    }
  }
}

TEST(Muon, RefusesParametersItCannotOrthogonalize) {
  std::vector<float> w(12, 1.0f), gw(12, 0.5f), b(5, 1.0f), gb(5, 0.5f), conv(24, 1.0f), gconv(24, 0.5f);
  EXPECT_THROW_WITH(Muon({Parameter("bias", std::span(b), std::span(gb))}), InvalidArgument,
                    "parameter 'bias' has the shape [5] (1-D)");
  EXPECT_THROW_WITH(Muon({Parameter("conv", std::span(conv), std::span(gconv), {2, 3, 2, 2})}), InvalidArgument,
                    "with flatten = true");

  Muon opt({Parameter("w", std::span(w), std::span(gw), {3, 4})});
  EXPECT_THROW_WITH(opt.add_param_group({Parameter("bias", std::span(b), std::span(gb))}), InvalidArgument,
                    "muon_with_aux_adamw()");
  EXPECT_EQ(opt.num_parameters(), 1u);
  EXPECT_EQ(opt.num_groups(), 1u);

  // Flatten on: taken as [2, 12]. Turned off later: step() refuses, changing nothing.
  opt.add_param_group({Parameter("conv", std::span(conv), std::span(gconv), {2, 3, 2, 2})}, MuonOptions().flatten(true));
  opt.options(1).flatten(false);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "'conv' has the shape [2, 3, 2, 2]");
  EXPECT_EQ(w, std::vector<float>(12, 1.0f));
  EXPECT_EQ(conv, std::vector<float>(24, 1.0f));
  EXPECT_EQ(opt.step_count("w"), 0);
  EXPECT_FALSE(opt.has_state("w", "momentum_buffer"));
  opt.options(1).flatten(true);
  EXPECT_TRUE(opt.step());
  EXPECT_NE(conv[0], 1.0f);

  EXPECT_THROW_WITH(MuonOptions().eps(0.0), InvalidArgument, "'eps' = 0");
  EXPECT_THROW_WITH(MuonOptions().ns_steps(100), InvalidArgument, "'ns_steps' = 100");
  EXPECT_THROW_WITH(MuonOptions().set_choice("adjust_lr_fn", "spectral"), InvalidArgument, "'spectral'");
}

// One optimizer for a model: Muon for the matrix, AdamW with the aux options for the bias, each step the
// same as the two optimizers alone, and one checkpoint that resumes bitwise.
TEST(Muon, WithAuxAdamWIsOneOptimizerOfBoth) {
  std::vector<float> w(12), gw(12), b(3), gb(3);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.3f * static_cast<float>(i));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.1f * static_cast<float>(i);
  std::vector<float> w2 = w, gw2(12), b2 = b, gb2(3);
  MuonOptions options(0.02);
  options.aux_lr(0.01).aux_betas(0.8, 0.9).aux_weight_decay(0.1);
  auto both = muon_with_aux_adamw(
      {Parameter("bias", std::span(b), std::span(gb)), Parameter("weight", std::span(w), std::span(gw), {3, 4})}, options);
  ASSERT_EQ(both->name(), "Composite");
  ASSERT_EQ(both->num_groups(), 2u);
  EXPECT_EQ(both->group(0).rule(), "Muon");
  EXPECT_EQ(both->group(1).rule(), "AdamW");
  EXPECT_EQ(both->group(1).options().get("lr"), 0.01);
  EXPECT_EQ(both->group(1).options().get("beta1"), 0.8);
  EXPECT_EQ(both->group(1).options().get("eps"), 1e-10);

  Muon muon({Parameter("weight", std::span(w2), std::span(gw2), {3, 4})}, options);
  AdamW adamw({Parameter("bias", std::span(b2), std::span(gb2))},
              AdamWOptions(0.01).betas(0.8, 0.9).eps(1e-10).weight_decay(0.1));
  const auto grads = [&](int step) {
    for (std::size_t i = 0; i < 12; ++i) gw[i] = gw2[i] = std::sin(0.7f * static_cast<float>(i + 13 * step));
    for (std::size_t i = 0; i < 3; ++i) gb[i] = gb2[i] = std::cos(1.1f * static_cast<float>(i + 7 * step));
  };
  for (int s = 0; s < 3; ++s) {
    grads(s);
    both->step();
    muon.step();
    adamw.step();
  }
  EXPECT_EQ(w, w2);
  EXPECT_EQ(b, b2);

  const StateDict saved = both->state_dict();
  std::vector<float> w3 = w, gw3(12), b3 = b, gb3(3);
  auto resumed = muon_with_aux_adamw(
      {Parameter("bias", std::span(b3), std::span(gb3)), Parameter("weight", std::span(w3), std::span(gw3), {3, 4})}, options);
  resumed->load_state_dict(saved);
  grads(3);
  gw3 = gw;
  gb3 = gb;
  both->step();
  resumed->step();
  EXPECT_EQ(w, w3);
  EXPECT_EQ(b, b3);
}

TEST(Muon, ResultsDoNotDependOnTheThreadCount) {
  std::vector<float> a(40 * 30), ga(a.size()), c(a.size()), gc(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = c[i] = std::sin(0.01f * static_cast<float>(i));
    ga[i] = gc[i] = std::cos(0.37f * static_cast<float>(i));
  }
  Muon one({Parameter("w", std::span(a), std::span(ga), {40, 30})}, MuonOptions(0.02));
  Muon two({Parameter("w", std::span(c), std::span(gc), {40, 30})}, MuonOptions(0.02));
  one.set_num_threads(1);
  two.set_num_threads(2);
  for (int s = 0; s < 3; ++s) {
    one.step();
    two.step();
  }
  EXPECT_EQ(a, c);
}

// f(W, v) = 1/2 sum a_ij (W_ij - C_ij)^2 + 1/2 |v - d|^2 for a [4, 6] matrix W (Muon) and a vector v (the
// aux AdamW), through the registry's "muon", with the learning rates decayed to 0 (the orthogonalized
// step has spectral norm about 1 whatever the gradient's size, so a constant rate keeps moving by ~lr).
template <class T>
double muon_quadratic_error(int steps) {
  const std::size_t rows = 4, cols = 6;
  std::vector<T> w(rows * cols, T(0.5)), gw(w.size()), v(3, T(0.5)), gv(3);
  std::vector<double> curvature(w.size()), center(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    curvature[i] = 1.0 + static_cast<double>(i % 5);
    center[i] = std::sin(1.0 + static_cast<double>(i));
  }
  const std::vector<double> v_center{1.0, -2.0, 0.25};
  auto opt = make_optimizer("muon",
                            {Parameter("w", std::span(w), std::span(gw), {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)}),
                             Parameter("v", std::span(v), std::span(gv))},
                            {{"lr", 0.05}, {"aux_lr", 0.05}, {"weight_decay", 0.0}});
  for (int s = 0; s < steps; ++s) {
    const double decay = 1.0 - static_cast<double>(s) / steps;
    opt->group(0).options().set_lr(0.05 * decay);
    opt->group(1).options().set_lr(0.05 * decay);
    for (std::size_t i = 0; i < w.size(); ++i) gw[i] = static_cast<T>(curvature[i] * (static_cast<double>(w[i]) - center[i]));
    for (std::size_t i = 0; i < v.size(); ++i) gv[i] = static_cast<T>(static_cast<double>(v[i]) - v_center[i]);
    opt->step();
  }
  double error = 0.0;
  for (std::size_t i = 0; i < w.size(); ++i) error = std::max(error, std::abs(static_cast<double>(w[i]) - center[i]));
  for (std::size_t i = 0; i < v.size(); ++i) error = std::max(error, std::abs(static_cast<double>(v[i]) - v_center[i]));
  return error;
}

TEST(Muon, ConvergesOnAQuadratic) {
  EXPECT_GT(muon_quadratic_error<double>(0), 1.0);  // the start is far from the minimum
  EXPECT_LE(muon_quadratic_error<double>(2000), 2e-2);
  EXPECT_LE(muon_quadratic_error<float>(2000), 2e-2);
}

}  // namespace
}  // namespace descent
