/* identity_share.c — the hooks API in one page (docs/hooks.md).
 *
 * Trains a small residual net on synthetic data and prints, per step, the
 * loss, how much of the gradient entering the first block arrived through
 * its identity shortcut, and the largest update/weight ratio of any
 * parameter tensor. Three hooks do it:
 *   - a block_backward hook sees each residual block's input gradient split
 *     into the identity part Sᵀv and the branch part J_Fᵀv before they are
 *     summed (He et al. 2016's additive "+1" term and the multiplicative one);
 *   - a layer_backward hook (here: stop after a gradient blows up);
 *   - the optimiser hook sees weights, gradient and update of every tensor.
 *
 *   usage: identity_share [MODEL] [STEPS]      (default resnet-14, 5 steps)
 *
 * Build: linked against libgradflow like the gradflow CLI (meson builds it as
 * build/examples/identity_share). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gradflow/kernels.h"
#include "gradflow/stats.h"
#include "gradflow/train.h"

typedef struct watch {
    const gf_net *net;
    double first_block_identity_share; /* ‖Sᵀv‖ / (‖Sᵀv‖ + ‖J_Fᵀv‖) at block 0 */
    double max_update_ratio;           /* over tensors: ‖lr·b‖ / ‖W‖ */
    const char *max_update_tensor;
} watch;

/* After each block's backward: its split is valid now, and only now. */
static int on_block(void *user, const gf_block *b, int B)
{
    watch *w = user;
    if (b != gf_net_block(w->net, 0) || !b->identity_grad)
        return 0;
    gf_block_stats s;
    gf_block_stats_compute(w->net, b, B, &s);
    w->first_block_identity_share = s.identity_norm / (s.identity_norm + s.branch_norm);
    return 0;
}

/* After each layer's backward: stop the pass if a gradient is not finite. */
static int on_layer(void *user, const gf_layer *l, const float *dx, int B)
{
    (void)user, (void)dx;
    double g = gf_norm2(l->dout, (size_t)B * gf_layer_out_size(l));
    if (!isfinite(g)) {
        fprintf(stderr, "gradient at %s is %g: stopping\n", l->name, g);
        return 1; /* gf_net_backward returns GF_STOPPED, gf_train ends the run */
    }
    return 0;
}

/* After each update: weights are new, grad is this step's, update = -lr·b. */
static int on_update(void *user, const gf_sgd *s, const gf_net *net)
{
    watch *w = user;
    w->max_update_ratio = 0;
    for (int i = 0; i < gf_net_num_tensors(net); i++) {
        const gf_tensor_info *t = gf_net_tensor(net, i);
        if (t->is_buffer)
            continue;
        double u = s->lr * gf_norm2(gf_sgd_momentum(s, net, t), t->size);
        double r = u / gf_norm2(t->data, t->size);
        if (r > w->max_update_ratio)
            w->max_update_ratio = r, w->max_update_tensor = t->name;
    }
    return 0;
}

/* The training loop's observer: one line per step. */
static int on_step(void *user, const gf_train_status *st, gf_net *net, const gf_sgd *sgd)
{
    (void)net, (void)sgd;
    const watch *w = user;
    printf("step %ld  loss %.4f  identity share at block 0 %.3f  largest update/weight %.2e (%s)\n",
           st->step, st->loss, w->first_block_identity_share, w->max_update_ratio,
           w->max_update_tensor);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "resnet-14";
    long steps = argc > 2 ? atol(argv[2]) : 5;
    gf_err err;
    gf_data_bundle data;
    gf_model_spec spec;
    if (gf_data_open("synthetic:N=256,C=1,H=12,W=12,TEST=64", 0, 0, 1, &data, &err) ||
        gf_model_parse(model, &spec, &err)) {
        fprintf(stderr, "identity_share: %s\n", err.msg);
        return 1;
    }
    spec.in_c = 1, spec.in_h = spec.in_w = 12;
    gf_train_config cfg;
    gf_train_defaults(&cfg);
    cfg.steps = steps, cfg.batch = 32;
    gf_net *net = gf_net_new(&spec, cfg.batch, &err);
    gf_sgd sgd;
    if (!net || gf_sgd_init(&sgd, net, cfg.lr, cfg.momentum, cfg.weight_decay, &err)) {
        fprintf(stderr, "identity_share: %s\n", err.msg);
        return 1;
    }
    gf_net_init(net, cfg.seed);

    watch w = {.net = net, .first_block_identity_share = NAN, .max_update_tensor = "-"};
    gf_hooks hooks = {.user = &w, .layer_backward = on_layer, .block_backward = on_block};
    gf_net_set_hooks(net, &hooks);
    sgd.hook = on_update, sgd.hook_user = &w;
    gf_train_observer obs = {.user = &w, .step = on_step};

    gf_train_summary sum;
    int rc = gf_train(&cfg, net, &sgd, &data.train, NULL, &data.test, &obs, &sum, &err);
    if (rc)
        fprintf(stderr, "identity_share: %s\n", err.msg);
    gf_sgd_free(&sgd);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc ? 1 : 0;
}
