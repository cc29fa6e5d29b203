/* The fused MLP trainer: nnplug's per-layer kernels chained for a whole run of SGD steps.
 *
 * Each step makes the same kernel calls, in the same order, as nnplug's Linear, activation,
 * Softmax, CrossEntropy/MSE and SGD objects do from Python, so both paths compute the same
 * numbers; what this saves is a few dozen Python calls per step, which dominate small
 * batches. The first layer's input gradient is not computed: nothing uses it.
 */
#include <math.h>
#include <stddef.h>

#include "nnplug_kernels.h"
#include "nnplug_mlp.h"
#include "simd.h"
#include "vmath.h"

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

static int valid_activation(int kind)
{
    return kind == NNP_ACT_NONE || kind == NNP_ACT_TANH || kind == NNP_ACT_SIGMOID
           || kind == NNP_ACT_RELU;
}

static int activation_forward(int kind, ptrdiff_t size, float *a)
{
    switch (kind) {
    case NNP_ACT_TANH: return nnp_tanh_forward(size, a, a);
    case NNP_ACT_SIGMOID: return nnp_sigmoid_forward(size, a, a);
    case NNP_ACT_RELU: return nnp_relu_forward(size, a, a);
    default: return NNP_OK;
    }
}

/* g <- g * f'(x), from the activation's outputs y = f(x). */
static int activation_backward(int kind, ptrdiff_t size, const float *y, float *g)
{
    switch (kind) {
    case NNP_ACT_TANH: return nnp_tanh_backward(size, y, g, g);
    case NNP_ACT_SIGMOID: return nnp_sigmoid_backward(size, y, g, g);
    case NNP_ACT_RELU: return nnp_relu_backward(size, y, g, g);
    default: return NNP_OK;
    }
}

static int check_net(ptrdiff_t layers, const struct nnp_dense_layer *net)
{
    if (layers < 1 || net == NULL) return NNP_MLP_SHAPE;
    for (ptrdiff_t l = 0; l < layers; l++) {
        const struct nnp_dense_layer *d = &net[l];
        if (d->n_in < 1 || d->n_out < 1) return NNP_MLP_SHAPE;
        if (l > 0 && d->n_in != net[l - 1].n_out) return NNP_MLP_SHAPE;
        if (!d->w || !d->b || !d->dw || !d->db || !d->vw || !d->vb) return NNP_ERR_NULL;
        if (!valid_activation(d->activation)) return NNP_ERR_VALUE;
    }
    return NNP_OK;
}

ptrdiff_t nnp_mlp_workspace_floats(ptrdiff_t layers, const struct nnp_dense_layer *net,
                                   ptrdiff_t batch)
{
    if (batch < 1 || check_net(layers, net) != NNP_OK) return -1;
    /* Gathered inputs and targets, every layer's outputs, two gradient buffers. */
    ptrdiff_t widest = 0, outputs = 0;
    for (ptrdiff_t l = 0; l < layers; l++) {
        outputs += net[l].n_out;
        if (net[l].n_out > widest) widest = net[l].n_out;
    }
    return batch * (net[0].n_in + net[layers - 1].n_out + outputs + 2 * widest);
}

/* velocity = momentum * velocity + lr * grad; param -= velocity; grad = 0, with the
 * velocity flushed to zero below FLT_MIN as nnp_sgd_step does (see vmath.h). */
NNP_CLONES
static void sgd_and_clear(ptrdiff_t size, float *restrict param, float *restrict grad,
                          float *restrict velocity, float lr, float momentum)
{
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const float v = nnp_flush_subnormal(momentum * velocity[i] + lr * grad[i]);
        velocity[i] = v;
        param[i] -= v;
        grad[i] = 0.0f;
    }
}

static void gather_rows(ptrdiff_t n, ptrdiff_t width, const float *src,
                        const long long *index, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *row = src + (ptrdiff_t)index[i] * width;
        for (ptrdiff_t j = 0; j < width; j++) dst[i * width + j] = row[j];
    }
}

/* The head's loss for one batch of n rows (the mean over samples) and its gradient with
 * respect to the last layer's outputs, before that layer's activation. */
static int head_loss_and_grad(int head, int last_activation, ptrdiff_t n, ptrdiff_t m,
                              float *y, const float *t, float *g, double *loss)
{
    int status;
    if (head == NNP_HEAD_SOFTMAX_CROSS_ENTROPY) {
        double ce = 0.0;
        if ((status = nnp_softmax_forward(n, m, y, m, y, m)) != NNP_OK) return status;
        if ((status = nnp_cross_entropy(n, m, y, m, t, m, &ce)) != NNP_OK) return status;
        *loss = ce / (double)n;
        if (!isfinite(*loss)) return NNP_OK;
        return nnp_softmax_cross_entropy_grad(n, m, y, m, t, m, 1.0f / (float)n, g, m);
    }
    double sse = 0.0;
    for (ptrdiff_t i = 0; i < n * m; i++) {
        const double d = (double)y[i] - (double)t[i];
        sse += d * d;
    }
    *loss = sse / (double)(n * m);
    if (!isfinite(*loss)) return NNP_OK;
    const float scale = 2.0f / (float)(n * m);
    for (ptrdiff_t i = 0; i < n * m; i++) g[i] = (y[i] - t[i]) * scale;
    return activation_backward(last_activation, n * m, y, g);
}

int nnp_mlp_sgd_epoch(ptrdiff_t layers, const struct nnp_dense_layer *net, int head,
                      ptrdiff_t count, ptrdiff_t rows, const float *x, const float *t,
                      const long long *order, ptrdiff_t batch, float learning_rate,
                      float momentum, float *work, ptrdiff_t work_floats, double *loss_sum,
                      ptrdiff_t *stopped_batch)
{
    int status;
    if ((status = check_net(layers, net)) != NNP_OK) return status;
    if (head != NNP_HEAD_SOFTMAX_CROSS_ENTROPY && head != NNP_HEAD_MSE) return NNP_ERR_VALUE;
    if (head == NNP_HEAD_SOFTMAX_CROSS_ENTROPY && net[layers - 1].activation != NNP_ACT_NONE)
        return NNP_MLP_SHAPE;
    if (count < 0 || rows < 0 || batch < 1) return NNP_ERR_SIZE;
    if (!loss_sum || !stopped_batch || (rows > 0 && (!x || !t))) return NNP_ERR_NULL;
    if (order == NULL && rows < count) return NNP_MLP_ORDER;
    for (ptrdiff_t i = 0; order != NULL && i < count; i++)
        if (order[i] < 0 || order[i] >= rows) return NNP_MLP_ORDER;
    const ptrdiff_t needed = nnp_mlp_workspace_floats(layers, net, batch);
    if (!work || work_floats < needed) return NNP_MLP_WORKSPACE;

    const ptrdiff_t in0 = net[0].n_in, m = net[layers - 1].n_out;
    ptrdiff_t widest = 0;
    for (ptrdiff_t l = 0; l < layers; l++)
        if (net[l].n_out > widest) widest = net[l].n_out;
    float *xin = work;
    float *tin = xin + batch * in0;
    float *grad = tin + batch * m;
    float *grad_next = grad + batch * widest;
    float *outputs = grad_next + batch * widest; /* layer l's outputs follow layer l-1's */

    *loss_sum = 0.0;
    *stopped_batch = -1;
    for (ptrdiff_t start = 0, index = 0; start < count; start += batch, index++) {
        const ptrdiff_t n = min_pd(batch, count - start);
        const float *xb = x + start * in0, *tb = t + start * m;
        if (order != NULL) {
            gather_rows(n, in0, x, order + start, xin);
            gather_rows(n, m, t, order + start, tin);
            xb = xin;
            tb = tin;
        }

        const float *input = xb;
        float *y = outputs;
        for (ptrdiff_t l = 0; l < layers; l++) {
            const struct nnp_dense_layer *d = &net[l];
            status = nnp_linear_forward(n, d->n_in, d->n_out, input, d->n_in, d->w, d->n_in, d->b, y,
                                        d->n_out);
            if (status != NNP_OK) return status;
            if ((status = activation_forward(d->activation, n * d->n_out, y)) != NNP_OK)
                return status;
            input = y;
            y += batch * d->n_out;
        }
        float *last = (float *)input;

        double loss = 0.0;
        status = head_loss_and_grad(head, net[layers - 1].activation, n, m, last, tb, grad,
                                    &loss);
        if (status != NNP_OK) return status;
        if (!isfinite(loss)) {
            *stopped_batch = index;
            return NNP_MLP_NONFINITE;
        }
        *loss_sum += loss * (double)n;

        for (ptrdiff_t l = layers - 1; l >= 0; l--) {
            const struct nnp_dense_layer *d = &net[l];
            float *below = l > 0 ? last - batch * d->n_in : NULL;
            const float *layer_input = l > 0 ? below : xb;
            status = nnp_linear_param_grads(n, d->n_in, d->n_out, grad, d->n_out, layer_input, d->n_in,
                                            d->dw, d->n_in, d->db);
            if (status != NNP_OK) return status;
            if (l == 0) break;
            status = nnp_linear_input_grad(n, d->n_in, d->n_out, grad, d->n_out, d->w, d->n_in,
                                           grad_next, d->n_in);
            if (status != NNP_OK) return status;
            status = activation_backward(net[l - 1].activation, n * d->n_in, below, grad_next);
            if (status != NNP_OK) return status;
            float *swap = grad;
            grad = grad_next;
            grad_next = swap;
            last = below;
        }

        for (ptrdiff_t l = 0; l < layers; l++) {
            const struct nnp_dense_layer *d = &net[l];
            sgd_and_clear(d->n_out * d->n_in, d->w, d->dw, d->vw, learning_rate, momentum);
            sgd_and_clear(d->n_out, d->b, d->db, d->vb, learning_rate, momentum);
        }
    }
    return NNP_OK;
}
