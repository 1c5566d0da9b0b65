// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019): one template, two variants.
//
// Adam's weight_decay is L2 regularisation: weight_decay * param is added to the gradient, so it
// passes through the adaptive denominator. AdamW decouples it: the parameter is shrunk by
// (1 - lr * weight_decay) before the Adam step. The two are NOT equivalent under Adam: with L2,
// weights with large gradient history are decayed less.
// The update rule is in src/optimizers/adam/adam.cpp and docs/optimizers.md.
#pragma once

#include "descent/bf16_params.hpp"
#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

#include <array>

namespace descent {

namespace lowbit {
struct StateRef;  // src/lowbit/quantize.hpp
}

template <bool Decoupled>
class AdamFamilyOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kAmsgrad, kMaximize, kBiasCorrection,
               kStateDtype, kStochasticRounding, kBF16Params, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdamFamilyOptions(double lr = 1e-3);

  double lr() const noexcept { return value(kLr); }
  AdamFamilyOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  AdamFamilyOptions& betas(double beta1, double beta2) {
    assign_pair(kBeta1, beta1, kBeta2, beta2);
    return *this;
  }
  double eps() const noexcept { return value(kEps); }
  AdamFamilyOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdamFamilyOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool amsgrad() const noexcept { return flag(kAmsgrad); }
  AdamFamilyOptions& amsgrad(bool v) { assign(kAmsgrad, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdamFamilyOptions& maximize(bool v) { assign(kMaximize, v); return *this; }
  // Off gives the uncorrected Adam: step lr * m / (sqrt(v) + eps), large early steps when beta2 ~ 1.
  bool bias_correction() const noexcept { return flag(kBiasCorrection); }
  AdamFamilyOptions& bias_correction(bool v) { assign(kBiasCorrection, v); return *this; }

  // The moments' dtype (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  AdamFamilyOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  AdamFamilyOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  // How bfloat16 parameters are updated (docs/optimizers.md, "bfloat16 parameters"); fixed once the group is added.
  BF16Params bf16_params() const noexcept { return static_cast<BF16Params>(choice_index(kBF16Params)); }
  AdamFamilyOptions& bf16_params(BF16Params v) { assign_choice(kBF16Params, kBF16ParamsNames[static_cast<int>(v)]); return *this; }

  std::unique_ptr<Options> clone() const override { return std::make_unique<AdamFamilyOptions>(*this); }
};

using AdamOptions = AdamFamilyOptions<false>;
using AdamWOptions = AdamFamilyOptions<true>;

template <bool Decoupled>
class AdamFamily final : public OptimizerWith<AdamFamilyOptions<Decoupled>> {
 public:
  // The *_absmax slots hold int8 state's block scales (src/lowbit/state.hpp); empty otherwise.
  // master_param and kahan_compensation belong to bfloat16 parameters (src/lowbit/bf16_params.hpp); empty otherwise.
  enum Slot : std::size_t { kExpAvg, kExpAvgSq, kMaxExpAvgSq, kExpAvgAbsmax, kExpAvgSqAbsmax, kMaxExpAvgSqAbsmax,
                            kMasterParam, kKahanCompensation };
  explicit AdamFamily(std::vector<Parameter> params,
                      const AdamFamilyOptions<Decoupled>& defaults = AdamFamilyOptions<Decoupled>());

 private:
  void plan(const Options& options, std::span<Optimizer::Record* const> records,
            std::vector<Optimizer::Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
  void plan_lowbit(const AdamFamilyOptions<Decoupled>& o, Optimizer::Record& r, StateDType dtype,
                   std::vector<Optimizer::Task>& tasks);
  std::array<lowbit::StateRef, 3> lowbit_slots(const AdamFamilyOptions<Decoupled>& o, Optimizer::Record& r,
                                               StateDType dtype);
  void plan_bf16_params(const AdamFamilyOptions<Decoupled>& o, Optimizer::Record& r, StateDType dtype,
                        std::vector<Optimizer::Task>& tasks);
};

using Adam = AdamFamily<false>;
using AdamW = AdamFamily<true>;

extern template class AdamFamilyOptions<false>;
extern template class AdamFamilyOptions<true>;
extern template class AdamFamily<false>;
extern template class AdamFamily<true>;

}  // namespace descent
