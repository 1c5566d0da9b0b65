// SOAP (Vyas et al. 2024, arXiv:2409.11321, Algorithm 3; the rule of the authors' soap.py, github.com/
// nikhilvyas/SOAP). Per [rows, cols] matrix W with gradient G, preconditioners L, R (GG_0, GG_1), their
// eigenbases Q_L, Q_R (Q_0, Q_1), and Adam's moments m, v kept in the rotated basis. s counts the steps
// after the first (the reference's state["step"]); lerp is PyTorch's, sb = shampoo_beta (beta2 if < 0).
//
//   first step (s = 0): L = lerp(L, G G^T, 1 - sb), R = lerp(R, G^T G, 1 - sb);
//                       Q_L, Q_R = eigenvectors of L, R, by descending eigenvalue.  W is not changed.
//   later steps (s = 1, 2, ...):
//     G' = Q_L^T G Q_R
//     m  = beta1 m + (1 - beta1) G'           v = beta2 v + (1 - beta2) G'^2
//     N  = Q_L (m / (sqrt(v) + eps)) Q_R^T
//     W  = W - lr sqrt(1 - beta2^s) / (1 - beta1^s) N      (without correct_bias: W - lr N)
//     W  = W - lr weight_decay W                           (decoupled, after the step, as the reference)
//     m  = Q_L m Q_R^T                                     (back to the original basis)
//     L  = lerp(L, G G^T, 1 - sb),  R = lerp(R, G^T G, 1 - sb)
//     every precondition_frequency steps (s % f == 0), for L then R with its Q:
//       order = argsort(diag(Q^T L Q)) descending; Q = Q[:, order]; v's rows (for L) or columns (for R)
//       permuted by order; Q = qr(L Q).Q                   (one power iteration, then QR)
//     m  = Q_L^T m Q_R                                     (into the new basis)
//
// 1-D parameters are not preconditioned (Q = I; the reference's precondition_1d = false): Adam with the
// first step skipped and the decay after the step. Products through BLAS (sgemm/dgemm), decompositions
// through LAPACK (?syevd, ?geqrf + ?orgqr), in the parameter's dtype; the reference runs in float32 on
// float32 parameters too. Departures: a dimension above max_precond_dim is refused (the reference leaves
// that dimension unpreconditioned; issue 12 asks for an error), parameters of more than 2 dimensions are
// refused (merge_dims is not implemented), and the reference's unused 1e-30 I added before eigh is left out.
#include "descent/optimizers/soap.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "linalg/gemm.hpp"
#include "optimizers/common.hpp"
#include "optimizers/registry.hpp"
#include "optimizers/soap/lapack.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, SOAPOptions::kCount> kFields{{
    detail::lr_option(3e-3),
    detail::real_option("beta1", 0.95, 0.0, 1.0, true, false, "decay rate of the first moment (in the rotated basis)"),
    detail::real_option("beta2", 0.95, 0.0, 1.0, true, false, "decay rate of the second moment (in the rotated basis)"),
    detail::real_option("shampoo_beta", -1.0, -1.0, 1.0, true, false,
                        "decay rate of the preconditioners L and R; negative: beta2"),
    detail::eps_option(1e-8, "added to the root of the second moment"),
    detail::weight_decay_option(0.01, "decoupled decay: w -= lr * weight_decay * w, after the step"),
    detail::int_option("precondition_frequency", 10, 1, detail::kInf, true, false,
                       "steps between refreshes of the eigenbases (one power iteration and a QR)"),
    detail::int_option("max_precond_dim", 10000, 1, detail::kInf, true, false,
                       "largest dimension preconditioned; a parameter with a larger one is refused"),
    detail::bool_option("correct_bias", true, "Adam's bias correction: step lr * sqrt(1 - beta2^s) / (1 - beta1^s)"),
}};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out.append(i ? ", " : "").append(std::to_string(shape[i]));
  return out + "]";
}

// Refuses what SOAP does not take: more than 2 dimensions, or a dimension above max_precond_dim.
void check_takes(const Parameter& p, const SOAPOptions& o) {
  const auto& shape = p.shape();
  if (shape.size() > 2) {
    throw InvalidArgument("SOAP: parameter '" + p.name() + "' has the shape " + shape_text(shape) +
                          ": SOAP takes 1-D and 2-D parameters (merging dimensions is not implemented)");
  }
  if (shape.size() < 2) return;  // 1-D: not preconditioned, any length
  for (std::size_t d = 0; d < 2; ++d) {
    if (shape[d] > o.max_precond_dim()) {
      throw InvalidArgument("SOAP: parameter '" + p.name() + "' has the shape " + shape_text(shape) + ": dimension " +
                            std::to_string(d) + " is " + std::to_string(shape[d]) + ", above max_precond_dim = " +
                            std::to_string(o.max_precond_dim()) + " (raise it, or give the parameter to another optimizer)");
    }
  }
}

// [d, d] for dimension `dim` of a 2-D parameter, no elements for a 1-D one. The first slot's layout is
// also where a parameter SOAP does not take is refused as it is added.
template <std::size_t Dim>
SlotLayout square_layout(const Parameter& p, const Options& options) {
  check_takes(p, static_cast<const SOAPOptions&>(options));
  const std::int64_t d = p.shape().size() == 2 ? p.shape()[Dim] : 0;
  return {{d, d}, p.dtype()};
}

constexpr std::array<SlotSpec, 6> kSlots{{
    {"exp_avg", 0.0},
    {"exp_avg_sq", 0.0, nullptr, SlotCheck::NonNegative},
    {"GG_0", 0.0, square_layout<0>},
    {"GG_1", 0.0, square_layout<1>},
    {"Q_0", 0.0, square_layout<0>},
    {"Q_1", 0.0, square_layout<1>},
}};

struct SOAPStep {
  std::int64_t s;             // steps after the first (0: the first step)
  double beta1, beta2;
  double preconditioner_weight;  // 1 - shampoo_beta (or 1 - beta2)
  double eps, step_size, decay;  // decay: lr * weight_decay (0: none)
  bool refresh;                  // refresh the eigenbases this step

  static SOAPStep make(const SOAPOptions& o, std::int64_t step) {
    const std::int64_t s = step - 1;
    double step_size = o.lr();
    if (o.correct_bias() && s > 0) {
      step_size = step_size * std::sqrt(detail::bias_correction(o.beta2(), s)) / detail::bias_correction(o.beta1(), s);
    }
    const double sb = o.shampoo_beta() >= 0.0 ? o.shampoo_beta() : o.beta2();
    return {s, o.beta1(), o.beta2(), 1.0 - sb, o.eps(), step_size, o.lr() * o.weight_decay(),
            s > 0 && s % o.precondition_frequency() == 0};
  }
};

// The state of one parameter: rows x cols (1-D: n x 1 with no preconditioner).
template <class T>
struct SOAPState {
  T *param, *exp_avg, *exp_avg_sq, *gg0, *gg1, *q0, *q1;
  const T* grad;
  std::size_t rows, cols;
  bool preconditioned;
};

// out = Q_L^T x Q_R (into the basis) or Q_L x Q_R^T (back); tmp is rows x cols scratch.
template <class T>
void rotate(const SOAPState<T>& st, const T* x, T* out, T* tmp, bool back) {
  const std::size_t r = st.rows, c = st.cols;
  linalg::gemm<T>(!back, false, r, c, r, T(1), st.q0, r, x, c, T(0), tmp, c);
  linalg::gemm<T>(false, back, r, c, c, T(1), tmp, c, st.q1, c, T(0), out, c);
}

// gg = lerp(gg, outer, w) with outer = G G^T (dim 0) or G^T G (dim 1).
template <class T>
void accumulate(const SOAPState<T>& st, std::size_t dim, T weight, T* outer) {
  const std::size_t r = st.rows, c = st.cols, d = dim == 0 ? r : c;
  if (dim == 0) {
    linalg::gemm<T>(false, true, r, r, c, T(1), st.grad, c, st.grad, c, T(0), outer, r);
  } else {
    linalg::gemm<T>(true, false, c, c, r, T(1), st.grad, c, st.grad, c, T(0), outer, c);
  }
  T* gg = dim == 0 ? st.gg0 : st.gg1;
  for (std::size_t i = 0; i < d * d; ++i) gg[i] = detail::lerp(gg[i], outer[i], weight);
}

// One power iteration and a QR for dimension `dim`, sorting the basis (and v along that dimension) by the
// estimated eigenvalues diag(Q^T GG Q), descending.
template <class T>
void refresh(const SOAPState<T>& st, std::size_t dim) {
  const std::size_t r = st.rows, c = st.cols, d = dim == 0 ? r : c;
  T* gg = dim == 0 ? st.gg0 : st.gg1;
  T* q = dim == 0 ? st.q0 : st.q1;
  std::vector<T> gq(d * d), sorted(d * d), power(d * d);
  linalg::gemm<T>(false, false, d, d, d, T(1), gg, d, q, d, T(0), gq.data(), d);
  std::vector<double> estimate(d, 0.0);
  for (std::size_t k = 0; k < d; ++k) {
    T sum = 0;  // as torch.diag(o.T @ m @ o): a dot product in T
    for (std::size_t i = 0; i < d; ++i) sum += q[i * d + k] * gq[i * d + k];
    estimate[k] = static_cast<double>(sum);
  }
  std::vector<std::size_t> order(d);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return estimate[a] > estimate[b]; });
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t k = 0; k < d; ++k) sorted[i * d + k] = q[i * d + order[k]];
  }
  std::vector<T> v(st.exp_avg_sq, st.exp_avg_sq + r * c);
  for (std::size_t i = 0; i < r; ++i) {
    for (std::size_t j = 0; j < c; ++j) {
      st.exp_avg_sq[i * c + j] = dim == 0 ? v[order[i] * c + j] : v[i * c + order[j]];
    }
  }
  linalg::gemm<T>(false, false, d, d, d, T(1), gg, d, sorted.data(), d, T(0), power.data(), d);
  if (!soap::qr_q(power.data(), q, d)) std::copy(sorted.begin(), sorted.end(), q);
}

template <class T>
void soap_update(const SOAPStep& s, const SOAPState<T>& st) {
  const std::size_t n = st.rows * st.cols;
  const T weight = static_cast<T>(s.preconditioner_weight);
  std::vector<T> outer(st.preconditioned ? std::max(st.rows, st.cols) * std::max(st.rows, st.cols) : 0);
  if (s.s == 0) {  // the first gradient only builds the preconditioners and their eigenbases
    if (!st.preconditioned) return;
    accumulate(st, 0, weight, outer.data());
    accumulate(st, 1, weight, outer.data());
    soap::eigenvectors_descending(st.gg0, st.q0, st.rows);
    soap::eigenvectors_descending(st.gg1, st.q1, st.cols);
    return;
  }
  std::vector<T> rotated(n), tmp(st.preconditioned ? n : 0), direction(n);
  if (st.preconditioned) {
    rotate(st, st.grad, rotated.data(), tmp.data(), false);
  } else {
    std::copy(st.grad, st.grad + n, rotated.begin());
  }
  const T beta1 = static_cast<T>(s.beta1), one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
  const T beta2 = static_cast<T>(s.beta2), one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
  const T eps = static_cast<T>(s.eps);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = rotated[i];
    st.exp_avg[i] = detail::ema(st.exp_avg[i], g, beta1, one_minus_beta1);
    st.exp_avg_sq[i] = std::fma(one_minus_beta2, g * g, st.exp_avg_sq[i] * beta2);  // mul_, then add_(g.square())
    direction[i] = st.exp_avg[i] / (std::sqrt(st.exp_avg_sq[i]) + eps);
  }
  if (st.preconditioned) {
    rotate(st, direction.data(), rotated.data(), tmp.data(), true);
  } else {
    std::copy(direction.begin(), direction.end(), rotated.begin());
  }
  const T step = static_cast<T>(-s.step_size), decay = static_cast<T>(-s.decay);
  for (std::size_t i = 0; i < n; ++i) {
    st.param[i] = detail::add_scaled(st.param[i], step, rotated[i]);
    if (s.decay > 0.0) st.param[i] = detail::add_scaled(st.param[i], decay, st.param[i]);
  }
  if (!st.preconditioned) return;
  rotate(st, st.exp_avg, rotated.data(), tmp.data(), true);  // m back to the original basis
  accumulate(st, 0, weight, outer.data());
  accumulate(st, 1, weight, outer.data());
  if (s.refresh) {
    refresh(st, 0);
    refresh(st, 1);
  }
  rotate(st, rotated.data(), st.exp_avg, tmp.data(), false);  // and into the (new) basis
}

}  // namespace

std::span<const OptionInfo> SOAPOptions::fields() { return kFields; }

SOAPOptions::SOAPOptions(double lr) : Options("SOAP", kFields) { this->lr(lr); }

SOAP::SOAP(std::vector<Parameter> params, const SOAPOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t SOAP::slots_needed(const Options&) const { return 0x3fu; }

void SOAP::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const SOAPOptions&>(options);
  for (const Record* r : records) check_takes(r->param, o);  // max_precond_dim may have been lowered since
  for (Record* r : records) {
    const SOAPStep s = SOAPStep::make(o, r->step);
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const bool matrix = r->param.shape().size() == 2;
      SOAPState<T> st{r->param.value<T>().data(), slot<T>(*r, kExpAvg), slot<T>(*r, kExpAvgSq), slot<T>(*r, kGG0),
                      slot<T>(*r, kGG1), slot<T>(*r, kQ0), slot<T>(*r, kQ1), r->param.grad<T>().data(),
                      matrix ? static_cast<std::size_t>(r->param.shape()[0]) : r->param.size(),
                      matrix ? static_cast<std::size_t>(r->param.shape()[1]) : 1, matrix};
      if (r->param.size() == 0) return;
      tasks.push_back({[=](std::size_t, std::size_t) { soap_update(s, st); }, r->param.size(), true});
    });
  }
}

}  // namespace descent

// The registration. Its step is matrix products and decompositions: no memory roof.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {
    {"soap", "soap", {}, "SOAP: Adam in Shampoo's eigenbasis, betas (0.95, 0.95), refreshed every 10 steps", 3e-3}};
constexpr Entry kEntries[] = {{"soap", []() -> std::unique_ptr<Options> { return std::make_unique<SOAPOptions>(); },
                               [](std::vector<Parameter> params, const Options& options) -> std::unique_ptr<Optimizer> {
                                 return std::make_unique<SOAP>(std::move(params), static_cast<const SOAPOptions&>(options));
                               },
                               kPresets,
                               {{}, {}, true}}};

}  // namespace

std::span<const Entry> soap() { return kEntries; }

}  // namespace descent::registry
