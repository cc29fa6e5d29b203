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
 * being written and being read.
 */
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

/* Scratch for one chunk: its patches (pixels * patch floats per image) and its pixel rows
 * (pixels * oc per image), or NULL. */
static float *scratch(const struct geometry *g, float **rows)
{
    const size_t patches = (size_t)(g->chunk * g->pixels * g->patch);
    float *block = malloc((patches + (size_t)(g->chunk * g->pixels * g->oc) + 1) * sizeof(float));
    *rows = block == NULL ? NULL : block + patches;
    return block;
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

int nnp_conv2d_forward(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                       ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                       ptrdiff_t pw, const float *x, const float *weights, const float *bias,
                       float *y)
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

    float *rows;
    float *patches = scratch(&g, &rows);
    if (patches == NULL) return NNP_CONV_NOMEM;
    for (ptrdiff_t first = 0; first < n && status == NNP_OK; first += g.chunk) {
        const ptrdiff_t images = n - first < g.chunk ? n - first : g.chunk;
        const ptrdiff_t count = images * g.pixels;
        im2col(&g, images, x + first * c * h * w, patches);
        status = nnp_linear_forward(count, g.patch, oc, patches, g.patch, weights, g.patch, bias,
                                    rows, oc);
        rows_to_images(&g, images, rows, y + first * oc * g.pixels);
    }
    free(patches);
    return status;
}

int nnp_conv2d_input_grad(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                          ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                          ptrdiff_t pw, const float *g_out, const float *weights, float *dx)
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

    float *rows;
    float *patches = scratch(&g, &rows);
    if (patches == NULL) return NNP_CONV_NOMEM;
    memset(dx, 0, (size_t)image_floats(&g) * sizeof(float));
    for (ptrdiff_t first = 0; first < n && status == NNP_OK; first += g.chunk) {
        const ptrdiff_t images = n - first < g.chunk ? n - first : g.chunk;
        const ptrdiff_t count = images * g.pixels;
        images_to_rows(&g, images, g_out + first * oc * g.pixels, rows);
        status = nnp_linear_input_grad(count, g.patch, oc, rows, oc, weights, g.patch, patches,
                                       g.patch);
        col2im(&g, images, patches, dx + first * c * h * w);
    }
    free(patches);
    return status;
}

int nnp_conv2d_param_grads(ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oc,
                           ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,
                           ptrdiff_t pw, const float *g_out, const float *x, float *dw, float *db)
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

    float *rows;
    float *patches = scratch(&g, &rows);
    if (patches == NULL) return NNP_CONV_NOMEM;
    for (ptrdiff_t first = 0; first < n && status == NNP_OK; first += g.chunk) {
        const ptrdiff_t images = n - first < g.chunk ? n - first : g.chunk;
        const ptrdiff_t count = images * g.pixels;
        im2col(&g, images, x + first * c * h * w, patches);
        images_to_rows(&g, images, g_out + first * oc * g.pixels, rows);
        status = nnp_linear_param_grads(count, g.patch, oc, rows, oc, patches, g.patch, dw,
                                        g.patch, db);
    }
    free(patches);
    return status;
}

/* ---- max pooling ----------------------------------------------------------------------- */

/* The offset, within a channel of h x w pixels, of the first maximum of the window whose
 * top-left pixel is at `top`; NaN wins (and stays) as soon as it appears, as in NumPy. */
static ptrdiff_t window_argmax(const float *channel, ptrdiff_t top, ptrdiff_t w, ptrdiff_t kh,
                               ptrdiff_t kw)
{
    ptrdiff_t best_at = top;
    float best = channel[top];
    for (ptrdiff_t ky = 0; ky < kh; ky++)
        for (ptrdiff_t kx = 0; kx < kw; kx++) {
            const ptrdiff_t at = top + ky * w + kx;
            const float v = channel[at];
            if (best == best && (v > best || v != v)) {
                best = v;
                best_at = at;
            }
        }
    return best_at;
}

/* A pool has the geometry of a convolution with as many output channels as input ones
 * and no padding. */
static int pool_geometry(struct geometry *g, ptrdiff_t n, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,
                         ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw)
{
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
    for (ptrdiff_t plane = 0; plane < n * c; plane++) {
        const float *channel = x + plane * h * w;
        float *out = y + plane * g.pixels;
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox++)
                out[oy * g.ow + ox] =
                    channel[window_argmax(channel, oy * sh * w + ox * sw, w, kh, kw)];
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
    for (ptrdiff_t plane = 0; plane < n * c; plane++) {
        const float *channel = x + plane * h * w;
        const float *grad = g_out + plane * g.pixels;
        float *out = dx + plane * h * w;
        for (ptrdiff_t oy = 0; oy < g.oh; oy++)
            for (ptrdiff_t ox = 0; ox < g.ow; ox++)
                out[window_argmax(channel, oy * sh * w + ox * sw, w, kh, kw)] +=
                    grad[oy * g.ow + ox];
    }
    return NNP_OK;
}
