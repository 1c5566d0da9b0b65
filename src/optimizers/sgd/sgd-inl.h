// SGD's vector body, bitwise equal to reference::sgd (sgd.cpp) on every target. Included once per
// instruction set by sgd_kernel.cpp through hwy/foreach_target.h, hence no include guard.
#include <cstddef>

#include "hwy/highway.h"
#include "kernels/vector-inl.h"
#include "lowbit/quantize-inl.h"
#include "optimizers/sgd/sgd_reference.hpp"

HWY_BEFORE_NAMESPACE();
namespace descent::kernels::HWY_NAMESPACE {

template <class T>
void Sgd(const reference::SGDStep& s, T* p, const T* g, T* buf, std::size_t n) {
  VectorsThenTail<T>(
      n,
      [&](auto d) HWY_ATTR {
        const auto neg_lr = hn::Set(d, static_cast<T>(-s.lr));
        const auto wd = hn::Set(d, static_cast<T>(s.weight_decay));
        const auto momentum = hn::Set(d, static_cast<T>(s.momentum));
        const auto one_minus_dampening = hn::Set(d, static_cast<T>(1.0 - s.dampening));
        const bool has_wd = static_cast<T>(s.weight_decay) != T(0);
        return [=, &s](std::size_t i) HWY_ATTR {
          PrefetchAhead<true>(p, i);
          PrefetchAhead<false>(g, i);
          if (buf != nullptr) PrefetchAhead<true>(buf, i);
          const auto pv = hn::LoadU(d, p + i);
          auto dv = EffectiveGrad(hn::LoadU(d, g + i), pv, s.maximize, has_wd, wd);
          if (buf != nullptr) {
            const auto bv = s.first ? dv : hn::MulAdd(one_minus_dampening, dv, hn::Mul(hn::LoadU(d, buf + i), momentum));
            hn::StoreU(bv, d, buf + i);
            dv = s.nesterov ? hn::MulAdd(momentum, bv, dv) : bv;
          }
          hn::StoreU(hn::MulAdd(neg_lr, dv, pv), d, p + i);
        };
      },
      [&](std::size_t i) { reference::sgd(s, p + i, g + i, buf ? buf + i : nullptr, n - i); });
}

// reference::sgd_lowbit: the float32 body above on each block of the buffer read back to float32.
HWY_INLINE void SgdLowBit(const reference::SGDStep& s, StateDType dtype, float* p, const float* g,
                          lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  WithFloatState(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    Sgd<float>(s, p + b, g + b, state[0], len);
  });
}

}  // namespace descent::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
