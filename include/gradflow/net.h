/* net.h — networks: the model zoo, forward, re-entrant backward, hooks.
 *
 * A gf_net is a flat list of layers in forward order, grouped into a stem,
 * blocks and a head, wired by hand per block kind (see src/net.c):
 *
 *   plain / resnet:  conv1 bn1 relu | layer{1,2,3}.i blocks | avgpool linear
 *   preact-resnet:   conv1          | layer{1,2,3}.i blocks | bn relu avgpool linear
 *   mlp-plain/res:   fc bn relu     | layers.i blocks        | linear
 *
 * Layer names are PyTorch state_dict module names (`layer2.0.conv1`); the
 * elementwise sum inside a residual block is a layer named `<block>.add`.
 * Parameters live in one buffer, their gradients in another, and BN running
 * statistics in a third; layers hold views into them. Activations and their
 * gradients are allocated once per net for a maximum batch size. Only what a
 * backward or a caller needs after a pass persists: ReLU outputs and the
 * inputs of conv/BN/linear layers, and the gradients at block boundaries.
 * Every other out and dout lives in a few buffers all layers share and is
 * valid only during the hooks (gf_layer.out_persists, dout_persists);
 * gf_net_new_flags(..., GF_NET_KEEP_ALL, ...) keeps everything instead.
 *
 * Usage:
 *   gf_model_spec spec;  gf_err err;
 *   if (gf_model_parse("resnet-20", &spec, &err)) puts(err.msg);
 *   spec.in_c = 3; spec.in_h = spec.in_w = 32;
 *   gf_net *net = gf_net_new(&spec, 128, &err);
 *   gf_net_init(net, seed);
 *   gf_net_forward(net, x, B, 1);
 *   double loss = gf_net_loss(net, labels, 1, &correct);    // also seeds dlogits
 *   gf_net_zero_grad(net); gf_net_backward(net, 0);
 *   gf_sgd_step(&sgd, net);                                 // optim.h
 */
#ifndef GRADFLOW_NET_H
#define GRADFLOW_NET_H

#include <stddef.h>
#include <stdint.h>

#include "gradflow/error.h"

typedef enum gf_family {
    GF_FAMILY_PLAIN,
    GF_FAMILY_RESNET,
    GF_FAMILY_PREACT,
    GF_FAMILY_MLP_PLAIN,
    GF_FAMILY_MLP_RES,
} gf_family;

typedef struct gf_model_spec {
    gf_family family;
    int depth;       /* weighted layers: 6n+2 for CIFAR families, 2k+2 for MLPs */
    int n;           /* blocks per stage (CIFAR) or number of blocks (MLP) */
    char shortcut;   /* 'A' or 'B' for residual CIFAR families, 0 otherwise */
    int in_c, in_h, in_w;
    int num_classes; /* 10 by default */
    int widths[3];   /* stage widths, {16, 32, 64} */
    int mlp_width;   /* hidden width of MLP families, 128 by default */
    float bn_eps, bn_momentum; /* 1e-5, 0.1 */
} gf_model_spec;

/* Parses "plain-56", "resnet-110", "resnet-20-B", "preact-resnet-56", "mlp-res-8"
 * into spec with defaults (shortcut A, 3×32×32 input, 10 classes). A suffix
 * "-A"/"-B" picks the shortcut. On error the message lists what is valid. */
int gf_model_parse(const char *name, gf_model_spec *spec, gf_err *err);
/* Canonical name of a spec ("resnet-20", "resnet-20-B" for option B). */
void gf_model_name(const gf_model_spec *spec, char *buf, size_t size);
const char *gf_family_name(gf_family f);

typedef enum gf_layer_kind {
    GF_LAYER_CONV,
    GF_LAYER_BN,
    GF_LAYER_RELU,
    GF_LAYER_ADD,
    GF_LAYER_SHORTCUT_A,
    GF_LAYER_POOL,
    GF_LAYER_LINEAR,
} gf_layer_kind;

const char *gf_layer_kind_name(gf_layer_kind k); /* "conv", "bn", ... */

/* One layer. Public so hooks and analysis can read it; only the library
 * writes it. Shapes are per example; buffers hold max_batch examples. */
typedef struct gf_layer {
    gf_layer_kind kind;
    char name[64];
    int index;             /* position in gf_net's layer list */
    int block;             /* index of the owning block, -1 for stem/head */
    int in_c, in_h, in_w;  /* input shape (first input for add) */
    int out_c, out_h, out_w;
    int k, stride, pad;    /* conv */
    const float *in;       /* input activations (a producer's out, or the net input) */
    const float *in2;      /* add: second input */
    float *out;            /* [B, out_c, out_h, out_w]; how long it holds: out_persists */
    float *dout;           /* gradient of the loss w.r.t. out, same shape; see dout_persists */
    float *w, *b;          /* parameter views (b: linear bias, BN beta) or NULL */
    float *dw, *db;        /* gradient views */
    float *running_mean, *running_var; /* BN buffers */
    float *mean, *inv_std; /* BN batch statistics of the last training forward */
    int trained_forward;   /* BN: 1 if the last forward used batch statistics */
    /* 1: out holds the last forward's output until the next forward (ReLUs,
     * inputs of conv / BN / linear, block inputs, the logits).
     * 0: out is scratch shared with other layers (BN outputs, post-activation
     * adds, option-A shortcuts, pre-activation conv2): valid from this
     * layer's forward through the layer_forward hooks of this layer and of
     * the layers reading it, which run right after it. */
    int out_persists;
    /* 1: dout holds dL/d(out) after gf_net_backward until the next backward:
     * the block boundaries (every block's input_grad and output_grad, which
     * these douts are) and the logits (seeded by gf_net_loss).
     * 0: dout is scratch shared with other layers: valid from the backward of
     * the layer reading this one (its dx) through this layer's layer_backward
     * hook. A post-activation residual block's add (whose dout bn2 and the
     * shortcut share) keeps v = m ⊙ g until that block's block_backward hook
     * returns. */
    int dout_persists;
} gf_layer;

static inline size_t gf_layer_out_size(const gf_layer *l)
{
    return (size_t)l->out_c * l->out_h * l->out_w;
}
static inline size_t gf_layer_in_size(const gf_layer *l)
{
    return (size_t)l->in_c * l->in_h * l->in_w;
}

typedef enum gf_block_kind {
    GF_BLOCK_PLAIN,  /* y = relu2(bn2(conv2(relu1(bn1(conv1 x))))) */
    GF_BLOCK_RESNET, /* y = relu2(bn2(conv2(relu1(bn1(conv1 x)))) + S x)  He et al. 2015 */
    GF_BLOCK_PREACT, /* y = conv2(relu2(bn2(conv1(relu1(bn1 x))))) + S x  He et al. 2016 */
} gf_block_kind;

/* A block. Indices are into the net's layer list; -1 where absent. conv1/conv2
 * are linear layers in MLP blocks. For residual blocks, sc is the option-A
 * layer or option-B's 1×1 conv, sc_bn option-B's BN, add the sum. */
typedef struct gf_block {
    gf_block_kind kind;
    char name[32]; /* "layer2.0" */
    int conv1, bn1, relu1, conv2, bn2, relu2, sc, sc_bn, add;
    int first, last;       /* layer index range [first, last] */
    int in_c, in_h, in_w, out_c, out_h, out_w;
    const float *in;       /* block input activations */
    /* Written by every backward: gradients [B, in_c, in_h, in_w] at the block
     * input. identity_grad = Sᵀ(m ⊙ g), branch_grad = J_Fᵀ(m ⊙ g) with
     * m = relu2'(s) for post-activation blocks and 1 for pre-activation
     * (DESIGN.md: the block owns the split); input_grad = their sum. Plain
     * blocks leave identity_grad NULL and branch_grad == input_grad.
     * identity_grad and branch_grad are scratch shared by all blocks: they
     * hold this block's split only during its block_backward hook (copy them
     * there to keep them). input_grad and output_grad are the douts of the
     * layers at the block's boundaries (dout_persists = 1): they hold after
     * gf_net_backward returns, until the next backward. The douts of the
     * layers inside the block do not (see gf_layer.dout_persists). */
    float *identity_grad, *branch_grad, *input_grad;
    const float *output_grad; /* dL/dy, the next layer's input gradient */
} gf_block;

/* Hooks: observe every layer and block, and cancel a pass by returning
 * non-zero (the pass stops and returns GF_STOPPED). With no hook registered
 * nothing extra is computed. user is passed back untouched. */
typedef struct gf_hooks {
    void *user;
    /* After a layer's forward; l->out holds B examples and l->in (in2) the
     * inputs it read. Copy l->out here to keep it unless l->out_persists. */
    int (*layer_forward)(void *user, const struct gf_layer *l, int B, int training);
    /* After a layer's backward: l->dout is dL/d(out); dx (may be NULL for the
     * first layer) is dL/d(in), [B, in_size] (for add, the gradient to both
     * inputs). Both are valid during the call; after it only where the
     * layer's (for dx: its producer's) dout_persists. */
    int (*layer_backward)(void *user, const struct gf_layer *l, const float *dx, int B);
    /* After a block's backward, before the next block runs: b's
     * identity_grad, branch_grad, input_grad and output_grad hold the split
     * of this pass, and a residual block's add layer's dout holds
     * v = m ⊙ g, the gradient that entered both paths. */
    int (*block_backward)(void *user, const struct gf_block *b, int B);
} gf_hooks;

enum { GF_OK = 0, GF_ERROR = -1, GF_STOPPED = 1 };

/* backward flags */
enum {
    GF_NO_PARAM_GRAD = 1u << 0, /* do not add parameter gradients */
    GF_INPUT_GRAD = 1u << 1,    /* also compute dL/dx at the network input (costs a conv) */
};

typedef struct gf_net gf_net;

/* Builds a net with buffers for up to max_batch examples; weights are zero
 * until gf_net_init or a load. Returns NULL with err set on failure. */
gf_net *gf_net_new(const gf_model_spec *spec, int max_batch, gf_err *err);
/* gf_net_new with flags. GF_NET_KEEP_ALL: every layer gets its own out and
 * dout and all persist after the pass (2-2.4x the activation memory for the
 * CIFAR resnets): to check the shared buffers against, or to read a small
 * net's gradients without hooks. Results are the same bits either way. */
enum { GF_NET_KEEP_ALL = 1u << 0 };
gf_net *gf_net_new_flags(const gf_model_spec *spec, int max_batch, unsigned flags, gf_err *err);
void gf_net_free(gf_net *net); /* NULL is a no-op */

const gf_model_spec *gf_net_spec(const gf_net *net);
int gf_net_max_batch(const gf_net *net);
int gf_net_batch(const gf_net *net); /* B of the last forward */
int gf_net_num_layers(const gf_net *net);
const gf_layer *gf_net_layer(const gf_net *net, int i);
int gf_net_find_layer(const gf_net *net, const char *name); /* -1 if absent */
int gf_net_num_blocks(const gf_net *net);
const gf_block *gf_net_block(const gf_net *net, int i);
void gf_net_set_hooks(gf_net *net, const gf_hooks *hooks); /* NULL clears */

/* Named tensors in state_dict order (module by module): trainable parameters
 * (in the param buffer, with gradients) and BN running statistics
 * (is_buffer = 1, no gradient). */
typedef struct gf_tensor_info {
    char name[80];   /* "layer2.0.conv1.weight", "bn1.running_var" */
    float *data;
    float *grad;     /* NULL for buffers */
    size_t size;
    int ndim, shape[4];
    int is_buffer;
    int layer;       /* owning layer index */
} gf_tensor_info;
int gf_net_num_tensors(const gf_net *net);
const gf_tensor_info *gf_net_tensor(const gf_net *net, int i);
int gf_net_find_tensor(const gf_net *net, const char *name); /* -1 if absent */

/* Bytes a net allocated, by family. */
typedef struct gf_net_memory {
    size_t outputs;   /* layer outs: the persisting ones and the shared scratch */
    size_t gradients; /* layer douts (persisting and shared), the block split, dL/dinput */
    size_t scratch;   /* the input copy, conv work buffers, the ablation's α·v */
    size_t params;    /* parameters, their gradients, BN running and batch statistics */
} gf_net_memory;
void gf_net_memory_usage(const gf_net *net, gf_net_memory *m);
/* outputs + gradients + scratch: the activation storage, which grows with
 * max_batch (all of it but the conv work buffers). */
size_t gf_net_activation_bytes(const gf_net *net);

/* The flat buffers: trainable parameters and their gradients (same layout),
 * gf_net_num_params floats each. */
size_t gf_net_num_params(const gf_net *net);
float *gf_net_params(gf_net *net);
float *gf_net_grads(gf_net *net);

/* Kaiming-normal (He et al. 2015, "Delving deep", fan-in, gain √2) for conv
 * and linear weights, PyTorch's default U(±1/√fan_in) for linear biases,
 * BN gamma 1, beta 0, running mean 0, var 1. Deterministic in seed. */
void gf_net_init(gf_net *net, uint64_t seed);

/* Forward of B <= max_batch examples x [B, in_c, in_h, in_w] (copied in).
 * training: BN uses and updates batch statistics. Returns GF_OK or
 * GF_STOPPED if a hook cancelled. */
int gf_net_forward(gf_net *net, const float *x, int B, int training);
/* Logits [B, num_classes] of the last forward. */
const float *gf_net_logits(const gf_net *net);
/* Mean cross-entropy of the last forward; if seed_grad, writes dL/dlogits
 * into the head's gradient buffer ready for gf_net_backward. */
double gf_net_loss(gf_net *net, const int32_t *labels, int seed_grad, int *correct);
/* Backward from the head's gradient through every layer and block. Adds
 * parameter gradients unless GF_NO_PARAM_GRAD. Re-entrant: reads only the
 * forward caches. Afterwards the douts that persist (every block's
 * input_grad and output_grad, the logits') and gf_net_input_grad hold this
 * pass's gradients; the others were valid only during the hooks. */
int gf_net_backward(gf_net *net, unsigned flags);
void gf_net_zero_grad(gf_net *net);
/* Gradient at the network input [B, in_c, in_h, in_w] after a backward. */
const float *gf_net_input_grad(const gf_net *net);

/* The identity-term ablation: every residual block computes α·F(x) + Sx and
 * every plain block α·block(x) (α >= 0; 1 is the ordinary net). With α = 0
 * a resnet's gradient still reaches its first block through the shortcuts
 * while a plain net's vanishes. Forward and backward both honour it.
 * Returns -1 for α < 0 or NaN, or out of memory. */
int gf_net_set_branch_scale(gf_net *net, float alpha);
float gf_net_branch_scale(const gf_net *net);

/* Pieces of a residual block's backward, for the path-length analysis. Each
 * reads the block's forward caches and may be called any number of times.
 * v, out: [B, in or out shape as named]. out is written (=).
 *   mask:     out[B, out] = m ⊙ v  (m = relu2'(s) post-activation, 1 preact)
 *   shortcut: out[B, in]  = Sᵀ v
 *   branch:   out[B, in]  = J_Fᵀ v  (BN in training mode, batch statistics included;
 *             times α under gf_net_set_branch_scale)
 * Parameter gradients are added only without GF_NO_PARAM_GRAD. Hooks are not
 * called. For plain blocks shortcut fails (returns -1). The pieces write the
 * net's shared douts (those with dout_persists = 0) as scratch: v and out
 * must not overlap them, except that v may be the block's own add dout. */
int gf_block_mask_backward(gf_net *net, int block, const float *v, float *out, int B);
int gf_block_shortcut_backward(gf_net *net, int block, const float *v, float *out, int B,
                               unsigned flags);
int gf_block_branch_backward(gf_net *net, int block, const float *v, float *out, int B,
                             unsigned flags);

#endif
