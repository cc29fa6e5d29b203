/* Convolution and pooling kernels.
 *
 * A convolution is computed as matrix products over "patches": row (image, oy, ox) of the
 * patch matrix P holds, in (channel, ky, kx) order, the window of the padded image under
 * output pixel (oy, ox), so that with the weights W seen as (oc, c*kh*kw) rows:
 *   outputs (oc, pixels)  = W P^T + b   (nnp_linear_input_grad's product, image by image)
 *   patch gradients       = G W         (nnp_linear_input_grad), added back into the image
 *   dW += G^T P, db += G summed         (nnp_linear_param_grads)
 * where G is the output gradient with one row per pixel. The forward pass builds P^T, whose
 * rows are runs of output pixels, so that its product is already in the image layout; the
 * backward passes build P. The register-tiled matrix kernels of matmul.c do all the
 * arithmetic. Images go through in chunks whose patches fit in a scratch buffer of about
 * CHUNK_FLOATS, so that they stay in cache between being written and being read. With
 * threads > 1, large batches are split by images over up to that many POSIX threads, each
 * with its own scratch (and, for the parameter gradients, its own accumulators, added up
 * at the end: results then differ from one thread's in the last bits).
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#define NNP_HAVE_THREADS 1
#include <pthread.h>
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnplug_kernels.h"
#include "nnplug_conv.h"
#include "checks.h"
#include "matmul.h"

#define CHUNK_FLOATS ((ptrdiff_t)1 << 17)

/* The sizes of one convolution or pool, checked. */
struct geometry {
    ptrdiff_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw;
    ptrdiff_t oh, ow;      /* output rows and columns */
    ptrdiff_t pixels;      /* oh * ow */
    ptrdiff_t patch;       /* c * kh * kw: one row of P */
    ptrdiff_t chunk;       /* images per chunk */
};

static int make_geometry(struct geometry *g, ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                         ptrdiff_t oc, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,
                         ptrdiff_t ph, ptrdiff_t pw)
{
    if (n < 0 || c < 0 || h < 0 || w < 0 || oc < 0 || kh < 1 || kw < 1 || sh < 1 || sw < 1
        || ph < 0 || pw < 0)
        return NNP_ERR_SIZE;
    if (h + 2 * ph < kh || w + 2 * pw < kw) return NNP_ERR_SIZE;
    g->n = n; g->c = c; g->h = h; g->w = w; g->oc = oc;
    g->kh = kh; g->kw = kw; g->sh = sh; g->sw = sw; g->ph = ph; g->pw = pw;
    g->oh = (h + 2 * ph - kh) / sh + 1;
    g->ow = (w + 2 * pw - kw) / sw + 1;
    g->pixels = g->oh * g->ow;
    g->patch = c * kh * kw;
    const ptrdiff_t per_image = g->pixels * (g->patch > oc ? g->patch : oc);
    g->chunk = per_image > 0 && per_image < CHUNK_FLOATS ? CHUNK_FLOATS / per_image : 1;
    if (g->chunk > n) g->chunk = n > 0 ? n : 1;
    return NNP_OK;
}

/* The columns kx of a window row starting at image column x0 that fall inside the image:
 * [*first, *end), clamped to [0, kw). */
static void inside(ptrdiff_t x0, ptrdiff_t kw, ptrdiff_t w, ptrdiff_t *first, ptrdiff_t *end)
{
    ptrdiff_t a = x0 < 0 ? -x0 : 0;
    ptrdiff_t b = w - x0 < kw ? w - x0 : kw;
    if (a > kw) a = kw;
    if (b < a) b = a;
    *first = a;
    *end = b;
}

/* dst[i] = src[i] for i < kw: one row of a window that lies wholly inside the image. The
 * usual kernel widths get copies with a constant trip count, which the compiler turns into
 * a few vector moves instead of a loop. */
NNP_INLINE void window_row(float *dst, const float *src, ptrdiff_t kw)
{
#define NNP_WINDOW_ROW(k)                                                                      \
    for (ptrdiff_t i = 0; i < (k); i++) dst[i] = src[i];                                     \
    return;
    switch (kw) {
    case 2: NNP_WINDOW_ROW(2)
    case 3: NNP_WINDOW_ROW(3)
    case 5: NNP_WINDOW_ROW(5)
    case 7: NNP_WINDOW_ROW(7)
    default: NNP_WINDOW_ROW(kw)
    }
#undef NNP_WINDOW_ROW
}

/* P for `images` images starting at x (each c*h*w floats). */
static void im2col(const struct geometry *g, ptrdiff_t images, const float *x, float *p)
{
    for (ptrdiff_t im = 0; im < images; im++) {
        const float *image = x + im * g->c * g->h * g->w;
        for (ptrdiff_t oy = 0; oy < g->oh; oy++) {
            for (ptrdiff_t ox = 0; ox < g->ow; ox++) {
                float *row = p + ((im * g->oh + oy) * g->ow + ox) * g->patch;
                const ptrdiff_t x0 = ox * g->sw - g->pw;
                ptrdiff_t first, end;
                inside(x0, g->kw, g->w, &first, &end);
                const int whole = first == 0 && end == g->kw;
                for (ptrdiff_t ch = 0; ch < g->c; ch++) {
                    for (ptrdiff_t ky = 0; ky < g->kh; ky++) {
                        float *dst = row + (ch * g->kh + ky) * g->kw;
                        const ptrdiff_t y = oy * g->sh - g->ph + ky;
                        if (y < 0 || y >= g->h) {
                            for (ptrdiff_t kx = 0; kx < g->kw; kx++) dst[kx] = 0.0f;
                            continue;
                        }
                        const float *src = image + (ch * g->h + y) * g->w;
                        if (whole) {
                            window_row(dst, src + x0, g->kw);
                            continue;
                        }
                        for (ptrdiff_t kx = 0; kx < first; kx++) dst[kx] = 0.0f;
                        for (ptrdiff_t kx = first; kx < end; kx++) dst[kx] = src[x0 + kx];
                        for (ptrdiff_t kx = end; kx < g->kw; kx++) dst[kx] = 0.0f;
                    }
                }
            }
        }
    }
}

/* dst[i] = src[i] (add: dst[i] += src[i]) for i < n, in blocks of 8 with a constant trip
 * count, which the compiler turns into vector moves; runs of output pixels are short (8 in
 * the CNN recipe's second layer), too short for a loop with a run-time bound to pay off. */
NNP_INLINE void copy_run(float *restrict dst, const float *restrict src, ptrdiff_t n, const int add)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) dst[i + l] = add ? dst[i + l] + src[i + l] : src[i + l];
    for (; i < n; i++) dst[i] = add ? dst[i] + src[i] : src[i];
}

/* The output columns [lo, hi) whose pixel x = ox * sw + shift, for a window column at
 * `shift` from the window's left edge (kx - pw), lies inside the image. */
static void plane_columns(const struct geometry *g, ptrdiff_t shift, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t a = shift < 0 ? (-shift + g->sw - 1) / g->sw : 0;
    ptrdiff_t b = g->w - shift > 0 ? (g->w - shift + g->sw - 1) / g->sw : 0;
    if (b > g->ow) b = g->ow;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* The columns of P for one image, as (patch, pixels) planes: row (channel, ky, kx) holds
 * that window position's pixel for every output pixel, so that with stride 1 each output
 * row's run of pixels is one contiguous copy. */
static void im2col_planes(const struct geometry *g, const float *image, float *planes)
{
    for (ptrdiff_t ch = 0; ch < g->c; ch++)
        for (ptrdiff_t ky = 0; ky < g->kh; ky++)
            for (ptrdiff_t kx = 0; kx < g->kw; kx++) {
                float *plane = planes + ((ch * g->kh + ky) * g->kw + kx) * g->pixels;
                const ptrdiff_t shift = kx - g->pw;
                ptrdiff_t lo, hi;
                plane_columns(g, shift, &lo, &hi);
                for (ptrdiff_t oy = 0; oy < g->oh; oy++) {
                    float *dst = plane + oy * g->ow;
                    const ptrdiff_t y = oy * g->sh - g->ph + ky;
                    if (y < 0 || y >= g->h) {
                        for (ptrdiff_t ox = 0; ox < g->ow; ox++) dst[ox] = 0.0f;
                        continue;
                    }
                    const float *src = image + (ch * g->h + y) * g->w;
                    for (ptrdiff_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (g->sw == 1)
                        copy_run(dst + lo, src + lo + shift, hi - lo, 0);
                    else
                        for (ptrdiff_t ox = lo; ox < hi; ox++) dst[ox] = src[ox * g->sw + shift];
                    for (ptrdiff_t ox = hi; ox < g->ow; ox++) dst[ox] = 0.0f;
                }
            }
}

/* One image's outputs (oc, pixels) = W (oc, patch) times its planes (patch, pixels), plus
 * the bias of each channel: the image layout directly, with no pixel rows to transpose. */
static void forward_image(const struct geometry *g, const float *image, const float *weights,
                          const float *bias, float *planes, float *y)
{
    im2col_planes(g, image, planes);
    nnp_gemm_strided(g->oc, g->pixels, g->patch, weights, g->patch, 1, planes, g->pixels, y,
                     g->pixels, 0);
    for (ptrdiff_t o = 0; o < g->oc; o++)
        for (ptrdiff_t q = 0; q < g->pixels; q++) y[o * g->pixels + q] += bias[o];
}

/* Adds one image's plane gradients (patch, pixels) back into its image gradient dx. */
static void col2im_planes(const struct geometry *g, const float *planes, float *dx)
{
    for (ptrdiff_t ch = 0; ch < g->c; ch++)
        for (ptrdiff_t ky = 0; ky < g->kh; ky++)
            for (ptrdiff_t kx = 0; kx < g->kw; kx++) {
                const float *plane = planes + ((ch * g->kh + ky) * g->kw + kx) * g->pixels;
                const ptrdiff_t shift = kx - g->pw;
                ptrdiff_t lo, hi;
                plane_columns(g, shift, &lo, &hi);
                for (ptrdiff_t oy = 0; oy < g->oh; oy++) {
                    const ptrdiff_t y = oy * g->sh - g->ph + ky;
                    if (y < 0 || y >= g->h) continue;
                    const float *src = plane + oy * g->ow;
                    float *dst = dx + (ch * g->h + y) * g->w;
                    if (g->sw == 1)
                        copy_run(dst + lo + shift, src + lo, hi - lo, 1);
                    else
                        for (ptrdiff_t ox = lo; ox < hi; ox++) dst[ox * g->sw + shift] += src[ox];
                }
            }
}

/* Spans of the arrays, for the overlap checks. */
static ptrdiff_t image_floats(const struct geometry *g) { return g->n * g->c * g->h * g->w; }
static ptrdiff_t output_floats(const struct geometry *g) { return g->n * g->oc * g->pixels; }
static ptrdiff_t weight_floats(const struct geometry *g) { return g->oc * g->patch; }

static int overlaps(const float *a, ptrdiff_t size_a, const float *b, ptrdiff_t size_b)
{
    return nnp_overlap(a, 1, size_a, size_a, b, 1, size_b, size_b);
}

/* ---- the three products, over a range of images --------------------------------------- */

enum job_kind { FORWARD, INPUT_GRAD, PARAM_GRADS };

/* One thread's share of a call: images [first, last), with its own scratch. */
struct job {
    const struct geometry *g;
    enum job_kind kind;
    ptrdiff_t first, last;
    const float *x, *weights, *bias, *g_out;
    float *y, *dx, *dw, *db; /* dw, db: this job's accumulators */
    float *patches;          /* scratch: one chunk of P, or one image's P^T */
    float *sums, *zeros;     /* scratch for weight gradients from P^T: (oc, patch), (patch) */
    int status;
};

/* The sum of one channel's pixels, in vector lanes (one chain of additions would wait on
 * each addition in turn). */
NNP_CLONES
static float pixel_sum(const struct geometry *g, const float *channel)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (ptrdiff_t q = 0; q < g->pixels; q++) sum += channel[q];
    return sum;
}

/* From this many output pixels on, an image's weight gradients are dot products of rows of
 * G with rows of P^T, as long as the pixels: on the 576 pixels of a 5x5 convolution of
 * 28x28 images into 32 channels, where P's rows are only 25 wide, 61 against 45 GFLOP/s
 * for G P (one thread, AVX-512). */
#define PLANE_GRADS_MIN_PIXELS 256

/* dW += G P for one image, from its planes P^T: the dot-product kernel of a dense layer,
 * with the pixels as inputs, into `sums`, then added. */
static int plane_weight_grads(const struct geometry *g, const float *g_image, const float *planes,
                              const float *zeros, float *sums, float *dw)
{
    const int status = nnp_linear_forward(g->oc, g->pixels, g->patch, g_image, g->pixels, planes,
                                          g->pixels, zeros, sums, g->patch);
    if (status != NNP_OK) return status;
    for (ptrdiff_t i = 0; i < g->oc * g->patch; i++) dw[i] += sums[i];
    return NNP_OK;
}

static void run_job(struct job *j)
{
    const struct geometry *g = j->g;
    const ptrdiff_t image = g->c * g->h * g->w, output = g->oc * g->pixels;
    if (j->kind == INPUT_GRAD && j->last > j->first)
        memset(j->dx + j->first * image, 0, (size_t)((j->last - j->first) * image) * sizeof(float));
    const int from_planes = g->pixels >= PLANE_GRADS_MIN_PIXELS;
    j->status = NNP_OK;
    for (ptrdiff_t first = j->first; first < j->last && j->status == NNP_OK; first += g->chunk) {
        const ptrdiff_t images = j->last - first < g->chunk ? j->last - first : g->chunk;
        if (j->kind == PARAM_GRADS && !from_planes)
            im2col(g, images, j->x + first * image, j->patches);
        for (ptrdiff_t im = first; im < first + images; im++) {
            const float *g_image = j->g_out + im * output;
            switch (j->kind) {
            case FORWARD:
                forward_image(g, j->x + im * image, j->weights, j->bias, j->patches,
                              j->y + im * output);
                break;
            case INPUT_GRAD:
                /* The planes' gradients W^T G, then back into the image. */
                nnp_gemm_strided(g->patch, g->pixels, g->oc, j->weights, 1, g->patch, g_image,
                                 g->pixels, j->patches, g->pixels, 0);
                col2im_planes(g, j->patches, j->dx + im * image);
                break;
            case PARAM_GRADS: {
                /* dW += G P over this image's pixels; db += G summed over them. */
                if (from_planes) {
                    im2col_planes(g, j->x + im * image, j->patches);
                    j->status = plane_weight_grads(g, g_image, j->patches, j->zeros, j->sums,
                                                   j->dw);
                } else {
                    const float *rows = j->patches + (im - first) * g->pixels * g->patch;
                    nnp_gemm_strided(g->oc, g->patch, g->pixels, g_image, g->pixels, 1, rows,
                                     g->patch, j->dw, g->patch, 1);
                }
                for (ptrdiff_t o = 0; o < g->oc; o++) j->db[o] += pixel_sum(g, g_image + o * g->pixels);
                break;
            }
            }
        }
    }
}

#if defined(NNP_HAVE_THREADS)
static void *job_thread(void *job)
{
    run_job(job);
    return NULL;
}
#endif

#define MAX_THREADS 8
/* Multiply-adds a thread must have to be worth starting (tens of microseconds). */
#define MIN_WORK_PER_THREAD ((ptrdiff_t)1 << 21)

static int threads_for(const struct geometry *g, int threads)
{
    const ptrdiff_t work = g->n * g->pixels * g->patch * (g->oc > 0 ? g->oc : 1);
    ptrdiff_t useful = work / MIN_WORK_PER_THREAD;
    if (useful > g->n) useful = g->n;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
#if !defined(NNP_HAVE_THREADS)
    threads = 1;
#endif
    return useful < 2 || threads < 2 ? 1 : (int)(useful < threads ? useful : threads);
}

/* Splits the images of `proto` over up to `threads` jobs and runs them. All memory is
 * allocated before anything is written, so NNP_CONV_NOMEM leaves the outputs untouched. */
static int run(const struct geometry *g, int threads, const struct job *proto)
{
    const int t = threads_for(g, threads);
    const ptrdiff_t scratch = g->chunk * g->pixels * g->patch + g->oc * g->patch + g->patch;
    const ptrdiff_t accumulators = proto->kind == PARAM_GRADS ? g->oc * g->patch + g->oc : 0;
    /* The scratch is written before it is read; only the extra accumulators start at zero. */
    float *block = malloc((size_t)(t * scratch + (t - 1) * accumulators + 1) * sizeof(float));
    if (block == NULL) return NNP_CONV_NOMEM;
    memset(block + t * scratch, 0, (size_t)((t - 1) * accumulators) * sizeof(float));
    struct job jobs[MAX_THREADS];
    for (int k = 0; k < t; k++) {
        jobs[k] = *proto;
        jobs[k].first = g->n * k / t;
        jobs[k].last = g->n * (k + 1) / t;
        jobs[k].patches = block + k * scratch;
        jobs[k].sums = jobs[k].patches + g->chunk * g->pixels * g->patch;
        jobs[k].zeros = jobs[k].sums + g->oc * g->patch;
        memset(jobs[k].zeros, 0, (size_t)g->patch * sizeof(float));
        if (k > 0 && proto->kind == PARAM_GRADS) {
            jobs[k].dw = block + t * scratch + (k - 1) * accumulators;
            jobs[k].db = jobs[k].dw + g->oc * g->patch;
        }
    }
#if defined(NNP_HAVE_THREADS)
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int k = 1; k < t; k++) started[k] = pthread_create(&ids[k], NULL, job_thread, &jobs[k]) == 0;
    run_job(&jobs[0]);
    for (int k = 1; k < t; k++) {
        if (started[k])
            pthread_join(ids[k], NULL);
        else
            run_job(&jobs[k]); /* no thread: do its share here */
    }
#else
    for (int k = 0; k < t; k++) run_job(&jobs[k]);
#endif
    int status = NNP_OK;
    for (int k = 0; k < t; k++)
        if (status == NNP_OK) status = jobs[k].status;
    for (int k = 1; k < t && proto->kind == PARAM_GRADS; k++) {
        for (ptrdiff_t i = 0; i < g->oc * g->patch; i++) proto->dw[i] += jobs[k].dw[i];
        for (ptrdiff_t i = 0; i < g->oc; i++) proto->db[i] += jobs[k].db[i];
    }
    free(block);
    return status;
}

/* ---- entry points ---------------------------------------------------------------------- */

int nnp_conv2d_forward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                       ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                       ptrdiff_t pw, const float *x, const float *weights, const float *bias,
                       float *y, int threads)
{
    struct geometry g;
    int status = make_geometry(&g, n, c, h, w, oc, kh, kw, sh, sw, ph, pw);
    if (status != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(weight_floats(&g), weights)) != NNP_OK) return status;
    if ((status = nnp_check_vector(oc, bias)) != NNP_OK) return status;
    if ((status = nnp_check_vector(output_floats(&g), y)) != NNP_OK) return status;
    if (overlaps(y, output_floats(&g), x, image_floats(&g))
        || overlaps(y, output_floats(&g), weights, weight_floats(&g))
        || overlaps(y, output_floats(&g), bias, oc))
        return NNP_ERR_ALIAS;
    if (output_floats(&g) == 0) return NNP_OK;
    const struct job job = {.g = &g, .kind = FORWARD, .x = x, .weights = weights, .bias = bias,
                            .y = y};
    return run(&g, threads, &job);
}

int nnp_conv2d_input_grad(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                          ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                          ptrdiff_t pw, const float *g_out, const float *weights, float *dx,
                          int threads)
{
    struct geometry g;
    int status = make_geometry(&g, n, c, h, w, oc, kh, kw, sh, sw, ph, pw);
    if (status != NNP_OK) return status;
    if ((status = nnp_check_vector(output_floats(&g), g_out)) != NNP_OK) return status;
    if ((status = nnp_check_vector(weight_floats(&g), weights)) != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), dx)) != NNP_OK) return status;
    if (overlaps(dx, image_floats(&g), g_out, output_floats(&g))
        || overlaps(dx, image_floats(&g), weights, weight_floats(&g)))
        return NNP_ERR_ALIAS;
    if (image_floats(&g) == 0) return NNP_OK;
    const struct job job = {.g = &g, .kind = INPUT_GRAD, .g_out = g_out, .weights = weights,
                            .dx = dx};
    return run(&g, threads, &job);
}

int nnp_conv2d_param_grads(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                           ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                           ptrdiff_t pw, const float *g_out, const float *x, float *dw, float *db,
                           int threads)
{
    struct geometry g;
    int status = make_geometry(&g, n, c, h, w, oc, kh, kw, sh, sw, ph, pw);
    if (status != NNP_OK) return status;
    if ((status = nnp_check_vector(output_floats(&g), g_out)) != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(weight_floats(&g), dw)) != NNP_OK) return status;
    if ((status = nnp_check_vector(oc, db)) != NNP_OK) return status;
    if (overlaps(dw, weight_floats(&g), g_out, output_floats(&g))
        || overlaps(dw, weight_floats(&g), x, image_floats(&g))
        || overlaps(dw, weight_floats(&g), db, oc) || overlaps(db, oc, g_out, output_floats(&g))
        || overlaps(db, oc, x, image_floats(&g)))
        return NNP_ERR_ALIAS;
    if (output_floats(&g) == 0) return NNP_OK;
    const struct job job = {.g = &g, .kind = PARAM_GRADS, .g_out = g_out, .x = x, .dw = dw,
                            .db = db};
    return run(&g, threads, &job);
}

/* ---- max pooling ----------------------------------------------------------------------- */
/* Both passes take a row of up to POOL_ROW windows at a time and sweep the window
 * positions (ky, kx) across it, so that the inner loop is a branch-free select over
 * evenly spaced pixels, which the compiler vectorises when it knows the spacing (strides
 * 1 and 2 get their own copies); 2x2 windows at stride 2 have their own kernels. NaN wins
 * (and stays) as soon as it appears, as in NumPy. */

#define POOL_ROW 256

/* best[i] = the maximum of window i of a row of count <= POOL_ROW windows, sw pixels
 * apart, the first with its top-left pixel at `top`; if `track`, at[i] = the offset from
 * that pixel of the first position (row-major) holding it. */
NNP_INLINE void row_maxima_at_stride(const float *top, ptrdiff_t count, ptrdiff_t w,
                                     ptrdiff_t kh, ptrdiff_t kw, const ptrdiff_t sw,
                                     float *best, ptrdiff_t *at, const int track)
{
    for (ptrdiff_t i = 0; i < count; i++) {
        best[i] = top[i * sw];
        if (track) at[i] = 0;
    }
    for (ptrdiff_t ky = 0; ky < kh; ky++)
        for (ptrdiff_t kx = 0; kx < kw; kx++) {
            const ptrdiff_t offset = ky * w + kx;
            const float *shifted = top + offset;
            for (ptrdiff_t i = 0; i < count; i++) {
                const float v = shifted[i * sw], b = best[i];
                /* !(v <= b) is v > b or v NaN; b == b keeps a NaN maximum. */
                const int take = b == b && !(v <= b);
                best[i] = take ? v : b;
                if (track) at[i] = take ? offset : at[i];
            }
        }
}

/* The forward pass needs only the maxima, the backward pass also where they are. */
#define NNP_ROW_MAXIMA(name, track)                                                             \
    NNP_CLONES                                                                                   \
    static void name(const float *top, ptrdiff_t count, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, \
                     ptrdiff_t sw, float *best, ptrdiff_t *at)                                   \
    {                                                                                            \
        if (sw == 1)                                                                             \
            row_maxima_at_stride(top, count, w, kh, kw, 1, best, at, track);                     \
        else if (sw == 2)                                                                        \
            row_maxima_at_stride(top, count, w, kh, kw, 2, best, at, track);                     \
        else                                                                                     \
            row_maxima_at_stride(top, count, w, kh, kw, sw, best, at, track);                    \
    }
NNP_ROW_MAXIMA(row_maxima, 0)
NNP_ROW_MAXIMA(row_maxima_and_places, 1)
#undef NNP_ROW_MAXIMA

/* 2x2 windows at stride 2, the usual pooling, one plane of h x w pixels at a time: each
 * window's four pixels in row-major order with the same select as above, in one pass; four
 * windows at a time in 128-bit vectors (even and odd columns split by shuffles), where the
 * compiler has vector extensions. */
#define NNP_TAKE(v, b) ((b) == (b) && !((v) <= (b)))

/* pool_max for the one window at column ox of a row pair. */
NNP_INLINE float pool_max1(const float *r0, const float *r1, ptrdiff_t ox, int *at)
{
    const float p[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
    float b = p[0];
    int where = 0;
    for (int k = 1; k < 4; k++)
        if (NNP_TAKE(p[k], b)) b = p[k], where = k;
    *at = where;
    return b;
}

#if NNP_VECTOR_EXT
typedef float nnp_pool_vf __attribute__((vector_size(16)));
typedef int nnp_pool_vi __attribute__((vector_size(16)));
#if defined(__clang__)
#define NNP_POOL_SHUF(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
#else
#define NNP_POOL_SHUF(a, b, ...) __builtin_shuffle((a), (b), (nnp_pool_vi){__VA_ARGS__})
#endif

NNP_INLINE nnp_pool_vf pool_load(const float *p)
{
    nnp_pool_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

NNP_INLINE void pool_store(float *p, nnp_pool_vf v) { memcpy(p, &v, sizeof v); }

/* Lanes where v replaces the running maximum b: NNP_TAKE lane by lane. */
NNP_INLINE nnp_pool_vi pool_take(nnp_pool_vf v, nnp_pool_vf b) { return (b == b) & ~(v <= b); }

NNP_INLINE nnp_pool_vf pool_select(nnp_pool_vi m, nnp_pool_vf a, nnp_pool_vf b)
{
    return (nnp_pool_vf)((m & (nnp_pool_vi)a) | (~m & (nnp_pool_vi)b));
}

/* The four pixels of windows ox .. ox + 3 of a row pair, as (top-left, top-right,
 * bottom-left, bottom-right) vectors. */
NNP_INLINE void pool_quad(const float *r0, const float *r1, ptrdiff_t ox, nnp_pool_vf p[4])
{
    const nnp_pool_vf a0 = pool_load(r0 + 2 * ox), a1 = pool_load(r0 + 2 * ox + 4);
    const nnp_pool_vf c0 = pool_load(r1 + 2 * ox), c1 = pool_load(r1 + 2 * ox + 4);
    p[0] = NNP_POOL_SHUF(a0, a1, 0, 2, 4, 6);
    p[1] = NNP_POOL_SHUF(a0, a1, 1, 3, 5, 7);
    p[2] = NNP_POOL_SHUF(c0, c1, 0, 2, 4, 6);
    p[3] = NNP_POOL_SHUF(c0, c1, 1, 3, 5, 7);
}
/* The maximum of each window's four pixels, the first of them (row-major) where they tie,
 * and, unless `at` is NULL, which one it is (0-3). */
NNP_INLINE nnp_pool_vf pool_max(const nnp_pool_vf p[4], nnp_pool_vi *at)
{
    nnp_pool_vf b = p[0];
    nnp_pool_vi where = {0, 0, 0, 0};
    for (int k = 1; k < 4; k++) {
        const nnp_pool_vi take = pool_take(p[k], b);
        b = pool_select(take, p[k], b);
        where = (take & k) | (~take & where);
    }
    if (at != NULL) *at = where;
    return b;
}
#define NNP_POOL_VECTOR 4
#else
#define NNP_POOL_VECTOR 0
#endif

NNP_CLONES
static void pool2x2_forward(ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh,
                            ptrdiff_t ow, const float *x, float *y)
{
    for (ptrdiff_t plane = 0; plane < planes; plane++)
        for (ptrdiff_t oy = 0; oy < oh; oy++) {
            const float *r0 = x + plane * h * w + 2 * oy * w, *r1 = r0 + w;
            float *out = y + (plane * oh + oy) * ow;
            ptrdiff_t ox = 0;
#if NNP_VECTOR_EXT
            for (; ox + NNP_POOL_VECTOR <= ow; ox += NNP_POOL_VECTOR) {
                nnp_pool_vf p[4];
                pool_quad(r0, r1, ox, p);
                pool_store(out + ox, pool_max(p, NULL));
            }
#endif
            for (int at; ox < ow; ox++) out[ox] = pool_max1(r0, r1, ox, &at);
        }
}

/* Its gradient for images of even height and width, which the windows tile exactly: each
 * window's gradient goes to the first pixel holding its maximum and zero to its other
 * three, so every pixel of dx is written once. */
NNP_CLONES
static void pool2x2_backward(ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh,
                             ptrdiff_t ow, const float *x, const float *g_out, float *dx)
{
    for (ptrdiff_t plane = 0; plane < planes; plane++)
        for (ptrdiff_t oy = 0; oy < oh; oy++) {
            const ptrdiff_t top = plane * h * w + 2 * oy * w;
            const float *r0 = x + top, *r1 = r0 + w;
            float *d0 = dx + top, *d1 = d0 + w;
            const float *grad = g_out + (plane * oh + oy) * ow;
            ptrdiff_t ox = 0;
#if NNP_VECTOR_EXT
            for (; ox + NNP_POOL_VECTOR <= ow; ox += NNP_POOL_VECTOR) {
                nnp_pool_vf p[4];
                nnp_pool_vi at;
                pool_quad(r0, r1, ox, p);
                pool_max(p, &at);
                const nnp_pool_vf g = pool_load(grad + ox), zero = {0, 0, 0, 0};
                nnp_pool_vf q[4];
                for (int k = 0; k < 4; k++) q[k] = pool_select(at == k, g, zero);
                pool_store(d0 + 2 * ox, NNP_POOL_SHUF(q[0], q[1], 0, 4, 1, 5));
                pool_store(d0 + 2 * ox + 4, NNP_POOL_SHUF(q[0], q[1], 2, 6, 3, 7));
                pool_store(d1 + 2 * ox, NNP_POOL_SHUF(q[2], q[3], 0, 4, 1, 5));
                pool_store(d1 + 2 * ox + 4, NNP_POOL_SHUF(q[2], q[3], 2, 6, 3, 7));
            }
#endif
            for (; ox < ow; ox++) {
                int at;
                pool_max1(r0, r1, ox, &at);
                const float gv = grad[ox];
                d0[2 * ox] = at == 0 ? gv : 0.0f;
                d0[2 * ox + 1] = at == 1 ? gv : 0.0f;
                d1[2 * ox] = at == 2 ? gv : 0.0f;
                d1[2 * ox + 1] = at == 3 ? gv : 0.0f;
            }
        }
}
#undef NNP_TAKE

static int is_pool2x2(ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw)
{
    return kh == 2 && kw == 2 && sh == 2 && sw == 2;
}

static int pool_geometry(struct geometry *g, ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                         ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw)
{
    /* A pool has the geometry of a convolution with c output channels and no padding. */
    return make_geometry(g, n, c, h, w, c, kh, kw, sh, sw, 0, 0);
}

int nnp_maxpool2d_forward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh,
                          ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, const float *x, float *y)
{
    struct geometry g;
    int status = pool_geometry(&g, n, c, h, w, kh, kw, sh, sw);
    if (status != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(output_floats(&g), y)) != NNP_OK) return status;
    if (overlaps(y, output_floats(&g), x, image_floats(&g))) return NNP_ERR_ALIAS;
    if (is_pool2x2(kh, kw, sh, sw)) {
        pool2x2_forward(n * c, h, w, g.oh, g.ow, x, y);
        return NNP_OK;
    }
    for (ptrdiff_t plane = 0; plane < n * c; plane++)
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox += POOL_ROW) {
                const ptrdiff_t count = g.ow - ox < POOL_ROW ? g.ow - ox : POOL_ROW;
                row_maxima(x + plane * h * w + oy * sh * w + ox * sw, count, w, kh, kw, sw,
                           y + (plane * g.oh + oy) * g.ow + ox, NULL);
            }
    return NNP_OK;
}

int nnp_maxpool2d_backward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh,
                           ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, const float *x,
                           const float *g_out, float *dx)
{
    struct geometry g;
    int status = pool_geometry(&g, n, c, h, w, kh, kw, sh, sw);
    if (status != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), x)) != NNP_OK) return status;
    if ((status = nnp_check_vector(output_floats(&g), g_out)) != NNP_OK) return status;
    if ((status = nnp_check_vector(image_floats(&g), dx)) != NNP_OK) return status;
    if (overlaps(dx, image_floats(&g), x, image_floats(&g))
        || overlaps(dx, image_floats(&g), g_out, output_floats(&g)))
        return NNP_ERR_ALIAS;
    if (image_floats(&g) == 0) return NNP_OK;
    if (is_pool2x2(kh, kw, sh, sw) && h % 2 == 0 && w % 2 == 0) {
        pool2x2_backward(n * c, h, w, g.oh, g.ow, x, g_out, dx);
        return NNP_OK;
    }
    memset(dx, 0, (size_t)image_floats(&g) * sizeof(float));
    float best[POOL_ROW];
    ptrdiff_t at[POOL_ROW];
    for (ptrdiff_t plane = 0; plane < n * c; plane++)
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox += POOL_ROW) {
                const ptrdiff_t count = g.ow - ox < POOL_ROW ? g.ow - ox : POOL_ROW;
                const ptrdiff_t top = plane * h * w + oy * sh * w + ox * sw;
                const float *grad = g_out + (plane * g.oh + oy) * g.ow + ox;
                row_maxima_and_places(x + top, count, w, kh, kw, sw, best, at);
                /* Overlapping windows may pick the same pixel: add, one window at a time. */
                for (ptrdiff_t i = 0; i < count; i++) dx[top + i * sw + at[i]] += grad[i];
            }
    return NNP_OK;
}
