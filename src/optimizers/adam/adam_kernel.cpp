// Compiles adam-inl.h once per instruction set and defines the kernel declared in adam_reference.hpp,
// which dispatches to the best one this CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "optimizers/adam/adam_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "optimizers/adam/adam-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {
DESCENT_KERNEL_TARGET(Adam)
}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace descent::kernels {
DESCENT_KERNEL_EXPORT(Adam, adam);
HWY_EXPORT(AdamLowBit);
void adam_lowbit(const reference::AdamStep& s, StateDType dtype, float* param, const float* grad,
                 lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(AdamLowBit)(s, dtype, param, grad, slots, count, first, n);
}
}  // namespace descent::kernels
#endif  // HWY_ONCE
