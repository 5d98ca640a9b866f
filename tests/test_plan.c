/* test_plan.c — where activations live (src/net_plan.c): the shared
 * buffers give the same bits as a net that keeps everything, hooks see every
 * out and dout while they hold, what net.h says persists does, and resnet-56
 * fits in a closed-form bound. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "gradflow/net.h"
#include "gradflow/rng.h"
#include "suites.h"

/* model on in_c × hw × hw (MLP width 8) for max_batch examples. */
static gf_net *build(const char *model, int in_c, int hw, unsigned flags, int max_batch)
{
    gf_model_spec spec;
    gf_err err = {{0}};
    CU_ASSERT_EQUAL_FATAL(gf_model_parse(model, &spec, &err), 0);
    spec.in_c = in_c, spec.in_h = spec.in_w = hw, spec.mlp_width = 8;
    gf_net *net = gf_net_new_flags(&spec, max_batch, flags, &err);
    if (!net)
        printf("\n    %s: %s", model, err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    return net;
}

/* A training forward, the loss and a backward with the input gradient, seen
 * by p's hooks. */
static void run_pass(gf_net *net, const float *x, const int32_t *y, int B, test_pass *p)
{
    gf_net_set_hooks(net, &p->hooks);
    CU_ASSERT_EQUAL(gf_net_forward(net, x, B, 1), GF_OK);
    gf_net_loss(net, y, 1, NULL);
    gf_net_zero_grad(net);
    CU_ASSERT_EQUAL(gf_net_backward(net, GF_INPUT_GRAD), GF_OK);
    gf_net_set_hooks(net, NULL);
}

/* After the pass, net's buffers that persist (all of them with
 * GF_NET_KEEP_ALL) hold what its hooks saw. Returns how many outs and douts
 * did not persist. */
static int check_persisting(const gf_net *net, const test_pass *p, int B)
{
    int transient = 0;
    for (int i = 0; i < gf_net_num_layers(net); i++) {
        const gf_layer *l = gf_net_layer(net, i);
        size_t n = (size_t)B * gf_layer_out_size(l);
        if (l->out_persists)
            CU_ASSERT(test_bits_equal(l->out, p->out + p->at[i], n));
        if (l->dout_persists)
            CU_ASSERT(test_bits_equal(l->dout, p->dout + p->at[i], n));
        transient += !l->out_persists + !l->dout_persists;
    }
    for (int i = 0; i < gf_net_num_blocks(net); i++) { /* the boundaries always persist */
        const gf_block *b = gf_net_block(net, i);
        size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
        const float *q = p->block + p->block_at[i];
        CU_ASSERT(test_bits_equal(b->input_grad, q + 2 * n_in, n_in));
        CU_ASSERT(test_bits_equal(b->output_grad, q + 3 * n_in,
                                  (size_t)B * b->out_c * b->out_h * b->out_w));
    }
    return transient;
}

/* The shared plan against GF_NET_KEEP_ALL on one pass (branches scaled by
 * alpha): every out, dout, dx, block split and v the hooks see, the
 * parameter and input gradients, all the same bits. */
static void check_same_bits(const char *model, int in_c, int hw, float alpha)
{
    int B = 4;
    gf_net *shared = build(model, in_c, hw, 0, B);
    gf_net *all = build(model, in_c, hw, GF_NET_KEEP_ALL, B);
    gf_net *nets[2] = {shared, all};
    test_pass pass[2];
    int32_t y[4];
    size_t nx = (size_t)B * in_c * hw * hw, np = gf_net_num_params(shared);
    float *x = test_fvec(nx);
    gf_rng rng;
    gf_rng_seed(&rng, 17, 3);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)gf_rng_normal(&rng);
    for (int b = 0; b < B; b++)
        y[b] = (int32_t)gf_rng_below(&rng, 10);
    for (int k = 0; k < 2; k++) {
        gf_net_init(nets[k], 23);
        CU_ASSERT_EQUAL(gf_net_set_branch_scale(nets[k], alpha), 0);
        test_pass_init(&pass[k], nets[k], B);
        run_pass(nets[k], x, y, B, &pass[k]);
    }
    CU_ASSERT(test_bits_equal(pass[0].out, pass[1].out, pass[0].n));
    CU_ASSERT(test_bits_equal(pass[0].dout, pass[1].dout, pass[0].n));
    CU_ASSERT(test_bits_equal(pass[0].dx, pass[1].dx, pass[0].n_dx));
    CU_ASSERT(test_bits_equal(pass[0].block, pass[1].block, pass[0].n_block));
    CU_ASSERT(test_bits_equal(gf_net_grads(shared), gf_net_grads(all), np));
    CU_ASSERT(test_bits_equal(gf_net_input_grad(shared), gf_net_input_grad(all), nx));
    CU_ASSERT(test_bits_equal(gf_net_logits(shared), gf_net_logits(all), (size_t)B * 10));
    int transient = check_persisting(shared, &pass[0], B);
    CU_ASSERT(transient > 0); /* the plan shares something */
    CU_ASSERT_EQUAL(check_persisting(all, &pass[1], B), 0); /* keep-all keeps all */
    for (int k = 0; k < 2; k++)
        test_pass_free(&pass[k]);
    free(x);
    gf_net_free(shared), gf_net_free(all);
}

static void test_shared_buffers_same_bits_as_keep_all(void)
{
    static const char *cifar[] = {"resnet-8",   "resnet-8-B",        "preact-resnet-8",
                                  "resnet-14",  "preact-resnet-8-B", "plain-8"};
    for (size_t m = 0; m < sizeof cifar / sizeof cifar[0]; m++)
        check_same_bits(cifar[m], 3, 8, 1.0f);
    check_same_bits("mlp-res-4", 1, 6, 1.0f);
    check_same_bits("mlp-plain-4", 1, 6, 1.0f);
    check_same_bits("mlp-plain-2", 1, 6, 1.0f); /* no blocks: stem straight into the head */
    check_same_bits("resnet-8-B", 3, 8, 0.5f);  /* the ablation's α·F(x) + Sx */
    check_same_bits("plain-8", 3, 8, 0.5f);
}

/* 1 if p is the out of a layer whose out persists. */
static int is_persisting_out(const gf_net *net, const float *p)
{
    for (int i = 0; i < gf_net_num_layers(net); i++)
        if (gf_net_layer(net, i)->out == p && gf_net_layer(net, i)->out_persists)
            return 1;
    return 0;
}

/* What net.h promises persists: ReLU outputs and every input a backward
 * reads (conv, BN, linear), block inputs; the douts at block boundaries
 * and the logits' and no other. BN outputs are shared. */
static void check_what_persists(const char *model)
{
    gf_net *net = build(model, 3, 8, 0, 2);
    int nl = gf_net_num_layers(net), nb = gf_net_num_blocks(net), douts = 0;
    for (int i = 0; i < nl; i++) {
        const gf_layer *l = gf_net_layer(net, i);
        int reads_input = l->kind == GF_LAYER_CONV || l->kind == GF_LAYER_BN ||
                          l->kind == GF_LAYER_LINEAR;
        if (l->kind == GF_LAYER_RELU || i == nl - 1)
            CU_ASSERT(l->out_persists);
        if (l->kind == GF_LAYER_BN)
            CU_ASSERT(!l->out_persists);
        if (reads_input && i > 0)
            CU_ASSERT(is_persisting_out(net, l->in));
        int shares = 0; /* an alias of a later layer's dout (bn2, shortcut → add) */
        for (int j = i + 1; j < nl; j++)
            shares |= gf_net_layer(net, j)->dout == l->dout;
        douts += l->dout_persists && !shares;
    }
    for (int i = 0; i < nb; i++) {
        const gf_block *b = gf_net_block(net, i);
        CU_ASSERT(is_persisting_out(net, b->in));
        CU_ASSERT(gf_net_layer(net, b->last)->dout_persists);
        CU_ASSERT_PTR_EQUAL(b->output_grad, gf_net_layer(net, b->last)->dout);
    }
    CU_ASSERT_EQUAL(douts, nb + 2); /* each block's output, the stem's, the logits' */
    gf_net_free(net);
}

static void test_what_persists_is_what_net_h_says(void)
{
    check_what_persists("resnet-8");
    check_what_persists("resnet-8-B");
    check_what_persists("preact-resnet-8-B");
    check_what_persists("plain-8");
}

/* Closed form of the activation storage of a post-activation resnet-(6n+2)
 * with option-A shortcuts on C×H×W (H, W divisible by 4), per example, in
 * floats. Stage sizes S1 = 16HW, S2 = S1/2, S3 = S1/4, ΣS = 1.75·S1. Kept:
 * 4 outs per block (conv1, relu1, conv2, relu2) and 1 dout (its output
 * gradient); the stem's conv1 and relu outs and relu dout; the head's pool
 * and logits. Shared: 3 transient outs, 3 douts, the 2-buffer block split,
 * all at most S1. The input and dL/dinput: 2·C·H·W. Keeping every out and
 * every un-aliased dout instead (GF_NET_KEEP_ALL) costs at least 13 per
 * block: 7 outs and 6 douts (bn2 and the shortcut share the add's). */
static double resnet_bound_floats(int n, int c, int h, int w)
{
    double s1 = 16.0 * h * w, sum_s = 1.75 * s1;
    return 5.0 * n * sum_s + (2 + 1 + 3 + 3 + 2) * s1 + 2.0 * c * h * w + 64 + 2 * 10;
}

static double resnet_keep_all_floats(int n, int h, int w)
{
    return 13.0 * n * 1.75 * 16.0 * h * w;
}

/* Largest conv work buffer of net, in bytes (fixed per process, not per batch). */
static size_t conv_scratch_bytes(const gf_net *net)
{
    size_t most = 0;
    for (int i = 0; i < gf_net_num_layers(net); i++) {
        const gf_layer *l = gf_net_layer(net, i);
        if (l->kind != GF_LAYER_CONV)
            continue;
        size_t s = gf_conv2d_scratch(l->in_c, l->in_h, l->in_w, l->out_c, l->k, l->stride, l->pad);
        most = s > most ? s : most;
    }
    return most * sizeof(float);
}

static void check_bound(const char *model, int n, int c, int hw, int B)
{
    gf_net *net = build(model, c, hw, 0, B);
    gf_net_memory m;
    gf_net_memory_usage(net, &m);
    double bound = 4.0 * B * resnet_bound_floats(n, c, hw, hw) + (double)conv_scratch_bytes(net);
    size_t bytes = gf_net_activation_bytes(net);
    printf("\n    %s %dx%dx%d batch %d: %.1f MiB of activations (bound %.1f MiB)", model, c, hw,
           hw, B, bytes / 1048576.0, bound / 1048576.0);
    CU_ASSERT_EQUAL(bytes, m.outputs + m.gradients + m.scratch);
    CU_ASSERT((double)bytes <= bound);
    gf_net *all = build(model, c, hw, GF_NET_KEEP_ALL, B);
    CU_ASSERT((double)gf_net_activation_bytes(all) >= 4.0 * B * resnet_keep_all_floats(n, hw, hw));
    gf_net_free(all);
    gf_net_free(net);
}

/* The benchmark's models and inputs (bench/bench_train.c). The bound is
 * per example, so a small batch checks it: calloc may write every byte
 * (meson's MALLOC_PERTURB_), and the benchmark's batch 128 would then cost
 * gigabytes here. */
static void test_activation_bytes_within_closed_form(void)
{
    check_bound("resnet-56", 9, 3, 32, 8);
    check_bound("resnet-56", 9, 1, 28, 8);
    check_bound("resnet-20", 3, 3, 32, 8);
    check_bound("resnet-110", 18, 3, 32, 8);
}

int suite_plan_register(void)
{
    static const test_entry tests[] = {
        TEST_ENTRY(test_shared_buffers_same_bits_as_keep_all),
        TEST_ENTRY(test_what_persists_is_what_net_h_says),
        TEST_ENTRY(test_activation_bytes_within_closed_form),
    };
    return test_register("plan", tests, sizeof tests / sizeof tests[0]);
}
