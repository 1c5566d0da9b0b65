#include "optimizers/muon/newton_schulz.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <string>

#include "descent/error.hpp"

namespace descent::muon {
namespace {

int blas_int(std::size_t v) {
  if (v > static_cast<std::size_t>(INT_MAX)) {
    throw InvalidArgument("Muon: a matrix dimension of " + std::to_string(v) + " is more than BLAS's int holds");
  }
  return static_cast<int>(v);
}

}  // namespace

template <>
void gemm<float>(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                 const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                 std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

template <>
void gemm<double>(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                  std::size_t ldc) {
  cblas_dgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

template <class T>
void newton_schulz(T* x, std::size_t m, std::size_t n, const NsCoefficients& k, std::int64_t steps) {
  if (steps <= 0 || m == 0 || n == 0) return;
  blas_int(m);
  blas_int(n);
  // Uninitialised on purpose: every element is written by a copy or a gemm with beta 0 before it is read.
  const std::unique_ptr<T[]> next(new T[m * n]), gram(new T[m * m]), poly(new T[m * m]);
  T* current = x;
  T* other = next.get();
  const T a = static_cast<T>(k.a), b = static_cast<T>(k.b), c = static_cast<T>(k.c);
  for (std::int64_t s = 0; s < steps; ++s) {
    gemm<T>(false, true, m, m, n, T(1), current, n, current, n, T(0), gram.get(), m);             // A = X X^T
    std::copy(gram.get(), gram.get() + m * m, poly.get());
    gemm<T>(false, false, m, m, m, c, gram.get(), m, gram.get(), m, b, poly.get(), m);           // B = c A A + b A
    std::copy(current, current + m * n, other);
    gemm<T>(false, false, m, n, m, T(1), poly.get(), m, current, n, a, other, n);                // X = B X + a X
    std::swap(current, other);
  }
  if (current != x) std::copy(current, current + m * n, x);
}

template void newton_schulz<float>(float*, std::size_t, std::size_t, const NsCoefficients&, std::int64_t);
template void newton_schulz<double>(double*, std::size_t, std::size_t, const NsCoefficients&, std::int64_t);

}  // namespace descent::muon
