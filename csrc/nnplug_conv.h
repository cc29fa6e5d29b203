/* nnplug's convolution and pooling kernels (conv.c).
 *
 * Parsed by cffi as part of the cdef, like nnplug_kernels.h: declarations and comments only.
 *
 * Images are contiguous row-major float32 arrays (n, c, h, w): n images of c channels of
 * h rows of w pixels. Kernels are (kh, kw) windows moved (sh, sw) pixels at a time; a
 * convolution first pads each image with (ph, pw) rows and columns of zeros on every side.
 * A convolution's output is (n, oc, oh, ow) with oh = (h + 2 ph - kh) / sh + 1 and
 * ow = (w + 2 pw - kw) / sw + 1 (integer division); a max pool's is (n, c, oh, ow) with
 * oh = (h - kh) / sh + 1 and ow = (w - kw) / sw + 1. Sizes must be >= 0, kernel sizes and
 * strides >= 1, padding >= 0, and the (padded) image at least as large as the kernel
 * (NNP_ERR_SIZE otherwise, with nothing written). Outputs must not overlap any input.
 * Weights are (oc, c, kh, kw), the bias (oc,). Returns an nnp_status, or
 * NNP_CONV_NOMEM when the scratch memory for the patches could not be allocated.
 * The convolutions split large batches by images over up to `threads` threads (1: none);
 * parameter gradients summed over threads differ from one thread's in the last bits.
 */

enum nnp_conv_status {
    NNP_CONV_NOMEM = 32 /* the scratch buffer could not be allocated; nothing was written */
};

/* y = the cross-correlation of the padded x with the weights, plus bias[o] on channel o.
 * x is (n, c, h, w), y (n, oc, oh, ow); y is written. */
int nnp_conv2d_forward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                       ptrdiff_t oc, ptrdiff_t kh, ptrdiff_t kw,
                       ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw,
                       const float *x, const float *weights, const float *bias, float *y,
                       int threads);

/* dx = the gradient with respect to x of a convolution whose output gradient is g
 * (n, oc, oh, ow); dx is (n, c, h, w) and written (pixels no window covers get 0). */
int nnp_conv2d_input_grad(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                          ptrdiff_t oc, ptrdiff_t kh, ptrdiff_t kw,
                          ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw,
                          const float *g, const float *weights, float *dx, int threads);

/* Accumulates the parameter gradients of a convolution of x (n, c, h, w) whose output
 * gradient is g (n, oc, oh, ow): dw (oc, c, kh, kw) += the weight gradient and
 * db (oc,) += the sum of g over images and pixels, channel by channel. */
int nnp_conv2d_param_grads(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                           ptrdiff_t oc, ptrdiff_t kh, ptrdiff_t kw,
                           ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw,
                           const float *g, const float *x, float *dw, float *db,
                           int threads);

/* y = the maximum of each (kh, kw) window of x (n, c, h, w), windows (sh, sw) apart;
 * y is (n, c, oh, ow) and written. A window holding NaN gives NaN, as NumPy's max does. */
int nnp_maxpool2d_forward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                          ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,
                          const float *x, float *y);

/* dx (n, c, h, w) = the input gradient of that max pool from x and the output gradient g
 * (n, c, oh, ow): each window's gradient is added at the first (row-major) position of
 * its maximum, found again from x as nnp_maxpool2d_forward finds it; dx is written. */
int nnp_maxpool2d_backward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                           ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,
                           const float *x, const float *g, float *dx);
