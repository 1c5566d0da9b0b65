#include "lowbit/bf16_params.hpp"

#include <string>

namespace descent::lowbit {

BF16Params bf16_params_of(const Options& options) {
  return static_cast<BF16Params>(static_cast<int>(options.get("bf16_params")));
}

SlotLayout master_param_layout(const Parameter& param, const Options& options) {
  const bool kept = param.dtype() == DType::BFloat16 && bf16_params_of(options) == BF16Params::Master;
  return {kept ? param.shape() : std::vector<std::int64_t>{0}, DType::Float32};
}

SlotLayout kahan_compensation_layout(const Parameter& param, const Options& options) {
  const bool kept = param.dtype() == DType::BFloat16 && bf16_params_of(options) == BF16Params::Kahan;
  return {kept ? param.shape() : std::vector<std::int64_t>{0}, DType::BFloat16};
}

void check_bf16_params_unchanged(std::string_view optimizer, const Parameter& param, BF16Params now,
                                 std::size_t master_elements, std::size_t compensation_elements) {
  const BF16Params laid_out = master_elements ? BF16Params::Master
                              : compensation_elements ? BF16Params::Kahan
                                                      : BF16Params::None;
  if (now == laid_out) return;
  throw InvalidArgument(std::string(optimizer) + ": step(): the group of '" + param.name() + "' has bf16_params=" +
                        std::string(kBF16ParamsNames[static_cast<int>(now)]) + ", but its state was laid out for " +
                        std::string(kBF16ParamsNames[static_cast<int>(laid_out)]) +
                        " when the group was added; bf16_params cannot change afterwards; nothing was changed");
}

}  // namespace descent::lowbit
