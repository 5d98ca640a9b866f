/* test_kernels.c — every op in kernels.h against central finite differences,
 * and the kernels' calling conventions (dx written, parameter gradients added,
 * re-entrant, NULL skips). Whole networks are test_netgrad.c's.
 *
 * Method (kann's gradient checker, llm.c's per-op tests): a scalar objective
 * L = Σ r ⊙ y with a fixed random r, so the backward called with dy = r gives
 * dL/d(input) and dL/d(params); the numeric derivative is
 * (L(p + h) − L(p − h)) / ((p + h) − (p − h)), the denominator taken from the
 * float32 values actually stored, and L accumulated in double. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "gradflow/net.h"
#include "gradflow/rng.h"
#include "suites.h"

/* ---------------------------------------------------------------- conv2d */

/* Direct convolution in double, straight from the definition. */
static double conv_naive_at(const conv_case *c, int b, int o, int i, int j)
{
    double s = 0.0;
    for (int ci = 0; ci < c->Ci; ci++)
        for (int ki = 0; ki < c->K; ki++)
            for (int kj = 0; kj < c->K; kj++) {
                int y = i * c->s - c->p + ki, x = j * c->s - c->p + kj;
                if (y < 0 || y >= c->H || x < 0 || x >= c->W)
                    continue;
                s += (double)c->x[(((size_t)b * c->Ci + ci) * c->H + y) * c->W + x] *
                     c->w[(((size_t)o * c->Ci + ci) * c->K + ki) * c->K + kj];
            }
    return s;
}

/* H ≠ W so a swapped axis cannot pass. */
static void check_conv(const char *label, int Ci, int H, int W, int Co, int K, int s, int p)
{
    conv_case c = {.B = 3, .Ci = Ci, .H = H, .W = W, .Co = Co, .K = K, .s = s, .p = p};
    conv_setup(&c, 100 + (uint64_t)(Ci * 1000 + H * 100 + K * 10 + s));
    CU_ASSERT_EQUAL(c.Ho, (H + 2 * p - K) / s + 1);
    conv_objective(&c);
    double err = 0.0;
    for (int b = 0; b < c.B; b++)
        for (int o = 0; o < c.Co; o++)
            for (int i = 0; i < c.Ho; i++)
                for (int j = 0; j < c.Wo; j++)
                    err = fmax(err, fabs(c.y[(((size_t)b * c.Co + o) * c.Ho + i) * c.Wo + j] -
                                         conv_naive_at(&c, b, o, i, j)));
    CU_ASSERT(err < 1e-4 * (1.0 + max_abs(c.y, conv_ny(&c))));
    float *dx = test_fvec(conv_nx(&c)), *dw = test_fvec(conv_nw(&c));
    gf_conv2d_backward(dx, dw, c.r, c.x, c.w, c.B, Ci, H, W, Co, K, s, p, c.scratch);
    char what[64];
    snprintf(what, sizeof what, "conv %s dx", label);
    fd_check_linear(what, conv_objective, &c, c.x, conv_nx(&c), dx);
    snprintf(what, sizeof what, "conv %s dw", label);
    fd_check_linear(what, conv_objective, &c, c.w, conv_nw(&c), dw);
    free(dx), free(dw);
    conv_teardown(&c);
}

/* kernels.c picks an engine by shape: Winograd F(2×2, 3×3) for 3×3 stride 1
 * pad 1 with at least 8 channels in and out, im2col + sgemm otherwise; both
 * are checked, at odd and even sizes (partial tiles) and odd channel counts. */
static void test_conv2d_3x3_s1_p1_grad_matches_fd(void)
{
    check_conv("3x3 s1 p1 im2col", 3, 7, 6, 4, 3, 1, 1);
    check_conv("3x3 s1 p1 winograd 7x5", 8, 7, 5, 9, 3, 1, 1);
    check_conv("3x3 s1 p1 winograd 8x8", 16, 8, 8, 16, 3, 1, 1);
}
static void test_conv2d_3x3_s2_p1_grad_matches_fd(void)
{
    check_conv("3x3 s2 p1", 3, 7, 6, 4, 3, 2, 1);
    check_conv("3x3 s2 p1 16->32", 16, 8, 8, 32, 3, 2, 1);
}
static void test_conv2d_1x1_s1_grad_matches_fd(void) { check_conv("1x1 s1", 3, 7, 6, 4, 1, 1, 0); }
static void test_conv2d_1x1_s2_p0_grad_matches_fd(void)
{
    check_conv("1x1 s2 p0", 3, 7, 6, 4, 1, 2, 0);
    check_conv("1x1 s2 p0 16->32", 16, 8, 8, 32, 1, 2, 0);
}

/* ------------------------------------------------------------ batch norm */

typedef struct bn_case {
    int B, C, HW;
    float *x, *y, *r, *gamma, *beta, *mean, *inv_std;
} bn_case;

static size_t bn_n(const bn_case *c) { return (size_t)c->B * c->C * c->HW; }

static double bn_objective(void *u)
{
    bn_case *c = u;
    gf_bn_forward_train(c->y, c->mean, c->inv_std, NULL, NULL, c->x, c->gamma, c->beta, c->B,
                        c->C, c->HW, 1e-5f, 0.1f);
    return dot_d(c->r, c->y, bn_n(c));
}

/* x with a channel offset and scale ≠ 1 (so mean and variance matter), r with
 * a non-zero mean (so the Σdy term of the backward matters). */
static void bn_setup(bn_case *c, uint64_t seed)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 0);
    size_t n = bn_n(c);
    c->x = test_fvec(n), c->y = test_fvec(n), c->r = test_fvec(n);
    c->gamma = test_fvec((size_t)c->C), c->beta = test_fvec((size_t)c->C);
    c->mean = test_fvec((size_t)c->C), c->inv_std = test_fvec((size_t)c->C);
    fill_normal(&rng, c->x, n, 0.7, 1.6);
    fill_normal(&rng, c->r, n, 0.5, 1.0);
    fill_normal(&rng, c->gamma, (size_t)c->C, 1.0, 0.3);
    fill_normal(&rng, c->beta, (size_t)c->C, 0.0, 0.5);
}

static void bn_teardown(bn_case *c)
{
    free(c->x), free(c->y), free(c->r), free(c->gamma), free(c->beta), free(c->mean),
        free(c->inv_std);
}

static void test_bn_train_grad_matches_fd(void)
{
    bn_case c = {.B = 4, .C = 3, .HW = 5};
    bn_setup(&c, 7);
    bn_objective(&c);
    float *dx = test_fvec(bn_n(&c)), *dg = test_fvec(3), *db = test_fvec(3);
    gf_bn_backward(dx, dg, db, c.r, c.x, c.mean, c.inv_std, c.gamma, c.B, c.C, c.HW);
    fd_check_all("bn train dx", bn_objective, &c, c.x, bn_n(&c), dx, &FD_BN);
    fd_check_all("bn train dgamma", bn_objective, &c, c.gamma, 3, dg, &FD_BN);
    fd_check_all("bn train dbeta", bn_objective, &c, c.beta, 3, db, &FD_BN);
    free(dx), free(dg), free(db);
    bn_teardown(&c);
}

/* One channel x = {1, 2, 3, 4} (B = 2, HW = 2): mean 2.5, biased var 1.25,
 * unbiased 5/3. PyTorch: running_var = 0.9·1 + 0.1·5/3, running_mean = 0.1·2.5,
 * and y uses the biased variance. */
static void test_bn_running_var_unbiased(void)
{
    float x[4] = {1, 2, 3, 4}, y[4], mean, is, rm = 0.0f, rv = 1.0f, g = 1.0f, b = 0.0f;
    gf_bn_forward_train(y, &mean, &is, &rm, &rv, x, &g, &b, 2, 1, 2, 1e-5f, 0.1f);
    CU_ASSERT_DOUBLE_EQUAL(rv, 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(rm, 0.25, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(mean, 2.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(is, 1.0 / sqrt(1.25 + 1e-5), 1e-6);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(y[i], (x[i] - 2.5) / sqrt(1.25 + 1e-5), 1e-6);
    /* a second step moves the running values on from where they are */
    gf_bn_forward_train(y, &mean, &is, &rm, &rv, x, &g, &b, 2, 1, 2, 1e-5f, 0.1f);
    CU_ASSERT_DOUBLE_EQUAL(rv, 0.9 * (0.9 + 0.1 * 5.0 / 3.0) + 0.1 * 5.0 / 3.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(rm, 0.9 * 0.25 + 0.25, 1e-7);
}

/* The fused BN + ReLU forward is the BN forward and the ReLU, bit for bit,
 * in both modes, statistics and running buffers included; r may be NULL. */
static void test_bn_relu_fused_forward_matches_bn_then_relu(void)
{
    bn_case c = {.B = 3, .C = 4, .HW = 6};
    bn_setup(&c, 59);
    size_t n = bn_n(&c);
    float *y1 = test_fvec(n), *y2 = test_fvec(n), *r1 = test_fvec(n), *r2 = test_fvec(n), *y3 = test_fvec(n);
    float m1[4], s1[4], m2[4], s2[4], m3[4], s3[4];
    float rm1[4] = {0.1f, 0.2f, -0.3f, 0}, rv1[4] = {1, 2, 0.5f, 1};
    float rm2[4], rv2[4], rm3[4], rv3[4];
    memcpy(rm2, rm1, sizeof rm1), memcpy(rv2, rv1, sizeof rv1);
    memcpy(rm3, rm1, sizeof rm1), memcpy(rv3, rv1, sizeof rv1);
    gf_bn_forward_train(y1, m1, s1, rm1, rv1, c.x, c.gamma, c.beta, 3, 4, 6, 1e-5f, 0.1f);
    gf_relu_forward(r1, y1, n);
    gf_bn_relu_forward_train(y2, r2, m2, s2, rm2, rv2, c.x, c.gamma, c.beta, 3, 4, 6, 1e-5f,
                             0.1f);
    gf_bn_relu_forward_train(y3, NULL, m3, s3, rm3, rv3, c.x, c.gamma, c.beta, 3, 4, 6, 1e-5f,
                             0.1f);
    CU_ASSERT(test_bits_equal(y1, y2, n) && test_bits_equal(r1, r2, n) && test_bits_equal(y1, y3, n));
    CU_ASSERT(test_bits_equal(m1, m2, 4) && test_bits_equal(s1, s2, 4) && test_bits_equal(m1, m3, 4));
    CU_ASSERT(test_bits_equal(rm1, rm2, 4) && test_bits_equal(rv1, rv2, 4) && test_bits_equal(rv1, rv3, 4));
    gf_bn_forward_eval(y1, c.x, c.gamma, c.beta, rm1, rv1, 3, 4, 6, 1e-5f);
    gf_relu_forward(r1, y1, n);
    gf_bn_relu_forward_eval(y2, r2, c.x, c.gamma, c.beta, rm1, rv1, 3, 4, 6, 1e-5f);
    CU_ASSERT(test_bits_equal(y1, y2, n) && test_bits_equal(r1, r2, n));
    free(y1), free(y2), free(r1), free(r2), free(y3);
    bn_teardown(&c);
}

/* Eval mode: y = γ (x − running_mean) / √(running_var + ε) + β, per channel. */
static void test_bn_eval_uses_running_stats(void)
{
    bn_case c = {.B = 2, .C = 3, .HW = 5};
    bn_setup(&c, 61);
    float rm[3] = {0.5f, -1.0f, 2.0f}, rv[3] = {0.25f, 4.0f, 1.5f};
    gf_bn_forward_eval(c.y, c.x, c.gamma, c.beta, rm, rv, 2, 3, 5, 1e-5f);
    double err = 0.0;
    for (int b = 0; b < 2; b++)
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 5; i++) {
                size_t o = ((size_t)b * 3 + ch) * 5 + i;
                double want = c.gamma[ch] * (c.x[o] - rm[ch]) / sqrt(rv[ch] + 1e-5) + c.beta[ch];
                err = fmax(err, fabs(c.y[o] - want));
            }
    CU_ASSERT(err < 1e-5);
    bn_teardown(&c);
}

/* The elementwise helpers; gf_dot and gf_norm2 accumulate in double, so
 * 1e8 + 1 − 1e8 keeps its 1 (float accumulation would give 0). */
static void test_elementwise_helpers(void)
{
    float a[3] = {1e8f, 1.0f, -1e8f}, b[3] = {1.0f, 1.0f, 1.0f}, y[3];
    CU_ASSERT_DOUBLE_EQUAL(gf_dot(a, b, 3), 1.0, 0.0);
    gf_add(y, a, b, 3);
    CU_ASSERT(y[0] == 1e8f + 1.0f && y[1] == 2.0f && y[2] == -1e8f + 1.0f);
    float z[3] = {1.0f, 2.0f, 3.0f}, v[3] = {0.5f, -1.0f, 2.0f};
    gf_axpy(z, 2.0f, v, 3);
    CU_ASSERT(z[0] == 2.0f && z[1] == 0.0f && z[2] == 7.0f);
    float p[2] = {3.0f, 4.0f};
    CU_ASSERT_DOUBLE_EQUAL(gf_norm2(p, 2), 5.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(gf_norm2(p, 0), 0.0, 0.0);
}

/* ------------------------------------------------------------------ relu */

typedef struct vec_case {
    size_t n, ny;
    float *x, *y, *r;
    int B, C, H, W, Co, stride; /* shortcut / pool shapes */
} vec_case;

static double relu_objective(void *u)
{
    vec_case *c = u;
    gf_relu_forward(c->y, c->x, c->n);
    return dot_d(c->r, c->y, c->n);
}

static void test_relu_grad_matches_fd(void)
{
    gf_rng rng;
    gf_rng_seed(&rng, 11, 0);
    vec_case c = {.n = 200, .ny = 200};
    c.x = test_fvec(c.n), c.y = test_fvec(c.n), c.r = test_fvec(c.n);
    for (size_t i = 0; i < c.n; i++) /* |x| >= 0.1 = 10 h: no step crosses 0 */
        c.x[i] = (gf_rng_uniform(&rng) < 0.5f ? -1.0f : 1.0f) * (0.1f + gf_rng_uniform(&rng));
    fill_normal(&rng, c.r, c.n, 0.0, 1.0);
    relu_objective(&c);
    float *dx = test_fvec(c.n);
    gf_relu_backward(dx, c.r, c.y, c.n);
    int exact = 1;
    for (size_t i = 0; i < c.n; i++)
        exact &= dx[i] == (c.x[i] > 0 ? c.r[i] : 0.0f) && c.y[i] == (c.x[i] > 0 ? c.x[i] : 0.0f);
    CU_ASSERT(exact);
    fd_check_all("relu dx", relu_objective, &c, c.x, c.n, dx, &FD_RELU);
    free(c.x), free(c.y), free(c.r), free(dx);
}

/* ------------------------------------------------------ option-A shortcut */

static double shortcut_objective(void *u)
{
    vec_case *c = u;
    gf_shortcut_a_forward(c->y, c->x, c->B, c->C, c->H, c->W, c->Co, c->stride);
    return dot_d(c->r, c->y, c->ny);
}

static void check_shortcut_a(int H, int W)
{
    gf_rng rng;
    gf_rng_seed(&rng, (uint64_t)(H * 100 + W), 0);
    int B = 2, Ci = 16, Co = 32, Ho = (H + 1) / 2, Wo = (W + 1) / 2, pad = (Co - Ci) / 2;
    vec_case c = {.B = B, .C = Ci, .H = H, .W = W, .Co = Co, .stride = 2};
    c.n = (size_t)B * Ci * H * W, c.ny = (size_t)B * Co * Ho * Wo;
    c.x = test_fvec(c.n), c.y = test_fvec(c.ny), c.r = test_fvec(c.ny);
    fill_normal(&rng, c.x, c.n, 0.0, 1.0);
    fill_normal(&rng, c.r, c.ny, 0.0, 1.0);
    memset(c.y, 0xff, c.ny * sizeof(float)); /* NaN: every element must be written */
    shortcut_objective(&c);
    /* x[:, :, ::2, ::2] in channels [pad, pad + Ci), zero elsewhere (FORMAT.md) */
    int ok = 1;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < Co; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    float want = o < pad || o >= pad + Ci
                                     ? 0.0f
                                     : c.x[(((size_t)b * Ci + o - pad) * H + 2 * i) * W + 2 * j];
                    ok &= c.y[(((size_t)b * Co + o) * Ho + i) * Wo + j] == want;
                }
    CU_ASSERT(ok);
    float *dx = test_fvec(c.n);
    memset(dx, 0xff, c.n * sizeof(float)); /* "= 0 elsewhere": overwritten, not kept */
    gf_shortcut_a_backward(dx, c.r, B, Ci, H, W, Co, 2);
    char what[64];
    snprintf(what, sizeof what, "shortcut A %dx%d dx", H, W);
    fd_check_linear(what, shortcut_objective, &c, c.x, c.n, dx);
    free(c.x), free(c.y), free(c.r), free(dx);
}

static void test_shortcut_a_odd_size_grad_matches_fd(void) { check_shortcut_a(7, 7); }
static void test_shortcut_a_even_size_grad_matches_fd(void) { check_shortcut_a(8, 8); }

/* -------------------------------------------------------------- avg pool */

static double pool_objective(void *u)
{
    vec_case *c = u;
    gf_avgpool_forward(c->y, c->x, c->B, c->C, c->H);
    return dot_d(c->r, c->y, c->ny);
}

static void test_avgpool_grad_matches_fd(void)
{
    gf_rng rng;
    gf_rng_seed(&rng, 13, 0);
    vec_case c = {.B = 2, .C = 3, .H = 7}; /* H holds HW here */
    c.n = 42, c.ny = 6;
    c.x = test_fvec(c.n), c.y = test_fvec(c.ny), c.r = test_fvec(c.ny);
    fill_normal(&rng, c.x, c.n, 0.3, 1.0);
    fill_normal(&rng, c.r, c.ny, 0.0, 1.0);
    pool_objective(&c);
    double m = 0.0;
    for (int i = 0; i < 7; i++)
        m += c.x[7 + i]; /* example 0, channel 1 */
    CU_ASSERT_DOUBLE_EQUAL(c.y[1], m / 7, 1e-6);
    float *dx = test_fvec(c.n);
    gf_avgpool_backward(dx, c.r, c.B, c.C, 7);
    fd_check_linear("avgpool dx", pool_objective, &c, c.x, c.n, dx);
    free(c.x), free(c.y), free(c.r), free(dx);
}

/* ---------------------------------------------------------------- linear */

typedef struct linear_case {
    int B, In, O;
    float *x, *w, *b, *y, *r;
} linear_case;

static double linear_objective(void *u)
{
    linear_case *c = u;
    gf_linear_forward(c->y, c->x, c->w, c->b, c->B, c->In, c->O);
    return dot_d(c->r, c->y, (size_t)c->B * c->O);
}

static void linear_setup(linear_case *c, uint64_t seed)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 0);
    size_t nx = (size_t)c->B * c->In, nw = (size_t)c->O * c->In, ny = (size_t)c->B * c->O;
    c->x = test_fvec(nx), c->w = test_fvec(nw), c->b = test_fvec((size_t)c->O), c->y = test_fvec(ny), c->r = test_fvec(ny);
    fill_normal(&rng, c->x, nx, 0.0, 1.0);
    fill_normal(&rng, c->w, nw, 0.0, 0.5);
    fill_normal(&rng, c->b, (size_t)c->O, 0.0, 0.5);
    fill_normal(&rng, c->r, ny, 0.0, 1.0);
}

static void linear_teardown(linear_case *c)
{
    free(c->x), free(c->w), free(c->b), free(c->y), free(c->r);
}

static void test_linear_grad_matches_fd(void)
{
    linear_case c = {.B = 3, .In = 6, .O = 4};
    linear_setup(&c, 17);
    linear_objective(&c);
    double want = c.b[3]; /* y[2, 3] = x[2] · w[3] + b[3] */
    for (int i = 0; i < c.In; i++)
        want += (double)c.x[2 * c.In + i] * c.w[3 * c.In + i];
    CU_ASSERT_DOUBLE_EQUAL(c.y[2 * c.O + 3], want, 1e-5);
    float *dx = test_fvec(18), *dw = test_fvec(24), *db = test_fvec(4);
    gf_linear_backward(dx, dw, db, c.r, c.x, c.w, c.B, c.In, c.O);
    fd_check_linear("linear dx", linear_objective, &c, c.x, 18, dx);
    fd_check_linear("linear dw", linear_objective, &c, c.w, 24, dw);
    fd_check_linear("linear db", linear_objective, &c, c.b, 4, db);
    free(dx), free(dw), free(db);
    linear_teardown(&c);
}

/* ------------------------------------------------- softmax cross-entropy */

typedef struct xent_case {
    int B, K;
    float *z;
    int32_t *labels;
} xent_case;

static double xent_objective(void *u)
{
    xent_case *c = u;
    return gf_softmax_xent(NULL, NULL, c->z, c->labels, c->B, c->K);
}

static void test_softmax_xent_grad_matches_fd(void)
{
    gf_rng rng;
    gf_rng_seed(&rng, 19, 0);
    int32_t labels[4] = {0, 4, 2, 2};
    xent_case c = {.B = 4, .K = 5, .labels = labels};
    c.z = test_fvec(20);
    fill_normal(&rng, c.z, 20, 0.0, 2.0);
    float *dz = test_fvec(20);
    gf_softmax_xent(dz, NULL, c.z, labels, 4, 5);
    for (int r = 0; r < 4; r++) { /* rows of (softmax − onehot) / B sum to 0 */
        double s = 0.0;
        for (int k = 0; k < 5; k++)
            s += dz[r * 5 + k];
        CU_ASSERT_DOUBLE_EQUAL(s, 0.0, 1e-7);
    }
    fd_check_all("softmax xent dlogits", xent_objective, &c, c.z, 20, dz, &FD_XENT);
    free(c.z), free(dz);
}

/* Logits near ±1e4 (float spacing 1e-3, so the integer offsets are exact):
 * the loss is the log-sum-exp of the offsets, finite, and so is the gradient.
 * Row 0 [1e4, 1e4+1, 1e4+2] label 0: lse([0,1,2]) − 0. Row 1 [−1e4, −1e4−2,
 * −1e4−1] label 0: lse([0,−2,−1]) = lse([0,1,2]) − 2, and its arg-max is right. */
static void test_softmax_xent_stable_large_logits(void)
{
    float z[6] = {10000.0f, 10001.0f, 10002.0f, -10000.0f, -10002.0f, -10001.0f};
    int32_t labels[2] = {0, 0};
    float dz[6];
    int correct = -1;
    double S = 1.0 + exp(1.0) + exp(2.0), lse = log(S);
    double loss = gf_softmax_xent(dz, &correct, z, labels, 2, 3);
    CU_ASSERT(isfinite(loss));
    CU_ASSERT_DOUBLE_EQUAL(loss, (lse + (lse - 2.0)) / 2, 1e-9);
    CU_ASSERT_EQUAL(correct, 1);
    CU_ASSERT_DOUBLE_EQUAL(dz[0], (1.0 / S - 1.0) / 2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dz[2], exp(2.0) / S / 2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dz[3], (exp(2.0) / S - 1.0) / 2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(dz[4], 1.0 / S / 2, 1e-7);
    for (int i = 0; i < 6; i++)
        CU_ASSERT(isfinite(dz[i]));
}

/* ------------------------------------------------ backward conventions */

/* dw_after == base + k·g to float accuracy, for k = 1, 2 and a non-zero base. */
static int accumulated(const float *dw, const float *g, double k, double base, size_t n)
{
    double scale = max_abs(g, n) + fabs(base);
    for (size_t i = 0; i < n; i++)
        if (fabs(dw[i] - (base + k * g[i])) > 1e-5 * scale)
            return 0;
    return 1;
}

/* Backward twice on one forward: dx identical bit for bit (written, not
 * added, even over garbage), parameter gradients added each time. */
static void test_backward_twice_same_dx_and_param_grads_accumulate(void)
{
    for (int e = 0; e < 2; e++) {
        conv_case c = conv_engines[e];
        conv_setup(&c, 23);
        conv_objective(&c);
        size_t nx = conv_nx(&c), nw = conv_nw(&c);
        float *dx1 = test_fvec(nx), *dx2 = test_fvec(nx), *g = test_fvec(nw), *dw = test_fvec(nw);
        conv_backward(&c, dx1, g);
        for (size_t i = 0; i < nw; i++)
            dw[i] = 0.5f;
        memset(dx2, 0x7f, nx * sizeof(float));
        conv_backward(&c, dx2, dw);
        CU_ASSERT(test_bits_equal(dx1, dx2, nx));
        CU_ASSERT(accumulated(dw, g, 1, 0.5, nw)); /* +=, not = */
        conv_backward(&c, dx2, dw);
        CU_ASSERT(test_bits_equal(dx1, dx2, nx));
        CU_ASSERT(accumulated(dw, g, 2, 0.5, nw));
        free(dx1), free(dx2), free(g), free(dw);
        conv_teardown(&c);
    }

    linear_case l = {.B = 3, .In = 5, .O = 4};
    linear_setup(&l, 29);
    float *lx1 = test_fvec(15), *lx2 = test_fvec(15), *gw = test_fvec(20), *gb = test_fvec(4), *w2 = test_fvec(20),
          *b2 = test_fvec(4);
    gf_linear_backward(lx1, gw, gb, l.r, l.x, l.w, 3, 5, 4);
    memset(lx2, 0x7f, 15 * sizeof(float));
    gf_linear_backward(lx2, w2, b2, l.r, l.x, l.w, 3, 5, 4);
    gf_linear_backward(lx2, w2, b2, l.r, l.x, l.w, 3, 5, 4);
    CU_ASSERT(test_bits_equal(lx1, lx2, 15));
    CU_ASSERT(accumulated(w2, gw, 2, 0, 20) && accumulated(b2, gb, 2, 0, 4));
    free(lx1), free(lx2), free(gw), free(gb), free(w2), free(b2);
    linear_teardown(&l);

    bn_case b = {.B = 2, .C = 3, .HW = 4};
    bn_setup(&b, 31);
    bn_objective(&b);
    float *bx1 = test_fvec(24), *bx2 = test_fvec(24), *gg = test_fvec(3), *gbeta = test_fvec(3), *g2 = test_fvec(3),
          *beta2 = test_fvec(3);
    gf_bn_backward(bx1, gg, gbeta, b.r, b.x, b.mean, b.inv_std, b.gamma, 2, 3, 4);
    memset(bx2, 0x7f, 24 * sizeof(float));
    gf_bn_backward(bx2, g2, beta2, b.r, b.x, b.mean, b.inv_std, b.gamma, 2, 3, 4);
    gf_bn_backward(bx2, g2, beta2, b.r, b.x, b.mean, b.inv_std, b.gamma, 2, 3, 4);
    CU_ASSERT(test_bits_equal(bx1, bx2, 24));
    CU_ASSERT(accumulated(g2, gg, 2, 0, 3) && accumulated(beta2, gbeta, 2, 0, 3));
    free(bx1), free(bx2), free(gg), free(gbeta), free(g2), free(beta2);
    bn_teardown(&b);
}

/* NULL parameter gradients: dx is still right, and neither the forward's
 * inputs and outputs nor anything else the caller holds is touched. */
static void test_backward_null_param_grads_change_nothing(void)
{
    for (int e = 0; e < 2; e++) {
        conv_case c = conv_engines[e];
        conv_setup(&c, 37);
        conv_objective(&c);
        size_t nx = conv_nx(&c), nw = conv_nw(&c), ny = conv_ny(&c);
        float *x0 = test_fcopy(c.x, nx), *w0 = test_fcopy(c.w, nw), *r0 = test_fcopy(c.r, ny);
        float *y0 = test_fcopy(c.y, ny), *dx = test_fvec(nx), *dxn = test_fvec(nx), *dw = test_fvec(nw);
        float *dw_only = test_fvec(nw);
        conv_backward(&c, dx, dw);
        conv_backward(&c, dxn, NULL);
        CU_ASSERT(max_abs_diff(dx, dxn, nx) <= 1e-6 * max_abs(dx, nx));
        conv_backward(&c, NULL, dw_only);
        CU_ASSERT(max_abs_diff(dw, dw_only, nw) <= 1e-6 * max_abs(dw, nw));
        CU_ASSERT(test_bits_equal(c.x, x0, nx) && test_bits_equal(c.w, w0, nw) &&
                  test_bits_equal(c.r, r0, ny) && test_bits_equal(c.y, y0, ny));
        free(x0), free(w0), free(r0), free(y0), free(dx), free(dxn), free(dw), free(dw_only);
        conv_teardown(&c);
    }

    bn_case b = {.B = 2, .C = 3, .HW = 4};
    bn_setup(&b, 41);
    bn_objective(&b);
    float *m0 = test_fcopy(b.mean, 3), *s0 = test_fcopy(b.inv_std, 3), *bx0 = test_fcopy(b.x, 24);
    float *bdx = test_fvec(24), *bdxn = test_fvec(24), *gg = test_fvec(3), *gb = test_fvec(3);
    gf_bn_backward(bdx, gg, gb, b.r, b.x, b.mean, b.inv_std, b.gamma, 2, 3, 4);
    gf_bn_backward(bdxn, NULL, NULL, b.r, b.x, b.mean, b.inv_std, b.gamma, 2, 3, 4);
    CU_ASSERT(max_abs_diff(bdx, bdxn, 24) <= 1e-6 * max_abs(bdx, 24));
    CU_ASSERT(test_bits_equal(b.mean, m0, 3) && test_bits_equal(b.inv_std, s0, 3) &&
              test_bits_equal(b.x, bx0, 24));
    free(m0), free(s0), free(bx0), free(bdx), free(bdxn), free(gg), free(gb);
    bn_teardown(&b);

    linear_case l = {.B = 2, .In = 3, .O = 2};
    linear_setup(&l, 43);
    float *ldx = test_fvec(6), *ldxn = test_fvec(6), *lw = test_fvec(6), *lb = test_fvec(2);
    gf_linear_backward(ldx, lw, lb, l.r, l.x, l.w, 2, 3, 2);
    gf_linear_backward(ldxn, NULL, NULL, l.r, l.x, l.w, 2, 3, 2);
    CU_ASSERT(max_abs_diff(ldx, ldxn, 6) <= 1e-6 * max_abs(ldx, 6));
    free(ldx), free(ldxn), free(lw), free(lb);
    linear_teardown(&l);
}

/* The checker itself must fail the bugs it is for: a wrong sign, an index
 * off by one, and BN's backward without its mean-subtraction term. */
static void test_fd_checker_catches_planted_bugs(void)
{
    conv_case c = {.B = 2, .Ci = 3, .H = 6, .W = 6, .Co = 4, .K = 3, .s = 1, .p = 1};
    conv_setup(&c, 47);
    conv_objective(&c);
    size_t nx = conv_nx(&c), nw = conv_nw(&c);
    float *dx = test_fvec(nx), *dw = test_fvec(nw), *bad = test_fvec(nx);
    gf_conv2d_backward(dx, dw, c.r, c.x, c.w, 2, 3, 6, 6, 4, 3, 1, 1, c.scratch);
    size_t *idx = index_all(nx), *idx_w = index_all(nw);
    for (size_t i = 0; i < nw; i++)
        dw[i] = -dw[i];
    fd_result r = fd_compare(conv_objective, NULL, &c, c.w, idx_w, nw, dw, &FD_LINEAR);
    CU_ASSERT(r.max_rel > 100 * FD_LINEAR.tol);
    for (size_t i = 0; i < nx; i++)
        bad[i] = dx[(i + 1) % nx];
    r = fd_compare(conv_objective, NULL, &c, c.x, idx, nx, bad, &FD_LINEAR);
    CU_ASSERT(r.max_rel > 100 * FD_LINEAR.tol);
    free(dx), free(dw), free(bad), free(idx), free(idx_w);
    conv_teardown(&c);

    bn_case b = {.B = 4, .C = 3, .HW = 5};
    bn_setup(&b, 53);
    bn_objective(&b);
    size_t n = bn_n(&b);
    float *bdx = test_fvec(n);
    /* γ·is·(dy − x̂·mean(dy x̂)): the "− mean(dy)" term dropped */
    for (int ch = 0; ch < 3; ch++) {
        double sdyx = 0.0;
        for (int bb = 0; bb < 4; bb++)
            for (int i = 0; i < 5; i++) {
                size_t o = ((size_t)bb * 3 + ch) * 5 + i;
                sdyx += b.r[o] * (b.x[o] - b.mean[ch]) * b.inv_std[ch];
            }
        for (int bb = 0; bb < 4; bb++)
            for (int i = 0; i < 5; i++) {
                size_t o = ((size_t)bb * 3 + ch) * 5 + i;
                double xh = (b.x[o] - b.mean[ch]) * b.inv_std[ch];
                bdx[o] = (float)(b.gamma[ch] * b.inv_std[ch] * (b.r[o] - xh * sdyx / 20));
            }
    }
    size_t *bidx = index_all(n);
    r = fd_compare(bn_objective, NULL, &b, b.x, bidx, n, bdx, &FD_BN);
    CU_ASSERT(r.max_rel > 10 * FD_BN.tol);
    free(bdx), free(bidx);
    bn_teardown(&b);
}

/* ---------------------------------------------------------------- suite */

int suite_kernels_register(void)
{
    static const test_entry tests[] = {
        TEST_ENTRY(test_conv2d_3x3_s1_p1_grad_matches_fd),
        TEST_ENTRY(test_conv2d_3x3_s2_p1_grad_matches_fd),
        TEST_ENTRY(test_conv2d_1x1_s1_grad_matches_fd),
        TEST_ENTRY(test_conv2d_1x1_s2_p0_grad_matches_fd),
        TEST_ENTRY(test_bn_train_grad_matches_fd),
        TEST_ENTRY(test_bn_running_var_unbiased),
        TEST_ENTRY(test_bn_relu_fused_forward_matches_bn_then_relu),
        TEST_ENTRY(test_bn_eval_uses_running_stats),
        TEST_ENTRY(test_relu_grad_matches_fd),
        TEST_ENTRY(test_shortcut_a_odd_size_grad_matches_fd),
        TEST_ENTRY(test_shortcut_a_even_size_grad_matches_fd),
        TEST_ENTRY(test_avgpool_grad_matches_fd),
        TEST_ENTRY(test_linear_grad_matches_fd),
        TEST_ENTRY(test_softmax_xent_grad_matches_fd),
        TEST_ENTRY(test_softmax_xent_stable_large_logits),
        TEST_ENTRY(test_elementwise_helpers),
        TEST_ENTRY(test_backward_twice_same_dx_and_param_grads_accumulate),
        TEST_ENTRY(test_backward_null_param_grads_change_nothing),
        TEST_ENTRY(test_fd_checker_catches_planted_bugs),
    };
    return test_register("kernels", tests, sizeof tests / sizeof tests[0]);
}
