// Adam's and AdamW's vector body (one template), bitwise equal to reference::adam (adam.cpp) on every
// target. Included once per instruction set by adam_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "lowbit/quantize-inl.h"
#include "optimizers/adam/adam_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Adam(const reference::AdamStep& s, T* p, const T* g, T* m, T* v, T* vmax, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto beta1 = hn::Set(d, static_cast<T>(s.beta1)), one_minus_beta1 = hn::Set(d, static_cast<T>(1.0 - s.beta1));
        const auto beta2 = hn::Set(d, static_cast<T>(s.beta2)), one_minus_beta2 = hn::Set(d, static_cast<T>(1.0 - s.beta2));
        const auto eps = hn::Set(d, static_cast<T>(s.eps));
        const auto l2 = hn::Set(d, static_cast<T>(s.l2));
        const auto decay = hn::Set(d, static_cast<T>(s.decay_factor));
        const auto neg_step = hn::Set(d, static_cast<T>(-s.step_size));
        const auto bc2_sqrt = hn::Set(d, static_cast<T>(s.bias_correction2_sqrt));
        const bool has_l2 = static_cast<T>(s.l2) != T(0);
        const bool decoupled = s.decay_factor != 1.0;
        return [=, &s](std::size_t i) HWY_ATTR {
          auto pv = hn::LoadU(d, p + i);
          const auto gv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_l2, l2);
          if (decoupled) pv = hn::Mul(pv, decay);
          const auto mv = Ema(hn::LoadU(d, m + i), gv, beta1, one_minus_beta1);
          const auto vv = EmaSq(hn::LoadU(d, v + i), gv, beta2, one_minus_beta2);
          hn::StoreU(mv, d, m + i);
          hn::StoreU(vv, d, v + i);
          auto second = vv;
          if (vmax != nullptr) {
            second = NanMax(hn::LoadU(d, vmax + i), vv);
            hn::StoreU(second, d, vmax + i);
          }
          const auto denom = hn::Add(hn::Div(hn::Sqrt(second), bc2_sqrt), eps);
          hn::StoreU(hn::Add(pv, hn::Div(hn::Mul(neg_step, mv), denom)), d, p + i);
        };
      },
      [&](std::size_t i) { reference::adam(s, p + i, g + i, m + i, v + i, vmax ? vmax + i : nullptr, n - i); });
}

// reference::adam_lowbit: the float32 body above on each block of state read back to float32.
HWY_INLINE void AdamLowBit(const reference::AdamStep& s, StateDType dtype, float* p, const float* g,
                           lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  WithFloatState(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    Adam<float>(s, p + b, g + b, state[0], state[1], count == 3 ? state[2] : nullptr, len);
  });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
