// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"),
// with the semantics of PyTorch 2.5's torch.optim.Adafactor: a relative step size rho_t = min(lr, 1/sqrt(t))
// scaled by the parameter's RMS, a second moment kept FACTORED (one value per row and one per column of
// the last two dimensions) for tensors of two or more dimensions and in full for 1-D ones, the update
// clipped to RMS d, and decoupled weight decay p *= 1 - lr * weight_decay. The update rule is in
// src/optimizers/adafactor/adafactor.cpp; docs/optimizers.md says where torch's docstring and code differ.
#pragma once

#include <optional>

#include "descent/optimizer.hpp"

namespace descent {

class AdafactorOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta2Decay, kEps1, kEps1FromDtype, kEps2, kD, kWeightDecay, kMaximize, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdafactorOptions(double lr = 1e-2);

  double lr() const noexcept { return value(kLr); }
  AdafactorOptions& lr(double v) { assign(kLr, v); return *this; }
  // beta2_t = 1 - t^beta2_decay (<= 0): the second moment's decay rate rises towards 1 with the step.
  double beta2_decay() const noexcept { return value(kBeta2Decay); }
  AdafactorOptions& beta2_decay(double v) { assign(kBeta2Decay, v); return *this; }
  // torch's eps = (eps1, eps2). eps1 nullopt (the default, torch's None) means the parameter dtype's
  // machine epsilon (2^-23 for float32, 2^-52 for float64); a value sets eps1 and clears eps1_from_dtype.
  // Both are checked before either changes.
  AdafactorOptions& eps(std::optional<double> eps1, double eps2);
  // eps1 as set (meaningful only when !eps1_from_dtype()).
  double eps1() const noexcept { return value(kEps1); }
  bool eps1_from_dtype() const noexcept { return flag(kEps1FromDtype); }
  // The eps1 a parameter of this dtype uses.
  double eps1_for(DType dtype) const noexcept;
  double eps2() const noexcept { return value(kEps2); }
  // Clipping threshold: the unscaled update is divided by max(1, RMS(U) / d).
  double d() const noexcept { return value(kD); }
  AdafactorOptions& d(double v) { assign(kD, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdafactorOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdafactorOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // eps1 left at its default unless eps1_from_dtype is off (a set eps1 would otherwise be ignored).
  void validate() const override;
  std::unique_ptr<Options> clone() const override { return std::make_unique<AdafactorOptions>(*this); }
};

// State, with torch's names: a parameter of two or more dimensions [..., rows, cols] keeps "row_var"
// [..., rows, 1] and "col_var" [..., 1, cols] (the running means of g^2 over each row and each column);
// a 1-D parameter keeps "variance", one value per element. The slots a parameter does not use have
// shape [0] and never exist.
class Adafactor final : public OptimizerWith<AdafactorOptions> {
 public:
  enum Slot : std::size_t { kRowVar, kColVar, kVariance };
  explicit Adafactor(std::vector<Parameter> params, const AdafactorOptions& defaults = AdafactorOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
