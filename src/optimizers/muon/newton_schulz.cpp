#include "optimizers/muon/newton_schulz.hpp"

#include <algorithm>
#include <memory>

#include "linalg/gemm.hpp"

namespace descent::muon {

template <class T>
void newton_schulz(T* x, std::size_t m, std::size_t n, const NsCoefficients& k, std::int64_t steps) {
  if (steps <= 0 || m == 0 || n == 0) return;
  linalg::blas_int(m, "Muon");  // refused before the scratch is allocated
  linalg::blas_int(n, "Muon");
  // Uninitialised on purpose: every element is written by a copy or a gemm with beta 0 before it is read.
  const std::unique_ptr<T[]> next(new T[m * n]), gram(new T[m * m]), poly(new T[m * m]);
  T* current = x;
  T* other = next.get();
  const T a = static_cast<T>(k.a), b = static_cast<T>(k.b), c = static_cast<T>(k.c);
  for (std::int64_t s = 0; s < steps; ++s) {
    linalg::gemm<T>(false, true, m, m, n, T(1), current, n, current, n, T(0), gram.get(), m);   // A = X X^T
    std::copy(gram.get(), gram.get() + m * m, poly.get());
    linalg::gemm<T>(false, false, m, m, m, c, gram.get(), m, gram.get(), m, b, poly.get(), m);  // B = c A A + b A
    std::copy(current, current + m * n, other);
    linalg::gemm<T>(false, false, m, n, m, T(1), poly.get(), m, current, n, a, other, n);       // X = B X + a X
    std::swap(current, other);
  }
  if (current != x) std::copy(current, current + m * n, x);
}

template void newton_schulz<float>(float*, std::size_t, std::size_t, const NsCoefficients&, std::int64_t);
template void newton_schulz<double>(double*, std::size_t, std::size_t, const NsCoefficients&, std::int64_t);

}  // namespace descent::muon
