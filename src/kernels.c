/* kernels.c — every op's forward and backward, side by side (see kernels.h
 * for the conventions: dx written, parameter gradients added, re-entrant).
 * Batch norm is in kernels_bn.c, the conv engines in conv_*.c. */
#include "gradflow/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "conv.h"
#include "parallel.h"
#include "simd.h"

/* ---------------------------------------------------------------- conv2d */

/* The engines live in conv_*.c (conv.h); this picks one per shape. */

size_t gf_conv2d_scratch(int Ci, int H, int W, int Co, int K, int stride, int pad)
{
    size_t n = gf_conv_im2col_scratch(Ci, H, W, Co, K, stride, pad);
    if (gf_conv_winograd_applies(Ci, Co, K, stride, pad)) {
        size_t nw = gf_conv_winograd_scratch(Ci, H, W, Co);
        n = nw > n ? nw : n;
    }
    return n;
}

void gf_conv2d_forward(float *y, const float *x, const float *w, int B, int Ci, int H, int W,
                       int Co, int K, int stride, int pad, float *scratch)
{
    if (gf_conv_winograd_applies(Ci, Co, K, stride, pad))
        gf_conv_winograd_forward(y, x, w, B, Ci, H, W, Co, scratch);
    else
        gf_conv_im2col_forward(y, x, w, B, Ci, H, W, Co, K, stride, pad, scratch);
}

void gf_conv2d_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int B, int Ci, int H, int W, int Co, int K, int stride, int pad,
                        float *scratch)
{
    if (gf_conv_winograd_applies(Ci, Co, K, stride, pad))
        gf_conv_winograd_backward(dx, dw, dy, x, w, B, Ci, H, W, Co, scratch);
    else
        gf_conv_im2col_backward(dx, dw, dy, x, w, B, Ci, H, W, Co, K, stride, pad, scratch);
}

/* ------------------------------------------------------------------ relu */

/* Elementwise kernels split n into one contiguous range per thread. */
typedef struct ew_job {
    float *y;
    const float *a, *b;
    float alpha;
} ew_job;

/* Both operands are loaded unconditionally so the selects compile to
 * blends: a branch on the sign mispredicts half the time. */
static void relu_forward_range(void *ctx, size_t i0, size_t i1, int thread)
{
    const ew_job *j = ctx;
    (void)thread;
    for (size_t i = i0; i < i1; i++) {
        float v = j->a[i];
        j->y[i] = v > 0.0f ? v : 0.0f;
    }
}

static void relu_backward_range(void *ctx, size_t i0, size_t i1, int thread)
{
    const ew_job *j = ctx;
    (void)thread;
    for (size_t i = i0; i < i1; i++) {
        float g = j->a[i];
        j->y[i] = j->b[i] > 0.0f ? g : 0.0f;
    }
}

void gf_relu_forward(float *y, const float *x, size_t n)
{
    ew_job j = {.y = y, .a = x};
    gf_par_for(n, n > PAR_MIN, relu_forward_range, &j);
}

void gf_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
    ew_job j = {.y = dx, .a = dy, .b = y};
    gf_par_for(n, n > PAR_MIN, relu_backward_range, &j);
}

/* ------------------------------------------------------ option-A shortcut */

typedef struct shortcut_job {
    float *out;
    const float *in;
    int Ci, H, W, Co, stride;
} shortcut_job;

/* Images [b0, b1) of y = x[:, :, ::s, ::s] with (Co - Ci)/2 zero channels
 * each side (forward), or dx = its adjoint (backward). */
static void shortcut_images(const shortcut_job *j, size_t b0, size_t b1, int backward)
{
    int s = j->stride, H = j->H, W = j->W, Ho = (H + s - 1) / s, Wo = (W + s - 1) / s;
    int pad = (j->Co - j->Ci) / 2;
    size_t out = backward ? (size_t)j->Ci * H * W : (size_t)j->Co * Ho * Wo;
    memset(j->out + b0 * out, 0, sizeof(float) * (b1 - b0) * out);
    for (size_t b = b0; b < b1; b++)
        for (int c = 0; c < j->Ci; c++) {
            size_t xo = (b * j->Ci + c) * H * W, yo = (b * j->Co + c + pad) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int k = 0; k < Wo; k++) {
                    size_t xi = xo + (size_t)i * s * W + (size_t)k * s, yi = yo + (size_t)i * Wo + k;
                    if (backward)
                        j->out[xi] = j->in[yi];
                    else
                        j->out[yi] = j->in[xi];
                }
        }
}

static void shortcut_forward_images(void *ctx, size_t b0, size_t b1, int thread)
{
    (void)thread;
    shortcut_images(ctx, b0, b1, 0);
}

static void shortcut_backward_images(void *ctx, size_t b0, size_t b1, int thread)
{
    (void)thread;
    shortcut_images(ctx, b0, b1, 1);
}

void gf_shortcut_a_forward(float *y, const float *x, int B, int Ci, int H, int W, int Co,
                           int stride)
{
    shortcut_job j = {y, x, Ci, H, W, Co, stride};
    gf_par_for((size_t)B, (size_t)B * Ci * H * W > PAR_MIN, shortcut_forward_images, &j);
}

void gf_shortcut_a_backward(float *dx, const float *dy, int B, int Ci, int H, int W, int Co,
                            int stride)
{
    shortcut_job j = {dx, dy, Ci, H, W, Co, stride};
    gf_par_for((size_t)B, (size_t)B * Ci * H * W > PAR_MIN, shortcut_backward_images, &j);
}

/* -------------------------------------------------------------- avg pool */

typedef struct pool_job {
    float *out;
    const float *in;
    int HW;
} pool_job;

static void avgpool_forward_range(void *ctx, size_t bc0, size_t bc1, int thread)
{
    const pool_job *j = ctx;
    (void)thread;
    for (size_t bc = bc0; bc < bc1; bc++) {
        double s = 0.0;
        for (int i = 0; i < j->HW; i++)
            s += j->in[bc * j->HW + i];
        j->out[bc] = (float)(s / j->HW);
    }
}

static void avgpool_backward_range(void *ctx, size_t bc0, size_t bc1, int thread)
{
    const pool_job *j = ctx;
    (void)thread;
    for (size_t bc = bc0; bc < bc1; bc++) {
        float g = j->in[bc] / (float)j->HW;
        for (int i = 0; i < j->HW; i++)
            j->out[bc * j->HW + i] = g;
    }
}

void gf_avgpool_forward(float *y, const float *x, int B, int C, int HW)
{
    pool_job j = {y, x, HW};
    gf_par_for((size_t)B * C, (size_t)B * C * HW > PAR_MIN, avgpool_forward_range, &j);
}

void gf_avgpool_backward(float *dx, const float *dy, int B, int C, int HW)
{
    pool_job j = {dx, dy, HW};
    gf_par_for((size_t)B * C, (size_t)B * C * HW > PAR_MIN, avgpool_backward_range, &j);
}

/* ---------------------------------------------------------------- linear */

void gf_linear_forward(float *y, const float *x, const float *w, const float *b, int B, int In,
                       int O)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, In, 1.0f, x, In, w, In, 0.0f, y, O);
    if (b)
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++)
                y[(size_t)r * O + o] += b[o];
}

void gf_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int In, int O)
{
    if (dx) /* dx [B, In] = dy [B, O] · w [O, In] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, In, O, 1.0f, dy, O, w, In, 0.0f,
                    dx, In);
    if (dw) /* dw [O, In] += dyᵀ [O, B] · x [B, In] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, B, 1.0f, dy, O, x, In, 1.0f, dw,
                    In);
    if (db)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int r = 0; r < B; r++)
                s += dy[(size_t)r * O + o];
            db[o] += (float)s;
        }
}

/* ------------------------------------------------- softmax cross-entropy */

double gf_softmax_xent(float *dlogits, int *correct, const float *logits, const int32_t *labels,
                       int B, int K)
{
    double loss = 0.0;
    int right = 0;
    for (int r = 0; r < B; r++) {
        const float *z = logits + (size_t)r * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg])
                arg = k;
        right += arg == labels[r];
        double mx = z[arg], sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += exp((double)z[k] - mx);
        double lse = mx + log(sum);
        loss += lse - z[labels[r]];
        if (dlogits)
            for (int k = 0; k < K; k++) {
                double p = exp((double)z[k] - lse);
                dlogits[(size_t)r * K + k] = (float)((p - (k == labels[r])) / B);
            }
    }
    if (correct)
        *correct = right;
    return loss / B;
}

/* ------------------------------------------------------------ elementwise */

static void add_range(void *ctx, size_t i0, size_t i1, int thread)
{
    const ew_job *j = ctx;
    (void)thread;
    for (size_t i = i0; i < i1; i++)
        j->y[i] = j->a[i] + j->b[i];
}

static void axpy_range(void *ctx, size_t i0, size_t i1, int thread)
{
    const ew_job *j = ctx;
    (void)thread;
    for (size_t i = i0; i < i1; i++)
        j->y[i] += j->alpha * j->a[i];
}

void gf_add(float *y, const float *a, const float *b, size_t n)
{
    ew_job j = {.y = y, .a = a, .b = b};
    gf_par_for(n, n > PAR_MIN, add_range, &j);
}

void gf_axpy(float *y, float alpha, const float *x, size_t n)
{
    ew_job j = {.y = y, .a = x, .alpha = alpha};
    gf_par_for(n, n > PAR_MIN, axpy_range, &j);
}

/* Reductions for norms: fixed chunks of DOT_CHUNK floats (the partition
 * never depends on the thread count, so neither does the result), each
 * summed per block of 256 in 16 float lanes (two 8-lane accumulators,
 * simd.h) folded into double — ~1e-7 relative, and vectorised on any
 * x86-64 (AVX2 where the CPU has it) with the same bits. */
#define DOT_CHUNK 65536
#define DOT_MAX_CHUNKS 4096

GF_SIMD_CLONES
static double dot_block(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        size_t m = n - i0 < 256 ? n - i0 : 256, i = 0;
        gf_v8f acc0 = {0}, acc1 = {0};
        for (; i + 16 <= m; i += 16) {
            gf_v8f a0, a1, b0, b1;
            GF_V8F_LOAD(a0, a + i0 + i), GF_V8F_LOAD(a1, a + i0 + i + 8);
            GF_V8F_LOAD(b0, b + i0 + i), GF_V8F_LOAD(b1, b + i0 + i + 8);
            acc0 += a0 * b0, acc1 += a1 * b1;
        }
        for (int k = 0; k < 8; k++)
            s += (double)acc0[k] + acc1[k];
        for (; i < m; i++)
            s += (double)a[i0 + i] * b[i0 + i];
    }
    return s;
}

/* One chunk of gf_dot: ctx holds the two vectors. */
static void dot_chunk(const void *ctx, size_t lo, size_t len, void *part)
{
    const float *const *ab = ctx;
    *(double *)part = dot_block(ab[0] + lo, ab[1] + lo, len);
}

double gf_dot(const float *a, const float *b, size_t n)
{
    double part[DOT_MAX_CHUNKS];
    const float *ab[2] = {a, b};
    size_t chunks = gf_par_chunks(n, DOT_CHUNK, DOT_MAX_CHUNKS, n > PAR_MIN, dot_chunk, ab,
                                  part, sizeof part[0]);
    double s = 0.0;
    for (size_t c = 0; c < chunks; c++) /* in chunk order: deterministic */
        s += part[c];
    return s;
}

double gf_norm2(const float *a, size_t n) { return sqrt(gf_dot(a, a, n)); }
