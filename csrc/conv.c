/* Convolution and pooling kernels.
 *
 * A convolution is computed as matrix products over "patches": row (image, oy, ox) of the
 * patch matrix P holds, in (channel, ky, kx) order, the window of the padded image under
 * output pixel (oy, ox), so that with the weights W seen as (oc, c*kh*kw) rows:
 *   outputs (pixels, oc)  = P W^T + b   (nnp_linear_forward)
 *   patch gradients       = G W         (nnp_linear_input_grad), added back into the image
 *   dW += G^T P, db += G summed         (nnp_linear_param_grads)
 * where G is the output gradient with one row per pixel. The register-tiled matrix
 * kernels of matmul.c do all the arithmetic. Images go through in chunks whose patches
 * fit in a scratch buffer of about CHUNK_FLOATS, so that they stay in cache between
 * being written and being read. With threads > 1, large batches are split by images over
 * up to that many POSIX threads, each with its own scratch (and, for the parameter
 * gradients, its own accumulators, added up at the end: results then differ from one
 * thread's in the last bits).
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
                for (ptrdiff_t ch = 0; ch < g->c; ch++) {
                    for (ptrdiff_t ky = 0; ky < g->kh; ky++) {
                        float *dst = row + (ch * g->kh + ky) * g->kw;
                        const ptrdiff_t y = oy * g->sh - g->ph + ky;
                        if (y < 0 || y >= g->h) {
                            for (ptrdiff_t kx = 0; kx < g->kw; kx++) dst[kx] = 0.0f;
                            continue;
                        }
                        const float *src = image + (ch * g->h + y) * g->w;
                        for (ptrdiff_t kx = 0; kx < first; kx++) dst[kx] = 0.0f;
                        for (ptrdiff_t kx = first; kx < end; kx++) dst[kx] = src[x0 + kx];
                        for (ptrdiff_t kx = end; kx < g->kw; kx++) dst[kx] = 0.0f;
                    }
                }
            }
        }
    }
}

/* Adds patch gradients p back into the (zeroed) image gradients dx of `images` images. */
static void col2im(const struct geometry *g, ptrdiff_t images, const float *p, float *dx)
{
    for (ptrdiff_t im = 0; im < images; im++) {
        float *image = dx + im * g->c * g->h * g->w;
        for (ptrdiff_t oy = 0; oy < g->oh; oy++) {
            for (ptrdiff_t ox = 0; ox < g->ow; ox++) {
                const float *row = p + ((im * g->oh + oy) * g->ow + ox) * g->patch;
                const ptrdiff_t x0 = ox * g->sw - g->pw;
                ptrdiff_t first, end;
                inside(x0, g->kw, g->w, &first, &end);
                for (ptrdiff_t ch = 0; ch < g->c; ch++) {
                    for (ptrdiff_t ky = 0; ky < g->kh; ky++) {
                        const ptrdiff_t y = oy * g->sh - g->ph + ky;
                        if (y < 0 || y >= g->h) continue;
                        const float *src = row + (ch * g->kh + ky) * g->kw;
                        float *dst = image + (ch * g->h + y) * g->w;
                        for (ptrdiff_t kx = first; kx < end; kx++) dst[x0 + kx] += src[kx];
                    }
                }
            }
        }
    }
}

/* Images (images, oc, pixels) from pixel rows (images * pixels, oc), and back. */
static void rows_to_images(const struct geometry *g, ptrdiff_t images, const float *rows, float *y)
{
    for (ptrdiff_t im = 0; im < images; im++)
        for (ptrdiff_t o = 0; o < g->oc; o++) {
            float *dst = y + (im * g->oc + o) * g->pixels;
            const float *src = rows + im * g->pixels * g->oc + o;
            for (ptrdiff_t q = 0; q < g->pixels; q++) dst[q] = src[q * g->oc];
        }
}

static void images_to_rows(const struct geometry *g, ptrdiff_t images, const float *y, float *rows)
{
    for (ptrdiff_t im = 0; im < images; im++)
        for (ptrdiff_t o = 0; o < g->oc; o++) {
            const float *src = y + (im * g->oc + o) * g->pixels;
            float *dst = rows + im * g->pixels * g->oc + o;
            for (ptrdiff_t q = 0; q < g->pixels; q++) dst[q * g->oc] = src[q];
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
    float *patches, *rows;   /* scratch: one chunk of patches and of pixel rows */
    int status;
};

static void run_job(struct job *j)
{
    const struct geometry *g = j->g;
    const ptrdiff_t image = g->c * g->h * g->w, output = g->oc * g->pixels;
    if (j->kind == INPUT_GRAD && j->last > j->first)
        memset(j->dx + j->first * image, 0, (size_t)((j->last - j->first) * image) * sizeof(float));
    j->status = NNP_OK;
    for (ptrdiff_t first = j->first; first < j->last && j->status == NNP_OK; first += g->chunk) {
        const ptrdiff_t images = j->last - first < g->chunk ? j->last - first : g->chunk;
        const ptrdiff_t count = images * g->pixels;
        switch (j->kind) {
        case FORWARD:
            im2col(g, images, j->x + first * image, j->patches);
            j->status = nnp_linear_forward(count, g->patch, g->oc, j->patches, g->patch,
                                           j->weights, g->patch, j->bias, j->rows, g->oc);
            rows_to_images(g, images, j->rows, j->y + first * output);
            break;
        case INPUT_GRAD:
            images_to_rows(g, images, j->g_out + first * output, j->rows);
            j->status = nnp_linear_input_grad(count, g->patch, g->oc, j->rows, g->oc, j->weights,
                                              g->patch, j->patches, g->patch);
            col2im(g, images, j->patches, j->dx + first * image);
            break;
        case PARAM_GRADS:
            im2col(g, images, j->x + first * image, j->patches);
            images_to_rows(g, images, j->g_out + first * output, j->rows);
            j->status = nnp_linear_param_grads(count, g->patch, g->oc, j->rows, g->oc, j->patches,
                                               g->patch, j->dw, g->patch, j->db);
            break;
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
    const ptrdiff_t scratch = g->chunk * g->pixels * (g->patch + g->oc);
    const ptrdiff_t accumulators = proto->kind == PARAM_GRADS ? g->oc * g->patch + g->oc : 0;
    float *block = calloc((size_t)(t * scratch + (t - 1) * accumulators + 1), sizeof(float));
    if (block == NULL) return NNP_CONV_NOMEM;
    struct job jobs[MAX_THREADS];
    for (int k = 0; k < t; k++) {
        jobs[k] = *proto;
        jobs[k].first = g->n * k / t;
        jobs[k].last = g->n * (k + 1) / t;
        jobs[k].patches = block + k * scratch;
        jobs[k].rows = jobs[k].patches + g->chunk * g->pixels * g->patch;
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
 * 1 and 2 get their own copies). NaN wins (and stays) as soon as it appears, as in NumPy. */

#define POOL_ROW 256

NNP_INLINE void row_maxima_at_stride(const float *top, ptrdiff_t count, ptrdiff_t w,
                                     ptrdiff_t kh, ptrdiff_t kw, const ptrdiff_t sw,
                                     float *best, ptrdiff_t *at)
{
    for (ptrdiff_t i = 0; i < count; i++) {
        best[i] = top[i * sw];
        at[i] = 0;
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
                at[i] = take ? offset : at[i];
            }
        }
}

/* best[i] = the maximum of window i of a row of count <= POOL_ROW windows, sw pixels
 * apart, the first with its top-left pixel at `top`; at[i] = the offset from that pixel of
 * the first position (row-major) holding it. */
NNP_CLONES
static void row_maxima(const float *top, ptrdiff_t count, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw,
                       ptrdiff_t sw, float *best, ptrdiff_t *at)
{
    if (sw == 1)
        row_maxima_at_stride(top, count, w, kh, kw, 1, best, at);
    else if (sw == 2)
        row_maxima_at_stride(top, count, w, kh, kw, 2, best, at);
    else
        row_maxima_at_stride(top, count, w, kh, kw, sw, best, at);
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
    ptrdiff_t at[POOL_ROW];
    for (ptrdiff_t plane = 0; plane < n * c; plane++)
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox += POOL_ROW) {
                const ptrdiff_t count = g.ow - ox < POOL_ROW ? g.ow - ox : POOL_ROW;
                row_maxima(x + plane * h * w + oy * sh * w + ox * sw, count, w, kh, kw, sw,
                           y + (plane * g.oh + oy) * g.ow + ox, at);
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
    memset(dx, 0, (size_t)image_floats(&g) * sizeof(float));
    float best[POOL_ROW];
    ptrdiff_t at[POOL_ROW];
    for (ptrdiff_t plane = 0; plane < n * c; plane++)
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox += POOL_ROW) {
                const ptrdiff_t count = g.ow - ox < POOL_ROW ? g.ow - ox : POOL_ROW;
                const ptrdiff_t top = plane * h * w + oy * sh * w + ox * sw;
                const float *grad = g_out + (plane * g.oh + oy) * g.ow + ox;
                row_maxima(x + top, count, w, kh, kw, sw, best, at);
                /* Overlapping windows may pick the same pixel: add, one window at a time. */
                for (ptrdiff_t i = 0; i < count; i++) dx[top + i * sw + at[i]] += grad[i];
            }
    return NNP_OK;
}
