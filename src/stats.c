/* stats.c — shared reductions (stats.h). */
#include "gradflow/stats.h"

#include <math.h>

#include "gradflow/kernels.h"

void gf_act_stats_compute(const float *x, size_t n, gf_act_stats *s)
{
    /* Blocks of 512 accumulated in 8 float lanes (vectorisable), each block
     * folded into double: fast, and accurate to ~1e-7 relative. */
    double sum = 0.0, sumsq = 0.0;
    float mx = 0.0f;
    size_t zeros = 0;
    for (size_t i0 = 0; i0 < n; i0 += 512) {
        size_t m = n - i0 < 512 ? n - i0 : 512;
        const float *p = x + i0;
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
            sum += a[k], sumsq += q[k], zeros += z[k];
            mx = hi[k] > mx ? hi[k] : mx;
        }
        for (; i < m; i++) {
            float v = p[i];
            sum += v, sumsq += (double)v * v, zeros += v == 0.0f;
            mx = fabsf(v) > mx ? fabsf(v) : mx;
        }
    }
    s->sum = sum, s->sumsq = sumsq, s->max_abs = mx, s->zeros = zeros;
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
