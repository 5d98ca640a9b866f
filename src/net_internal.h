/* net_internal.h — the private shape of gf_net, shared by net.c (execution)
 * and models.c (construction). Nothing outside src/ includes this. */
#ifndef GRADFLOW_NET_INTERNAL_H
#define GRADFLOW_NET_INTERNAL_H

#include "gradflow/net.h"

/* Producer index meaning "the network input". */
#define GF_SRC_INPUT (-1)

struct gf_net {
    gf_model_spec spec;
    int max_batch;
    int batch;      /* B of the last forward */
    unsigned flags; /* GF_NET_KEEP_ALL or 0 */

    gf_layer *layers;
    int n_layers, cap_layers;
    int *src, *src2;          /* producer layer of each layer's input(s) */
    int *dout_alias;          /* layer whose dout buffer this layer shares, or itself */
    int stem_end, head_first; /* stem = [0, stem_end), head = [head_first, n_layers) */

    gf_block *blocks;
    int n_blocks, cap_blocks;

    gf_tensor_info *tensors;
    size_t *tensor_offset; /* into params (trainable) or buffers */
    int n_tensors, cap_tensors;

    size_t n_params, n_buffers;
    float *params, *grads, *buffers;

    float *acts;   /* kept outs and douts, then the shared ones (net_plan.c) */
    float *input;  /* [max_batch, in] */
    float *dinput; /* [max_batch, in] */
    float *stats;  /* BN mean / inv_std */
    float *scratch;
    size_t scratch_size;
    float *split_identity, *split_branch; /* [max_batch, largest block input] */

    gf_hooks hooks;
    int has_hooks;

    /* The identity-term ablation (gf_net_set_branch_scale): residual blocks
     * compute α·F(x) + Sx, plain blocks α·block(x). 1 normally. */
    float branch_scale;
    float *scaled; /* [max_batch, largest block output]: α·v for the branch */
    size_t scaled_size;

    gf_net_memory memory; /* bytes per buffer family, set by gf_net_allocate */
};

/* Construction (models.c) hands the filled layer/block/tensor tables to
 * gf_net_allocate (net_plan.c), which decides which outs and douts persist,
 * allocates every buffer and sets the pointers. */
int gf_net_allocate(gf_net *net, gf_err *err);

#endif
