/* nnplug's training plan: a whole run of training steps of any chain of layers in one call.
 *
 * Parsed by cffi as part of the cdef, like nnplug_kernels.h: declarations and comments only.
 *
 * A plan is what the model's parts said about themselves: a chain of steps (each a kernel
 * of nnplug_kernels.h on the part's own buffers, or a part with no kernels, which the
 * plan's callback runs in Python), a loss, the parameters with their gradients and
 * optimizer state, and an update rule. For each batch the run makes the same kernel calls,
 * in the same order, as the layers, loss and optimizer make one at a time from Python, so
 * with one thread both compute the same numbers.
 *
 * With T > 1 threads every batch is split into T slices of rows. Each thread runs the
 * kernel steps on its rows; a Python step runs once for the whole batch on the calling
 * thread while the others wait. A Linear layer's weights are split by rows (output
 * features) instead: each thread takes the gradients of its rows of the weights over the
 * whole batch and updates those rows, and when the layer is the first step it also
 * computes those features of the layer's outputs for the whole batch, so that its rows
 * of the weights stay in its own cache. A convolution's parameters get one private
 * gradient buffer per extra thread; each thread updates a 1/T share of them from the sum
 * of the T gradients. Results depend on T in the last bits.
 */

enum nnp_step_kind {
    NNP_STEP_LINEAR = 1,  /* y = x W^T + b; W is parameter `param`, b is `param` + 1 */
    NNP_STEP_TANH = 2,
    NNP_STEP_SIGMOID = 3,
    NNP_STEP_RELU = 4,
    NNP_STEP_SOFTMAX = 5, /* row-wise softmax */
    NNP_STEP_DROPOUT = 6, /* inverted dropout (nnp_dropout_forward); see `counter` */
    NNP_STEP_PYTHON = 7,  /* a part without kernels: the callback runs it */
    NNP_STEP_CONV2D = 8,  /* nnp_conv2d_*: weights are parameter `param`, bias `param` + 1 */
    NNP_STEP_MAXPOOL2D = 9, /* nnp_maxpool2d_* */
    NNP_STEP_EXTERN_ELEMENTWISE = 16 /* a plugin's element-wise kernels (`ext`) */
};

/* A plugin layer's element-wise C kernels, with the signatures of nnplug_plugin.h (ABI 1):
 * forward(size, x, y, params) and backward(size, x, y, dy, dx, params), 0 on success. */
struct nnp_extern_elementwise {
    int (*forward)(ptrdiff_t size, const float *x, float *y, const double *params);
    int (*backward)(ptrdiff_t size, const float *x, const float *y, const float *dy, float *dx,
                    const double *params);
    const double *params; /* the layer's scalar hyperparameters; may be NULL */
};

enum nnp_plan_loss {
    NNP_LOSS_CROSS_ENTROPY = 1, /* after a final NNP_STEP_SOFTMAX: the fused gradient p - t */
    NNP_LOSS_MSE = 2,           /* mean squared error over every output */
    NNP_LOSS_PYTHON = 3         /* the callback computes the loss and its gradient */
};

enum nnp_plan_rule {
    NNP_RULE_SGD = 1,     /* nnp_sgd_step: a = momentum; state0 = velocity */
    NNP_RULE_ADAM = 2,    /* nnp_adam_step: a = beta1, b = beta2; state0 = m, state1 = v */
    NNP_RULE_RMSPROP = 3, /* nnp_rmsprop_step: a = decay; state0 = mean square */
    NNP_RULE_PYTHON = 4   /* the callback updates the parameters and zeroes the gradients */
};

/* What the callback is asked to do; `part` names the Python step (or -1). */
enum nnp_plan_event {
    NNP_EVENT_FORWARD = 1,  /* out (rows, n_out) = part's forward of a (rows, n_in) */
    NNP_EVENT_BACKWARD = 2, /* out (rows, n_in) = part's backward of a (rows, n_out) */
    NNP_EVENT_LOSS = 3,     /* *loss = batch loss of predictions a against targets b;
                               out = its gradient with respect to a */
    NNP_EVENT_UPDATE = 4    /* apply the optimizer and zero every gradient */
};

/* Distinct from every kernel's own status codes (nnplug_kernels.h, nnplug_conv.h), which a
 * run passes on. */
enum nnp_plan_status {
    NNP_PLAN_NONFINITE = 40, /* a batch's loss was NaN or infinite; see *batches_done */
    NNP_PLAN_INVALID = 41,   /* the plan's steps, parameters or rule do not fit together */
    NNP_PLAN_ORDER = 42,     /* an index in `order` is outside [0, rows) */
    NNP_PLAN_WORKSPACE = 43, /* `work` is smaller than nnp_plan_workspace_floats says */
    NNP_PLAN_CALLBACK = 44,  /* the callback reported an error; the run stopped there */
    NNP_PLAN_EXTERN = 45     /* a plugin's kernel returned nonzero; the run stopped there */
};

struct nnp_step {
    int kind;
    ptrdiff_t n_in;              /* features per sample in */
    ptrdiff_t n_out;             /* features per sample out */
    ptrdiff_t param;             /* LINEAR: index of its weights in the plan's parameters */
    unsigned long long threshold; /* DROPOUT: keep where (bits >> 40) >= threshold */
    float scale;                 /* DROPOUT: 1 / (1 - rate) */
    unsigned long long key;      /* DROPOUT */
    unsigned long long *counter; /* DROPOUT: the batches drawn so far; batch b of a run (from
                                  * 0) draws mask *counter + b, and the run adds the batches it
                                  * completed when it returns */
    int part;                    /* PYTHON: passed to the callback */
    /* CONV2D and MAXPOOL2D: each sample is an image (channels, height, width) in, of
     * out_channels (MAXPOOL2D: channels) out; the window, its stride and the padding
     * (MAXPOOL2D: 0) as (rows, columns); n_in and n_out must be the images' sizes. */
    ptrdiff_t channels, height, width, out_channels;
    ptrdiff_t kernel[2], stride[2], padding[2];
    const struct nnp_extern_elementwise *ext; /* EXTERN_ELEMENTWISE: the plugin's kernels */
};

struct nnp_param {
    ptrdiff_t size;
    float *value;
    float *grad;
    float *state0; /* per the rule; may be NULL for NNP_RULE_PYTHON */
    float *state1;
    int threaded;  /* 1: a convolution's weights or bias, written on every thread into private
                    * copies that are summed; 0: any other (a Linear layer's threads take
                    * whole rows of its weights) */
};

struct nnp_rule {
    int kind;
    double learning_rate;
    double a;
    double b;
    double epsilon;
    long long step; /* Adam: steps taken before this run; batch k of the run is step + k + 1 */
};

struct nnp_plan {
    ptrdiff_t steps;
    const struct nnp_step *step;
    int loss;
    ptrdiff_t params;
    const struct nnp_param *param;
    struct nnp_rule rule;
    /* Called on the calling thread only; returns 0, or nonzero to stop the run. */
    int (*callback)(void *context, int event, int part, ptrdiff_t rows,
                    const float *a, const float *b, float *out, double *loss);
    void *context;
};

/* The NNPLUG_PLUGIN_ABI_VERSION of the nnplug_plugin.h this nnplug was built with. */
int nnp_plugin_abi_version(void);

/* Floats of workspace nnp_plan_run needs for this plan, batch size and thread count
 * (-1 if the plan is invalid). */
ptrdiff_t nnp_plan_workspace_floats(const struct nnp_plan *plan, ptrdiff_t batch, int threads);

/* Trains over `count` samples in batches of `batch` (the last may be smaller): sample i is
 * row order[i] of x (rows, step[0].n_in) and of t (rows, step[steps-1].n_out); order may
 * be NULL for rows 0..count-1, in which case rows must be >= count. For each batch:
 * forward, loss, backward, update (gradients are zero after it, as after the trainer's
 * zero_gradients). *loss_sum receives the sum over batches of (batch loss * batch size).
 * If a batch's loss is not finite, the run stops before that batch changes anything,
 * *stopped_loss receives that loss and NNP_PLAN_NONFINITE is returned. *batches_done
 * receives the number of batches whose update was applied. `work` must be aligned to 64
 * bytes. */
int nnp_plan_run(const struct nnp_plan *plan, ptrdiff_t count, ptrdiff_t rows,
                 const float *x, const float *t, const long long *order, ptrdiff_t batch,
                 int threads, float *work, ptrdiff_t work_floats,
                 double *loss_sum, ptrdiff_t *batches_done, double *stopped_loss);
