// Compiles rmsprop-inl.h once per instruction set and defines the kernel declared in rmsprop_reference.hpp,
// which dispatches to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/rmsprop/rmsprop_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/rmsprop/rmsprop-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(Rmsprop)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(Rmsprop, rmsprop);
HWY_EXPORT(RmspropLowBit);
void rmsprop_lowbit(const reference::RMSpropStep& s, StateDType dtype, bool has_buf, bool centered, float* param,
                    const float* grad, lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(RmspropLowBit)(s, dtype, has_buf, centered, param, grad, slots, count, first, n);
}
}  // namespace descent::kernels
#endif  // HWY_ONCE
