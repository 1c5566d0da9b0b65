// Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"; torch.optim.Muon of
// PyTorch 2.9): momentum SGD whose update of each weight matrix is replaced by an approximately
// orthogonal matrix, computed by a few Newton-Schulz iterations. For 2-D parameters (and, with flatten,
// N-D ones seen as [shape[0], rest]); everything else (biases, norm gains) needs another rule:
// muon_with_aux_adamw() builds one optimizer that runs Muon for the matrices and AdamW for the rest, as
// MuonWithAuxAdam does. The update rule is in src/optimizers/muon/muon.cpp and docs/optimizers.md.
#pragma once

#include <memory>

#include "descent/optimizer.hpp"

namespace descent {

class MuonOptions final : public Options {
 public:
  enum Field : std::size_t {
    kLr, kWeightDecay, kMomentum, kNesterov, kNsA, kNsB, kNsC, kEps, kNsSteps, kAdjustLrFn, kFlatten,
    kAuxLr, kAuxBeta1, kAuxBeta2, kAuxEps, kAuxWeightDecay, kCount
  };
  // How the learning rate is scaled for a [rows, cols] matrix (torch's adjust_lr_fn).
  enum class AdjustLr : std::size_t {
    Original,       // lr * sqrt(max(1, rows / cols)), Keller Jordan's
    MatchRmsAdamW,  // lr * 0.2 * sqrt(max(rows, cols)), Moonshot's (Liu et al. 2025): AdamW's update RMS
  };
  static std::span<const OptionInfo> fields();

  explicit MuonOptions(double lr = 1e-3);

  double lr() const noexcept { return value(kLr); }
  MuonOptions& lr(double v) { assign(kLr, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  MuonOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  double momentum() const noexcept { return value(kMomentum); }
  MuonOptions& momentum(double v) { assign(kMomentum, v); return *this; }
  bool nesterov() const noexcept { return flag(kNesterov); }
  MuonOptions& nesterov(bool v) { assign(kNesterov, v); return *this; }
  // The Newton-Schulz polynomial a x + b x^3 + c x^5 (torch's ns_coefficients).
  double ns_a() const noexcept { return value(kNsA); }
  double ns_b() const noexcept { return value(kNsB); }
  double ns_c() const noexcept { return value(kNsC); }
  MuonOptions& ns_coefficients(double a, double b, double c) {
    check(kNsA, a);
    check(kNsB, b);
    check(kNsC, c);
    assign(kNsA, a);
    assign(kNsB, b);
    assign(kNsC, c);
    return *this;
  }
  double eps() const noexcept { return value(kEps); }
  MuonOptions& eps(double v) { assign(kEps, v); return *this; }
  std::int64_t ns_steps() const noexcept { return integer(kNsSteps); }
  MuonOptions& ns_steps(std::int64_t v) { assign(kNsSteps, static_cast<double>(v)); return *this; }
  AdjustLr adjust_lr_fn() const noexcept { return static_cast<AdjustLr>(choice_index(kAdjustLrFn)); }
  MuonOptions& adjust_lr_fn(AdjustLr v) { assign(kAdjustLrFn, static_cast<double>(v)); return *this; }
  // N-D parameters (conv filters [out, in, h, w]) are orthogonalized as [shape[0], product of the rest].
  bool flatten() const noexcept { return flag(kFlatten); }
  MuonOptions& flatten(bool v) { assign(kFlatten, v); return *this; }

  // The AdamW that muon_with_aux_adamw() (and the registry's "muon") runs for the parameters Muon does
  // not take. Defaults of MuonWithAuxAdam's Adam groups: lr 3e-4, betas (0.9, 0.95), eps 1e-10, no decay.
  // A Muon group ignores them.
  double aux_lr() const noexcept { return value(kAuxLr); }
  MuonOptions& aux_lr(double v) { assign(kAuxLr, v); return *this; }
  double aux_beta1() const noexcept { return value(kAuxBeta1); }
  double aux_beta2() const noexcept { return value(kAuxBeta2); }
  MuonOptions& aux_betas(double beta1, double beta2) {
    assign_pair(kAuxBeta1, beta1, kAuxBeta2, beta2);
    return *this;
  }
  double aux_eps() const noexcept { return value(kAuxEps); }
  MuonOptions& aux_eps(double v) { assign(kAuxEps, v); return *this; }
  double aux_weight_decay() const noexcept { return value(kAuxWeightDecay); }
  MuonOptions& aux_weight_decay(double v) { assign(kAuxWeightDecay, v); return *this; }

  std::unique_ptr<Options> clone() const override { return std::make_unique<MuonOptions>(*this); }
};

// Takes only parameters Muon can orthogonalize: 2-D, or N-D (N > 2) with flatten; any other is refused
// with InvalidArgument naming it and its shape, when added and (if flatten was turned off) at step().
class Muon final : public OptimizerWith<MuonOptions> {
 public:
  enum Slot : std::size_t { kMomentumBuffer };
  explicit Muon(std::vector<Parameter> params, const MuonOptions& defaults = MuonOptions());

  // Whether Muon with these options takes this parameter (2-D, or N-D with flatten).
  static bool takes(const Parameter& param, const MuonOptions& options) noexcept;

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

// One optimizer for a whole model, as MuonWithAuxAdam: the parameters Muon takes (Muon::takes) in one
// Muon group with `options`, every other one in one AdamW group with the options' aux_* values (lr,
// betas, eps, weight decay; AdamW's other options at their defaults). Parameter order is kept within each
// group. Returns a Composite of both (kind "Composite", one step(), one state_dict()); a Composite of the
// one part that has parameters when the other has none. Throws InvalidArgument for no parameters.
std::unique_ptr<Optimizer> muon_with_aux_adamw(std::vector<Parameter> params, const MuonOptions& options = MuonOptions());

}  // namespace descent
