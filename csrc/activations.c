/* Element-wise activations and their backward passes, on contiguous float32 arrays.
 *
 * Each loop is a plain `omp simd` loop, compiled per ISA level through target_clones;
 * tanh and sigmoid use vmath.h's nnp_tanhf so that they vectorise too.
 */
#include <stddef.h>

#include "nnplug_kernels.h"
#include "simd.h"
#include "checks.h"
#include "vmath.h"

/* Checks shared by the forward passes: y may be x itself, not a shifted view of it. */
static int check_forward(ptrdiff_t size, const float *x, const float *y)
{
    int status;
    if ((status = nnp_check_vector(size, x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, y)) != NNP_OK) return status;
    if (nnp_overlap_unless_same(y, size, x, size, 1, size)) return NNP_ERR_ALIAS;
    return NNP_OK;
}

/* And by the backward passes: dx may be y or dy itself. */
static int check_backward(ptrdiff_t size, const float *y, const float *dy, const float *dx)
{
    int status;
    if ((status = nnp_check_vector(size, y)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, dy)) != NNP_OK) return status;
    if ((status = nnp_check_vector(size, dx)) != NNP_OK) return status;
    if (nnp_overlap_unless_same(dx, size, y, size, 1, size)
        || nnp_overlap_unless_same(dx, size, dy, size, 1, size))
        return NNP_ERR_ALIAS;
    return NNP_OK;
}

NNP_CLONES
int nnp_tanh_forward(ptrdiff_t size, const float *x, float *y)
{
    const int status = check_forward(size, x, y);
    if (status != NNP_OK) return status;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) y[i] = nnp_tanhf(x[i]);
    return NNP_OK;
}

NNP_CLONES
int nnp_tanh_backward(ptrdiff_t size, const float *y, const float *dy, float *dx)
{
    const int status = check_backward(size, y, dy, dx);
    if (status != NNP_OK) return status;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    return NNP_OK;
}

NNP_CLONES
int nnp_sigmoid_forward(ptrdiff_t size, const float *x, float *y)
{
    const int status = check_forward(size, x, y);
    if (status != NNP_OK) return status;
    /* The same float32 steps as the NumPy reference; exp(-x) would overflow for x < -88. */
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) y[i] = 0.5f * (nnp_tanhf(0.5f * x[i]) + 1.0f);
    return NNP_OK;
}

NNP_CLONES
int nnp_sigmoid_backward(ptrdiff_t size, const float *y, const float *dy, float *dx)
{
    const int status = check_backward(size, y, dy, dx);
    if (status != NNP_OK) return status;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    return NNP_OK;
}

NNP_CLONES
int nnp_relu_forward(ptrdiff_t size, const float *x, float *y)
{
    const int status = check_forward(size, x, y);
    if (status != NNP_OK) return status;
    /* As np.maximum(x, 0): NaN passes through, and -0 becomes +0. */
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) y[i] = (x[i] > 0.0f || x[i] != x[i]) ? x[i] : 0.0f;
    return NNP_OK;
}

NNP_CLONES
int nnp_relu_backward(ptrdiff_t size, const float *y, const float *dy, float *dx)
{
    const int status = check_backward(size, y, dy, dx);
    if (status != NNP_OK) return status;
    /* A multiplication, not a select, so that a NaN or infinite dy where y <= 0 gives NaN
     * as in the reference dy * (y > 0). */
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f);
    return NNP_OK;
}
