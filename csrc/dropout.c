/* Inverted dropout with counter-based masks (see nnplug_kernels.h for the definition). */
#include <stddef.h>
#include <stdint.h>

#include "nnplug_kernels.h"
#include "simd.h"
#include "checks.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

/* The splitmix64 finaliser: a bijection of 64-bit words that mixes every input bit. */
NNP_INLINE uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

NNP_CLONES
int nnp_dropout_forward(ptrdiff_t size, const float *x, float *mask, float *y,
                        unsigned long long key, unsigned long long counter, ptrdiff_t first,
                        unsigned long long threshold, float scale)
{
    int status;
    if ((status = nnp_check_vector(size, x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, mask)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, y)) != NNP_OK) return status;
    if (first < 0 || threshold > (1ULL << 24)) return NNP_ERR_VALUE;
    if (nnp_overlap(mask, 1, size, size, x, 1, size, size)
        || nnp_overlap(mask, 1, size, size, y, 1, size, size)
        || nnp_overlap_unless_same(y, size, x, size, size > 0, size))
        return NNP_ERR_ALIAS;

    const uint64_t stream = mix64((uint64_t)key + (uint64_t)counter * GOLDEN);
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const uint64_t bits = mix64(stream + ((uint64_t)(first + i) + 1) * GOLDEN);
        const float m = (bits >> 40) >= threshold ? scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
    return NNP_OK;
}

NNP_CLONES
int nnp_dropout_backward(ptrdiff_t size, const float *mask, const float *dy, float *dx)
{
    int status;
    if ((status = nnp_check_vector(size, mask)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, dy)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, dx)) != NNP_OK) return status;
    if (nnp_overlap(dx, 1, size, size, mask, 1, size, size)
        || nnp_overlap_unless_same(dx, size, dy, size, size > 0, size))
        return NNP_ERR_ALIAS;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * mask[i];
    return NNP_OK;
}
