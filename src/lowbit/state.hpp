// How an element-wise rule keeps low-bit state: its options "state_dtype" and "stochastic_rounding", the
// layouts of its slots (SlotSpec::layout), and what its plan() hands the block loop (quantize.hpp).
//
// A rule with state_dtype lists, for each state slot X, a companion slot "X_absmax" (SlotCheck::NonNegative)
// right after its own slots; under int8, X holds uint8 codes in the parameter's shape and X_absmax one
// float32 per block of 256 (ceil(n / 256) values). Tensors under 4096 elements keep X in the parameter's
// dtype and an empty X_absmax, as bitsandbytes keeps them in float32. Under bfloat16, X is bfloat16 and X_absmax is empty. The layout is
// fixed when the group is added: changing state_dtype afterwards is refused at the next step();
// load_state_dict() converts a checkpoint of any state_dtype into the group's (optimizer_state.cpp).
//
// Adding state_dtype to an element-wise rule (Lion, say) takes: the two option rows, the absmax slots
// with moment_layout/absmax_layout, the absmax bits in slots_needed(), and in plan() a branch that
// calls the rule's float32 kernel through WithFloatState, or its one-vector body through WithFusedState
// (faster: see Adam's AdamLowBit in adam-inl.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"
#include "lowbit/quantize.hpp"
#include "optimizers/common.hpp"

namespace descent::lowbit {

constexpr OptionInfo state_dtype_option() {
  return detail::choice_option("state_dtype", "float32", kStateDTypeNames,
                               "dtype of the state: float32 (the parameter's), bfloat16, or int8 (block-wise; "
                               "tensors under 4096 elements keep the parameter's); fixed when the group is added");
}
constexpr OptionInfo stochastic_rounding_option() {
  return detail::bool_option("stochastic_rounding", false,
                             "round bfloat16/int8 state stochastically (seeded by step, slot and parameter name) "
                             "instead of to nearest");
}

StateDType state_dtype_of(const Options& options);
// The dtype a state slot of this parameter has: the parameter's (float32 state, or int8 for a tensor
// under 4096 elements), bfloat16, or uint8 (int8). Refuses bfloat16 or int8 state for a float64
// parameter that would get it (InvalidArgument): the block loop works in float32.
DType moment_dtype(const Parameter& param, StateDType state_dtype);
SlotLayout moment_layout(const Parameter& param, const Options& options);
SlotLayout absmax_layout(const Parameter& param, const Options& options);

// The per-tensor part of the stochastic-rounding seed: a hash of the parameter's name (FNV-1a), so that
// tensors of the same step round independently.
std::uint64_t name_seed(std::string_view name) noexcept;

// The slots as seen from element b (a multiple of 256: the engine's chunks are whole blocks) on.
inline std::array<StateRef, 3> advanced(std::array<StateRef, 3> slots, StateDType dtype, std::size_t b) noexcept {
  const std::size_t width = dtype == StateDType::Int8 ? 1 : 2;
  for (StateRef& s : slots) {
    if (s.data) s.data = static_cast<std::byte*>(s.data) + b * width;
    if (s.absmax) s.absmax += b / kBlock;
  }
  return slots;
}
// The low-bit dtype of a slot laid out as `dtype` (UInt8 or BFloat16), for plan(): Float32 when the slot
// is kept in the parameter's own dtype (float32 state, or a tensor too small to quantize).
inline StateDType lowbit_of(DType dtype) noexcept {
  return dtype == DType::UInt8 ? StateDType::Int8 : dtype == DType::BFloat16 ? StateDType::BFloat16 : StateDType::Float32;
}

// Throws InvalidArgument when the group's state_dtype is not the one its state was laid out for.
void check_unchanged(std::string_view optimizer, const Parameter& param, DType laid_out, StateDType now);

}  // namespace descent::lowbit
