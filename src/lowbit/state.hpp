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
// Adding state_dtype to an element-wise rule takes: the two option rows, the absmax slots with
// moment_layout/absmax_layout, the absmax bits in slots_needed(), and in plan() a branch that runs the rule
// on float32 copies of its state: its one-vector body through WithFusedState in the rule's -inl.h (the
// fastest: Adam's AdamLowBit), its float32 kernel through WithFloatState (SGD, RMSprop), or through
// float_state_task() below, which needs no code per target (Lion, and the rules with bfloat16 state only:
// their option row is bfloat16_state_dtype_option(), and they have no absmax slots).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
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
// For the rules that keep bfloat16 state but not int8 (the issue asks int8 of Adam, AdamW, Lion, SGD and
// RMSprop only): the same option with the choices float32 and bfloat16, so that "int8" is refused by name.
inline constexpr std::span<const std::string_view> kBFloat16StateDTypeNames{kStateDTypeNames.data(), 2};
constexpr OptionInfo bfloat16_state_dtype_option() {
  return detail::choice_option("state_dtype", "float32", kBFloat16StateDTypeNames,
                               "dtype of the state: float32 (the parameter's) or bfloat16; fixed when the group is "
                               "added");
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

// One slot of one parameter for the block loop: its storage (bfloat16 bits or uint8 codes), its absmax
// (int8), its map, and its rounding key for this step (seeded by the parameter's name, the step and the
// slot's index in its rule, as Adam, SGD and RMSprop seed theirs).
inline StateRef state_ref(void* data, float* absmax, bool is_signed, bool stochastic, std::string_view name,
                          std::int64_t step, std::size_t slot) noexcept {
  return {data, absmax, is_signed, {stochastic, rounding_key(name_seed(name), step, static_cast<std::uint32_t>(slot))}};
}

// The rounding of elements index, index + 1, ... as seen by a conversion that numbers them from 0
// (kernels::quantize_blockwise): random_bits(key, index + i) = random_bits(key + index * golden ratio, i).
constexpr Rounding starting_at(Rounding rounding, std::uint32_t index) noexcept {
  return {rounding.stochastic, rounding.key + index * 0x9e3779b9u};
}
static_assert(random_bits(starting_at({true, 12345u}, 4096u).key, 7u) == random_bits(12345u, 4103u));

// reference::with_float_state with the dispatched conversions of lowbit::kernels, for a rule whose float32
// update is a dispatched kernel too: `update(b, len, buffers)` runs it on the block's float32 copies.
// Each piece is bitwise its reference, so the whole is bitwise reference::with_float_state with the
// rule's reference update (tests/test_lowbit_rules.cpp). One pass over memory: a block's copies stay in L1.
template <class Update>
void with_float_blocks(StateDType dtype, std::size_t n, std::uint32_t first, const StateRef* slots, std::size_t count,
                       const Update& update) {
  alignas(64) float buffers[3][kBlock];
  float* views[3] = {buffers[0], buffers[1], buffers[2]};
  for (std::size_t b = 0; b < n; b += kBlock) {
    const std::size_t len = n - b < kBlock ? n - b : kBlock;
    const std::uint32_t index = first + static_cast<std::uint32_t>(b);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == StateDType::Int8) {
        kernels::dequantize_blockwise(static_cast<const std::uint8_t*>(slots[s].data) + b, slots[s].absmax + b / kBlock,
                                      len, slots[s].is_signed, views[s]);
      } else {
        kernels::from_bfloat16(static_cast<const std::uint16_t*>(slots[s].data) + b, len, views[s]);
      }
    }
    update(b, len, views);
    for (std::size_t s = 0; s < count; ++s) {
      if (dtype == StateDType::Int8) {
        kernels::quantize_blockwise(views[s], len, slots[s].is_signed, starting_at(slots[s].rounding, index),
                                    static_cast<std::uint8_t*>(slots[s].data) + b, slots[s].absmax + b / kBlock);
      } else {
        kernels::to_bfloat16(views[s], len, slots[s].rounding, index, static_cast<std::uint16_t*>(slots[s].data) + b);
      }
    }
  }
}

// The run() of a low-bit parameter's element-range task (Optimizer::Task): `update(offset, len, state)`
// runs the rule's float32 kernel on elements [offset, offset + len) of the tensor, state[k] holding the
// float32 values of slots[k] there. `slots` point at element 0.
template <class Update>
auto float_state_task(StateDType dtype, std::array<StateRef, 3> slots, std::size_t count, Update update) {
  return [=](std::size_t begin, std::size_t end) {
    const auto at = advanced(slots, dtype, begin);
    with_float_blocks(dtype, end - begin, static_cast<std::uint32_t>(begin), at.data(), count,
                      [&](std::size_t b, std::size_t len, float** state) { update(begin + b, len, state); });
  };
}

// Throws InvalidArgument when the group's state_dtype is not the one its state was laid out for.
void check_unchanged(std::string_view optimizer, const Parameter& param, DType laid_out, StateDType now);

}  // namespace descent::lowbit
