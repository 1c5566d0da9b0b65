// Compiles kernels-inl.h once per instruction set and dispatches to the best one the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/kernels-inl.h"

// Concrete per-type entry points, which HWY_EXPORT needs (it cannot export templates).
HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
void SgdF32(const reference::SGDStep& s, float* p, const float* g, float* b, std::size_t n) { Sgd(s, p, g, b, n); }
void SgdF64(const reference::SGDStep& s, double* p, const double* g, double* b, std::size_t n) { Sgd(s, p, g, b, n); }
void AdagradF32(const reference::AdagradStep& s, float* p, const float* g, float* a, std::size_t n) { Adagrad(s, p, g, a, n); }
void AdagradF64(const reference::AdagradStep& s, double* p, const double* g, double* a, std::size_t n) { Adagrad(s, p, g, a, n); }
void AdadeltaF32(const reference::AdadeltaStep& s, float* p, const float* g, float* a, float* b, std::size_t n) { Adadelta(s, p, g, a, b, n); }
void AdadeltaF64(const reference::AdadeltaStep& s, double* p, const double* g, double* a, double* b, std::size_t n) { Adadelta(s, p, g, a, b, n); }
void RmspropF32(const reference::RMSpropStep& s, float* p, const float* g, float* a, float* b, float* c, std::size_t n) { Rmsprop(s, p, g, a, b, c, n); }
void RmspropF64(const reference::RMSpropStep& s, double* p, const double* g, double* a, double* b, double* c, std::size_t n) { Rmsprop(s, p, g, a, b, c, n); }
void AdamF32(const reference::AdamStep& s, float* p, const float* g, float* a, float* b, float* c, std::size_t n) { Adam(s, p, g, a, b, c, n); }
void AdamF64(const reference::AdamStep& s, double* p, const double* g, double* a, double* b, double* c, std::size_t n) { Adam(s, p, g, a, b, c, n); }
void AdamaxF32(const reference::AdamaxStep& s, float* p, const float* g, float* a, float* b, std::size_t n) { Adamax(s, p, g, a, b, n); }
void AdamaxF64(const reference::AdamaxStep& s, double* p, const double* g, double* a, double* b, std::size_t n) { Adamax(s, p, g, a, b, n); }
void NadamF32(const reference::NAdamStep& s, float* p, const float* g, float* a, float* b, std::size_t n) { Nadam(s, p, g, a, b, n); }
void NadamF64(const reference::NAdamStep& s, double* p, const double* g, double* a, double* b, std::size_t n) { Nadam(s, p, g, a, b, n); }
void RadamF32(const reference::RAdamStep& s, float* p, const float* g, float* a, float* b, std::size_t n) { Radam(s, p, g, a, b, n); }
void RadamF64(const reference::RAdamStep& s, double* p, const double* g, double* a, double* b, std::size_t n) { Radam(s, p, g, a, b, n); }
void LarsF32(const reference::LARSStep& s, float* p, const float* g, float* b, std::size_t n) { Lars(s, p, g, b, n); }
void LarsF64(const reference::LARSStep& s, double* p, const double* g, double* b, std::size_t n) { Lars(s, p, g, b, n); }
double LambMomentsF32(const reference::LAMBStep& s, const float* p, const float* g, float* a, float* b, std::size_t n) { return LambMoments(s, p, g, a, b, n); }
double LambMomentsF64(const reference::LAMBStep& s, const double* p, const double* g, double* a, double* b, std::size_t n) { return LambMoments(s, p, g, a, b, n); }
void LambApplyF32(const reference::LAMBStep& s, double r, float* p, const float* a, const float* b, std::size_t n) { LambApply(s, r, p, a, b, n); }
void LambApplyF64(const reference::LAMBStep& s, double r, double* p, const double* a, const double* b, std::size_t n) { LambApply(s, r, p, a, b, n); }
double SumOfSquaresF32(const float* x, std::size_t n) { return SumOfSquares(x, n); }
double SumOfSquaresF64(const double* x, std::size_t n) { return SumOfSquares(x, n); }
bool AllFiniteF32(const float* x, std::size_t n) { return AllFinite(x, n); }
bool AllFiniteF64(const double* x, std::size_t n) { return AllFinite(x, n); }
// The target this copy of the code was compiled for: what dispatch really picked.
const char* DispatchedTarget() { return hwy::TargetName(HWY_TARGET); }
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

#include "kernels/kernels.hpp"

namespace descent::kernels {

HWY_EXPORT(SgdF32);
HWY_EXPORT(SgdF64);
HWY_EXPORT(AdagradF32);
HWY_EXPORT(AdagradF64);
HWY_EXPORT(AdadeltaF32);
HWY_EXPORT(AdadeltaF64);
HWY_EXPORT(RmspropF32);
HWY_EXPORT(RmspropF64);
HWY_EXPORT(AdamF32);
HWY_EXPORT(AdamF64);
HWY_EXPORT(AdamaxF32);
HWY_EXPORT(AdamaxF64);
HWY_EXPORT(NadamF32);
HWY_EXPORT(NadamF64);
HWY_EXPORT(RadamF32);
HWY_EXPORT(RadamF64);
HWY_EXPORT(LarsF32);
HWY_EXPORT(LarsF64);
HWY_EXPORT(LambMomentsF32);
HWY_EXPORT(LambMomentsF64);
HWY_EXPORT(LambApplyF32);
HWY_EXPORT(LambApplyF64);
HWY_EXPORT(SumOfSquaresF32);
HWY_EXPORT(SumOfSquaresF64);
HWY_EXPORT(AllFiniteF32);
HWY_EXPORT(AllFiniteF64);
HWY_EXPORT(DispatchedTarget);

// Each public template forwards to the float or double entry of the chosen target.
#define DESCENT_DISPATCH(T, F32, F64, ...)              \
  if constexpr (std::is_same_v<T, float>) {             \
    return HWY_DYNAMIC_DISPATCH(F32)(__VA_ARGS__);      \
  } else {                                              \
    return HWY_DYNAMIC_DISPATCH(F64)(__VA_ARGS__);      \
  }

template <class T>
void sgd(const reference::SGDStep& s, T* p, const T* g, T* b, std::size_t n) { DESCENT_DISPATCH(T, SgdF32, SgdF64, s, p, g, b, n) }
template <class T>
void adagrad(const reference::AdagradStep& s, T* p, const T* g, T* a, std::size_t n) { DESCENT_DISPATCH(T, AdagradF32, AdagradF64, s, p, g, a, n) }
template <class T>
void adadelta(const reference::AdadeltaStep& s, T* p, const T* g, T* a, T* b, std::size_t n) { DESCENT_DISPATCH(T, AdadeltaF32, AdadeltaF64, s, p, g, a, b, n) }
template <class T>
void rmsprop(const reference::RMSpropStep& s, T* p, const T* g, T* a, T* b, T* c, std::size_t n) { DESCENT_DISPATCH(T, RmspropF32, RmspropF64, s, p, g, a, b, c, n) }
template <class T>
void adam(const reference::AdamStep& s, T* p, const T* g, T* a, T* b, T* c, std::size_t n) { DESCENT_DISPATCH(T, AdamF32, AdamF64, s, p, g, a, b, c, n) }
template <class T>
void adamax(const reference::AdamaxStep& s, T* p, const T* g, T* a, T* b, std::size_t n) { DESCENT_DISPATCH(T, AdamaxF32, AdamaxF64, s, p, g, a, b, n) }
template <class T>
void nadam(const reference::NAdamStep& s, T* p, const T* g, T* a, T* b, std::size_t n) { DESCENT_DISPATCH(T, NadamF32, NadamF64, s, p, g, a, b, n) }
template <class T>
void radam(const reference::RAdamStep& s, T* p, const T* g, T* a, T* b, std::size_t n) { DESCENT_DISPATCH(T, RadamF32, RadamF64, s, p, g, a, b, n) }
template <class T>
void lars(const reference::LARSStep& s, T* p, const T* g, T* b, std::size_t n) { DESCENT_DISPATCH(T, LarsF32, LarsF64, s, p, g, b, n) }
template <class T>
double lamb_moments(const reference::LAMBStep& s, const T* p, const T* g, T* a, T* b, std::size_t n) { DESCENT_DISPATCH(T, LambMomentsF32, LambMomentsF64, s, p, g, a, b, n) }
template <class T>
void lamb_apply(const reference::LAMBStep& s, double r, T* p, const T* a, const T* b, std::size_t n) { DESCENT_DISPATCH(T, LambApplyF32, LambApplyF64, s, r, p, a, b, n) }
template <class T>
double sum_of_squares(const T* x, std::size_t n) { DESCENT_DISPATCH(T, SumOfSquaresF32, SumOfSquaresF64, x, n) }
template <class T>
bool all_finite(const T* x, std::size_t n) { DESCENT_DISPATCH(T, AllFiniteF32, AllFiniteF64, x, n) }
#undef DESCENT_DISPATCH

#define DESCENT_INSTANTIATE(T)                                                                                      \
  template void sgd<T>(const reference::SGDStep&, T*, const T*, T*, std::size_t);                                   \
  template void adagrad<T>(const reference::AdagradStep&, T*, const T*, T*, std::size_t);                           \
  template void adadelta<T>(const reference::AdadeltaStep&, T*, const T*, T*, T*, std::size_t);                     \
  template void rmsprop<T>(const reference::RMSpropStep&, T*, const T*, T*, T*, T*, std::size_t);                   \
  template void adam<T>(const reference::AdamStep&, T*, const T*, T*, T*, T*, std::size_t);                         \
  template void adamax<T>(const reference::AdamaxStep&, T*, const T*, T*, T*, std::size_t);                         \
  template void nadam<T>(const reference::NAdamStep&, T*, const T*, T*, T*, std::size_t);                           \
  template void radam<T>(const reference::RAdamStep&, T*, const T*, T*, T*, std::size_t);                           \
  template void lars<T>(const reference::LARSStep&, T*, const T*, T*, std::size_t);                                 \
  template double lamb_moments<T>(const reference::LAMBStep&, const T*, const T*, T*, T*, std::size_t);             \
  template void lamb_apply<T>(const reference::LAMBStep&, double, T*, const T*, const T*, std::size_t);             \
  template double sum_of_squares<T>(const T*, std::size_t);                                                         \
  template bool all_finite<T>(const T*, std::size_t);
DESCENT_INSTANTIATE(float)
DESCENT_INSTANTIATE(double)
#undef DESCENT_INSTANTIATE

std::vector<std::pair<std::int64_t, std::string>> available_targets() {
  std::vector<std::pair<std::int64_t, std::string>> out;
  for (const auto target : hwy::SupportedAndGeneratedTargets()) out.emplace_back(target, hwy::TargetName(target));
  return out;
}

void use_only_target(std::int64_t target) {
  hwy::SetSupportedTargetsForTest(target);
  // Highway 1.0.3 keeps dispatching to the target chosen before unless told to choose again.
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

std::string current_target() { return HWY_DYNAMIC_DISPATCH(DispatchedTarget)(); }

}  // namespace descent::kernels
#endif  // HWY_ONCE
