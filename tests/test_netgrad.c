/* test_netgrad.c — whole tiny networks against central finite differences of
 * gf_net_loss (the checker is testutil.c's), each residual block's
 * identity/branch split, and the same bits for any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "gradflow/net.h"
#include "gradflow/rng.h"
#include "suites.h"

/* The fraction of a kink correction assumed still wrong (see kink_hook). */
#define KINK_RESIDUAL 2e-3

/* ------------------------------------------------ whole networks vs FD */

/* A tiny net at batch 4 in training mode. There, every input moves the batch
 * statistics, so some ReLU input somewhere always changes side by a hair,
 * and the loss is not smooth along the step. The correction: ReLU is convex,
 * so an element whose input a' ended on the other side of 0 from the base
 * point outputs |a'| more than the base side's linear piece would, which
 * moves L by dL/d(out)·|a'| to first order. A layer_forward hook records each
 * ReLU input's side at the base point and, on later forwards, sums that
 * amount (with dL/d(out) from the base backward, kept by a layer_backward
 * hook: the net reuses most dout buffers) so the objective can
 * subtract it: what remains is the smooth function whose derivative the
 * backward computes, up to O(h·|a'|). The summed magnitudes bound how far
 * the correction itself could be off; fd_compare skips a point only when
 * KINK_RESIDUAL of that could matter (measured on these nets: what the
 * correction leaves is a fraction of a per cent of it). */
typedef struct net_case {
    gf_net *net;
    int B;
    size_t nin, nsign;
    float *x;
    int32_t labels[8];
    unsigned char *sign;
    float *relu_dout; /* dL/d(out) of every ReLU at the base point, laid out as sign */
    size_t *relu_off; /* per layer: offset into sign and relu_dout (relu layers only) */
    int recording;
    double kink_shift, kink_abs;
} net_case;

static int kink_hook(void *user, const gf_layer *l, int B, int training)
{
    net_case *c = user;
    (void)training;
    if (l->kind != GF_LAYER_RELU)
        return 0;
    unsigned char *s = c->sign + c->relu_off[l->index];
    size_t n = (size_t)B * gf_layer_out_size(l);
    for (size_t i = 0; i < n; i++) {
        unsigned char pos = l->in[i] > 0.0f;
        if (c->recording) {
            s[i] = pos;
        } else if (s[i] != pos) {
            double d = fabs((double)l->in[i]) * c->relu_dout[c->relu_off[l->index] + i];
            c->kink_shift += d, c->kink_abs += fabs(d);
        }
    }
    return 0;
}

static int keep_relu_dout(void *user, const gf_layer *l, const float *dx, int B)
{
    net_case *c = user;
    (void)dx;
    if (l->kind == GF_LAYER_RELU)
        memcpy(c->relu_dout + c->relu_off[l->index], l->dout,
               (size_t)B * gf_layer_out_size(l) * sizeof(float));
    return 0;
}

static double net_objective(void *u)
{
    net_case *c = u;
    c->kink_shift = c->kink_abs = 0.0;
    CU_ASSERT_EQUAL(gf_net_forward(c->net, c->x, c->B, 1), GF_OK);
    return gf_net_loss(c->net, c->labels, 0, NULL) - c->kink_shift;
}

static double net_kink(void *u) { return KINK_RESIDUAL * ((net_case *)u)->kink_abs; }

/* Builds model on in_c × hw × hw for batch B (<= 8), initialises it, and
 * moves BN's γ and β off 1 and 0 so that a mix-up between them cannot pass. */
static void net_setup(net_case *c, const char *model, int in_c, int hw, int B, uint64_t seed)
{
    gf_model_spec spec;
    gf_err err;
    memset(c, 0, sizeof *c);
    CU_ASSERT_EQUAL_FATAL(gf_model_parse(model, &spec, &err), 0);
    spec.in_c = in_c, spec.in_h = spec.in_w = hw, spec.mlp_width = 8;
    c->B = B;
    c->net = gf_net_new(&spec, c->B, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->net);
    gf_net_init(c->net, seed);
    gf_rng rng;
    gf_rng_seed(&rng, seed, 99);
    for (int i = 0; i < gf_net_num_tensors(c->net); i++) {
        const gf_tensor_info *t = gf_net_tensor(c->net, i);
        if (!t->is_buffer && gf_net_layer(c->net, t->layer)->kind == GF_LAYER_BN)
            fill_normal(&rng, t->data, t->size, strstr(t->name, ".weight") ? 1.0 : 0.0, 0.2);
    }
    c->nin = (size_t)c->B * in_c * hw * hw;
    c->x = test_fvec(c->nin);
    fill_normal(&rng, c->x, c->nin, 0.0, 1.0);
    for (int b = 0; b < c->B; b++)
        c->labels[b] = (int32_t)gf_rng_below(&rng, 10);
    int nl = gf_net_num_layers(c->net);
    c->relu_off = calloc((size_t)nl, sizeof *c->relu_off);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->relu_off);
    for (int i = 0; i < nl; i++) {
        const gf_layer *l = gf_net_layer(c->net, i);
        c->relu_off[i] = c->nsign;
        if (l->kind == GF_LAYER_RELU)
            c->nsign += (size_t)c->B * gf_layer_out_size(l);
    }
    c->sign = calloc(c->nsign + 1, 1);
    c->relu_dout = calloc(c->nsign + 1, sizeof *c->relu_dout);
    CU_ASSERT_FATAL(c->sign && c->relu_dout);
    gf_hooks h = {.user = c, .layer_forward = kink_hook, .layer_backward = keep_relu_dout};
    gf_net_set_hooks(c->net, &h);
}

static void net_teardown(net_case *c)
{
    gf_net_free(c->net);
    free(c->x), free(c->sign), free(c->relu_dout), free(c->relu_off);
}

/* The base point: a training forward recording the ReLU sides, the loss,
 * and a backward from zeroed gradients (keep_relu_dout keeps its ReLU
 * douts). eval_bn: instead run the forward in eval mode with every BN's
 * running statistics set to this batch's (the same function value) so that
 * the backward treats the batch statistics as constants — BN's backward
 * without its mean and variance terms. */
static void net_base(net_case *c, int eval_bn)
{
    c->recording = 1;
    CU_ASSERT_EQUAL(gf_net_forward(c->net, c->x, c->B, 1), GF_OK);
    c->recording = 0;
    double loss = gf_net_loss(c->net, c->labels, 1, NULL);
    CU_ASSERT(isfinite(loss) && loss > 0);
    for (int i = 0; eval_bn && i < gf_net_num_tensors(c->net); i++) {
        const gf_tensor_info *t = gf_net_tensor(c->net, i);
        const gf_layer *l = gf_net_layer(c->net, t->layer);
        for (size_t j = 0; t->is_buffer && j < t->size; j++)
            t->data[j] = strstr(t->name, "running_mean")
                             ? l->mean[j]
                             : (float)(1.0 / ((double)l->inv_std[j] * l->inv_std[j]) -
                                       gf_net_spec(c->net)->bn_eps);
    }
    if (eval_bn) {
        size_t nl = (size_t)c->B * gf_net_spec(c->net)->num_classes;
        float *train_logits = test_fcopy(gf_net_logits(c->net), nl);
        CU_ASSERT_EQUAL(gf_net_forward(c->net, c->x, c->B, 0), GF_OK);
        CU_ASSERT(max_abs_diff(train_logits, gf_net_logits(c->net), nl) <=
                  1e-4 * (1 + max_abs(train_logits, nl)));
        CU_ASSERT_DOUBLE_EQUAL(gf_net_loss(c->net, c->labels, 1, NULL), loss, 1e-4);
        free(train_logits);
    }
    gf_net_zero_grad(c->net);
    CU_ASSERT_EQUAL(gf_net_backward(c->net, GF_INPUT_GRAD), GF_OK);
}

/* Indices to check: n_in random inputs (all if fewer), then per_tensor random
 * elements of every trainable tensor (every conv, BN γ/β, shortcut, linear). */
static size_t *net_indices(net_case *c, uint64_t seed, size_t n_in, int per_tensor,
                           size_t *n_params_idx)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 7);
    int nt = gf_net_num_tensors(c->net);
    size_t *idx = malloc((n_in + (size_t)per_tensor * (size_t)nt + 1) * sizeof *idx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    for (size_t k = 0; k < n_in; k++)
        idx[k] = c->nin <= n_in ? k : gf_rng_below(&rng, (uint32_t)c->nin);
    float *params = gf_net_params(c->net);
    size_t m = 0;
    for (int i = 0; i < nt; i++) {
        const gf_tensor_info *t = gf_net_tensor(c->net, i);
        for (int k = 0; !t->is_buffer && k < per_tensor; k++)
            idx[n_in + m++] = (size_t)(t->data - params) + gf_rng_below(&rng, (uint32_t)t->size);
    }
    *n_params_idx = m;
    return idx;
}

/* dL/dinput at 128 sampled inputs and dL/dp at 4 elements of every tensor
 * against central differences of gf_net_loss (training mode). */
static void check_net_fd(const char *model, int in_c, int hw, int B, const fd_opts *o,
                         uint64_t seed)
{
    net_case c;
    net_setup(&c, model, in_c, hw, B, seed);
    net_base(&c, 0);
    size_t np = gf_net_num_params(c.net), n_in = c.nin < 128 ? c.nin : 128, n_p;
    float *dx = test_fcopy(gf_net_input_grad(c.net), c.nin), *dp = test_fcopy(gf_net_grads(c.net), np);
    CU_ASSERT(max_abs(dx, c.nin) > 0 && max_abs(dp, np) > 0);
    size_t *idx = net_indices(&c, seed, n_in, 4, &n_p);
    char what[96];
    snprintf(what, sizeof what, "%s dL/dinput", model);
    fd_check(what, net_objective, net_kink, &c, c.x, idx, n_in, dx, o);
    snprintf(what, sizeof what, "%s dL/dparams", model);
    fd_check(what, net_objective, net_kink, &c, gf_net_params(c.net), idx + n_in, n_p, dp, o);
    free(idx), free(dx), free(dp);
    net_teardown(&c);
}

/* The MLPs run at batch 8: BN over 4 examples of an 8-wide layer is so
 * curved that no step is both clear of the curvature and of the noise. */
static void test_net_fd_resnet8_a(void) { check_net_fd("resnet-8", 3, 8, 4, &FD_NET, 61); }
static void test_net_fd_resnet8_b(void) { check_net_fd("resnet-8-B", 3, 8, 4, &FD_NET, 62); }
static void test_net_fd_preact_resnet8(void)
{
    check_net_fd("preact-resnet-8", 3, 8, 4, &FD_NET, 63);
}
static void test_net_fd_preact_resnet8_b(void)
{
    check_net_fd("preact-resnet-8-B", 3, 8, 4, &FD_NET, 64);
}
static void test_net_fd_plain8(void) { check_net_fd("plain-8", 3, 8, 4, &FD_NET, 65); }
static void test_net_fd_mlp_res4(void) { check_net_fd("mlp-res-4", 1, 6, 8, &FD_MLP, 66); }
static void test_net_fd_mlp_plain4(void) { check_net_fd("mlp-plain-4", 1, 6, 8, &FD_MLP, 67); }

/* The whole-net check must fail a backward that forgets BN's batch
 * statistics: the same network and function value, differentiated as if
 * the statistics were constants (eval mode with running = batch). */
static void test_net_fd_catches_bn_without_batch_stat_terms(void)
{
    net_case c;
    net_setup(&c, "resnet-8", 3, 8, 4, 61);
    net_base(&c, 1);
    size_t np = gf_net_num_params(c.net), n_p;
    float *dx = test_fcopy(gf_net_input_grad(c.net), c.nin), *dp = test_fcopy(gf_net_grads(c.net), np);
    size_t *idx = net_indices(&c, 61, 64, 1, &n_p);
    fd_result r = fd_compare(net_objective, net_kink, &c, c.x, idx, 64, dx, &FD_NET);
    CU_ASSERT(r.max_rel > 4 * FD_NET.tol && r.norm_rel > FD_NET.tol);
    r = fd_compare(net_objective, net_kink, &c, gf_net_params(c.net), idx + 64, n_p, dp, &FD_NET);
    CU_ASSERT(r.max_rel > 4 * FD_NET.tol && r.norm_rel > FD_NET.tol);
    free(idx), free(dx), free(dp);
    net_teardown(&c);
}

/* ------------------------------------------------ the block split, ΣG */

typedef struct split_case {
    gf_net *net;
    float **identity, **branch; /* per-block copies taken in the hook */
    int calls, sum_mismatch, plain_alias_ok;
} split_case;

static int split_hook(void *user, const gf_block *b, int B)
{
    split_case *s = user;
    int i = (int)(b - gf_net_block(s->net, 0));
    size_t n = (size_t)B * b->in_c * b->in_h * b->in_w;
    s->calls++;
    memcpy(s->branch[i], b->branch_grad, n * sizeof(float));
    if (!b->identity_grad) {
        s->plain_alias_ok &= b->kind == GF_BLOCK_PLAIN && b->branch_grad == b->input_grad;
        return 0;
    }
    memcpy(s->identity[i], b->identity_grad, n * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        float sum = b->identity_grad[j] + b->branch_grad[j];
        s->sum_mismatch += sum != b->input_grad[j];
    }
    return 0;
}

/* Sᵀ(m ⊙ g) written out from the block's definition, for identity and
 * option-A shortcuts; returns 0 for option B (no independent formula here). */
static int identity_reference(const gf_net *net, const gf_block *b, const float *mg, float *out,
                              int B)
{
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    if (b->sc < 0) {
        memcpy(out, mg, n_in * sizeof(float));
        return 1;
    }
    if (gf_net_layer(net, b->sc)->kind != GF_LAYER_SHORTCUT_A)
        return 0;
    int pad = (b->out_c - b->in_c) / 2;
    memset(out, 0, n_in * sizeof(float));
    for (int e = 0; e < B; e++)
        for (int ch = 0; ch < b->in_c; ch++)
            for (int i = 0; i < b->out_h; i++)
                for (int j = 0; j < b->out_w; j++)
                    out[(((size_t)e * b->in_c + ch) * b->in_h + 2 * i) * b->in_w + 2 * j] =
                        mg[(((size_t)e * b->out_c + ch + pad) * b->out_h + i) * b->out_w + j];
    return 1;
}

/* m ⊙ g from the block's own relu2 output (post-activation) or g (preact). */
static void mask_reference(const gf_net *net, const gf_block *b, float *mg, int B)
{
    size_t n = (size_t)B * b->out_c * b->out_h * b->out_w;
    const float *relu2 = b->kind == GF_BLOCK_PREACT ? NULL : gf_net_layer(net, b->relu2)->out;
    for (size_t j = 0; j < n; j++)
        mg[j] = !relu2 || relu2[j] > 0.0f ? b->output_grad[j] : 0.0f;
}

/* Checks block i's split after the whole backward: the copies from the hook
 * against the block pieces of the public API, and against the definitions. */
static void check_block_split(split_case *s, int i, int B)
{
    const gf_block *b = gf_net_block(s->net, i);
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    size_t n_out = (size_t)B * b->out_c * b->out_h * b->out_w;
    float *mg = test_fvec(n_out), *mg2 = test_fvec(n_out), *t = test_fvec(n_in), *sum = test_fvec(n_in);
    mask_reference(s->net, b, mg, B);
    if (b->kind == GF_BLOCK_PLAIN) {
        CU_ASSERT(test_bits_equal(s->branch[i], b->input_grad, n_in));
        CU_ASSERT_EQUAL(gf_block_shortcut_backward(s->net, i, mg, t, B, GF_NO_PARAM_GRAD), -1);
        goto done;
    }
    CU_ASSERT_EQUAL(gf_block_mask_backward(s->net, i, b->output_grad, mg2, B), 0);
    CU_ASSERT(test_bits_equal(mg, mg2, n_out));
    CU_ASSERT_EQUAL(gf_block_shortcut_backward(s->net, i, mg, t, B, GF_NO_PARAM_GRAD), 0);
    CU_ASSERT(max_abs_diff(t, s->identity[i], n_in) <= 1e-6 * max_abs(t, n_in));
    if (identity_reference(s->net, b, mg, t, B))
        CU_ASSERT(test_bits_equal(t, s->identity[i], n_in));
    CU_ASSERT_EQUAL(gf_block_branch_backward(s->net, i, mg, t, B, GF_NO_PARAM_GRAD), 0);
    CU_ASSERT(max_abs_diff(t, s->branch[i], n_in) <= 1e-6 * max_abs(t, n_in));
    CU_ASSERT(max_abs(s->branch[i], n_in) > 0 && max_abs(s->identity[i], n_in) > 0);
    for (size_t j = 0; j < n_in; j++)
        sum[j] = s->identity[i][j] + s->branch[i][j];
    CU_ASSERT(test_bits_equal(sum, b->input_grad, n_in)); /* input_grad persists */
done:
    free(mg), free(mg2), free(t), free(sum);
}

static void check_split(const char *model, int in_c, int hw)
{
    net_case c;
    net_setup(&c, model, in_c, hw, 4, 71);
    int nb = gf_net_num_blocks(c.net);
    split_case s = {.net = c.net, .plain_alias_ok = 1};
    s.identity = calloc((size_t)nb, sizeof *s.identity);
    s.branch = calloc((size_t)nb, sizeof *s.branch);
    CU_ASSERT_FATAL(nb > 0 && s.identity && s.branch);
    for (int i = 0; i < nb; i++) {
        const gf_block *b = gf_net_block(c.net, i);
        s.identity[i] = test_fvec((size_t)c.B * b->in_c * b->in_h * b->in_w);
        s.branch[i] = test_fvec((size_t)c.B * b->in_c * b->in_h * b->in_w);
    }
    gf_hooks h = {.user = &s, .block_backward = split_hook};
    gf_net_set_hooks(c.net, &h);
    CU_ASSERT_EQUAL(gf_net_forward(c.net, c.x, c.B, 1), GF_OK);
    gf_net_loss(c.net, c.labels, 1, NULL);
    gf_net_zero_grad(c.net);
    CU_ASSERT_EQUAL(gf_net_backward(c.net, 0), GF_OK);
    CU_ASSERT_EQUAL(s.calls, nb);
    CU_ASSERT_EQUAL(s.sum_mismatch, 0);
    CU_ASSERT(s.plain_alias_ok);
    for (int i = 0; i < nb; i++) {
        check_block_split(&s, i, c.B);
        free(s.identity[i]), free(s.branch[i]);
    }
    free(s.identity), free(s.branch);
    net_teardown(&c);
}

static void test_block_split_sums_to_input_grad(void)
{
    check_split("resnet-8", 3, 8);
    check_split("resnet-8-B", 3, 8);
    check_split("preact-resnet-8", 3, 8);
    check_split("preact-resnet-8-B", 3, 8);
    check_split("resnet-14", 3, 8); /* identity shortcuts too */
    check_split("mlp-res-4", 1, 6);
    check_split("plain-8", 3, 8);
}

/* ------------------------------------------------------- thread count */

/* One forward and backward of a small net plus both conv engines, with
 * everything that comes out concatenated (caller frees). */
static float *thread_probe(size_t *n_out)
{
    net_case c;
    net_setup(&c, "resnet-8-B", 3, 8, 4, 81);
    CU_ASSERT_EQUAL(gf_net_forward(c.net, c.x, 4, 1), GF_OK);
    gf_net_loss(c.net, c.labels, 1, NULL);
    gf_net_zero_grad(c.net);
    CU_ASSERT_EQUAL(gf_net_backward(c.net, GF_INPUT_GRAD), GF_OK);
    size_t np = gf_net_num_params(c.net), n = 40 + np + c.nin, k = 0;
    float *all = test_fvec(n);
    memcpy(all, gf_net_logits(c.net), 40 * sizeof(float)), k += 40;
    memcpy(all + k, gf_net_grads(c.net), np * sizeof(float)), k += np;
    memcpy(all + k, gf_net_input_grad(c.net), c.nin * sizeof(float)), k += c.nin;
    net_teardown(&c);
    for (int e = 0; e < 2; e++) {
        conv_case cc = conv_engines[e];
        conv_setup(&cc, 83);
        conv_objective(&cc);
        size_t ny = conv_ny(&cc), nx = conv_nx(&cc), nw = conv_nw(&cc);
        float *grown = realloc(all, (k + ny + nx + nw) * sizeof(float));
        CU_ASSERT_PTR_NOT_NULL_FATAL(grown);
        all = grown;
        memcpy(all + k, cc.y, ny * sizeof(float)), k += ny;
        memset(all + k, 0, (nx + nw) * sizeof(float));
        conv_backward(&cc, all + k, all + k + nx);
        k += nx + nw;
        conv_teardown(&cc);
    }
    *n_out = k;
    return all;
}

/* kernels.h: same inputs, same bits, whatever the thread count. Runs last:
 * it lowers the count to 1 and then restores it. */
static void test_results_bitwise_same_for_any_thread_count(void)
{
    int t0 = gf_num_threads();
    size_t n1, n2;
    float *a = thread_probe(&n1);
    CU_ASSERT_EQUAL(gf_set_num_threads(1), 1);
    float *b = thread_probe(&n2);
    CU_ASSERT_EQUAL(gf_set_num_threads(t0), t0);
    printf("\n    %d thread(s) against 1: %s", t0,
           t0 > 1 ? "compared" : "one core, nothing to compare");
    CU_ASSERT(n1 == n2 && test_bits_equal(a, b, n1));
    free(a), free(b);
}

/* ---------------------------------------------------------------- suite */

int suite_netgrad_register(void)
{
    static const test_entry tests[] = {
        TEST_ENTRY(test_net_fd_resnet8_a),
        TEST_ENTRY(test_net_fd_resnet8_b),
        TEST_ENTRY(test_net_fd_preact_resnet8),
        TEST_ENTRY(test_net_fd_preact_resnet8_b),
        TEST_ENTRY(test_net_fd_plain8),
        TEST_ENTRY(test_net_fd_mlp_res4),
        TEST_ENTRY(test_net_fd_mlp_plain4),
        TEST_ENTRY(test_net_fd_catches_bn_without_batch_stat_terms),
        TEST_ENTRY(test_block_split_sums_to_input_grad),
        TEST_ENTRY(test_results_bitwise_same_for_any_thread_count),
    };
    return test_register("netgrad", tests, sizeof tests / sizeof tests[0]);
}
