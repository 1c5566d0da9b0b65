#include "lowbit/state.hpp"

#include <string>

namespace descent::lowbit {

StateDType state_dtype_of(const Options& options) {
  return static_cast<StateDType>(static_cast<int>(options.get("state_dtype")));
}

DType moment_dtype(const Parameter& param, StateDType state_dtype) {
  // A bfloat16 parameter's rule computes in float32 (bf16_params.hpp), so "its own dtype" is float32.
  const DType own = param.dtype() == DType::BFloat16 ? DType::Float32 : param.dtype();
  if (state_dtype == StateDType::Float32) return own;
  // Small tensors keep their own dtype under int8 (bitsandbytes' min_8bit_size): float32, or float64.
  if (state_dtype == StateDType::Int8 && param.size() < kMinQuantizedElements) return own;
  if (own != DType::Float32) {
    throw InvalidArgument("state_dtype=" + std::string(kStateDTypeNames[static_cast<int>(state_dtype)]) +
                          " needs float32 parameters, but '" + param.name() + "' is " +
                          std::string(name_of(param.dtype())));
  }
  return state_dtype == StateDType::BFloat16 ? DType::BFloat16 : DType::UInt8;
}

SlotLayout moment_layout(const Parameter& param, const Options& options) {
  return {param.shape(), moment_dtype(param, state_dtype_of(options))};
}

SlotLayout absmax_layout(const Parameter& param, const Options& options) {
  const bool quantized = moment_dtype(param, state_dtype_of(options)) == DType::UInt8;
  return {{static_cast<std::int64_t>(quantized ? blocks_of(param.size()) : 0)}, DType::Float32};
}

std::uint64_t name_seed(std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

void check_unchanged(std::string_view optimizer, const Parameter& param, DType laid_out, StateDType now) {
  const DType wanted = moment_dtype(param, now);
  if (wanted == laid_out) return;
  throw InvalidArgument(std::string(optimizer) + ": step(): the group of '" + param.name() + "' has state_dtype=" +
                        std::string(kStateDTypeNames[static_cast<int>(now)]) + ", but its state was laid out as " +
                        std::string(name_of(laid_out)) +
                        " when the group was added; state_dtype cannot change afterwards (build the optimizer with "
                        "it, and load a checkpoint to convert the state); nothing was changed");
}

}  // namespace descent::lowbit
