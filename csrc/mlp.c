/* The fused MLP trainer: nnplug's per-layer kernels chained for a whole run of SGD steps.
 *
 * Each step makes the same kernel calls, in the same order, as nnplug's Linear, activation,
 * Softmax, CrossEntropy/MSE and SGD objects do from Python, so with one thread both paths
 * compute the same numbers; what this saves is a few dozen Python calls per step, which
 * dominate small batches. The first layer's input gradient is not computed: nothing uses it.
 *
 * With T > 1 threads every batch is split into T slices of rows. Each thread runs forward
 * and backward on its slice into its own gradient buffers (thread 0 into the layers' own),
 * then each updates a 1/T share of every parameter from the sum of the T gradients. Three
 * barriers per batch keep the phases apart. The sum over slices rounds differently from
 * one product over the whole batch, so results depend on T in the last bits.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#define NNP_HAVE_THREADS 1
#include <pthread.h>
#include <sched.h>
#endif

#include <math.h>
#include <stddef.h>

#include "nnplug_kernels.h"
#include "nnplug_mlp.h"
#include "simd.h"
#include "vmath.h"

/* Slices thinner than this cost more in synchronisation than they save. */
#define MIN_ROWS_PER_THREAD 16
#define MAX_THREADS 64

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

/* The threads a batch of `batch` rows is worth splitting over, at most `threads`. */
static int threads_for(ptrdiff_t batch, int threads)
{
#if defined(NNP_HAVE_THREADS)
    const ptrdiff_t useful = batch / MIN_ROWS_PER_THREAD;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    return useful < 2 || threads < 2 ? 1 : (int)min_pd(threads, useful);
#else
    (void)batch;
    (void)threads;
    return 1;
#endif
}

/* Floats one thread needs for its rows: gathered inputs and targets, every layer's outputs,
 * two gradient buffers. */
static ptrdiff_t slice_floats(ptrdiff_t layers, const struct nnp_dense_layer *net, ptrdiff_t rows)
{
    ptrdiff_t widest = 0, outputs = 0;
    for (ptrdiff_t l = 0; l < layers; l++) {
        outputs += net[l].n_out;
        if (net[l].n_out > widest) widest = net[l].n_out;
    }
    return rows * (net[0].n_in + net[layers - 1].n_out + outputs + 2 * widest);
}

/* Floats of one copy of all parameter gradients. */
static ptrdiff_t gradient_floats(ptrdiff_t layers, const struct nnp_dense_layer *net)
{
    ptrdiff_t total = 0;
    for (ptrdiff_t l = 0; l < layers; l++) total += net[l].n_out * (net[l].n_in + 1);
    return total;
}

static ptrdiff_t slice_rows(ptrdiff_t batch, int threads)
{
    return (batch + threads - 1) / threads;
}

ptrdiff_t nnp_mlp_workspace_floats(ptrdiff_t layers, const struct nnp_dense_layer *net,
                                   ptrdiff_t batch, int threads)
{
    if (batch < 1 || threads < 1 || check_net(layers, net) != NNP_OK) return -1;
    const int used = threads_for(batch, threads);
    return used * slice_floats(layers, net, slice_rows(batch, used))
           + (used - 1) * gradient_floats(layers, net);
}

/* ---- synchronisation ------------------------------------------------------------------- */

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

/* ---- one run, shared by all its threads ---------------------------------------------------- */

struct run {
    ptrdiff_t layers;
    const struct nnp_dense_layer *net;
    int head;
    ptrdiff_t count;
    const float *x, *t;
    const long long *order;
    ptrdiff_t batch;
    float learning_rate, momentum;
    int threads;
    float *work;
    ptrdiff_t slice_floats;
    struct barrier barrier;
    int go; /* helpers wait for 1 (run) or -1 (not all threads could start: quit) */
    double losses[MAX_THREADS];
    int failed; /* a kernel's status, written before a barrier and read after it */
    double loss_sum;
    ptrdiff_t stopped_batch;
};

struct worker {
    struct run *run;
    int index;
};

/* Where thread `me` keeps the gradient of layer l's weights (its bias follows in db). */
static void gradients_of(const struct run *run, int me, ptrdiff_t l, float **dw, float **db)
{
    if (me == 0) {
        *dw = run->net[l].dw;
        *db = run->net[l].db;
        return;
    }
    float *p = run->work + run->threads * run->slice_floats
               + (me - 1) * gradient_floats(run->layers, run->net);
    for (ptrdiff_t k = 0; k < l; k++) p += run->net[k].n_out * (run->net[k].n_in + 1);
    *dw = p;
    *db = p + run->net[l].n_out * run->net[l].n_in;
}

static void gather_rows(ptrdiff_t n, ptrdiff_t width, const float *src,
                        const long long *index, float *dst)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *row = src + (ptrdiff_t)index[i] * width;
        for (ptrdiff_t j = 0; j < width; j++) dst[i * width + j] = row[j];
    }
}

/* The head's loss summed over a slice of `rows` rows, and its gradient with respect to the
 * last layer's outputs (before that layer's activation) for a batch of `n` rows. */
static int head_loss_and_grad(int head, int last_activation, ptrdiff_t rows, ptrdiff_t n,
                              ptrdiff_t m, float *y, const float *t, float *g, double *loss)
{
    int status;
    if (head == NNP_HEAD_SOFTMAX_CROSS_ENTROPY) {
        if ((status = nnp_softmax_forward(rows, m, y, m, y, m)) != NNP_OK) return status;
        if ((status = nnp_cross_entropy(rows, m, y, m, t, m, loss)) != NNP_OK) return status;
        return nnp_softmax_cross_entropy_grad(rows, m, y, m, t, m, 1.0f / (float)n, g, m);
    }
    double sse = 0.0;
    for (ptrdiff_t i = 0; i < rows * m; i++) {
        const double d = (double)y[i] - (double)t[i];
        sse += d * d;
    }
    *loss = sse / (double)m;
    const float scale = 2.0f / (float)(n * m);
    for (ptrdiff_t i = 0; i < rows * m; i++) g[i] = (y[i] - t[i]) * scale;
    return activation_backward(last_activation, rows * m, y, g);
}

/* Forward, loss and backward of rows [lo, hi) of the batch starting at sample `start`,
 * into thread `me`'s buffers. *loss gets the slice's summed per-sample loss. */
static int slice_step(struct run *run, int me, ptrdiff_t start, ptrdiff_t n, ptrdiff_t lo,
                      ptrdiff_t hi, double *loss)
{
    const ptrdiff_t layers = run->layers, rows = hi - lo, cap = slice_rows(run->batch, run->threads);
    const struct nnp_dense_layer *net = run->net;
    const ptrdiff_t in0 = net[0].n_in, m = net[layers - 1].n_out;
    ptrdiff_t widest = 0;
    for (ptrdiff_t l = 0; l < layers; l++)
        if (net[l].n_out > widest) widest = net[l].n_out;
    float *xin = run->work + me * run->slice_floats;
    float *tin = xin + cap * in0;
    float *grad = tin + cap * m;
    float *grad_next = grad + cap * widest;
    float *outputs = grad_next + cap * widest; /* layer l's outputs follow layer l-1's */
    int status;

    const float *xb = run->x + (start + lo) * in0, *tb = run->t + (start + lo) * m;
    if (run->order != NULL) {
        gather_rows(rows, in0, run->x, run->order + start + lo, xin);
        gather_rows(rows, m, run->t, run->order + start + lo, tin);
        xb = xin;
        tb = tin;
    }

    const float *input = xb;
    float *y = outputs;
    for (ptrdiff_t l = 0; l < layers; l++) {
        const struct nnp_dense_layer *d = &net[l];
        status = nnp_linear_forward(rows, d->n_in, d->n_out, input, d->n_in, d->w, d->n_in, d->b,
                                    y, d->n_out);
        if (status != NNP_OK) return status;
        if ((status = activation_forward(d->activation, rows * d->n_out, y)) != NNP_OK)
            return status;
        input = y;
        y += cap * d->n_out;
    }
    float *last = (float *)input;
    status = head_loss_and_grad(run->head, net[layers - 1].activation, rows, n, m, last, tb, grad,
                                loss);
    if (status != NNP_OK) return status;

    for (ptrdiff_t l = layers - 1; l >= 0; l--) {
        const struct nnp_dense_layer *d = &net[l];
        float *below = l > 0 ? last - cap * d->n_in : NULL;
        float *dw, *db;
        gradients_of(run, me, l, &dw, &db);
        status = nnp_linear_param_grads(rows, d->n_in, d->n_out, grad, d->n_out,
                                        l > 0 ? below : xb, d->n_in, dw, d->n_in, db);
        if (status != NNP_OK) return status;
        if (l == 0) break;
        status = nnp_linear_input_grad(rows, d->n_in, d->n_out, grad, d->n_out, d->w, d->n_in,
                                       grad_next, d->n_in);
        if (status != NNP_OK) return status;
        status = activation_backward(net[l - 1].activation, rows * d->n_in, below, grad_next);
        if (status != NNP_OK) return status;
        float *swap = grad;
        grad = grad_next;
        grad_next = swap;
        last = below;
    }
    return NNP_OK;
}

/* velocity = momentum * velocity + lr * grad; param -= velocity; grad = 0, over elements
 * [lo, hi), where grad is the sum of the threads' gradient buffers. The velocity is
 * flushed to zero below FLT_MIN, as nnp_sgd_step does (see vmath.h). */
NNP_CLONES
static void sgd_and_clear(ptrdiff_t lo, ptrdiff_t hi, float *restrict param,
                          float *restrict velocity, float *const *grads, int threads, float lr,
                          float momentum)
{
    float *restrict g0 = grads[0];
    for (int k = 1; k < threads; k++) {
        float *restrict gk = grads[k];
#pragma omp simd
        for (ptrdiff_t i = lo; i < hi; i++) {
            g0[i] += gk[i];
            gk[i] = 0.0f;
        }
    }
#pragma omp simd
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float v = nnp_flush_subnormal(momentum * velocity[i] + lr * g0[i]);
        velocity[i] = v;
        param[i] -= v;
        g0[i] = 0.0f;
    }
}

static void update_share(struct run *run, int me)
{
    for (ptrdiff_t l = 0; l < run->layers; l++) {
        const struct nnp_dense_layer *d = &run->net[l];
        float *dw[MAX_THREADS], *db[MAX_THREADS];
        for (int k = 0; k < run->threads; k++) gradients_of(run, k, l, &dw[k], &db[k]);
        const ptrdiff_t weights = d->n_out * d->n_in, biases = d->n_out;
        sgd_and_clear(weights * me / run->threads, weights * (me + 1) / run->threads, d->w, d->vw,
                      dw, run->threads, run->learning_rate, run->momentum);
        sgd_and_clear(biases * me / run->threads, biases * (me + 1) / run->threads, d->b, d->vb,
                      db, run->threads, run->learning_rate, run->momentum);
    }
}

/* The batch loop, run by every thread in step with the others. */
static void run_thread(struct run *run, int me)
{
    for (ptrdiff_t start = 0, index = 0; start < run->count; start += run->batch, index++) {
        const ptrdiff_t n = min_pd(run->batch, run->count - start);
        const ptrdiff_t lo = n * me / run->threads, hi = n * (me + 1) / run->threads;
        double loss = 0.0;
        const int status = slice_step(run, me, start, n, lo, hi, &loss);
        if (status != NNP_OK) __atomic_store_n(&run->failed, status, __ATOMIC_RELAXED);
        run->losses[me] = loss;
        barrier_wait(&run->barrier);

        if (run->failed != NNP_OK) return;
        /* The sum over the batch of per-sample losses; the batch loss is its mean. */
        double total = 0.0;
        for (int k = 0; k < run->threads; k++) total += run->losses[k];
        if (!isfinite(total / (double)n)) {
            if (me == 0) run->stopped_batch = index;
            return;
        }
        if (me == 0) run->loss_sum += total;
        update_share(run, me);
        barrier_wait(&run->barrier);
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

int nnp_mlp_sgd_epoch(ptrdiff_t layers, const struct nnp_dense_layer *net, int head,
                      ptrdiff_t count, ptrdiff_t rows, const float *x, const float *t,
                      const long long *order, ptrdiff_t batch, float learning_rate,
                      float momentum, int threads, float *work, ptrdiff_t work_floats,
                      double *loss_sum, ptrdiff_t *stopped_batch)
{
    int status;
    if ((status = check_net(layers, net)) != NNP_OK) return status;
    if (head != NNP_HEAD_SOFTMAX_CROSS_ENTROPY && head != NNP_HEAD_MSE) return NNP_ERR_VALUE;
    if (head == NNP_HEAD_SOFTMAX_CROSS_ENTROPY && net[layers - 1].activation != NNP_ACT_NONE)
        return NNP_MLP_SHAPE;
    if (count < 0 || rows < 0 || batch < 1 || threads < 1) return NNP_ERR_SIZE;
    if (!loss_sum || !stopped_batch || (rows > 0 && (!x || !t))) return NNP_ERR_NULL;
    if (order == NULL && rows < count) return NNP_MLP_ORDER;
    for (ptrdiff_t i = 0; order != NULL && i < count; i++)
        if (order[i] < 0 || order[i] >= rows) return NNP_MLP_ORDER;
    const ptrdiff_t needed = nnp_mlp_workspace_floats(layers, net, batch, threads);
    if (!work || work_floats < needed) return NNP_MLP_WORKSPACE;

    struct run run = {
        .layers = layers, .net = net, .head = head, .count = count, .x = x, .t = t,
        .order = order, .batch = batch, .learning_rate = learning_rate,
        .momentum = momentum, .threads = threads_for(batch, threads), .work = work,
        .go = 0, .failed = NNP_OK, .loss_sum = 0.0, .stopped_batch = -1,
    };
    run.slice_floats = slice_floats(layers, net, slice_rows(batch, run.threads));
    run.barrier.threads = run.threads;
    /* Thread k > 0 accumulates into its own gradient buffers, which start at zero. */
    float *extra = work + run.threads * run.slice_floats;
    for (ptrdiff_t i = 0; i < (run.threads - 1) * gradient_floats(layers, net); i++) extra[i] = 0.0f;

#if defined(NNP_HAVE_THREADS)
    pthread_t helpers[MAX_THREADS];
    struct worker workers[MAX_THREADS];
    int started = 1;
    for (; started < run.threads; started++) {
        workers[started] = (struct worker){&run, started};
        if (pthread_create(&helpers[started], NULL, worker_main, &workers[started]) != 0) break;
    }
    if (started < run.threads) {
        /* Not every thread could start: stop the ones that did, and run on this one. */
        __atomic_store_n(&run.go, -1, __ATOMIC_RELEASE);
        for (int k = 1; k < started; k++) pthread_join(helpers[k], NULL);
        return nnp_mlp_sgd_epoch(layers, net, head, count, rows, x, t, order, batch,
                                 learning_rate, momentum, 1, work, work_floats, loss_sum,
                                 stopped_batch);
    }
    __atomic_store_n(&run.go, 1, __ATOMIC_RELEASE);
    run_thread(&run, 0);
    for (int k = 1; k < run.threads; k++) pthread_join(helpers[k], NULL);
#else
    run_thread(&run, 0);
#endif
    *loss_sum = run.loss_sum;
    *stopped_batch = run.stopped_batch;
    if (run.failed != NNP_OK) return run.failed;
    return run.stopped_batch >= 0 ? NNP_MLP_NONFINITE : NNP_OK;
}
