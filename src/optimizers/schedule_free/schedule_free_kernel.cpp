// Compiles schedule_free-inl.h once per instruction set and defines the kernels declared in
// schedule_free_reference.hpp, which dispatch to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/schedule_free/schedule_free_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/schedule_free/schedule_free-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(SgdScheduleFree)
DESCENT_KERNEL_TARGET(AdamwScheduleFree)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(SgdScheduleFree, sgd_schedule_free);
DESCENT_KERNEL_EXPORT(AdamwScheduleFree, adamw_schedule_free);
}  // namespace descent::kernels
#endif  // HWY_ONCE
