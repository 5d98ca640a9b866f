/* net_plan.c — where a net's activations and gradients live: one
 * allocation holding every layer's out and every dout that is not an alias
 * of another layer's, plus the conv scratch and the block split. */
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "net_internal.h"

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Sets every tensor's data/grad pointer and the owning layer's views. */
static void bind_tensors(gf_net *net)
{
    for (int i = 0; i < net->n_tensors; i++) {
        gf_tensor_info *t = &net->tensors[i];
        size_t off = net->tensor_offset[i];
        gf_layer *l = &net->layers[t->layer];
        t->data = (t->is_buffer ? net->buffers : net->params) + off;
        t->grad = t->is_buffer ? NULL : net->grads + off;
        const char *suffix = strrchr(t->name, '.') + 1;
        if (strcmp(suffix, "weight") == 0)
            l->w = t->data, l->dw = t->grad;
        else if (strcmp(suffix, "bias") == 0)
            l->b = t->data, l->db = t->grad;
        else if (strcmp(suffix, "running_mean") == 0)
            l->running_mean = t->data;
        else
            l->running_var = t->data;
    }
}

/* Floats of activation storage: every out, and every dout that is not an
 * alias of another layer's. Also sizes the conv scratch and block split. */
static size_t plan_activations(gf_net *net, size_t *stats)
{
    size_t B = (size_t)net->max_batch, total = 0;
    *stats = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const gf_layer *l = &net->layers[i];
        total += B * gf_layer_out_size(l) * (net->dout_alias[i] == i ? 2 : 1);
        if (l->kind == GF_LAYER_BN)
            *stats += 2 * (size_t)l->out_c;
        if (l->kind == GF_LAYER_CONV)
            net->scratch_size = max_size(net->scratch_size,
                                         gf_conv2d_scratch(l->in_c, l->in_h, l->in_w, l->out_c,
                                                           l->k, l->stride, l->pad));
    }
    return total;
}

int gf_net_allocate(gf_net *net, gf_err *err)
{
    size_t B = (size_t)net->max_batch, stats, split = 0;
    size_t in = (size_t)net->spec.in_c * net->spec.in_h * net->spec.in_w;
    size_t acts = plan_activations(net, &stats);
    for (int i = 0; i < net->n_blocks; i++) {
        const gf_block *b = &net->blocks[i];
        split = max_size(split, B * b->in_c * b->in_h * b->in_w);
    }
    net->params = calloc(net->n_params ? net->n_params : 1, sizeof(float));
    net->grads = calloc(net->n_params ? net->n_params : 1, sizeof(float));
    net->buffers = calloc(net->n_buffers ? net->n_buffers : 1, sizeof(float));
    net->acts = calloc(acts, sizeof(float));
    net->input = calloc(B * in, sizeof(float));
    net->dinput = calloc(B * in, sizeof(float));
    net->stats = calloc(stats ? stats : 1, sizeof(float));
    net->scratch = calloc(net->scratch_size ? net->scratch_size : 1, sizeof(float));
    net->split_identity = calloc(split ? split : 1, sizeof(float));
    net->split_branch = calloc(split ? split : 1, sizeof(float));
    if (!net->params || !net->grads || !net->buffers || !net->acts || !net->input ||
        !net->dinput || !net->stats || !net->scratch || !net->split_identity ||
        !net->split_branch)
        return gf_err_set(err, "out of memory: %.1f MB of activations for batch %d",
                          (double)acts * 4 / 1e6, net->max_batch);
    bind_tensors(net);
    float *a = net->acts, *st = net->stats;
    for (int i = 0; i < net->n_layers; i++) {
        gf_layer *l = &net->layers[i];
        l->out = a, a += B * gf_layer_out_size(l);
        if (net->dout_alias[i] == i)
            l->dout = a, a += B * gf_layer_out_size(l);
        if (l->kind == GF_LAYER_BN)
            l->mean = st, l->inv_std = st + l->out_c, st += 2 * (size_t)l->out_c;
    }
    for (int i = 0; i < net->n_layers; i++) {
        gf_layer *l = &net->layers[i];
        if (net->dout_alias[i] != i)
            l->dout = net->layers[net->dout_alias[i]].dout;
        l->in = net->src[i] == GF_SRC_INPUT ? net->input : net->layers[net->src[i]].out;
        if (net->src2[i] >= 0)
            l->in2 = net->layers[net->src2[i]].out;
    }
    for (int i = 0; i < net->n_blocks; i++) {
        gf_block *b = &net->blocks[i];
        const gf_layer *producer = &net->layers[net->src[b->first]];
        b->in = producer->out;
        b->input_grad = producer->dout;
        b->output_grad = net->layers[b->last].dout;
        b->identity_grad = b->kind == GF_BLOCK_PLAIN ? NULL : net->split_identity;
        b->branch_grad = b->kind == GF_BLOCK_PLAIN ? b->input_grad : net->split_branch;
    }
    return 0;
}
