/* The Swish kernels (csrc/swish.c): the cffi cdef of nnplug_swish._kernels, so declarations
 * only. Their signatures are those of nnplug_plugin.h (ABI 1); nnplug checks them. */
int swish_abi_version(void);
int swish_forward(ptrdiff_t size, const float *x, float *y, const double *params);
int swish_backward(ptrdiff_t size, const float *x, const float *y, const float *dy, float *dx,
                   const double *params);
