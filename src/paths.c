/* paths.c — exact gradient decomposition by path length (paths.h). */
#include "gradflow/paths.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/kernels.h"

double gf_paths_count(int L, int k)
{
    if (k < 0 || k > L)
        return 0.0;
    return round(exp(lgamma(L + 1.0) - lgamma(k + 1.0) - lgamma(L - k + 1.0)));
}

static size_t block_in(const gf_block *b, int B) { return (size_t)B * b->in_c * b->in_h * b->in_w; }
static size_t block_out(const gf_block *b, int B) { return (size_t)B * b->out_c * b->out_h * b->out_w; }

/* Largest per-entry size the recurrence meets from block `from` on. */
static size_t largest_entry(const gf_net *net, int from, int B)
{
    size_t m = 1;
    for (int i = from; i < gf_net_num_blocks(net); i++) {
        const gf_block *b = gf_net_block(net, i);
        size_t a = block_in(b, B), o = block_out(b, B);
        m = a > m ? a : m;
        m = o > m ? o : m;
    }
    return m;
}

/* One block of the recurrence: nxt[k] = Sᵀ(m⊙cur[k]) + J_Fᵀ(m⊙cur[k−1]) for
 * k = 0 … c+1, entries strided by M. cur is overwritten (masked in place). */
static int recur_block(gf_net *net, int i, float *cur, float *nxt, float *carry, int c,
                       size_t M, int B)
{
    size_t n_in = block_in(gf_net_block(net, i), B);
    for (int k = 0; k <= c; k++) {
        float *v = cur + (size_t)k * M, *out = nxt + (size_t)k * M;
        gf_block_mask_backward(net, i, v, v, B);
        if (gf_block_shortcut_backward(net, i, v, out, B, GF_NO_PARAM_GRAD))
            return -1;
        if (k > 0)
            gf_axpy(out, 1.0f, carry, n_in);
        if (gf_block_branch_backward(net, i, v, carry, B, GF_NO_PARAM_GRAD))
            return -1;
    }
    memcpy(nxt + (size_t)(c + 1) * M, carry, n_in * sizeof(float));
    return 0;
}

/* Norms, path counts, shares and the check of ΣG against dL/dx. */
static int summarise(gf_paths *p, const float *grad, gf_err *err)
{
    int L = p->L;
    size_t n = p->n;
    float *sum = calloc(n ? n : 1, sizeof *sum);
    p->norm = malloc((size_t)(L + 1) * sizeof(double));
    p->log_count = malloc((size_t)(L + 1) * sizeof(double));
    p->share = malloc((size_t)(L + 1) * sizeof(double));
    if (!sum || !p->norm || !p->log_count || !p->share) {
        free(sum);
        return gf_err_set(err, "out of memory for the path summary");
    }
    for (int k = 0; k <= L; k++) {
        const float *g = p->G + (size_t)k * n;
        p->norm[k] = gf_norm2(g, n);
        p->log_count[k] = lgamma(L + 1.0) - lgamma(k + 1.0) - lgamma(L - k + 1.0);
        gf_axpy(sum, 1.0f, g, n);
    }
    double ss = gf_dot(sum, sum, n);
    for (int k = 0; k <= L; k++)
        p->share[k] = ss > 0 ? gf_dot(p->G + (size_t)k * n, sum, n) / ss : NAN;
    p->grad_norm = gf_norm2(grad, n);
    gf_axpy(sum, -1.0f, grad, n);
    p->sum_rel_err = p->grad_norm > 0 ? gf_norm2(sum, n) / p->grad_norm : gf_norm2(sum, n);
    free(sum);
    return 0;
}

int gf_paths_decompose(gf_net *net, int from, gf_paths *p, gf_err *err)
{
    memset(p, 0, sizeof *p);
    int nb = gf_net_num_blocks(net), B = gf_net_batch(net);
    if (from < 0 || from >= nb || B < 1)
        return gf_err_set(err, "block %d is not in 0..%d (or no forward yet)", from, nb - 1);
    for (int i = from; i < nb; i++)
        if (gf_net_block(net, i)->kind == GF_BLOCK_PLAIN)
            return gf_err_set(err, "block %s is plain: a plain net has a single path",
                              gf_net_block(net, i)->name);
    const gf_block *first = gf_net_block(net, from), *last = gf_net_block(net, nb - 1);
    p->from = from, p->L = nb - from, p->n = block_in(first, B);
    size_t M = largest_entry(net, from, B), entries = (size_t)p->L + 1;
    float *cur = malloc(entries * M * sizeof(float)), *nxt = malloc(entries * M * sizeof(float));
    float *carry = malloc(M * sizeof(float)), *grad = malloc(p->n * sizeof(float));
    int rc = 0;
    if (!cur || !nxt || !carry || !grad)
        rc = gf_err_set(err, "out of memory: %d path lengths of %zu floats", p->L + 1, M);
    if (rc == 0) {
        memcpy(grad, first->input_grad, p->n * sizeof(float));
        memcpy(cur, last->output_grad, block_out(last, B) * sizeof(float));
    }
    for (int i = nb - 1, c = 0; rc == 0 && i >= from; i--, c++) {
        if (recur_block(net, i, cur, nxt, carry, c, M, B))
            rc = gf_err_set(err, "block %d: backward pieces failed", i);
        float *t = cur;
        cur = nxt, nxt = t;
    }
    if (rc == 0) { /* compact the entries from stride M to stride n */
        for (size_t k = 1; k < entries; k++)
            memmove(cur + k * p->n, cur + k * M, p->n * sizeof(float));
        p->G = cur, cur = NULL;
        rc = summarise(p, grad, err);
    }
    free(cur), free(nxt), free(carry), free(grad);
    if (rc)
        gf_paths_free(p);
    return rc;
}

void gf_paths_free(gf_paths *p)
{
    free(p->G), free(p->norm), free(p->log_count), free(p->share);
    memset(p, 0, sizeof *p);
}

/* Marks k of the L blocks from..last as "through the branch" (Floyd's algorithm). */
static void choose_branches(gf_rng *rng, int L, int k, unsigned char *in_path)
{
    memset(in_path, 0, (size_t)L);
    for (int j = L - k; j < L; j++) {
        int t = (int)gf_rng_below(rng, (uint32_t)j + 1);
        in_path[in_path[t] ? j : t] = 1;
    }
}

int gf_paths_sample_length(gf_net *net, const gf_paths *p, int k, int S, gf_rng *rng,
                           gf_paths_sample *out, gf_err *err)
{
    memset(out, 0, sizeof *out);
    int nb = gf_net_num_blocks(net), B = gf_net_batch(net), L = p->L;
    if (k < 0 || k > L || S < 1)
        return gf_err_set(err, "path length %d outside 0..%d or no samples", k, L);
    size_t M = largest_entry(net, p->from, B);
    float *v = malloc(M * sizeof *v), *w = malloc(M * sizeof *w);
    double *mean = calloc(p->n, sizeof *mean);
    unsigned char *in_path = malloc((size_t)L + 1);
    int rc = !v || !w || !mean || !in_path ? gf_err_set(err, "out of memory") : 0;
    const gf_block *last = gf_net_block(net, nb - 1);
    for (int s = 0; rc == 0 && s < S; s++) {
        choose_branches(rng, L, k, in_path);
        memcpy(v, last->output_grad, block_out(last, B) * sizeof(float));
        for (int i = nb - 1; rc == 0 && i >= p->from; i--) {
            gf_block_mask_backward(net, i, v, v, B);
            rc = in_path[i - p->from]
                     ? gf_block_branch_backward(net, i, v, w, B, GF_NO_PARAM_GRAD)
                     : gf_block_shortcut_backward(net, i, v, w, B, GF_NO_PARAM_GRAD);
            float *t = v;
            v = w, w = t;
        }
        out->mean_path_norm += gf_norm2(v, p->n) / S;
        for (size_t j = 0; j < p->n; j++)
            mean[j] += (double)v[j] / S;
    }
    if (rc == 0) { /* C(L,k) · mean path gradient estimates G[k] */
        double c = gf_paths_count(L, k), d = 0.0;
        const float *g = p->G + (size_t)k * p->n;
        for (size_t j = 0; j < p->n; j++) {
            double e = c * mean[j] - g[j];
            d += e * e;
        }
        out->k = k, out->S = S;
        out->estimate_rel_err = p->norm[k] > 0 ? sqrt(d) / p->norm[k] : sqrt(d);
    }
    free(v), free(w), free(mean), free(in_path);
    return rc ? -1 : 0;
}
