// Compiles adafactor-inl.h once per instruction set and defines the kernels declared in
// adafactor_reference.hpp, which dispatch to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/adafactor/adafactor_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/adafactor/adafactor-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(AdafactorVariance)
DESCENT_KERNEL_TARGET(AdafactorFactoredSq)
DESCENT_KERNEL_TARGET(AdafactorApply)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(AdafactorVariance, adafactor_variance);
DESCENT_KERNEL_EXPORT(AdafactorFactoredSq, adafactor_factored_sq);
DESCENT_KERNEL_EXPORT(AdafactorApply, adafactor_apply);
}  // namespace descent::kernels
#endif  // HWY_ONCE
