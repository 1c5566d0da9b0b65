// SOAP against NumPy references (tests/reference/generate_soap.py), its refusals, its state's layout and
// size, and its convergence.
//
// Tolerance. The products (BLAS) and decompositions (LAPACK) round in another order than NumPy's, and an
// eigenvector is only as well determined as its eigenvalue's gap, so parameters cannot match bit for bit.
// generate_soap.py gives, per step, a first-order estimate of how far a correct implementation may land:
// the sum over the steps of 100 n u kappa |step| + 2 u max|p| (kappa: the largest ||L|| / eigenvalue gap
// and QR condition number met; |step|: the largest element of the step's update; the factor 100 covers the
// O(1) constants of the perturbation bounds). NumPy's own float32 run stays within it of its float64 run;
// descent must be within it of NumPy in the same dtype. It is below 4% of one step's move in float32 and
// about 1e-10 of it in float64, so a wrong rotation, a missed refresh or a wrong bias correction fails.
// The preconditioners GG_0, GG_1 and exp_avg_sq do not depend on the eigenvectors' signs (exp_avg and Q
// do, and LAPACK may pick either): they are compared too, to a relative 1e-4 (float32) and 1e-10 (float64)
// of their largest element, rounding of a few sums of a dozen products apart.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"
#include "support/safetensors_reader.hpp"

namespace descent {
namespace {

using testing::SafetensorsFile;

template <class T>
void replay(const SafetensorsFile& file, const nlohmann::json& c) {
  const std::string id = c.at("id").get<std::string>();
  SCOPED_TRACE("soap/" + id);
  const auto shape = c.at("shape").get<std::vector<std::int64_t>>();
  const std::size_t steps = c.at("steps").get<std::size_t>();
  const auto init = file.tensors.at(id + "/init").values();
  const auto grads = file.tensors.at(id + "/grad").values();
  const auto param_ref = file.tensors.at(id + "/param").values();
  const auto tolerance = file.tensors.at(id + "/tolerance").values();
  const std::size_t n = init.size();
  SOAPOptions options;
  for (const auto& [name, v] : c.at("options").items()) {
    options.set(name, v.is_boolean() ? (v.template get<bool>() ? 1.0 : 0.0) : v.template get<double>());
  }
  std::vector<T> w(init.begin(), init.end()), g(n);
  SOAP opt({Parameter("w", std::span(w), std::span(g), shape)}, options);
  const double state_rtol = std::is_same_v<T, float> ? 1e-4 : 1e-10;
  double worst = 0.0;
  for (std::size_t t = 0; t < steps; ++t) {
    for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<T>(grads[t * n + i]);
    opt.step();
    for (std::size_t i = 0; i < n; ++i) {
      const double d = std::abs(static_cast<double>(w[i]) - param_ref[t * n + i]);
      ASSERT_LE(d, tolerance[t]) << "param, step " << t + 1 << ", element " << i;
      worst = std::max(worst, d / tolerance[t]);
    }
    for (const char* slot : {"GG_0", "GG_1", "exp_avg_sq"}) {
      const auto ours = opt.state<T>("w", slot);
      const auto ref = file.tensors.at(id + "/state." + slot).values();
      const std::size_t size = ref.size() / steps;
      ASSERT_EQ(ours.size(), size) << slot;
      double largest = 0.0;
      for (std::size_t i = 0; i < size; ++i) largest = std::max(largest, std::abs(ref[t * size + i]));
      for (std::size_t i = 0; i < size; ++i) {
        ASSERT_LE(std::abs(static_cast<double>(ours[i]) - ref[t * size + i]), state_rtol * largest)
            << slot << ", step " << t + 1 << ", element " << i;
      }
    }
  }
  std::printf("soap/%s: |descent - NumPy| at most %.3g of the tolerance\n", id.c_str(), worst);
}

TEST(SOAP, MatchesTheNumPyReference) {
  const SafetensorsFile file = testing::read_safetensors(std::string(DESCENT_REFERENCE_DIR) + "/soap.safetensors");
  const auto cases = nlohmann::json::parse(file.metadata.at("cases").get<std::string>());
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& c : cases) {
    if (c.at("dtype") == "f32") {
      replay<float>(file, c);
    } else {
      replay<double>(file, c);
    }
  }
}

TEST(SOAP, RefusesDimensionsAboveMaxPrecondDimAndMoreThanTwoDimensions) {
  std::vector<float> w(12, 1.0f), gw(12, 0.5f), big(40, 1.0f), gbig(40, 0.5f), conv(24, 1.0f), gconv(24, 0.5f);
  EXPECT_THROW_WITH(SOAP({Parameter("emb", std::span(big), std::span(gbig), {20, 2})}, SOAPOptions().max_precond_dim(16)),
                    InvalidArgument, "dimension 0 is 20, above max_precond_dim = 16");
  EXPECT_THROW_WITH(SOAP({Parameter("conv", std::span(conv), std::span(gconv), {2, 3, 2, 2})}), InvalidArgument,
                    "'conv' has the shape [2, 3, 2, 2]");
  SOAP opt({Parameter("w", std::span(w), std::span(gw), {3, 4})});
  EXPECT_THROW_WITH(opt.add_param_group({Parameter("emb", std::span(big), std::span(gbig), {20, 2})},
                                        SOAPOptions().max_precond_dim(16)),
                    InvalidArgument, "'emb'");
  EXPECT_EQ(opt.num_parameters(), 1u);
  // Lowered after the parameter was added: step() refuses, changing nothing.
  opt.options().max_precond_dim(3);
  EXPECT_THROW_WITH(opt.step(), InvalidArgument, "dimension 1 is 4, above max_precond_dim = 3");
  EXPECT_EQ(w, std::vector<float>(12, 1.0f));
  EXPECT_EQ(opt.step_count("w"), 0);
  EXPECT_FALSE(opt.has_state("w", "GG_0"));
}

// Slots: [d, d] per dimension, in the parameter's dtype. For the MLP's 784-256-10 weights in float32:
// exp_avg and exp_avg_sq 4 bytes per element each, GG and Q 2 * 4 * (rows^2 + cols^2) bytes.
TEST(SOAP, StateHasOneSquareMatrixPerDimension) {
  std::vector<float> w(256 * 784), g(w.size()), b(256), gb(256);
  SOAP opt({Parameter("w", std::span(w), std::span(g), {256, 784}), Parameter("b", std::span(b), std::span(gb))});
  const auto bytes = [&](const std::string& param) {
    std::size_t total = 0;
    for (const auto slot : opt.slot_names()) {
      const SlotLayout layout = opt.state_layout(param, slot);
      std::size_t n = 1;
      for (const auto d : layout.shape) n *= static_cast<std::size_t>(d);
      EXPECT_EQ(layout.dtype, DType::Float32);
      total += n * 4;
    }
    return total;
  };
  EXPECT_EQ(opt.state_layout("w", "GG_0").shape, (std::vector<std::int64_t>{256, 256}));
  EXPECT_EQ(opt.state_layout("w", "Q_1").shape, (std::vector<std::int64_t>{784, 784}));
  EXPECT_EQ(opt.state_layout("b", "GG_0").shape, (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(bytes("w"), 2u * 4 * 256 * 784 + 2u * 4 * (256 * 256 + 784 * 784));  // 7,047,168 bytes
  EXPECT_EQ(bytes("b"), 2u * 4 * 256);
  std::printf("SOAP state of a [256, 784] float32 weight: %zu bytes (the weight: %zu)\n", bytes("w"), w.size() * 4);
}

TEST(SOAP, CheckpointResumesBitwise) {
  std::vector<double> a(20), ga(20), b(20), gb(20), v(3, 0.5), gv(3), u(3, 0.5), gu(3);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = std::sin(1.0 + static_cast<double>(i));
  const auto grads = [&](int s) {
    for (std::size_t i = 0; i < a.size(); ++i) ga[i] = gb[i] = std::cos(0.3 * static_cast<double>(i * (s + 2)));
    for (std::size_t i = 0; i < 3; ++i) gv[i] = gu[i] = std::sin(static_cast<double>(i + s));
  };
  const SOAPOptions options = SOAPOptions(0.01).precondition_frequency(2);
  SOAP one({Parameter("w", std::span(a), std::span(ga), {4, 5}), Parameter("v", std::span(v), std::span(gv))}, options);
  for (int s = 0; s < 4; ++s) {
    grads(s);
    one.step();
  }
  SOAP two({Parameter("w", std::span(b), std::span(gb), {4, 5}), Parameter("v", std::span(u), std::span(gu))}, options);
  two.load_state_dict(one.state_dict(/*with_parameters=*/true));
  for (int s = 4; s < 7; ++s) {
    grads(s);
    one.step();
    two.step();
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(v, u);
}

// The quadratic of tests/support/quadratic.hpp on a [4, 6] matrix with elementwise curvatures 1..5 and a
// vector, lr decayed linearly to 0.
template <class T>
double soap_quadratic_error(int steps) {
  std::vector<T> w(24, T(0.5)), gw(24), v(3, T(0.5)), gv(3);
  std::vector<double> curvature(24), center(24);
  for (std::size_t i = 0; i < 24; ++i) {
    curvature[i] = 1.0 + static_cast<double>(i % 5);
    center[i] = std::sin(1.0 + static_cast<double>(i));
  }
  const std::vector<double> v_center{1.0, -2.0, 0.25};
  auto opt = make_optimizer("soap", {Parameter("w", std::span(w), std::span(gw), {4, 6}), Parameter("v", std::span(v), std::span(gv))},
                            {{"lr", 0.05}, {"weight_decay", 0.0}});
  for (int s = 0; s < steps; ++s) {
    opt->group(0).options().set_lr(0.05 * (1.0 - static_cast<double>(s) / steps));
    for (std::size_t i = 0; i < 24; ++i) gw[i] = static_cast<T>(curvature[i] * (static_cast<double>(w[i]) - center[i]));
    for (std::size_t i = 0; i < 3; ++i) gv[i] = static_cast<T>(static_cast<double>(v[i]) - v_center[i]);
    opt->step();
  }
  double error = 0.0;
  for (std::size_t i = 0; i < 24; ++i) error = std::max(error, std::abs(static_cast<double>(w[i]) - center[i]));
  for (std::size_t i = 0; i < 3; ++i) error = std::max(error, std::abs(static_cast<double>(v[i]) - v_center[i]));
  return error;
}

TEST(SOAP, ConvergesOnAQuadratic) {
  EXPECT_GT(soap_quadratic_error<double>(0), 1.0);
  EXPECT_LE(soap_quadratic_error<double>(3000), 2e-2);
  EXPECT_LE(soap_quadratic_error<float>(3000), 2e-2);
}

}  // namespace
}  // namespace descent
