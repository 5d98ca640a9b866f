/* kernels.c — every op's forward and backward, side by side (see kernels.h
 * for the conventions: dx written, parameter gradients added, re-entrant). */
#include "gradflow/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- conv2d */

size_t gf_conv2d_scratch(int Ci, int H, int W, int K, int stride, int pad)
{
    size_t Ho = (size_t)gf_conv_out(H, K, stride, pad), Wo = (size_t)gf_conv_out(W, K, stride, pad);
    return 2 * (size_t)Ci * K * K * Ho * Wo;
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
                const float *xc = x + (size_t)c * H * W;
                for (int i = 0; i < Ho; i++) {
                    int y = i * s - p + ki;
                    float *r = row + (size_t)i * Wo;
                    if (y < 0 || y >= H) {
                        memset(r, 0, sizeof(float) * Wo);
                        continue;
                    }
                    for (int j = 0; j < Wo; j++) {
                        int xx = j * s - p + kj;
                        r[j] = (xx >= 0 && xx < W) ? xc[(size_t)y * W + xx] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: dx[c, y, x] += every col entry that copied it. */
static void col2im(float *dx, const float *col, int Ci, int H, int W, int K, int s, int p, int Ho,
                   int Wo)
{
    memset(dx, 0, sizeof(float) * (size_t)Ci * H * W);
    for (int c = 0; c < Ci; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * Ho * Wo;
                float *xc = dx + (size_t)c * H * W;
                for (int i = 0; i < Ho; i++) {
                    int y = i * s - p + ki;
                    if (y < 0 || y >= H)
                        continue;
                    const float *r = row + (size_t)i * Wo;
                    for (int j = 0; j < Wo; j++) {
                        int xx = j * s - p + kj;
                        if (xx >= 0 && xx < W)
                            xc[(size_t)y * W + xx] += r[j];
                    }
                }
            }
}

/* 1×1, stride 1, no padding: the image itself is the im2col matrix. */
static int conv_is_pointwise(int K, int stride, int pad) { return K == 1 && stride == 1 && pad == 0; }

void gf_conv2d_forward(float *y, const float *x, const float *w, int B, int Ci, int H, int W,
                       int Co, int K, int stride, int pad, float *scratch)
{
    int Ho = gf_conv_out(H, K, stride, pad), Wo = gf_conv_out(W, K, stride, pad);
    int P = Ho * Wo, R = Ci * K * K;
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * Ci * H * W;
        const float *col = xb;
        if (!conv_is_pointwise(K, stride, pad)) {
            im2col(scratch, xb, Ci, H, W, K, stride, pad, Ho, Wo);
            col = scratch;
        }
        /* y_b [Co, P] = w [Co, R] · col [R, P] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, P, R, 1.0f, w, R, col, P,
                    0.0f, y + (size_t)b * Co * P, P);
    }
}

void gf_conv2d_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int B, int Ci, int H, int W, int Co, int K, int stride, int pad,
                        float *scratch)
{
    int Ho = gf_conv_out(H, K, stride, pad), Wo = gf_conv_out(W, K, stride, pad);
    int P = Ho * Wo, R = Ci * K * K;
    int pointwise = conv_is_pointwise(K, stride, pad);
    float *col = scratch, *dcol = scratch + (size_t)R * P;
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * Ci * H * W;
        const float *dyb = dy + (size_t)b * Co * P;
        if (dw) {
            const float *c = xb;
            if (!pointwise) {
                im2col(col, xb, Ci, H, W, K, stride, pad, Ho, Wo);
                c = col;
            }
            /* dw [Co, R] += dy_b [Co, P] · col [R, P]ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, R, P, 1.0f, dyb, P, c, P,
                        1.0f, dw, R);
        }
        if (dx) {
            float *dxb = dx + (size_t)b * Ci * H * W;
            /* dcol [R, P] = w [Co, R]ᵀ · dy_b [Co, P] */
            float *target = pointwise ? dxb : dcol;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, P, Co, 1.0f, w, R, dyb, P,
                        0.0f, target, P);
            if (!pointwise)
                col2im(dxb, dcol, Ci, H, W, K, stride, pad, Ho, Wo);
        }
    }
}

/* ------------------------------------------------------------ batch norm */

void gf_bn_forward_train(float *y, float *mean, float *inv_std, float *running_mean,
                         float *running_var, const float *x, const float *gamma,
                         const float *beta, int B, int C, int HW, float eps, float momentum)
{
    double N = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double s = 0.0, ss = 0.0;
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                s += xc[i];
        }
        double m = s / N;
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                double d = xc[i] - m;
                ss += d * d;
            }
        }
        double var = ss / N; /* biased: what the normalisation uses */
        double is = 1.0 / sqrt(var + eps);
        mean[c] = (float)m;
        inv_std[c] = (float)is;
        /* (x - m)·scale + β rather than x·scale + shift: no cancellation when x ≈ m. */
        float scale = (float)(gamma[c] * is), mf = (float)m, bf = beta[c];
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            float *yc = y + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                yc[i] = (xc[i] - mf) * scale + bf;
        }
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
        if (running_var) {
            double unbiased = N > 1 ? ss / (N - 1) : var;
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

void gf_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, int B, int C,
                        int HW, float eps)
{
    for (int c = 0; c < C; c++) {
        double is = 1.0 / sqrt((double)running_var[c] + eps);
        float scale = (float)(gamma[c] * is);
        float shift = (float)(beta[c] - gamma[c] * is * running_mean[c]);
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            float *yc = y + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                yc[i] = xc[i] * scale + shift;
        }
    }
}

void gf_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                    const float *mean, const float *inv_std, const float *gamma, int B, int C,
                    int HW)
{
    double N = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        float m = mean[c], is = inv_std[c];
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            const float *dyc = dy + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                sdy += dyc[i];
                sdyx += (double)dyc[i] * ((xc[i] - m) * is);
            }
        }
        if (dgamma)
            dgamma[c] += (float)sdyx;
        if (dbeta)
            dbeta[c] += (float)sdy;
        if (!dx)
            continue;
        /* dx = γ·is·(dy − mean(dy) − x̂·mean(dy·x̂)). The bracket cancels to
         * nearly zero summed over the channel, so it is formed in double:
         * float here costs ~1e-4 relative error in later parameter gradients
         * at small batches (resnet14_A_28x28, batch 2). */
        double k = (double)gamma[c] * is, a = sdy / N, bcoef = sdyx / N;
        for (int b = 0; b < B; b++) {
            const float *xc = x + ((size_t)b * C + c) * HW;
            const float *dyc = dy + ((size_t)b * C + c) * HW;
            float *dxc = dx + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                dxc[i] = (float)(k * ((double)dyc[i] - a - ((double)xc[i] - m) * is * bcoef));
        }
    }
}

/* ------------------------------------------------------------------ relu */

void gf_relu_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gf_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ------------------------------------------------------ option-A shortcut */

void gf_shortcut_a_forward(float *y, const float *x, int B, int Ci, int H, int W, int Co,
                           int stride)
{
    int Ho = (H + stride - 1) / stride, Wo = (W + stride - 1) / stride, pad = (Co - Ci) / 2;
    memset(y, 0, sizeof(float) * (size_t)B * Co * Ho * Wo);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < Ci; c++) {
            const float *xc = x + ((size_t)b * Ci + c) * H * W;
            float *yc = y + ((size_t)b * Co + c + pad) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++)
                    yc[i * Wo + j] = xc[(size_t)i * stride * W + (size_t)j * stride];
        }
}

void gf_shortcut_a_backward(float *dx, const float *dy, int B, int Ci, int H, int W, int Co,
                            int stride)
{
    int Ho = (H + stride - 1) / stride, Wo = (W + stride - 1) / stride, pad = (Co - Ci) / 2;
    memset(dx, 0, sizeof(float) * (size_t)B * Ci * H * W);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < Ci; c++) {
            float *dxc = dx + ((size_t)b * Ci + c) * H * W;
            const float *dyc = dy + ((size_t)b * Co + c + pad) * Ho * Wo;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++)
                    dxc[(size_t)i * stride * W + (size_t)j * stride] = dyc[i * Wo + j];
        }
}

/* -------------------------------------------------------------- avg pool */

void gf_avgpool_forward(float *y, const float *x, int B, int C, int HW)
{
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        double s = 0.0;
        for (int i = 0; i < HW; i++)
            s += x[bc * HW + i];
        y[bc] = (float)(s / HW);
    }
}

void gf_avgpool_backward(float *dx, const float *dy, int B, int C, int HW)
{
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        float g = dy[bc] / (float)HW;
        for (int i = 0; i < HW; i++)
            dx[bc * HW + i] = g;
    }
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

void gf_add(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void gf_axpy(float *y, float alpha, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

double gf_dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

double gf_norm2(const float *a, size_t n) { return sqrt(gf_dot(a, a, n)); }
