// Element types of parameters and optimizer state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace descent {

// descent stores state in the parameter's own type, as PyTorch does.
enum class DType : std::uint8_t { Float32, Float64 };

constexpr std::size_t size_of(DType dtype) noexcept { return dtype == DType::Float32 ? 4 : 8; }

constexpr std::string_view name_of(DType dtype) noexcept {
  return dtype == DType::Float32 ? "float32" : "float64";
}

template <class T>
constexpr DType dtype_of() noexcept {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "descent supports float and double");
  return std::is_same_v<T, float> ? DType::Float32 : DType::Float64;
}

// Calls f(float{}) or f(double{}) for a run-time dtype, so one generic lambda serves both.
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  if (dtype == DType::Float32) return f(float{});
  return f(double{});
}

}  // namespace descent
