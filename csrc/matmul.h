/* A private entry point of matmul.c for the other kernels (conv.c); not part of the cffi
 * cdef. Its callers have checked the sizes: it checks nothing. */
#ifndef NNP_MATMUL_H
#define NNP_MATMUL_H

#include <stddef.h>

/* c (m, cols) = A B, or c += A B if `accumulate`, where element (r, p) of A (m, k) is
 * a[r * a_rs + p * a_ps] and B (k, cols) is row-major with leading dimension ldb. */
void nnp_gemm_strided(ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const float *a, ptrdiff_t a_rs,
                      ptrdiff_t a_ps, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                      int accumulate);

#endif /* NNP_MATMUL_H */
