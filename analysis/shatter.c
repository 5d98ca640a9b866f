/* shatter.c — `gradflow shatter`: are the input gradients of a network
 * correlated, or "shattered" into white noise (Balduzzi et al. 2017)?
 *
 * For each model (fresh init or weights) and one batch, a training-mode
 * forward and backward with the input gradient on. Row i of dL/dX is then
 * example i's gradient (to O(1/B) through the batch statistics). Two views:
 *   batch: Pearson correlation between the gradients of different examples;
 *   line:  inputs x_t = x_0 + t·eps·d along a random direction d (|d| = |x_0|),
 *          correlation of the gradient at x_t with the one at x_0 against t —
 *          Balduzzi et al.'s Fig. 1/3 in input space. Shattered gradients lose
 *          their correlation already at small t; residual nets keep it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "analysis.h"
#include "gradflow/kernels.h"

static const char help[] =
    "usage: gradflow shatter --models M1,M2,... [options]\n"
    "Correlation of input gradients (Balduzzi et al. 2017, shattered gradients) for each\n"
    "model at initialisation (or --weights FILE for one trained model):\n"
    "  batch: mean Pearson correlation between different examples' input gradients\n"
    "  line:  correlation between the gradient at x0 and at x0 + t*eps*d, t = 1..B-1\n"
    "  --models LIST   e.g. plain-8,plain-20,plain-56,resnet-8,resnet-20,resnet-56\n"
    "  --weights FILE  instead of --models: one trained network\n"
    "  --data SPEC     fashion-mnist (default), cifar10:DIR, synthetic[:...]\n"
    "  --batch B       examples / points on the line (default 32)\n"
    "  --eps E         line step as a fraction of |x0| (default 0.01)\n"
    "  --seed N        init and direction seed (default 1)   --threads T\n";

/* Pearson correlation of two n-vectors, in double. */
static double pearson(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++)
        ma += a[i], mb += b[i];
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* Input gradients of the batch x (labels y) into g [B, per]. */
static void input_grads(gf_net *net, const float *x, const int32_t *y, int B, float *g, size_t per)
{
    gf_net_forward(net, x, B, 1);
    gf_net_loss(net, y, 1, NULL);
    gf_net_backward(net, GF_NO_PARAM_GRAD | GF_INPUT_GRAD);
    memcpy(g, gf_net_input_grad(net), (size_t)B * per * sizeof(float));
}

typedef struct shatter_row {
    double batch_corr, batch_abs_corr; /* mean over pairs i < j */
    double line_corr[4];               /* at t = 1, 2, 4, 8 (NaN beyond the batch) */
} shatter_row;

static void measure(gf_net *net, const float *x, const int32_t *y, int B, size_t per,
                    double eps, uint64_t seed, float *g, float *xl, float *d, int32_t *yl,
                    shatter_row *r)
{
    input_grads(net, x, y, B, g, per);
    double s = 0, sa = 0;
    long pairs = 0;
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++) {
            double c = pearson(g + (size_t)i * per, g + (size_t)j * per, per);
            s += c, sa += fabs(c), pairs++;
        }
    r->batch_corr = s / (double)pairs, r->batch_abs_corr = sa / (double)pairs;
    /* the line: x0 + t·eps·d, d a Gaussian direction scaled to |x0| */
    gf_rng rng;
    gf_rng_seed(&rng, seed, 0x6c696e65 /* "line" */);
    double nx = gf_norm2(x, per), nd = 0;
    for (size_t k = 0; k < per; k++)
        d[k] = (float)gf_rng_normal(&rng), nd += (double)d[k] * d[k];
    float scale = (float)(eps * nx / sqrt(nd));
    for (int t = 0; t < B; t++)
        for (size_t k = 0; k < per; k++)
            xl[(size_t)t * per + k] = x[k] + (float)t * scale * d[k];
    for (int t = 0; t < B; t++)
        yl[t] = y[0];
    input_grads(net, xl, yl, B, g, per);
    static const int at[4] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++)
        r->line_corr[i] = at[i] < B ? pearson(g, g + (size_t)at[i] * per, per) : NAN;
}

typedef struct shatter_opts {
    analysis_setup setup;
    const char *models;
    double eps;
    int threads;
} shatter_opts;

static int parse(int argc, char **argv, shatter_opts *o)
{
    const char *c = "shatter";
    memset(o, 0, sizeof *o);
    o->setup.data = "fashion-mnist", o->setup.batch = 32, o->setup.seed = 1, o->eps = 0.01;
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
        } else if (!strcmp(a, "--models")) { VALUE(); o->models = v;
        } else if (!strcmp(a, "--batch")) { VALUE(); if (cli_long(c, a, v, 2, 4096, &n)) return 2; o->setup.batch = (int)n;
        } else if (!strcmp(a, "--eps")) { VALUE(); if (cli_double(c, a, v, 1e-9, 10, &d)) return 2; o->eps = d;
        } else { return cli_fail(2, c, "unknown option '%s' (see --help)", a); }
#undef VALUE
    }
    if (!o->models == !o->setup.weights)
        return cli_fail(2, c, "give exactly one of --models LIST and --weights FILE");
    return 0;
}

/* One model: build, measure, print a row. Returns 0 or an exit status. */
static int shatter_one(shatter_opts *o, const char *model)
{
    gf_err err;
    gf_data_bundle data;
    gf_net *net;
    float *x;
    int32_t *y;
    o->setup.model = model;
    if (analysis_open(&o->setup, &data, &net, &x, &y, &err))
        return cli_fail(1, "shatter", "%s", err.msg);
    int B = o->setup.batch;
    size_t per = (size_t)data.train.c * data.train.h * data.train.w;
    float *g = malloc((size_t)B * per * sizeof *g), *xl = malloc((size_t)B * per * sizeof *xl);
    float *d = malloc(per * sizeof *d);
    int32_t *yl = malloc((size_t)B * sizeof *yl);
    int rc = 0;
    if (!g || !xl || !d || !yl) {
        rc = cli_fail(1, "shatter", "out of memory");
    } else {
        shatter_row r;
        measure(net, x, y, B, per, o->eps, o->setup.seed, g, xl, d, yl, &r);
        char name[64];
        gf_model_name(gf_net_spec(net), name, sizeof name);
        printf("  %-18s %6d %11.4f %11.4f %9.4f %9.4f %9.4f %9.4f\n", name,
               gf_net_spec(net)->depth, r.batch_corr, r.batch_abs_corr, r.line_corr[0],
               r.line_corr[1], r.line_corr[2], r.line_corr[3]);
    }
    free(g), free(xl), free(d), free(yl), free(x), free(y);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc;
}

int cmd_shatter(int argc, char **argv)
{
    shatter_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    gf_set_threads(o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("input-gradient correlation (Balduzzi et al. 2017) on %s, batch %d, line step %g|x0|\n",
           o.setup.data, o.setup.batch, o.eps);
    printf("  %-18s %6s %11s %11s %9s %9s %9s %9s\n", "model", "depth", "batch corr",
           "batch |corr|", "line t=1", "t=2", "t=4", "t=8");
    if (o.setup.weights)
        return shatter_one(&o, NULL);
    char *list = malloc(strlen(o.models) + 1);
    if (!list)
        return cli_fail(1, "shatter", "out of memory");
    strcpy(list, o.models);
    for (char *save = NULL, *m = strtok_r(list, ",", &save); m && rc == 0;
         m = strtok_r(NULL, ",", &save))
        rc = shatter_one(&o, m);
    free(list);
    return rc;
}
