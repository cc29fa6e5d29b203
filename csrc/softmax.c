/* Row-wise softmax, its backward pass, cross-entropy, the fused softmax + cross-entropy
 * gradient, and squared error, on row-major float32 matrices.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>

#include "nnplug_kernels.h"
#include "simd.h"
#include "checks.h"
#include "vmath.h"

/* y = exp(y) over `size` contiguous floats. */
NNP_INLINE void exp_in_place(ptrdiff_t size, float *y)
{
#pragma omp simd
    for (ptrdiff_t j = 0; j < size; j++) y[j] = nnp_expf(y[j]);
}

NNP_CLONES
int nnp_softmax_forward(ptrdiff_t n, ptrdiff_t m, const float *x, ptrdiff_t ldx, float *y,
                        ptrdiff_t ldy)
{
    int status;
    if ((status = nnp_check_matrix(n, m, x, ldx)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, y, ldy)) != NNP_OK) return status;
    if (n > 0 && m == 0) return NNP_ERR_SIZE;
    if (nnp_overlap_unless_same(y, ldy, x, ldx, n, m)) return NNP_ERR_ALIAS;

    /* Three passes, so that the exponentials, the costly part, run over the whole matrix
     * at once when it is contiguous: a row of 10 classes would not fill one vector. */
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *xr = x + i * ldx;
        float *yr = y + i * ldy;
        /* Subtracting the row maximum leaves the result unchanged and keeps exp() at most
         * 1. Rows with infinities follow the limit of finite logits: when the maximum is
         * +inf the row is uniform over its +inf entries (every other entry 0), and a row
         * of only -inf is uniform over all entries; elsewhere a -inf entry gives 0. Such a
         * row is shifted to 0 at its maximum entries and -inf elsewhere, so exp() gives 1
         * and 0. A NaN entry keeps the row NaN: it is copied, and the sum is NaN. */
        float top = xr[0];
        for (ptrdiff_t j = 1; j < m; j++) top = xr[j] > top ? xr[j] : top;
        if (isinf(top)) {
            for (ptrdiff_t j = 0; j < m; j++)
                yr[j] = isnan(xr[j]) ? xr[j] : (xr[j] == top ? 0.0f : -INFINITY);
        } else {
            for (ptrdiff_t j = 0; j < m; j++) yr[j] = xr[j] - top;
        }
    }
    if (ldy == m) {
        exp_in_place(n * m, y);
    } else {
        for (ptrdiff_t i = 0; i < n; i++) exp_in_place(m, y + i * ldy);
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        float *yr = y + i * ldy;
        float sum = 0.0f;
        for (ptrdiff_t j = 0; j < m; j++) sum += yr[j];
        /* Divided, not multiplied by 1 / sum, to round as the reference does. */
        for (ptrdiff_t j = 0; j < m; j++) yr[j] /= sum;
    }
    return NNP_OK;
}

NNP_CLONES
int nnp_softmax_backward(ptrdiff_t n, ptrdiff_t m, const float *y, ptrdiff_t ldy, const float *dy,
                         ptrdiff_t lddy, float *dx, ptrdiff_t lddx)
{
    int status;
    if ((status = nnp_check_matrix(n, m, y, ldy)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, dy, lddy)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, dx, lddx)) != NNP_OK) return status;
    if (nnp_overlap_unless_same(dx, lddx, y, ldy, n, m) || nnp_overlap_unless_same(dx, lddx, dy, lddy, n, m))
        return NNP_ERR_ALIAS;

    for (ptrdiff_t i = 0; i < n; i++) {
        const float *yr = y + i * ldy;
        const float *dyr = dy + i * lddy;
        float *dxr = dx + i * lddx;
        /* The Jacobian diag(y) - y y^T applied to dy without building it; the whole dot
         * product is read before dx, which may be y or dy, is written. */
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (ptrdiff_t j = 0; j < m; j++) dot += yr[j] * dyr[j];
#pragma omp simd
        for (ptrdiff_t j = 0; j < m; j++) dxr[j] = yr[j] * (dyr[j] - dot);
    }
    return NNP_OK;
}

int nnp_cross_entropy(ptrdiff_t n, ptrdiff_t m, const float *p, ptrdiff_t ldp, const float *t,
                      ptrdiff_t ldt, double *loss)
{
    int status;
    if ((status = nnp_check_matrix(n, m, p, ldp)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, t, ldt)) != NNP_OK) return status;
    if (loss == NULL) return NNP_ERR_NULL;

    /* With one-hot targets only one entry a row is nonzero, so skipping the zeros saves all
     * but n logarithms; 0 * log(max(p, FLT_MIN)) is exactly 0, so nothing else changes.
     * The clip is written so that a NaN probability stays NaN. */
    double total = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        for (ptrdiff_t j = 0; j < m; j++) {
            const float tj = t[i * ldt + j];
            if (tj == 0.0f) continue;
            const float pj = p[i * ldp + j];
            total += (double)(tj * logf(pj < FLT_MIN ? FLT_MIN : pj));
        }
    }
    *loss = -total;
    return NNP_OK;
}

NNP_CLONES
int nnp_softmax_cross_entropy_grad(ptrdiff_t n, ptrdiff_t m, const float *p, ptrdiff_t ldp,
                                   const float *t, ptrdiff_t ldt, float scale, float *dx,
                                   ptrdiff_t lddx)
{
    int status;
    if ((status = nnp_check_matrix(n, m, p, ldp)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, t, ldt)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, dx, lddx)) != NNP_OK) return status;
    if (nnp_overlap_unless_same(dx, lddx, p, ldp, n, m) || nnp_overlap_unless_same(dx, lddx, t, ldt, n, m))
        return NNP_ERR_ALIAS;

    for (ptrdiff_t i = 0; i < n; i++) {
        const float *pr = p + i * ldp;
        const float *tr = t + i * ldt;
        float *dxr = dx + i * lddx;
#pragma omp simd
        for (ptrdiff_t j = 0; j < m; j++) dxr[j] = (pr[j] - tr[j]) * scale;
    }
    return NNP_OK;
}

int nnp_squared_error(ptrdiff_t n, ptrdiff_t m, const float *p, ptrdiff_t ldp, const float *t,
                      ptrdiff_t ldt, double *loss)
{
    int status;
    if ((status = nnp_check_matrix(n, m, p, ldp)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, m, t, ldt)) != NNP_OK) return status;
    if (loss == NULL) return NNP_ERR_NULL;
    double sum = 0.0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *pr = p + i * ldp;
        const float *tr = t + i * ldt;
        for (ptrdiff_t j = 0; j < m; j++) {
            const double d = (double)pr[j] - (double)tr[j];
            sum += d * d;
        }
    }
    *loss = sum;
    return NNP_OK;
}

/* The same difference as the fused softmax + cross-entropy gradient, under another scale. */
int nnp_squared_error_grad(ptrdiff_t n, ptrdiff_t m, const float *p, ptrdiff_t ldp,
                           const float *t, ptrdiff_t ldt, float scale, float *dx, ptrdiff_t lddx)
{
    return nnp_softmax_cross_entropy_grad(n, m, p, ldp, t, ldt, scale, dx, lddx);
}
