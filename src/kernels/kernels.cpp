// The kernels every optimizer shares (sum_of_squares, all_finite), compiled once per instruction set,
// and the choice of instruction set.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/export.h"
#include "kernels/vector-inl.h"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
double SumOfSquares(const T* x, std::size_t n) {
  return SquaresThenTail<T>(
      n, [&](auto d) HWY_ATTR { return [=](std::size_t i) HWY_ATTR { return hn::LoadU(d, x + i); }; },
      [&](std::size_t i) { return detail::sum_of_squares(x + i, n - i); });
}

// Whether no element is a NaN or an infinity: exactly those have every exponent bit set. Compares bits,
// so any target can run it (no FMA needed); four vectors a round keep the loads in flight.
template <class T>
bool AllFinite(const T* x, std::size_t n) {
  using U = hwy::MakeUnsigned<T>;
  constexpr U kExponent = sizeof(T) == 4 ? static_cast<U>(0x7f800000u) : static_cast<U>(0x7ff0000000000000ull);
  const hn::ScalableTag<T> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const std::size_t N = hn::Lanes(d);
  const auto exponent = hn::Set(du, kExponent);
  const auto exponent_of = [&](std::size_t i) HWY_ATTR { return hn::And(hn::BitCast(du, hn::LoadU(d, x + i)), exponent); };
  auto top = hn::Zero(du);  // the largest masked exponent seen: kExponent exactly when one was non-finite
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    top = hn::Max(top, hn::Max(hn::Max(exponent_of(i), exponent_of(i + N)),
                               hn::Max(exponent_of(i + 2 * N), exponent_of(i + 3 * N))));
  }
  for (; i + N <= n; i += N) top = hn::Max(top, exponent_of(i));
  if (!hn::AllFalse(du, hn::Eq(top, exponent))) return false;
  for (; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

DESCENT_KERNEL_TARGET(SumOfSquares)
DESCENT_KERNEL_TARGET(AllFinite)

// The target this copy of the code was compiled for: what dispatch really picked.
const char* DispatchedTarget() { return hwy::TargetName(HWY_TARGET); }

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

#include "kernels/kernels.hpp"

namespace descent::kernels {

DESCENT_KERNEL_EXPORT(SumOfSquares, sum_of_squares);
DESCENT_KERNEL_EXPORT(AllFinite, all_finite);
HWY_EXPORT(DispatchedTarget);

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
