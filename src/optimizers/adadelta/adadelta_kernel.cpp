// Compiles adadelta-inl.h once per instruction set and defines the kernel declared in adadelta_reference.hpp,
// which dispatches to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/adadelta/adadelta_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/adadelta/adadelta-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(Adadelta)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(Adadelta, adadelta);
}  // namespace descent::kernels
#endif  // HWY_ONCE
