/* kernels_bn.c — batch norm's forward (train and eval, optionally with the
 * following ReLU fused in) and backward (kernels.h). Statistics and their
 * gradients are formed in double, channel by channel. */
#include "gradflow/kernels.h"

#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "parallel.h"

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
