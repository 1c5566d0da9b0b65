// The LAPACK routines SOAP needs (OpenBLAS exports them), on row-major square matrices. Internal.
#pragma once

#include <cstddef>

namespace descent::soap {

// The eigenvectors of the symmetric [n, n] matrix a, as the columns of q (row-major), in descending order
// of their eigenvalues (torch.flip(torch.linalg.eigh(a)[1], [1])), through ?syevd. A float matrix whose
// decomposition fails is retried in double, as the reference does; if that fails too, q is the identity.
// Returns false in that last case.
template <class T>
bool eigenvectors_descending(const T* a, T* q, std::size_t n);

// q <- the Q factor of the QR decomposition of the [n, n] matrix a (row-major), through ?geqrf and
// ?orgqr (as torch.linalg.qr and numpy.linalg.qr). Returns false, leaving q as it was, when LAPACK fails.
template <class T>
bool qr_q(const T* a, T* q, std::size_t n);

}  // namespace descent::soap
