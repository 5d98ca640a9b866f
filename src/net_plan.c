/* net_plan.c — where a net's activations and gradients live.
 *
 * Keeping every layer's out and dout for the whole step costs, for resnet-56
 * on 3×32×32 at batch 128, 912 MiB of outputs and 780 MiB of gradients; a
 * step needs far less at once. The plan keeps, each in its own buffer,
 *   outs  (out_persists = 1) a backward reads: ReLU outputs (their own
 *         mask), the inputs of conv, BN and linear layers, block inputs, the
 *         logits;
 *   douts (dout_persists = 1) at block boundaries (every block's input_grad
 *         and output_grad, net.h's contract) and the logits' (gf_net_loss
 *         seeds it before the backward).
 * Every other out (BN outputs, which a fused ReLU or an add reads;
 * post-activation adds, read by relu2; option-A shortcuts; pre-activation
 * conv2) goes to a transient buffer, reused once the layers reading it and
 * their forward hooks have run (first fit over those live ranges: three
 * buffers for the resnets). Every other dout goes to one of three buffers
 * shared by all blocks, [max_batch, largest layer using it] each:
 *   V     a post-activation residual block's add dout (bn2's and the
 *         shortcut's too), v = m ⊙ g: the branch and the shortcut both read
 *         it, and the block hook still does (gf_block_stats_compute);
 *   P, Q  the rest, alternating along the backward chain so that no layer's
 *         dx overwrites its own dy: conv2 P, relu1 Q, bn1 P, conv1 Q in a
 *         post-activation block; option B's shortcut conv P (the shortcut
 *         runs after the branch is done with P).
 * resnet-56 as above then holds 540 MiB of outputs and 176 MiB of gradients
 * (with the block split and dL/dinput). GF_NET_KEEP_ALL keeps everything. */
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"
#include "net_internal.h"

enum { OWN = -1 };                              /* a persisting buffer of its own */
enum { SHARED_V, SHARED_P, SHARED_Q, N_SHARED }; /* the shared dout buffers */

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

static int is_block_input(const gf_net *net, int i)
{
    for (int k = 0; k < net->n_blocks; k++)
        if (net->src[net->blocks[k].first] == i)
            return 1;
    return 0;
}

/* 1 if a backward, or a caller after the forward, reads layer i's out:
 * ReLU outputs (their backward's mask, gf_block_mask_backward), the inputs
 * of conv, BN and linear layers (their backward), block inputs (b->in), the
 * logits (gf_net_loss, gf_net_logits). */
static int out_read_after_forward(const gf_net *net, int i)
{
    if (net->layers[i].kind == GF_LAYER_RELU || i == net->n_layers - 1 || is_block_input(net, i))
        return 1;
    for (int j = i + 1; j < net->n_layers; j++) {
        gf_layer_kind k = net->layers[j].kind;
        if (net->src[j] == i && (k == GF_LAYER_CONV || k == GF_LAYER_BN || k == GF_LAYER_LINEAR))
            return 1; /* their backward reads their input */
    }
    return 0;
}

/* The last layer whose forward reads layer i's out (i if none). */
static int last_reader(const gf_net *net, int i)
{
    int last = i;
    for (int j = i + 1; j < net->n_layers; j++)
        if (net->src[j] == i || net->src2[j] == i)
            last = j;
    return last;
}

/* Transient outs, first fit over the live ranges [i, last reader]: slot[i]
 * is the transient buffer of layer i or OWN; size[] in floats per buffer
 * (at most n_layers of them). Returns the number of buffers. */
static int plan_outputs(gf_net *net, int *slot, size_t *size, int *busy_until)
{
    size_t B = (size_t)net->max_batch;
    int n_bufs = 0;
    for (int i = 0; i < net->n_layers; i++) {
        slot[i] = OWN;
        if ((net->flags & GF_NET_KEEP_ALL) || out_read_after_forward(net, i))
            continue;
        int s = 0;
        while (s < n_bufs && busy_until[s] >= i)
            s++;
        if (s == n_bufs)
            size[n_bufs++] = 0;
        slot[i] = s;
        busy_until[s] = last_reader(net, i);
        size[s] = max_size(size[s], B * gf_layer_out_size(&net->layers[i]));
    }
    return n_bufs;
}

/* The layer whose backward writes layer i's dout (its only reader), or -1
 * if several layers read i (then i is a block input and persists anyway). */
static int dout_writer(const gf_net *net, int i)
{
    int writer = -1;
    for (int j = i + 1; j < net->n_layers; j++)
        if (net->src[j] == i || net->src2[j] == i) {
            if (writer >= 0)
                return -1;
            writer = j;
        }
    return writer;
}

/* Shared douts, from the last layer back: slot[i] is SHARED_V/P/Q or OWN;
 * size[] in floats per shared buffer. Aliased layers share their target's. */
static void plan_gradients(gf_net *net, int *slot, size_t size[N_SHARED])
{
    size_t B = (size_t)net->max_batch;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const gf_layer *l = &net->layers[i];
        if (net->dout_alias[i] != i) {
            slot[i] = slot[net->dout_alias[i]]; /* the target comes later: planned */
            continue;
        }
        int writer = dout_writer(net, i);
        int boundary = i == net->n_layers - 1 || is_block_input(net, i) ||
                       (l->block >= 0 && net->blocks[l->block].last == i);
        if ((net->flags & GF_NET_KEEP_ALL) || boundary || writer < 0)
            slot[i] = OWN;
        else if (l->kind == GF_LAYER_ADD) /* post-activation: a preact add is a boundary */
            slot[i] = SHARED_V;
        else /* not the buffer the writer reads its dy from */
            slot[i] = slot[writer] == SHARED_P ? SHARED_Q : SHARED_P;
        if (slot[i] != OWN)
            size[slot[i]] = max_size(size[slot[i]], B * gf_layer_out_size(l));
    }
}

/* Conv work buffers, BN statistics and the block split, in floats. */
static void plan_scratch(gf_net *net, size_t *stats, size_t *split)
{
    size_t B = (size_t)net->max_batch;
    *stats = *split = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const gf_layer *l = &net->layers[i];
        if (l->kind == GF_LAYER_BN)
            *stats += 2 * (size_t)l->out_c;
        if (l->kind == GF_LAYER_CONV)
            net->scratch_size = max_size(net->scratch_size,
                                         gf_conv2d_scratch(l->in_c, l->in_h, l->in_w, l->out_c,
                                                           l->k, l->stride, l->pad));
    }
    for (int i = 0; i < net->n_blocks; i++) {
        const gf_block *b = &net->blocks[i];
        *split = max_size(*split, B * b->in_c * b->in_h * b->in_w);
    }
}

/* Points every layer's out and dout into acts: the persisting ones first,
 * then the transient outs, then the shared douts. */
static void bind_activations(gf_net *net, const int *out_slot, const size_t *out_size,
                             int n_out_bufs, const int *dout_slot,
                             const size_t dout_size[N_SHARED], float *acts)
{
    size_t B = (size_t)net->max_batch;
    float *a = acts;
    for (int i = 0; i < net->n_layers; i++) {
        gf_layer *l = &net->layers[i];
        size_t n = B * gf_layer_out_size(l);
        l->out_persists = out_slot[i] == OWN;
        l->dout_persists = dout_slot[i] == OWN;
        if (out_slot[i] == OWN)
            l->out = a, a += n;
        if (dout_slot[i] == OWN && net->dout_alias[i] == i)
            l->dout = a, a += n;
    }
    float *transient = a, *shared[N_SHARED];
    for (int s = 0; s < n_out_bufs; s++)
        a += out_size[s];
    for (int s = 0; s < N_SHARED; s++)
        shared[s] = a, a += dout_size[s];
    for (int i = 0; i < net->n_layers; i++) {
        gf_layer *l = &net->layers[i];
        if (out_slot[i] != OWN) {
            l->out = transient;
            for (int s = 0; s < out_slot[i]; s++)
                l->out += out_size[s];
        }
        if (dout_slot[i] != OWN)
            l->dout = shared[dout_slot[i]];
    }
    for (int i = 0; i < net->n_layers; i++) /* aliases of OWN douts, now bound */
        if (dout_slot[i] == OWN && net->dout_alias[i] != i)
            net->layers[i].dout = net->layers[net->dout_alias[i]].dout;
}

/* Floats the plan needs for activations; fills the slot tables. */
static size_t plan_activations(gf_net *net, int *out_slot, size_t *out_size, int *n_out_bufs,
                               int *dout_slot, size_t dout_size[N_SHARED], size_t *outputs)
{
    size_t B = (size_t)net->max_batch, total = 0;
    int *busy_until = malloc((size_t)net->n_layers * sizeof *busy_until);
    if (!busy_until)
        return 0;
    *n_out_bufs = plan_outputs(net, out_slot, out_size, busy_until);
    free(busy_until);
    plan_gradients(net, dout_slot, dout_size);
    *outputs = 0;
    for (int i = 0; i < net->n_layers; i++) {
        size_t n = B * gf_layer_out_size(&net->layers[i]);
        *outputs += out_slot[i] == OWN ? n : 0;
        total += dout_slot[i] == OWN && net->dout_alias[i] == i ? n : 0;
    }
    for (int s = 0; s < *n_out_bufs; s++)
        *outputs += out_size[s];
    for (int s = 0; s < N_SHARED; s++)
        total += dout_size[s];
    return total + *outputs;
}

static int allocate_buffers(gf_net *net, size_t acts, size_t stats, size_t split, size_t in)
{
    size_t B = (size_t)net->max_batch;
    net->params = calloc(net->n_params ? net->n_params : 1, sizeof(float));
    net->grads = calloc(net->n_params ? net->n_params : 1, sizeof(float));
    net->buffers = calloc(net->n_buffers ? net->n_buffers : 1, sizeof(float));
    net->acts = calloc(acts ? acts : 1, sizeof(float));
    net->input = calloc(B * in, sizeof(float));
    net->dinput = calloc(B * in, sizeof(float));
    net->stats = calloc(stats ? stats : 1, sizeof(float));
    net->scratch = calloc(net->scratch_size ? net->scratch_size : 1, sizeof(float));
    net->split_identity = calloc(split ? split : 1, sizeof(float));
    net->split_branch = calloc(split ? split : 1, sizeof(float));
    return net->params && net->grads && net->buffers && net->acts && net->input &&
                   net->dinput && net->stats && net->scratch && net->split_identity &&
                   net->split_branch
               ? 0
               : -1;
}

/* The views that are not activations: BN statistics, inputs, blocks. */
static void bind_rest(gf_net *net)
{
    float *st = net->stats;
    for (int i = 0; i < net->n_layers; i++) {
        gf_layer *l = &net->layers[i];
        if (l->kind == GF_LAYER_BN)
            l->mean = st, l->inv_std = st + l->out_c, st += 2 * (size_t)l->out_c;
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
}

int gf_net_allocate(gf_net *net, gf_err *err)
{
    size_t B = (size_t)net->max_batch, stats, split, outputs;
    size_t in = (size_t)net->spec.in_c * net->spec.in_h * net->spec.in_w;
    size_t n = (size_t)net->n_layers, dout_size[N_SHARED] = {0};
    int n_out_bufs = 0;
    int *out_slot = malloc(n * sizeof *out_slot), *dout_slot = malloc(n * sizeof *dout_slot);
    size_t *out_size = malloc(n * sizeof *out_size);
    size_t acts = out_slot && dout_slot && out_size
                      ? plan_activations(net, out_slot, out_size, &n_out_bufs, dout_slot,
                                         dout_size, &outputs)
                      : 0;
    plan_scratch(net, &stats, &split);
    int rc = acts == 0 || allocate_buffers(net, acts, stats, split, in);
    if (rc == 0) {
        bind_tensors(net);
        bind_activations(net, out_slot, out_size, n_out_bufs, dout_slot, dout_size, net->acts);
        bind_rest(net);
        net->memory = (gf_net_memory){
            .outputs = outputs * sizeof(float),
            .gradients = (acts - outputs + 2 * split + B * in) * sizeof(float),
            .scratch = (B * in + net->scratch_size) * sizeof(float),
            .params = (2 * net->n_params + net->n_buffers + stats) * sizeof(float),
        };
    }
    free(out_slot), free(dout_slot), free(out_size);
    if (rc)
        return gf_err_set(err, "out of memory: %.1f MB of activations for batch %d",
                          (double)acts * 4 / 1e6, net->max_batch);
    return 0;
}

void gf_net_memory_usage(const gf_net *net, gf_net_memory *m)
{
    *m = net->memory;
    if (net->scaled) /* allocated by the first gf_net_set_branch_scale(α != 1) */
        m->scratch += net->scaled_size * sizeof(float);
}

size_t gf_net_activation_bytes(const gf_net *net)
{
    gf_net_memory m;
    gf_net_memory_usage(net, &m);
    return m.outputs + m.gradients + m.scratch;
}
