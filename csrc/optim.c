/* Optimizer updates, in place on contiguous float32 parameter and state buffers.
 *
 * Hyperparameters arrive as doubles and are rounded to float32 where the NumPy reference
 * rounds them (a Python float meeting a float32 array), so both apply the same update.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>

#include "nnplug_kernels.h"
#include "simd.h"
#include "vmath.h"
#include "checks.h"

/* All buffers hold `size` floats, and no two of them may overlap. */
static int check_buffers(ptrdiff_t size, const float *const *buffers, int count)
{
    int status;
    for (int i = 0; i < count; i++)
        if ((status = nnp_check_vector(size, buffers[i])) != NNP_OK) return status;
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (nnp_overlap(buffers[i], 1, size, size, buffers[j], 1, size, size)) return NNP_ERR_ALIAS;
    return NNP_OK;
}

NNP_CLONES
int nnp_sgd_step(ptrdiff_t size, float *param, const float *grad, float *velocity,
                 double learning_rate, double momentum)
{
    const float *const buffers[] = {param, grad, velocity};
    const int status = check_buffers(size, buffers, 3);
    if (status != NNP_OK) return status;

    const float lr = (float)learning_rate;
    const float mu = (float)momentum;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const float v = nnp_flush_subnormal(mu * velocity[i] + lr * grad[i]);
        velocity[i] = v;
        param[i] -= v;
    }
    return NNP_OK;
}

NNP_CLONES
int nnp_adam_step(ptrdiff_t size, float *param, const float *grad, float *m, float *v,
                  double learning_rate, double beta1, double beta2, double epsilon,
                  long long step)
{
    const float *const buffers[] = {param, grad, m, v};
    const int status = check_buffers(size, buffers, 4);
    if (status != NNP_OK) return status;
    if (step < 1) return NNP_ERR_VALUE;
    /* The bias corrections 1 / (1 - beta^step), computed in double as the reference does. */
    const double m_correction = 1.0 - pow(beta1, (double)step);
    const double v_correction = 1.0 - pow(beta2, (double)step);
    if (m_correction == 0.0 || v_correction == 0.0) return NNP_ERR_VALUE;

    const float b1 = (float)beta1, c1 = (float)(1.0 - beta1);
    const float b2 = (float)beta2, c2 = (float)(1.0 - beta2);
    const float m_scale = (float)(1.0 / m_correction);
    const float v_scale = (float)(1.0 / v_correction);
    const float lr = (float)learning_rate;
    const float eps = (float)epsilon;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const float g = grad[i];
        const float mi = nnp_flush_subnormal(b1 * m[i] + c1 * g);
        const float vi = nnp_flush_subnormal(b2 * v[i] + c2 * g * g);
        m[i] = mi;
        v[i] = vi;
        param[i] -= lr * (mi * m_scale) / (sqrtf(vi * v_scale) + eps);
    }
    return NNP_OK;
}

NNP_CLONES
int nnp_rmsprop_step(ptrdiff_t size, float *param, const float *grad, float *v,
                     double learning_rate, double decay, double epsilon)
{
    const float *const buffers[] = {param, grad, v};
    const int status = check_buffers(size, buffers, 3);
    if (status != NNP_OK) return status;

    const float d = (float)decay, c = (float)(1.0 - decay);
    const float lr = (float)learning_rate;
    const float eps = (float)epsilon;
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const float g = grad[i];
        const float vi = nnp_flush_subnormal(d * v[i] + c * g * g);
        v[i] = vi;
        param[i] -= lr * g / (sqrtf(vi) + eps);
    }
    return NNP_OK;
}
