/* nnplug's fused trainer for multilayer perceptrons: a whole run of SGD steps in one call.
 *
 * Parsed by cffi as part of the cdef, like nnplug_kernels.h: declarations and comments only.
 *
 * It computes exactly what nnplug's layers do one call at a time (Linear, an optional
 * element-wise activation after each, then softmax + cross-entropy or mean squared error,
 * then SGD with momentum) and exists only to take the per-call overhead out of small
 * batches. The trainer uses it when a model has that shape; anything else takes the
 * general path.
 */

enum nnp_activation {
    NNP_ACT_NONE = 0,
    NNP_ACT_TANH = 1,
    NNP_ACT_SIGMOID = 2,
    NNP_ACT_RELU = 3
};

enum nnp_head {
    NNP_HEAD_SOFTMAX_CROSS_ENTROPY = 0, /* softmax of the last layer, cross-entropy loss */
    NNP_HEAD_MSE = 1                    /* mean squared error of the last layer's outputs */
};

enum nnp_mlp_status {
    NNP_MLP_NONFINITE = 16, /* a batch's loss was NaN or infinite; see stopped_batch */
    NNP_MLP_SHAPE = 17,     /* layer sizes do not chain, or a head does not fit the layers */
    NNP_MLP_ORDER = 18,     /* an index in `order` is outside [0, count) */
    NNP_MLP_WORKSPACE = 19  /* `work` is smaller than nnp_mlp_workspace_floats says */
};

/* One dense layer: y = act(x W^T + b). All arrays contiguous and row-major, none
 * overlapping another. The gradients are accumulated during a step and set to zero after
 * it, as the layers and the trainer do. */
struct nnp_dense_layer {
    ptrdiff_t n_in;
    ptrdiff_t n_out;
    float *w;    /* (out, in) */
    float *b;    /* (out,) */
    float *dw;   /* (out, in) */
    float *db;   /* (out,) */
    float *vw;   /* (out, in): SGD velocity of w */
    float *vb;   /* (out,): SGD velocity of b */
    int activation;
};

/* Floats of workspace nnp_mlp_sgd_epoch needs for these layers, batch size and thread
 * count (-1 if the arguments are invalid). */
ptrdiff_t nnp_mlp_workspace_floats(ptrdiff_t layers, const struct nnp_dense_layer *net,
                                   ptrdiff_t batch, int threads);

/* Runs SGD with momentum over `count` samples in batches of `batch` (the last may be
 * smaller): sample i of the run is row order[i] of x (inputs, (rows, net[0].n_in)) and of
 * t (targets, (rows, net[layers-1].n_out)); order may be NULL for rows 0..count-1, in which
 * case rows must be >= count. For each batch: forward, loss, backward, then for every
 * parameter velocity = momentum * velocity + learning_rate * grad, param -= velocity,
 * grad = 0 (velocities below FLT_MIN are stored as 0, as nnp_sgd_step does).
 * Up to `threads` threads share each batch, each taking a slice of at least 16 rows (one
 * thread where the batch is smaller, or where threads cannot be started); results then
 * differ from one thread's in the last bits.
 * *loss_sum receives the sum over batches of (batch loss * batch size), where the batch
 * loss is the mean over its samples of the per-sample loss (cross-entropy summed over
 * classes; squared error averaged over outputs). If a batch's loss is not finite, the
 * run stops before that batch changes anything, *stopped_batch is its 0-based index and
 * NNP_MLP_NONFINITE is returned. The softmax head needs net[layers-1].activation ==
 * NNP_ACT_NONE. */
int nnp_mlp_sgd_epoch(ptrdiff_t layers, const struct nnp_dense_layer *net, int head,
                      ptrdiff_t count, ptrdiff_t rows,
                      const float *x, const float *t, const long long *order,
                      ptrdiff_t batch, float learning_rate, float momentum, int threads,
                      float *work, ptrdiff_t work_floats,
                      double *loss_sum, ptrdiff_t *stopped_batch);
