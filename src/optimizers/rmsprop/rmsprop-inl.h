// RMSprop's vector body, bitwise equal to reference::rmsprop (rmsprop.cpp) on every target. Included once per
// instruction set by rmsprop_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "lowbit/quantize-inl.h"
#include "optimizers/rmsprop/rmsprop_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Rmsprop(const reference::RMSpropStep& s, T* p, const T* g, T* square_avg, T* buf, T* grad_avg, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
        const auto alpha = hn::Set(d, static_cast<T>(s.alpha));
        const auto one_minus_alpha = hn::Set(d, static_cast<T>(1.0 - s.alpha));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(square_avg, i);
          if (buf != nullptr) PrefetchAhead<true>(buf, i);
          if (grad_avg != nullptr) PrefetchAhead<true>(grad_avg, i);
          const auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          const auto sq = EmaSq(hn::LoadU(d, square_avg + i), gv, alpha, one_minus_alpha);
          hn::StoreU(sq, d, square_avg + i);
          auto avg = hn::Sqrt(sq);
          if (grad_avg != nullptr) {
            const auto ga = Ema(hn::LoadU(d, grad_avg + i), gv, alpha, one_minus_alpha);
            hn::StoreU(ga, d, grad_avg + i);
            avg = hn::Sqrt(hn::MulAdd(hn::Neg(ga), ga, sq));
          }
          avg = hn::Add(avg, eps);
          if (buf != nullptr) {
            const auto bv = hn::Add(hn::Mul(hn::LoadU(d, buf + i), momentum), hn::Div(gv, avg));
            hn::StoreU(bv, d, buf + i);
            hn::StoreU(hn::MulAdd(neg_lr, bv, pv), d, p + i);
          } else {
            hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_lr, gv), avg)), d, p + i);
          }
        };
      },
      [&](std::size_t i) {
        reference::rmsprop(s, p + i, g + i, square_avg + i, buf ? buf + i : nullptr, grad_avg ? grad_avg + i : nullptr,
                           n - i);
      });
}

// reference::rmsprop_lowbit: the float32 body above on each block of state read back to float32.
HWY_INLINE void RmspropLowBit(const reference::RMSpropStep& s, StateDType dtype, bool has_buf, bool centered, float* p,
                              const float* g, lowbit::StateRef* slots, std::size_t count, std::uint32_t first,
                              std::size_t n) {
  WithFloatState(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    Rmsprop<float>(s, p + b, g + b, state[0], has_buf ? state[1] : nullptr, centered ? state[has_buf ? 2 : 1] : nullptr,
                   len);
  });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
