// Element types of parameters and optimizer state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace descent {

// Parameters are Float32, Float64 or BFloat16 (for the rules with the option "bf16_params"). A state slot has its own type (docs/architecture.md): by default
// the parameter's, as PyTorch keeps it, or a narrower one (bfloat16 moments, uint8 codes with float32
// block scales, int32 indices).
enum class DType : std::uint8_t { Float32, Float64, BFloat16, Float16, UInt8, Int32, Int64 };

// A bfloat16 or IEEE half value, as its 16 bits: descent stores these types and converts them in its
// kernels; it does no arithmetic on the storage type itself.
struct bfloat16 {
  std::uint16_t bits;
  friend bool operator==(bfloat16, bfloat16) = default;
};
struct float16 {
  std::uint16_t bits;
  friend bool operator==(float16, float16) = default;
};

// bfloat16 is the top half of a float32: round to nearest even, NaN kept NaN (quiet).
inline bfloat16 to_bfloat16(float value) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &value, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return {static_cast<std::uint16_t>(u >> 16)};
}
inline float to_float(bfloat16 value) noexcept {
  const std::uint32_t u = std::uint32_t{value.bits} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half to float, exactly (every half is a float).
inline float to_float(float16 value) noexcept {
  const std::uint32_t sign = std::uint32_t{value.bits & 0x8000u} << 16;
  std::uint32_t exponent = (value.bits >> 10) & 0x1fu, mantissa = value.bits & 0x3ffu, u;
  if (exponent == 0x1f) {
    u = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN
  } else if (exponent != 0) {
    u = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    u = sign;
  } else {  // subnormal: normalise
    exponent = 113;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    u = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

constexpr std::size_t size_of(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::BFloat16:
    case DType::Float16: return 2;
    case DType::UInt8: return 1;
  }
  return 0;
}

constexpr std::string_view name_of(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
  }
  return "?";
}

template <class T>
inline constexpr bool is_storage_type_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bfloat16> ||
    std::is_same_v<T, float16> || std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, std::int64_t>;

template <class T>
constexpr DType dtype_of() noexcept {
  static_assert(is_storage_type_v<T>, "descent stores float, double, bfloat16, float16, uint8_t, int32_t, int64_t");
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, bfloat16>) return DType::BFloat16;
  else if constexpr (std::is_same_v<T, float16>) return DType::Float16;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::UInt8;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::Int32;
  else return DType::Int64;
}

// Whether a dtype can be a parameter's.
constexpr bool is_parameter_dtype(DType dtype) noexcept {
  return dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::BFloat16;
}

namespace detail {
// Throws InvalidArgument: `dtype` reached code that computes in float32 or float64 only (parameter.cpp).
[[noreturn]] void refuse_non_float_dtype(DType dtype);
}  // namespace detail

// Calls f(float{}) or f(double{}) for a parameter's run-time dtype, so one generic lambda serves both.
// A bfloat16 parameter throws InvalidArgument: the rules that take one convert it themselves, and every
// other path refuses it earlier with a message naming the parameter; this is the backstop.
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  if (dtype == DType::Float32) return f(float{});
  if (dtype != DType::Float64) detail::refuse_non_float_dtype(dtype);
  return f(double{});
}

// Calls f(T{}) for any storage dtype.
template <class F>
decltype(auto) visit_any_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::BFloat16: return f(bfloat16{});
    case DType::Float16: return f(float16{});
    case DType::UInt8: return f(std::uint8_t{});
    case DType::Int32: return f(std::int32_t{});
    case DType::Int64: break;
  }
  return f(std::int64_t{});
}

}  // namespace descent
