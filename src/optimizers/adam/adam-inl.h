// Adam's and AdamW's vector body (one template), bitwise equal to reference::adam (adam.cpp) on every
// target. Included once per instruction set by adam_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "lowbit/quantize-inl.h"
#include "optimizers/adam/adam_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

// One vector of reference::adam: the step's constants broadcast once, then Step per vector.
template <class D>
struct AdamVectors {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  V beta1, one_minus_beta1, beta2, one_minus_beta2, eps, l2, decay, neg_step, bc2_sqrt;
  bool has_l2, decoupled, maximize;
  AdamVectors(D d, const reference::AdamStep& s)
      : beta1(hn::Set(d, static_cast<T>(s.beta1))),
        one_minus_beta1(hn::Set(d, static_cast<T>(1.0 - s.beta1))),
        beta2(hn::Set(d, static_cast<T>(s.beta2))),
        one_minus_beta2(hn::Set(d, static_cast<T>(1.0 - s.beta2))),
        eps(hn::Set(d, static_cast<T>(s.eps))),
        l2(hn::Set(d, static_cast<T>(s.l2))),
        decay(hn::Set(d, static_cast<T>(s.decay_factor))),
        neg_step(hn::Set(d, static_cast<T>(-s.step_size))),
        bc2_sqrt(hn::Set(d, static_cast<T>(s.bias_correction2_sqrt))),
        has_l2(static_cast<T>(s.l2) != T(0)),
        decoupled(s.decay_factor != 1.0),
        maximize(s.maximize) {}
  // Updates m, v and (amsgrad, non-null) vmax in place; returns the new parameters.
  HWY_INLINE V Step(V pv, V grad, V& m, V& v, V* vmax) const {
    const auto gv = EffectiveGrad(grad, pv, maximize, has_l2, l2);
    if (decoupled) pv = hn::Mul(pv, decay);
    m = Ema(m, gv, beta1, one_minus_beta1);
    v = EmaSq(v, gv, beta2, one_minus_beta2);
    auto second = v;
    if (vmax != nullptr) second = *vmax = NanMax(*vmax, v);
    const auto denom = hn::Add(hn::Div(hn::Sqrt(second), bc2_sqrt), eps);
    return hn::Add(pv, hn::Div(hn::Mul(neg_step, m), denom));
  }
};

template <class T>
void Adam(const reference::AdamStep& s, T* p, const T* g, T* m, T* v, T* vmax, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const AdamVectors<decltype(d)> a(d, s);
        return [=](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          PrefetchAhead<true>(m, i);
          PrefetchAhead<true>(v, i);
          if (vmax != nullptr) PrefetchAhead<true>(vmax, i);
          auto mv = hn::LoadU(d, m + i), vv = hn::LoadU(d, v + i);
          if (vmax != nullptr) {
            auto vmaxv = hn::LoadU(d, vmax + i);
            hn::StoreU(a.Step(hn::LoadU(d, p + i), hn::LoadU(d, g + i), mv, vv, &vmaxv), d, p + i);
            hn::StoreU(vmaxv, d, vmax + i);
          } else {
            hn::StoreU(a.Step(hn::LoadU(d, p + i), hn::LoadU(d, g + i), mv, vv, nullptr), d, p + i);
          }
          hn::StoreU(mv, d, m + i);
          hn::StoreU(vv, d, v + i);
        };
      },
      [&](std::size_t i) { reference::adam(s, p + i, g + i, m + i, v + i, vmax ? vmax + i : nullptr, n - i); });
}

// reference::adam_lowbit: the vector body above on each vector of state read back to float32 (WithFusedState),
// the float32 kernel on what does not fill a vector.
HWY_INLINE void AdamLowBit(const reference::AdamStep& s, StateDType dtype, float* p, const float* g,
                           lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  const hn::ScalableTag<float> d;
  const AdamVectors<decltype(d)> a(d, s);
  WithFusedState(
      dtype, n, first, slots, count,
      [&](std::size_t i, auto* state) HWY_ATTR {
        PrefetchAhead<true>(p, i);
        PrefetchAhead<false>(g, i);
        hn::StoreU(a.Step(hn::LoadU(d, p + i), hn::LoadU(d, g + i), state[0], state[1], count == 3 ? &state[2] : nullptr), d, p + i);
      },
      [&](std::size_t b, std::size_t len, float** state) {
        Adam<float>(s, p + b, g + b, state[0], state[1], count == 3 ? state[2] : nullptr, len);
      });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
