// Adafactor (Shazeer & Stern 2018, arXiv:1804.04235, Algorithms 4 and 5 with update clipping, section 6,
// and relative step size, section 8), as PyTorch 2.5's torch.optim.Adafactor code computes it (its
// single-tensor path; where its docstring says otherwise, docs/optimizers.md lists the differences).
// Per parameter tensor, t its step count:
//
//   g = grad                                             (-grad when maximizing)
//   w = t^beta2_decay                                    (= 1 - beta2_t)
//   rho = min(lr, 1 / sqrt(t)),    alpha = max(eps2, RMS(p)) * rho      (RMS of p before the decay)
//   p = p * (1 - lr * weight_decay)
//   two or more dimensions [..., rows, cols], per leading index:
//     row_var = lerp(row_var, mean of g^2 over each row, w)       [..., rows, 1]
//     col_var = lerp(col_var, mean of g^2 over each column, w)    [..., 1, cols]
//     v = (row_var @ col_var) / max(mean(row_var), eps1)
//   one dimension:
//     variance = lerp(variance, g^2, w),   v = variance
//   U = g / sqrt(max(v, eps1^2))                          (torch: clamp(v, eps1^2).rsqrt() * g)
//   p = p - alpha / max(1, RMS(U) / d) * U
//
// eps1 defaults to the parameter dtype's machine epsilon (torch's eps1 = None). The means over rows,
// columns and row_var, RMS(p) and RMS(U) need the whole tensor: RMS(p) and RMS(U) are chunked sums
// (parallel_sum, added in chunk order), the row and column means one whole-tensor task per parameter;
// all sums are in double, in index order, so the result is the same for any number of threads. U is
// not stored: the last pass recomputes it from the stored factors, bit for bit as the sum did.
#include "descent/optimizers/adafactor.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/kernels.hpp"
#include "optimizers/adafactor/adafactor_reference.hpp"
#include "optimizers/common.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

// The paper's eps1 (section 9): the value eps1 takes when eps1_from_dtype is turned off.
constexpr double kPaperEps1 = 1e-30;

constexpr std::array<OptionInfo, AdafactorOptions::kCount> kFields{{
    // Not a step size here: the cap of the relative step rho = min(lr, 1/sqrt(t)), and the decay's factor.
    detail::real_option("lr", 1e-2, 0.0, detail::kInf, true, false,
                        "cap of the relative step size rho = min(lr, 1/sqrt(t)); also scales the weight decay"),
    detail::real_option("beta2_decay", -0.8, -detail::kInf, 0.0, false, true,
                        "beta2_t = 1 - t^beta2_decay, the decay rate of the squared-gradient means"),
    detail::real_option("eps1", kPaperEps1, 0.0, detail::kInf, true, false,
                        "floor of the second-moment estimate's root, used when eps1_from_dtype is false"),
    detail::bool_option("eps1_from_dtype", true,
                        "eps1 = the parameter dtype's machine epsilon (torch's eps1 = None)"),
    detail::real_option("eps2", 1e-3, 0.0, detail::kInf, true, false,
                        "floor of RMS(p) in the relative step size alpha = max(eps2, RMS(p)) * rho"),
    detail::real_option("d", 1.0, 1.0, detail::kInf, true, true,
                        "clipping threshold: the update is divided by max(1, RMS(U) / d) (inf: no clipping)"),
    detail::weight_decay_option(0.0, "decoupled decay: p *= 1 - lr * weight_decay before the step"),
    detail::maximize_option(),
}};

bool factored(const Parameter& p) { return p.shape().size() >= 2; }

// torch's state shapes: row_var [..., rows, 1], col_var [..., 1, cols] for two or more dimensions,
// variance like the parameter for one; a slot a parameter does not use has no elements.
SlotLayout row_var_layout(const Parameter& p, const Options&) {
  if (!factored(p)) return {{0}, p.dtype()};
  auto shape = p.shape();
  shape.back() = 1;
  return {shape, p.dtype()};
}
SlotLayout col_var_layout(const Parameter& p, const Options&) {
  if (!factored(p)) return {{0}, p.dtype()};
  auto shape = p.shape();
  shape[shape.size() - 2] = 1;
  return {shape, p.dtype()};
}
SlotLayout variance_layout(const Parameter& p, const Options&) {
  return factored(p) ? SlotLayout{{0}, p.dtype()} : SlotLayout{p.shape(), p.dtype()};
}

constexpr std::array<SlotSpec, 3> kSlots{{
    {"row_var", 0.0, row_var_layout, SlotCheck::NonNegative},
    {"col_var", 0.0, col_var_layout, SlotCheck::NonNegative},
    {"variance", 0.0, variance_layout, SlotCheck::NonNegative},
}};

// A factored parameter seen as `batches` matrices of rows x cols.
struct Matrix {
  std::size_t batches = 1, rows = 1, cols = 1;
  explicit Matrix(const Parameter& p) {
    const auto& shape = p.shape();
    rows = static_cast<std::size_t>(shape[shape.size() - 2]);
    cols = static_cast<std::size_t>(shape.back());
    batches = p.size() / (rows * cols);
  }
};

// Calls fn(row, j, i, n) for each piece of [begin, end) that lies in one row: `row` the row's index
// over all batches (its row_var element), j the column of its first element, i that element's index.
template <class Fn>
void for_each_row_piece(const Matrix& m, std::size_t begin, std::size_t end, const Fn& fn) {
  for (std::size_t i = begin; i < end;) {
    const std::size_t row = i / m.cols, j = i % m.cols;
    const std::size_t n = std::min(end - i, m.cols - j);
    fn(row, j, i, n);
    i += n;
  }
}

// The row and column means of g^2 folded into row_var and col_var, then the clamped mean of row_var of
// each batch: one parameter's whole-tensor work, on one thread, sums in double in index order.
template <class T>
void update_factors(const reference::AdafactorStep& s, const Matrix& m, const T* grad, T* row_var, T* col_var,
                    double* row_mean) {
  const T w = static_cast<T>(s.lerp_weight), w_minus_one = w - T(1);
  std::vector<double> col_sum(m.cols);
  for (std::size_t b = 0; b < m.batches; ++b) {
    std::fill(col_sum.begin(), col_sum.end(), 0.0);
    const T* g = grad + b * m.rows * m.cols;
    T* rv = row_var + b * m.rows;
    T* cv = col_var + b * m.cols;
    double row_var_sum = 0.0;
    for (std::size_t i = 0; i < m.rows; ++i) {
      double row_sum = 0.0;
      for (std::size_t j = 0; j < m.cols; ++j) {
        const double sq = static_cast<double>(g[i * m.cols + j]) * static_cast<double>(g[i * m.cols + j]);
        row_sum += sq;
        col_sum[j] += sq;
      }
      rv[i] = reference::lerp(rv[i], static_cast<T>(row_sum / static_cast<double>(m.cols)), w, w_minus_one);
      row_var_sum += static_cast<double>(rv[i]);
    }
    for (std::size_t j = 0; j < m.cols; ++j) {
      cv[j] = reference::lerp(cv[j], static_cast<T>(col_sum[j] / static_cast<double>(m.rows)), w, w_minus_one);
    }
    // torch: row_var.mean(dim=-2).clamp_(min=eps1), a NaN mean staying NaN.
    const T mean = static_cast<T>(row_var_sum / static_cast<double>(m.rows));
    const T eps1 = static_cast<T>(s.eps1);
    row_mean[b] = static_cast<double>(mean < eps1 ? eps1 : mean);
  }
}

// Python's max(a, b) and min(a, b) as torch's code calls them on floats: the first argument unless the
// second is strictly larger (smaller), so a NaN second argument gives the first.
double py_max(double a, double b) { return b > a ? b : a; }
double py_min(double a, double b) { return b < a ? b : a; }

}  // namespace

std::span<const OptionInfo> AdafactorOptions::fields() { return kFields; }

AdafactorOptions::AdafactorOptions(double lr) : Options("Adafactor", kFields) { this->lr(lr); }

AdafactorOptions& AdafactorOptions::eps(std::optional<double> eps1, double eps2) {
  if (eps1) {
    assign_pair(kEps1, *eps1, kEps2, eps2);
    assign(kEps1FromDtype, false);
  } else {
    check(kEps2, eps2);
    assign(kEps2, eps2);
    assign(kEps1, kPaperEps1);
    assign(kEps1FromDtype, true);
  }
  return *this;
}

double AdafactorOptions::eps1_for(DType dtype) const noexcept {
  if (!eps1_from_dtype()) return eps1();
  return dtype == DType::Float32 ? static_cast<double>(std::numeric_limits<float>::epsilon())
                                 : std::numeric_limits<double>::epsilon();
}

void AdafactorOptions::validate() const {
  if (eps1_from_dtype() && eps1() != kPaperEps1) {
    fail("eps1 = " + format_number(eps1()) +
         " would be ignored: eps1_from_dtype is true, so eps1 is the parameter dtype's machine epsilon; set "
         "eps1_from_dtype to false to use it (or eps(" + format_number(eps1()) + ", eps2) in C++)");
  }
}

Adafactor::Adafactor(std::vector<Parameter> params, const AdafactorOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Adafactor::slots_needed(const Options&) const { return 1u << kRowVar | 1u << kColVar | 1u << kVariance; }

void Adafactor::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const AdafactorOptions&>(options);
  const std::size_t count = records.size();
  std::vector<reference::AdafactorStep> steps;
  std::vector<double> rho(count);
  for (std::size_t i = 0; i < count; ++i) {
    Record* r = records[i];
    steps.push_back(reference::AdafactorStep::make(o, r->param.dtype(), r->step));
    rho[i] = py_min(o.lr(), 1.0 / std::sqrt(static_cast<double>(r->step)));
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (factored(r->param)) {  // created here, on the calling thread, before the parallel passes
        (void)slot<T>(*r, kRowVar);
        (void)slot<T>(*r, kColVar);
      } else {
        (void)slot<T>(*r, kVariance);
      }
    });
  }

  // RMS(p) before the decay.
  const std::vector<double> param_sq = parallel_sum(records, [&](std::size_t i, std::size_t b, std::size_t e) {
    const Parameter& p = records[i]->param;
    return visit_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return kernels::sum_of_squares(p.value<T>().data() + b, e - b);
    });
  });

  // The factors of every factored parameter, one whole-tensor task each; row_means[i] holds, per batch,
  // the clamped mean of row_var (in the parameter's type, as a double).
  std::vector<std::shared_ptr<std::vector<double>>> row_means(count);
  std::vector<Task> factor_tasks;
  for (std::size_t i = 0; i < count; ++i) {
    Record* r = records[i];
    if (!factored(r->param)) continue;
    const Matrix m(r->param);
    row_means[i] = std::make_shared<std::vector<double>>(m.batches);
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = steps[i];
      const T* g = r->param.grad<T>().data();
      T* row_var = slot<T>(*r, kRowVar);
      T* col_var = slot<T>(*r, kColVar);
      std::vector<double>* out = row_means[i].get();
      factor_tasks.push_back({[=](std::size_t, std::size_t) { update_factors(s, m, g, row_var, col_var, out->data()); },
                              r->param.size(), true});
    });
  }
  run_tasks(factor_tasks);

  // RMS(U); a 1-D parameter's variance is updated in the same pass.
  const std::vector<double> update_sq = parallel_sum(records, [&](std::size_t i, std::size_t b, std::size_t e) {
    Record& r = *records[i];
    const auto& s = steps[i];
    return visit_dtype(r.param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* g = r.param.grad<T>().data();
      if (!factored(r.param)) return kernels::adafactor_variance(s, g + b, slot<T>(r, kVariance) + b, e - b);
      const Matrix m(r.param);
      const T* row_var = slot<T>(r, kRowVar);
      const T* col_var = slot<T>(r, kColVar);
      const std::vector<double>& means = *row_means[i];
      double sum = 0.0;
      for_each_row_piece(m, b, e, [&](std::size_t row, std::size_t j, std::size_t k, std::size_t n) {
        const std::size_t batch = row / m.rows;
        sum += kernels::adafactor_factored_sq(s, row_var[row], static_cast<T>(means[batch]), g + k,
                                              col_var + batch * m.cols + j, n);
      });
      return sum;
    });
  });

  const double decay = detail::decoupled_decay_factor(o.lr(), o.weight_decay());
  for (std::size_t i = 0; i < count; ++i) {
    Record* r = records[i];
    const double size = static_cast<double>(r->param.size());
    const double alpha = py_max(o.eps2(), std::sqrt(param_sq[i]) / std::sqrt(size)) * rho[i];
    const double clip = py_max(1.0, std::sqrt(update_sq[i]) / (std::sqrt(size) * o.d()));
    const double scale = -alpha / clip;
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = steps[i];
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      if (!factored(r->param)) {
        const T* variance = slot<T>(*r, kVariance);
        tasks.push_back({[=](std::size_t b, std::size_t e) {
                           kernels::adafactor_apply(s, decay, scale, T(1), T(1), p + b, g + b, variance + b, e - b);
                         },
                         r->param.size()});
        return;
      }
      const Matrix m(r->param);
      const T* row_var = slot<T>(*r, kRowVar);
      const T* col_var = slot<T>(*r, kColVar);
      const std::shared_ptr<const std::vector<double>> means = row_means[i];
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         for_each_row_piece(m, b, e, [&](std::size_t row, std::size_t j, std::size_t k, std::size_t n) {
                           const std::size_t batch = row / m.rows;
                           kernels::adafactor_apply(s, decay, scale, row_var[row], static_cast<T>((*means)[batch]),
                                                    p + k, g + k, col_var + batch * m.cols + j, n);
                         });
                       },
                       r->param.size()});
    });
  }
}

namespace reference {

AdafactorStep AdafactorStep::make(const AdafactorOptions& o, DType dtype, std::int64_t step) {
  const double eps1 = o.eps1_for(dtype);
  return {std::pow(static_cast<double>(step), o.beta2_decay()), eps1, eps1 * eps1, o.maximize()};
}

template <class T>
double adafactor_variance(const AdafactorStep& s, const T* grad, T* variance, std::size_t n) {
  const T w = static_cast<T>(s.lerp_weight), w_minus_one = w - T(1);
  const T eps1_sq = static_cast<T>(s.eps1_sq);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    variance[i] = lerp(variance[i], g * g, w, w_minus_one);
    const double u = unscaled_update(g, T(1), variance[i], T(1), eps1_sq);
    sum += u * u;
  }
  return sum;
}

template <class T>
double adafactor_factored_sq(const AdafactorStep& s, T row, T row_mean, const T* grad, const T* col, std::size_t n) {
  const T eps1_sq = static_cast<T>(s.eps1_sq);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    const double u = unscaled_update(g, row, col[i], row_mean, eps1_sq);
    sum += u * u;
  }
  return sum;
}

template <class T>
void adafactor_apply(const AdafactorStep& s, double decay, double scale, T row, T row_mean, T* param, const T* grad,
                     const T* col, std::size_t n) {
  const T eps1_sq = static_cast<T>(s.eps1_sq);
  const T decay_t = static_cast<T>(decay), scale_t = static_cast<T>(scale);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    param[i] = std::fma(scale_t, unscaled_update(g, row, col[i], row_mean, eps1_sq), param[i] * decay_t);
  }
}

template double adafactor_variance<float>(const AdafactorStep&, const float*, float*, std::size_t);
template double adafactor_variance<double>(const AdafactorStep&, const double*, double*, std::size_t);
template double adafactor_factored_sq<float>(const AdafactorStep&, float, float, const float*, const float*, std::size_t);
template double adafactor_factored_sq<double>(const AdafactorStep&, double, double, const double*, const double*,
                                              std::size_t);
template void adafactor_apply<float>(const AdafactorStep&, double, double, float, float, float*, const float*,
                                     const float*, std::size_t);
template void adafactor_apply<double>(const AdafactorStep&, double, double, double, double, double*, const double*,
                                      const double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step (one 1-D tensor: the full `variance`, not the factors).
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {
    {"adafactor", "adafactor", {}, "Adafactor: relative step min(lr, 1/sqrt(t)) * RMS(p), factored second moment", 1e-2}};
// norm of p (p read); variance (g read, variance updated) with RMS(U); apply (g, variance read; p updated)
constexpr MemoryPass kRoof[] = {{1, 0}, {1, 1}, {2, 1}};
constexpr Entry kEntries[] = {entry<Adafactor, AdafactorOptions>("adafactor", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> adafactor() { return kEntries; }

}  // namespace descent::registry
