/* Private portability layer for the kernels: instruction-set dispatch and inlining.
 *
 * Not part of the cffi cdef (nnplug_kernels.h must stay free of macros and #ifdefs), so
 * everything compiler-specific lives here.
 */
#ifndef NNP_SIMD_H
#define NNP_SIMD_H

#include <limits.h> /* on glibc this pulls in <features.h>, which defines __GLIBC__ */

/* target_clones compiles a function once per ISA level and has the dynamic loader pick
 * the best one for the running CPU (an ifunc). That needs GCC >= 11 (the first to know
 * the x86-64-vN level names), x86-64 and glibc (musl and macOS have no ifuncs). There is
 * no plain "avx2" clone: it would lack FMA, which x86-64-v3 includes. Element-wise loops
 * use it; hot code must be inlined into the cloned function, since a separate helper is
 * compiled for the baseline ISA only. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) \
    && defined(__GLIBC__) && !defined(NNP_NO_TARGET_CLONES)
#define NNP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NNP_CLONES
#endif

#if defined(__GNUC__)
#define NNP_INLINE static inline __attribute__((always_inline))
#else
#define NNP_INLINE static inline
#endif

/* The matrix kernels hold register tiles of GCC/Clang vector-extension types, which must
 * be exactly one register wide: a 64-byte vector compiled for AVX2 is lowered through
 * memory and runs 50-80 times slower. So they are compiled once per vector width, each
 * copy with its own target attribute, and chosen at run time (matmul.c), not through
 * target_clones. NNP_VECTOR_EXT enables the vector copies, NNP_X86_LEVELS the AVX2 and
 * AVX-512 ones, which need a compiler that knows those targets and __builtin_cpu_supports. */
#if defined(__GNUC__) && !defined(NNP_NO_VECTOR_EXT)
#define NNP_VECTOR_EXT 1
#else
#define NNP_VECTOR_EXT 0
#endif

#if NNP_VECTOR_EXT && defined(__x86_64__) && !defined(NNP_NO_X86_LEVELS) \
    && (defined(__clang__) || __GNUC__ >= 6)
#define NNP_X86_LEVELS 1
#else
#define NNP_X86_LEVELS 0
#endif

#endif /* NNP_SIMD_H */
