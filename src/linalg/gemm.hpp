// Dense matrix products through the BLAS descent links (OpenBLAS's cblas_sgemm and cblas_dgemm), for
// the rules that work on whole matrices (Muon's Newton-Schulz iteration, SOAP's rotations and
// preconditioners), the MLP's layers (src/nn/mlp.cpp) and bench/muon_step.cpp's plain-gemm rate. Internal.
#pragma once

#include <cstddef>
#include <string_view>

namespace descent::linalg {

// `v` as BLAS's int; throws InvalidArgument "<who>: a matrix dimension of <v> is more than BLAS's int
// holds" when it does not fit.
int blas_int(std::size_t v, std::string_view who);

// C = alpha op(A) op(B) + beta C, row-major, op(X) = X^T when its transpose flag is set; op(A) is
// [m, k], op(B) [k, n], C [m, n], each with its leading dimension. T is float (sgemm) or double (dgemm).
// Throws InvalidArgument when a size or leading dimension exceeds BLAS's int.
template <class T>
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc);

}  // namespace descent::linalg
