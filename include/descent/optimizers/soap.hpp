// SOAP (Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson, Kakade 2024, "SOAP: Improving and
// Stabilizing Shampoo using Adam", arXiv:2409.11321; the authors' soap.py): Adam run in the eigenbasis of
// Shampoo's preconditioners L = E[G G^T] and R = E[G^T G] of each weight matrix, that basis found by an
// eigendecomposition at the first step and refreshed by one power iteration and a QR decomposition every
// precondition_frequency steps. 1-D parameters are not preconditioned (the reference's default): Adam.
// The update rule is in src/optimizers/soap/soap.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"

namespace descent {

class SOAPOptions final : public Options {
 public:
  enum Field : std::size_t {
    kLr, kBeta1, kBeta2, kShampooBeta, kEps, kWeightDecay, kPreconditionFrequency, kMaxPrecondDim, kCorrectBias, kCount
  };
  static std::span<const OptionInfo> fields();

  explicit SOAPOptions(double lr = 3e-3);

  double lr() const noexcept { return value(kLr); }
  SOAPOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  SOAPOptions& betas(double beta1, double beta2) {
    assign_pair(kBeta1, beta1, kBeta2, beta2);
    return *this;
  }
  // The decay of the preconditioners' averages; a negative value (the default, -1) means beta2.
  double shampoo_beta() const noexcept { return value(kShampooBeta); }
  SOAPOptions& shampoo_beta(double v) { assign(kShampooBeta, v); return *this; }
  double eps() const noexcept { return value(kEps); }
  SOAPOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  SOAPOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  std::int64_t precondition_frequency() const noexcept { return integer(kPreconditionFrequency); }
  SOAPOptions& precondition_frequency(std::int64_t v) { assign(kPreconditionFrequency, static_cast<double>(v)); return *this; }
  // A parameter with a dimension above this is refused (the reference would leave that dimension
  // unpreconditioned); the [d, d] matrices of a dimension d cost 2 d^2 values.
  std::int64_t max_precond_dim() const noexcept { return integer(kMaxPrecondDim); }
  SOAPOptions& max_precond_dim(std::int64_t v) { assign(kMaxPrecondDim, static_cast<double>(v)); return *this; }
  bool correct_bias() const noexcept { return flag(kCorrectBias); }
  SOAPOptions& correct_bias(bool v) { assign(kCorrectBias, v); return *this; }

  std::unique_ptr<Options> clone() const override { return std::make_unique<SOAPOptions>(*this); }
};

// Takes 1-D parameters (Adam, not preconditioned) and 2-D ones whose dimensions are at most
// max_precond_dim; any other is refused with InvalidArgument naming it, when added and at step().
class SOAP final : public OptimizerWith<SOAPOptions> {
 public:
  // exp_avg and exp_avg_sq like the parameter (kept in the rotated basis between steps, as the reference
  // keeps them); GG_0 [rows, rows] = L, GG_1 [cols, cols] = R, Q_0 and Q_1 their eigenbases (for a 1-D
  // parameter these four have no elements).
  enum Slot : std::size_t { kExpAvg, kExpAvgSq, kGG0, kGG1, kQ0, kQ1 };
  explicit SOAP(std::vector<Parameter> params, const SOAPOptions& defaults = SOAPOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
