/* stats.h — the reductions every analysis shares, defined once.
 *
 * gf_act_stats: one fused pass over an activation tensor (sum, sum of
 * squares, max |x|, exact zeros), accumulated in double per block.
 * gf_block_stats: a block's gradient split as docs/run-file.md defines it:
 * ‖identity‖, ‖branch‖, ‖dL/dx‖, ‖dL/dy‖, their cosine and the branch gain
 * ‖J_Fᵀv‖/‖v‖ (v = m ⊙ g); for plain blocks identity and cosine are NaN and
 * the gain is ‖dL/dx‖/‖dL/dy‖. Call it from a block_backward hook, while the
 * block's split buffers hold this pass. */
#ifndef GRADFLOW_STATS_H
#define GRADFLOW_STATS_H

#include <stddef.h>

#include "gradflow/net.h"

typedef struct gf_act_stats {
    double sum, sumsq;
    float max_abs;
    size_t zeros;
} gf_act_stats;

void gf_act_stats_compute(const float *x, size_t n, gf_act_stats *s);

typedef struct gf_block_stats {
    double identity_norm, branch_norm, input_norm, output_norm, cosine, branch_gain;
} gf_block_stats;

void gf_block_stats_compute(const gf_net *net, const gf_block *b, int B, gf_block_stats *s);
/* The same, given ‖dL/dy‖ and ‖v‖ already measured (the recorder has them
 * from the layer hooks of the block's last layer and its add): one fused
 * pass over the identity and branch parts. v_norm is unused for plain
 * blocks. */
void gf_block_stats_split(const gf_block *b, int B, double output_norm, double v_norm,
                          gf_block_stats *s);

#endif
