/* Swish, y = x * sigmoid(beta * x), as nnplug plugin kernels (nnplug_plugin.h, ABI 1).
 *
 * params[0] is beta. The loops are written so that the compiler can vectorise them: the
 * sigmoid comes from swish_expf below rather than libm's expf, which is a call a loop
 * cannot vectorise.
 */
#include <stddef.h>
#include <stdint.h>

#include "nnplug_plugin.h"

/* One copy per x86-64 level (AVX-512, AVX2+FMA, baseline), chosen when the module loads;
 * needs GCC >= 11 on x86-64 glibc. Elsewhere the function is compiled once. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) \
    && defined(__linux__) && !defined(SWISH_NO_TARGET_CLONES)
#define SWISH_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SWISH_CLONES
#endif

/* Helpers must be inlined into each clone; a separate copy would be baseline code only. */
#if defined(__GNUC__)
#define SWISH_INLINE static inline __attribute__((always_inline))
#else
#define SWISH_INLINE static inline
#endif

NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(swish)

/* exp(x) for float32, to about one ulp: x = k ln2 + r with |r| <= ln2 / 2, exp(r) from its
 * Taylor polynomial, 2^k put straight into the exponent bits. x is clamped to where 2^k is
 * a normal float; there exp(x) is below 1.7e-38 or above 1.6e38, which the sigmoid below
 * turns into 1 and 0 anyway. */
SWISH_INLINE float swish_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float k = (x * 1.44269504f + magic) - magic;
    const float r = (x - k * 0.693145752f) - k * 1.42860677e-6f; /* ln2 in two parts */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (uint32_t)((int32_t)k + 127) << 23;
    return p * scale.f;
}

SWISH_INLINE float sigmoid(float z) { return 1.0f / (1.0f + swish_expf(-z)); }

SWISH_CLONES
int swish_forward(ptrdiff_t size, const float *x, float *y, const double *params)
{
    if (size < 0 || params == NULL) return 1;
    if (size > 0 && (x == NULL || y == NULL)) return 1;
    const float beta = (float)params[0];
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) y[i] = x[i] * sigmoid(beta * x[i]);
    return 0;
}

/* d/dx x sigmoid(beta x) = g + beta x g (1 - g), with g = sigmoid(beta x). */
SWISH_CLONES
int swish_backward(ptrdiff_t size, const float *x, const float *y, const float *dy, float *dx,
                   const double *params)
{
    (void)y; /* recomputing g is as cheap as dividing y by x, and exact at x = 0 */
    if (size < 0 || params == NULL) return 1;
    if (size > 0 && (x == NULL || dy == NULL || dx == NULL)) return 1;
    const float beta = (float)params[0];
#pragma omp simd
    for (ptrdiff_t i = 0; i < size; i++) {
        const float g = sigmoid(beta * x[i]);
        dx[i] = dy[i] * (g + beta * x[i] * g * (1.0f - g));
    }
    return 0;
}
