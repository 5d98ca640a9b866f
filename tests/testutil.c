/* testutil.c — helpers the suites share (declared in suites.h). */
#include <stdlib.h>
#include <string.h>

#include "suites.h"

float *test_fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

float *test_fcopy(const float *a, size_t n)
{
    float *p = test_fvec(n);
    memcpy(p, a, n * sizeof *p);
    return p;
}

int test_bits_equal(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

int test_register(const char *suite, const test_entry *tests, size_t n)
{
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}

/* ------------------------------------------------ a pass seen by hooks */

static size_t block_in(const gf_block *b, int B)
{
    return (size_t)B * b->in_c * b->in_h * b->in_w;
}

static size_t block_out(const gf_block *b, int B)
{
    return (size_t)B * b->out_c * b->out_h * b->out_w;
}

void test_pass_init(test_pass *p, const gf_net *net, int B)
{
    int nl = gf_net_num_layers(net), nb = gf_net_num_blocks(net);
    memset(p, 0, sizeof *p);
    p->net = net, p->B = B;
    p->at = calloc((size_t)nl + 1, sizeof *p->at);
    p->dx_at = calloc((size_t)nl + 1, sizeof *p->dx_at);
    p->block_at = calloc((size_t)nb + 1, sizeof *p->block_at);
    CU_ASSERT_FATAL(p->at && p->dx_at && p->block_at);
    for (int i = 0; i < nl; i++) {
        const gf_layer *l = gf_net_layer(net, i);
        p->at[i] = p->n, p->n += (size_t)B * gf_layer_out_size(l);
        p->dx_at[i] = p->n_dx, p->n_dx += (size_t)B * gf_layer_in_size(l);
    }
    for (int i = 0; i < nb; i++) { /* identity, branch, input_grad; output_grad, v */
        const gf_block *b = gf_net_block(net, i);
        p->block_at[i] = p->n_block, p->n_block += 3 * block_in(b, B) + 2 * block_out(b, B);
    }
    p->out = test_fvec(p->n), p->dout = test_fvec(p->n);
    p->dx = test_fvec(p->n_dx), p->block = test_fvec(p->n_block);
    p->hooks = (gf_hooks){.user = p, .layer_forward = test_pass_forward,
                          .layer_backward = test_pass_backward,
                          .block_backward = test_pass_block};
}

void test_pass_free(test_pass *p)
{
    free(p->at), free(p->dx_at), free(p->block_at);
    free(p->out), free(p->dout), free(p->dx), free(p->block);
    memset(p, 0, sizeof *p);
}

int test_pass_forward(void *user, const gf_layer *l, int B, int training)
{
    test_pass *p = user;
    (void)training;
    memcpy(p->out + p->at[l->index], l->out, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    return 0;
}

int test_pass_backward(void *user, const gf_layer *l, const float *dx, int B)
{
    test_pass *p = user;
    memcpy(p->dout + p->at[l->index], l->dout, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    if (dx)
        memcpy(p->dx + p->dx_at[l->index], dx, (size_t)B * gf_layer_in_size(l) * sizeof(float));
    return 0;
}

int test_pass_block(void *user, const gf_block *b, int B)
{
    test_pass *p = user;
    int i = (int)(b - gf_net_block(p->net, 0));
    size_t n_in = block_in(b, B), n_out = block_out(b, B);
    float *q = p->block + p->block_at[i];
    if (b->identity_grad)
        memcpy(q, b->identity_grad, n_in * sizeof(float));
    memcpy(q + n_in, b->branch_grad, n_in * sizeof(float));
    memcpy(q + 2 * n_in, b->input_grad, n_in * sizeof(float));
    memcpy(q + 3 * n_in, b->output_grad, n_out * sizeof(float));
    if (b->add >= 0) /* v = m ⊙ g, valid until this hook returns */
        memcpy(q + 3 * n_in + n_out, gf_net_layer(p->net, b->add)->dout, n_out * sizeof(float));
    return 0;
}
