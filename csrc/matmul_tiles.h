/* The matrix kernels for one vector width: a template that matmul.c includes once per
 * instruction-set level (so it has no include guard). Before each inclusion define:
 *
 *   NNP_T_SUFFIX   suffix of the generated names (v4, v3, v2, v1)
 *   NNP_T_TARGET   function attribute enabling the instruction set, or nothing
 *   NNP_T_VLEN     floats per vector register: 16, 8 or 4 (vector extensions), or 1
 *   NNP_T_BC_MR    rows of the backward tile: 8 when there are 32 vector registers, else 6
 *   NNP_T_DOT_MR   rows of x in a forward tile; the tile has NNP_T_VLEN dot products
 *
 * It defines these functions, which assume their arguments were checked (matmul.c does):
 *   linear_forward_<suffix>, linear_forward_packed_<suffix>, linear_input_grad_<suffix>,
 *   linear_param_grads_<suffix> and gemm_strided_<suffix>.
 *
 * Two register-tiled micro-kernels do the work:
 * - the backward products dx = g W and dW += g^T x stream rows of W or x, contiguous in
 *   the output's column direction, so they are rank-1 updates of a tile of the output
 *   held in registers (bcast_tile);
 * - the forward pass y = x W^T reads x and W along rows, both contiguous, so for small
 *   batches it is a tile of dot products (dot_tile) whose vector accumulators are reduced
 *   together at the end. For larger batches it transposes W a cache-sized block at a time
 *   into a panel on the stack (linear_forward_packed), which costs about as much as a few
 *   rows of the product, and uses bcast_tile, which has no reductions.
 * Batch 1 (matrix-vector) runs through the same kernels with one-row tiles, which stream
 * W exactly once.
 */

#define NNP_T_PASTE2(a, b) a##_##b
#define NNP_T_PASTE(a, b) NNP_T_PASTE2(a, b)
#define T(name) NNP_T_PASTE(name, NNP_T_SUFFIX)
#define TFN NNP_T_TARGET static
#define TINLINE NNP_T_TARGET NNP_INLINE

#define VLEN NNP_T_VLEN
#define BC_MR NNP_T_BC_MR
#define BC_NV 2
#define BC_NR (BC_NV * VLEN)
/* Rows of the reduction dimension per pass of the broadcast kernels: the B panel they
 * sweep (BC_KC rows of BC_NR floats, 12 KiB under AVX-512) stays in L1 next to the rows of
 * A. Measured on the article's layers: 96 beats 64, 128 and 256 (by up to 1.9x at 256). */
#define BC_KC 96
#define DOT_MR NNP_T_DOT_MR
#define DOT_NC (VLEN / DOT_MR)

/* ---- the vector vocabulary at this width ------------------------------------------------ */
/* Loads and stores are macros, not functions: passing a vector by value from code compiled
 * for a narrower ISA is an ABI hazard GCC warns about (-Wpsabi). */
#if VLEN > 1

typedef float T(vf) __attribute__((vector_size(VLEN * 4)));
typedef int T(vi) __attribute__((vector_size(VLEN * 4)));
typedef float T(vfu) __attribute__((vector_size(VLEN * 4), aligned(4), may_alias));
#define VF T(vf)
#define VI T(vi)
#define LOAD(p) (*(const T(vfu) *)(const void *)(p))
#define STORE(p, v) (*(T(vfu) *)(void *)(p) = (v))
#define ZERO ((VF){0})
/* Lanes i >= first all ones, the others zero; MASK_BELOW the opposite. */
#define MASK_FROM(first) (IOTA >= (int)(first))
#define MASK_BELOW(end) (IOTA < (int)(end))
/* Bitwise, so that a masked-out NaN or infinity cannot leak in as 0 * inf would. */
#define AND(v, m) ((VF)((VI)(v) & (m)))
#define SELECT(m, a, b) ((VF)(((VI)(a) & (m)) | ((VI)(b) & ~(m))))

#if defined(__clang__)
#define SHUF(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
#else
#define SHUF(a, b, ...) __builtin_shuffle((a), (b), (VI){__VA_ARGS__})
#endif

/* Reduction steps: each adds, lane by lane, the first and second halves of every group of
 * lanes of two vectors, packing both results into one vector. After log2(VLEN) steps on
 * VLEN accumulators, lane i holds the sum of all lanes of accumulator i. Every slot goes
 * through the same tree, so a dot product rounds the same in whatever tile it lands. */
#if VLEN == 16
#define SPLAT(s) ((VF){(s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s)})
#define IOTA ((VI){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#define RED_STEPS 4
/* Transpose steps (see T(transpose_block)): for groups of g lanes, TRANS_LO takes the first
 * half of each group of a then of b, group by group; TRANS_HI the second halves. */
#define TRANS_LO(g, a, b)                                                                      \
    ((g) == 16 ? SHUF(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)            \
     : (g) == 8 ? SHUF(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)         \
     : (g) == 4 ? SHUF(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)         \
                : SHUF(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30))
#define TRANS_HI(g, a, b)                                                                      \
    ((g) == 16 ? SHUF(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)      \
     : (g) == 8 ? SHUF(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)       \
     : (g) == 4 ? SHUF(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)       \
                : SHUF(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
#define RED_STEP(level, a, b)                                                                  \
    ((level) == 0 ? SHUF(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)          \
                        + SHUF(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31) \
     : (level) == 1 ? SHUF(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)      \
                        + SHUF(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31) \
     : (level) == 2 ? SHUF(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29)      \
                        + SHUF(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31) \
                    : SHUF(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)      \
                        + SHUF(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31))
#elif VLEN == 8
#define SPLAT(s) ((VF){(s), (s), (s), (s), (s), (s), (s), (s)})
#define IOTA ((VI){0, 1, 2, 3, 4, 5, 6, 7})
#define RED_STEPS 3
#define TRANS_LO(g, a, b)                                   \
    ((g) == 8 ? SHUF(a, b, 0, 1, 2, 3, 8, 9, 10, 11)       \
     : (g) == 4 ? SHUF(a, b, 0, 1, 8, 9, 4, 5, 12, 13)     \
                : SHUF(a, b, 0, 8, 2, 10, 4, 12, 6, 14))
#define TRANS_HI(g, a, b)                                   \
    ((g) == 8 ? SHUF(a, b, 4, 5, 6, 7, 12, 13, 14, 15)     \
     : (g) == 4 ? SHUF(a, b, 2, 3, 10, 11, 6, 7, 14, 15)   \
                : SHUF(a, b, 1, 9, 3, 11, 5, 13, 7, 15))
#define RED_STEP(level, a, b)                                                             \
    ((level) == 0   ? SHUF(a, b, 0, 1, 2, 3, 8, 9, 10, 11) + SHUF(a, b, 4, 5, 6, 7, 12, 13, 14, 15) \
     : (level) == 1 ? SHUF(a, b, 0, 1, 4, 5, 8, 9, 12, 13) + SHUF(a, b, 2, 3, 6, 7, 10, 11, 14, 15) \
                    : SHUF(a, b, 0, 2, 4, 6, 8, 10, 12, 14) + SHUF(a, b, 1, 3, 5, 7, 9, 11, 13, 15))
#elif VLEN == 4
#define SPLAT(s) ((VF){(s), (s), (s), (s)})
#define IOTA ((VI){0, 1, 2, 3})
#define RED_STEPS 2
#define TRANS_LO(g, a, b) ((g) == 4 ? SHUF(a, b, 0, 1, 4, 5) : SHUF(a, b, 0, 4, 2, 6))
#define TRANS_HI(g, a, b) ((g) == 4 ? SHUF(a, b, 2, 3, 6, 7) : SHUF(a, b, 1, 5, 3, 7))
#define RED_STEP(level, a, b) \
    ((level) == 0 ? SHUF(a, b, 0, 1, 4, 5) + SHUF(a, b, 2, 3, 6, 7) : SHUF(a, b, 0, 2, 4, 6) + SHUF(a, b, 1, 3, 5, 7))
#else
#error "NNP_T_VLEN must be 16, 8, 4 or 1"
#endif

#else /* VLEN == 1: plain C, for compilers without vector extensions */

#define VF float
#define VI int
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
#define ZERO 0.0f
#define SPLAT(s) (s)
#define MASK_FROM(first) ((first) <= 0)
#define MASK_BELOW(end) ((end) > 0)
#define AND(v, m) ((m) ? (v) : 0.0f)
#define SELECT(m, a, b) ((m) ? (a) : (b))
#define RED_STEPS 0
#define RED_STEP(level, a, b) ((a) + (b))
#define TRANS_LO(g, a, b) (a)
#define TRANS_HI(g, a, b) (b)

#endif

/* out[i] = sum of the lanes of acc[i], for i < VLEN: a halving tree of RED_STEPS levels;
 * level l combines pairs of the previous level's VLEN >> l vectors. */
TINLINE void T(reduce)(VF acc[VLEN], float *out)
{
    int count = VLEN;
    for (int level = 0; level < RED_STEPS; level++) {
        count /= 2;
        for (int i = 0; i < count; i++) acc[i] = RED_STEP(level, acc[2 * i], acc[2 * i + 1]);
    }
    STORE(out, acc[0]);
}

/* ---- forward: dot-product tiles ---------------------------------------------------------- */

/* out[r * nc + c] = x_r . w_c for r < mr, c < nc (mr * nc <= VLEN), over k >= VLEN.
 * The first `head` (< VLEN) elements are summed on their own, from a masked load, so
 * that the main loop's loads of w start at element `head`; see linear_forward. */
TINLINE void T(dot_tile)(const int mr, const int nc, ptrdiff_t k, ptrdiff_t head, const float *x,
                         ptrdiff_t ldx, const float *w, ptrdiff_t ldw, float *out)
{
    VF acc[VLEN];
    VF xv[VLEN];
    for (int i = 0; i < VLEN; i++) acc[i] = ZERO;
    if (head > 0) {
        const VI first = MASK_BELOW(head);
        for (int r = 0; r < mr; r++) xv[r] = AND(LOAD(x + r * ldx), first);
        for (int c = 0; c < nc; c++) {
            const VF wv = LOAD(w + c * ldw);
            for (int r = 0; r < mr; r++) acc[r * nc + c] += xv[r] * wv;
        }
    }
    ptrdiff_t p = head;
    for (; p + VLEN <= k; p += VLEN) {
        for (int r = 0; r < mr; r++) xv[r] = LOAD(x + r * ldx + p);
        for (int c = 0; c < nc; c++) {
            const VF wv = LOAD(w + c * ldw + p);
            for (int r = 0; r < mr; r++) acc[r * nc + c] += xv[r] * wv;
        }
    }
    if (p < k) {
        /* A partial last vector: reload the last full vector of each row, which stays in
         * bounds, and zero the lanes already counted. */
        const VI fresh = MASK_FROM(VLEN - (k - p));
        p = k - VLEN;
        for (int r = 0; r < mr; r++) xv[r] = AND(LOAD(x + r * ldx + p), fresh);
        for (int c = 0; c < nc; c++) {
            const VF wv = LOAD(w + c * ldw + p);
            for (int r = 0; r < mr; r++) acc[r * nc + c] += xv[r] * wv;
        }
    }
    T(reduce)(acc, out);
}

/* y[r, c] = x_r . w_c + b[c] for one tile. */
TINLINE void T(dot_tile_store)(const int mr, const int nc, ptrdiff_t k, ptrdiff_t head,
                               const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw, const float *b,
                               float *y, ptrdiff_t ldy)
{
    float out[VLEN];
    T(dot_tile)(mr, nc, k, head, x, ldx, w, ldw, out);
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nc; c++) y[r * ldy + c] = out[r * nc + c] + b[c];
}

/* One block of mr rows of y across all `cols` columns, in tiles nc wide. A partial last
 * tile is shifted left to end at the last column: the columns it computes again get the
 * same values, since every dot product is summed in the same order. */
TINLINE void T(dot_rows)(const int mr, const int nc, ptrdiff_t cols, ptrdiff_t k, ptrdiff_t head,
                         const float *x, ptrdiff_t ldx, const float *w, ptrdiff_t ldw, const float *b, float *y,
                         ptrdiff_t ldy)
{
    ptrdiff_t j = 0;
    for (; j + nc <= cols; j += nc)
        T(dot_tile_store)(mr, nc, k, head, x, ldx, w + j * ldw, ldw, b + j, y + j, ldy);
    if (j < cols) {
        j = cols - nc;
        T(dot_tile_store)(mr, nc, k, head, x, ldx, w + j * ldw, ldw, b + j, y + j, ldy);
    }
}

/* One row of y: the widest one-row tile that fits the columns. */
TINLINE void T(dot_row)(ptrdiff_t cols, ptrdiff_t k, ptrdiff_t head, const float *x,
                        const float *w, ptrdiff_t ldw, const float *b, float *y)
{
    if (cols >= VLEN)
        T(dot_rows)(1, VLEN, cols, k, head, x, 0, w, ldw, b, y, 0);
    else
        T(dot_rows)(1, 1, cols, k, head, x, 0, w, ldw, b, y, 0);
}

/* All n >= mr rows of y in blocks of mr, the leftover rows, like leftover columns, covered
 * by one block shifted back. */
TINLINE void T(dot_blocks)(const int mr, const int nc, ptrdiff_t n, ptrdiff_t cols, ptrdiff_t k,
                           ptrdiff_t head, const float *x, ptrdiff_t ldx, const float *w,
                           ptrdiff_t ldw, const float *b, float *y, ptrdiff_t ldy)
{
    ptrdiff_t i = 0;
    for (; i + mr <= n; i += mr)
        T(dot_rows)(mr, nc, cols, k, head, x + i * ldx, ldx, w, ldw, b, y + i * ldy, ldy);
    if (i < n) {
        i = n - mr;
        T(dot_rows)(mr, nc, cols, k, head, x + i * ldx, ldx, w, ldw, b, y + i * ldy, ldy);
    }
}

/* y = x W^T + b, x (n, k), W (cols, k), for k >= VLEN: tiles of DOT_MR rows by DOT_NC
 * columns, or for fewer columns than that, taller tiles of as many rows as fill the VLEN
 * dot products.
 * Every step loads vectors of both x and W, so vectors straddling two cache lines (rows of
 * numpy arrays are often only 16-byte aligned) cost double and make the kernel load-bound.
 * When all rows of W share one alignment, a short head makes the loads of W, which stream
 * from L2 while a block of x stays in L1, aligned; that recovers most of the loss. */
TFN void T(linear_forward)(ptrdiff_t n, ptrdiff_t k, ptrdiff_t cols, const float *x,
                           ptrdiff_t ldx, const float *w, ptrdiff_t ldw, const float *b, float *y,
                           ptrdiff_t ldy)
{
    const uintptr_t vbytes = VLEN * sizeof(float);
    ptrdiff_t head = 0;
    if ((uintptr_t)w % sizeof(float) == 0 && (uintptr_t)ldw * sizeof(float) % vbytes == 0)
        head = (ptrdiff_t)((vbytes - (uintptr_t)w % vbytes) % vbytes / sizeof(float));
    if (cols >= DOT_NC && n >= DOT_MR)
        T(dot_blocks)(DOT_MR, DOT_NC, n, cols, k, head, x, ldx, w, ldw, b, y, ldy);
#if VLEN > 1
    else if (cols == 1 && n >= VLEN)
        T(dot_blocks)(VLEN, 1, n, cols, k, head, x, ldx, w, ldw, b, y, ldy);
    else if (cols == 2 && n >= VLEN / 2)
        T(dot_blocks)(VLEN / 2, 2, n, cols, k, head, x, ldx, w, ldw, b, y, ldy);
    else if (cols == 3 && n >= VLEN / 4)
        T(dot_blocks)(VLEN / 4, 3, n, cols, k, head, x, ldx, w, ldw, b, y, ldy);
#endif
    else
        for (ptrdiff_t i = 0; i < n; i++) T(dot_row)(cols, k, head, x + i * ldx, w, ldw, b, y + i * ldy);
}

/* ---- backward: broadcast (rank-1 update) tiles -------------------------------------------- */

/* For r < mr and the nv vectors of columns at c:
 *   c[r, :] (+)= sum_{p < k} a(r, p) * b[p, :]  (+ bias),   a(r, p) = a[r * a_rs + p * a_ps].
 * The sum starts from zero and is added to c, then the bias (unless NULL), at the end, as
 * `(c + a @ b) + bias` rounds. Only columns [lo, hi) of the tile are written (and read from
 * c and bias): the first `lo` belong to the previous tile, and those from `hi` on, where
 * b is a zero-padded panel, do not exist. */
TINLINE void T(bcast_tile)(const int mr, const int nv, ptrdiff_t k, const float *a,
                           ptrdiff_t a_rs, ptrdiff_t a_ps, const float *b, ptrdiff_t ldb,
                           float *c, ptrdiff_t ldc, int accumulate, const float *bias,
                           ptrdiff_t lo, ptrdiff_t hi)
{
    VF acc[BC_MR][BC_NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = ZERO;
    for (ptrdiff_t p = 0; p < k; p++) {
        VF bv[BC_NV];
        for (int v = 0; v < nv; v++) bv[v] = LOAD(b + p * ldb + v * VLEN);
        for (int r = 0; r < mr; r++) {
            const float s = a[r * a_rs + p * a_ps];
            const VF as = SPLAT(s);
            for (int v = 0; v < nv; v++) acc[r][v] += as * bv[v];
        }
    }
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < nv; v++) {
            const ptrdiff_t first = v * VLEN;
            float *cp = c + r * ldc + first;
            if (first + VLEN <= hi) {
                VF res = acc[r][v];
                if (accumulate) res += LOAD(cp);
                if (bias != NULL) res += LOAD(bias + first);
                if (lo > first) res = SELECT(MASK_FROM(lo - first), res, LOAD(cp));
                STORE(cp, res);
            } else if (first < hi) {
                /* The last, partial vector of a padded panel, lane by lane. */
                float lanes[VLEN];
                STORE(lanes, acc[r][v]);
                for (ptrdiff_t l = lo > first ? lo - first : 0; l < hi - first; l++) {
                    float res = lanes[l];
                    if (accumulate) res += cp[l];
                    if (bias != NULL) res += bias[first + l];
                    cp[l] = res;
                }
            }
        }
    }
}

/* All rows of one column panel: blocks of BC_MR rows, then 4, 2 and 1 for the rest, so no
 * tile computes rows that do not exist (batch 1 costs one row, not BC_MR). Columns as in
 * T(bcast_tile). */
TINLINE void T(bcast_panel)(const int nv, ptrdiff_t m, ptrdiff_t k, const float *a,
                            ptrdiff_t a_rs, ptrdiff_t a_ps, const float *b, ptrdiff_t ldb,
                            float *c, ptrdiff_t ldc, int accumulate, const float *bias,
                            ptrdiff_t lo, ptrdiff_t hi)
{
    ptrdiff_t i = 0;
    for (; i + BC_MR <= m; i += BC_MR)
        T(bcast_tile)(BC_MR, nv, k, a + i * a_rs, a_rs, a_ps, b, ldb, c + i * ldc, ldc, accumulate,
                      bias, lo, hi);
    if (m - i >= 4) {
        T(bcast_tile)(4, nv, k, a + i * a_rs, a_rs, a_ps, b, ldb, c + i * ldc, ldc, accumulate, bias, lo, hi);
        i += 4;
    }
    if (m - i >= 2) {
        T(bcast_tile)(2, nv, k, a + i * a_rs, a_rs, a_ps, b, ldb, c + i * ldc, ldc, accumulate, bias, lo, hi);
        i += 2;
    }
    if (m - i >= 1)
        T(bcast_tile)(1, nv, k, a + i * a_rs, a_rs, a_ps, b, ldb, c + i * ldc, ldc, accumulate, bias, lo, hi);
}

/* All column panels nv vectors wide (cols >= nv * VLEN); a partial last panel is shifted
 * left to end at the last column and skips the columns the previous panel wrote. */
TINLINE void T(bcast_panels)(const int nv, ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k,
                             const float *a, ptrdiff_t a_rs, ptrdiff_t a_ps, const float *b,
                             ptrdiff_t ldb, float *c, ptrdiff_t ldc, int accumulate,
                             const float *bias)
{
    const ptrdiff_t width = nv * VLEN;
    ptrdiff_t j = 0;
    for (; j + width <= cols; j += width)
        T(bcast_panel)(nv, m, k, a, a_rs, a_ps, b + j, ldb, c + j, ldc, accumulate,
                       bias ? bias + j : NULL, 0, width);
    if (j < cols) {
        const ptrdiff_t skip = width - (cols - j);
        j = cols - width;
        T(bcast_panel)(nv, m, k, a, a_rs, a_ps, b + j, ldb, c + j, ldc, accumulate,
                       bias ? bias + j : NULL, skip, width);
    }
}

/* c (m, cols) (+)= A B (+ bias) for cols >= VLEN, A given by element strides, B (k, cols)
 * row-major, in passes of BC_KC rows of B; passes after the first always accumulate, and
 * the bias (unless NULL) is added in the last. */
TINLINE void T(bcast_gemm)(ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const float *a,
                           ptrdiff_t a_rs, ptrdiff_t a_ps, const float *b, ptrdiff_t ldb, float *c,
                           ptrdiff_t ldc, int accumulate, const float *bias)
{
    for (ptrdiff_t p = 0; p < k; p += BC_KC) {
        const ptrdiff_t kc = k - p < BC_KC ? k - p : BC_KC;
        const int acc = accumulate || p > 0;
        const float *last_bias = p + kc == k ? bias : NULL;
        if (cols >= BC_NR)
            T(bcast_panels)(BC_NV, m, cols, kc, a + p * a_ps, a_rs, a_ps, b + p * ldb, ldb, c, ldc,
                            acc, last_bias);
        else
            T(bcast_panels)(1, m, cols, kc, a + p * a_ps, a_rs, a_ps, b + p * ldb, ldb, c, ldc,
                            acc, last_bias);
    }
}

/* One step of T(transpose_block): rows g / 2 apart within each group of g rows exchange
 * their off-diagonal g / 2 blocks. A macro, so that g is a constant in every expansion and
 * each TRANS_LO / TRANS_HI folds to one shuffle instruction. */
#define TRANS_STAGE(r, g)                                                        \
    for (int base_ = 0; base_ < VLEN; base_ += (g)) {                           \
        for (int i_ = base_; i_ < base_ + (g) / 2; i_++) {                      \
            const VF lo_ = TRANS_LO((g), r[i_], r[i_ + (g) / 2]);               \
            const VF hi_ = TRANS_HI((g), r[i_], r[i_ + (g) / 2]);               \
            r[i_] = lo_;                                                        \
            r[i_ + (g) / 2] = hi_;                                              \
        }                                                                       \
    }

/* The VLEN x VLEN block in r transposed in registers: steps for g = VLEN, VLEN / 2, ..., 2
 * (the recursive 2 x 2 block transpose, done level by level). */
TINLINE void T(transpose_block)(VF r[VLEN])
{
#if VLEN >= 16
    TRANS_STAGE(r, 16)
#endif
#if VLEN >= 8
    TRANS_STAGE(r, 8)
#endif
#if VLEN >= 4
    TRANS_STAGE(r, 4)
    TRANS_STAGE(r, 2)
#endif
    (void)r;
}

/* wt (k, cols), rows ldt floats apart, = w^T for w (cols, k): whole VLEN x VLEN blocks in
 * registers, the ragged edges element by element. */
TINLINE void T(transpose)(ptrdiff_t cols, ptrdiff_t k, const float *w, ptrdiff_t ldw, float *wt,
                      ptrdiff_t ldt)
{
    ptrdiff_t j = 0;
    for (; j + VLEN <= cols; j += VLEN) {
        ptrdiff_t p = 0;
        for (; p + VLEN <= k; p += VLEN) {
            VF r[VLEN];
            for (int i = 0; i < VLEN; i++) r[i] = LOAD(w + (j + i) * ldw + p);
            T(transpose_block)(r);
            for (int i = 0; i < VLEN; i++) STORE(wt + (p + i) * ldt + j, r[i]);
        }
        for (; p < k; p++)
            for (int i = 0; i < VLEN; i++) wt[p * ldt + j + i] = w[(j + i) * ldw + p];
    }
    for (; j < cols; j++)
        for (ptrdiff_t p = 0; p < k; p++) wt[p * ldt + j] = w[j * ldw + p];
}

/* y = x W^T + b, x (n, k), W (cols, k), cols >= 1, with the backward kernels'
 * register tile, which needs no reduction at the end. Each block of BC_KC inputs by BC_NR
 * outputs of W is transposed into a panel on the stack, zero-padded to whole vectors, and
 * swept by all rows of x: W is read once, and no heap memory is needed. */
TFN void T(linear_forward_packed)(ptrdiff_t n, ptrdiff_t k, ptrdiff_t cols, const float *x,
                                  ptrdiff_t ldx, const float *w, ptrdiff_t ldw, const float *b,
                                  float *y, ptrdiff_t ldy)
{
    float panel[BC_KC * BC_NR] __attribute__((aligned(64)));
    for (ptrdiff_t p = 0; p < k; p += BC_KC) {
        const ptrdiff_t kc = k - p < BC_KC ? k - p : BC_KC;
        const float *last_bias = p + kc == k ? b : NULL;
        for (ptrdiff_t j = 0; j < cols; j += BC_NR) {
            const ptrdiff_t width = cols - j < BC_NR ? cols - j : BC_NR;
            const ptrdiff_t padded = (width + VLEN - 1) / VLEN * VLEN;
            T(transpose)(width, kc, w + j * ldw + p, ldw, panel, BC_NR);
            for (ptrdiff_t q = 0; q < kc; q++)
                for (ptrdiff_t l = width; l < padded; l++) panel[q * BC_NR + l] = 0.0f;
            const float *bias = last_bias ? last_bias + j : NULL;
            if (padded > VLEN)
                T(bcast_panel)(BC_NV, n, kc, x + p, ldx, 1, panel, BC_NR, y + j, ldy, p > 0, bias,
                               0, width);
            else
                T(bcast_panel)(1, n, kc, x + p, ldx, 1, panel, BC_NR, y + j, ldy, p > 0, bias, 0,
                               width);
        }
    }
}

/* c (m, cols) (+)= A B for cols >= VLEN, A given by element strides (matmul.h). */
TFN void T(gemm_strided)(ptrdiff_t m, ptrdiff_t cols, ptrdiff_t k, const float *a, ptrdiff_t a_rs,
                         ptrdiff_t a_ps, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc,
                         int accumulate)
{
    T(bcast_gemm)(m, cols, k, a, a_rs, a_ps, b, ldb, c, ldc, accumulate, NULL);
}

/* dx = g W: g (n, k), W (k, cols), cols >= VLEN, k >= 1. Element (r, p) of g is
 * g[r * ldg + p]; the constant stride lets the compiler address it directly. */
TFN void T(linear_input_grad)(ptrdiff_t n, ptrdiff_t cols, ptrdiff_t k, const float *g,
                              ptrdiff_t ldg, const float *w, ptrdiff_t ldw, float *dx,
                              ptrdiff_t lddx)
{
    T(bcast_gemm)(n, cols, k, g, ldg, 1, w, ldw, dx, lddx, 0, NULL);
}

/* dW += g^T x: g (n, m), x (n, cols), cols >= VLEN. Element (r, p) of g^T is g[p * ldg + r]. */
TFN void T(linear_param_grads)(ptrdiff_t n, ptrdiff_t cols, ptrdiff_t m, const float *g,
                               ptrdiff_t ldg, const float *x, ptrdiff_t ldx, float *dw,
                               ptrdiff_t lddw)
{
    T(bcast_gemm)(m, cols, n, g, 1, ldg, x, ldx, dw, lddw, 1, NULL);
}

#undef NNP_T_PASTE2
#undef NNP_T_PASTE
#undef T
#undef TFN
#undef TINLINE
#undef VLEN
#undef BC_MR
#undef BC_NV
#undef BC_NR
#undef BC_KC
#undef DOT_MR
#undef DOT_NC
#undef VF
#undef VI
#undef LOAD
#undef STORE
#undef ZERO
#undef SPLAT
#undef IOTA
#undef MASK_FROM
#undef MASK_BELOW
#undef AND
#undef SELECT
#undef SHUF
#undef RED_STEPS
#undef TRANS_LO
#undef TRANS_STAGE
#undef TRANS_HI
#undef RED_STEP
#undef NNP_T_SUFFIX
#undef NNP_T_TARGET
#undef NNP_T_VLEN
#undef NNP_T_BC_MR
#undef NNP_T_DOT_MR
