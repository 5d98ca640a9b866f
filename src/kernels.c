/* kernels.c — every op's forward and backward, side by side (see kernels.h
 * for the conventions: dx written, parameter gradients added, re-entrant). */
#include "gradflow/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "conv.h"
#include "parallel.h"
#include "simd.h"

/* Below PAR_MIN floats of work a kernel stays on the calling thread: waking
 * the team would cost more than it saves. */
#define PAR_MIN 32768

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

/* ------------------------------------------------------------ batch norm */

/* Channels are split statically over the threads and each channel's sums run
 * on one thread in a fixed order, so the statistics do not depend on the
 * thread count. Sums go into LANES interleaved double accumulators: one
 * running sum is bound by the add latency, and the fixed interleave keeps
 * the order (and so the result) deterministic. */
#define LANES 8

static double lanes_total(const double a[LANES])
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* a[l] += d, q[l] += d² with d = x[i] - K for i ≡ l (mod LANES), one row of
 * n floats. x86-64 always has SSE2, and GCC does not keep these double
 * sums of converted floats in registers on its own (it spills them every
 * iteration), so the lane loop is spelled out in intrinsics; the portable
 * loop below computes the same lanes in the same order. */
static void row_moments(double *restrict a, double *restrict q, const float *restrict x,
                        double K, int n)
{
    int i = 0;
#ifdef __SSE2__
    __m128d k = _mm_set1_pd(K), s[4], t[4];
    for (int v = 0; v < 4; v++)
        s[v] = _mm_loadu_pd(a + 2 * v), t[v] = _mm_loadu_pd(q + 2 * v);
    for (; i + LANES <= n; i += LANES) {
        __m128 x0 = _mm_loadu_ps(x + i), x1 = _mm_loadu_ps(x + i + 4);
        __m128d d[4] = {_mm_cvtps_pd(x0), _mm_cvtps_pd(_mm_movehl_ps(x0, x0)),
                        _mm_cvtps_pd(x1), _mm_cvtps_pd(_mm_movehl_ps(x1, x1))};
        for (int v = 0; v < 4; v++) {
            d[v] = _mm_sub_pd(d[v], k);
            s[v] = _mm_add_pd(s[v], d[v]);
            t[v] = _mm_add_pd(t[v], _mm_mul_pd(d[v], d[v]));
        }
    }
    for (int v = 0; v < 4; v++)
        _mm_storeu_pd(a + 2 * v, s[v]), _mm_storeu_pd(q + 2 * v, t[v]);
#endif
    for (int l = 0; i < n; i++, l = (l + 1) % LANES) {
        double d = x[i] - K;
        a[l] += d;
        q[l] += d * d;
    }
}

/* Channel c's batch mean and Σ(x - mean)² in one pass over x [B, C, HW],
 * from the sums of d = x - K and d² with K the channel's first value
 * (the shifted-data formula, Chan, Golub & LeVeque 1983): d and d² are exact
 * in double, and |mean - K| is of the order of the standard deviation, so
 * Σd² - (Σd)²/N does not cancel the way Σx² - (Σx)²/N can. */
static void bn_channel_moments(double *mean, double *ss, const float *x, int B, int C, int HW,
                               int c)
{
    double a[LANES] = {0}, q[LANES] = {0}, K = x[(size_t)c * HW], N = (double)B * HW;
    for (int b = 0; b < B; b++)
        row_moments(a, q, x + ((size_t)b * C + c) * HW, K, HW);
    double s = lanes_total(a), d = lanes_total(q) - s * s / N;
    *mean = K + s / N;
    *ss = d > 0.0 ? d : 0.0;
}

/* Channel c of y = (x - m)·scale + β, and of r = max(y, 0) when r is non-NULL
 * (the ReLU that follows a BN, fused: one pass over x instead of two). */
static void bn_channel_apply(float *y, float *r, const float *x, float m, float scale, float beta,
                             int B, int C, int HW, int c)
{
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + c) * HW;
        const float *xc = x + o;
        float *yc = y + o;
        if (!r) {
            for (int i = 0; i < HW; i++)
                yc[i] = (xc[i] - m) * scale + beta;
            continue;
        }
        float *rc = r + o;
        for (int i = 0; i < HW; i++) {
            float v = (xc[i] - m) * scale + beta;
            yc[i] = v;
            rc[i] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* One BN call's arguments, shared by the threads (each takes a range of
 * channels). */
typedef struct bn_job {
    float *y, *r, *dx, *mean, *inv_std, *running_mean, *running_var, *dgamma, *dbeta;
    const float *x, *dy, *gamma, *beta;
    const float *cmean, *cinv_std; /* backward: the forward's statistics */
    const float *eval_mean, *eval_var; /* eval: the running statistics */
    int B, C, HW;
    float eps, momentum;
} bn_job;

static void bn_train_channels(void *ctx, size_t c0, size_t c1, int thread)
{
    const bn_job *j = ctx;
    double N = (double)j->B * j->HW;
    (void)thread;
    for (size_t c = c0; c < c1; c++) {
        double m, ss;
        bn_channel_moments(&m, &ss, j->x, j->B, j->C, j->HW, (int)c);
        double var = ss / N; /* biased: what the normalisation uses */
        double is = 1.0 / sqrt(var + j->eps);
        j->mean[c] = (float)m;
        j->inv_std[c] = (float)is;
        /* (x - m)·scale + β rather than x·scale + shift: no cancellation when x ≈ m. */
        bn_channel_apply(j->y, j->r, j->x, (float)m, (float)(j->gamma[c] * is), j->beta[c], j->B,
                         j->C, j->HW, (int)c);
        double mom = j->momentum;
        if (j->running_mean)
            j->running_mean[c] = (float)((1.0 - mom) * j->running_mean[c] + mom * m);
        if (j->running_var) {
            double unbiased = N > 1 ? ss / (N - 1) : var;
            j->running_var[c] = (float)((1.0 - mom) * j->running_var[c] + mom * unbiased);
        }
    }
}

void gf_bn_forward_train(float *y, float *mean, float *inv_std, float *running_mean,
                         float *running_var, const float *x, const float *gamma,
                         const float *beta, int B, int C, int HW, float eps, float momentum)
{
    gf_bn_relu_forward_train(y, NULL, mean, inv_std, running_mean, running_var, x, gamma, beta,
                             B, C, HW, eps, momentum);
}

void gf_bn_relu_forward_train(float *y, float *r, float *mean, float *inv_std,
                              float *running_mean, float *running_var, const float *x,
                              const float *gamma, const float *beta, int B, int C, int HW,
                              float eps, float momentum)
{
    bn_job j = {.y = y, .r = r, .mean = mean, .inv_std = inv_std, .running_mean = running_mean,
                .running_var = running_var, .x = x, .gamma = gamma, .beta = beta, .B = B,
                .C = C, .HW = HW, .eps = eps, .momentum = momentum};
    gf_par_for((size_t)C, (size_t)B * C * HW > PAR_MIN, bn_train_channels, &j);
}

static void bn_eval_channels(void *ctx, size_t c0, size_t c1, int thread)
{
    const bn_job *j = ctx;
    (void)thread;
    for (size_t c = c0; c < c1; c++) {
        double is = 1.0 / sqrt((double)j->eval_var[c] + j->eps);
        float scale = (float)(j->gamma[c] * is);
        float shift = (float)(j->beta[c] - j->gamma[c] * is * j->eval_mean[c]);
        /* x·scale + shift = (x - 0)·scale + shift */
        bn_channel_apply(j->y, j->r, j->x, 0.0f, scale, shift, j->B, j->C, j->HW, (int)c);
    }
}

void gf_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, int B, int C,
                        int HW, float eps)
{
    gf_bn_relu_forward_eval(y, NULL, x, gamma, beta, running_mean, running_var, B, C, HW, eps);
}

void gf_bn_relu_forward_eval(float *y, float *r, const float *x, const float *gamma,
                             const float *beta, const float *running_mean,
                             const float *running_var, int B, int C, int HW, float eps)
{
    bn_job j = {.y = y, .r = r, .x = x, .gamma = gamma, .beta = beta, .eval_mean = running_mean,
                .eval_var = running_var, .B = B, .C = C, .HW = HW, .eps = eps};
    gf_par_for((size_t)C, (size_t)B * C * HW > PAR_MIN, bn_eval_channels, &j);
}

/* a[l] += dy[i], q[l] += dy[i]·x̂[i] with x̂ = (x - m)·is (formed in float),
 * interleaved and vectorised as in row_moments. */
static void row_grad_sums(double *restrict a, double *restrict q, const float *restrict dy,
                          const float *restrict x, float m, float is, int n)
{
    int i = 0;
#ifdef __SSE2__
    __m128 mv = _mm_set1_ps(m), iv = _mm_set1_ps(is);
    __m128d s[4], t[4];
    for (int v = 0; v < 4; v++)
        s[v] = _mm_loadu_pd(a + 2 * v), t[v] = _mm_loadu_pd(q + 2 * v);
    for (; i + LANES <= n; i += LANES) {
        __m128 g0 = _mm_loadu_ps(dy + i), g1 = _mm_loadu_ps(dy + i + 4);
        __m128 h0 = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + i), mv), iv);
        __m128 h1 = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + i + 4), mv), iv);
        __m128d g[4] = {_mm_cvtps_pd(g0), _mm_cvtps_pd(_mm_movehl_ps(g0, g0)),
                        _mm_cvtps_pd(g1), _mm_cvtps_pd(_mm_movehl_ps(g1, g1))};
        __m128d h[4] = {_mm_cvtps_pd(h0), _mm_cvtps_pd(_mm_movehl_ps(h0, h0)),
                        _mm_cvtps_pd(h1), _mm_cvtps_pd(_mm_movehl_ps(h1, h1))};
        for (int v = 0; v < 4; v++) {
            s[v] = _mm_add_pd(s[v], g[v]);
            t[v] = _mm_add_pd(t[v], _mm_mul_pd(g[v], h[v]));
        }
    }
    for (int v = 0; v < 4; v++)
        _mm_storeu_pd(a + 2 * v, s[v]), _mm_storeu_pd(q + 2 * v, t[v]);
#endif
    for (int l = 0; i < n; i++, l = (l + 1) % LANES) {
        a[l] += dy[i];
        q[l] += (double)dy[i] * ((x[i] - m) * is);
    }
}

/* Σ dy and Σ dy·x̂ over channel c. */
static void bn_channel_grad_sums(double *sdy, double *sdyx, const float *dy, const float *x,
                                 float m, float is, int B, int C, int HW, int c)
{
    double a[LANES] = {0}, q[LANES] = {0};
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + c) * HW;
        row_grad_sums(a, q, dy + o, x + o, m, is, HW);
    }
    *sdy = lanes_total(a);
    *sdyx = lanes_total(q);
}

/* dx for channel c: γ·is·(dy − mean(dy) − x̂·mean(dy·x̂)). The bracket
 * cancels to nearly zero summed over the channel, so it is formed in double:
 * float here costs ~1e-4 relative error in later parameter gradients at
 * small batches (resnet14_A_28x28, batch 2). */
static void bn_channel_dx(const bn_job *j, int c, double sdy, double sdyx)
{
    double N = (double)j->B * j->HW, m = j->cmean[c], is = j->cinv_std[c];
    double k = j->gamma[c] * is, a = sdy / N, bcoef = sdyx / N;
    for (int b = 0; b < j->B; b++) {
        size_t o = ((size_t)b * j->C + c) * j->HW;
        const float *xc = j->x + o, *dyc = j->dy + o;
        float *dxc = j->dx + o;
        for (int i = 0; i < j->HW; i++)
            dxc[i] = (float)(k * ((double)dyc[i] - a - ((double)xc[i] - m) * is * bcoef));
    }
}

static void bn_backward_channels(void *ctx, size_t c0, size_t c1, int thread)
{
    const bn_job *j = ctx;
    (void)thread;
    for (size_t c = c0; c < c1; c++) {
        double sdy, sdyx;
        bn_channel_grad_sums(&sdy, &sdyx, j->dy, j->x, j->cmean[c], j->cinv_std[c], j->B, j->C,
                             j->HW, (int)c);
        if (j->dgamma)
            j->dgamma[c] += (float)sdyx;
        if (j->dbeta)
            j->dbeta[c] += (float)sdy;
        if (j->dx)
            bn_channel_dx(j, (int)c, sdy, sdyx);
    }
}

void gf_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                    const float *mean, const float *inv_std, const float *gamma, int B, int C,
                    int HW)
{
    bn_job j = {.dx = dx, .dgamma = dgamma, .dbeta = dbeta, .x = x, .dy = dy, .gamma = gamma,
                .cmean = mean, .cinv_std = inv_std, .B = B, .C = C, .HW = HW};
    gf_par_for((size_t)C, (size_t)B * C * HW > PAR_MIN, bn_backward_channels, &j);
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

typedef struct dot_job {
    const float *a, *b;
    size_t n, chunk;
    double *part;
} dot_job;

static void dot_chunks(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    dot_job *j = ctx;
    for (size_t c = begin; c < end; c++) {
        size_t lo = c * j->chunk, len = j->n - lo < j->chunk ? j->n - lo : j->chunk;
        j->part[c] = dot_block(j->a + lo, j->b + lo, len);
    }
}

double gf_dot(const float *a, const float *b, size_t n)
{
    double part[DOT_MAX_CHUNKS];
    size_t chunk = DOT_CHUNK;
    if (n / chunk >= DOT_MAX_CHUNKS)
        chunk = n / DOT_MAX_CHUNKS + 1;
    dot_job j = {a, b, n, chunk, part};
    size_t chunks = (n + chunk - 1) / chunk;
    gf_par_for(chunks, n > PAR_MIN, dot_chunks, &j);
    double s = 0.0;
    for (size_t c = 0; c < chunks; c++) /* in chunk order: deterministic */
        s += part[c];
    return s;
}

double gf_norm2(const float *a, size_t n) { return sqrt(gf_dot(a, a, n)); }
