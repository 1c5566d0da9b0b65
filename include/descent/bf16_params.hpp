// How a rule updates bfloat16 parameters: its option "bf16_params" (Adam, AdamW). docs/optimizers.md,
// "bfloat16 parameters", says what each costs and how accurate it is.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace descent {

enum class BF16Params : std::uint8_t {
  Kahan,   // a bfloat16 compensation slot holds what the parameter could not: 2 more bytes per parameter
  Master,  // a float32 master copy holds the parameter; the bfloat16 parameter is its rounding: 4 bytes
  None,    // no compensation: each step's new value is rounded to bfloat16 (updates below half an ulp are lost)
};

// The option's choices, in the enum's order.
inline constexpr std::array<std::string_view, 3> kBF16ParamsNames{"kahan", "master", "none"};

}  // namespace descent
