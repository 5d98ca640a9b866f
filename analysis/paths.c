/* paths.c — `gradflow paths`: where the gradient reaching the first block
 * comes from. Per block, the identity (shortcut) and branch parts of the
 * input gradient; the exact split by path length (Veit et al. 2016, Fig. 6)
 * with its check against the ordinary gradient; Veit's sampling estimator;
 * for plain nets the single multiplicative path; and the ablation that
 * scales every residual branch (He et al. 2016's identity term). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "analysis.h"
#include "gradflow/h5io.h"
#include "gradflow/kernels.h"
#include "gradflow/paths.h"
#include "gradflow/stats.h"

static const char help[] =
    "usage: gradflow paths (--model NAME | --weights FILE) [options]\n"
    "One batch, one training-mode forward and backward, then: per block the identity\n"
    "(shortcut) and branch parts of the input gradient; the exact split of the gradient\n"
    "at a block's input by path length k (the sum over all paths through exactly k\n"
    "residual branches), checked against the ordinary gradient; for plain nets the\n"
    "product of per-block gains along the single path.\n"
    "  --model NAME        fresh network (Kaiming init from --seed)\n"
    "  --weights FILE      weights or checkpoint from gradflow train / export\n"
    "  --data SPEC         fashion-mnist[:DIR] (default), cifar10:DIR, synthetic[:...]\n"
    "  --batch B           examples: the first B of the training set (default 128)\n"
    "  --block I           split the gradient at block I's input (default 0)\n"
    "  --samples S         also run Veit et al.'s estimator: S random paths per length\n"
    "  --lengths K1,K2,..  lengths to sample (default: every length)\n"
    "  --branch-scale A    ablation: every residual branch (plain: every block) scaled by A\n"
    "  --seed N            init seed (default 1)   --threads T   --width W (MLPs)\n"
    "  -o FILE.h5          write every number printed (schema gradflow-paths, docs/analysis.md)\n"
    "  --save-grad         with -o, also store G[k] itself [L+1, B, C, H, W]\n"
    "Exit status 1 if the path sum differs from the gradient by more than 1e-4.\n";

typedef struct paths_opts {
    analysis_setup setup;
    const char *out, *lengths;
    int block, samples, threads, save_grad;
    double scale;
} paths_opts;

static int parse(int argc, char **argv, paths_opts *o)
{
    const char *c = "paths";
    memset(o, 0, sizeof *o);
    o->setup.data = "fashion-mnist", o->setup.batch = 128, o->setup.seed = 1, o->scale = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double d;
        int shared = analysis_option(c, argc, argv, &i, &o->setup, &o->threads);
        if (shared == 2)
            return 2;
        if (shared)
            continue;
#define VALUE() if (!(v = cli_value(c, argc, argv, &i))) return 2
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(help, stdout); return -1;
        } else if (!strcmp(a, "--model")) { VALUE(); o->setup.model = v;
        } else if (!strcmp(a, "-o")) { VALUE(); o->out = v;
        } else if (!strcmp(a, "--lengths")) { VALUE(); o->lengths = v;
        } else if (!strcmp(a, "--save-grad")) { o->save_grad = 1;
        } else if (!strcmp(a, "--batch")) { VALUE(); if (cli_long(c, a, v, 1, 65536, &n)) return 2; o->setup.batch = (int)n;
        } else if (!strcmp(a, "--block")) { VALUE(); if (cli_long(c, a, v, 0, 100000, &n)) return 2; o->block = (int)n;
        } else if (!strcmp(a, "--samples")) { VALUE(); if (cli_long(c, a, v, 1, 1000000, &n)) return 2; o->samples = (int)n;
        } else if (!strcmp(a, "--width")) { VALUE(); if (cli_long(c, a, v, 1, 1 << 16, &n)) return 2; o->setup.width = (int)n;
        } else if (!strcmp(a, "--branch-scale")) { VALUE(); if (cli_double(c, a, v, 0, 1e6, &d)) return 2; o->scale = d;
        } else { return cli_fail(2, c, "unknown option '%s' (see --help)", a); }
#undef VALUE
    }
    if (!o->setup.model == !o->setup.weights)
        return cli_fail(2, c, "give exactly one of --model NAME and --weights FILE");
    if (o->save_grad && !o->out)
        return cli_fail(2, c, "--save-grad needs -o FILE.h5");
    return 0;
}

/* Per-block split statistics, captured during the ordinary backward. */
typedef struct capture {
    const gf_net *net;
    gf_block_stats *stats;
} capture;

static int capture_block(void *user, const gf_block *b, int B)
{
    capture *c = user;
    gf_block_stats_compute(c->net, b, B, &c->stats[b - gf_net_block(c->net, 0)]);
    return 0;
}

static void print_blocks(const gf_net *net, const gf_block_stats *st)
{
    printf("\nper block (whole-batch L2 norms of dL/dx's parts at the block input):\n");
    printf("  %-10s %-7s %12s %12s %12s %8s %8s %9s\n", "block", "kind", "|identity|",
           "|branch|", "|dL/dx|", "cosine", "gain", "id share");
    for (int i = 0; i < gf_net_num_blocks(net); i++) {
        const gf_block_stats *s = &st[i];
        const gf_block *b = gf_net_block(net, i);
        double share = s->identity_norm / (s->identity_norm + s->branch_norm);
        printf("  %-10s %-7s %12.4e %12.4e %12.4e %8.4f %8.4f %9.4f\n", b->name,
               b->kind == GF_BLOCK_PLAIN ? "plain" : b->kind == GF_BLOCK_PREACT ? "preact" : "resnet",
               s->identity_norm, s->branch_norm, s->input_norm, s->cosine, s->branch_gain, share);
    }
}

static void print_paths(const gf_paths *p, const gf_paths_sample *samples, int n_samples)
{
    printf("\ngradient at the input of block %d split by path length k (Veit et al. 2016):\n"
           "L = %d residual blocks, %d lengths; share_k = <G[k], dL/dx> / |dL/dx|^2\n",
           p->from, p->L, p->L + 1);
    printf("  %4s %22s %12s %14s %9s", "k", "paths C(L,k)", "|G[k]|", "|G[k]|/C(L,k)",
           "share");
    if (n_samples)
        printf(" %14s %10s", "sampled/path", "est. err");
    printf("\n");
    for (int k = 0; k <= p->L; k++) {
        double lc = p->log_count[k];
        char count[32];
        if (lc < log(1e15))
            snprintf(count, sizeof count, "%.0f", round(exp(lc)));
        else
            snprintf(count, sizeof count, "%.6fe%d", pow(10.0, lc / log(10.0) - floor(lc / log(10.0))),
                     (int)floor(lc / log(10.0)));
        printf("  %4d %22s %12.4e %14.4e %9.5f", k, count, p->norm[k],
               exp(log(p->norm[k]) - lc), p->share[k]);
        for (int s = 0; s < n_samples; s++)
            if (samples[s].k == k)
                printf(" %14.4e %10.3e", samples[s].mean_path_norm, samples[s].estimate_rel_err);
        printf("\n");
    }
    printf("shortcut-only share (k = 0): %.5f of the gradient at block %d arrived through "
           "shortcuts only\n", p->share[0], p->from);
    printf("check: |sum_k G[k] - dL/dx| / |dL/dx| = %.3e (|dL/dx| = %.4e)\n", p->sum_rel_err,
           p->grad_norm);
}

/* Plain nets: one path, the product of the blocks' gains |dL/dx|/|dL/dy|. */
static double print_plain(const gf_net *net, const gf_block_stats *st)
{
    int nb = gf_net_num_blocks(net);
    double log_product = 0.0;
    for (int i = 0; i < nb; i++)
        log_product += log(st[i].branch_gain);
    double through = st[0].input_norm / st[nb - 1].output_norm;
    printf("\nplain network: one path through all %d blocks (every factor multiplicative)\n"
           "  |dL/dx at block 0| / |dL/dy at the last block| = %.4e\n"
           "  product of the %d per-block gains             = %.4e\n",
           nb, through, nb, exp(log_product));
    return exp(log_product);
}

/* ------------------------------------------------------------ the file */

typedef struct results {
    const paths_opts *o;
    const gf_net *net;
    const gf_block_stats *st;
    const gf_paths *p;       /* NULL for plain nets */
    const gf_paths_sample *samples;
    int n_samples;
    double plain_product;
} results;

static int write_blocks(hid_t f, const results *r)
{
    int nb = gf_net_num_blocks(r->net), rc = 0;
    const char **names = malloc((size_t)nb * sizeof *names);
    double *v = malloc((size_t)nb * sizeof *v);
    if (!names || !v)
        rc = -1;
    for (int i = 0; !rc && i < nb; i++)
        names[i] = gf_net_block(r->net, i)->name;
    hid_t g = rc ? -1 : H5Gcreate2(f, "blocks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = rc || g < 0 || gf_h5_write_strings(g, "name", names, (size_t)nb);
    static const struct { const char *name, *units, *desc; size_t off; } cols[] = {
        {"identity_norm", "loss/act.", "|S^T(m*g)| at the block input (NaN plain)", offsetof(gf_block_stats, identity_norm)},
        {"branch_norm", "loss/act.", "|J_F^T(m*g)| at the block input", offsetof(gf_block_stats, branch_norm)},
        {"input_grad_norm", "loss/act.", "|dL/dx| at the block input", offsetof(gf_block_stats, input_norm)},
        {"output_grad_norm", "loss/act.", "|dL/dy| at the block output", offsetof(gf_block_stats, output_norm)},
        {"cosine", "1", "cosine between identity and branch parts", offsetof(gf_block_stats, cosine)},
        {"branch_gain", "1", "|J_F^T v|/|v|, v = m*g (plain: |dL/dx|/|dL/dy|)", offsetof(gf_block_stats, branch_gain)},
    };
    for (size_t c = 0; !rc && c < sizeof cols / sizeof cols[0]; c++) {
        for (int i = 0; i < nb; i++)
            v[i] = *(const double *)((const char *)&r->st[i] + cols[c].off);
        rc = gf_h5_write_series(g, cols[c].name, v, (size_t)nb, cols[c].units, cols[c].desc);
    }
    if (g >= 0)
        H5Gclose(g);
    free(names), free(v);
    return rc ? -1 : 0;
}

static int write_paths(hid_t f, const results *r)
{
    const gf_paths *p = r->p;
    size_t m = (size_t)p->L + 1;
    double *count = malloc(m * sizeof *count), *per = malloc(m * sizeof *per);
    int rc = !count || !per;
    for (size_t k = 0; !rc && k < m; k++)
        count[k] = exp(p->log_count[k]), per[k] = exp(log(p->norm[k]) - p->log_count[k]);
    rc = rc || gf_h5_write_series(f, "paths/norm_by_length", p->norm, m, "loss/act.",
                                  "|G[k]|: whole-batch L2 norm of the sum over all paths through exactly k residual branches") ||
         gf_h5_write_series(f, "paths/count_by_length", count, m, "paths", "C(L, k) (inexact above 2^53)") ||
         gf_h5_write_series(f, "paths/log_count_by_length", p->log_count, m, "ln(paths)", "ln C(L, k), exact for any L") ||
         gf_h5_write_series(f, "paths/mean_path_norm", per, m, "loss/act.", "|G[k]| / C(L, k)") ||
         gf_h5_write_series(f, "paths/share_by_length", p->share, m, "1", "<G[k], dL/dx> / |dL/dx|^2 (sums to 1)");
    hid_t g = rc ? -1 : H5Gopen2(f, "paths", H5P_DEFAULT);
    rc = rc || g < 0 || gf_h5_set_attr_double(g, "sum_rel_err", p->sum_rel_err) ||
         gf_h5_set_attr_long(g, "from_block", p->from) || gf_h5_set_attr_long(g, "L", p->L);
    if (!rc && r->o->save_grad) {
        const gf_block *b = gf_net_block(r->net, p->from);
        hsize_t dims[5] = {m, (hsize_t)gf_net_batch(r->net), (hsize_t)b->in_c, (hsize_t)b->in_h, (hsize_t)b->in_w};
        rc = gf_h5_write_floats(g, "grad_by_length", p->G, 5, dims);
    }
    if (g >= 0)
        H5Gclose(g);
    free(count), free(per);
    return rc ? -1 : 0;
}

static int write_samples(hid_t f, const results *r)
{
    int n = r->n_samples;
    double *k = malloc(((size_t)n + 1) * sizeof *k), *mn = malloc(((size_t)n + 1) * sizeof *mn);
    double *e = malloc(((size_t)n + 1) * sizeof *e);
    int rc = !k || !mn || !e;
    for (int i = 0; !rc && i < n; i++)
        k[i] = r->samples[i].k, mn[i] = r->samples[i].mean_path_norm, e[i] = r->samples[i].estimate_rel_err;
    rc = rc || gf_h5_write_series(f, "samples/length", k, (size_t)n, "branches", "path length k sampled") ||
         gf_h5_write_series(f, "samples/mean_path_norm", mn, (size_t)n, "loss/act.", "mean |gradient along one random path of length k|") ||
         gf_h5_write_series(f, "samples/estimate_rel_err", e, (size_t)n, "1", "|C(L,k) mean(path gradient) - G[k]| / |G[k]|");
    free(k), free(mn), free(e);
    return rc ? -1 : 0;
}

static int fill_results(hid_t f, const void *ctx)
{
    const results *r = ctx;
    const paths_opts *o = r->o;
    char model[64];
    gf_model_name(gf_net_spec(r->net), model, sizeof model);
    int rc = gf_h5_set_attr_string(f, "schema", "gradflow-paths") ||
             gf_h5_set_attr_long(f, "schema_version", 1) ||
             gf_h5_set_attr_string(f, "model", model) ||
             gf_h5_set_attr_string(f, "weights", o->setup.weights ? o->setup.weights : "") ||
             gf_h5_set_attr_string(f, "data", o->setup.data) ||
             gf_h5_set_attr_long(f, "batch", o->setup.batch) ||
             gf_h5_set_attr_long(f, "seed", (long)o->setup.seed) ||
             gf_h5_set_attr_double(f, "branch_scale", o->scale) || write_blocks(f, r);
    if (!rc && r->p)
        rc = write_paths(f, r) || (r->n_samples && write_samples(f, r));
    if (!rc && !r->p)
        rc = gf_h5_set_attr_double(f, "plain_gain_product", r->plain_product);
    return rc ? -1 : 0;
}

/* Runs the sampler for --lengths (default every length); returns the count. */
static int run_samples(gf_net *net, const paths_opts *o, const gf_paths *p,
                       gf_paths_sample *out, gf_err *err)
{
    gf_rng rng;
    gf_rng_seed(&rng, o->setup.seed, 0x70617468 /* "path" */);
    int n = 0;
    const char *s = o->lengths;
    for (int k = 0; k <= p->L; k++) {
        if (s) {
            if (!*s)
                break;
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || (*end && *end != ',') || v < 0 || v > p->L)
                return gf_err_set(err, "--lengths: '%s' is not a list of lengths in 0..%d", o->lengths, p->L);
            k = (int)v;
            s = *end ? end + 1 : end;
        }
        if (gf_paths_sample_length(net, p, k, o->samples, &rng, &out[n++], err))
            return -1;
        if (s && !*s)
            break;
    }
    return n;
}

/* Analyses the batch: returns the exit status. */
static int analyse(const paths_opts *o, gf_net *net, const float *x, const int32_t *y)
{
    gf_err err;
    int nb = gf_net_num_blocks(net), B = o->setup.batch, rc = 0;
    if (o->block >= nb)
        return cli_fail(2, "paths", "--block %d: the model has blocks 0..%d", o->block, nb - 1);
    gf_block_stats *st = calloc((size_t)nb, sizeof *st);
    capture cap = {net, st};
    gf_hooks hooks = {.user = &cap, .block_backward = capture_block};
    gf_net_set_hooks(net, &hooks);
    gf_net_forward(net, x, B, 1);
    int correct;
    double loss = gf_net_loss(net, y, 1, &correct);
    gf_net_backward(net, GF_NO_PARAM_GRAD);
    gf_net_set_hooks(net, NULL);
    char model[64];
    gf_model_name(gf_net_spec(net), model, sizeof model);
    printf("%s on %s, batch %d (training-mode BN), loss %.4f, error %.2f%%%s\n", model,
           o->setup.data, B, loss, 100.0 * (B - correct) / B,
           o->scale != 1 ? " — ablation: branches scaled" : "");
    if (o->scale != 1)
        printf("ablation: every residual branch (plain net: every block) scaled by %g\n", o->scale);
    print_blocks(net, st);
    results r = {.o = o, .net = net, .st = st};
    gf_paths p = {0};
    gf_paths_sample *samples = NULL;
    if (gf_net_block(net, o->block)->kind == GF_BLOCK_PLAIN) {
        r.plain_product = print_plain(net, st);
    } else if (gf_paths_decompose(net, o->block, &p, &err)) {
        rc = cli_fail(1, "paths", "%s", err.msg);
    } else {
        r.p = &p;
        samples = o->samples ? calloc((size_t)p.L + 1, sizeof *samples) : NULL;
        if (o->samples && (r.n_samples = run_samples(net, o, &p, samples, &err)) < 0)
            rc = cli_fail(1, "paths", "%s", err.msg);
        r.samples = samples;
        print_paths(&p, samples, r.n_samples > 0 ? r.n_samples : 0);
        if (p.sum_rel_err > 1e-4)
            rc = cli_fail(1, "paths", "the path sum misses the gradient by %.2e (> 1e-4)",
                          p.sum_rel_err);
    }
    printf("\n|dL/dx at block 0| / |dL/dy at the last block| = %.4e\n",
           st[0].input_norm / st[nb - 1].output_norm);
    if (o->out && rc == 0) {
        if (gf_h5_write_file(o->out, fill_results, &r, &err))
            rc = cli_fail(1, "paths", "%s", err.msg);
        else
            printf("results written to %s\n", o->out);
    }
    gf_paths_free(&p);
    free(samples), free(st);
    return rc;
}

int cmd_paths(int argc, char **argv)
{
    paths_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    gf_set_threads(o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    gf_err err;
    gf_data_bundle data;
    gf_net *net;
    float *x;
    int32_t *y;
    if (analysis_open(&o.setup, &data, &net, &x, &y, &err))
        return cli_fail(1, "paths", "%s", err.msg);
    if (gf_net_set_branch_scale(net, (float)o.scale))
        rc = cli_fail(1, "paths", "cannot set the branch scale %g", o.scale);
    else
        rc = analyse(&o, net, x, y);
    free(x), free(y);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc;
}
