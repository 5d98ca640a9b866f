/* net.c — running a network: forward, the re-entrant backward with each
 * residual block's identity/branch split, and the block pieces the
 * path-length analysis re-runs. Construction is in models.c, the buffers in
 * net_plan.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "gradflow/rng.h"
#include "net_internal.h"

void gf_net_free(gf_net *net)
{
    if (!net)
        return;
    free(net->layers), free(net->src), free(net->src2), free(net->dout_alias);
    free(net->blocks), free(net->tensors), free(net->tensor_offset);
    free(net->params), free(net->grads), free(net->buffers), free(net->acts);
    free(net->input), free(net->dinput), free(net->stats), free(net->scratch);
    free(net->split_identity), free(net->split_branch), free(net->scaled);
    free(net);
}

/* ------------------------------------------------------------ accessors */

const gf_model_spec *gf_net_spec(const gf_net *net) { return &net->spec; }
int gf_net_max_batch(const gf_net *net) { return net->max_batch; }
int gf_net_batch(const gf_net *net) { return net->batch; }
int gf_net_num_layers(const gf_net *net) { return net->n_layers; }
const gf_layer *gf_net_layer(const gf_net *net, int i) { return &net->layers[i]; }
int gf_net_num_blocks(const gf_net *net) { return net->n_blocks; }
const gf_block *gf_net_block(const gf_net *net, int i) { return &net->blocks[i]; }
int gf_net_num_tensors(const gf_net *net) { return net->n_tensors; }
const gf_tensor_info *gf_net_tensor(const gf_net *net, int i) { return &net->tensors[i]; }
size_t gf_net_num_params(const gf_net *net) { return net->n_params; }
float *gf_net_params(gf_net *net) { return net->params; }
float *gf_net_grads(gf_net *net) { return net->grads; }
const float *gf_net_input_grad(const gf_net *net) { return net->dinput; }
const float *gf_net_logits(const gf_net *net) { return net->layers[net->n_layers - 1].out; }

int gf_net_find_layer(const gf_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (strcmp(net->layers[i].name, name) == 0)
            return i;
    return -1;
}

int gf_net_find_tensor(const gf_net *net, const char *name)
{
    for (int i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return i;
    return -1;
}

void gf_net_set_hooks(gf_net *net, const gf_hooks *hooks)
{
    memset(&net->hooks, 0, sizeof net->hooks);
    if (hooks)
        net->hooks = *hooks;
    net->has_hooks = hooks && (hooks->layer_forward || hooks->layer_backward ||
                               hooks->block_backward);
}

void gf_net_zero_grad(gf_net *net) { memset(net->grads, 0, net->n_params * sizeof(float)); }

/* ----------------------------------------------------------------- init */

void gf_net_init(gf_net *net, uint64_t seed)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 1 /* stream: init */);
    for (int i = 0; i < net->n_tensors; i++) {
        gf_tensor_info *t = &net->tensors[i];
        const gf_layer *l = &net->layers[t->layer];
        const char *suffix = strrchr(t->name, '.') + 1;
        if (l->kind == GF_LAYER_BN) {
            float v = strcmp(suffix, "weight") == 0 || strcmp(suffix, "running_var") == 0;
            for (size_t j = 0; j < t->size; j++)
                t->data[j] = v;
            continue;
        }
        /* conv / linear: fan_in = in_channels * kh * kw (or in_features) */
        size_t fan_in = t->ndim > 1 ? t->size / (size_t)t->shape[0]
                                    : gf_layer_in_size(l);
        if (strcmp(suffix, "weight") == 0) {
            double std = sqrt(2.0 / (double)fan_in); /* He et al. 2015b, Eq. 10 */
            for (size_t j = 0; j < t->size; j++)
                t->data[j] = (float)(std * gf_rng_normal(&rng));
        } else {
            float bound = (float)(1.0 / sqrt((double)fan_in)); /* torch.nn.Linear default */
            for (size_t j = 0; j < t->size; j++)
                t->data[j] = (2.0f * gf_rng_uniform(&rng) - 1.0f) * bound;
        }
    }
}

/* -------------------------------------------------------------- forward */

static void scale(float *x, float alpha, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= alpha;
}

/* The output ReLU of a plain block: where the ablation scales a plain block. */
static int is_plain_output(const gf_net *net, const gf_layer *l)
{
    return l->block >= 0 && net->blocks[l->block].kind == GF_BLOCK_PLAIN &&
           net->blocks[l->block].relu2 == l->index;
}

int gf_net_set_branch_scale(gf_net *net, float alpha)
{
    if (!(alpha >= 0.0f))
        return -1;
    if (alpha != 1.0f && !net->scaled) {
        size_t most = 1;
        for (int i = 0; i < net->n_blocks; i++) {
            const gf_block *b = &net->blocks[i];
            size_t n = (size_t)net->max_batch * b->out_c * b->out_h * b->out_w;
            most = n > most ? n : most;
        }
        if (!(net->scaled = malloc(most * sizeof(float))))
            return -1;
        net->scaled_size = most;
    }
    net->branch_scale = alpha;
    return 0;
}

float gf_net_branch_scale(const gf_net *net) { return net->branch_scale; }

/* A ReLU reading the BN just before it is computed by that BN's forward in
 * the same pass (gf_bn_relu_forward_*): one read of the BN output fewer. */
static int relu_fused_into_bn(const gf_net *net, int i)
{
    return i > 0 && i < net->n_layers && net->layers[i].kind == GF_LAYER_RELU &&
           net->src[i] == i - 1 && net->layers[i - 1].kind == GF_LAYER_BN;
}

static void layer_forward(gf_net *net, gf_layer *l, int B, int training)
{
    size_t n = (size_t)B * gf_layer_out_size(l);
    int hw = l->out_h * l->out_w;
    float *relu_out = relu_fused_into_bn(net, l->index + 1) ? net->layers[l->index + 1].out
                                                            : NULL;
    switch (l->kind) {
    case GF_LAYER_CONV:
        gf_conv2d_forward(l->out, l->in, l->w, B, l->in_c, l->in_h, l->in_w, l->out_c, l->k,
                          l->stride, l->pad, net->scratch);
        break;
    case GF_LAYER_BN:
        l->trained_forward = training;
        if (training)
            gf_bn_relu_forward_train(l->out, relu_out, l->mean, l->inv_std, l->running_mean,
                                     l->running_var, l->in, l->w, l->b, B, l->out_c, hw,
                                     net->spec.bn_eps, net->spec.bn_momentum);
        else
            gf_bn_relu_forward_eval(l->out, relu_out, l->in, l->w, l->b, l->running_mean,
                                    l->running_var, B, l->out_c, hw, net->spec.bn_eps);
        break;
    case GF_LAYER_RELU:
        if (!relu_fused_into_bn(net, l->index))
            gf_relu_forward(l->out, l->in, n);
        if (net->branch_scale != 1.0f && is_plain_output(net, l))
            scale(l->out, net->branch_scale, n);
        break;
    case GF_LAYER_ADD:
        if (net->branch_scale != 1.0f) { /* y = α·F(x) + Sx */
            memcpy(l->out, l->in2, n * sizeof(float));
            gf_axpy(l->out, net->branch_scale, l->in, n);
        } else {
            gf_add(l->out, l->in, l->in2, n);
        }
        break;
    case GF_LAYER_SHORTCUT_A:
        gf_shortcut_a_forward(l->out, l->in, B, l->in_c, l->in_h, l->in_w, l->out_c, l->stride);
        break;
    case GF_LAYER_POOL:
        gf_avgpool_forward(l->out, l->in, B, l->in_c, l->in_h * l->in_w);
        break;
    case GF_LAYER_LINEAR:
        gf_linear_forward(l->out, l->in, l->w, l->b, B, (int)gf_layer_in_size(l), l->out_c);
        break;
    }
}

int gf_net_forward(gf_net *net, const float *x, int B, int training)
{
    if (B < 1 || B > net->max_batch)
        return GF_ERROR;
    net->batch = B;
    size_t in = (size_t)net->spec.in_c * net->spec.in_h * net->spec.in_w;
    if (x != net->input)
        memcpy(net->input, x, (size_t)B * in * sizeof(float));
    for (int i = 0; i < net->n_layers; i++) {
        layer_forward(net, &net->layers[i], B, training);
        if (net->hooks.layer_forward &&
            net->hooks.layer_forward(net->hooks.user, &net->layers[i], B, training))
            return GF_STOPPED;
    }
    return GF_OK;
}

double gf_net_loss(gf_net *net, const int32_t *labels, int seed_grad, int *correct)
{
    gf_layer *head = &net->layers[net->n_layers - 1];
    return gf_softmax_xent(seed_grad ? head->dout : NULL, correct, head->out, labels,
                           net->batch, head->out_c);
}

/* ------------------------------------------------------------- backward */

/* BN backward in eval mode: the running statistics are constants, so
 * dx = γ dy / √(running_var + ε). */
static void bn_eval_backward(const gf_net *net, const gf_layer *l, const float *dy, float *dx,
                             int B, int param_grads)
{
    int C = l->out_c, hw = l->out_h * l->out_w;
    for (int c = 0; c < C; c++) {
        double is = 1.0 / sqrt((double)l->running_var[c] + net->spec.bn_eps);
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < B; b++) {
            size_t o = ((size_t)b * C + c) * hw;
            for (int i = 0; i < hw; i++) {
                sdy += dy[o + i];
                sdyx += dy[o + i] * (l->in[o + i] - l->running_mean[c]) * is;
                if (dx)
                    dx[o + i] = (float)(l->w[c] * is * dy[o + i]);
            }
        }
        if (param_grads)
            l->dw[c] += (float)sdyx, l->db[c] += (float)sdy;
    }
}

/* dx = d(loss)/d(l's input) from dy = d(loss)/d(l's output); adds parameter
 * gradients unless GF_NO_PARAM_GRAD. dx may be NULL (first layer). */
static void layer_backward(gf_net *net, const gf_layer *l, const float *dy, float *dx, int B,
                           unsigned flags)
{
    int pg = !(flags & GF_NO_PARAM_GRAD);
    size_t n = (size_t)B * gf_layer_out_size(l);
    switch (l->kind) {
    case GF_LAYER_CONV:
        gf_conv2d_backward(dx, pg ? l->dw : NULL, dy, l->in, l->w, B, l->in_c, l->in_h, l->in_w,
                           l->out_c, l->k, l->stride, l->pad, net->scratch);
        break;
    case GF_LAYER_BN:
        if (l->trained_forward)
            gf_bn_backward(dx, pg ? l->dw : NULL, pg ? l->db : NULL, dy, l->in, l->mean,
                           l->inv_std, l->w, B, l->out_c, l->out_h * l->out_w);
        else
            bn_eval_backward(net, l, dy, dx, B, pg);
        break;
    case GF_LAYER_RELU:
        if (dx)
            gf_relu_backward(dx, dy, l->out, n);
        break;
    case GF_LAYER_ADD:
        if (dx && dx != dy)
            memcpy(dx, dy, n * sizeof(float));
        break;
    case GF_LAYER_SHORTCUT_A:
        if (dx)
            gf_shortcut_a_backward(dx, dy, B, l->in_c, l->in_h, l->in_w, l->out_c, l->stride);
        break;
    case GF_LAYER_POOL:
        if (dx)
            gf_avgpool_backward(dx, dy, B, l->in_c, l->in_h * l->in_w);
        break;
    case GF_LAYER_LINEAR:
        gf_linear_backward(dx, pg ? l->dw : NULL, pg ? l->db : NULL, dy, l->in, l->w, B,
                           (int)gf_layer_in_size(l), l->out_c);
        break;
    }
}

static int hook_layer(gf_net *net, const gf_layer *l, const float *dx, int B)
{
    return net->hooks.layer_backward && net->hooks.layer_backward(net->hooks.user, l, dx, B);
}

/* The residual branch F of block b in forward order: conv1 bn1 relu1 conv2 bn2
 * (post-activation) or bn1 relu1 conv1 bn2 relu2 conv2 (pre-activation). */
static int branch_layers(const gf_block *b, int seq[6])
{
    if (b->kind == GF_BLOCK_PREACT) {
        int s[6] = {b->bn1, b->relu1, b->conv1, b->bn2, b->relu2, b->conv2};
        memcpy(seq, s, sizeof s);
        return 6;
    }
    int s[5] = {b->conv1, b->bn1, b->relu1, b->conv2, b->bn2};
    memcpy(seq, s, sizeof s);
    return 5;
}

/* out = J_Fᵀ v through the branch, each layer writing its input gradient
 * into the previous layer's dout and the first into out. */
static int branch_backward(gf_net *net, const gf_block *b, const float *v, float *out, int B,
                           unsigned flags, int hooks)
{
    int seq[6], n = branch_layers(b, seq);
    const float *dy = v;
    if (net->branch_scale != 1.0f) { /* d(α·F)/dx = α·J_F */
        size_t nv = (size_t)B * b->out_c * b->out_h * b->out_w;
        for (size_t i = 0; i < nv; i++)
            net->scaled[i] = net->branch_scale * v[i];
        dy = net->scaled;
    }
    for (int k = n - 1; k >= 0; k--) {
        const gf_layer *l = &net->layers[seq[k]];
        float *dx = k > 0 ? net->layers[seq[k - 1]].dout : out;
        layer_backward(net, l, dy, dx, B, flags);
        if (hooks && hook_layer(net, l, dx, B))
            return GF_STOPPED;
        dy = dx;
    }
    return GF_OK;
}

/* out = Sᵀ v: identity, option A, or option B's BN then 1×1 conv. */
static int shortcut_backward(gf_net *net, const gf_block *b, const float *v, float *out, int B,
                             unsigned flags, int hooks)
{
    size_t n = (size_t)B * b->in_c * b->in_h * b->in_w;
    if (b->sc < 0) {
        memcpy(out, v, n * sizeof(float));
        return GF_OK;
    }
    const float *dy = v;
    if (b->sc_bn >= 0) {
        const gf_layer *bn = &net->layers[b->sc_bn];
        layer_backward(net, bn, dy, net->layers[b->sc].dout, B, flags);
        if (hooks && hook_layer(net, bn, net->layers[b->sc].dout, B))
            return GF_STOPPED;
        dy = net->layers[b->sc].dout;
    }
    const gf_layer *sc = &net->layers[b->sc];
    layer_backward(net, sc, dy, out, B, flags);
    return hooks && hook_layer(net, sc, out, B) ? GF_STOPPED : GF_OK;
}

/* One block's backward: from dL/dy (the output layer's dout) to dL/dx in the
 * producer's dout, with the identity/branch split handed to the hook. */
static int block_backward(gf_net *net, gf_block *b, int B, unsigned flags)
{
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    const float *v = b->output_grad; /* m ⊙ g for post-activation, after relu2 */
    if (b->kind != GF_BLOCK_PREACT) {
        const gf_layer *relu2 = &net->layers[b->relu2];
        float *dx = net->layers[net->src[b->relu2]].dout;
        layer_backward(net, relu2, relu2->dout, dx, B, flags);
        if (b->kind == GF_BLOCK_PLAIN && net->branch_scale != 1.0f)
            scale(dx, net->branch_scale, (size_t)B * gf_layer_out_size(relu2));
        if (hook_layer(net, relu2, dx, B))
            return GF_STOPPED;
        v = dx;
    }
    if (b->kind == GF_BLOCK_PLAIN) {
        int st = branch_backward(net, b, v, b->input_grad, B, flags, 1);
        if (st == GF_OK && net->hooks.block_backward &&
            net->hooks.block_backward(net->hooks.user, b, B))
            st = GF_STOPPED;
        return st;
    }
    if (hook_layer(net, &net->layers[b->add], v, B) ||
        branch_backward(net, b, v, b->branch_grad, B, flags, 1) ||
        shortcut_backward(net, b, v, b->identity_grad, B, flags, 1))
        return GF_STOPPED;
    gf_add(b->input_grad, b->identity_grad, b->branch_grad, n_in);
    if (net->hooks.block_backward && net->hooks.block_backward(net->hooks.user, b, B))
        return GF_STOPPED;
    return GF_OK;
}

/* Stem or head layers [from, to) in reverse, each into its producer's dout. */
static int layers_backward(gf_net *net, int from, int to, int B, unsigned flags)
{
    for (int i = to - 1; i >= from; i--) {
        const gf_layer *l = &net->layers[i];
        float *dx = net->src[i] != GF_SRC_INPUT ? net->layers[net->src[i]].dout
                    : (flags & GF_INPUT_GRAD)   ? net->dinput
                                                : NULL;
        layer_backward(net, l, l->dout, dx, B, flags);
        if (hook_layer(net, l, dx, B))
            return GF_STOPPED;
    }
    return GF_OK;
}

int gf_net_backward(gf_net *net, unsigned flags)
{
    int B = net->batch;
    if (B < 1)
        return GF_ERROR;
    if (layers_backward(net, net->head_first, net->n_layers, B, flags))
        return GF_STOPPED;
    for (int i = net->n_blocks - 1; i >= 0; i--)
        if (block_backward(net, &net->blocks[i], B, flags))
            return GF_STOPPED;
    return layers_backward(net, 0, net->stem_end, B, flags) ? GF_STOPPED : GF_OK;
}

/* ----------------------------------------- block pieces for path analysis */

int gf_block_mask_backward(gf_net *net, int block, const float *v, float *out, int B)
{
    const gf_block *b = &net->blocks[block];
    size_t n = (size_t)B * b->out_c * b->out_h * b->out_w;
    if (b->kind == GF_BLOCK_PREACT)
        memmove(out, v, n * sizeof(float));
    else
        gf_relu_backward(out, v, net->layers[b->relu2].out, n);
    return 0;
}

int gf_block_shortcut_backward(gf_net *net, int block, const float *v, float *out, int B,
                               unsigned flags)
{
    const gf_block *b = &net->blocks[block];
    if (b->kind == GF_BLOCK_PLAIN)
        return -1;
    return shortcut_backward(net, b, v, out, B, flags, 0);
}

int gf_block_branch_backward(gf_net *net, int block, const float *v, float *out, int B,
                             unsigned flags)
{
    const gf_block *b = &net->blocks[block];
    if (b->kind == GF_BLOCK_PLAIN)
        return -1;
    return branch_backward(net, b, v, out, B, flags, 0);
}
