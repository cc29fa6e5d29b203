/* A private interface of optim.c for the training plan (plan.c); not part of the cffi cdef.
 *
 * An update rule with its constants for one step worked out once (Adam's bias corrections
 * take two pow calls), so that the plan can apply it to many small blocks of a parameter
 * and the public nnp_*_step functions to one whole buffer, with the same arithmetic. */
#ifndef NNP_OPTIM_H
#define NNP_OPTIM_H

#include <stddef.h>

struct nnp_update {
    int kind;        /* NNP_RULE_SGD, NNP_RULE_ADAM or NNP_RULE_RMSPROP (nnplug_plan.h) */
    float lr;        /* the learning rate */
    float a, ca;     /* momentum (SGD), beta1 and 1 - beta1 (Adam), decay and 1 - decay */
    float b, cb;     /* Adam: beta2 and 1 - beta2 */
    float m_scale;   /* Adam: 1 / (1 - beta1^step) */
    float v_scale;   /* Adam: 1 / (1 - beta2^step) */
    float m_floor;   /* Adam: m below this is stored as zero (see nnp_update_apply) */
    float eps;
};

/* The rule `kind` for 1-based `step` (Adam only); NNP_ERR_VALUE if step < 1 or a bias
 * correction is zero, NNP_PLAN_INVALID for an unknown kind. */
int nnp_update_prepare(struct nnp_update *u, int kind, double learning_rate, double a,
                       double b, double epsilon, long long step);

/* The update of `size` elements: state0 is the velocity (SGD), m (Adam) or the mean square
 * (RMSprop), state1 Adam's v. The caller has checked the buffers. */
void nnp_update_apply(const struct nnp_update *u, ptrdiff_t size, float *param,
                      const float *grad, float *state0, float *state1);

#endif /* NNP_OPTIM_H */
