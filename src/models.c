/* models.c — the model zoo: names to specs, specs to layer graphs.
 *
 * Each builder appends layers in forward order with PyTorch state_dict names
 * (../shared/reference/FORMAT.md) and groups them into blocks; gf_net_allocate
 * (net_plan.c) then lays out the buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "net_internal.h"

static const char valid_models[] =
    "valid: plain-N, resnet-N[-A|-B], preact-resnet-N[-A|-B] with N = 6n+2 "
    "(8, 20, 32, 44, 56, 110, 1202, ...), mlp-plain-D, mlp-res-D with D = 2k+2 (2, 4, 6, ...)";

const char *gf_family_name(gf_family f)
{
    switch (f) {
    case GF_FAMILY_PLAIN: return "plain";
    case GF_FAMILY_RESNET: return "resnet";
    case GF_FAMILY_PREACT: return "preact-resnet";
    case GF_FAMILY_MLP_PLAIN: return "mlp-plain";
    case GF_FAMILY_MLP_RES: return "mlp-res";
    }
    return "?";
}

const char *gf_layer_kind_name(gf_layer_kind k)
{
    static const char *names[] = {"conv", "bn", "relu", "add", "shortcut", "pool", "linear"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static int parse_depth(const char *s, int *depth, char *shortcut)
{
    char *end;
    if (*s < '0' || *s > '9') /* strtol would skip spaces and take a sign */
        return -1;
    long d = strtol(s, &end, 10);
    if (end == s || d <= 0 || d > 100000)
        return -1;
    if (*end == '\0')
        *shortcut = 0;
    else if ((end[0] == '-') && (end[1] == 'A' || end[1] == 'B') && end[2] == '\0')
        *shortcut = end[1];
    else
        return -1;
    *depth = (int)d;
    return 0;
}

int gf_model_parse(const char *name, gf_model_spec *spec, gf_err *err)
{
    static const struct {
        const char *prefix;
        gf_family family;
    } families[] = {
        /* longest prefixes first: "resnet-" is a suffix of "preact-resnet-" */
        {"preact-resnet-", GF_FAMILY_PREACT}, {"mlp-plain-", GF_FAMILY_MLP_PLAIN},
        {"mlp-res-", GF_FAMILY_MLP_RES},      {"resnet-", GF_FAMILY_RESNET},
        {"plain-", GF_FAMILY_PLAIN},
    };
    memset(spec, 0, sizeof *spec);
    spec->in_c = 3, spec->in_h = 32, spec->in_w = 32, spec->num_classes = 10;
    spec->widths[0] = 16, spec->widths[1] = 32, spec->widths[2] = 64;
    spec->mlp_width = 128, spec->bn_eps = 1e-5f, spec->bn_momentum = 0.1f;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        size_t len = strlen(families[i].prefix);
        if (strncmp(name, families[i].prefix, len) != 0)
            continue;
        gf_family f = families[i].family;
        int depth;
        char sc;
        if (parse_depth(name + len, &depth, &sc) != 0)
            break;
        int residual = f == GF_FAMILY_RESNET || f == GF_FAMILY_PREACT;
        int mlp = f == GF_FAMILY_MLP_PLAIN || f == GF_FAMILY_MLP_RES;
        if (sc && !residual)
            return gf_err_set(err, "model '%s': only resnet and preact-resnet take a shortcut "
                                   "option; %s", name, valid_models);
        if (!mlp && (depth < 8 || (depth - 2) % 6 != 0))
            return gf_err_set(err, "model '%s': depth %d is not 6n+2 with n >= 1; %s", name,
                              depth, valid_models);
        if (mlp && (depth < 2 || depth % 2 != 0))
            return gf_err_set(err, "model '%s': depth %d is not 2k+2; %s", name, depth,
                              valid_models);
        spec->family = f;
        spec->depth = depth;
        spec->n = mlp ? (depth - 2) / 2 : (depth - 2) / 6;
        spec->shortcut = residual ? (sc ? sc : 'A') : 0;
        return 0;
    }
    return gf_err_set(err, "unknown model '%s'; %s", name, valid_models);
}

void gf_model_name(const gf_model_spec *spec, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%d%s", gf_family_name(spec->family), spec->depth,
             spec->shortcut == 'B' ? "-B" : "");
}

/* ------------------------------------------------------------ the builder */

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return p;
    int c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (q) {
        memset((char *)q + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
        *cap = c;
    }
    return q;
}

static int add_tensor(gf_net *net, int layer, const char *suffix, int is_buffer, int ndim,
                      const int *shape)
{
    int i = net->n_tensors, cap = net->cap_tensors;
    gf_tensor_info *t = grow(net->tensors, &cap, i + 1, sizeof *t);
    if (!t)
        return -1;
    net->tensors = t;
    size_t *off = realloc(net->tensor_offset, (size_t)cap * sizeof *off);
    if (!off)
        return -1;
    net->tensor_offset = off;
    net->cap_tensors = cap;
    gf_tensor_info *ti = &net->tensors[i];
    snprintf(ti->name, sizeof ti->name, "%s.%s", net->layers[layer].name, suffix);
    ti->ndim = ndim;
    ti->size = 1;
    for (int d = 0; d < ndim; d++) {
        ti->shape[d] = shape[d];
        ti->size *= (size_t)shape[d];
    }
    ti->is_buffer = is_buffer;
    ti->layer = layer;
    size_t *counter = is_buffer ? &net->n_buffers : &net->n_params;
    net->tensor_offset[i] = *counter;
    *counter += ti->size;
    net->n_tensors++;
    return 0;
}

/* Appends a layer reading from layer src (GF_SRC_INPUT for the net input)
 * with the input shape taken from it. Returns the index or -1. */
static int add_layer(gf_net *net, gf_layer_kind kind, const char *name, int src)
{
    int i = net->n_layers, cap = net->cap_layers;
    gf_layer *ls = grow(net->layers, &cap, i + 1, sizeof *ls);
    if (!ls)
        return -1;
    net->layers = ls;
    int *s1 = realloc(net->src, (size_t)cap * sizeof *s1);
    if (s1)
        net->src = s1;
    int *s2 = realloc(net->src2, (size_t)cap * sizeof *s2);
    if (s2)
        net->src2 = s2;
    int *al = realloc(net->dout_alias, (size_t)cap * sizeof *al);
    if (al)
        net->dout_alias = al;
    if (!s1 || !s2 || !al)
        return -1;
    net->cap_layers = cap;
    gf_layer *l = &net->layers[i];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->index = i;
    l->block = -1;
    if (src == GF_SRC_INPUT) {
        l->in_c = net->spec.in_c, l->in_h = net->spec.in_h, l->in_w = net->spec.in_w;
    } else {
        const gf_layer *p = &net->layers[src];
        l->in_c = p->out_c, l->in_h = p->out_h, l->in_w = p->out_w;
    }
    l->out_c = l->in_c, l->out_h = l->in_h, l->out_w = l->in_w;
    net->src[i] = src;
    net->src2[i] = -2;
    net->dout_alias[i] = i;
    net->n_layers++;
    return i;
}

static int add_conv(gf_net *net, const char *name, int src, int co, int k, int stride, int pad)
{
    int i = add_layer(net, GF_LAYER_CONV, name, src);
    if (i < 0)
        return -1;
    gf_layer *l = &net->layers[i];
    l->k = k, l->stride = stride, l->pad = pad, l->out_c = co;
    l->out_h = gf_conv_out(l->in_h, k, stride, pad);
    l->out_w = gf_conv_out(l->in_w, k, stride, pad);
    int shape[4] = {co, l->in_c, k, k};
    return add_tensor(net, i, "weight", 0, 4, shape) ? -1 : i;
}

/* A fully connected layer on the flattened input; out shape [O, 1, 1]. */
static int add_linear(gf_net *net, const char *name, int src, int o, int bias)
{
    int i = add_layer(net, GF_LAYER_LINEAR, name, src);
    if (i < 0)
        return -1;
    gf_layer *l = &net->layers[i];
    l->out_c = o, l->out_h = 1, l->out_w = 1;
    int shape[2] = {o, (int)gf_layer_in_size(l)};
    if (add_tensor(net, i, "weight", 0, 2, shape))
        return -1;
    return bias && add_tensor(net, i, "bias", 0, 1, shape) ? -1 : i;
}

static int add_bn(gf_net *net, const char *name, int src)
{
    int i = add_layer(net, GF_LAYER_BN, name, src);
    if (i < 0)
        return -1;
    int c[1] = {net->layers[i].out_c};
    if (add_tensor(net, i, "weight", 0, 1, c) || add_tensor(net, i, "bias", 0, 1, c) ||
        add_tensor(net, i, "running_mean", 1, 1, c) || add_tensor(net, i, "running_var", 1, 1, c))
        return -1;
    return i;
}

static int add_simple(gf_net *net, gf_layer_kind kind, const char *name, int src)
{
    int i = add_layer(net, kind, name, src);
    if (i >= 0 && kind == GF_LAYER_POOL)
        net->layers[i].out_h = net->layers[i].out_w = 1;
    return i;
}

static int add_shortcut_a(gf_net *net, const char *name, int src, int co, int stride)
{
    int i = add_layer(net, GF_LAYER_SHORTCUT_A, name, src);
    if (i < 0)
        return -1;
    gf_layer *l = &net->layers[i];
    l->stride = stride, l->out_c = co;
    l->out_h = (l->in_h + stride - 1) / stride, l->out_w = (l->in_w + stride - 1) / stride;
    return i;
}

static int add_sum(gf_net *net, const char *name, int a, int b)
{
    int i = add_layer(net, GF_LAYER_ADD, name, a);
    if (i >= 0)
        net->src2[i] = b;
    return i;
}

static int begin_block(gf_net *net, gf_block_kind kind, const char *name, int src)
{
    int i = net->n_blocks, cap = net->cap_blocks;
    gf_block *bs = grow(net->blocks, &cap, i + 1, sizeof *bs);
    if (!bs)
        return -1;
    net->blocks = bs, net->cap_blocks = cap;
    gf_block *b = &bs[i];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    snprintf(b->name, sizeof b->name, "%s", name);
    b->conv1 = b->bn1 = b->relu1 = b->conv2 = b->bn2 = b->relu2 = -1;
    b->sc = b->sc_bn = b->add = -1;
    b->first = net->n_layers;
    const gf_layer *p = &net->layers[src];
    b->in_c = p->out_c, b->in_h = p->out_h, b->in_w = p->out_w;
    net->n_blocks++;
    return i;
}

/* Closes block bi at its output layer and returns that layer's index. */
static int end_block(gf_net *net, int bi, int out)
{
    gf_block *b = &net->blocks[bi];
    b->last = net->n_layers - 1;
    for (int l = b->first; l <= b->last; l++)
        net->layers[l].block = bi;
    const gf_layer *o = &net->layers[out];
    b->out_c = o->out_c, b->out_h = o->out_h, b->out_w = o->out_w;
    return out;
}

#define NAME(buf, block, part) (snprintf(buf, sizeof buf, "%s.%s", block, part), buf)

/* The shortcut S of a residual block from src to co channels at stride:
 * identity (returns src), option A, or option B (1×1 conv + BN). */
static int add_shortcut(gf_net *net, gf_block *b, const char *name, int src, int co, int stride)
{
    char nm[64];
    const gf_layer *p = &net->layers[src];
    if (stride == 1 && p->out_c == co)
        return src;
    if (net->spec.shortcut == 'A')
        return b->sc = add_shortcut_a(net, NAME(nm, name, "shortcut"), src, co, stride);
    b->sc = add_conv(net, NAME(nm, name, "shortcut.0"), src, co, 1, stride, 0);
    if (b->sc < 0)
        return -1;
    return b->sc_bn = add_bn(net, NAME(nm, name, "shortcut.1"), b->sc);
}

/* Post-activation (plain, resnet) blocks, convolutional or fully connected. */
static int build_post_block(gf_net *net, const char *name, int src, int co, int stride, int mlp,
                            int residual)
{
    char nm[64];
    int bi = begin_block(net, residual ? GF_BLOCK_RESNET : GF_BLOCK_PLAIN, name, src);
    if (bi < 0)
        return -1;
    gf_block *b = &net->blocks[bi];
    b->conv1 = mlp ? add_linear(net, NAME(nm, name, "fc1"), src, co, 0)
                   : add_conv(net, NAME(nm, name, "conv1"), src, co, 3, stride, 1);
    if (b->conv1 < 0 || (b->bn1 = add_bn(net, NAME(nm, name, "bn1"), b->conv1)) < 0 ||
        (b->relu1 = add_simple(net, GF_LAYER_RELU, NAME(nm, name, "relu1"), b->bn1)) < 0)
        return -1;
    b->conv2 = mlp ? add_linear(net, NAME(nm, name, "fc2"), b->relu1, co, 0)
                   : add_conv(net, NAME(nm, name, "conv2"), b->relu1, co, 3, 1, 1);
    if (b->conv2 < 0 || (b->bn2 = add_bn(net, NAME(nm, name, "bn2"), b->conv2)) < 0)
        return -1;
    int pre_relu = b->bn2;
    if (residual) {
        int s = add_shortcut(net, b, name, src, co, stride);
        if (s < 0 || (b->add = add_sum(net, NAME(nm, name, "add"), b->bn2, s)) < 0)
            return -1;
        /* d(add)/d(bn2) = d(add)/d(S) = 1: both see the sum's gradient. */
        net->dout_alias[b->bn2] = b->add;
        if (s != src)
            net->dout_alias[s] = b->add;
        pre_relu = b->add;
    }
    b->relu2 = add_simple(net, GF_LAYER_RELU, NAME(nm, name, "relu2"), pre_relu);
    return b->relu2 < 0 ? -1 : end_block(net, bi, b->relu2);
}

/* Full pre-activation block (He et al. 2016): y = conv2(relu2(bn2(conv1(relu1(bn1 x))))) + S x. */
static int build_preact_block(gf_net *net, const char *name, int src, int co, int stride)
{
    char nm[64];
    int bi = begin_block(net, GF_BLOCK_PREACT, name, src);
    if (bi < 0)
        return -1;
    gf_block *b = &net->blocks[bi];
    if ((b->bn1 = add_bn(net, NAME(nm, name, "bn1"), src)) < 0 ||
        (b->relu1 = add_simple(net, GF_LAYER_RELU, NAME(nm, name, "relu1"), b->bn1)) < 0 ||
        (b->conv1 = add_conv(net, NAME(nm, name, "conv1"), b->relu1, co, 3, stride, 1)) < 0 ||
        (b->bn2 = add_bn(net, NAME(nm, name, "bn2"), b->conv1)) < 0 ||
        (b->relu2 = add_simple(net, GF_LAYER_RELU, NAME(nm, name, "relu2"), b->bn2)) < 0 ||
        (b->conv2 = add_conv(net, NAME(nm, name, "conv2"), b->relu2, co, 3, 1, 1)) < 0)
        return -1;
    int s = add_shortcut(net, b, name, src, co, stride);
    if (s < 0 || (b->add = add_sum(net, NAME(nm, name, "add"), b->conv2, s)) < 0)
        return -1;
    net->dout_alias[b->conv2] = b->add;
    if (s != src)
        net->dout_alias[s] = b->add;
    return end_block(net, bi, b->add);
}

static int build_cifar(gf_net *net)
{
    const gf_model_spec *s = &net->spec;
    int preact = s->family == GF_FAMILY_PREACT;
    int x = add_conv(net, "conv1", GF_SRC_INPUT, s->widths[0], 3, 1, 1);
    if (x >= 0 && !preact) {
        x = add_bn(net, "bn1", x);
        x = x < 0 ? x : add_simple(net, GF_LAYER_RELU, "relu", x);
    }
    net->stem_end = net->n_layers;
    for (int stage = 0; stage < 3 && x >= 0; stage++)
        for (int i = 0; i < s->n && x >= 0; i++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", stage + 1, i);
            int stride = stage > 0 && i == 0 ? 2 : 1;
            x = preact ? build_preact_block(net, name, x, s->widths[stage], stride)
                       : build_post_block(net, name, x, s->widths[stage], stride, 0,
                                          s->family == GF_FAMILY_RESNET);
        }
    net->head_first = net->n_layers;
    if (x >= 0 && preact) {
        x = add_bn(net, "bn", x);
        x = x < 0 ? x : add_simple(net, GF_LAYER_RELU, "relu", x);
    }
    x = x < 0 ? x : add_simple(net, GF_LAYER_POOL, "avgpool", x);
    x = x < 0 ? x : add_linear(net, "linear", x, s->num_classes, 1);
    return x < 0 ? -1 : 0;
}

static int build_mlp(gf_net *net)
{
    const gf_model_spec *s = &net->spec;
    int w = s->mlp_width;
    int x = add_linear(net, "fc", GF_SRC_INPUT, w, 0);
    x = x < 0 ? x : add_bn(net, "bn", x);
    x = x < 0 ? x : add_simple(net, GF_LAYER_RELU, "relu", x);
    net->stem_end = net->n_layers;
    for (int i = 0; i < s->n && x >= 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "layers.%d", i);
        x = build_post_block(net, name, x, w, 1, 1, s->family == GF_FAMILY_MLP_RES);
    }
    net->head_first = net->n_layers;
    x = x < 0 ? x : add_linear(net, "linear", x, s->num_classes, 1);
    return x < 0 ? -1 : 0;
}

gf_net *gf_net_new(const gf_model_spec *spec, int max_batch, gf_err *err)
{
    return gf_net_new_flags(spec, max_batch, 0, err);
}

gf_net *gf_net_new_flags(const gf_model_spec *spec, int max_batch, unsigned flags, gf_err *err)
{
    if (max_batch < 1 || spec->in_c < 1 || spec->in_h < 1 || spec->in_w < 1 ||
        spec->num_classes < 2) {
        gf_err_set(err, "invalid network shape: batch %d, input %dx%dx%d, %d classes", max_batch,
                   spec->in_c, spec->in_h, spec->in_w, spec->num_classes);
        return NULL;
    }
    gf_net *net = calloc(1, sizeof *net);
    if (!net) {
        gf_err_set(err, "out of memory building the network");
        return NULL;
    }
    net->spec = *spec;
    net->max_batch = max_batch;
    net->flags = flags;
    net->branch_scale = 1.0f;
    int mlp = spec->family == GF_FAMILY_MLP_PLAIN || spec->family == GF_FAMILY_MLP_RES;
    if ((mlp ? build_mlp(net) : build_cifar(net)) != 0) {
        gf_err_set(err, "out of memory building the network");
        gf_net_free(net);
        return NULL;
    }
    if (gf_net_allocate(net, err) != 0) {
        gf_net_free(net);
        return NULL;
    }
    return net;
}
