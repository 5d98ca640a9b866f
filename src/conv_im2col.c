/* conv_im2col.c — convolution as im2col + sgemm, one image per sgemm.
 *
 * Images are split statically over the threads; each thread owns an im2col
 * buffer and calls a single-threaded sgemm, which on this problem size beats
 * one threaded sgemm over the batch (no fork/join per product, and the
 * column matrix stays in the thread's cache). Used for every conv Winograd
 * does not cover: the 3-channel stem, stride 2, 1×1 shortcuts. */
#include "conv.h"

#include <cblas.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "parallel.h"

static int min_int(int a, int b) { return a < b ? a : b; }

/* Output columns j whose input column j*s - p + kj lies in [0, W): [*j0, *j1). */
static void valid_cols(int *j0, int *j1, int W, int Wo, int s, int p, int kj)
{
    int a = p - kj, b = W - 1 + p - kj;
    *j0 = a <= 0 ? 0 : min_int(Wo, (a + s - 1) / s);
    *j1 = b < 0 ? 0 : min_int(Wo, b / s + 1);
    if (*j1 < *j0)
        *j1 = *j0;
}

/* col [Ci*K*K, Ho*Wo]: row (c, ki, kj) holds x[c, i*s - p + ki, j*s - p + kj]
 * for every output pixel (i, j), zero outside the image. x is one image. */
static void im2col(float *col, const float *x, int Ci, int H, int W, int K, int s, int p, int Ho,
                   int Wo)
{
    for (int c = 0; c < Ci; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * Ho * Wo;
                int j0, j1;
                valid_cols(&j0, &j1, W, Wo, s, p, kj);
                for (int i = 0; i < Ho; i++) {
                    int y = i * s - p + ki;
                    float *r = row + (size_t)i * Wo;
                    if (y < 0 || y >= H) {
                        memset(r, 0, sizeof(float) * Wo);
                        continue;
                    }
                    const float *xr = x + ((size_t)c * H + y) * W; /* x[c, y, j*s + kj - p] */
                    memset(r, 0, sizeof(float) * j0);
                    if (s == 1)
                        memcpy(r + j0, xr + j0 + kj - p, sizeof(float) * (j1 - j0));
                    else
                        for (int j = j0; j < j1; j++)
                            r[j] = xr[j * s + kj - p];
                    memset(r + j1, 0, sizeof(float) * (Wo - j1));
                }
            }
}

/* The adjoint of im2col: dx[c, y, x] = Σ of every col entry that copied it. */
static void col2im(float *dx, const float *col, int Ci, int H, int W, int K, int s, int p, int Ho,
                   int Wo)
{
    memset(dx, 0, sizeof(float) * (size_t)Ci * H * W);
    for (int c = 0; c < Ci; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * Ho * Wo;
                int j0, j1;
                valid_cols(&j0, &j1, W, Wo, s, p, kj);
                for (int i = 0; i < Ho; i++) {
                    int y = i * s - p + ki;
                    if (y < 0 || y >= H)
                        continue;
                    const float *r = row + (size_t)i * Wo;
                    float *xr = dx + ((size_t)c * H + y) * W;
                    for (int j = j0; j < j1; j++)
                        xr[j * s + kj - p] += r[j];
                }
            }
}

/* 1×1, stride 1, no padding: the image itself is the im2col matrix. */
static int is_pointwise(int K, int stride, int pad) { return K == 1 && stride == 1 && pad == 0; }

size_t gf_conv_im2col_scratch(int Ci, int H, int W, int Co, int K, int stride, int pad)
{
    size_t P = (size_t)gf_conv_out(H, K, stride, pad) * gf_conv_out(W, K, stride, pad);
    size_t R = (size_t)Ci * K * K;
    return (size_t)gf_par_threads() * 2 * R * P + (size_t)GF_CONV_GROUPS * Co * R;
}

/* One conv call's arguments, shared by the threads. */
typedef struct im2col_job {
    float *y, *dx, *parts, *scratch;
    const float *x, *w, *dy;
    int B, Ci, H, W, Co, K, stride, pad, G;
} im2col_job;

static int out_rows(const im2col_job *j) { return gf_conv_out(j->H, j->K, j->stride, j->pad); }
static int out_cols(const im2col_job *j) { return gf_conv_out(j->W, j->K, j->stride, j->pad); }

/* Thread t's im2col buffers: col [R, P] then dcol [R, P]. */
static float *thread_col(const im2col_job *j, int t)
{
    size_t P = (size_t)out_rows(j) * out_cols(j);
    return j->scratch + (size_t)t * 2 * j->Ci * j->K * j->K * P;
}

/* Images [b0, b1): y_b [Co, P] = w [Co, R] · col [R, P]. */
static void forward_images(void *ctx, size_t b0, size_t b1, int t)
{
    const im2col_job *j = ctx;
    int Ho = out_rows(j), Wo = out_cols(j);
    int P = Ho * Wo, R = j->Ci * j->K * j->K;
    float *col = thread_col(j, t);
    for (size_t b = b0; b < b1; b++) {
        const float *xb = j->x + b * j->Ci * j->H * j->W, *c = xb;
        if (!is_pointwise(j->K, j->stride, j->pad)) {
            im2col(col, xb, j->Ci, j->H, j->W, j->K, j->stride, j->pad, Ho, Wo);
            c = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->Co, P, R, 1.0f, j->w, R, c, P,
                    0.0f, j->y + b * j->Co * P, P);
    }
}

void gf_conv_im2col_forward(float *y, const float *x, const float *w, int B, int Ci, int H,
                            int W, int Co, int K, int stride, int pad, float *scratch)
{
    im2col_job j = {.y = y, .scratch = scratch, .x = x, .w = w, .B = B, .Ci = Ci, .H = H,
                    .W = W, .Co = Co, .K = K, .stride = stride, .pad = pad};
    int serial = gf_blas_serial_begin();
    gf_par_for((size_t)B, B > 1, forward_images, &j);
    gf_blas_serial_end(serial);
}

/* One image's backward: part [Co, R] (+= unless first, then =) gets
 * dy_b [Co, P] · col [R, P]ᵀ; dx_b = col2im(w [Co, R]ᵀ · dy_b). */
static void image_backward(const im2col_job *j, int b, float *part, int first, float *col)
{
    int Ho = out_rows(j), Wo = out_cols(j);
    int P = Ho * Wo, R = j->Ci * j->K * j->K, pointwise = is_pointwise(j->K, j->stride, j->pad);
    const float *xb = j->x + (size_t)b * j->Ci * j->H * j->W, *dyb = j->dy + (size_t)b * j->Co * P;
    float *dcol = col + (size_t)R * P;
    if (part) {
        const float *c = xb;
        if (!pointwise) {
            im2col(col, xb, j->Ci, j->H, j->W, j->K, j->stride, j->pad, Ho, Wo);
            c = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->Co, R, P, 1.0f, dyb, P, c, P,
                    first ? 0.0f : 1.0f, part, R);
    }
    if (j->dx) {
        float *dxb = j->dx + (size_t)b * j->Ci * j->H * j->W;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, P, j->Co, 1.0f, j->w, R, dyb, P,
                    0.0f, pointwise ? dxb : dcol, P);
        if (!pointwise)
            col2im(dxb, dcol, j->Ci, j->H, j->W, j->K, j->stride, j->pad, Ho, Wo);
    }
}

typedef struct reduce_job {
    float *dst;
    const float *src;
    int G;
    size_t n;
} reduce_job;

static void reduce_range(void *ctx, size_t i0, size_t i1, int t)
{
    const reduce_job *j = ctx;
    (void)t;
    for (size_t i = i0; i < i1; i++) {
        float s = j->src[i];
        for (int g = 1; g < j->G; g++)
            s += j->src[(size_t)g * j->n + i];
        j->dst[i] += s;
    }
}

/* dst[i] += Σ_g src[g·n + i] over the G group partials, g in order. */
static void reduce_groups(float *dst, const float *src, int G, size_t n)
{
    reduce_job j = {dst, src, G, n};
    gf_par_for(n, n > 4096, reduce_range, &j);
}

/* Groups [g0, g1): group g takes images [g·B/G, (g+1)·B/G) and sums its dw
 * into parts + g·Co·R. */
static void backward_groups(void *ctx, size_t g0, size_t g1, int t)
{
    const im2col_job *j = ctx;
    size_t n = (size_t)j->Co * j->Ci * j->K * j->K;
    for (size_t g = g0; g < g1; g++) {
        int b0 = (int)(g * j->B / j->G), b1 = (int)((g + 1) * j->B / j->G);
        for (int b = b0; b < b1; b++)
            image_backward(j, b, j->parts ? j->parts + g * n : NULL, b == b0, thread_col(j, t));
    }
}

void gf_conv_im2col_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, int B, int Ci, int H, int W, int Co, int K,
                             int stride, int pad, float *scratch)
{
    size_t P = (size_t)gf_conv_out(H, K, stride, pad) * gf_conv_out(W, K, stride, pad);
    size_t R = (size_t)Ci * K * K;
    im2col_job j = {.dx = dx, .scratch = scratch, .x = x, .w = w, .dy = dy, .B = B, .Ci = Ci,
                    .H = H, .W = W, .Co = Co, .K = K, .stride = stride, .pad = pad,
                    .G = min_int(GF_CONV_GROUPS, B)};
    j.parts = dw ? scratch + (size_t)gf_par_threads() * 2 * R * P : NULL;
    int serial = gf_blas_serial_begin();
    gf_par_for((size_t)j.G, j.G > 1, backward_groups, &j);
    gf_blas_serial_end(serial);
    if (dw)
        reduce_groups(dw, j.parts, j.G, (size_t)Co * R);
}

