/* stats.c — shared reductions (stats.h). */
#include "gradflow/stats.h"

#include <math.h>

#include "gradflow/kernels.h"
#include "parallel.h"

/* One block of the fused pass: 8 float lanes per 512 values (vectorisable),
 * folded into double. */
static void stats_block(const float *p, size_t m, gf_act_stats *s)
{
    float a[8] = {0}, q[8] = {0}, hi[8] = {0};
    unsigned z[8] = {0};
    size_t i = 0;
    for (; i + 8 <= m; i += 8)
        for (int k = 0; k < 8; k++) {
            float v = p[i + k], av = fabsf(v);
            a[k] += v;
            q[k] += v * v;
            hi[k] = av > hi[k] ? av : hi[k];
            z[k] += v == 0.0f;
        }
    for (int k = 0; k < 8; k++) {
        s->sum += a[k], s->sumsq += q[k], s->zeros += z[k];
        s->max_abs = hi[k] > s->max_abs ? hi[k] : s->max_abs;
    }
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

typedef struct stats_job {
    const float *x;
    size_t n, chunk;
    gf_act_stats *part;
} stats_job;

static void stats_chunks(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    stats_job *j = ctx;
    for (size_t c = begin; c < end; c++) {
        size_t lo = c * j->chunk, len = j->n - lo < j->chunk ? j->n - lo : j->chunk;
        gf_act_stats *s = &j->part[c];
        *s = (gf_act_stats){0};
        for (size_t i = 0; i < len; i += 512)
            stats_block(j->x + lo + i, len - i < 512 ? len - i : 512, s);
    }
}

void gf_act_stats_compute(const float *x, size_t n, gf_act_stats *s)
{
    static _Thread_local gf_act_stats part[STATS_MAX_CHUNKS];
    size_t chunk = STATS_CHUNK;
    if (n / chunk >= STATS_MAX_CHUNKS)
        chunk = n / STATS_MAX_CHUNKS + 1;
    size_t chunks = (n + chunk - 1) / chunk;
    stats_job j = {x, n, chunk, part};
    gf_par_for(chunks, n > STATS_CHUNK, stats_chunks, &j);
    *s = (gf_act_stats){0};
    for (size_t c = 0; c < chunks; c++) {
        s->sum += part[c].sum, s->sumsq += part[c].sumsq, s->zeros += part[c].zeros;
        s->max_abs = part[c].max_abs > s->max_abs ? part[c].max_abs : s->max_abs;
    }
}

void gf_block_stats_compute(const gf_net *net, const gf_block *b, int B, gf_block_stats *s)
{
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    size_t n_out = (size_t)B * b->out_c * b->out_h * b->out_w;
    s->output_norm = gf_norm2(b->output_grad, n_out);
    s->input_norm = gf_norm2(b->input_grad, n_in);
    s->branch_norm = gf_norm2(b->branch_grad, n_in);
    s->identity_norm = s->cosine = NAN;
    s->branch_gain = s->input_norm / s->output_norm;
    if (!b->identity_grad)
        return;
    /* v = m ⊙ g, the gradient entering both paths, is the add layer's dout */
    const float *v = gf_net_layer(net, b->add)->dout;
    double id = gf_norm2(b->identity_grad, n_in), br = s->branch_norm;
    s->identity_norm = id;
    s->cosine = id > 0 && br > 0 ? gf_dot(b->identity_grad, b->branch_grad, n_in) / (id * br) : NAN;
    s->branch_gain = br / gf_norm2(v, n_out);
}
