/* stats.c — shared reductions (stats.h). */
#include "gradflow/stats.h"

#include <math.h>

#include "gradflow/kernels.h"
#include "parallel.h"
#include "simd.h"

/* One block (at most 512 values) of the fused pass: 16 float lanes in two
 * independent accumulators (two dependency chains keep the adders busy),
 * folded into double per block. Shapes the lanes, not the ISA, fix the
 * result (simd.h). */
GF_SIMD_CLONES
static void stats_block(const float *p, size_t m, gf_act_stats *s)
{
    gf_v8f a0 = {0}, a1 = {0}, q0 = {0}, q1 = {0}, hi0 = {0}, hi1 = {0};
    gf_v8i z0 = {0}, z1 = {0};
    size_t i = 0;
    for (; i + 16 <= m; i += 16) {
        gf_v8f v0, v1;
        GF_V8F_LOAD(v0, p + i), GF_V8F_LOAD(v1, p + i + 8);
        a0 += v0, a1 += v1;
        q0 += v0 * v0, q1 += v1 * v1;
        gf_v8f m0 = GF_V8F_ABS(v0), m1 = GF_V8F_ABS(v1);
        hi0 = GF_V8F_MAX(m0, hi0), hi1 = GF_V8F_MAX(m1, hi1);
        z0 -= v0 == 0.0f, z1 -= v1 == 0.0f; /* a true lane is -1 */
    }
    float hi = 0.0f;
    for (int k = 0; k < 8; k++) {
        float h = hi0[k] > hi1[k] ? hi0[k] : hi1[k];
        hi = h > hi ? h : hi;
        s->sum += (double)a0[k] + a1[k];
        s->sumsq += (double)q0[k] + q1[k];
        s->zeros += (size_t)(z0[k] + z1[k]);
    }
    s->max_abs = hi > s->max_abs ? hi : s->max_abs;
    for (; i < m; i++) {
        float v = p[i];
        s->sum += v, s->sumsq += (double)v * v, s->zeros += v == 0.0f;
        s->max_abs = fabsf(v) > s->max_abs ? fabsf(v) : s->max_abs;
    }
}

/* Fixed chunks (independent of the thread count, so the result is too),
 * spread over the kernels' thread team, combined in chunk order. */
#define STATS_CHUNK 65536
#define STATS_MAX_CHUNKS 2048

/* One chunk of gf_act_stats_compute: ctx is the tensor. */
static void stats_chunk(const void *ctx, size_t lo, size_t len, void *part)
{
    const float *x = ctx;
    gf_act_stats *s = part;
    *s = (gf_act_stats){0};
    for (size_t i = 0; i < len; i += 512)
        stats_block(x + lo + i, len - i < 512 ? len - i : 512, s);
}

void gf_act_stats_compute(const float *x, size_t n, gf_act_stats *s)
{
    static _Thread_local gf_act_stats part[STATS_MAX_CHUNKS];
    size_t chunks = gf_par_chunks(n, STATS_CHUNK, STATS_MAX_CHUNKS, n > STATS_CHUNK, stats_chunk,
                                  x, part, sizeof part[0]);
    *s = (gf_act_stats){0};
    for (size_t c = 0; c < chunks; c++) { /* in chunk order: deterministic */
        s->sum += part[c].sum, s->sumsq += part[c].sumsq, s->zeros += part[c].zeros;
        s->max_abs = part[c].max_abs > s->max_abs ? part[c].max_abs : s->max_abs;
    }
}

/* The split pass: one read of the identity part i and the branch part r of
 * a block's input gradient gives ‖i‖², ‖r‖², i·r and ‖i + r‖² (i + r in
 * float, as net.c sums them into input_grad, so the last is that buffer's
 * squared norm) — four reductions for the memory traffic of one. Per block
 * of 256, 8 float lanes each, folded into double; fixed chunks as above. */
typedef struct split_sums {
    double ii, rr, ir, ss;
} split_sums;

GF_SIMD_CLONES
static void split_block(const float *id, const float *br, size_t n, split_sums *s)
{
    for (size_t i0 = 0; i0 < n; i0 += 256) {
        size_t m = n - i0 < 256 ? n - i0 : 256, i = 0;
        gf_v8f ii = {0}, rr = {0}, ir = {0}, ss = {0};
        for (; i + 8 <= m; i += 8) {
            gf_v8f a, b;
            GF_V8F_LOAD(a, id + i0 + i), GF_V8F_LOAD(b, br + i0 + i);
            gf_v8f sum = a + b;
            ii += a * a, rr += b * b, ir += a * b, ss += sum * sum;
        }
        for (int k = 0; k < 8; k++)
            s->ii += ii[k], s->rr += rr[k], s->ir += ir[k], s->ss += ss[k];
        for (; i < m; i++) {
            float a = id[i0 + i], b = br[i0 + i], sum = a + b;
            s->ii += (double)a * a, s->rr += (double)b * b, s->ir += (double)a * b;
            s->ss += (double)sum * sum;
        }
    }
}

/* One chunk of split_compute: ctx holds the identity and branch parts. */
static void split_chunk(const void *ctx, size_t lo, size_t len, void *part)
{
    const float *const *ib = ctx;
    *(split_sums *)part = (split_sums){0};
    split_block(ib[0] + lo, ib[1] + lo, len, part);
}

static split_sums split_compute(const float *id, const float *br, size_t n)
{
    static _Thread_local split_sums part[STATS_MAX_CHUNKS];
    const float *ib[2] = {id, br};
    size_t chunks = gf_par_chunks(n, STATS_CHUNK, STATS_MAX_CHUNKS, n > STATS_CHUNK, split_chunk,
                                  ib, part, sizeof part[0]);
    split_sums s = {0};
    for (size_t c = 0; c < chunks; c++) /* in chunk order: deterministic */
        s.ii += part[c].ii, s.rr += part[c].rr, s.ir += part[c].ir, s.ss += part[c].ss;
    return s;
}

void gf_block_stats_split(const gf_block *b, int B, double output_norm, double v_norm,
                          gf_block_stats *s)
{
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    s->output_norm = output_norm;
    s->identity_norm = s->cosine = NAN;
    if (!b->identity_grad) { /* plain: branch_grad is input_grad */
        s->input_norm = s->branch_norm = gf_norm2(b->branch_grad, n_in);
        s->branch_gain = s->input_norm / output_norm;
        return;
    }
    split_sums t = split_compute(b->identity_grad, b->branch_grad, n_in);
    double id = sqrt(t.ii), br = sqrt(t.rr);
    s->identity_norm = id, s->branch_norm = br, s->input_norm = sqrt(t.ss);
    s->cosine = id > 0 && br > 0 ? t.ir / (id * br) : NAN;
    s->branch_gain = br / v_norm;
}

void gf_block_stats_compute(const gf_net *net, const gf_block *b, int B, gf_block_stats *s)
{
    size_t n_out = (size_t)B * b->out_c * b->out_h * b->out_w;
    /* v = m ⊙ g, the gradient entering both paths, is the add layer's dout */
    double v_norm = b->identity_grad ? gf_norm2(gf_net_layer(net, b->add)->dout, n_out) : NAN;
    gf_block_stats_split(b, B, gf_norm2(b->output_grad, n_out), v_norm, s);
}
