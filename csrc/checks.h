/* Private argument checks shared by the kernels; each returns an nnp_status.
 * Include after nnplug_kernels.h, which has no include guard of its own. */
#ifndef NNP_CHECKS_H
#define NNP_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "simd.h"

/* A row-major (rows, cols) matrix at a with leading dimension lda. */
NNP_INLINE int nnp_check_matrix(ptrdiff_t rows, ptrdiff_t cols, const float *a, ptrdiff_t lda)
{
    if (rows < 0 || cols < 0) return NNP_ERR_SIZE;
    if (lda < cols) return NNP_ERR_LD;
    if (rows > 0 && cols > 0 && a == NULL) return NNP_ERR_NULL;
    return NNP_OK;
}

NNP_INLINE int nnp_check_vector(ptrdiff_t size, const float *a)
{
    return nnp_check_matrix(size > 0 ? 1 : 0, size, a, size);
}

/* Whether the memory spans of two matrices intersect. Spans are compared as integers:
 * relational comparison of pointers into different arrays is undefined in C. The span of
 * a strided matrix includes the gaps between its rows, so this can report an overlap
 * between interleaved matrices that share no element; the kernels reject those too. */
NNP_INLINE int nnp_overlap(const float *a, ptrdiff_t rows_a, ptrdiff_t cols_a, ptrdiff_t lda,
                           const float *b, ptrdiff_t rows_b, ptrdiff_t cols_b, ptrdiff_t ldb)
{
    if (rows_a == 0 || cols_a == 0 || rows_b == 0 || cols_b == 0) return 0;
    const uintptr_t a0 = (uintptr_t)a;
    const uintptr_t a1 = a0 + (uintptr_t)((rows_a - 1) * lda + cols_a) * sizeof(float);
    const uintptr_t b0 = (uintptr_t)b;
    const uintptr_t b1 = b0 + (uintptr_t)((rows_b - 1) * ldb + cols_b) * sizeof(float);
    return a0 < b1 && b0 < a1;
}

/* Overlap of two same-shaped matrices, where being exactly the same array (same pointer
 * and leading dimension) is allowed: every element is read before it is written. */
NNP_INLINE int nnp_overlap_unless_same(const float *a, ptrdiff_t lda, const float *b,
                                       ptrdiff_t ldb, ptrdiff_t rows, ptrdiff_t cols)
{
    if (a == b && lda == ldb) return 0;
    return nnp_overlap(a, rows, cols, lda, b, rows, cols, ldb);
}

#endif /* NNP_CHECKS_H */
