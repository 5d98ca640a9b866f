/* test_paths.c — the path-length decomposition and the identity-term
 * ablation, against values computed independently here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gradflow/kernels.h"
#include "gradflow/paths.h"
#include "gradflow/rng.h"
#include "gradflow/train.h"
#include "suites.h"

/* A tiny net after one training-mode forward and backward on random data. */
static gf_net *tiny_net(const char *model, int B, uint64_t seed, float scale)
{
    gf_err err;
    gf_model_spec spec;
    if (gf_model_parse(model, &spec, &err))
        return NULL;
    spec.in_c = 2, spec.in_h = spec.in_w = 8;
    gf_net *net = gf_net_new(&spec, B, &err);
    gf_net_init(net, seed);
    if (gf_net_set_branch_scale(net, scale))
        return NULL;
    size_t n = (size_t)B * 2 * 8 * 8;
    float *x = malloc(n * sizeof *x);
    int32_t *y = malloc((size_t)B * sizeof *y);
    gf_rng r;
    gf_rng_seed(&r, seed, 99);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)gf_rng_normal(&r);
    for (int i = 0; i < B; i++)
        y[i] = (int32_t)gf_rng_below(&r, 10);
    gf_net_forward(net, x, B, 1);
    gf_net_loss(net, y, 1, NULL);
    gf_net_backward(net, GF_NO_PARAM_GRAD);
    free(x), free(y);
    return net;
}

static void test_path_sum_equals_gradient_every_block(void)
{
    const char *models[] = {"resnet-14", "resnet-14-B", "preact-resnet-14"};
    for (int m = 0; m < 3; m++) {
        gf_net *net = tiny_net(models[m], 4, 3, 1.0f);
        CU_ASSERT_PTR_NOT_NULL_FATAL(net);
        for (int from = 0; from < gf_net_num_blocks(net); from += 2) {
            gf_paths p;
            gf_err err;
            CU_ASSERT_EQUAL_FATAL(gf_paths_decompose(net, from, &p, &err), 0);
            CU_ASSERT_EQUAL(p.L, gf_net_num_blocks(net) - from);
            CU_ASSERT(p.sum_rel_err < 1e-5);
            double share = 0;
            for (int k = 0; k <= p.L; k++)
                share += p.share[k];
            CU_ASSERT_DOUBLE_EQUAL(share, 1.0, 1e-6);
            gf_paths_free(&p);
        }
        gf_net_free(net);
    }
}

/* G[0] is the one path through no branch: the chain of Sᵀ(m ⊙ ·) from the
 * last block's output gradient, computed here step by step; G[L] the chain
 * of J_Fᵀ(m ⊙ ·). */
static void test_shortest_and_longest_path_by_hand(void)
{
    gf_net *net = tiny_net("resnet-8", 4, 5, 1.0f);
    gf_paths p;
    gf_err err;
    CU_ASSERT_EQUAL_FATAL(gf_paths_decompose(net, 0, &p, &err), 0);
    int nb = gf_net_num_blocks(net), B = 4;
    const gf_block *last = gf_net_block(net, nb - 1);
    size_t big = (size_t)B * 64 * 8 * 8;
    for (int longest = 0; longest < 2; longest++) {
        float *v = calloc(big, sizeof *v), *w = calloc(big, sizeof *w);
        memcpy(v, last->output_grad, (size_t)B * last->out_c * last->out_h * last->out_w * sizeof *v);
        for (int i = nb - 1; i >= 0; i--) {
            gf_block_mask_backward(net, i, v, v, B);
            if (longest)
                gf_block_branch_backward(net, i, v, w, B, GF_NO_PARAM_GRAD);
            else
                gf_block_shortcut_backward(net, i, v, w, B, GF_NO_PARAM_GRAD);
            float *t = v;
            v = w, w = t;
        }
        const float *g = p.G + (size_t)(longest ? p.L : 0) * p.n;
        double d = 0, r = 0;
        for (size_t j = 0; j < p.n; j++)
            d += ((double)v[j] - g[j]) * ((double)v[j] - g[j]), r += (double)g[j] * g[j];
        CU_ASSERT(r > 0);
        CU_ASSERT(sqrt(d / r) < 1e-6);
        free(v), free(w);
    }
    gf_paths_free(&p);
    gf_net_free(net);
}

static void test_path_counts_binomial_without_overflow(void)
{
    CU_ASSERT_DOUBLE_EQUAL(gf_paths_count(27, 13), 20058300.0, 0.5);
    CU_ASSERT_DOUBLE_EQUAL(gf_paths_count(9, 0), 1.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(gf_paths_count(9, 9), 1.0, 0);
    /* resnet-1202: L = 600; C(600, 300) ≈ 1.35e179, far past 64 bits */
    double c = gf_paths_count(600, 300);
    CU_ASSERT(isfinite(c));
    CU_ASSERT(fabs(log10(c) - 179.13) < 0.01);
}

/* Veit et al.'s estimator is unbiased: with many samples of a length with
 * few paths it converges to G[k]. With k = 0 there is one path: exact. */
static void test_sampling_estimator_converges(void)
{
    gf_net *net = tiny_net("resnet-8", 4, 7, 1.0f);
    gf_paths p;
    gf_err err;
    CU_ASSERT_EQUAL_FATAL(gf_paths_decompose(net, 0, &p, &err), 0);
    gf_rng rng;
    gf_rng_seed(&rng, 1, 2);
    gf_paths_sample s;
    CU_ASSERT_EQUAL(gf_paths_sample_length(net, &p, 0, 3, &rng, &s, &err), 0);
    CU_ASSERT(s.estimate_rel_err < 1e-6);
    /* k = 1 of L = 3: 3 paths; 600 uniform draws put the estimate within a few % */
    CU_ASSERT_EQUAL(gf_paths_sample_length(net, &p, 1, 600, &rng, &s, &err), 0);
    CU_ASSERT(s.estimate_rel_err < 0.15);
    CU_ASSERT(s.mean_path_norm > 0);
    gf_paths_free(&p);
    gf_net_free(net);
}

/* He et al. 2016's identity term: with every branch scaled to zero the
 * gradient still reaches a resnet's first block — exactly the shortcut-only
 * path G[0] of the unscaled net — while a plain net's vanishes. */
static void test_ablation_identity_term_reaches_first_block(void)
{
    gf_net *res0 = tiny_net("resnet-8", 4, 11, 0.0f), *plain0 = tiny_net("plain-8", 4, 11, 0.0f);
    const gf_block *b0 = gf_net_block(res0, 0), *last = gf_net_block(res0, 2);
    size_t n0 = (size_t)4 * b0->in_c * b0->in_h * b0->in_w;
    double head = gf_norm2(last->output_grad, (size_t)4 * last->out_c * last->out_h * last->out_w);
    double first = gf_norm2(b0->input_grad, n0);
    CU_ASSERT(head > 0);
    CU_ASSERT(first > 0.1 * head); /* reaches the first block at the head's scale */
    const gf_block *p0 = gf_net_block(plain0, 0);
    CU_ASSERT_EQUAL(gf_norm2(p0->input_grad, n0), 0.0);
    /* and it is the shortcut-only path: recompute it by hand through Sᵀ(m ⊙ ·) */
    gf_paths p;
    gf_err err;
    CU_ASSERT_EQUAL_FATAL(gf_paths_decompose(res0, 0, &p, &err), 0);
    for (int k = 1; k <= p.L; k++)
        CU_ASSERT_EQUAL(p.norm[k], 0.0);
    CU_ASSERT(fabs(p.norm[0] - first) < 1e-6 * first);
    gf_paths_free(&p);
    gf_net_free(res0), gf_net_free(plain0);
}

static void test_paths_cli_plain_product_and_errors(void)
{
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "%s paths --model plain-8 --data synthetic:N=64,H=8,W=8,TEST=8 "
                              "--batch 8 2>&1", GF_EXE);
    FILE *f = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CU_ASSERT_EQUAL(WEXITSTATUS(pclose(f)), 0);
    /* the two printed numbers must agree: a telescoping product */
    const char *a = strstr(out, "last block| = "), *b = strstr(out, "gains             = ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    double x = atof(a + 14), y = atof(b + 20);
    CU_ASSERT(x > 0 && fabs(x - y) < 1e-3 * x);
    snprintf(cmd, sizeof cmd, "%s paths --model resnet-8 --weights x.h5 >/dev/null 2>&1", GF_EXE);
    CU_ASSERT_EQUAL(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s paths --model resnet-8 --data synthetic:N=64,H=8,W=8 "
                              "--batch 8 --block 3 >/dev/null 2>&1", GF_EXE);
    CU_ASSERT_EQUAL(WEXITSTATUS(system(cmd)), 2);
}

/* Pearson correlation, written out again here for the check. */
static double corr(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++)
        ma += a[i], mb += b[i];
    ma /= (double)n, mb /= (double)n;
    for (size_t i = 0; i < n; i++)
        ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
    return ab / sqrt(aa * bb);
}

/* `gradflow shatter`'s batch correlation equals the mean pairwise Pearson
 * correlation of the input-gradient rows, recomputed here from the same
 * net (same seed) on the same batch (the first B synthetic examples). */
static void test_shatter_batch_correlation_matches_direct(void)
{
    const int B = 6;
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s shatter --models resnet-8 --data synthetic:N=64,H=8,W=8,TEST=8 "
                              "--batch %d --threads 1 2>&1", GF_EXE, B);
    FILE *f = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    CU_ASSERT_EQUAL_FATAL(WEXITSTATUS(pclose(f)), 0);
    const char *row = strstr(out, "\n  resnet-8");
    CU_ASSERT_PTR_NOT_NULL_FATAL(row);
    double printed = 0;
    int depth = 0;
    CU_ASSERT_EQUAL_FATAL(sscanf(row, " resnet-8 %d %lf", &depth, &printed), 2);
    gf_err err;
    gf_data_bundle data;
    CU_ASSERT_EQUAL_FATAL(gf_data_open("synthetic:N=64,H=8,W=8,TEST=8", 0, 0, 1, &data, &err), 0);
    gf_model_spec spec;
    gf_model_parse("resnet-8", &spec, &err);
    spec.in_c = 1, spec.in_h = spec.in_w = 8;
    gf_net *net = gf_net_new(&spec, B, &err);
    gf_net_init(net, 1);
    gf_net_forward(net, data.train.images, B, 1);
    gf_net_loss(net, data.train.labels, 1, NULL);
    gf_net_backward(net, GF_NO_PARAM_GRAD | GF_INPUT_GRAD);
    const float *g = gf_net_input_grad(net);
    double s = 0;
    int pairs = 0;
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++)
            s += corr(g + (size_t)i * 64, g + (size_t)j * 64, 64), pairs++;
    CU_ASSERT_DOUBLE_EQUAL(printed, s / pairs, 1e-4);
    gf_net_free(net);
    gf_data_bundle_free(&data);
}

int suite_paths_register(void)
{
    CU_pSuite s = CU_add_suite("paths", NULL, NULL);
    if (!s ||
        !CU_add_test(s, "path sum equals the gradient at every block",
                     test_path_sum_equals_gradient_every_block) ||
        !CU_add_test(s, "shortest and longest path by hand", test_shortest_and_longest_path_by_hand) ||
        !CU_add_test(s, "path counts binomial without overflow",
                     test_path_counts_binomial_without_overflow) ||
        !CU_add_test(s, "sampling estimator converges", test_sampling_estimator_converges) ||
        !CU_add_test(s, "ablation: identity term reaches the first block",
                     test_ablation_identity_term_reaches_first_block) ||
        !CU_add_test(s, "paths CLI: plain product and errors", test_paths_cli_plain_product_and_errors) ||
        !CU_add_test(s, "shatter: batch correlation matches a direct computation",
                     test_shatter_batch_correlation_matches_direct))
        return -1;
    return 0;
}
