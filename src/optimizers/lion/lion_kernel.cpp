// Compiles lion-inl.h once per instruction set and defines the kernel declared in lion_reference.hpp,
// which dispatches to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/lion/lion_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/lion/lion-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(Lion)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(Lion, lion);
}  // namespace descent::kernels
#endif  // HWY_ONCE
