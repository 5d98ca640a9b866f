/* paths.h — the gradient split by path length (Veit et al. 2016).
 *
 * Unrolled, a net of L residual blocks is a sum of 2^L paths; a path through
 * exactly k residual branches (and L−k shortcuts) has "length" k. The gradient
 * at the input of block `from` splits exactly into G[0] + … + G[L], G[k] the
 * sum over all C(L, k) paths of length k, by the recurrence of
 * ../shared/reference/FORMAT.md, from the last block back:
 *     G'[k] = Sᵀ(m ⊙ G[k]) + J_Fᵀ(m ⊙ G[k−1]),   G[0] = dL/dy_last at the start,
 * m = relu2'(s) for post-activation blocks, 1 for pre-activation; J_F the
 * branch Jacobian at this forward (BN in training mode, batch statistics
 * included). Each block's branch backward is re-run on the same forward
 * (re-entrant backward), without touching parameter gradients.
 *
 * Needs a training-mode forward and a backward on net first (the last
 * block's output gradient seeds the recurrence; the ordinary input gradient
 * checks the sum). */
#ifndef GRADFLOW_PATHS_H
#define GRADFLOW_PATHS_H

#include "gradflow/error.h"
#include "gradflow/net.h"
#include "gradflow/rng.h"

typedef struct gf_paths {
    int from;           /* the block at whose input the gradient is split */
    int L;              /* residual blocks the paths cross: blocks from … last */
    size_t n;           /* floats per entry: B × block `from`'s input size */
    float *G;           /* [L+1, n] */
    double *norm;       /* [L+1] ‖G[k]‖ (whole-batch L2) */
    double *log_count;  /* [L+1] ln C(L, k) */
    double *share;      /* [L+1] ⟨G[k], g⟩ / ‖g‖², g = ΣG; the shares sum to 1 */
    double grad_norm;   /* ‖dL/dx‖ at block `from` from the ordinary backward */
    double sum_rel_err; /* ‖ΣG − dL/dx‖ / ‖dL/dx‖ */
} gf_paths;

/* Decomposes the gradient at the input of block `from`. Every block from
 * there on must be residual. */
int gf_paths_decompose(gf_net *net, int from, gf_paths *p, gf_err *err);
void gf_paths_free(gf_paths *p);

/* C(L, k) as a double (exact below 2^53; ±inf never: L ≤ 1000 fits). */
double gf_paths_count(int L, int k);

/* Veit et al.'s sampling estimator for length k: S paths drawn uniformly
 * among the C(L, k) of that length (k random branches, shortcuts elsewhere);
 * returns the mean per-path gradient norm and the relative error of
 * C(L, k) · mean(path gradient) against the exact G[k] (p from
 * gf_paths_decompose on the same forward). */
typedef struct gf_paths_sample {
    int k, S;
    double mean_path_norm; /* mean over samples of ‖gradient along one path‖ */
    double estimate_rel_err;
} gf_paths_sample;

int gf_paths_sample_length(gf_net *net, const gf_paths *p, int k, int S, gf_rng *rng,
                           gf_paths_sample *out, gf_err *err);

#endif
