// Compiles the whole-tensor conversions of quantize-inl.h once per instruction set and defines the
// dispatched functions declared in quantize.hpp (lowbit::kernels).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/quantize_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "lowbit/quantize-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

void QuantizeBlockwise(const float* x, std::size_t n, bool is_signed, lowbit::Rounding rounding, std::uint8_t* codes,
                       float* absmax) {
  for (std::size_t b = 0; b < n; b += lowbit::kBlock) {
    const std::size_t len = n - b < lowbit::kBlock ? n - b : lowbit::kBlock;
    absmax[b / lowbit::kBlock] = QuantizeBlock(x + b, len, is_signed, rounding, static_cast<std::uint32_t>(b), codes + b);
  }
}

void DequantizeBlockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, bool is_signed, float* out) {
  for (std::size_t b = 0; b < n; b += lowbit::kBlock) {
    const std::size_t len = n - b < lowbit::kBlock ? n - b : lowbit::kBlock;
    DequantizeBlock(codes + b, len, is_signed, absmax[b / lowbit::kBlock], out + b);
  }
}

void ToBFloat16Array(const float* x, std::size_t n, lowbit::Rounding rounding, std::uint32_t first, std::uint16_t* out) {
  ToBFloat16(x, n, rounding, first, out);
}

void FromBFloat16Array(const std::uint16_t* bits, std::size_t n, float* out) { FromBFloat16(bits, n, out); }

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
HWY_EXPORT(QuantizeBlockwise);
HWY_EXPORT(DequantizeBlockwise);
HWY_EXPORT(ToBFloat16Array);
HWY_EXPORT(FromBFloat16Array);
}  // namespace descent::kernels

namespace descent::lowbit::kernels {
void quantize_blockwise(const float* x, std::size_t n, bool is_signed, Rounding rounding, std::uint8_t* codes,
                        float* absmax) {
  HWY_DYNAMIC_DISPATCH(descent::kernels::QuantizeBlockwise)(x, n, is_signed, rounding, codes, absmax);
}
void dequantize_blockwise(const std::uint8_t* codes, const float* absmax, std::size_t n, bool is_signed, float* out) {
  HWY_DYNAMIC_DISPATCH(descent::kernels::DequantizeBlockwise)(codes, absmax, n, is_signed, out);
}
void to_bfloat16(const float* x, std::size_t n, Rounding rounding, std::uint32_t first, std::uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(descent::kernels::ToBFloat16Array)(x, n, rounding, first, out);
}
void from_bfloat16(const std::uint16_t* bits, std::size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(descent::kernels::FromBFloat16Array)(bits, n, out);
}
}  // namespace descent::lowbit::kernels
#endif  // HWY_ONCE
