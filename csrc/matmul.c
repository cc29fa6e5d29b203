/* Dense-layer kernels: the three matrix products of a linear layer's forward and backward.
 *
 * The entry points check their arguments, handle the degenerate sizes, and hand the rest
 * to the copy of the tiled kernels (matmul_tiles.h) for the best instruction set this CPU
 * has: AVX-512, AVX2+FMA, the compiler's baseline 128-bit vectors, or plain C.
 */
#include <stddef.h>
#include <stdint.h>

#include "nnplug_kernels.h"
#include "matmul.h"
#include "simd.h"
#include "checks.h"

/* Tile sizes per level: the backward tile holds BC_MR x 2 accumulator vectors, 16 of the
 * 32 zmm registers under AVX-512 and 12 of the 16 ymm or xmm registers otherwise, leaving
 * room for the operands; the forward tile holds VLEN accumulators (16 = 4 rows x 4 rows of
 * W under AVX-512, 8 = 2 x 4 under AVX2). */
#if NNP_X86_LEVELS
#define NNP_T_SUFFIX v4
#define NNP_T_TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2")))
#define NNP_T_VLEN 16
#define NNP_T_BC_MR 8
#define NNP_T_DOT_MR 4
#include "matmul_tiles.h"

#define NNP_T_SUFFIX v3
#define NNP_T_TARGET __attribute__((target("avx2,fma")))
#define NNP_T_VLEN 8
#define NNP_T_BC_MR 6
#define NNP_T_DOT_MR 2
#include "matmul_tiles.h"
#endif

#if NNP_VECTOR_EXT
#define NNP_T_SUFFIX v2
#define NNP_T_TARGET
#define NNP_T_VLEN 4
#define NNP_T_BC_MR 6
#define NNP_T_DOT_MR 2
#include "matmul_tiles.h"
#endif

#define NNP_T_SUFFIX v1
#define NNP_T_TARGET
#define NNP_T_VLEN 1
#define NNP_T_BC_MR 4
#define NNP_T_DOT_MR 1
#include "matmul_tiles.h"

/* ---- instruction-set level ------------------------------------------------------------ */

/* Set only by tests, through nnp_set_max_isa_level, to run the narrower copies here. */
static int level_cap = 0;

/* Checks exactly the features the copies' target attributes enable, nothing else. */
static int detected_level(void)
{
#if NNP_X86_LEVELS
    const int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2"))
        return 4;
    if (v3) return 3;
#endif
    return NNP_VECTOR_EXT ? 2 : 1;
}

int nnp_isa_level(void)
{
    const int level = detected_level();
    return level_cap > 0 && level_cap < level ? level_cap : level;
}

int nnp_set_max_isa_level(int level)
{
    level_cap = level > 0 ? level : 0;
    return nnp_isa_level();
}

/* Floats per vector at `level`: the tiled kernels need rows at least that long. */
static ptrdiff_t vector_len(int level)
{
    switch (level) {
    case 4: return 16;
    case 3: return 8;
    case 2: return 4;
    default: return 1;
    }
}

/* ---- entry points ---------------------------------------------------------------------- */

/* How many output features the forward kernel that packs W takes; the dot-product tile
 * takes the rest. The backward kernels' tile on panels of W transposed on the fly needs no
 * reductions, and beats the dot-product tile by up to 2x on short rows (100 inputs) and 5x
 * on the 25-input patches of a 5x5 convolution, from 32 rows of x on; below that the
 * dot-product tile, which needs no copy, is as fast or faster. On long rows (512 inputs and
 * more) the packed panels would pad a ragged last vector of outputs with zeros that cost as
 * much as real ones, so when that padding exceeds 1/16 of the outputs, the packed kernel
 * takes the whole vectors and the dot-product tile the few outputs left (784 inputs, one
 * thread, AVX-512: 100 outputs in 227 us against 239 us for the dot-product tile alone at
 * 128 rows, 52 outputs in 234 us against 259 us at 256 rows). */
#define FORWARD_PACKED_MIN_ROWS 32
#define FORWARD_DOT_MIN_INPUTS 512
/* Fewer outputs than one vector leave lanes of the packed panel empty, yet on short rows
 * it still beats the dot-product tiles, whose reductions then cost as much as the products
 * (one thread, AVX-512, 32 rows, 10 outputs: 0.81 us against 1.68 us at 50 inputs, 1.11 us
 * against 1.65 us at 64; 1.60 us against 1.66 us at 96; 3.87 us against 2.92 us at 200). */
#define FORWARD_NARROW_MAX_INPUTS 64

static ptrdiff_t packed_features(int level, ptrdiff_t n, ptrdiff_t in, ptrdiff_t out)
{
    const ptrdiff_t per_vector = vector_len(level);
    const ptrdiff_t padded = (out + per_vector - 1) / per_vector * per_vector;
    if (n < FORWARD_PACKED_MIN_ROWS) return 0;
    if (out < per_vector) return in <= FORWARD_NARROW_MAX_INPUTS ? out : 0;
    if (in < FORWARD_DOT_MIN_INPUTS || 16 * (padded - out) <= padded) return out;
    return out / per_vector * per_vector;
}

typedef void forward_fn(ptrdiff_t n, ptrdiff_t in, ptrdiff_t cols, const float *x, ptrdiff_t ldx,
                        const float *w, ptrdiff_t ldw, const float *b, float *y, ptrdiff_t ldy);

/* y = x W^T + b for `cols` outputs, by the packed kernel or the dot-product tile (checked
 * arguments, at least one vector of inputs). */
static void forward_cols(int level, int packed, ptrdiff_t n, ptrdiff_t in, ptrdiff_t cols,
                         const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw,
                         const float *b, float *y, ptrdiff_t ldy)
{
    forward_fn *kernel;
    switch (level) {
#if NNP_X86_LEVELS
    case 4: kernel = packed ? linear_forward_packed_v4 : linear_forward_v4; break;
    case 3: kernel = packed ? linear_forward_packed_v3 : linear_forward_v3; break;
#endif
#if NNP_VECTOR_EXT
    case 2: kernel = packed ? linear_forward_packed_v2 : linear_forward_v2; break;
#endif
    default: kernel = packed ? linear_forward_packed_v1 : linear_forward_v1; break;
    }
    kernel(n, in, cols, x, ldx, w, ldw, b, y, ldy);
}

int nnp_linear_forward(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out, const float *x, ptrdiff_t ldx,
                       const float *w, ptrdiff_t ldw, const float *b, float *y, ptrdiff_t ldy)
{
    int status;
    if ((status = nnp_check_matrix(n, in, x, ldx)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(out, in, w, ldw)) != NNP_OK) return status;
    if ((status = nnp_check_vector(out, b)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, out, y, ldy)) != NNP_OK) return status;
    if (nnp_overlap(y, n, out, ldy, x, n, in, ldx) || nnp_overlap(y, n, out, ldy, w, out, in, ldw)
        || nnp_overlap(y, n, out, ldy, b, 1, out, out))
        return NNP_ERR_ALIAS;
    if (n == 0 || out == 0) return NNP_OK;

    const int level = nnp_isa_level();
    if (in < vector_len(level)) {
        /* Fewer inputs than one vector (none at all: y is the bias). */
        for (ptrdiff_t i = 0; i < n; i++) {
            for (ptrdiff_t j = 0; j < out; j++) {
                float s = 0.0f;
                for (ptrdiff_t p = 0; p < in; p++) s += x[i * ldx + p] * w[j * ldw + p];
                y[i * ldy + j] = s + b[j];
            }
        }
        return NNP_OK;
    }
    const ptrdiff_t packed = packed_features(level, n, in, out);
    if (packed > 0) forward_cols(level, 1, n, in, packed, x, ldx, w, ldw, b, y, ldy);
    if (packed < out)
        forward_cols(level, 0, n, in, out - packed, x, ldx, w + packed * ldw, ldw, b + packed,
                     y + packed, ldy);
    return NNP_OK;
}

/* c (m, cols) (+)= A B for outputs narrower than one vector, where the tiles do not fit;
 * A given by element strides as in the tiled kernels. */
static void small_gemm(ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const float *a, ptrdiff_t a_rs,
                       ptrdiff_t a_ps, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                       int accumulate)
{
    for (ptrdiff_t r = 0; r < m; r++) {
        for (ptrdiff_t j = 0; j < cols; j++) {
            float s = 0.0f;
            for (ptrdiff_t p = 0; p < k; p++) s += a[r * a_rs + p * a_ps] * b[p * ldb + j];
            c[r * ldc + j] = accumulate ? c[r * ldc + j] + s : s;
        }
    }
}

void nnp_gemm_strided(ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const float *a, ptrdiff_t a_rs,
                      ptrdiff_t a_ps, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                      int accumulate)
{
    if (m == 0 || cols == 0) return;
    const int level = nnp_isa_level();
    if (k == 0 || cols < vector_len(level)) {
        /* An empty sum (k == 0) leaves c, or makes it zero. */
        small_gemm(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate);
        return;
    }
    switch (level) {
#if NNP_X86_LEVELS
    case 4: gemm_strided_v4(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate); break;
    case 3: gemm_strided_v3(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate); break;
#endif
#if NNP_VECTOR_EXT
    case 2: gemm_strided_v2(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate); break;
#endif
    default: gemm_strided_v1(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate); break;
    }
}

int nnp_linear_input_grad(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out, const float *g, ptrdiff_t ldg,
                          const float *w, ptrdiff_t ldw, float *dx, ptrdiff_t lddx)
{
    int status;
    if ((status = nnp_check_matrix(n, out, g, ldg)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(out, in, w, ldw)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, in, dx, lddx)) != NNP_OK) return status;
    if (nnp_overlap(dx, n, in, lddx, g, n, out, ldg) || nnp_overlap(dx, n, in, lddx, w, out, in, ldw))
        return NNP_ERR_ALIAS;
    if (n == 0 || in == 0) return NNP_OK;

    const int level = nnp_isa_level();
    if (out == 0 || in < vector_len(level)) {
        /* An empty sum (out == 0) makes dx zero. */
        small_gemm(n, in, out, g, ldg, 1, w, ldw, dx, lddx, 0);
        return NNP_OK;
    }
    switch (level) {
#if NNP_X86_LEVELS
    case 4: linear_input_grad_v4(n, in, out, g, ldg, w, ldw, dx, lddx); break;
    case 3: linear_input_grad_v3(n, in, out, g, ldg, w, ldw, dx, lddx); break;
#endif
#if NNP_VECTOR_EXT
    case 2: linear_input_grad_v2(n, in, out, g, ldg, w, ldw, dx, lddx); break;
#endif
    default: linear_input_grad_v1(n, in, out, g, ldg, w, ldw, dx, lddx); break;
    }
    return NNP_OK;
}

NNP_CLONES
static void add_column_sums(ptrdiff_t n, ptrdiff_t m, const float *g, ptrdiff_t ldg, float *db)
{
    /* Each column summed on its own first, then added (as `db += g.sum(0)` does), in chunks
     * so that the partial sums stay on the stack. */
    for (ptrdiff_t r0 = 0; r0 < m; r0 += 256) {
        float sums[256];
        const ptrdiff_t len = m - r0 < 256 ? m - r0 : 256;
        for (ptrdiff_t r = 0; r < len; r++) sums[r] = 0.0f;
        for (ptrdiff_t p = 0; p < n; p++) {
            const float *row = g + p * ldg + r0;
#pragma omp simd
            for (ptrdiff_t r = 0; r < len; r++) sums[r] += row[r];
        }
        for (ptrdiff_t r = 0; r < len; r++) db[r0 + r] += sums[r];
    }
}

int nnp_linear_param_grads(ptrdiff_t n, ptrdiff_t in, ptrdiff_t out, const float *g,
                           ptrdiff_t ldg, const float *x, ptrdiff_t ldx, float *dw,
                           ptrdiff_t lddw, float *db)
{
    int status;
    if ((status = nnp_check_matrix(n, out, g, ldg)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(n, in, x, ldx)) != NNP_OK) return status;
    if ((status = nnp_check_matrix(out, in, dw, lddw)) != NNP_OK) return status;
    if ((status = nnp_check_vector(out, db)) != NNP_OK) return status;
    if (nnp_overlap(dw, out, in, lddw, g, n, out, ldg) || nnp_overlap(dw, out, in, lddw, x, n, in, ldx)
        || nnp_overlap(dw, out, in, lddw, db, 1, out, out) || nnp_overlap(db, 1, out, out, g, n, out, ldg)
        || nnp_overlap(db, 1, out, out, x, n, in, ldx))
        return NNP_ERR_ALIAS;
    if (n == 0 || out == 0) return NNP_OK;

    const int level = nnp_isa_level();
    if (in < vector_len(level)) {
        small_gemm(out, in, n, g, 1, ldg, x, ldx, dw, lddw, 1);
    } else {
        switch (level) {
#if NNP_X86_LEVELS
        case 4: linear_param_grads_v4(n, in, out, g, ldg, x, ldx, dw, lddw); break;
        case 3: linear_param_grads_v3(n, in, out, g, ldg, x, ldx, dw, lddw); break;
#endif
#if NNP_VECTOR_EXT
        case 2: linear_param_grads_v2(n, in, out, g, ldg, x, ldx, dw, lddw); break;
#endif
        default: linear_param_grads_v1(n, in, out, g, ldg, x, ldx, dw, lddw); break;
        }
    }
    add_column_sums(n, out, g, ldg, db);
    return NNP_OK;
}
