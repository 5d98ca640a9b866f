/* test_loader.c — in-memory data: synthetic datasets, the dataset operations
 * (channel statistics, normalise, truncate, split, free) and the mini-batch loader. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/data.h"
#include "suites.h"

#define TWO_PI 6.283185307179586 /* M_PI is not in strict C11 */

/* ---------------------------------------------------------------- helpers */

/* An in-memory dataset whose example i is filled with i + j / 1000 (so each
 * example is recognisable from its first pixel) and labelled i. */
static gf_dataset make_indexed(int n, int c, int h, int w)
{
    gf_dataset d = {n, c, h, w, n, NULL, NULL};
    size_t dim = (size_t)c * h * w;
    d.images = malloc((size_t)n * dim * sizeof(float));
    d.labels = malloc((size_t)n * sizeof(int32_t));
    CU_ASSERT_FATAL(d.images && d.labels);
    for (int i = 0; i < n; i++) {
        d.labels[i] = i;
        for (size_t j = 0; j < dim; j++)
            d.images[(size_t)i * dim + j] = (float)i + (float)j / 1000.0f;
    }
    return d;
}

/* -------------------------------------------------------------- synthetic */

static void test_synthetic_defaults(void)
{
    gf_dataset tr, te;
    gf_err err = {""};
    int count[10] = {0};
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make("", 1, &tr, &te, &err), 0);
    CU_ASSERT_EQUAL(tr.n, 1024);
    CU_ASSERT_EQUAL(te.n, 256);
    CU_ASSERT(tr.c == 1 && tr.h == 12 && tr.w == 12 && tr.num_classes == 10);
    CU_ASSERT(te.c == 1 && te.h == 12 && te.w == 12 && te.num_classes == 10);
    float lo = 1.0f, hi = 0.0f;
    for (size_t j = 0; j < (size_t)tr.n * 144; j++) {
        lo = fminf(lo, tr.images[j]);
        hi = fmaxf(hi, tr.images[j]);
    }
    CU_ASSERT(lo >= 0.0f && hi <= 1.0f);
    CU_ASSERT(hi - lo > 0.9f); /* the noise reaches the clip at both ends */
    for (int i = 0; i < tr.n; i++)
        if (tr.labels[i] >= 0 && tr.labels[i] < 10)
            count[tr.labels[i]]++;
    for (int k = 0; k < 10; k++)
        CU_ASSERT(count[k] == 102 || count[k] == 103); /* balanced: 1024 / 10 */
    gf_dataset_free(&tr);
    gf_dataset_free(&te);
}

static void test_synthetic_same_seed_same_bytes(void)
{
    gf_dataset a, at, b, bt, c, ct;
    gf_err err = {""};
    const char *spec = "N=64,C=2,H=5,W=7,K=3,TEST=16";
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make(spec, 42, &a, &at, &err), 0);
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make(spec, 42, &b, &bt, &err), 0);
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make(spec, 43, &c, &ct, &err), 0);
    CU_ASSERT(a.n == 64 && a.c == 2 && a.h == 5 && a.w == 7 && a.num_classes == 3 && at.n == 16);
    CU_ASSERT_EQUAL(memcmp(a.images, b.images, 64 * 70 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a.labels, b.labels, 64 * sizeof(int32_t)), 0);
    CU_ASSERT_EQUAL(memcmp(at.images, bt.images, 16 * 70 * sizeof(float)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a.images, c.images, 64 * 70 * sizeof(float)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(at.images, a.images, 16 * 70 * sizeof(float)), 0);
    gf_dataset *all[6] = {&a, &at, &b, &bt, &c, &ct};
    for (int i = 0; i < 6; i++)
        gf_dataset_free(all[i]);
}

/* Log power spectrum of one image x [c, h, w] (h, w <= 16), summed over
 * channels: out [h * w] = log(1e-3 + sum_c |DFT2(x_c)[ky][kx]|^2), by a row
 * then a column DFT. A circular shift leaves |DFT|^2 unchanged, so this is
 * the classic translation-invariant feature (up to the image border). */
static void log_power(const float *x, int c, int h, int w, double *out)
{
    enum { M = 16 };
    double cos_w[M][M], sin_w[M][M], cos_h[M][M], sin_h[M][M], re[M][M], im[M][M];
    for (int k = 0; k < M; k++)
        for (int i = 0; i < M; i++) {
            cos_w[k][i] = cos(TWO_PI * k * i / w), sin_w[k][i] = sin(TWO_PI * k * i / w);
            cos_h[k][i] = cos(TWO_PI * k * i / h), sin_h[k][i] = sin(TWO_PI * k * i / h);
        }
    memset(out, 0, (size_t)h * w * sizeof *out);
    for (int ch = 0; ch < c; ch++) {
        const float *p = x + (size_t)ch * h * w;
        for (int y = 0; y < h; y++) /* rows: re + i im = sum_x p e^{-2 pi i kx x / w} */
            for (int kx = 0; kx < w; kx++) {
                re[y][kx] = im[y][kx] = 0.0;
                for (int i = 0; i < w; i++) {
                    re[y][kx] += p[y * w + i] * cos_w[kx][i];
                    im[y][kx] -= p[y * w + i] * sin_w[kx][i];
                }
            }
        for (int ky = 0; ky < h; ky++) /* columns: times e^{-2 pi i ky y / h} */
            for (int kx = 0; kx < w; kx++) {
                double r = 0.0, q = 0.0;
                for (int y = 0; y < h; y++) {
                    r += re[y][kx] * cos_h[ky][y] + im[y][kx] * sin_h[ky][y];
                    q += im[y][kx] * cos_h[ky][y] - re[y][kx] * sin_h[ky][y];
                }
                out[ky * w + kx] += r * r + q * q;
            }
    }
    for (int j = 0; j < h * w; j++)
        out[j] = log(1e-3 + out[j]);
}

/* Features of n images [n, c, h, w] into f [n, h * w]: the log power
 * spectrum, or the pixels themselves (c = 1 only) when spectrum is 0. */
static double *features(const float *images, int n, int c, int h, int w, int spectrum)
{
    size_t dim = (size_t)h * w;
    double *f = malloc((size_t)n * dim * sizeof *f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; i < n; i++)
        if (spectrum)
            log_power(images + (size_t)i * c * dim, c, h, w, f + (size_t)i * dim);
        else
            for (size_t j = 0; j < dim; j++)
                f[(size_t)i * dim + j] = images[(size_t)i * dim + j];
    return f;
}

/* Class means [k, dim] of the n feature rows f [n, dim] with labels y. */
static double *class_means(const double *f, const int32_t *y, int n, int dim, int k)
{
    double *mean = calloc((size_t)k * dim, sizeof *mean);
    int *count = calloc((size_t)k, sizeof *count);
    CU_ASSERT_FATAL(mean && count);
    for (int i = 0; i < n; i++) {
        count[y[i]]++;
        for (int j = 0; j < dim; j++)
            mean[(size_t)y[i] * dim + j] += f[(size_t)i * dim + j];
    }
    for (int c = 0; c < k; c++)
        for (int j = 0; j < dim; j++)
            mean[(size_t)c * dim + j] /= count[c] ? count[c] : 1;
    free(count);
    return mean;
}

/* Fraction of the n rows f [n, dim] whose nearest class mean (Euclidean)
 * is their label y. */
static double ncm_accuracy(const double *mean, int k, const double *f, const int32_t *y, int n,
                           int dim)
{
    int correct = 0;
    for (int i = 0; i < n; i++) {
        int best = -1;
        double best_d = INFINITY;
        for (int c = 0; c < k; c++) {
            double dist = 0.0;
            for (int j = 0; j < dim; j++) {
                double e = f[(size_t)i * dim + j] - mean[(size_t)c * dim + j];
                dist += e * e;
            }
            if (dist < best_d)
                best_d = dist, best = c;
        }
        correct += best == y[i];
    }
    return (double)correct / n;
}

/* Nearest-class-mean accuracy on the test set, class means from train, in
 * pixel space (spectrum 0) or log-power-spectrum space. */
static double ncm_on(const gf_dataset *tr, const gf_dataset *te, const float *te_images,
                     int spectrum)
{
    int dim = tr->h * tr->w;
    double *ftr = features(tr->images, tr->n, tr->c, tr->h, tr->w, spectrum);
    double *fte = features(te_images, te->n, te->c, te->h, te->w, spectrum);
    double *mean = class_means(ftr, tr->labels, tr->n, dim, tr->num_classes);
    double acc = ncm_accuracy(mean, tr->num_classes, fte, te->labels, te->n, dim);
    free(ftr), free(fte), free(mean);
    return acc;
}

/* Learnable, not trivial: nearest class mean on the log power spectrum (a
 * shift-invariant feature) separates the classes well but not perfectly
 * (noise). On raw pixels it does far worse: the random phase makes every
 * class mean flat grey, so no pixel template identifies a class (what is
 * left above chance comes from the sampling residue in 200-example means). */
static void test_synthetic_learnable_not_trivial(void)
{
    gf_dataset tr, te;
    gf_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make("N=2000,TEST=1000", 7, &tr, &te, &err), 0);
    double spec = ncm_on(&tr, &te, te.images, 1), pix = ncm_on(&tr, &te, te.images, 0);
    CU_ASSERT(spec > 0.80); /* 90.5 % at this seed; chance is 10 % */
    CU_ASSERT(spec < 0.98);
    CU_ASSERT(pix < 0.40); /* 26.3 % */
    gf_dataset_free(&tr);
    gf_dataset_free(&te);
}

/* Energy of x [c, h, w] at frequency f (cycles per pixel) along x (axis 0)
 * or y (axis 1): sum over channels and lines of |sum_u x e^{-2 pi i f u}|^2. */
static double grating_energy(const float *x, int c, int h, int w, double f, int axis)
{
    int lines = axis ? w : h, len = axis ? h : w;
    double e = 0.0;
    for (int ch = 0; ch < c; ch++)
        for (int l = 0; l < lines; l++) {
            double re = 0.0, im = 0.0;
            for (int u = 0; u < len; u++) {
                float v = axis ? x[(ch * h + u) * w + l] : x[(ch * h + l) * w + u];
                re += v * cos(TWO_PI * f * u), im -= v * sin(TWO_PI * f * u);
            }
            e += re * re + im * im;
        }
    return e;
}

/* The class survives gf_loader's augmentation (pad 4, random crop, flip):
 * after it, (1) the spectra of the plain training classes still classify
 * the augmented test images, and (2) for every class k the mean energy at
 * each class's (frequency, orientation), as data.h documents them, is
 * highest at k's own. Data normalised first, as gf_data_open does, so the
 * zero padding is the mean grey. */
static void test_synthetic_survives_augmentation(void)
{
    enum { K = 10 };
    gf_dataset tr, te;
    gf_err err = {""};
    gf_loader l;
    float mean[1], std[1];
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make("N=2000,TEST=1000", 8, &tr, &te, &err), 0);
    gf_dataset_channel_stats(&tr, mean, std);
    gf_dataset_normalise(&tr, mean, std);
    gf_dataset_normalise(&te, mean, std);
    float *aug = malloc((size_t)te.n * 144 * sizeof *aug);
    int32_t *y = malloc((size_t)te.n * sizeof *y);
    CU_ASSERT_FATAL(aug && y);
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &te, te.n, 0, 1, 3, &err), 0);
    CU_ASSERT_EQUAL_FATAL(gf_loader_next(&l, aug, y), te.n);
    CU_ASSERT_NOT_EQUAL(memcmp(aug, te.images, (size_t)te.n * 144 * sizeof *aug), 0);
    double plain = ncm_on(&tr, &te, te.images, 1), augmented = ncm_on(&tr, &te, aug, 1);
    CU_ASSERT(augmented > 0.75); /* 83.8 % at this seed (plain 91.1 %); chance 10 % */
    CU_ASSERT(augmented > plain - 0.15);
    double energy[K][K] = {{0}};
    for (int i = 0; i < te.n; i++)
        for (int j = 0; j < K; j++) /* f_j: K / 2 levels in [0.125, 0.4] */
            energy[y[i]][j] += grating_energy(aug + (size_t)i * 144, 1, 12, 12,
                                              0.125 + 0.275 * (j / 2) / (K / 2 - 1), j % 2);
    for (int k = 0; k < K; k++) {
        int best = 0;
        for (int j = 1; j < K; j++)
            best = energy[k][j] > energy[k][best] ? j : best;
        CU_ASSERT_EQUAL(best, k);
    }
    gf_loader_free(&l);
    free(aug), free(y);
    gf_dataset_free(&tr);
    gf_dataset_free(&te);
}

static void test_synthetic_bad_specs(void)
{
    static const struct {
        const char *spec, *word;
    } bad[] = {
        {"FOO=1", "unknown key"},   {"n=5", "unknown key"},       {"N=abc", "bad value"},
        {"N=", "bad value"},        {"N=-5", "bad value"},        {"N=+5", "bad value"},
        {"N=5x", "bad value"},      {"N= 5", "bad value"},        {"N=0", "bad value"},
        {"K=1", "bad value"},       {"TEST=0", "bad value"},      {"N=99999999999", "bad value"},
        {"N", "KEY=VALUE"},         {"N=5,,C=1", "empty"},        {"N=5,", "empty"},
        {",", "empty"},             {"N=1,N=2", "twice"},         {"H=65536,W=65536", "too large"},
        {"C=2000,H=2000,W=2000", "too large"}, {"N=2000000,H=100,W=100", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gf_dataset tr, te;
        gf_err err = {""};
        CHECK_FAIL(gf_synthetic_make(bad[i].spec, 1, &tr, &te, &err), err, bad[i].spec,
                   bad[i].word);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "synthetic"));
        CHECK_ZEROED(tr);
        CHECK_ZEROED(te);
    }
}

/* ----------------------------------------------------- stats, split, free */

static void test_channel_stats_known_values(void)
{
    /* 2 examples of 2 channels × 1 × 2: channel 0 holds 1, 2, 3, 4 (mean 2.5,
     * population std sqrt(1.25)); channel 1 is constant 10. */
    float px[8] = {1, 2, 10, 10, 3, 4, 10, 10}, mean[2], std[2];
    int32_t lb[2] = {0, 1};
    gf_dataset d = {2, 2, 1, 2, 2, px, lb};
    gf_dataset_channel_stats(&d, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(mean[0], 2.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(std[0], sqrt(1.25), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(mean[1], 10.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(std[1], 0.0, 1e-6);
    gf_dataset_normalise(&d, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(px[0], -1.5 / sqrt(1.25), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(px[5], 1.5 / sqrt(1.25), 1e-6);
    CU_ASSERT_EQUAL(px[2], 0.0f); /* a constant channel is centred, not divided by 0 */
}

static void test_normalise_zero_mean_unit_std(void)
{
    gf_dataset tr, te;
    gf_err err = {""};
    float mean[3], std[3], m2[3], s2[3];
    CU_ASSERT_EQUAL_FATAL(gf_synthetic_make("N=500,C=3,H=8,W=8,TEST=10", 3, &tr, &te, &err), 0);
    gf_dataset_channel_stats(&tr, mean, std);
    for (int c = 0; c < 3; c++)
        CU_ASSERT(mean[c] > 0.3f && mean[c] < 0.7f && std[c] > 0.1f);
    float x0 = tr.images[64 + 5]; /* example 0, channel 1, pixel 5 */
    gf_dataset_normalise(&tr, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(tr.images[64 + 5], (x0 - mean[1]) / std[1], 1e-6);
    gf_dataset_channel_stats(&tr, m2, s2);
    for (int c = 0; c < 3; c++) {
        CU_ASSERT_DOUBLE_EQUAL(m2[c], 0.0, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(s2[c], 1.0, 1e-5);
    }
    gf_dataset_free(&tr);
    gf_dataset_free(&te);
}

static void test_truncate_keeps_first(void)
{
    gf_dataset d = make_indexed(10, 2, 3, 3);
    gf_dataset_truncate(&d, 12); /* beyond n: no-op */
    CU_ASSERT_EQUAL(d.n, 10);
    gf_dataset_truncate(&d, 4);
    CU_ASSERT_EQUAL(d.n, 4);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(d.labels[i], i);
        CU_ASSERT_EQUAL(d.images[i * 18], (float)i);
        CU_ASSERT_EQUAL(d.images[i * 18 + 17], (float)i + 0.017f);
    }
    CU_ASSERT(d.c == 2 && d.h == 3 && d.w == 3);
    gf_dataset_free(&d);
}

static void test_split_moves_tail(void)
{
    gf_dataset d = make_indexed(10, 1, 2, 2), val;
    gf_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gf_dataset_split(&d, 3, &val, &err), 0);
    CU_ASSERT_EQUAL(d.n, 7);
    CU_ASSERT_EQUAL(val.n, 3);
    CU_ASSERT(val.c == 1 && val.h == 2 && val.w == 2 && val.num_classes == 10);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(val.labels[i], 7 + i);
        CU_ASSERT_EQUAL(val.images[i * 4], (float)(7 + i));
        CU_ASSERT_EQUAL(val.images[i * 4 + 3], (float)(7 + i) + 0.003f);
    }
    CU_ASSERT_EQUAL(d.labels[6], 6);
    CU_ASSERT_EQUAL(d.images[6 * 4 + 3], 6.003f);
    gf_dataset_free(&val);
    CU_ASSERT_EQUAL(gf_dataset_split(&d, 7, &val, &err), -1); /* must keep one */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "split"));
    CHECK_ZEROED(val);
    CU_ASSERT_EQUAL(gf_dataset_split(&d, -1, &val, &err), -1);
    CU_ASSERT_EQUAL(d.n, 7);
    CU_ASSERT_EQUAL(gf_dataset_split(&d, 0, &val, &err), 0);
    CU_ASSERT_EQUAL(val.n, 0);
    CU_ASSERT_EQUAL(d.n, 7);
    gf_dataset_free(&val);
    gf_dataset_free(&d);
}

static void test_dataset_free_zeroes(void)
{
    gf_dataset z = {0, 0, 0, 0, 0, NULL, NULL}, d = make_indexed(3, 1, 1, 1);
    gf_dataset_free(NULL);
    gf_dataset_free(&z);
    gf_dataset_free(&d);
    CU_ASSERT(d.n == 0 && d.c == 0 && d.h == 0 && d.w == 0 && d.num_classes == 0);
    CHECK_ZEROED(d);
    gf_dataset_free(&d); /* twice is harmless */
}

/* ----------------------------------------------------------------- loader */

static void test_loader_rejects_bad_args(void)
{
    gf_dataset d = make_indexed(4, 1, 2, 2), empty = {0, 1, 2, 2, 10, NULL, NULL};
    gf_loader l;
    gf_err err = {""};
    CU_ASSERT_EQUAL(gf_loader_init(&l, &d, 0, 1, 0, 1, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "batch"));
    CU_ASSERT_PTR_NULL(l.perm);
    CU_ASSERT_EQUAL(gf_loader_init(&l, &empty, 4, 1, 0, 1, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty"));
    gf_loader_free(&l);
    gf_loader_free(NULL);
    gf_dataset_free(&d);
}

static void test_loader_in_order_without_shuffle(void)
{
    gf_dataset d = make_indexed(10, 1, 2, 3);
    gf_loader l;
    gf_err err = {""};
    float x[4 * 6];
    int32_t y[4];
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &d, 4, 0, 0, 9, &err), 0);
    CU_ASSERT_EQUAL(gf_loader_batches_per_epoch(&l), 3);
    static const int sizes[4] = {4, 4, 2, 4}, first[4] = {0, 4, 8, 0};
    for (int b = 0; b < 4; b++) {
        CU_ASSERT_EQUAL(gf_loader_next(&l, x, y), sizes[b]);
        for (int i = 0; i < sizes[b]; i++) {
            CU_ASSERT_EQUAL(y[i], first[b] + i);
            CU_ASSERT_EQUAL(memcmp(x + i * 6, d.images + (first[b] + i) * 6, 6 * sizeof(float)), 0);
        }
    }
    gf_loader_free(&l);
    gf_dataset_free(&d);
}

/* Shuffled: each epoch is a permutation (the short last batch included),
 * epochs differ, and the epoch counter moves when an epoch completes. */
static void test_loader_each_example_once_per_epoch(void)
{
    gf_dataset d = make_indexed(10, 1, 1, 2);
    gf_loader l;
    gf_err err = {""};
    float x[4 * 2];
    int32_t y[4], order[3][10];
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &d, 4, 1, 0, 5, &err), 0);
    CU_ASSERT_EQUAL(gf_loader_batches_per_epoch(&l), 3);
    for (int e = 0; e < 3; e++) {
        int seen[10] = {0}, got = 0;
        CU_ASSERT_EQUAL(l.epoch, e);
        for (int b = 0; b < 3; b++) {
            int nb = gf_loader_next(&l, x, y);
            CU_ASSERT_EQUAL(nb, b < 2 ? 4 : 2);
            for (int i = 0; i < nb && got < 10; i++) {
                CU_ASSERT_EQUAL(x[2 * i], (float)y[i]); /* image travels with label */
                if (y[i] >= 0 && y[i] < 10)
                    seen[y[i]]++;
                order[e][got++] = y[i];
            }
        }
        for (int k = 0; k < 10; k++)
            CU_ASSERT_EQUAL(seen[k], 1);
    }
    CU_ASSERT_EQUAL(l.epoch, 3);
    CU_ASSERT_NOT_EQUAL(memcmp(order[0], order[1], sizeof order[0]), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(order[1], order[2], sizeof order[0]), 0);
    gf_loader_free(&l);
    gf_dataset_free(&d);
}

/* Batch larger than the dataset: every call is one whole epoch. */
static void test_loader_batch_larger_than_n(void)
{
    gf_dataset d = make_indexed(3, 1, 1, 1);
    gf_loader l;
    gf_err err = {""};
    float x[8];
    int32_t y[8];
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &d, 8, 1, 1, 2, &err), 0);
    CU_ASSERT_EQUAL(gf_loader_batches_per_epoch(&l), 1);
    CU_ASSERT_EQUAL(gf_loader_next(&l, x, y), 3);
    CU_ASSERT_EQUAL(gf_loader_next(&l, x, y), 3);
    CU_ASSERT_EQUAL(y[0] + y[1] + y[2], 0 + 1 + 2);
    CU_ASSERT_EQUAL(l.epoch, 2);
    gf_loader_free(&l);
    gf_dataset_free(&d);
}

static void run_loader(uint64_t seed, int augment, int steps, float *xs, int32_t *ys)
{
    gf_dataset d = make_indexed(13, 2, 5, 6);
    gf_loader l;
    gf_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &d, 4, 1, augment, seed, &err), 0);
    for (int s = 0; s < steps; s++) {
        memset(xs + s * 4 * 60, 0, 4 * 60 * sizeof(float));
        memset(ys + s * 4, 0xff, 4 * sizeof(int32_t));
        gf_loader_next(&l, xs + s * 4 * 60, ys + s * 4);
    }
    gf_loader_free(&l);
    gf_dataset_free(&d);
}

static void test_loader_deterministic_in_seed(void)
{
    enum { STEPS = 9 }; /* 2 epochs and a bit of 13 examples in batches of 4 */
    static float xa[STEPS * 240], xb[STEPS * 240], xc[STEPS * 240], xn[STEPS * 240];
    static int32_t ya[STEPS * 4], yb[STEPS * 4], yc[STEPS * 4], yn[STEPS * 4];
    run_loader(11, 1, STEPS, xa, ya);
    run_loader(11, 1, STEPS, xb, yb);
    run_loader(12, 1, STEPS, xc, yc);
    run_loader(11, 0, STEPS, xn, yn);
    CU_ASSERT_EQUAL(memcmp(xa, xb, sizeof xa), 0);
    CU_ASSERT_EQUAL(memcmp(ya, yb, sizeof ya), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(ya, yc, sizeof ya), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(xa, xc, sizeof xa), 0);
    /* Separate generators: switching augmentation on leaves the order alone. */
    CU_ASSERT_EQUAL(memcmp(ya, yn, sizeof ya), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(xa, xn, sizeof xa), 0);
}

/* Copies a's resumable state into b: what a checkpoint saves and restores. */
static void copy_loader_state(gf_loader *b, const gf_loader *a)
{
    memcpy(b->perm, a->perm, (size_t)a->data->n * sizeof *a->perm);
    b->pos = a->pos;
    b->epoch = a->epoch;
    b->shuffle_rng = a->shuffle_rng;
    b->augment_rng = a->augment_rng;
}

/* Resuming: after k batches (mid-epoch, at an epoch boundary, right after
 * init), copying (perm, pos, epoch, shuffle_rng, augment_rng) into a fresh
 * loader over the same data, even one seeded differently, gives bit-identical
 * batches for the next two epochs; and between calls 0 <= pos < n always. */
static void test_loader_resume_from_copied_state(void)
{
    enum { N = 13, DIM = 60, B = 4, BPE = 4 }; /* batches of 4, 4, 4, 1 */
    gf_dataset d = make_indexed(N, 2, 5, 6);
    static const int copy_after[] = {0, 2, 3, 4, 5, 9};
    float xa[B * DIM], xb[B * DIM];
    int32_t ya[B], yb[B];
    gf_err err = {""};
    for (size_t t = 0; t < sizeof copy_after / sizeof copy_after[0]; t++) {
        gf_loader a, b;
        CU_ASSERT_EQUAL_FATAL(gf_loader_init(&a, &d, B, 1, 1, 21, &err), 0);
        for (int s = 0; s < copy_after[t]; s++) {
            gf_loader_next(&a, xa, ya);
            CU_ASSERT(a.pos >= 0 && a.pos < N);
        }
        CU_ASSERT_EQUAL(a.epoch, copy_after[t] / BPE);
        CU_ASSERT_EQUAL_FATAL(gf_loader_init(&b, &d, B, 1, 1, 999, &err), 0);
        copy_loader_state(&b, &a);
        for (int s = 0; s < 2 * BPE; s++) {
            memset(xb, 0, sizeof xb), memset(yb, 0xff, sizeof yb);
            int na = gf_loader_next(&a, xa, ya), nb = gf_loader_next(&b, xb, yb);
            CU_ASSERT_EQUAL(na, nb);
            CU_ASSERT_EQUAL(memcmp(ya, yb, (size_t)na * sizeof *ya), 0);
            CU_ASSERT_EQUAL(memcmp(xa, xb, (size_t)na * DIM * sizeof *xa), 0);
            CU_ASSERT(b.pos >= 0 && b.pos < N);
            CU_ASSERT_EQUAL(a.epoch, b.epoch);
        }
        CU_ASSERT_EQUAL(b.epoch, copy_after[t] / BPE + 2);
        gf_loader_free(&a);
        gf_loader_free(&b);
    }
    gf_dataset_free(&d);
}

/* The reference augmentation, built the slow way: pad the [c, h, w] image
 * with 4 zeros, flip it if asked, and cut the window at (dy, dx). */
static void reference_crop(const float *in, float *out, int c, int h, int w, int dy, int dx,
                           int flip)
{
    float pad[2][13][14] = {{{0}}};
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                pad[ch][y + 4][(flip ? w - 1 - x : x) + 4] = in[(ch * h + y) * w + x];
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[(ch * h + y) * w + x] = pad[ch][y + dy][x + dx];
}

/* Every augmented output is exactly one of the 9 × 9 × 2 padded crops of
 * the input (distinct nonzero pixels make the match unique), every offset
 * and both flips occur, and the flip rate is about 1/2. */
static void test_loader_augment_is_padded_crop_or_flip(void)
{
    enum { C = 2, H = 5, W = 6, DRAWS = 600 };
    gf_dataset d = {1, C, H, W, 1, NULL, NULL};
    float img[C * H * W], out[C * H * W], ref[C * H * W];
    int32_t label = 0, y;
    int dy_seen[9] = {0}, dx_seen[9] = {0}, flips = 0, unique = 0;
    for (int ch = 0; ch < C; ch++)
        for (int r = 0; r < H; r++)
            for (int x = 0; x < W; x++)
                img[(ch * H + r) * W + x] = 1.0f + (float)(ch * 100 + r * 10 + x);
    d.images = img;
    d.labels = &label;
    gf_loader l;
    gf_err err = {""};
    CU_ASSERT_EQUAL_FATAL(gf_loader_init(&l, &d, 1, 1, 1, 77, &err), 0);
    for (int t = 0; t < DRAWS; t++) {
        int matches = 0, mdy = 0, mdx = 0, mflip = 0;
        CU_ASSERT_EQUAL(gf_loader_next(&l, out, &y), 1);
        for (int dy = 0; dy < 9; dy++)
            for (int dx = 0; dx < 9; dx++)
                for (int f = 0; f < 2; f++) {
                    reference_crop(img, ref, C, H, W, dy, dx, f);
                    if (memcmp(ref, out, sizeof out) == 0) {
                        matches++;
                        mdy = dy;
                        mdx = dx;
                        mflip = f;
                    }
                }
        unique += matches == 1;
        if (matches == 1) {
            dy_seen[mdy]++;
            dx_seen[mdx]++;
            flips += mflip;
        }
    }
    CU_ASSERT_EQUAL(unique, DRAWS);
    for (int k = 0; k < 9; k++) {
        CU_ASSERT(dy_seen[k] > 0);
        CU_ASSERT(dx_seen[k] > 0);
    }
    CU_ASSERT(flips > 240 && flips < 360); /* Binomial(600, 1/2): mean 300, sd 12 */
    gf_loader_free(&l);
}

/* ---------------------------------------------------------------- suite */

int suite_loader_register(void)
{
    static const test_entry tests[] = {
        {"synthetic_defaults", test_synthetic_defaults},
        {"synthetic_same_seed_same_bytes", test_synthetic_same_seed_same_bytes},
        {"synthetic_learnable_not_trivial", test_synthetic_learnable_not_trivial},
        {"synthetic_survives_augmentation", test_synthetic_survives_augmentation},
        {"synthetic_bad_specs", test_synthetic_bad_specs},
        {"channel_stats_known_values", test_channel_stats_known_values},
        {"normalise_zero_mean_unit_std", test_normalise_zero_mean_unit_std},
        {"truncate_keeps_first", test_truncate_keeps_first},
        {"split_moves_tail", test_split_moves_tail},
        {"dataset_free_zeroes", test_dataset_free_zeroes},
        {"loader_rejects_bad_args", test_loader_rejects_bad_args},
        {"loader_in_order_without_shuffle", test_loader_in_order_without_shuffle},
        {"loader_each_example_once_per_epoch", test_loader_each_example_once_per_epoch},
        {"loader_batch_larger_than_n", test_loader_batch_larger_than_n},
        {"loader_deterministic_in_seed", test_loader_deterministic_in_seed},
        {"loader_augment_is_padded_crop_or_flip", test_loader_augment_is_padded_crop_or_flip},
        {"loader_resume_from_copied_state", test_loader_resume_from_copied_state},
    };
    return test_register("loader", tests, sizeof tests / sizeof tests[0]);
}
