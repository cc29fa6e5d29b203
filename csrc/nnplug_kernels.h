/* nnplug's C kernels: the whole interface, in one header that cffi parses as its cdef.
 *
 * This file must stay parsable by cffi: declarations and comments only, no #include, no
 * #ifdef, no macros, and so no include guard: each kernel source includes <stddef.h> (for
 * ptrdiff_t) and then this header, exactly once.
 *
 * Conventions shared by every entry point:
 * - float32 throughout; matrices are row-major. A matrix argument `a` with `rows` rows and
 *   `cols` columns comes with a leading dimension `lda` (floats from one row to the next),
 *   which must be >= cols.
 * - Sizes are signed (ptrdiff_t) so that a negative size is reported instead of wrapping.
 *   Any size may be zero, batches included; a pointer may be NULL only when its array is
 *   empty.
 * - Outputs must not overlap inputs, except where a comment says "may be the same array",
 *   which means exactly the same pointer and leading dimension (an in-place update).
 * - The return value is an nnp_status: NNP_OK, or the first problem found, in which case
 *   no output has been written.
 */

enum nnp_status {
    NNP_OK = 0,
    NNP_ERR_SIZE = 1,   /* a size is negative */
    NNP_ERR_NULL = 2,   /* a NULL pointer for a non-empty array */
    NNP_ERR_LD = 3,     /* a leading dimension smaller than the row length */
    NNP_ERR_ALIAS = 4,  /* an output overlaps an input (or another output) */
    NNP_ERR_VALUE = 5   /* a scalar argument is out of range (an Adam step < 1, ...) */
};

/* --- dense layers (matmul.c) ------------------------------------------------------------ */

/* The instruction-set level the matrix kernels run at on this CPU: 4 = AVX-512, 3 = AVX2
 * with FMA, 2 = the compiler's baseline 128-bit vectors, 1 = plain C. */
int nnp_isa_level(void);

/* Cap the level the matrix kernels use at `level` (<= 0: no cap), so that tests can run
 * every code path on one machine; returns the level now in use. Not for use while another
 * thread is inside a kernel. */
int nnp_set_max_isa_level(int level);

/* Forward pass of a dense layer: y = x W^T + b.
 * x is (n, in), W is (out, in), b is (out,), y is (n, out); y is written, not accumulated.
 * Returns NNP_ERR_ALIAS if y overlaps x, W or b. */
int nnp_linear_forward(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out,
                       const float *x, ptrdiff_t ldx,
                       const float *w, ptrdiff_t ldw,
                       const float *b,
                       float *y, ptrdiff_t ldy);

/* Gradient with respect to a dense layer's input: dx = g W.
 * g is (n, out), W is (out, in), dx is (n, in); dx is written, not accumulated.
 * Returns NNP_ERR_ALIAS if dx overlaps g or W. */
int nnp_linear_input_grad(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out,
                          const float *g, ptrdiff_t ldg,
                          const float *w, ptrdiff_t ldw,
                          float *dx, ptrdiff_t lddx);

/* Gradients of a dense layer's parameters, accumulated in place:
 * dW += g^T x and db += (sum over the n rows of g).
 * g is (n, out), x is (n, in), dW is (out, in), db is (out,). With n = 0 nothing changes.
 * Returns NNP_ERR_ALIAS if dW or db overlaps g, x or each other. */
int nnp_linear_param_grads(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out,
                           const float *g, ptrdiff_t ldg,
                           const float *x, ptrdiff_t ldx,
                           float *dw, ptrdiff_t lddw,
                           float *db);

/* --- element-wise activations (activations.c) ------------------------------------------- */
/* Each works on `size` contiguous floats. Forward: y = f(x); y may be the same array as x.
 * Backward takes the forward's outputs y (not its inputs) and the gradient dy with respect
 * to them, and writes dx; dx may be the same array as y or as dy. */

/* y = tanh(x), accurate to about one unit in the last place; NaN stays NaN. */
int nnp_tanh_forward(ptrdiff_t size, const float *x, float *y);

/* dx = dy * (1 - y*y), where y = tanh(x). */
int nnp_tanh_backward(ptrdiff_t size, const float *y, const float *dy, float *dx);

/* y = 0.5 * (tanh(0.5 x) + 1): the logistic sigmoid, in a form that cannot overflow. */
int nnp_sigmoid_forward(ptrdiff_t size, const float *x, float *y);

/* dx = dy * y * (1 - y), where y = sigmoid(x). */
int nnp_sigmoid_backward(ptrdiff_t size, const float *y, const float *dy, float *dx);

/* y = max(x, 0) as np.maximum computes it: NaN stays NaN, -0 becomes +0. */
int nnp_relu_forward(ptrdiff_t size, const float *x, float *y);

/* dx = dy where y > 0, else 0. */
int nnp_relu_backward(ptrdiff_t size, const float *y, const float *dy, float *dx);

/* --- softmax and cross-entropy (softmax.c) ---------------------------------------------- */

/* Row-wise softmax of the (n, m) matrix x into y: y[i, j] = exp(x[i, j] - max_j x[i, :])
 * divided by the row's sum of those. Finite for any finite input. y may be the same array
 * as x. With n > 0, m must be >= 1 (NNP_ERR_SIZE otherwise): an empty row has no softmax. */
int nnp_softmax_forward(ptrdiff_t n, ptrdiff_t m,
                        const float *x, ptrdiff_t ldx,
                        float *y, ptrdiff_t ldy);

/* Input gradient of a row-wise softmax from its outputs y and output gradient dy, all (n, m):
 * dx[i, :] = y[i, :] * (dy[i, :] - sum_j y[i, j] dy[i, j]). dx may be the same array as y
 * or as dy. */
int nnp_softmax_backward(ptrdiff_t n, ptrdiff_t m,
                         const float *y, ptrdiff_t ldy,
                         const float *dy, ptrdiff_t lddy,
                         float *dx, ptrdiff_t lddx);

/* Cross-entropy of probabilities p against targets t, both (n, m):
 * *loss = -sum over all entries of t * log(max(p, FLT_MIN)), accumulated in double.
 * Entries with t == 0 contribute exactly 0 (the clipped log is finite), so they are
 * skipped. *loss is 0 for an empty input. */
int nnp_cross_entropy(ptrdiff_t n, ptrdiff_t m,
                      const float *p, ptrdiff_t ldp,
                      const float *t, ptrdiff_t ldt,
                      double *loss);

/* Gradient of cross-entropy at the inputs of the softmax that produced p: the fused
 * dx = (p - t) * scale, all (n, m). dx may be the same array as p or as t. */
int nnp_softmax_cross_entropy_grad(ptrdiff_t n, ptrdiff_t m,
                                   const float *p, ptrdiff_t ldp,
                                   const float *t, ptrdiff_t ldt,
                                   float scale,
                                   float *dx, ptrdiff_t lddx);

/* Squared error of predictions p against targets t, both (n, m):
 * *loss = sum over all entries of (p - t)^2, accumulated in double. */
int nnp_squared_error(ptrdiff_t n, ptrdiff_t m,
                      const float *p, ptrdiff_t ldp,
                      const float *t, ptrdiff_t ldt,
                      double *loss);

/* Gradient of a scaled squared error: dx = (p - t) * scale, all (n, m). dx may be the same
 * array as p or as t. The mean squared error over N entries uses scale = 2 / N. */
int nnp_squared_error_grad(ptrdiff_t n, ptrdiff_t m,
                           const float *p, ptrdiff_t ldp,
                           const float *t, ptrdiff_t ldt,
                           float scale,
                           float *dx, ptrdiff_t lddx);

/* --- dropout (dropout.c) ------------------------------------------------------------------ */
/* Inverted dropout with masks that are a pure function of (key, counter, element index), so
 * that any backend, any thread split and any batch order draws the same mask:
 *   stream = mix(key + counter * G); bits = mix(stream + (index + 1) * G),
 * with G = 0x9E3779B97F4A7C15 and mix the splitmix64 finaliser, in wrapping 64-bit
 * arithmetic. Element `index` is kept when (bits >> 40) >= threshold, where threshold is
 * round(rate * 2^24) (so rate is resolved to 2^-24); a kept element is multiplied by
 * `scale` (1 / (1 - rate) in float32), a dropped one becomes 0. */

/* mask[i] = scale or 0 for the `size` elements numbered first, first + 1, ...;
 * y = x * mask. y may be the same array as x; mask must not overlap x or y. */
int nnp_dropout_forward(ptrdiff_t size, const float *x, float *mask, float *y,
                        unsigned long long key, unsigned long long counter,
                        ptrdiff_t first, unsigned long long threshold, float scale);

/* dx = dy * mask. dx may be the same array as dy. */
int nnp_dropout_backward(ptrdiff_t size, const float *mask, const float *dy, float *dx);

/* --- optimizer updates (optim.c) --------------------------------------------------------- */
/* Each updates `size` contiguous floats in place; param, grad and the state buffers must be
 * pairwise non-overlapping. Hyperparameters are doubles, rounded to float32 where a
 * Python float meeting a float32 NumPy array would be, so updates match the reference.
 * State (velocity, m, v) smaller in magnitude than FLT_MIN is stored as 0: decaying
 * momentum would otherwise spend many steps in float32's subnormal range, where
 * arithmetic is about a hundred times slower; the difference is below FLT_MIN. */

/* SGD with momentum: velocity = momentum * velocity + learning_rate * grad;
 * param -= velocity. */
int nnp_sgd_step(ptrdiff_t size, float *param, const float *grad, float *velocity,
                 double learning_rate, double momentum);

/* One Adam step (Kingma & Ba, with bias correction) at 1-based `step`:
 * m = beta1 m + (1 - beta1) grad; v = beta2 v + (1 - beta2) grad^2;
 * param -= learning_rate * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + epsilon).
 * Returns NNP_ERR_VALUE if step < 1 or a bias correction 1 - beta^step is zero. */
int nnp_adam_step(ptrdiff_t size, float *param, const float *grad, float *m, float *v,
                  double learning_rate, double beta1, double beta2, double epsilon,
                  long long step);

/* RMSprop (Tieleman & Hinton): v = decay v + (1 - decay) grad^2;
 * param -= learning_rate * grad / (sqrt(v) + epsilon). */
int nnp_rmsprop_step(ptrdiff_t size, float *param, const float *grad, float *v,
                     double learning_rate, double decay, double epsilon);
