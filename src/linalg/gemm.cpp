#include "linalg/gemm.hpp"

#include <cblas.h>

#include <climits>
#include <string>
#include <type_traits>

#include "descent/error.hpp"

namespace descent::linalg {

int blas_int(std::size_t v, std::string_view who) {
  if (v > static_cast<std::size_t>(INT_MAX)) {
    throw InvalidArgument(std::string(who) + ": a matrix dimension of " + std::to_string(v) +
                          " is more than BLAS's int holds");
  }
  return static_cast<int>(v);
}

template <class T>
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  constexpr std::string_view who = "gemm";
  const int im = blas_int(m, who), in = blas_int(n, who), ik = blas_int(k, who);
  const int ilda = blas_int(lda, who), ildb = blas_int(ldb, who), ildc = blas_int(ldc, who);
  const CBLAS_TRANSPOSE op_a = transpose_a ? CblasTrans : CblasNoTrans, op_b = transpose_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, op_a, op_b, im, in, ik, alpha, a, ilda, b, ildb, beta, c, ildc);
  } else {
    cblas_dgemm(CblasRowMajor, op_a, op_b, im, in, ik, alpha, a, ilda, b, ildb, beta, c, ildc);
  }
}

template void gemm<float>(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*, std::size_t,
                          const float*, std::size_t, float, float*, std::size_t);
template void gemm<double>(bool, bool, std::size_t, std::size_t, std::size_t, double, const double*, std::size_t,
                           const double*, std::size_t, double, double*, std::size_t);

}  // namespace descent::linalg
