/* Optimizer updates, in place on contiguous float32 parameter and state buffers: each rule
 * once, in nnp_update_apply, for the public steps and the training plan alike.
 *
 * Hyperparameters arrive as doubles and are rounded to float32 where the NumPy reference
 * rounds them (a Python float meeting a float32 array), so both apply the same update.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>

#include "nnplug_kernels.h"
#include "nnplug_plan.h"
#include "optim.h"
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

int nnp_update_prepare(struct nnp_update *u, int kind, double learning_rate, double a,
                       double b, double epsilon, long long step)
{
    *u = (struct nnp_update){.kind = kind, .lr = (float)learning_rate, .a = (float)a,
                             .ca = (float)(1.0 - a), .eps = (float)epsilon};
    switch (kind) {
    case NNP_RULE_SGD: case NNP_RULE_RMSPROP: return NNP_OK;
    case NNP_RULE_ADAM: {
        if (step < 1) return NNP_ERR_VALUE;
        /* The bias corrections 1 / (1 - beta^step), computed in double as the reference
         * does. */
        const double m_correction = 1.0 - pow(a, (double)step);
        const double v_correction = 1.0 - pow(b, (double)step);
        if (m_correction == 0.0 || v_correction == 0.0) return NNP_ERR_VALUE;
        u->b = (float)b;
        u->cb = (float)(1.0 - b);
        u->m_scale = (float)(1.0 / m_correction);
        u->v_scale = (float)(1.0 / v_correction);
        const float bound = (float)((double)FLT_MIN / (double)u->lr);
        u->m_floor = bound > FLT_MIN ? bound : FLT_MIN;
        return NNP_OK;
    }
    default: return NNP_PLAN_INVALID;
    }
}

NNP_CLONES
void nnp_update_apply(const struct nnp_update *u, ptrdiff_t size, float *param,
                      const float *grad, float *state0, float *state1)
{
    const float lr = u->lr, a = u->a, ca = u->ca, eps = u->eps;
    switch (u->kind) {
    case NNP_RULE_SGD:
#pragma omp simd
        for (ptrdiff_t i = 0; i < size; i++) {
            const float v = nnp_flush_subnormal(a * state0[i] + lr * grad[i]);
            state0[i] = v;
            param[i] -= v;
        }
        break;
    case NNP_RULE_ADAM: {
        /* m decays ten times faster than v where the gradient stays zero, and on its way
         * down to FLT_MIN it spends a few dozen steps below FLT_MIN / lr, where lr * m is
         * subnormal: at batch 1 on MNIST a few hundred weights a step took a microcode
         * assist there (Adam 13% slower after 12,000 steps than after 600). Such an m moves
         * its parameter by less than FLT_MIN / (sqrt(v) + eps): it is stored as zero, which
         * differs from the reference's m by less than FLT_MIN / lr. */
        const float b = u->b, cb = u->cb, m_scale = u->m_scale, v_scale = u->v_scale;
        const float m_floor = u->m_floor;
#pragma omp simd
        for (ptrdiff_t i = 0; i < size; i++) {
            const float g = grad[i];
            const float m_new = a * state0[i] + ca * g;
            const float mi = fabsf(m_new) < m_floor ? 0.0f : m_new;
            const float vi = nnp_flush_subnormal(b * state1[i] + cb * g * g);
            state0[i] = mi;
            state1[i] = vi;
            param[i] -= lr * (mi * m_scale) / (sqrtf(vi * v_scale) + eps);
        }
        break;
    }
    case NNP_RULE_RMSPROP:
#pragma omp simd
        for (ptrdiff_t i = 0; i < size; i++) {
            const float g = grad[i];
            const float vi = nnp_flush_subnormal(a * state0[i] + ca * g * g);
            state0[i] = vi;
            param[i] -= lr * g / (sqrtf(vi) + eps);
        }
        break;
    default: break;
    }
}

int nnp_sgd_step(ptrdiff_t size, float *param, const float *grad, float *velocity,
                 double learning_rate, double momentum)
{
    const float *const buffers[] = {param, grad, velocity};
    const int status = check_buffers(size, buffers, 3);
    if (status != NNP_OK) return status;
    struct nnp_update u;
    nnp_update_prepare(&u, NNP_RULE_SGD, learning_rate, momentum, 0.0, 0.0, 1);
    nnp_update_apply(&u, size, param, grad, velocity, NULL);
    return NNP_OK;
}

int nnp_adam_step(ptrdiff_t size, float *param, const float *grad, float *m, float *v,
                  double learning_rate, double beta1, double beta2, double epsilon,
                  long long step)
{
    const float *const buffers[] = {param, grad, m, v};
    int status = check_buffers(size, buffers, 4);
    if (status != NNP_OK) return status;
    struct nnp_update u;
    status = nnp_update_prepare(&u, NNP_RULE_ADAM, learning_rate, beta1, beta2, epsilon, step);
    if (status != NNP_OK) return status;
    nnp_update_apply(&u, size, param, grad, m, v);
    return NNP_OK;
}

int nnp_rmsprop_step(ptrdiff_t size, float *param, const float *grad, float *v,
                     double learning_rate, double decay, double epsilon)
{
    const float *const buffers[] = {param, grad, v};
    const int status = check_buffers(size, buffers, 3);
    if (status != NNP_OK) return status;
    struct nnp_update u;
    nnp_update_prepare(&u, NNP_RULE_RMSPROP, learning_rate, decay, 0.0, epsilon, 1);
    nnp_update_apply(&u, size, param, grad, v, NULL);
    return NNP_OK;
}
