/* demo.c — `gradflow demo`: the main job. Trains plain and residual nets at
 * two depths on a reduced budget, records everything, and writes a report
 * that shows — from this run's measurements, or says plainly that the
 * budget was too small — the degradation problem (He et al. 2015) and the
 * identity term in backprop (He et al. 2016), with the path-length split
 * of the deep residual net (Veit et al. 2016) beside its plain twin. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../plots/plot.h"
#include "../src/cli/cli.h"
#include "../src/cli/sweep.h"
#include "runfile.h"

static const char help[] =
    "usage: gradflow demo [options]\n"
    "Trains plain-D1, plain-D2 and their residual twins on a reduced budget (about 6\n"
    "minutes on 2 cores with the defaults), records every step, runs the path analysis of the\n"
    "deep pair, draws the figures and writes DIR/index.html and DIR/index.md saying what\n"
    "the measurements show: the degradation problem and the identity term. Rerunning\n"
    "resumes or reuses finished runs.\n"
    "  -o DIR          output directory (default gradflow-demo)\n"
    "  --data SPEC     fashion-mnist (default), cifar10:DIR, synthetic[:...]\n"
    "  --depths D1,D2  shallow and deep depth, 6n+2 (default 20,56: He et al. 2015 Fig. 1)\n"
    "  --residual R    the residual family: preact-resnet (default; He et al. 2016, an\n"
    "                  identity path from block to block) or resnet (He et al. 2015)\n"
    "  --subset N      training examples (default 25600: 200 steps of 128)\n"
    "  --epochs E      epochs per run (default 1)\n"
    "  --warmup S      first S steps of every run at lr 0.01 (default: an eighth of the\n"
    "                  steps; He et al. 2015 warm up ResNet-110 the same way)\n"
    "  --batch B (128)  --seed N (1)  --threads T (all cores)\n";

typedef struct demo_opts {
    const char *dir, *data;
    const char *residual; /* "preact-resnet" or "resnet" */
    int depth[2], subset, epochs, batch, threads;
    long seed, warmup; /* warmup < 0: an eighth of the steps */
} demo_opts;

static int parse(int argc, char **argv, demo_opts *o)
{
    const char *c = "demo";
    *o = (demo_opts){"gradflow-demo", "fashion-mnist", "preact-resnet", {20, 56}, 25600, 1, 128,
                     (int)sysconf(_SC_NPROCESSORS_ONLN), 1, -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
#define VALUE() if (!(v = cli_value(c, argc, argv, &i))) return 2
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(help, stdout); return -1;
        } else if (!strcmp(a, "-o")) { VALUE(); o->dir = v;
        } else if (!strcmp(a, "--data")) { VALUE(); o->data = v;
        } else if (!strcmp(a, "--residual")) {
            VALUE();
            if (strcmp(v, "preact-resnet") && strcmp(v, "resnet"))
                return cli_fail(2, c, "--residual is preact-resnet or resnet; got '%s'", v);
            o->residual = v;
        } else if (!strcmp(a, "--depths")) {
            VALUE();
            if (sscanf(v, "%d,%d", &o->depth[0], &o->depth[1]) != 2 || o->depth[0] < 8 ||
                o->depth[1] <= o->depth[0] || (o->depth[0] - 2) % 6 || (o->depth[1] - 2) % 6)
                return cli_fail(2, c, "--depths needs D1,D2 with 8 <= D1 < D2, both 6n+2; got '%s'", v);
        } else if (!strcmp(a, "--subset")) { VALUE(); if (cli_long(c, a, v, 128, 1L << 30, &n)) return 2; o->subset = (int)n;
        } else if (!strcmp(a, "--epochs")) { VALUE(); if (cli_long(c, a, v, 1, 10000, &n)) return 2; o->epochs = (int)n;
        } else if (!strcmp(a, "--warmup")) { VALUE(); if (cli_long(c, a, v, 0, 1L << 40, &n)) return 2; o->warmup = n;
        } else if (!strcmp(a, "--batch")) { VALUE(); if (cli_long(c, a, v, 2, 4096, &n)) return 2; o->batch = (int)n;
        } else if (!strcmp(a, "--threads")) { VALUE(); if (cli_long(c, a, v, 1, 1024, &n)) return 2; o->threads = (int)n;
        } else if (!strcmp(a, "--seed")) { VALUE(); if (cli_long(c, a, v, 0, 0x7fffffffffffffffL, &n)) return 2; o->seed = n;
        } else { return cli_fail(2, c, "unknown option '%s' (see --help)", a); }
#undef VALUE
    }
    return 0;
}

/* Family 0 is plain, 1 the residual family; runs are named "<family>-D",
 * index family * 2 + (deep). */
static const char *fam(const demo_opts *o, int family) { return family ? o->residual : "plain"; }

static void run_path(char *buf, size_t n, const demo_opts *o, int family, int deep,
                     const char *suffix)
{
    snprintf(buf, n, "%s/runs/%s-%d%s", o->dir, fam(o, family), o->depth[deep], suffix);
}

/* ---------------------------------------------------------- measuring */

/* Warm-up steps: as given, or an eighth of a run's steps. Deep nets at lr 0.1
 * from the first step can blow up: resnet-56 on Fashion-MNIST starts at a
 * loss of ~6.6 (the same in PyTorch), climbs past 11 in a few steps and may
 * not recover within a short run; He et al. warm ResNet-110 up at lr 0.01. */
static long demo_warmup(const demo_opts *o)
{
    if (o->warmup >= 0)
        return o->warmup;
    long steps = (long)o->epochs * ((o->subset + o->batch - 1) / o->batch);
    return steps / 8;
}

/* Trains the four runs through the sweep scheduler (restartable). */
static int train_runs(const demo_opts *o, sweep_run runs[4])
{
    for (int f = 0; f < 2; f++)
        for (int d = 0; d < 2; d++)
            snprintf(runs[f * 2 + d].name, sizeof runs[0].name, "%s-%d", fam(o, f),
                     o->depth[d]);
    char warmup[24];
    snprintf(warmup, sizeof warmup, "%ld", demo_warmup(o));
    const char *extra[] = {"--warmup", warmup, NULL};
    sweep_plan p = {.dir = o->dir, .data = o->data, .epochs = o->epochs, .subset = o->subset,
                    .batch = o->batch, .jobs = 1, .threads = o->threads, .seed = o->seed,
                    .extra = extra, .runs = runs, .n_runs = 4, .rank = 0, .size = 1};
    int failed = sweep_execute(&p);
    if (failed < 0)
        return cli_fail(130, "demo", "interrupted: rerun the same command to resume");
    return failed ? cli_fail(1, "demo", "%d training run(s) failed; see %s/logs", failed, o->dir)
                  : 0;
}

/* `gradflow paths` on a deep net (trained weights, or fresh with init != 0),
 * optionally with every branch scaled to 0 (the ablation). */
static int run_paths(const demo_opts *o, int family, int init, int ablate, char *out, size_t n)
{
    char weights[4200], batch[16], seed[24], threads[16], model[32];
    run_path(weights, sizeof weights, o, family, 1, ".weights.h5");
    snprintf(out, n, "%s/paths-%s-%d%s.h5", o->dir, fam(o, family), o->depth[1],
             init ? "-init" : ablate ? "-ablated" : "");
    snprintf(batch, sizeof batch, "%d", o->batch);
    snprintf(seed, sizeof seed, "%ld", o->seed);
    snprintf(threads, sizeof threads, "%d", o->threads);
    snprintf(model, sizeof model, "%s-%d", fam(o, family), o->depth[1]);
    const char *args[] = {"paths", init ? "--model" : "--weights", init ? model : weights,
                          "--data", o->data, "--batch", batch, "--seed", seed, "--threads",
                          threads, "--branch-scale", ablate ? "0" : "1", "-o", out, NULL};
    char log[4300];
    snprintf(log, sizeof log, "%s/logs/%s.log", o->dir, strrchr(out, '/') + 1);
    int st = sweep_run_self(args, log);
    return st ? cli_fail(1, "demo", "path analysis failed (exit %d); see %s", st, log) : 0;
}

/* What the report states, all read back from the files just written. */
typedef struct facts {
    /* [family][deep]: training error over the last tenth of the recorded
     * steps (the end of training, not the epoch's mean, which a short run's
     * first steps dominate), its number of images, and the last test error */
    double train_err[2][2], test_err[2][2];
    long tail_images[2][2];
    double id_share, grad_ratio[2], ablated_ratio[2]; /* deep nets, [family] */
    /* the ablated residual net: the gradient's norm at the block inputs of
     * each of the three stages (mean), and its largest relative spread
     * within a stage; NAN when the blocks do not fall into three stages */
    double ablated_stage[3], ablated_spread;
    double ablated_last; /* its last block: |dL/dx| / |dL/dy| */
    double k0_share, peak_share;
    int peak_k, L;
} facts;

static double last(const float *v, int n) { return n > 0 ? v[n - 1] : NAN; }

static int read_runs(const demo_opts *o, facts *x, gf_err *err)
{
    for (int f = 0; f < 2; f++)
        for (int d = 0; d < 2; d++) {
            char path[4200];
            rf_run r;
            run_path(path, sizeof path, o, f, d, ".h5");
            if (rf_open(&r, path, err))
                return -1;
            int rows;
            x->train_err[f][d] = rf_end_error(&r, &rows);
            x->tail_images[f][d] = (long)rows * o->batch;
            x->test_err[f][d] = last(r.epoch[RF_TEST_ERR], r.epoch_rows);
            rf_close(&r);
        }
    return 0;
}

/* The ablated residual net is its shortcuts alone, so within a stage the
 * gradient should reach every block's input unchanged and change only at the
 * two downsampling shortcuts and in the last block. A CIFAR-family net of L
 * blocks has three stages of n = L/3: the inputs of blocks 0..n are stage 1
 * tensors (block n's input is still stage 1's), of blocks n+1..2n stage 2's,
 * of blocks 2n+1..L-1 stage 3's. */
static void ablated_stages(const float *in, const float *out, size_t L, facts *x)
{
    size_t n = L / 3;
    x->ablated_stage[0] = x->ablated_stage[1] = x->ablated_stage[2] = NAN;
    x->ablated_spread = x->ablated_last = NAN;
    if (L < 6 || L % 3)
        return;
    double spread = 0;
    for (int s = 0; s < 3; s++) {
        size_t first = s ? (size_t)s * n + 1 : 0, last = s < 2 ? (size_t)(s + 1) * n : L - 1;
        double lo = INFINITY, hi = 0, sum = 0;
        for (size_t b = first; b <= last; b++)
            lo = fmin(lo, in[b]), hi = fmax(hi, in[b]), sum += in[b];
        x->ablated_stage[s] = sum / (double)(last - first + 1);
        spread = fmax(spread, hi > 0 ? (hi - lo) / hi : 0);
    }
    x->ablated_spread = spread;
    x->ablated_last = out[L - 1] > 0 ? in[L - 1] / out[L - 1] : NAN;
}

/* |dL/dx at block 0| / |dL/dy at the last block| from a paths file, and
 * for residual nets the mean identity share and the path-length shares. */
static int read_paths(const char *path, facts *x, int family, int ablated, gf_err *err)
{
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    float *in = NULL, *out = NULL, *id = NULL, *br = NULL, *share = NULL;
    size_t n = 0, m = 0, dims[8];
    int nd, rc = gf_h5_read_floats(f, path, "blocks/input_grad_norm", &in, &n, &nd, dims, err) ||
                 gf_h5_read_floats(f, path, "blocks/output_grad_norm", &out, &n, &nd, dims, err);
    if (!rc) {
        double r = out[n - 1] > 0 ? in[0] / out[n - 1] : NAN;
        *(ablated ? &x->ablated_ratio[family] : &x->grad_ratio[family]) = r;
    }
    if (!rc && family && ablated)
        ablated_stages(in, out, n, x);
    if (!rc && family && !ablated) {
        rc = gf_h5_read_floats(f, path, "blocks/identity_norm", &id, &n, &nd, dims, err) ||
             gf_h5_read_floats(f, path, "blocks/branch_norm", &br, &n, &nd, dims, err) ||
             gf_h5_read_floats(f, path, "paths/share_by_length", &share, &m, &nd, dims, err);
        double s = 0;
        for (size_t i = 0; !rc && i < n; i++)
            s += id[i] / (id[i] + br[i]);
        x->id_share = n ? s / (double)n : NAN;
        x->L = (int)m - 1, x->k0_share = m ? share[0] : NAN, x->peak_k = 0;
        for (size_t k = 0; !rc && k < m; k++)
            if (share[k] > share[x->peak_k])
                x->peak_k = (int)k;
        x->peak_share = m ? share[x->peak_k] : NAN;
    }
    free(in), free(out), free(id), free(br), free(share);
    H5Fclose(f);
    return rc ? -1 : 0;
}

/* -------------------------------------------------------------- report */

/* Draws kind from inputs as DIR/figures/NAME.png (for the Markdown) and .svg
 * (inlined in the HTML); appends the HTML to *html. */
static void figure(const demo_opts *o, const char *name, const char *kind,
                   const char *const *in, int n, const char *caption, char **html, char *md,
                   size_t md_size)
{
    char png[4300], svg[4300];
    gf_err err;
    snprintf(png, sizeof png, "%s/figures/%s.png", o->dir, name);
    snprintf(svg, sizeof svg, "%s/figures/%s.svg", o->dir, name);
    int ok = plot_figure(kind, in, n, png, NULL, &err) == 0 &&
             plot_figure(kind, in, n, svg, NULL, &err) == 0;
    char *s = ok ? rf_slurp(svg) : NULL, *body = s ? strstr(s, "<svg") : NULL;
    size_t used = strlen(md), have = *html ? strlen(*html) : 0;
    if (body)
        snprintf(md + used, md_size - used, "![%s](figures/%s.png)\n\n", caption, name);
    else
        snprintf(md + used, md_size - used, "(figure %s not drawn: %s)\n\n", name, err.msg);
    size_t add = (body ? strlen(body) : 0) + strlen(caption) + 600;
    char *h = realloc(*html, have + add);
    if (h) {
        if (body)
            snprintf(h + have, add, "<figure>%s<figcaption>%s</figcaption></figure>\n", body, caption);
        else
            snprintf(h + have, add, "<p class=\"note\">Figure %s not drawn: %s</p>\n", name, err.msg);
        *html = h;
    }
    free(s);
}

static void pct(char *buf, size_t n, double v) { snprintf(buf, n, "%.2f%%", 100 * v); }

/* Two standard errors of the difference of two tail errors, as binomial
 * proportions over their images: differences below it (or below one point)
 * are not counted as an effect. */
static double noise_margin(const facts *x, int f)
{
    double v = 0;
    for (int d = 0; d < 2; d++) {
        double p = x->train_err[f][d];
        v += x->tail_images[f][d] > 0 ? p * (1 - p) / (double)x->tail_images[f][d] : 1;
    }
    double m = 2 * sqrt(v);
    return m > 0.01 ? m : 0.01;
}

/* The degradation verdict, from the training errors at the end of training:
 * plain degrades when its deeper net is worse by more than the margin; the
 * residual nets "do not" when the deeper one is not worse by the margin. */
static void degradation_text(const demo_opts *o, const facts *x, char *t, size_t n)
{
    char p0[16], p1[16], r0[16], r1[16], P1[40], P2[40], R1[40], R2[40];
    pct(p0, sizeof p0, x->train_err[0][0]), pct(p1, sizeof p1, x->train_err[0][1]);
    pct(r0, sizeof r0, x->train_err[1][0]), pct(r1, sizeof r1, x->train_err[1][1]);
    snprintf(P1, sizeof P1, "plain-%d", o->depth[0]), snprintf(P2, sizeof P2, "plain-%d", o->depth[1]);
    snprintf(R1, sizeof R1, "%s-%d", o->residual, o->depth[0]);
    snprintf(R2, sizeof R2, "%s-%d", o->residual, o->depth[1]);
    double pg = x->train_err[0][1] - x->train_err[0][0], rg = x->train_err[1][1] - x->train_err[1][0];
    double pm = noise_margin(x, 0), rm = noise_margin(x, 1);
    int len = 0;
    if (pg > pm && rg <= rm)
        len = snprintf(t, n, "The degradation problem is visible. The deeper plain net trains "
                       "worse: at the end of training %s gets %s of its training batches "
                       "wrong, %s %s (%+.1f points), although it has more parameters. The "
                       "residual nets do not degrade: %s %s, %s %s (%+.1f points).",
                       P2, p1, P1, p0, 100 * pg, R2, r1, R1, r0, 100 * rg);
    else if (pg > pm && rg < pg - pm)
        len = snprintf(t, n, "The degradation problem is partly visible. The deeper plain net "
                       "trains worse: %s %s vs %s %s training error at the end of "
                       "training (%+.1f points). The residual nets degrade less, but at this "
                       "budget they still lose accuracy with depth: %s %s vs %s %s "
                       "(%+.1f points). A longer schedule (--epochs, --subset) is needed to see "
                       "whether the deeper residual net catches up.", P2, p1, P1, p0, 100 * pg,
                       R2, r1, R1, r0, 100 * rg);
    else if (pg > pm)
        len = snprintf(t, n, "Both families lose accuracy with depth at this budget: %s %s "
                       "vs %s %s (%+.1f points), %s %s vs %s %s (%+.1f "
                       "points) training error at the end of training. The residual nets have "
                       "not pulled ahead; a longer schedule (--epochs, --subset) is needed to "
                       "separate the two.", P2, p1, P1, p0, 100 * pg, R2, r1, R1, r0, 100 * rg);
    else
        len = snprintf(t, n, "The degradation problem is not visible at this budget: %s's "
                       "training error at the end of training (%s) is not above %s's (%s) "
                       "by more than the noise. This run does not show it; train longer "
                       "(--epochs, --subset) to look for it.", P2, p1, P1, p0);
    if (len > 0 && (size_t)len < n)
        snprintf(t + len, n - (size_t)len, " (Training error here is the mean over the last "
                 "tenth of the steps; differences within %.1f points for the plain pair and %.1f "
                 "for the residual pair, two standard errors, count as none.)", 100 * pm,
                 100 * rm);
}

static void identity_text(const demo_opts *o, const facts *x, char *t, size_t n)
{
    char R[40], P[40];
    snprintf(R, sizeof R, "%s-%d", o->residual, o->depth[1]);
    snprintf(P, sizeof P, "plain-%d", o->depth[1]);
    snprintf(t, n, "After training, a batch's gradient reaches the first block of %s at "
             "%.3g times its size at the last block, and of %s at %.3g times. With every "
             "residual branch scaled to zero (the ablation) the gradient still reaches %s's "
             "first block (%.3g times), through the shortcuts alone, while %s's vanishes "
             "(%.3g). On average %.0f%% of the gradient norm entering %s's blocks came "
             "through the identity shortcut. Split by path length (L = %d blocks), the largest "
             "share of the gradient at the first block, %.0f%%, comes from paths through %d "
             "branches; paths through no branch carry %.1f%%.",
             R, x->grad_ratio[1], P, x->grad_ratio[0], R, x->ablated_ratio[1], P,
             x->ablated_ratio[0], 100 * x->id_share, R, x->L, 100 * x->peak_share, x->peak_k,
             100 * x->k0_share);
    size_t len = strlen(t);
    const double *g = x->ablated_stage;
    if (isnan(g[0]) || len >= n)
        return;
    int unchanged = x->ablated_spread <= 1e-3;
    if (unchanged)
        len += (size_t)snprintf(t + len, n - len, " In the ablated %s the gradient is the "
                                "same at the input of every block of a stage (%.3g, %.3g and "
                                "%.3g in its three stages, %s %.1g): the shortcuts pass it on "
                                "unchanged.", R, g[0], g[1], g[2],
                                x->ablated_spread > 0 ? "to within" : "bit for bit, spread",
                                x->ablated_spread);
    else
        len += (size_t)snprintf(t + len, n - len, " In the ablated %s the gradient at the "
                                "block inputs varies within a stage by up to %.2g of its "
                                "largest value (stage means %.3g, %.3g and %.3g).", R,
                                x->ablated_spread, g[0], g[1], g[2]);
    if (len < n)
        len += (size_t)snprintf(t + len, n - len, " Between stages, the downsampling "
                                "shortcuts (option A: the input's channels in the middle, a "
                                "quarter of zero channels on each side) drop the padded "
                                "channels' gradient: the one into stage 3 passes back %.3g of "
                                "the gradient's norm, the one into stage 2 %.3g. The last "
                                "block passes %.3g of the norm at its output to its input%s.",
                                g[1] / g[2], g[0] / g[1], x->ablated_last,
                                strcmp(o->residual, "resnet") || x->ablated_last > 0.99
                                    ? ""
                                    : " (its ReLU after the addition passes no gradient "
                                      "where the activation is 0)");
    /* Why the padded channels can carry most of it: a pre-activation net ends in
     * BN + ReLU. With the branches off, its padded channels are 0 for every
     * example, and BN's input gradient is gamma / sqrt(var + eps) times the
     * centred output gradient (Ioffe & Szegedy 2015), so var = 0 gives
     * gamma / sqrt(eps), eps = 1e-5 as in PyTorch (models.c); a trained
     * beta > 0 lets the ReLU pass it. */
    if (unchanged && x->ablated_ratio[1] < 0.1 && len < n &&
        !strcmp(o->residual, "preact-resnet"))
        snprintf(t + len, n - len, " Those padded channels reach %s's final BN as "
                 "constants (0 for every example), and BN multiplies a constant channel's "
                 "gradient by gamma / sqrt(eps) = %.0f gamma: that, not the shortcuts, is why "
                 "its ratio above is far below 1.", R, 1 / sqrt(1e-5));
}

static rf_table *error_table(const demo_opts *o, const facts *x)
{
    static const char *h[] = {"model", "depth", "training error, last tenth of the steps",
                              "test error, end"};
    rf_table *t = rf_table_new(4, h);
    for (int f = 0; f < 2; f++)
        for (int d = 0; d < 2; d++) {
            char m[32];
            snprintf(m, sizeof m, "%s-%d", fam(o, f), o->depth[d]);
            rf_table_str(t, m), rf_table_int(t, o->depth[d]);
            rf_table_pct(t, x->train_err[f][d]), rf_table_pct(t, x->test_err[f][d]);
        }
    return t;
}

static rf_table *gradient_table(const demo_opts *o, const facts *x)
{
    static const char *h[] = {"model", "gradient at block 0 / at the last block",
                              "same, branches scaled to 0"};
    rf_table *t = rf_table_new(3, h);
    for (int f = 0; f < 2; f++) {
        char m[32];
        snprintf(m, sizeof m, "%s-%d", fam(o, f), o->depth[1]);
        rf_table_str(t, m), rf_table_num(t, x->grad_ratio[f]), rf_table_num(t, x->ablated_ratio[f]);
    }
    return t;
}

/* Figures of the two analysis sections; html receives inline SVG. */
static void draw_figures(const demo_opts *o, char **html_train, char *md_train,
                         char **html_id, char *md_id, size_t size)
{
    char runs[4][4200], pi[4300], pt[4300];
    const char *all[4], *deep[2] = {runs[1], runs[3]}, *paths[2] = {pi, pt};
    for (int i = 0; i < 4; i++)
        run_path(runs[i], sizeof runs[i], o, i / 2, i % 2, ".h5"), all[i] = runs[i];
    snprintf(pi, sizeof pi, "%s/paths-%s-%d-init.h5", o->dir, o->residual, o->depth[1]);
    snprintf(pt, sizeof pt, "%s/paths-%s-%d.h5", o->dir, o->residual, o->depth[1]);
    figure(o, "curves", "curves", all, 4, "Training error (solid) and test error (dashed) "
           "against iterations, plain nets left, residual nets right (He et al. 2015, Fig. 6).",
           html_train, md_train, size);
    figure(o, "depth", "depth", all, 4, "Final training and test error against depth.",
           html_train, md_train, size);
    figure(o, "split", "split", deep + 1, 1, "Per block of the deep residual net: the "
           "identity (shortcut) and branch parts of the input gradient.", html_id, md_id, size);
    figure(o, "profile", "profile", deep, 2, "Gradient norm per layer, deep plain net vs its "
           "residual twin.", html_id, md_id, size);
    figure(o, "paths", "paths", paths, 2, "Gradient at the first block split by path length "
           "(Veit et al. 2016, Fig. 6), at initialisation and after training.", html_id, md_id,
           size);
}

/* Prepends "<p>text</p>" to *html (the section's HTML replaces its paragraph). */
static void prepend_paragraph(char **html, const char *text)
{
    size_t n = strlen(text) + (*html ? strlen(*html) : 0) + 16;
    char *h = malloc(n);
    if (!h)
        return;
    snprintf(h, n, "<p>%s</p>\n%s", text, *html ? *html : "");
    free(*html);
    *html = h;
}

static int write_report(const demo_opts *o, const facts *x, double minutes, gf_err *err)
{
    char deg[2048], ident[4096], figdir[4200], how[1536];
    char md_train[1024] = "", md_id[1024] = "";
    char *html_train = NULL, *html_id = NULL;
    degradation_text(o, x, deg, sizeof deg);
    identity_text(o, x, ident, sizeof ident);
    snprintf(figdir, sizeof figdir, "%s/figures", o->dir);
    if (rf_mkdirs(figdir, err))
        return -1;
    draw_figures(o, &html_train, md_train, &html_id, md_id, sizeof md_train);
    prepend_paragraph(&html_train, deg);
    prepend_paragraph(&html_id, ident);
    snprintf(how, sizeof how, "plain-%d, plain-%d, %s-%d and %s-%d (%s, option-A "
             "shortcuts), He et al.'s recipe (SGD momentum 0.9, weight decay 1e-4, lr 0.1 after "
             "%ld warm-up steps at 0.01, lr/10 at 50%% and 75%%, crop + flip), batch %d, %d "
             "epoch(s) on the first %d training examples of %s, seed %ld, %d thread(s); %.1f "
             "minutes in all. Every number above was measured in this run and read back from "
             "the files in %s (runs/*.h5, paths-*.h5). Regenerate with: gradflow demo -o %s "
             "--residual %s.", o->depth[0], o->depth[1], o->residual, o->depth[0], o->residual,
             o->depth[1],
             strcmp(o->residual, "resnet") ? "pre-activation blocks, He et al. 2016"
                                           : "post-activation blocks, He et al. 2015",
             demo_warmup(o), o->batch, o->epochs, o->subset, o->data, o->seed, o->threads,
             minutes, o->dir, o->dir, o->residual);
    rf_section sec[4] = {0};
    snprintf(sec[0].title, sizeof sec[0].title, "What this run shows");
    snprintf(sec[0].text, sizeof sec[0].text, "%s\n\n%s", deg, ident);
    snprintf(sec[1].title, sizeof sec[1].title, "Training error against depth");
    snprintf(sec[1].text, sizeof sec[1].text, "%s\n\n%s", deg, md_train);
    sec[1].html = html_train, sec[1].shown = sec[1].full = error_table(o, x);
    snprintf(sec[2].title, sizeof sec[2].title, "The identity term");
    snprintf(sec[2].text, sizeof sec[2].text, "%s\n\n%s", ident, md_id);
    sec[2].html = html_id, sec[2].shown = sec[2].full = gradient_table(o, x);
    snprintf(sec[3].title, sizeof sec[3].title, "How this was measured");
    snprintf(sec[3].text, sizeof sec[3].text, "%s", how);
    rf_doc doc = {"gradflow demo: why residual networks train", sec, 4};
    char path[4300];
    snprintf(path, sizeof path, "%s/index.md", o->dir);
    int rc = rf_write_file(path, rf_doc_md, &doc, err);
    snprintf(path, sizeof path, "%s/index.html", o->dir);
    rc = rc || rf_write_file(path, rf_doc_html, &doc, err);
    rf_table_free(sec[1].shown), rf_table_free(sec[2].shown);
    free(html_train), free(html_id);
    return rc;
}

static double now_minutes(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return ((double)t.tv_sec + 1e-9 * (double)t.tv_nsec) / 60.0;
}

int cmd_demo(int argc, char **argv)
{
    demo_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    double t0 = now_minutes();
    sweep_run runs[4] = {0};
    printf("gradflow demo: plain and %s nets at depths %d and %d on %s (%d examples, %d "
           "epochs) into %s/\n", o.residual, o.depth[0], o.depth[1], o.data, o.subset, o.epochs,
           o.dir);
    fflush(stdout);
    if ((rc = train_runs(&o, runs)) != 0)
        return rc;
    char out[4][4300];
    printf("path analysis of the deep pair ...\n");
    fflush(stdout);
    if ((rc = run_paths(&o, 1, 0, 0, out[0], sizeof out[0])) ||
        (rc = run_paths(&o, 0, 0, 0, out[1], sizeof out[1])) ||
        (rc = run_paths(&o, 1, 0, 1, out[2], sizeof out[2])) ||
        (rc = run_paths(&o, 0, 0, 1, out[3], sizeof out[3])) ||
        (rc = run_paths(&o, 1, 1, 0, out[0], sizeof out[0])))
        return rc;
    facts x = {0};
    gf_err err;
    char trained[2][4300];
    for (int f = 0; f < 2; f++)
        snprintf(trained[f], sizeof trained[f], "%s/paths-%s-%d.h5", o.dir, fam(&o, f),
                 o.depth[1]);
    if (read_runs(&o, &x, &err) || read_paths(trained[1], &x, 1, 0, &err) ||
        read_paths(trained[0], &x, 0, 0, &err) || read_paths(out[2], &x, 1, 1, &err) ||
        read_paths(out[3], &x, 0, 1, &err) || write_report(&o, &x, now_minutes() - t0, &err))
        return cli_fail(1, "demo", "%s", err.msg);
    char deg[2048], ident[4096];
    degradation_text(&o, &x, deg, sizeof deg);
    identity_text(&o, &x, ident, sizeof ident);
    printf("\nreport: %s/index.html (and index.md, figures/)\n\n%s\n\n%s\n", o.dir, deg, ident);
    return 0;
}
