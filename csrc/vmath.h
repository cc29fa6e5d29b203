/* Private: tanh and exp for float32 that loops can vectorise.
 *
 * libm's tanhf and expf are calls the compiler cannot vectorise (glibc's vector versions
 * need -ffast-math); tanhf costs about 9 ns an element here, 25 times NumPy's SIMD tanh,
 * as much as the matrix product of the layer it follows. These are straight-line code
 * in double precision: no branches, no calls, no integer conversion of a possibly-NaN
 * value, and errors well below half a float32 ulp before the final rounding.
 */
#ifndef NNP_VMATH_H
#define NNP_VMATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"

/* tanh(x), correctly rounded for every float in [2^-30, 12] (checked exhaustively: at most
 * 0.5 ulp from the exact value; NumPy's own float32 tanh is off by up to 1.35 ulp).
 * NaN stays NaN, tanh(-0) = -0.
 * With u = expm1(2|x|), tanh|x| = u / (u + 2), which has no cancellation for small x.
 * expm1(y) comes from its Taylor series at y / 64 (|y / 64| <= 0.32, truncation error
 * below 1e-11 relative), then six doublings expm1(2y) = expm1(y) (expm1(y) + 2), each of
 * which at most doubles the relative error. |x| is capped at 10, beyond which tanh rounds
 * to 1 in float32 (from 9.01 on); the comparison lets NaN through. */
/* Optimizer state decays geometrically wherever the gradient stays zero (weights of the
 * pixels MNIST digits rarely touch, say), and on its way to zero crosses float32's
 * subnormal range, where each operation takes a microcode assist of about a hundred
 * cycles: SGD on MNIST at batch 1 ran 7 times slower. Flushing state below FLT_MIN to zero
 * ends the crossing after one step; the update then differs from the reference's by less
 * than FLT_MIN per element. */
NNP_INLINE float nnp_flush_subnormal(float value)
{
    return fabsf(value) < FLT_MIN ? 0.0f : value;
}

NNP_INLINE float nnp_tanhf(float x)
{
    double a = fabs((double)x);
    a = a > 10.0 ? 10.0 : a;
    const double z = a * (2.0 / 64.0);
    double u = 1.0 / 362880.0;
    u = u * z + 1.0 / 40320.0;
    u = u * z + 1.0 / 5040.0;
    u = u * z + 1.0 / 720.0;
    u = u * z + 1.0 / 120.0;
    u = u * z + 1.0 / 24.0;
    u = u * z + 1.0 / 6.0;
    u = u * z + 0.5;
    u = u * z + 1.0;
    u = u * z;
    u = u * (u + 2.0);
    u = u * (u + 2.0);
    u = u * (u + 2.0);
    u = u * (u + 2.0);
    u = u * (u + 2.0);
    u = u * (u + 2.0);
    return copysignf((float)(u / (u + 2.0)), x);
}

/* exp(x) to within one float32 ulp, for any x; NaN stays NaN.
 * x = k ln2 + r with integer k and |r| <= ln2 / 2, then exp(x) = 2^k exp(r), with exp(r)
 * from its Taylor series to r^9 (relative error below 1e-10). Adding 1.5 * 2^52 rounds
 * x / ln2 to the integer k and leaves it in the low bits of the double, from where it is
 * moved into the exponent field of 2^k; the clamps keep k in range and are where the
 * float32 result is 0 or infinity anyway. */
NNP_INLINE float nnp_expf(float x)
{
    const double shifter = 0x1.8p52;
    double y = x;
    y = y < -104.0 ? -104.0 : y;
    y = y > 89.0 ? 89.0 : y;
    const double kd = y * 0x1.71547652b82fep0 + shifter;
    const double k = kd - shifter;
    const double r = y - k * 0x1.62e42fefa39efp-1;
    double p = 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    const int64_t ki = (int64_t)(bits & 0xFFFFFFFFFFFFFull) - ((int64_t)1 << 51);
    const uint64_t scale_bits = (uint64_t)(ki + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return (float)(p * scale);
}

#endif /* NNP_VMATH_H */
