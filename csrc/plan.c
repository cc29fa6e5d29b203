/* The training plan (nnplug_plan.h): a chain of kernel and Python steps, a loss and an
 * update rule, run batch after batch in one call.
 *
 * Every buffer of a batch (gathered inputs and targets, each step's outputs, dropout masks,
 * the gradient at each step's inputs and outputs) is laid out for the whole batch; a thread
 * works on its own rows of each (of the first Linear layer's outputs, on its own columns:
 * splits_features; of a batch too small to split, the first thread on all rows:
 * rows_on_first), so a Python step between kernel steps sees the whole batch in one array. No buffer is reused at another width: one thread's rows of it would then overlap
 * another's. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#define NNP_HAVE_THREADS 1
#include <pthread.h>
#include <sched.h>
#endif

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nnplug_conv.h"
#include "nnplug_kernels.h"
#include "checks.h"
#include "nnplug_plan.h"
#include "nnplug_plugin.h"
#include "optim.h"

/* The plan calls plugin kernels through the types nnplug_plugin.h promises them. */
_Static_assert(__builtin_types_compatible_p(
                   nnplug_elementwise_forward_fn,
                   __typeof__(((struct nnp_extern_elementwise *)NULL)->forward))
                   && __builtin_types_compatible_p(
                       nnplug_elementwise_backward_fn,
                       __typeof__(((struct nnp_extern_elementwise *)NULL)->backward)),
               "struct nnp_extern_elementwise differs from nnplug_plugin.h");

int nnp_plugin_abi_version(void) { return NNPLUG_PLUGIN_ABI_VERSION; }

/* Slices thinner than this cost more in synchronisation than they save. */
#define MIN_ROWS_PER_THREAD 16
/* Linear weights per thread below which a batch of fewer than 2 MIN_ROWS_PER_THREAD rows
 * stays on one thread: updating 32,768 floats takes several microseconds, each of a
 * batch's barriers a fraction of one. */
#define FEATURE_ONLY_WEIGHTS 32768
#define MAX_THREADS 64
/* Each buffer starts on a 64-byte boundary, as the layers' own arrays do. */
#define ALIGN_FLOATS 16
/* Floats of a parameter updated at a time: a block of each of its buffers fits in L1. */
#define UPDATE_BLOCK 2048
/* Rows of a Linear layer's weights that the gradient kernel's register tile covers at the
 * widest ISA level: threads split the rows in multiples of it. */
#define FEATURE_TILE 8
/* The most input floats of a batch for which the threads split a first Linear layer by its
 * output features (a quarter of a 1 MiB L2). Measured on the article's model on a 2-core
 * Zen 4: an epoch 13% shorter at batch 64 (50,176 floats), 8% longer at batch 256. */
#define FEATURE_SPLIT_FLOATS 65536

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t aligned(ptrdiff_t floats) { return (floats + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

/* ---- checking a plan ------------------------------------------------------------------ */

static int elementwise(int kind)
{
    return kind == NNP_STEP_TANH || kind == NNP_STEP_SIGMOID || kind == NNP_STEP_RELU
           || kind == NNP_STEP_SOFTMAX || kind == NNP_STEP_DROPOUT
           || kind == NNP_STEP_EXTERN_ELEMENTWISE;
}

static int check_extern(const struct nnp_step *s)
{
    return s->ext != NULL && s->ext->forward != NULL && s->ext->backward != NULL;
}

/* A plugin kernel's own status says nothing in nnplug's terms: any failure is one code. */
static int extern_status(int status) { return status == 0 ? NNP_OK : NNP_PLAN_EXTERN; }

/* Whether parameter `index` exists, has `size` floats and is `threaded` as its step needs. */
static int check_param(const struct nnp_plan *plan, ptrdiff_t index, ptrdiff_t size,
                       int threaded)
{
    if (index < 0 || index >= plan->params) return 0;
    const struct nnp_param *p = &plan->param[index];
    return p->size == size && p->threaded == threaded;
}

/* The output side of a window of `kernel` moved `stride` over `size` + 2 `padding`, or -1. */
static ptrdiff_t windows(ptrdiff_t size, ptrdiff_t kernel, ptrdiff_t stride, ptrdiff_t padding)
{
    if (size < 1 || kernel < 1 || stride < 1 || padding < 0 || size + 2 * padding < kernel)
        return -1;
    return (size + 2 * padding - kernel) / stride + 1;
}

/* Whether an image step's geometry is valid and agrees with its sizes. */
static int check_image_step(const struct nnp_step *s, int pooling)
{
    if (s->channels < 1 || s->out_channels < 1) return 0;
    if (pooling && (s->out_channels != s->channels || s->padding[0] || s->padding[1])) return 0;
    const ptrdiff_t oh = windows(s->height, s->kernel[0], s->stride[0], s->padding[0]);
    const ptrdiff_t ow = windows(s->width, s->kernel[1], s->stride[1], s->padding[1]);
    return oh > 0 && ow > 0 && s->n_in == s->channels * s->height * s->width
           && s->n_out == s->out_channels * oh * ow;
}

static int check_plan(const struct nnp_plan *plan)
{
    if (plan == NULL || plan->steps < 1 || plan->step == NULL || plan->params < 0
        || (plan->params > 0 && plan->param == NULL))
        return NNP_PLAN_INVALID;
    int needs_callback = plan->loss == NNP_LOSS_PYTHON || plan->rule.kind == NNP_RULE_PYTHON;
    for (ptrdiff_t k = 0; k < plan->steps; k++) {
        const struct nnp_step *s = &plan->step[k];
        if (s->n_in < 1 || s->n_out < 1) return NNP_PLAN_INVALID;
        if (k > 0 && s->n_in != plan->step[k - 1].n_out) return NNP_PLAN_INVALID;
        if (elementwise(s->kind) && s->n_in != s->n_out) return NNP_PLAN_INVALID;
        switch (s->kind) {
        case NNP_STEP_LINEAR:
            if (!check_param(plan, s->param, s->n_in * s->n_out, 0)
                || !check_param(plan, s->param + 1, s->n_out, 0))
                return NNP_PLAN_INVALID;
            break;
        case NNP_STEP_DROPOUT:
            if (s->counter == NULL || s->threshold >= (1ULL << 24) || !(s->scale >= 1.0f))
                return NNP_PLAN_INVALID;
            break;
        case NNP_STEP_CONV2D:
            if (!check_image_step(s, 0)
                || !check_param(plan, s->param,
                                s->out_channels * s->channels * s->kernel[0] * s->kernel[1], 1)
                || !check_param(plan, s->param + 1, s->out_channels, 1))
                return NNP_PLAN_INVALID;
            break;
        case NNP_STEP_MAXPOOL2D:
            if (!check_image_step(s, 1)) return NNP_PLAN_INVALID;
            break;
        case NNP_STEP_PYTHON: needs_callback = 1; break;
        case NNP_STEP_EXTERN_ELEMENTWISE:
            if (!check_extern(s)) return NNP_ERR_NULL;
            break;
        case NNP_STEP_TANH: case NNP_STEP_SIGMOID: case NNP_STEP_RELU: case NNP_STEP_SOFTMAX: break;
        default: return NNP_PLAN_INVALID;
        }
    }
    if (plan->loss == NNP_LOSS_CROSS_ENTROPY && plan->step[plan->steps - 1].kind != NNP_STEP_SOFTMAX)
        return NNP_PLAN_INVALID;
    if (plan->loss != NNP_LOSS_CROSS_ENTROPY && plan->loss != NNP_LOSS_MSE
        && plan->loss != NNP_LOSS_PYTHON)
        return NNP_PLAN_INVALID;
    const int rule = plan->rule.kind;
    if (rule < NNP_RULE_SGD || rule > NNP_RULE_PYTHON) return NNP_PLAN_INVALID;
    if (rule == NNP_RULE_ADAM && plan->rule.step < 0) return NNP_PLAN_INVALID;
    for (ptrdiff_t i = 0; i < plan->params; i++) {
        const struct nnp_param *p = &plan->param[i];
        if (p->size < 0) return NNP_PLAN_INVALID;
        if (p->size == 0) continue;
        if (!p->value || !p->grad) return NNP_ERR_NULL;
        if (rule != NNP_RULE_PYTHON && !p->state0) return NNP_ERR_NULL;
        if (rule == NNP_RULE_ADAM && !p->state1) return NNP_ERR_NULL;
        /* The buffers the rule reads and writes are distinct. */
        const float *const buffers[] = {p->value, p->grad, p->state0, p->state1};
        const int used = rule == NNP_RULE_ADAM ? 4 : rule == NNP_RULE_PYTHON ? 2 : 3;
        for (int a = 0; a < used; a++)
            for (int b = a + 1; b < used; b++)
                if (nnp_overlap(buffers[a], 1, p->size, p->size, buffers[b], 1, p->size,
                                   p->size))
                    return NNP_ERR_ALIAS;
    }
    if (needs_callback && plan->callback == NULL) return NNP_ERR_NULL;
    return NNP_OK;
}

/* ---- the workspace ---------------------------------------------------------------------- */

/* The Linear layers' weights, in floats. */
static ptrdiff_t linear_weights(const struct nnp_plan *plan)
{
    ptrdiff_t total = 0;
    for (ptrdiff_t k = 0; k < plan->steps; k++) {
        const struct nnp_step *s = &plan->step[k];
        if (s->kind == NNP_STEP_LINEAR) total += s->n_in * s->n_out;
    }
    return total;
}

/* Threads for batches of `batch` rows: one per MIN_ROWS_PER_THREAD rows, each taking its
 * rows of every step (and its features of the first Linear layer, splits_features). A
 * batch too small for that is shared by features only (rows_on_first), one thread per
 * FEATURE_ONLY_WEIGHTS of Linear weights. */
static int threads_for(const struct nnp_plan *plan, ptrdiff_t batch, int threads)
{
#if defined(NNP_HAVE_THREADS)
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    ptrdiff_t useful = batch / MIN_ROWS_PER_THREAD;
    if (useful < 2) useful = linear_weights(plan) / FEATURE_ONLY_WEIGHTS;
    return useful < 2 || threads < 2 ? 1 : (int)min_pd(threads, useful);
#else
    (void)plan;
    (void)batch;
    (void)threads;
    return 1;
#endif
}

/* Whether the first thread takes every row of each batch, the others only features. */
static int rows_on_first(ptrdiff_t batch, int threads)
{
    return batch / MIN_ROWS_PER_THREAD < threads;
}

/* Floats of one private copy of the gradients that kernel steps write. */
static ptrdiff_t private_floats(const struct nnp_plan *plan)
{
    ptrdiff_t total = 0;
    for (ptrdiff_t i = 0; i < plan->params; i++)
        if (plan->param[i].threaded) total += aligned(plan->param[i].size);
    return total;
}

/* Floats of the per-batch buffers, before the private gradient copies. */
static ptrdiff_t batch_floats(const struct nnp_plan *plan, ptrdiff_t batch)
{
    /* Inputs, targets, the gradient at the inputs; then per step its outputs, the gradient
     * at them and a dropout mask. */
    ptrdiff_t total = 2 * aligned(batch * plan->step[0].n_in)
                      + aligned(batch * plan->step[plan->steps - 1].n_out);
    for (ptrdiff_t k = 0; k < plan->steps; k++) {
        total += 2 * aligned(batch * plan->step[k].n_out);
        if (plan->step[k].kind == NNP_STEP_DROPOUT) total += aligned(batch * plan->step[k].n_out);
    }
    return total;
}

ptrdiff_t nnp_plan_workspace_floats(const struct nnp_plan *plan, ptrdiff_t batch, int threads)
{
    if (batch < 1 || threads < 1 || check_plan(plan) != NNP_OK) return -1;
    const int used = threads_for(plan, batch, threads);
    return batch_floats(plan, batch) + (used - 1) * private_floats(plan);
}

/* ---- synchronisation --------------------------------------------------------------------- */

struct barrier {
    int threads;
    int waiting;
    int generation;
};

static void barrier_wait(struct barrier *b)
{
#if defined(NNP_HAVE_THREADS)
    if (b->threads == 1) return;
    const int generation = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->waiting, 1, __ATOMIC_ACQ_REL) == b->threads) {
        __atomic_store_n(&b->waiting, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->generation, 1, __ATOMIC_RELEASE);
        return;
    }
    /* Phases last microseconds, so spin; yield if the other thread is not running. */
    for (unsigned spins = 0; __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == generation;) {
        if (++spins % 1024 == 0) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
#else
    (void)b;
#endif
}

/* ---- one run, shared by all its threads -------------------------------------------------- */

struct run {
    const struct nnp_plan *plan;
    ptrdiff_t count, batch;
    const float *x, *t;
    const long long *order;
    int threads, rows_on_first;
    float *xin, *tin;
    float **out, **mask;    /* per step */
    float **grad;           /* grad[k + 1]: the gradient at step k's outputs (grad[0]: inputs) */
    float **copies;         /* per thread > 0 and parameter: its private gradient, or NULL */
    ptrdiff_t *shares;      /* per Linear step: its features' split (share_features) */
    struct barrier barrier;
    int go; /* helpers wait for 1 (run) or -1 (not all threads could start: quit) */
    double losses[MAX_THREADS];
    int failed; /* a status, written before a barrier and read after it */
    double loss_sum;
    ptrdiff_t batches_done;
    double stopped_loss;
};

struct worker {
    struct run *run;
    int index;
};

static void fail(struct run *run, int status)
{
    if (status != NNP_OK) __atomic_store_n(&run->failed, status, __ATOMIC_RELAXED);
}

/* Where thread `me` accumulates the gradient of parameter i. */
static float *gradient_of(const struct run *run, int me, ptrdiff_t i)
{
    return me == 0 ? run->plan->param[i].grad : run->copies[(me - 1) * run->plan->params + i];
}

static void clear(float *a, ptrdiff_t size)
{
    for (ptrdiff_t i = 0; i < size; i++) a[i] = 0.0f;
}

/* The rule applied to elements [lo, lo + size) of parameter p from its gradient there. */
static void apply(const struct nnp_update *u, const struct nnp_param *p, ptrdiff_t lo,
                  ptrdiff_t size)
{
    nnp_update_apply(u, size, p->value + lo, p->grad + lo, p->state0 + lo,
                     u->kind == NNP_RULE_ADAM ? p->state1 + lo : NULL);
}

static void gather_rows(ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t width, const float *src,
                        const long long *index, float *dst)
{
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float *row = src + (ptrdiff_t)index[i] * width;
        for (ptrdiff_t j = 0; j < width; j++) dst[i * width + j] = row[j];
    }
}

/* Rows [lo, hi) of a batch of n that thread me takes. */
static void row_share(const struct run *run, int me, ptrdiff_t n, ptrdiff_t *lo, ptrdiff_t *hi)
{
    if (run->rows_on_first) {
        *lo = 0;
        *hi = me == 0 ? n : 0;
    } else {
        *lo = n * me / run->threads;
        *hi = n * (me + 1) / run->threads;
    }
}

/* Thread me's rows of the inputs of the batch that starts at sample `start`, gathered in
 * the sample order. */
static void gather_inputs(struct run *run, int me, ptrdiff_t start)
{
    const ptrdiff_t n = min_pd(run->batch, run->count - start);
    ptrdiff_t lo, hi;
    row_share(run, me, n, &lo, &hi);
    gather_rows(lo, hi, run->plan->step[0].n_in, run->x, run->order + start, run->xin);
}

/* Step k's forward on rows [lo, lo + rows) of the run's batch `number` (from 0). */
static int forward_kernel(struct run *run, const struct nnp_step *s, ptrdiff_t k,
                          const float *in, ptrdiff_t lo, ptrdiff_t rows, ptrdiff_t number)
{
    const struct nnp_param *p = run->plan->param;
    const float *x = in + lo * s->n_in;
    float *y = run->out[k] + lo * s->n_out;
    const ptrdiff_t size = rows * s->n_out;
    if (rows == 0) return NNP_OK; /* a thread that takes only features (rows_on_first) */
    switch (s->kind) {
    case NNP_STEP_LINEAR:
        return nnp_linear_forward(rows, s->n_in, s->n_out, x, s->n_in, p[s->param].value, s->n_in,
                                  p[s->param + 1].value, y, s->n_out);
    case NNP_STEP_TANH: return nnp_tanh_forward(size, x, y);
    case NNP_STEP_SIGMOID: return nnp_sigmoid_forward(size, x, y);
    case NNP_STEP_RELU: return nnp_relu_forward(size, x, y);
    case NNP_STEP_SOFTMAX: return nnp_softmax_forward(rows, s->n_in, x, s->n_in, y, s->n_out);
    case NNP_STEP_DROPOUT:
        return nnp_dropout_forward(size, x, run->mask[k] + lo * s->n_out, y, s->key,
                                   *s->counter + (unsigned long long)number,
                                   lo * s->n_out, s->threshold, s->scale);
    /* One thread each: the plan's own threads already share the batch. */
    case NNP_STEP_CONV2D:
        return nnp_conv2d_forward(rows, s->channels, s->height, s->width, s->out_channels,
                                  s->kernel[0], s->kernel[1], s->stride[0], s->stride[1],
                                  s->padding[0], s->padding[1], x, p[s->param].value,
                                  p[s->param + 1].value, y, 1);
    case NNP_STEP_MAXPOOL2D:
        return nnp_maxpool2d_forward(rows, s->channels, s->height, s->width, s->kernel[0],
                                     s->kernel[1], s->stride[0], s->stride[1], x, y);
    case NNP_STEP_EXTERN_ELEMENTWISE:
        return extern_status(s->ext->forward(size, x, y, s->ext->params));
    default: return NNP_PLAN_INVALID;
    }
}

/* Step k's backward on rows [lo, lo + rows): from the gradient at its outputs to the one at
 * its inputs, and its parameters' gradients. */
static int backward_kernel(struct run *run, int me, const struct nnp_step *s, ptrdiff_t k,
                           const float *in, ptrdiff_t lo, ptrdiff_t rows)
{
    const struct nnp_param *p = run->plan->param;
    const ptrdiff_t size = rows * s->n_out;
    const float *y = run->out[k] + lo * s->n_out;
    const float *g = run->grad[k + 1] + lo * s->n_out;
    float *dx = run->grad[k] + lo * s->n_in;
    if (rows == 0) return NNP_OK;
    switch (s->kind) {
    case NNP_STEP_LINEAR: /* the weights' gradients: linear_param_grads, after all steps */
        if (k == 0) return NNP_OK; /* nothing uses the input's gradient */
        return nnp_linear_input_grad(rows, s->n_in, s->n_out, g, s->n_out, p[s->param].value,
                                     s->n_in, dx, s->n_in);
    case NNP_STEP_TANH: return nnp_tanh_backward(size, y, g, dx);
    case NNP_STEP_SIGMOID: return nnp_sigmoid_backward(size, y, g, dx);
    case NNP_STEP_RELU: return nnp_relu_backward(size, y, g, dx);
    case NNP_STEP_SOFTMAX:
        return nnp_softmax_backward(rows, s->n_out, y, s->n_out, g, s->n_out, dx, s->n_in);
    case NNP_STEP_DROPOUT: return nnp_dropout_backward(size, run->mask[k] + lo * s->n_out, g, dx);
    case NNP_STEP_CONV2D: {
        const float *x = in + lo * s->n_in;
        int status = nnp_conv2d_param_grads(rows, s->channels, s->height, s->width,
                                            s->out_channels, s->kernel[0], s->kernel[1],
                                            s->stride[0], s->stride[1], s->padding[0],
                                            s->padding[1], g, x, gradient_of(run, me, s->param),
                                            gradient_of(run, me, s->param + 1), 1);
        if (status != NNP_OK || k == 0) return status;
        return nnp_conv2d_input_grad(rows, s->channels, s->height, s->width, s->out_channels,
                                     s->kernel[0], s->kernel[1], s->stride[0], s->stride[1],
                                     s->padding[0], s->padding[1], g, p[s->param].value, dx, 1);
    }
    case NNP_STEP_MAXPOOL2D:
        return nnp_maxpool2d_backward(rows, s->channels, s->height, s->width, s->kernel[0],
                                      s->kernel[1], s->stride[0], s->stride[1],
                                      in + lo * s->n_in, g, dx);
    case NNP_STEP_EXTERN_ELEMENTWISE:
        return extern_status(s->ext->backward(size, in + lo * s->n_in, y, g, dx, s->ext->params));
    default: return NNP_PLAN_INVALID;
    }
}

/* Each Linear step's output features split among the threads, in whole register tiles of
 * the gradient kernel where the layer is wide enough: the first Linear step evenly (its
 * forward is split the same way, splits_features), each later one so that every thread's
 * weights and biases up to it come out as even as the tiles allow, since their gradients
 * and update (linear_param_grads) cost about the same per parameter. Thread t takes the
 * features from bounds[k * (threads + 1) + t] of step k up to the next thread's. */
static void share_features(const struct nnp_plan *plan, int threads, ptrdiff_t *bounds)
{
    ptrdiff_t load[MAX_THREADS] = {0};
    int first = 1;
    for (ptrdiff_t k = 0; k < plan->steps; k++) {
        const struct nnp_step *s = &plan->step[k];
        if (s->kind != NNP_STEP_LINEAR) continue;
        ptrdiff_t *bound = bounds + k * (threads + 1);
        const ptrdiff_t rows = s->n_out, cost = s->n_in + 1, tile = FEATURE_TILE * cost;
        ptrdiff_t total = rows * cost;
        for (int t = 0; t < threads; t++) total += load[t];
        const ptrdiff_t even = total / threads;
        ptrdiff_t wanted = 0;
        bound[0] = 0;
        bound[threads] = rows;
        for (int t = 1; t < threads; t++) {
            ptrdiff_t b = rows * t / threads / FEATURE_TILE * FEATURE_TILE;
            if (!first) { /* to the nearest tile of what the threads before t lack */
                wanted += even > load[t - 1] ? even - load[t - 1] : 0;
                b = (wanted + tile / 2) / tile * FEATURE_TILE;
            }
            bound[t] = b > rows ? rows : b; /* b never falls: `wanted` only grows */
        }
        for (int t = 0; t < threads; t++) load[t] += (bound[t + 1] - bound[t]) * cost;
        first = 0;
    }
}

/* Output features [lo, hi) of Linear step k that thread me takes (share_features). */
static void feature_share(const struct run *run, int me, ptrdiff_t k, ptrdiff_t *lo,
                          ptrdiff_t *hi)
{
    const ptrdiff_t *bound = run->shares + k * (run->threads + 1);
    *lo = bound[me];
    *hi = bound[me + 1];
}

/* Elements [lo, hi) of parameter i: a convolution's private gradients from the other
 * threads summed into its own, the rule applied and the gradient cleared, one block at a
 * time so that the block stays in cache from the sum to the clearing. */
static void update_block(struct run *run, const struct nnp_update *u, ptrdiff_t i,
                         ptrdiff_t lo, ptrdiff_t hi)
{
    const struct nnp_param *p = &run->plan->param[i];
    const ptrdiff_t size = hi - lo;
    float *grad = p->grad + lo;
    if (p->threaded)
        for (int k = 1; k < run->threads; k++) {
            float *copy = gradient_of(run, k, i) + lo;
            for (ptrdiff_t j = 0; j < size; j++) {
                grad[j] += copy[j];
                copy[j] = 0.0f;
            }
        }
    if (run->plan->rule.kind == NNP_RULE_PYTHON) return; /* the callback updates and clears */
    apply(u, p, lo, size);
    clear(grad, size);
}

/* The gradients of thread me's rows of Linear step k's weights and bias, over all n rows of
 * the batch, each block of rows updated as soon as its gradients are complete, while they
 * are still in cache: no thread needs a private copy of them, and no step reads the
 * weights between a layer's input gradient and the next batch's forward. A block has at
 * least n rows, so that re-reading the n inputs for each block costs no more than writing
 * its gradients; at batch 1 a block's gradients stay in L1 from the product to the update. */
static int linear_param_grads(struct run *run, int me, const struct nnp_update *u,
                              const struct nnp_step *s, ptrdiff_t k, const float *in,
                              ptrdiff_t n)
{
    const struct nnp_param *w = &run->plan->param[s->param];
    const ptrdiff_t block = (n + FEATURE_TILE - 1) / FEATURE_TILE * FEATURE_TILE;
    ptrdiff_t lo, hi;
    feature_share(run, me, k, &lo, &hi);
    for (ptrdiff_t from = lo; from < hi; from += block) {
        const ptrdiff_t to = min_pd(from + block, hi);
        const int status = nnp_linear_param_grads(
            n, s->n_in, to - from, run->grad[k + 1] + from, s->n_out, in, s->n_in,
            w->grad + from * s->n_in, s->n_in, w[1].grad + from);
        if (status != NNP_OK) return status;
        for (ptrdiff_t at = from * s->n_in; at < to * s->n_in; at += UPDATE_BLOCK)
            update_block(run, u, s->param, at, min_pd(at + UPDATE_BLOCK, to * s->n_in));
        update_block(run, u, s->param + 1, from, to);
    }
    return NNP_OK;
}

/* Whether the threads split Linear step k of a batch of n rows by its output features, each
 * taking all n rows for its own rows of the weights: the first step, whose input needs no
 * gradient, so that no other thread reads, let alone writes, those rows; and only while
 * every thread can afford to read the whole batch's inputs (see FEATURE_SPLIT_FLOATS). */
static int splits_features(const struct run *run, const struct nnp_step *s, ptrdiff_t k,
                           ptrdiff_t n)
{
    return run->threads > 1 && k == 0 && s->kind == NNP_STEP_LINEAR
           && n * s->n_in <= FEATURE_SPLIT_FLOATS;
}

/* Thread me's features of the first step's outputs, for all n rows of the batch. */
static void linear_forward_features(struct run *run, int me, const struct nnp_step *s,
                                    const float *in, ptrdiff_t n)
{
    const struct nnp_param *w = &run->plan->param[s->param];
    ptrdiff_t lo, hi;
    feature_share(run, me, 0, &lo, &hi);
    fail(run, nnp_linear_forward(n, s->n_in, hi - lo, in, s->n_in, w->value + lo * s->n_in,
                                 s->n_in, w[1].value + lo, run->out[0] + lo, s->n_out));
    barrier_wait(&run->barrier); /* every feature of every row */
}

/* Whether parameter i is a Linear layer's weights or bias, which linear_param_grads updates. */
static int linear_parameter(const struct nnp_plan *plan, ptrdiff_t i)
{
    for (ptrdiff_t k = 0; k < plan->steps; k++) {
        const struct nnp_step *s = &plan->step[k];
        if (s->kind == NNP_STEP_LINEAR && (i == s->param || i == s->param + 1)) return 1;
    }
    return 0;
}

/* The Python part of step k, or the loss or update (k < 0), on the calling thread while the
 * others wait. */
static void python_event(struct run *run, int me, int event, int part, ptrdiff_t n,
                         const float *a, const float *b, float *out, double *loss)
{
    barrier_wait(&run->barrier);
    if (me == 0 && run->failed == NNP_OK) {
        const struct nnp_plan *plan = run->plan;
        if (plan->callback(plan->context, event, part, n, a, b, out, loss) != 0)
            fail(run, NNP_PLAN_CALLBACK);
    }
    barrier_wait(&run->barrier);
}

/* One batch of n samples starting at sample `start`, rows [lo, hi) on this thread.
 * Returns 0 to go on, 1 when the run must stop (all threads return the same). Nothing that
 * another thread reads during the run changes between batches: each works out the batch's
 * number from `start` (the dropout counters and Adam's step advance by it), so one barrier
 * ends a batch. */
static int batch_step(struct run *run, int me, ptrdiff_t start, ptrdiff_t n, ptrdiff_t lo,
                      ptrdiff_t hi)
{
    const struct nnp_plan *plan = run->plan;
    const ptrdiff_t number = start / run->batch;
    const ptrdiff_t steps = plan->steps, rows = hi - lo;
    const ptrdiff_t in0 = plan->step[0].n_in, m = plan->step[steps - 1].n_out;
    const float *xb = run->x + start * in0, *tb = run->t + start * m;
    if (run->order != NULL) { /* gather_inputs has gathered the inputs */
        gather_rows(lo, hi, m, run->t, run->order + start, run->tin);
        xb = run->xin;
        tb = run->tin;
    }

    for (ptrdiff_t k = 0; k < steps; k++) {
        const struct nnp_step *s = &plan->step[k];
        const float *in = k == 0 ? xb : run->out[k - 1];
        if (s->kind == NNP_STEP_PYTHON)
            python_event(run, me, NNP_EVENT_FORWARD, s->part, n, in, NULL, run->out[k], NULL);
        else if (splits_features(run, s, k, n))
            linear_forward_features(run, me, s, in, n);
        else
            fail(run, forward_kernel(run, s, k, in, lo, rows, number));
    }

    const float *y = run->out[steps - 1];
    float *g = run->grad[steps];
    ptrdiff_t first_back = steps - 1;
    double loss = 0.0;
    if (plan->loss == NNP_LOSS_PYTHON) {
        barrier_wait(&run->barrier); /* every thread has gathered its targets */
        python_event(run, me, NNP_EVENT_LOSS, -1, n, y, tb, g, &loss);
        loss = me == 0 ? loss * (double)n : 0.0;
    } else if (plan->loss == NNP_LOSS_CROSS_ENTROPY) {
        /* The fused gradient is taken at the softmax's inputs. */
        g = run->grad[steps - 1];
        first_back = steps - 2;
        fail(run, nnp_cross_entropy(rows, m, y + lo * m, m, tb + lo * m, m, &loss));
        fail(run, nnp_softmax_cross_entropy_grad(rows, m, y + lo * m, m, tb + lo * m, m,
                                                 (float)(1.0 / (double)n), g + lo * m, m));
    } else {
        fail(run, nnp_squared_error(rows, m, y + lo * m, m, tb + lo * m, m, &loss));
        loss /= (double)m;
        fail(run, nnp_squared_error_grad(rows, m, y + lo * m, m, tb + lo * m, m,
                                         (float)(2.0 / ((double)n * (double)m)), g + lo * m, m));
    }
    run->losses[me] = loss;
    barrier_wait(&run->barrier);
    if (run->failed != NNP_OK) return 1;
    double total = 0.0;
    for (int k = 0; k < run->threads; k++) total += run->losses[k];
    if (!isfinite(total / (double)n)) {
        if (me == 0) run->stopped_loss = total / (double)n;
        return 1;
    }

    /* This batch's rule: Adam's bias corrections depend on the step. Every thread prepares
     * the same numbers, so all of them stop here or none does. */
    const struct nnp_rule *rule = &plan->rule;
    struct nnp_update update = {.kind = 0};
    if (rule->kind != NNP_RULE_PYTHON) {
        const int status = nnp_update_prepare(&update, rule->kind, rule->learning_rate, rule->a,
                                              rule->b, rule->epsilon,
                                              rule->step + number + 1);
        if (status != NNP_OK) {
            fail(run, status);
            return 1;
        }
    }

    for (ptrdiff_t k = first_back; k >= 0; k--) {
        const struct nnp_step *s = &plan->step[k];
        const float *in = k == 0 ? xb : run->out[k - 1];
        if (s->kind == NNP_STEP_PYTHON)
            python_event(run, me, NNP_EVENT_BACKWARD, s->part, n, run->grad[k + 1], NULL,
                         run->grad[k], NULL);
        else
            fail(run, backward_kernel(run, me, s, k, in, lo, rows));
    }
    barrier_wait(&run->barrier);
    if (run->failed != NNP_OK) return 1;
    for (ptrdiff_t k = 0; k < steps; k++)
        if (plan->step[k].kind == NNP_STEP_LINEAR)
            fail(run, linear_param_grads(run, me, &update, &plan->step[k], k,
                                         k == 0 ? xb : run->out[k - 1], n));
    barrier_wait(&run->barrier);
    if (run->failed != NNP_OK) return 1;
    /* Nothing reads this batch's inputs any more: gather the next one's while the threads
     * update, so that the barrier after the update is the only one before its forward. */
    if (run->order != NULL && start + n < run->count) gather_inputs(run, me, start + n);

    /* This thread's share of every other parameter (linear_param_grads has updated the
     * Linear layers'): sum a convolution's private gradients into the shared one, then
     * update (or leave the update to Python) and clear. */
    for (ptrdiff_t i = 0; i < plan->params; i++) {
        if (linear_parameter(plan, i)) continue;
        const ptrdiff_t size = plan->param[i].size;
        const ptrdiff_t a = size * me / run->threads, b = size * (me + 1) / run->threads;
        for (ptrdiff_t from = a; from < b; from += UPDATE_BLOCK)
            update_block(run, &update, i, from, min_pd(from + UPDATE_BLOCK, b));
    }
    if (rule->kind == NNP_RULE_PYTHON)
        python_event(run, me, NNP_EVENT_UPDATE, -1, n, NULL, NULL, NULL, NULL);
    barrier_wait(&run->barrier); /* the next batch reads the updated parameters */
    if (run->failed != NNP_OK) return 1;
    if (me == 0) { /* read once the run is over */
        run->loss_sum += total;
        run->batches_done++;
    }
    return 0;
}

/* The batch loop, run by every thread in step with the others. */
static void run_thread(struct run *run, int me)
{
    if (run->order != NULL && run->count > 0) {
        gather_inputs(run, me, 0);
        barrier_wait(&run->barrier); /* a first Linear step reads every row */
    }
    for (ptrdiff_t start = 0; start < run->count; start += run->batch) {
        const ptrdiff_t n = min_pd(run->batch, run->count - start);
        ptrdiff_t lo, hi;
        row_share(run, me, n, &lo, &hi);
        if (batch_step(run, me, start, n, lo, hi)) return;
    }
}

#if defined(NNP_HAVE_THREADS)
static void *worker_main(void *arg)
{
    const struct worker *w = arg;
    int go;
    while ((go = __atomic_load_n(&w->run->go, __ATOMIC_ACQUIRE)) == 0) sched_yield();
    if (go > 0) run_thread(w->run, w->index);
    return NULL;
}
#endif

/* Lays the buffers out in `work` and runs the batches on `threads` threads. */
static int run_plan(const struct nnp_plan *plan, ptrdiff_t count, const float *x, const float *t,
                    const long long *order, ptrdiff_t batch, int threads, float *work,
                    double *loss_sum, ptrdiff_t *batches_done, double *stopped_loss)
{
    const ptrdiff_t steps = plan->steps, params = plan->params;
    float **pointers = malloc(sizeof(float *) * (size_t)(3 * steps + 1 + (threads - 1) * params));
    ptrdiff_t *shares = malloc(sizeof(ptrdiff_t) * (size_t)(steps * (threads + 1)));
    if (pointers == NULL || shares == NULL) {
        free(pointers);
        free(shares);
        return NNP_PLAN_WORKSPACE;
    }
    share_features(plan, threads, shares);
    struct run run = {
        .plan = plan, .count = count, .batch = batch, .x = x, .t = t, .order = order,
        .threads = threads, .rows_on_first = rows_on_first(batch, threads), .out = pointers,
        .mask = pointers + steps,
        .grad = pointers + 2 * steps, .copies = pointers + 3 * steps + 1, .shares = shares, .go = 0,
        .failed = NNP_OK,
    };
    run.barrier.threads = threads;
    float *next = work;
    run.xin = next, next += aligned(batch * plan->step[0].n_in);
    run.tin = next, next += aligned(batch * plan->step[steps - 1].n_out);
    run.grad[0] = next, next += aligned(batch * plan->step[0].n_in);
    for (ptrdiff_t k = 0; k < steps; k++) {
        run.out[k] = next, next += aligned(batch * plan->step[k].n_out);
        run.grad[k + 1] = next, next += aligned(batch * plan->step[k].n_out);
        run.mask[k] = NULL;
        if (plan->step[k].kind == NNP_STEP_DROPOUT)
            run.mask[k] = next, next += aligned(batch * plan->step[k].n_out);
    }
    /* Thread k > 0 accumulates into private gradients, which start at zero. */
    for (int k = 1; k < threads; k++)
        for (ptrdiff_t i = 0; i < params; i++) {
            const struct nnp_param *p = &plan->param[i];
            float **copy = &run.copies[(k - 1) * params + i];
            *copy = NULL;
            if (!p->threaded) continue;
            *copy = next;
            for (ptrdiff_t j = 0; j < p->size; j++) next[j] = 0.0f;
            next += aligned(p->size);
        }

    int status = NNP_OK;
#if defined(NNP_HAVE_THREADS)
    pthread_t helpers[MAX_THREADS];
    struct worker workers[MAX_THREADS];
    int started = 1;
    for (; started < threads; started++) {
        workers[started] = (struct worker){&run, started};
        if (pthread_create(&helpers[started], NULL, worker_main, &workers[started]) != 0) break;
    }
    if (started < threads) {
        /* Not every thread could start: stop the ones that did, and run on this one. */
        __atomic_store_n(&run.go, -1, __ATOMIC_RELEASE);
        for (int k = 1; k < started; k++) pthread_join(helpers[k], NULL);
        free(pointers);
        free(shares);
        return run_plan(plan, count, x, t, order, batch, 1, work, loss_sum, batches_done,
                        stopped_loss);
    }
    __atomic_store_n(&run.go, 1, __ATOMIC_RELEASE);
    run_thread(&run, 0);
    for (int k = 1; k < threads; k++) pthread_join(helpers[k], NULL);
#else
    run_thread(&run, 0);
#endif
    for (ptrdiff_t k = 0; k < steps; k++)
        if (plan->step[k].kind == NNP_STEP_DROPOUT)
            *plan->step[k].counter += (unsigned long long)run.batches_done;
    *loss_sum = run.loss_sum;
    *batches_done = run.batches_done;
    *stopped_loss = run.stopped_loss;
    if (run.failed != NNP_OK) status = run.failed;
    else if (run.batches_done * batch < count) status = NNP_PLAN_NONFINITE;
    free(pointers);
    free(shares);
    return status;
}

int nnp_plan_run(const struct nnp_plan *plan, ptrdiff_t count, ptrdiff_t rows, const float *x,
                 const float *t, const long long *order, ptrdiff_t batch, int threads,
                 float *work, ptrdiff_t work_floats, double *loss_sum, ptrdiff_t *batches_done,
                 double *stopped_loss)
{
    int status;
    if ((status = check_plan(plan)) != NNP_OK) return status;
    if (count < 0 || rows < 0 || batch < 1 || threads < 1) return NNP_ERR_SIZE;
    if (!loss_sum || !batches_done || !stopped_loss || (rows > 0 && (!x || !t)))
        return NNP_ERR_NULL;
    if (order == NULL && rows < count) return NNP_PLAN_ORDER;
    for (ptrdiff_t i = 0; order != NULL && i < count; i++)
        if (order[i] < 0 || order[i] >= rows) return NNP_PLAN_ORDER;
    const ptrdiff_t needed = nnp_plan_workspace_floats(plan, batch, threads);
    if (!work || work_floats < needed || ((uintptr_t)work % (ALIGN_FLOATS * sizeof(float))) != 0)
        return NNP_PLAN_WORKSPACE;
    *loss_sum = 0.0;
    *batches_done = 0;
    *stopped_loss = 0.0;
    if (count == 0) return NNP_OK;
    return run_plan(plan, count, x, t, order, batch, threads_for(plan, batch, threads), work, loss_sum,
                    batches_done, stopped_loss);
}
