// The dtype an element-wise optimizer keeps its state in: its option "state_dtype" (every element-wise
// rule; int8 for Adam, AdamW, Lion, SGD and RMSprop only). docs/optimizers.md, "State dtypes", says
// what each costs and how accurate it is.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace descent {

enum class StateDType : std::uint8_t {
  Float32,   // the parameter's own dtype (float32 or float64), as PyTorch keeps it
  BFloat16,  // bfloat16, rounded to nearest even (or stochastically): 2 bytes per value
  Int8,      // 8-bit dynamic block-wise quantization (Dettmers et al. 2021): 1 byte + 4 bytes per 256 values;
             // tensors under 4096 elements stay float32
};

// The option's choices, in the enum's order.
inline constexpr std::array<std::string_view, 3> kStateDTypeNames{"float32", "bfloat16", "int8"};

}  // namespace descent
