// Muon (Keller Jordan et al. 2024, https://kellerjordan.github.io/posts/muon/), with the semantics of
// PyTorch 2.9's torch.optim.Muon (torch/optim/_muon.py). Per [rows, cols] weight matrix W with gradient G:
//
//   B  = lerp(B, G, 1 - momentum)                 = momentum * B + (1 - momentum) * G    (B starts at 0)
//   U  = lerp(G, B, momentum) with nesterov       = (1 - momentum) * G + momentum * B,   else U = B
//   X  = U, transposed when rows > cols (so X is [m, n], m <= n)
//   X  = X / max(||X||_F, eps)                    (spectral norm <= 1)
//   ns_steps times:  A = X X^T,  B' = b A + c A A,  X = a X + B' X         (Newton-Schulz, quintic)
//   O  = X, transposed back
//   W  = W * (1 - lr * weight_decay)              (decoupled decay, with the unadjusted lr)
//   W  = W - adjusted_lr * O,  adjusted_lr = lr * sqrt(max(1, rows / cols))   (adjust_lr_fn original)
//                                          = lr * 0.2 * sqrt(max(rows, cols)) (match_rms_adamw)
//
// The momentum is torch's exponential average (lerp), not the B = momentum * B + G of its docstring.
// Departures from torch, on purpose:
// - the Newton-Schulz products run in the parameter's dtype through BLAS (cblas_sgemm for float32,
//   cblas_dgemm for float64); torch casts to bfloat16 first (8-bit mantissa). The Frobenius norm is summed
//   in double. So descent's orthogonalized update is closer to the exact polynomial than torch's.
// - flatten = true takes N-D parameters (conv filters) as [shape[0], product of the rest], as Keller
//   Jordan's muon.py does for 4-D ones; torch refuses every parameter that is not 2-D. rows and cols of
//   the lr adjustment are those of the flattened matrix.
// - eps must be > 0 (a zero gradient with eps 0 would divide 0 by 0); momentum is in [0, 1).
// The element-wise lerps are torch's scalar formula: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w).
#include "descent/optimizers/muon.hpp"

#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "descent/compose.hpp"
#include "descent/optimizers/adam.hpp"
#include "optimizers/common.hpp"
#include "optimizers/muon/newton_schulz.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<std::string_view, 2> kAdjustLr{"original", "match_rms_adamw"};

constexpr std::array<OptionInfo, MuonOptions::kCount> kFields{{
    detail::lr_option(1e-3),
    detail::weight_decay_option(0.1, "decoupled decay: w is multiplied by (1 - lr * weight_decay) each step"),
    detail::momentum_option(0.95),
    detail::bool_option("nesterov", true, "orthogonalize (1 - momentum) g + momentum * buf instead of buf"),
    detail::real_option("ns_a", 3.4445, -detail::kInf, detail::kInf, false, false,
                        "Newton-Schulz polynomial a x + b x^3 + c x^5: a"),
    detail::real_option("ns_b", -4.7750, -detail::kInf, detail::kInf, false, false, "Newton-Schulz polynomial: b"),
    detail::real_option("ns_c", 2.0315, -detail::kInf, detail::kInf, false, false, "Newton-Schulz polynomial: c"),
    detail::real_option("eps", 1e-7, 0.0, detail::kInf, false, false,
                        "the update is divided by max(its Frobenius norm, eps)"),
    detail::int_option("ns_steps", 5, 0, 100, true, false, "Newton-Schulz iterations (torch: fewer than 100)"),
    detail::choice_option("adjust_lr_fn", "original", kAdjustLr,
                          "lr scale for a [rows, cols] matrix: sqrt(max(1, rows/cols)), or 0.2 sqrt(max(rows, cols))"),
    detail::bool_option("flatten", false, "take N-D parameters (conv filters) as [shape[0], product of the rest]"),
    detail::real_option("aux_lr", 3e-4, 0.0, detail::kInf, true, false,
                        "the aux AdamW's learning rate (for the parameters Muon does not take)"),
    detail::real_option("aux_beta1", 0.9, 0.0, 1.0, true, false, "the aux AdamW's beta1"),
    detail::real_option("aux_beta2", 0.95, 0.0, 1.0, true, false, "the aux AdamW's beta2"),
    detail::real_option("aux_eps", 1e-10, 0.0, detail::kInf, true, false, "the aux AdamW's eps"),
    detail::real_option("aux_weight_decay", 0.0, 0.0, detail::kInf, true, false, "the aux AdamW's decoupled weight decay"),
}};


std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out.append(i ? ", " : "").append(std::to_string(shape[i]));
  return out + "]";
}

void check_takes(const Parameter& p, const MuonOptions& o) {
  if (Muon::takes(p, o)) return;
  throw InvalidArgument("Muon: parameter '" + p.name() + "' has the shape " + shape_text(p.shape()) + " (" +
                        std::to_string(p.shape().size()) + "-D): Muon orthogonalizes 2-D parameters" +
                        (p.shape().size() > 2 ? " (N-D ones with flatten = true)" : "") +
                        "; muon_with_aux_adamw() (the registry's \"muon\") runs AdamW for the others");
}

// The momentum buffer is one value per element, like the parameter. Its layout is where a parameter
// Muon cannot orthogonalize is refused, as it is added (nothing is added then).
SlotLayout momentum_layout(const Parameter& p, const Options& options) {
  check_takes(p, static_cast<const MuonOptions&>(options));
  return {p.shape(), p.dtype()};
}

constexpr std::array<SlotSpec, 1> kSlots{{{"momentum_buffer", 0.0, momentum_layout}}};

// What one step of one [rows, cols] matrix needs, computed once in double.
struct MuonStep {
  double decay;        // 1 - lr * weight_decay
  double adjusted_lr;  // lr scaled for the matrix's shape
  double momentum;
  bool nesterov;
  double eps;
  muon::NsCoefficients ns;
  std::int64_t ns_steps;

  static MuonStep make(const MuonOptions& o, std::size_t rows, std::size_t cols) {
    const double r = static_cast<double>(rows), c = static_cast<double>(cols);
    const double ratio = o.adjust_lr_fn() == MuonOptions::AdjustLr::Original ? std::sqrt(std::max(1.0, r / c))
                                                                           : 0.2 * std::sqrt(std::max(r, c));
    return {detail::decoupled_decay_factor(o.lr(), o.weight_decay()), o.lr() * ratio, o.momentum(), o.nesterov(),
            o.eps(), {o.ns_a(), o.ns_b(), o.ns_c()}, o.ns_steps()};
  }
};

// One whole matrix: momentum, orthogonalization, decay and step.
template <class T>
void muon_update(const MuonStep& s, T* param, const T* grad, T* buf, std::size_t rows, std::size_t cols) {
  const bool tall = rows > cols;  // orthogonalize the wide orientation: the Gram matrix is the smaller one
  const std::size_t m = tall ? cols : rows, n = tall ? rows : cols;
  const std::unique_ptr<T[]> x(new T[rows * cols]);
  const T to_grad = static_cast<T>(1.0 - s.momentum), momentum = static_cast<T>(s.momentum);
  double sum_sq = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t at = i * cols + j;
      buf[at] = detail::lerp(buf[at], grad[at], to_grad);
      const T u = s.nesterov ? detail::lerp(grad[at], buf[at], momentum) : buf[at];
      x[tall ? j * rows + i : at] = u;
      sum_sq += static_cast<double>(u) * static_cast<double>(u);
    }
  }
  const T norm = static_cast<T>(std::max(std::sqrt(sum_sq), s.eps));
  for (std::size_t k = 0; k < rows * cols; ++k) x[k] = x[k] / norm;
  muon::newton_schulz(x.get(), m, n, s.ns, s.ns_steps);
  const T decay = static_cast<T>(s.decay), step = static_cast<T>(-s.adjusted_lr);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t at = i * cols + j;
      param[at] = detail::add_scaled(param[at] * decay, step, x[tall ? j * rows + i : at]);
    }
  }
}

}  // namespace

std::span<const OptionInfo> MuonOptions::fields() { return kFields; }

MuonOptions::MuonOptions(double lr) : Options("Muon", kFields) { this->lr(lr); }

Muon::Muon(std::vector<Parameter> params, const MuonOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

bool Muon::takes(const Parameter& param, const MuonOptions& options) noexcept {
  const std::size_t dims = param.shape().size();
  return dims == 2 || (dims > 2 && options.flatten());
}

std::uint32_t Muon::slots_needed(const Options&) const { return 1u << kMomentumBuffer; }

void Muon::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const MuonOptions&>(options);
  for (const Record* r : records) check_takes(r->param, o);  // flatten may have been turned off since
  for (Record* r : records) {
    const std::size_t rows = static_cast<std::size_t>(r->param.shape()[0]);
    const std::size_t cols = rows == 0 ? 0 : r->param.size() / rows;
    const MuonStep s = MuonStep::make(o, rows, cols);
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* buf = slot<T>(*r, kMomentumBuffer);
      if (rows * cols == 0) return;
      tasks.push_back({[=](std::size_t, std::size_t) { muon_update(s, p, g, buf, rows, cols); }, r->param.size(), true});
    });
  }
}

std::unique_ptr<Optimizer> muon_with_aux_adamw(std::vector<Parameter> params, const MuonOptions& options) {
  if (params.empty()) throw InvalidArgument("muon_with_aux_adamw: no parameters given");
  std::vector<Parameter> matrices, others;
  for (Parameter& p : params) (Muon::takes(p, options) ? matrices : others).push_back(std::move(p));
  std::vector<std::unique_ptr<Optimizer>> parts;
  if (!matrices.empty()) parts.push_back(std::make_unique<Muon>(std::move(matrices), options));
  if (!others.empty()) {
    AdamWOptions aux(options.aux_lr());
    aux.betas(options.aux_beta1(), options.aux_beta2()).eps(options.aux_eps()).weight_decay(options.aux_weight_decay());
    parts.push_back(std::make_unique<AdamW>(std::move(others), aux));
  }
  return std::make_unique<Composite>(std::move(parts));
}

}  // namespace descent

// The registration: "muon" builds muon_with_aux_adamw(), so that the CLI and the factory can train a whole
// model (biases included). Its step is matrix products, not a memory pass: bench/muon_step.cpp measures it.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {
    {"muon", "muon", {}, "Muon for weight matrices (momentum 0.95, Nesterov), AdamW (lr 3e-4) for the rest", 0.02}};
constexpr Entry kEntries[] = {{"muon", []() -> std::unique_ptr<Options> { return std::make_unique<MuonOptions>(); },
                               [](std::vector<Parameter> params, const Options& options) {
                                 return muon_with_aux_adamw(std::move(params), static_cast<const MuonOptions&>(options));
                               },
                               kPresets,
                               {{}, {}, true}}};

}  // namespace

std::span<const Entry> muon() { return kEntries; }

}  // namespace descent::registry
