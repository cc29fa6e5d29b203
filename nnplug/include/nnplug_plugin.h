/* nnplug_plugin.h: the C ABI of plugin kernels, the functions a plugin layer's own C code
 * provides so that nnplug's training plan runs the layer without calling Python.
 *
 * Include it from your plugin's C file and build with the directory that
 * nnplug.get_include() returns on the include path:
 *
 *     #include "nnplug_plugin.h"
 *     NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(swish)     defines int swish_abi_version(void)
 *
 * ABI version 1: element-wise kernels over C-contiguous float32 buffers.
 *
 *   int forward(ptrdiff_t size, const float *x, float *y, const double *params);
 *       y[i] = f(x[i]) for 0 <= i < size.
 *   int backward(ptrdiff_t size, const float *x, const float *y, const float *dy,
 *                float *dx, const double *params);
 *       dx[i] = dy[i] * f'(x[i]); y is forward's output for the same x, given so that a
 *       kernel may take the derivative from whichever is cheaper.
 *
 * Both return 0 on success, anything else on failure (nnplug then stops training with an
 * error naming the kernel). `params` points to the layer's scalar hyperparameters (such as
 * Swish's beta), in the order the layer gives them to nnplug; it may be NULL when there are
 * none. size >= 0; size 0 is valid and must touch nothing. The buffers never overlap, and a
 * kernel must not read or write outside [0, size) of any of them. nnplug calls a kernel from
 * several threads at once, each on its own rows, so kernels must keep no state between calls.
 *
 * The version: a plugin exports `int <name>_abi_version(void)` returning the
 * NNPLUG_PLUGIN_ABI_VERSION it was compiled against (the macro below writes it). nnplug
 * refuses, with a warning naming the plugin, kernels whose version differs from its own; the
 * layer then runs its NumPy definition. A change of any signature or contract above gets a
 * new version number.
 */
#ifndef NNPLUG_PLUGIN_H
#define NNPLUG_PLUGIN_H

#include <stddef.h>

#define NNPLUG_PLUGIN_ABI_VERSION 1

typedef int (*nnplug_elementwise_forward_fn)(ptrdiff_t size, const float *x, float *y,
                                             const double *params);
typedef int (*nnplug_elementwise_backward_fn)(ptrdiff_t size, const float *x, const float *y,
                                              const float *dy, float *dx, const double *params);
typedef int (*nnplug_abi_version_fn)(void);

/* Defines `int <prefix>_abi_version(void)`, returning the version this file declares. */
#define NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(prefix) \
    int prefix##_abi_version(void) { return NNPLUG_PLUGIN_ABI_VERSION; }

#endif /* NNPLUG_PLUGIN_H */
