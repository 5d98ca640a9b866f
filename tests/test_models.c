/* test_models.c — the model zoo: names, parameter counts (He et al. 2015,
 * Table 6), PyTorch state_dict names and layer shapes, initialisation, SGD
 * against torch.optim.SGD worked by hand, the re-entrant backward, hooks. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/net.h"
#include "gradflow/optim.h"
#include "gradflow/rng.h"
#include "suites.h"

/* ------------------------------------------------------------- helpers */

/* Parses name, sets the input shape (and MLP width when > 0) and builds the
 * net for max_batch examples with gf_net_new_flags; fails the test if any
 * step fails. */
static gf_net *build_flags(const char *name, int in_c, int hw, int mlp_width, int max_batch,
                           unsigned flags)
{
    gf_model_spec spec;
    gf_err err = {{0}};
    int rc = gf_model_parse(name, &spec, &err);
    if (rc)
        printf("\n    %s: %s", name, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    spec.in_c = in_c, spec.in_h = spec.in_w = hw;
    if (mlp_width > 0)
        spec.mlp_width = mlp_width;
    gf_net *net = gf_net_new_flags(&spec, max_batch, flags, &err);
    if (!net)
        printf("\n    %s: %s", name, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    return net;
}

static gf_net *build(const char *name, int in_c, int hw, int mlp_width, int max_batch)
{
    return build_flags(name, in_c, hw, mlp_width, max_batch, 0);
}

/* A seeded batch for net: x [B, in], labels [B] (caller frees). */
static float *make_batch(const gf_net *net, int B, uint64_t seed, int32_t *labels)
{
    const gf_model_spec *s = gf_net_spec(net);
    size_t n = (size_t)B * s->in_c * s->in_h * s->in_w;
    float *x = test_fvec(n);
    gf_rng rng;
    gf_rng_seed(&rng, seed, 5);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)gf_rng_normal(&rng);
    for (int b = 0; b < B; b++)
        labels[b] = (int32_t)gf_rng_below(&rng, (uint32_t)s->num_classes);
    return x;
}

/* -------------------------------------------------------- parameter counts */

/* Trainable parameters of a CIFAR-family net written out from FORMAT.md:
 * 3×3 convs 9·cin·cout, BN 2·c, option B's 1×1 conv cin·cout + BN, option A
 * nothing, linear 64·K + K. Pre-activation: no stem BN, each block's bn1 has
 * its input's channels, and a final BN. */
static long expected_cifar_params(gf_family f, int n, char shortcut, int in_c, int classes)
{
    static const int w[3] = {16, 32, 64};
    int preact = f == GF_FAMILY_PREACT;
    long p = 9L * in_c * w[0] + (preact ? 0 : 2 * w[0]);
    int cin = w[0];
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < n; i++) {
            long cout = w[s];
            p += 9 * cin * cout + 9 * cout * cout;
            p += preact ? 2 * cin + 2 * cout : 4 * cout;
            if (cin != cout && shortcut == 'B')
                p += cin * cout + 2 * cout;
            cin = (int)cout;
        }
    return p + (preact ? 2 * 64 : 0) + 64L * classes + classes;
}

static long net_params(const char *name)
{
    gf_net *net = build(name, 3, 32, 0, 1);
    long n = (long)gf_net_num_params(net);
    /* the flat buffer is exactly the trainable tensors, nothing else */
    long sum = 0;
    for (int i = 0; i < gf_net_num_tensors(net); i++)
        if (!gf_net_tensor(net, i)->is_buffer)
            sum += (long)gf_net_tensor(net, i)->size;
    CU_ASSERT_EQUAL(sum, n);
    gf_net_free(net);
    return n;
}

/* He et al. 2015, Table 6 (CIFAR-10, option A), and the closed form
 * 97216·n − 21926 that the per-layer sum reduces to for option A. */
static void test_param_counts_option_a_match_he2015_table6(void)
{
    static const struct {
        const char *name;
        int n;
        long params;
    } table[] = {
        {"resnet-20", 3, 269722},     {"resnet-32", 5, 464154},   {"resnet-44", 7, 658586},
        {"resnet-56", 9, 853018},     {"resnet-110", 18, 1727962}, {"resnet-1202", 200, 19421274},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        long expect = expected_cifar_params(GF_FAMILY_RESNET, table[i].n, 'A', 3, 10);
        CU_ASSERT_EQUAL(expect, table[i].params);
        CU_ASSERT_EQUAL(97216L * table[i].n - 21926, table[i].params);
        long got = net_params(table[i].name);
        if (got != table[i].params)
            printf("\n    %s: %ld parameters, expected %ld", table[i].name, got, table[i].params);
        CU_ASSERT_EQUAL(got, table[i].params);
    }
}

static void test_plain_count_equals_resnet_option_a(void)
{
    CU_ASSERT_EQUAL(net_params("plain-20"), 269722);
    CU_ASSERT_EQUAL(net_params("plain-56"), net_params("resnet-56"));
}

/* Option B adds a 1×1 conv and a BN where the shape changes: 16·32 + 64 in
 * stage 2 and 32·64 + 128 in stage 3, 2752 in all. */
static void test_option_b_adds_projection_convs_and_bn(void)
{
    CU_ASSERT_EQUAL(net_params("resnet-20-B"), 269722 + 2752);
    CU_ASSERT_EQUAL(net_params("resnet-20-B"),
                    expected_cifar_params(GF_FAMILY_RESNET, 3, 'B', 3, 10));
    CU_ASSERT_EQUAL(net_params("resnet-110-B"), 1727962 + 2752);
    CU_ASSERT_EQUAL(net_params("preact-resnet-20-B"),
                    expected_cifar_params(GF_FAMILY_PREACT, 3, 'B', 3, 10));
    CU_ASSERT_EQUAL(net_params("preact-resnet-20"),
                    expected_cifar_params(GF_FAMILY_PREACT, 3, 'A', 3, 10));
}

/* fc (no bias) + BN, k blocks of two bias-free fc + BN each, linear. */
static void test_mlp_param_counts(void)
{
    gf_net *net = build("mlp-res-8", 1, 28, 0, 1);
    long w = 128, in = 784;
    long expect = in * w + 2 * w + 3 * (2 * w * w + 4 * w) + w * 10 + 10;
    CU_ASSERT_EQUAL((long)gf_net_num_params(net), expect);
    CU_ASSERT_EQUAL(gf_net_num_blocks(net), 3);
    gf_net_free(net);
    net = build("mlp-plain-2", 1, 6, 8, 1);
    CU_ASSERT_EQUAL((long)gf_net_num_params(net), 36 * 8 + 2 * 8 + 8 * 10 + 10);
    CU_ASSERT_EQUAL(gf_net_num_blocks(net), 0);
    gf_net_free(net);
}

/* ------------------------------------------------------------------ names */

static void test_valid_model_names_parse(void)
{
    static const struct {
        const char *name, *canonical;
        gf_family family;
        int depth, n;
        char shortcut;
    } ok[] = {
        {"plain-8", "plain-8", GF_FAMILY_PLAIN, 8, 1, 0},
        {"plain-56", "plain-56", GF_FAMILY_PLAIN, 56, 9, 0},
        {"resnet-20", "resnet-20", GF_FAMILY_RESNET, 20, 3, 'A'},
        {"resnet-20-A", "resnet-20", GF_FAMILY_RESNET, 20, 3, 'A'},
        {"resnet-20-B", "resnet-20-B", GF_FAMILY_RESNET, 20, 3, 'B'},
        {"resnet-1202", "resnet-1202", GF_FAMILY_RESNET, 1202, 200, 'A'},
        {"preact-resnet-110", "preact-resnet-110", GF_FAMILY_PREACT, 110, 18, 'A'},
        /* 164 = 6·27 + 2: a valid basic-block depth (He et al. 2016's own
         * preact-164 is a 9n+2 bottleneck net, which gradflow does not build) */
        {"preact-resnet-164", "preact-resnet-164", GF_FAMILY_PREACT, 164, 27, 'A'},
        {"preact-resnet-56-B", "preact-resnet-56-B", GF_FAMILY_PREACT, 56, 9, 'B'},
        {"mlp-plain-2", "mlp-plain-2", GF_FAMILY_MLP_PLAIN, 2, 0, 0},
        {"mlp-res-8", "mlp-res-8", GF_FAMILY_MLP_RES, 8, 3, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        gf_model_spec s;
        gf_err err = {{0}};
        int rc = gf_model_parse(ok[i].name, &s, &err);
        if (rc)
            printf("\n    %s refused: %s", ok[i].name, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL(s.family, ok[i].family);
        CU_ASSERT_EQUAL(s.depth, ok[i].depth);
        CU_ASSERT_EQUAL(s.n, ok[i].n);
        CU_ASSERT_EQUAL(s.shortcut, ok[i].shortcut);
        char buf[64];
        gf_model_name(&s, buf, sizeof buf);
        CU_ASSERT_STRING_EQUAL(buf, ok[i].canonical);
        /* the documented defaults */
        CU_ASSERT(s.in_c == 3 && s.in_h == 32 && s.in_w == 32 && s.num_classes == 10);
        CU_ASSERT(s.widths[0] == 16 && s.widths[1] == 32 && s.widths[2] == 64);
        CU_ASSERT(s.mlp_width == 128);
        CU_ASSERT_DOUBLE_EQUAL(s.bn_eps, 1e-5, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(s.bn_momentum, 0.1, 1e-7);
    }
}

static void check_refused(const char *name)
{
    gf_model_spec s;
    gf_err err = {{0}};
    int rc = gf_model_parse(name, &s, &err);
    if (rc != -1) {
        printf("\n    '%s' was accepted", name);
        CU_FAIL("an invalid model name was accepted");
        return;
    }
    /* the message lists what is valid */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "6n+2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "resnet-N"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mlp-res-D"));
}

static void test_bad_model_names_refused_with_valid_list(void)
{
    static const char *bad[] = {
        "resnet-21", "resnet-0",  "resnet-20-C", "plain-20-B", "mlp-res-5", "foo-20",
        "",          "resnet-",   "resnet-2",    "resnet-20-", "resnet-20-b", "plain-8-A",
        "mlp-res-4-B", "Resnet-20", "resnet-20 ", "resnet-8x", "mlp-plain-0", "preact-resnet-21",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_refused(bad[i]);
}

/* The depth is decimal digits, nothing else: strtol's leading blanks and
 * sign are not part of a model name. */
static void test_model_depth_must_be_digits(void)
{
    check_refused("resnet- 20");
    check_refused("resnet-+20");
    check_refused("plain-\t8");
}

/* ------------------------------------------------------ names and shapes */

static void check_tensor(const gf_net *net, const char *name, int ndim, const int *shape,
                         int is_buffer)
{
    int i = gf_net_find_tensor(net, name);
    if (i < 0)
        printf("\n    no tensor %s", name);
    CU_ASSERT_FATAL(i >= 0);
    const gf_tensor_info *t = gf_net_tensor(net, i);
    CU_ASSERT_STRING_EQUAL(t->name, name);
    CU_ASSERT_EQUAL(t->ndim, ndim);
    size_t size = 1;
    for (int d = 0; d < ndim && d < 4; d++) {
        CU_ASSERT_EQUAL(t->shape[d], shape[d]);
        size *= (size_t)shape[d];
    }
    CU_ASSERT_EQUAL(t->size, size);
    CU_ASSERT_EQUAL(t->is_buffer, is_buffer);
    CU_ASSERT(is_buffer ? t->grad == NULL : t->grad != NULL);
}

static void check_layer(const gf_net *net, const char *name, gf_layer_kind kind, int c, int h,
                        int w)
{
    int i = gf_net_find_layer(net, name);
    if (i < 0)
        printf("\n    no layer %s", name);
    CU_ASSERT_FATAL(i >= 0);
    const gf_layer *l = gf_net_layer(net, i);
    CU_ASSERT_EQUAL(l->index, i);
    CU_ASSERT_EQUAL(l->kind, kind);
    if (l->out_c != c || l->out_h != h || l->out_w != w)
        printf("\n    %s: %dx%dx%d, expected %dx%dx%d", name, l->out_c, l->out_h, l->out_w, c, h,
               w);
    CU_ASSERT(l->out_c == c && l->out_h == h && l->out_w == w);
}

/* resnet-20-B on 1×28×28 (FORMAT.md names; 28 → 28 → 14 → 7). */
static void test_resnet20b_state_dict_names_and_shapes(void)
{
    gf_net *net = build("resnet-20-B", 1, 28, 0, 2);
    check_tensor(net, "conv1.weight", 4, (int[]){16, 1, 3, 3}, 0);
    check_tensor(net, "bn1.running_mean", 1, (int[]){16}, 1);
    check_tensor(net, "layer2.0.shortcut.0.weight", 4, (int[]){32, 16, 1, 1}, 0);
    check_tensor(net, "layer2.0.shortcut.1.weight", 1, (int[]){32}, 0);
    check_tensor(net, "layer3.0.conv1.weight", 4, (int[]){64, 32, 3, 3}, 0);
    check_tensor(net, "layer3.2.bn2.running_var", 1, (int[]){64}, 1);
    check_tensor(net, "linear.weight", 2, (int[]){10, 64}, 0);
    check_tensor(net, "linear.bias", 1, (int[]){10}, 0);
    CU_ASSERT_EQUAL(gf_net_find_tensor(net, "layer1.0.shortcut.0.weight"), -1);
    CU_ASSERT_EQUAL(gf_net_find_tensor(net, "layer4.0.conv1.weight"), -1);
    /* state_dict order: module by module, weight before its BN's buffers */
    int first = gf_net_find_tensor(net, "conv1.weight"), last = gf_net_num_tensors(net) - 1;
    CU_ASSERT_EQUAL(first, 0);
    CU_ASSERT_STRING_EQUAL(gf_net_tensor(net, last)->name, "linear.bias");
    CU_ASSERT(gf_net_find_tensor(net, "layer2.0.bn2.running_var") <
              gf_net_find_tensor(net, "layer2.0.shortcut.0.weight"));

    check_layer(net, "conv1", GF_LAYER_CONV, 16, 28, 28);
    check_layer(net, "relu", GF_LAYER_RELU, 16, 28, 28);
    check_layer(net, "layer1.2.relu2", GF_LAYER_RELU, 16, 28, 28);
    check_layer(net, "layer2.0.conv1", GF_LAYER_CONV, 32, 14, 14);
    check_layer(net, "layer2.0.shortcut.0", GF_LAYER_CONV, 32, 14, 14);
    check_layer(net, "layer2.0.shortcut.1", GF_LAYER_BN, 32, 14, 14);
    check_layer(net, "layer2.0.add", GF_LAYER_ADD, 32, 14, 14);
    check_layer(net, "layer3.0.relu2", GF_LAYER_RELU, 64, 7, 7);
    check_layer(net, "layer3.2.bn2", GF_LAYER_BN, 64, 7, 7);
    check_layer(net, "avgpool", GF_LAYER_POOL, 64, 1, 1);
    check_layer(net, "linear", GF_LAYER_LINEAR, 10, 1, 1);
    CU_ASSERT_EQUAL(gf_net_find_layer(net, "layer2.0.shortcut"), -1);

    CU_ASSERT_EQUAL_FATAL(gf_net_num_blocks(net), 9);
    const gf_block *b = gf_net_block(net, 3);
    CU_ASSERT_STRING_EQUAL(b->name, "layer2.0");
    CU_ASSERT(b->in_c == 16 && b->in_h == 28 && b->out_c == 32 && b->out_h == 14);
    CU_ASSERT(b->sc >= 0 && b->sc_bn >= 0 && b->kind == GF_BLOCK_RESNET);
    CU_ASSERT_STRING_EQUAL(gf_net_layer(net, b->sc)->name, "layer2.0.shortcut.0");
    CU_ASSERT_EQUAL(gf_net_block(net, 4)->sc, -1); /* identity inside a stage */
    CU_ASSERT_STRING_EQUAL(gf_net_block(net, 8)->name, "layer3.2");
    gf_net_free(net);

    net = build("resnet-20", 1, 28, 0, 1); /* option A: a parameter-free layer */
    check_layer(net, "layer2.0.shortcut", GF_LAYER_SHORTCUT_A, 32, 14, 14);
    CU_ASSERT_EQUAL(gf_net_find_tensor(net, "layer2.0.shortcut.0.weight"), -1);
    gf_net_free(net);
    net = build("preact-resnet-8", 3, 8, 0, 1); /* its head: bn, relu, avgpool, linear */
    check_layer(net, "bn", GF_LAYER_BN, 64, 2, 2);
    check_layer(net, "layer1.0.bn1", GF_LAYER_BN, 16, 8, 8);
    CU_ASSERT_EQUAL(gf_net_find_layer(net, "bn1"), -1);
    gf_net_free(net);
}

/* -------------------------------------------------------- initialisation */

static void test_init_deterministic_in_seed(void)
{
    gf_net *a = build("resnet-8-B", 3, 8, 0, 1), *b = build("resnet-8-B", 3, 8, 0, 1);
    size_t n = gf_net_num_params(a);
    gf_net_init(a, 42);
    gf_net_init(b, 42);
    CU_ASSERT(test_bits_equal(gf_net_params(a), gf_net_params(b), n));
    float *first = test_fcopy(gf_net_params(a), n);
    gf_net_init(b, 43);
    size_t differ = 0, conv = 0;
    for (int i = 0; i < gf_net_num_tensors(b); i++) {
        const gf_tensor_info *t = gf_net_tensor(b, i);
        if (t->is_buffer || gf_net_layer(b, t->layer)->kind != GF_LAYER_CONV)
            continue;
        conv += t->size;
        for (size_t j = 0; j < t->size; j++)
            differ += t->data[j] != first[(size_t)(t->data - gf_net_params(b)) + j];
    }
    CU_ASSERT(conv > 0 && differ > conv * 99 / 100);
    gf_net_init(b, 42); /* re-initialising restores the same values */
    CU_ASSERT(test_bits_equal(first, gf_net_params(b), n));
    free(first);
    gf_net_free(a);
    gf_net_free(b);
}

/* Kaiming normal, fan-in, gain √2 (std √(2/fan_in)) for conv weights; PyTorch
 * defaults for the linear bias U(±1/√fan_in) and for BN (γ 1, β 0, running
 * mean 0, running var 1). */
static void test_init_kaiming_std_and_pytorch_defaults(void)
{
    gf_net *net = build("resnet-20", 3, 32, 0, 1);
    gf_net_init(net, 7);
    const gf_tensor_info *t = gf_net_tensor(net, gf_net_find_tensor(net, "layer3.1.conv2.weight"));
    CU_ASSERT_EQUAL_FATAL(t->size, 36864);
    double s = 0.0, ss = 0.0;
    for (size_t j = 0; j < t->size; j++)
        s += t->data[j], ss += (double)t->data[j] * t->data[j];
    double mean = s / t->size, std = sqrt(ss / t->size - mean * mean), want = sqrt(2.0 / 576);
    printf("\n    layer3.1.conv2.weight std %.5f, Kaiming %.5f", std, want);
    CU_ASSERT(fabs(std / want - 1) < 0.03);
    CU_ASSERT(fabs(mean) < 4 * want / sqrt((double)t->size));
    t = gf_net_tensor(net, gf_net_find_tensor(net, "linear.bias"));
    double bmax = 0.0;
    for (size_t j = 0; j < t->size; j++)
        bmax = fmax(bmax, fabs(t->data[j]));
    CU_ASSERT(bmax > 0 && bmax <= 1.0 / 8);
    for (int i = 0; i < gf_net_num_tensors(net); i++) {
        t = gf_net_tensor(net, i);
        if (gf_net_layer(net, t->layer)->kind != GF_LAYER_BN)
            continue;
        float want_v = strstr(t->name, ".weight") || strstr(t->name, "running_var") ? 1.0f : 0.0f;
        int ok = 1;
        for (size_t j = 0; j < t->size; j++)
            ok &= t->data[j] == want_v;
        CU_ASSERT(ok);
    }
    gf_net_free(net);
}

/* ------------------------------------------------------------------- SGD */

/* torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 1e-4), two steps, by
 * hand: p = 1, g1 = 0.5, g2 = −0.25:
 *   d1 = 0.5 + 1e-4 = 0.5001; buf = 0.5001; p1 = 1 − 0.05001 = 0.94999
 *   d2 = −0.25 + 1e-4·0.94999 = −0.249905001
 *   buf = 0.9·0.5001 − 0.249905001 = 0.200184999; p2 = 0.9299715001
 * p = −2, g1 = 0, g2 = 1:
 *   d1 = −2e-4; p1 = −1.99998; d2 = 0.999800002
 *   buf = −1.8e-4 + 0.999800002 = 0.999620002; p2 = −2.0999420002 */
static void test_sgd_matches_torch_two_steps(void)
{
    gf_net *net = build("mlp-plain-2", 1, 2, 2, 1);
    size_t n = gf_net_num_params(net);
    CU_ASSERT_FATAL(n >= 4);
    float *p = gf_net_params(net), *g = gf_net_grads(net);
    for (size_t i = 0; i < n; i++)
        p[i] = 0.1f * (float)i - 0.5f, g[i] = 0.05f * (float)(i % 5) - 0.1f;
    p[0] = 1.0f, g[0] = 0.5f, p[1] = -2.0f, g[1] = 0.0f;
    float *p0 = test_fcopy(p, n), *g1 = test_fcopy(g, n);
    gf_sgd sgd;
    gf_err err;
    CU_ASSERT_EQUAL_FATAL(gf_sgd_init(&sgd, net, 0.1f, 0.9f, 1e-4f, &err), 0);
    gf_sgd_step(&sgd, net);
    CU_ASSERT(test_bits_equal(g, g1, n)); /* the step reads the gradients only */
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.94999, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p[1], -1.99998, 1e-6);
    for (size_t i = 0; i < n; i++)
        g[i] = -0.5f * g1[i] + 0.01f * (float)i;
    g[0] = -0.25f, g[1] = 1.0f;
    gf_sgd_step(&sgd, net);
    CU_ASSERT_EQUAL(sgd.steps, 2);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.9299715001, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p[1], -2.0999420002, 1e-6);
    int ok = 1; /* every other parameter by the same formula, in double */
    for (size_t i = 2; i < n; i++) {
        double d1 = g1[i] + 1e-4 * p0[i], q1 = p0[i] - 0.1 * d1;
        double d2 = g[i] + 1e-4 * q1, buf = 0.9 * d1 + d2, q2 = q1 - 0.1 * buf;
        ok &= fabs(p[i] - q2) <= 1e-6 * (1 + fabs(q2));
    }
    CU_ASSERT(ok);
    gf_sgd_free(&sgd);

    /* without momentum each step is p −= lr·(g + wd·p) */
    p[0] = 1.0f, g[0] = 0.5f;
    CU_ASSERT_EQUAL_FATAL(gf_sgd_init(&sgd, net, 0.1f, 0.0f, 1e-4f, &err), 0);
    gf_sgd_step(&sgd, net);
    g[0] = -0.25f;
    gf_sgd_step(&sgd, net);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.94999 + 0.1 * 0.249905001, 1e-6);
    gf_sgd_free(&sgd);
    free(p0), free(g1);
    gf_net_free(net);
}

/* --------------------------------------------------- re-entrant backward */

static size_t layer_elems(const gf_net *net, int i, int B)
{
    return (size_t)B * gf_layer_out_size(gf_net_layer(net, i));
}

/* One backward of net seen by a fresh p's hooks: every layer's dout and dx
 * and every block's split as they were produced. */
static void backward_seen(gf_net *net, int B, unsigned flags, test_pass *p)
{
    test_pass_init(p, net, B);
    gf_net_set_hooks(net, &p->hooks);
    CU_ASSERT_EQUAL(gf_net_backward(net, flags), GF_OK);
    gf_net_set_hooks(net, NULL);
}

/* The two passes' douts, dx and block splits, bit for bit. */
static int same_backward(const test_pass *a, const test_pass *b)
{
    return test_bits_equal(a->dout, b->dout, a->n) && test_bits_equal(a->dx, b->dx, a->n_dx) &&
           test_bits_equal(a->block, b->block, a->n_block);
}

/* Backward again on the same forward: GF_NO_PARAM_GRAD leaves every layer's
 * dout (as the hooks see it) and the input gradient bit for bit as they were
 * and the parameter gradients untouched; without it the gradients are added
 * a second time. */
static void check_reentrant(const char *name, int in_c, int hw)
{
    int B = 4;
    gf_net *net = build(name, in_c, hw, 8, B);
    gf_net_init(net, 3);
    int32_t y[4];
    float *x = make_batch(net, B, 9, y);
    size_t np = gf_net_num_params(net), nin = (size_t)B * in_c * hw * hw;
    test_pass d1, d2, d3;
    CU_ASSERT_EQUAL(gf_net_forward(net, x, B, 1), GF_OK);
    gf_net_loss(net, y, 1, NULL);
    gf_net_zero_grad(net);
    backward_seen(net, B, GF_INPUT_GRAD, &d1);
    float *g1 = test_fcopy(gf_net_grads(net), np);
    float *in1 = test_fcopy(gf_net_input_grad(net), nin);

    backward_seen(net, B, GF_NO_PARAM_GRAD | GF_INPUT_GRAD, &d2);
    CU_ASSERT(same_backward(&d1, &d2));
    CU_ASSERT(test_bits_equal(g1, gf_net_grads(net), np));
    CU_ASSERT(test_bits_equal(in1, gf_net_input_grad(net), nin));

    backward_seen(net, B, GF_INPUT_GRAD, &d3);
    CU_ASSERT(same_backward(&d1, &d3));
    const float *g = gf_net_grads(net);
    double gmax = 0.0, err = 0.0;
    for (size_t i = 0; i < np; i++)
        gmax = fmax(gmax, fabs(g1[i])), err = fmax(err, fabs(g[i] - 2.0 * g1[i]));
    CU_ASSERT(gmax > 0 && err <= 1e-5 * gmax);
    free(x), free(g1), free(in1);
    test_pass_free(&d1), test_pass_free(&d2), test_pass_free(&d3);
    gf_net_free(net);
}

static void test_backward_reentrant_no_param_grad(void)
{
    check_reentrant("resnet-8", 3, 8);
    check_reentrant("resnet-8-B", 3, 8);
    check_reentrant("preact-resnet-8-B", 3, 8);
    check_reentrant("plain-8", 3, 8);
    check_reentrant("mlp-res-4", 1, 6);
}

/* ------------------------------------------------------------------ hooks */

typedef struct hook_log {
    int forward_calls, backward_calls, block_calls, stop_at, bad_args;
    int training_seen;
    int *layer_seen; /* per layer: backward hook calls */
    test_pass *seen; /* if set, copies of what the hooks saw */
    const gf_net *net;
} hook_log;

static int log_forward(void *user, const gf_layer *l, int B, int training)
{
    hook_log *h = user;
    h->forward_calls++;
    h->training_seen = training;
    h->bad_args += B != 4 || l != gf_net_layer(h->net, l->index);
    if (h->seen)
        test_pass_forward(h->seen, l, B, training);
    return h->stop_at == l->index;
}

static int log_backward(void *user, const gf_layer *l, const float *dx, int B)
{
    hook_log *h = user;
    h->backward_calls++;
    h->bad_args += B != 4;
    if (h->layer_seen)
        h->layer_seen[l->index]++;
    if (h->seen)
        test_pass_backward(h->seen, l, dx, B);
    return h->stop_at == -2 && h->backward_calls == 3;
}

static int log_block(void *user, const gf_block *b, int B)
{
    hook_log *h = user;
    h->block_calls++;
    h->bad_args += B != 4;
    if (h->seen)
        test_pass_block(h->seen, b, B);
    return h->stop_at == -3;
}

/* A hook returning non-zero cancels the pass: GF_STOPPED, and nothing after
 * that layer runs (the logits of the previous forward are still there). */
static void test_hook_nonzero_stops_pass(void)
{
    gf_net *net = build("resnet-8", 3, 8, 0, 4);
    gf_net_init(net, 5);
    int32_t y[4];
    float *x1 = make_batch(net, 4, 1, y), *x2 = make_batch(net, 4, 2, y);
    CU_ASSERT_EQUAL(gf_net_forward(net, x1, 4, 1), GF_OK);
    float *logits = test_fcopy(gf_net_logits(net), 40);
    hook_log h = {.stop_at = 5, .net = net};
    gf_hooks hooks = {.user = &h, .layer_forward = log_forward, .layer_backward = log_backward,
                      .block_backward = log_block};
    gf_net_set_hooks(net, &hooks);
    CU_ASSERT_EQUAL(gf_net_forward(net, x2, 4, 0), GF_STOPPED);
    CU_ASSERT_EQUAL(h.forward_calls, 6);
    CU_ASSERT_EQUAL(h.training_seen, 0);
    CU_ASSERT(test_bits_equal(logits, gf_net_logits(net), 40));

    h.stop_at = -1; /* a full forward, then a backward cancelled at its third layer */
    CU_ASSERT_EQUAL(gf_net_forward(net, x1, 4, 1), GF_OK);
    CU_ASSERT_EQUAL(h.training_seen, 1);
    gf_net_loss(net, y, 1, NULL);
    h.stop_at = -2, h.backward_calls = 0;
    CU_ASSERT_EQUAL(gf_net_backward(net, 0), GF_STOPPED);
    CU_ASSERT_EQUAL(h.backward_calls, 3);
    CU_ASSERT_EQUAL(h.block_calls, 0);
    h.stop_at = -3, h.backward_calls = 0; /* the block hook cancels at the last block */
    CU_ASSERT_EQUAL(gf_net_backward(net, 0), GF_STOPPED);
    CU_ASSERT_EQUAL(h.block_calls, 1);
    CU_ASSERT_EQUAL(h.bad_args, 0);
    gf_net_set_hooks(net, NULL); /* cleared: passes run through again */
    CU_ASSERT_EQUAL(gf_net_forward(net, x2, 4, 1), GF_OK);
    CU_ASSERT_EQUAL(gf_net_backward(net, 0), GF_OK);
    CU_ASSERT_EQUAL(h.forward_calls, 6 + gf_net_num_layers(net));
    free(x1), free(x2), free(logits);
    gf_net_free(net);
}

/* Results with no hook equal results with hooks that only observe, bit for
 * bit; the observing hooks see every layer's forward and backward once and
 * every block once. Every out and dout they see is what a net without hooks
 * that keeps all its buffers (GF_NET_KEEP_ALL) holds after the pass; the
 * ones that persist in the hook-less net a are the same as in b. */
static void test_noop_hooks_change_nothing(void)
{
    static const char *models[] = {"resnet-8-B", "preact-resnet-8", "plain-8"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        gf_net *a = build(models[m], 3, 8, 0, 4), *b = build(models[m], 3, 8, 0, 4);
        gf_net *kept = build_flags(models[m], 3, 8, 0, 4, GF_NET_KEEP_ALL);
        gf_net_init(a, 8), gf_net_init(b, 8), gf_net_init(kept, 8);
        int nl = gf_net_num_layers(b);
        test_pass seen;
        test_pass_init(&seen, b, 4);
        hook_log h = {.stop_at = -1, .net = b, .layer_seen = calloc((size_t)nl, sizeof(int)),
                      .seen = &seen};
        CU_ASSERT_PTR_NOT_NULL_FATAL(h.layer_seen);
        gf_hooks hooks = {.user = &h, .layer_forward = log_forward,
                          .layer_backward = log_backward, .block_backward = log_block};
        gf_net_set_hooks(b, &hooks);
        int32_t y[4];
        float *x = make_batch(a, 4, 3, y);
        gf_net *nets[3] = {a, b, kept};
        double loss[3];
        for (int k = 0; k < 3; k++) {
            CU_ASSERT_EQUAL(gf_net_forward(nets[k], x, 4, 1), GF_OK);
            loss[k] = gf_net_loss(nets[k], y, 1, NULL);
            gf_net_zero_grad(nets[k]);
            CU_ASSERT_EQUAL(gf_net_backward(nets[k], GF_INPUT_GRAD), GF_OK);
        }
        size_t np = gf_net_num_params(a);
        CU_ASSERT(loss[0] == loss[1] && loss[0] == loss[2]);
        for (int k = 1; k < 3; k++) {
            CU_ASSERT(test_bits_equal(gf_net_logits(a), gf_net_logits(nets[k]), 40));
            CU_ASSERT(test_bits_equal(gf_net_grads(a), gf_net_grads(nets[k]), np));
            CU_ASSERT(test_bits_equal(gf_net_input_grad(a), gf_net_input_grad(nets[k]),
                                      4 * 3 * 64));
        }
        for (int i = 0; i < nl; i++) {
            const gf_layer *la = gf_net_layer(a, i), *lb = gf_net_layer(b, i);
            const gf_layer *lk = gf_net_layer(kept, i);
            size_t n = layer_elems(b, i, 4);
            CU_ASSERT(test_bits_equal(seen.out + seen.at[i], lk->out, n));
            CU_ASSERT(test_bits_equal(seen.dout + seen.at[i], lk->dout, n));
            if (la->out_persists)
                CU_ASSERT(test_bits_equal(la->out, lb->out, n));
            if (la->dout_persists)
                CU_ASSERT(test_bits_equal(la->dout, lb->dout, n));
        }
        CU_ASSERT_EQUAL(h.forward_calls, nl);
        CU_ASSERT_EQUAL(h.backward_calls, nl);
        CU_ASSERT_EQUAL(h.block_calls, gf_net_num_blocks(b));
        int once = 1;
        for (int i = 0; i < nl; i++)
            once &= h.layer_seen[i] == 1;
        CU_ASSERT(once);
        CU_ASSERT_EQUAL(h.bad_args, 0);
        free(x), free(h.layer_seen);
        test_pass_free(&seen);
        gf_net_free(a);
        gf_net_free(b);
        gf_net_free(kept);
    }
}

/* ------------------------------------------------------------ edge cases */

static void test_net_new_and_forward_refuse_bad_sizes(void)
{
    gf_model_spec spec;
    gf_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(gf_model_parse("resnet-8", &spec, &err), 0);
    CU_ASSERT_PTR_NULL(gf_net_new(&spec, 0, &err));
    CU_ASSERT(strlen(err.msg) > 0);
    spec.in_h = 0;
    CU_ASSERT_PTR_NULL(gf_net_new(&spec, 1, &err));
    gf_net_free(NULL);
    gf_net *net = build("resnet-8", 3, 8, 0, 2);
    float x[3 * 3 * 64] = {0};
    CU_ASSERT_EQUAL(gf_net_forward(net, x, 3, 1), GF_ERROR);
    CU_ASSERT_EQUAL(gf_net_forward(net, x, 0, 1), GF_ERROR);
    CU_ASSERT_EQUAL(gf_net_max_batch(net), 2);
    gf_net_free(net);
}

/* ---------------------------------------------------------------- suite */

int suite_models_register(void)
{
    static const test_entry tests[] = {
        TEST_ENTRY(test_param_counts_option_a_match_he2015_table6),
        TEST_ENTRY(test_plain_count_equals_resnet_option_a),
        TEST_ENTRY(test_option_b_adds_projection_convs_and_bn),
        TEST_ENTRY(test_mlp_param_counts),
        TEST_ENTRY(test_valid_model_names_parse),
        TEST_ENTRY(test_bad_model_names_refused_with_valid_list),
        TEST_ENTRY(test_model_depth_must_be_digits),
        TEST_ENTRY(test_resnet20b_state_dict_names_and_shapes),
        TEST_ENTRY(test_init_deterministic_in_seed),
        TEST_ENTRY(test_init_kaiming_std_and_pytorch_defaults),
        TEST_ENTRY(test_sgd_matches_torch_two_steps),
        TEST_ENTRY(test_backward_reentrant_no_param_grad),
        TEST_ENTRY(test_hook_nonzero_stops_pass),
        TEST_ENTRY(test_noop_hooks_change_nothing),
        TEST_ENTRY(test_net_new_and_forward_refuse_bad_sizes),
    };
    return test_register("models", tests, sizeof tests / sizeof tests[0]);
}
