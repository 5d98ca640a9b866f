/* report.c — `gradflow report RUN.h5`: the gradient-norm report of one run
 * as Markdown, one self-contained HTML page and CSV tables. Every number is
 * read from the run file (docs/run-file.md); nothing is re-measured.
 *
 * The quantities follow He et al.: the first-to-last-layer gradient ratio
 * shows whether the signal reaches the stem (vanishing in deep plain nets,
 * He et al. 2015), and the identity share of each block's input gradient is
 * the "1 +" term of dL/dx_l = dL/dx_L (1 + d/dx_l sum F) (He et al. 2016,
 * Eq. 5): the part that reaches the block through no weight at all. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "../plots/plot.h"
#include "../src/cli/cli.h"
#include "runfile.h"

/* Flag thresholds on ratio = grad_norm(first conv) / grad_norm(last layer):
 * three orders of magnitude either way means the stem learns 1000x slower
 * (or faster) than the head, beyond what learning-rate tuning can absorb. */
#define VANISH_RATIO 1e-3
#define EXPLODE_RATIO 1e3
#define MAX_STEPS 32   /* --steps entries */
#define MD_ROWS 25     /* long series are subsampled to this many rows in md/html */

static const char help[] =
    "usage: gradflow report RUN.h5 [-o DIR] [--steps S1,S2,...]\n"
    "Gradient-norm report of a run file (gradflow train --record): per-layer gradient and\n"
    "activation statistics, first/last-layer gradient ratio over time, update/weight ratios,\n"
    "dead ReLUs, identity vs branch share per block, vanishing/exploding/non-finite flags,\n"
    "training and test curves. Works on finished, still-training and killed runs (only the\n"
    "rows flushed to disk are used; the report says which kind of run it read).\n"
    "  -o, --out DIR     output directory (default: RUN's basename without .h5 + \"-report\",\n"
    "                    in the current directory); created if missing\n"
    "  --steps S1,S2,..  also tabulate per-layer statistics at these steps (the nearest\n"
    "                    recorded rows); the first and last recorded rows always appear\n"
    "  -h, --help        this text\n"
    "Writes DIR/report.md, DIR/report.html and DIR/{layers,grad_ratio,params,dead_relu,\n"
    "blocks,flags,train_curve,epochs}.csv, each whole (temporary name, then rename).\n"
    "Flags: vanishing when ratio < 1e-3, exploding when ratio > 1e3 (ratio = grad norm at\n"
    "the first conv, or first linear for MLPs, over the grad norm at the last layer),\n"
    "non-finite when loss, a layer's grad/activation or a parameter norm is NaN or Inf;\n"
    "each with the first step where it holds. Exit 0 ok, 1 unreadable run or write\n"
    "failure, 2 usage.\n";

/* Per-step 2-D series the report uses, rows × width (runfile.h). */
enum { L_GRAD, L_RMS, L_MEAN, L_STD, L_MAX, L_ZERO, P_W, P_G, P_U, P_R, B_ID, B_BR, B_COS,
       N_SER };
static const struct {
    const char *dset;
    char axis; /* 'l' layers, 'p' params, 'b' blocks */
} series[N_SER] = {
    {"layers/grad_norm", 'l'}, {"layers/act_rms", 'l'}, {"layers/act_mean", 'l'},
    {"layers/act_std", 'l'}, {"layers/act_max_abs", 'l'}, {"layers/act_zero_frac", 'l'},
    {"params/weight_norm", 'p'}, {"params/grad_norm", 'p'}, {"params/update_norm", 'p'},
    {"params/update_ratio", 'p'}, {"blocks/identity_norm", 'b'}, {"blocks/branch_norm", 'b'},
    {"blocks/cosine", 'b'},
};

typedef struct report {
    rf_run r;
    float *s[N_SER];
    int w[N_SER];
    int first, last;            /* layers of the gradient ratio */
    int sel[MAX_STEPS + 2], n_sel;
    long asked[MAX_STEPS + 2];  /* requested step of sel[i], -1 for init / end */
} report;

#define AT(rep, k, row, col) ((double)(rep)->s[k][(size_t)(row) * (rep)->w[k] + (col)])

static double grad_ratio(const report *p, int row)
{
    return AT(p, L_GRAD, row, p->first) / AT(p, L_GRAD, row, p->last);
}

static double identity_share(const report *p, int row, int b)
{
    double id = AT(p, B_ID, row, b), br = AT(p, B_BR, row, b);
    return id / (id + br); /* NaN for plain blocks: there is no identity part */
}

/* Figures: the plots engineer fills this in. Return 0 and leave html NULL
 * for none; otherwise set *html to malloc'ed markup of <figure> elements
 * (inline SVG or <img src="data:..."> so report.html stays one file) and
 * write one line per figure into md. The Figures section shows them. */
/* Appends text to a growing malloc'ed string. */
static int append(char **s, size_t *len, const char *text)
{
    size_t n = strlen(text);
    char *t = realloc(*s, *len + n + 1);
    if (!t)
        return -1;
    memcpy(t + *len, text, n + 1);
    *s = t, *len += n;
    return 0;
}

/* The run's figures, drawn by gnuplot into DIR/figures/KIND.svg: embedded
 * inline in the HTML (one self-contained file), linked from the Markdown. A
 * figure that cannot be drawn (no gnuplot) is named with the reason. */
static int report_figures(const report *p, const char *dir, char **html, char *md, size_t size)
{
    static const struct { const char *kind, *caption; } figs[] = {
        {"curves", "Training error (solid, running mean over an epoch) and test error (dashed)."},
        {"profile", "Gradient norm of every conv/linear layer's output, at init and at the end."},
        {"heatmap", "log10 gradient norm over layer and step."},
        {"split", "Per block: the identity (shortcut) and branch parts of the input gradient."},
        {"responses", "Std of each 3x3 layer's response after BN (He et al. 2015, Fig. 7)."},
        {"updates", "Update/weight ratio per weight tensor over time."},
    };
    char figdir[4200], out[4300], line[1024];
    size_t len = 0, used = 0;
    snprintf(figdir, sizeof figdir, "%s/figures", dir);
    mkdir(figdir, 0755);
    *html = NULL, md[0] = '\0';
    const char *in[1] = {p->r.path};
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        gf_err err;
        snprintf(out, sizeof out, "%s/%s.svg", figdir, figs[i].kind);
        char *svg = plot_figure(figs[i].kind, in, 1, out, NULL, &err) == 0 ? rf_slurp(out) : NULL;
        if (svg) {
            const char *body = strstr(svg, "<svg");
            if (append(html, &len, "<figure>\n") || append(html, &len, body ? body : svg))
                return free(svg), -1;
            snprintf(line, sizeof line, "<figcaption>%s</figcaption></figure>\n", figs[i].caption);
            snprintf(md + used, size - used, "![%s](figures/%s.svg)\n%s\n\n", figs[i].kind,
                     figs[i].kind, figs[i].caption);
        } else {
            snprintf(line, sizeof line, "<p class=\"note\">Figure %s not drawn: %s</p>\n",
                     figs[i].kind, err.msg);
            snprintf(md + used, size - used, "Figure %s not drawn: %s\n\n", figs[i].kind,
                     err.msg);
        }
        free(svg);
        used += strlen(md + used);
        if (append(html, &len, line))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- tables */

/* Per-layer statistics at the selected rows; CSV adds the row's label and step. */
static rf_table *layer_table(const report *p, int from, int to, int csv)
{
    static const char *h[] = {"at", "step", "index", "layer", "kind", "block", "grad_norm",
                              "act_rms", "act_mean", "act_std", "act_max_abs", "act_zero_frac"};
    rf_table *t = rf_table_new(csv ? 12 : 10, csv ? h : h + 2);
    for (int k = from; k < to; k++) {
        int row = p->sel[k];
        for (int i = 0; i < p->r.n_layers; i++) {
            if (csv) {
                rf_table_str(t, k == 0 ? "init" : k == p->n_sel - 1 ? "end" : "step");
                rf_table_int(t, (long)p->r.step[row]);
            }
            rf_table_int(t, i);
            rf_table_str(t, p->r.layer_name[i]);
            rf_table_str(t, p->r.layer_kind[i]);
            int b = p->r.layer_block[i];
            rf_table_str(t, b >= 0 && b < p->r.n_blocks ? p->r.block_name[b] : "");
            for (int s = L_GRAD; s <= L_ZERO; s++)
                rf_table_num(t, AT(p, s, row, i));
        }
    }
    return t;
}

/* Every stride-th row, and always the last (stride 1 for CSV). */
static int keep_row(const report *p, int row, int stride)
{
    return row % stride == 0 || row == p->r.rows - 1;
}

static rf_table *ratio_table(const report *p, int stride)
{
    static const char *h[] = {"step", "first_layer", "last_layer", "first_grad_norm",
                              "last_grad_norm", "ratio"};
    rf_table *t = rf_table_new(6, h);
    for (int i = 0; i < p->r.rows; i++)
        if (keep_row(p, i, stride)) {
            rf_table_int(t, (long)p->r.step[i]);
            rf_table_str(t, p->r.layer_name[p->first]);
            rf_table_str(t, p->r.layer_name[p->last]);
            rf_table_num(t, AT(p, L_GRAD, i, p->first));
            rf_table_num(t, AT(p, L_GRAD, i, p->last));
            rf_table_num(t, grad_ratio(p, i));
        }
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min, median, max, mean of column col of series k over the finite rows. */
static void column_summary(const report *p, int k, int col, double out[4], double *tmp)
{
    int n = 0;
    double sum = 0;
    for (int i = 0; i < p->r.rows; i++)
        if (isfinite(AT(p, k, i, col)))
            tmp[n++] = AT(p, k, i, col), sum += AT(p, k, i, col);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    out[0] = n ? tmp[0] : NAN, out[2] = n ? tmp[n - 1] : NAN, out[3] = n ? sum / n : NAN;
    out[1] = !n ? NAN : n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

static rf_table *param_table(const report *p, double *tmp)
{
    static const char *h[] = {"param", "weight_norm", "grad_norm", "update_norm",
                              "update_ratio", "ratio_min", "ratio_median", "ratio_max",
                              "ratio_mean"};
    rf_table *t = rf_table_new(9, h);
    int end = p->r.rows - 1;
    for (int j = 0; j < p->r.n_params; j++) {
        double sum[4];
        column_summary(p, P_R, j, sum, tmp);
        rf_table_str(t, p->r.param_name[j]);
        for (int s = P_W; s <= P_R; s++)
            rf_table_num(t, AT(p, s, end, j));
        for (int q = 0; q < 4; q++)
            rf_table_num(t, sum[q]);
    }
    return t;
}

static rf_table *relu_table(const report *p, double *tmp)
{
    static const char *h[] = {"layer", "block", "zero_frac_init", "zero_frac_end",
                              "zero_frac_min", "zero_frac_max", "zero_frac_mean"};
    rf_table *t = rf_table_new(7, h);
    for (int i = 0; i < p->r.n_layers; i++) {
        if (strcmp(p->r.layer_kind[i], "relu") != 0)
            continue;
        double sum[4];
        int b = p->r.layer_block[i];
        column_summary(p, L_ZERO, i, sum, tmp);
        rf_table_str(t, p->r.layer_name[i]);
        rf_table_str(t, b >= 0 && b < p->r.n_blocks ? p->r.block_name[b] : "");
        rf_table_num(t, AT(p, L_ZERO, 0, i));
        rf_table_num(t, AT(p, L_ZERO, p->r.rows - 1, i));
        rf_table_num(t, sum[0]), rf_table_num(t, sum[2]), rf_table_num(t, sum[3]);
    }
    return t;
}

/* Identity vs branch split per block at the first and last recorded rows. */
static rf_table *block_table(const report *p)
{
    static const char *h[] = {"block", "kind", "init_identity_norm", "init_branch_norm",
                              "init_identity_share", "init_cosine", "end_identity_norm",
                              "end_branch_norm", "end_identity_share", "end_cosine"};
    rf_table *t = rf_table_new(10, h);
    for (int b = 0; b < p->r.n_blocks; b++) {
        rf_table_str(t, p->r.block_name[b]);
        rf_table_str(t, p->r.block_kind[b]);
        for (int k = 0; k < 2; k++) {
            int row = k ? p->r.rows - 1 : 0;
            rf_table_num(t, AT(p, B_ID, row, b));
            rf_table_num(t, AT(p, B_BR, row, b));
            rf_table_num(t, identity_share(p, row, b));
            rf_table_num(t, AT(p, B_COS, row, b));
        }
    }
    return t;
}

/* First row where any checked value is NaN/Inf; names it in where. NaN in
 * blocks/identity_norm and cosine is a documented "absent", so unchecked. */
static int first_nonfinite(const report *p, char *where, size_t size)
{
    static const int k[] = {L_GRAD, L_RMS, P_W, P_G, P_U};
    for (int i = 0; i < p->r.rows; i++) {
        if (!isfinite(p->r.loss[i]))
            return snprintf(where, size, "train/loss"), i;
        for (int q = 0; q < 5; q++)
            for (int c = 0; c < p->w[k[q]]; c++)
                if (!isfinite(AT(p, k[q], i, c)))
                    return snprintf(where, size, "%s [%s]", series[k[q]].dset,
                                    series[k[q]].axis == 'l' ? p->r.layer_name[c]
                                                             : p->r.param_name[c]),
                           i;
    }
    return -1;
}

/* The three flags with the step each first holds; line gets the headline
 * ("none", or "exploding from step 6, ..."). */
static rf_table *flag_table(const report *p, char *line, size_t size)
{
    static const char *h[] = {"flag", "raised", "first_step", "value", "threshold", "where"};
    static const char *name[] = {"vanishing", "exploding", "non-finite"};
    const double thr[] = {VANISH_RATIO, EXPLODE_RATIO, NAN};
    rf_table *t = rf_table_new(6, h);
    int row[3] = {-1, -1, -1};
    char where[3][160] = {"", "", ""};
    for (int i = p->r.rows - 1; i >= 0; i--) {
        double q = grad_ratio(p, i);
        row[0] = q < VANISH_RATIO ? i : row[0];
        row[1] = q > EXPLODE_RATIO ? i : row[1];
    }
    snprintf(where[0], sizeof where[0], "%s / %s", p->r.layer_name[p->first],
             p->r.layer_name[p->last]);
    snprintf(where[1], sizeof where[1], "%s", where[0]);
    row[2] = first_nonfinite(p, where[2], sizeof where[2]);
    size_t len = 0;
    snprintf(line, size, "none");
    for (int f = 0; f < 3; f++) {
        rf_table_str(t, name[f]);
        rf_table_str(t, row[f] >= 0 ? "yes" : "no");
        rf_table_num(t, row[f] >= 0 ? p->r.step[row[f]] : NAN);
        rf_table_num(t, row[f] < 0 ? NAN : f < 2 ? grad_ratio(p, row[f]) : NAN);
        rf_table_num(t, thr[f]);
        rf_table_str(t, row[f] >= 0 || f < 2 ? where[f] : "");
        if (row[f] >= 0 && len < size) /* overwrites "none" */
            len += (size_t)snprintf(line + len, size - len, "%s%s from step %.0f (%s)",
                                    len ? "; " : "", name[f], p->r.step[row[f]], where[f]);
    }
    return t;
}

static rf_table *curve_table(const report *p, int stride)
{
    static const char *h[] = {"step", "time_s", "loss", "error", "lr"};
    rf_table *t = rf_table_new(5, h);
    for (int i = 0; i < p->r.rows; i++)
        if (keep_row(p, i, stride)) {
            rf_table_int(t, (long)p->r.step[i]);
            rf_table_num(t, p->r.time[i]);
            rf_table_num(t, p->r.loss[i]);
            rf_table_pct(t, p->r.error[i]);
            rf_table_num(t, p->r.lr[i]);
        }
    return t;
}

static rf_table *epoch_table(const report *p)
{
    static const char *h[] = {"epoch", "step", "train_loss", "train_error", "test_loss",
                              "test_error", "val_loss", "val_error"};
    rf_table *t = rf_table_new(RF_N_EPOCH_SERIES, h);
    for (int i = 0; i < p->r.epoch_rows; i++)
        for (int s = 0; s < RF_N_EPOCH_SERIES; s++) {
            double v = p->r.epoch[s][i];
            if (s == RF_EPOCH || s == RF_EP_STEP)
                rf_table_int(t, (long)v);
            else if (s == RF_TRAIN_ERR || s == RF_TEST_ERR || s == RF_VAL_ERR)
                rf_table_pct(t, v);
            else
                rf_table_num(t, v);
        }
    return t;
}

/* ------------------------------------------------------------ the document */

enum { MAX_SECTIONS = MAX_STEPS + 12 };

static rf_section *add_section(rf_section *sec, int *n, const char *title, const char *csv,
                               rf_table *shown, rf_table *full)
{
    rf_section *s = &sec[(*n)++];
    snprintf(s->title, sizeof s->title, "%s", title);
    s->text[0] = '\0';
    s->id = s->html = NULL, s->csv = csv, s->shown = shown, s->full = full ? full : shown;
    return s;
}

/* The summary paragraph, one fact a line: Markdown and HTML join the lines,
 * the command prints them as its headlines. */
static void summary_text(const report *p, const char *flags, char *buf, size_t size)
{
    const rf_run *r = &p->r;
    int e = r->epoch_rows - 1, end = r->rows - 1, nb = 0;
    double share = 0;
    for (int b = 0; b < r->n_blocks; b++)
        if (isfinite(identity_share(p, end, b)))
            share += identity_share(p, end, b), nb++;
    int len = snprintf(buf, size,
                       "%s on %s: %s.\n%d rows (steps %.0f..%.0f, every %ld), %d epoch "
                       "evaluation(s); started %s.\nFirst/last-layer gradient ratio (%s / %s): "
                       "%.4g at step %.0f, %.4g at step %.0f.",
                       r->model, r->data, r->status, r->rows, r->step[0], r->step[end],
                       r->record_every, r->epoch_rows, r->start_time, r->layer_name[p->first],
                       r->layer_name[p->last], grad_ratio(p, 0), r->step[0],
                       grad_ratio(p, end), r->step[end]);
    if (nb && len > 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, "\nMean identity share over the %d "
                        "residual blocks at the end: %.3f.", nb, share / nb);
    if (e >= 0 && len > 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, "\nEpoch %.0f: train error %.2f%%, "
                        "test error %.2f%%.", r->epoch[RF_EPOCH][e],
                        100 * r->epoch[RF_TRAIN_ERR][e], 100 * r->epoch[RF_TEST_ERR][e]);
    if (len > 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, "\nFlags: %s.", flags);
}

/* Prints text with every line indented. */
static void print_indented(const char *text)
{
    for (const char *l = text; *l;) {
        size_t n = strcspn(l, "\n");
        printf("  %.*s\n", (int)n, l);
        l += n + (l[n] == '\n');
    }
}

static int build_sections(const report *p, rf_section *sec, double *tmp)
{
    int n = 0, stride = p->r.rows > MD_ROWS ? (p->r.rows + MD_ROWS - 1) / MD_ROWS : 1;
    char flags[600];
    rf_section *run = add_section(sec, &n, "Run", NULL, NULL, NULL);
    rf_section *s = add_section(sec, &n, "Flags", "flags.csv",
                                flag_table(p, flags, sizeof flags), NULL);
    summary_text(p, flags, run->text, sizeof run->text);
    snprintf(s->text, sizeof s->text, "Raised: %s. Vanishing: ratio < %g; exploding: ratio > "
             "%g (ratio = first/last-layer gradient norm); non-finite: NaN or Inf in the loss, "
             "a layer's gradient or RMS, or a parameter norm.", flags, VANISH_RATIO,
             EXPLODE_RATIO);
    for (int k = 0; k < p->n_sel; k++) {
        char t[160];
        int row = p->sel[k];
        if (p->asked[k] >= 0)
            snprintf(t, sizeof t, "Layers at step %.0f (asked %ld)", p->r.step[row], p->asked[k]);
        else
            snprintf(t, sizeof t, "Layers at %s (step %.0f)", k ? "the end" : "init",
                     p->r.step[row]);
        add_section(sec, &n, t, k ? NULL : "layers.csv", layer_table(p, k, k + 1, 0),
                    k ? NULL : layer_table(p, 0, p->n_sel, 1));
    }
    add_section(sec, &n, "First/last-layer gradient ratio", "grad_ratio.csv",
                ratio_table(p, stride), stride > 1 ? ratio_table(p, 1) : NULL);
    add_section(sec, &n, "Update/weight ratio per parameter (last row; summary over time)",
                "params.csv", param_table(p, tmp), NULL);
    add_section(sec, &n, "Dead ReLUs (fraction of exact zeros)", "dead_relu.csv",
                relu_table(p, tmp), NULL);
    s = add_section(sec, &n, "Identity vs branch per block", "blocks.csv", block_table(p), NULL);
    snprintf(s->text, sizeof s->text, "identity_share = identity_norm / (identity_norm + "
             "branch_norm); cosine between the two parts. Plain blocks have no identity part "
             "(-). init = step %.0f, end = step %.0f.", p->r.step[0], p->r.step[p->r.rows - 1]);
    add_section(sec, &n, "Training curve", "train_curve.csv", curve_table(p, stride),
                stride > 1 ? curve_table(p, 1) : NULL);
    add_section(sec, &n, "Epochs (evaluation)", "epochs.csv", epoch_table(p), NULL);
    for (int i = 0; i < n; i++) /* the subsampled series */
        if (stride > 1 && (!strcmp(sec[i].csv ? sec[i].csv : "", "grad_ratio.csv") ||
                           !strcmp(sec[i].csv ? sec[i].csv : "", "train_curve.csv")))
            snprintf(sec[i].text, sizeof sec[i].text, "One row in %d (and the last) shown; "
                     "%s has all %d.", stride, sec[i].csv, p->r.rows);
    return n;
}

static int write_report(const report *p, const char *dir, gf_err *err)
{
    /* on the heap: MAX_SECTIONS sections of 8 KiB text each */
    rf_section *sec = calloc(MAX_SECTIONS, sizeof *sec);
    char title[160], path[1200], *fig = NULL;
    double *tmp = malloc(((size_t)p->r.rows + 1) * sizeof *tmp);
    if (!tmp || !sec) {
        free(tmp), free(sec);
        return gf_err_set(err, "out of memory");
    }
    int n = build_sections(p, sec, tmp), rc = rf_mkdirs(dir, err);
    rf_section *f = add_section(sec, &n, "Figures", NULL, NULL, NULL);
    rc = rc || report_figures(p, dir, &fig, f->text, sizeof f->text);
    f->id = "figures", f->html = fig ? fig : "<p class=\"note\">No figures yet.</p>\n";
    if (!f->text[0])
        snprintf(f->text, sizeof f->text, "No figures yet.");
    for (int i = 0; !rc && i < n; i++)
        if (sec[i].csv) {
            snprintf(path, sizeof path, "%s/%s", dir, sec[i].csv);
            rc = rf_write_file(path, rf_table_csv, sec[i].full, err);
        }
    snprintf(title, sizeof title, "Gradient-norm report: %s", p->r.model);
    rf_doc doc = {title, sec, n};
    for (int k = 0; !rc && k < 2; k++) {
        snprintf(path, sizeof path, "%s/report.%s", dir, k ? "html" : "md");
        rc = rf_write_file(path, k ? rf_doc_html : rf_doc_md, &doc, err);
    }
    if (!rc) {
        printf("report of %s written to %s/ (report.md, report.html, CSV tables)\n",
               p->r.path, dir);
        print_indented(sec[0].text);
    }
    for (int i = 0; i < n; i++) {
        if (sec[i].full != sec[i].shown)
            rf_table_free(sec[i].full);
        rf_table_free(sec[i].shown);
    }
    free(fig), free(tmp), free(sec);
    return rc;
}

/* ------------------------------------------------------------- the command */

static int load(report *p, const char *path, const long *steps, int n_steps, gf_err *err)
{
    if (rf_open(&p->r, path, err))
        return -1;
    if (p->r.rows < 1)
        return gf_err_set(err, "%s: no per-step rows on disk yet (status/rows_flushed %ld)",
                          path, p->r.rows_flushed);
    for (int k = 0; k < N_SER; k++) {
        char axis = series[k].axis;
        p->w[k] = axis == 'l' ? p->r.n_layers : axis == 'p' ? p->r.n_params : p->r.n_blocks;
        if (!(p->s[k] = rf_series(&p->r, series[k].dset, p->w[k], err)))
            return -1;
    }
    p->first = rf_first_layer(&p->r);
    p->last = p->r.n_layers - 1;
    /* init, the asked steps' nearest rows in step order (no repeats), end */
    p->sel[p->n_sel] = 0, p->asked[p->n_sel++] = -1;
    for (int k = 0; k < n_steps; k++) {
        int row = rf_nearest_row(&p->r, (double)steps[k]), j = p->n_sel;
        while (j > 1 && p->sel[j - 1] > row)
            j--;
        if (row == 0 || row == p->r.rows - 1 || p->sel[j - 1] == row)
            continue;
        memmove(p->sel + j + 1, p->sel + j, (size_t)(p->n_sel - j) * sizeof *p->sel);
        memmove(p->asked + j + 1, p->asked + j, (size_t)(p->n_sel - j) * sizeof *p->asked);
        p->sel[j] = row, p->asked[j] = steps[k], p->n_sel++;
    }
    if (p->r.rows > 1)
        p->sel[p->n_sel] = p->r.rows - 1, p->asked[p->n_sel++] = -1;
    return 0;
}

static void unload(report *p)
{
    for (int k = 0; k < N_SER; k++)
        free(p->s[k]);
    rf_close(&p->r);
}

/* --steps S1,S2,...: whole list or a usage error naming the bad entry. */
static int parse_steps(const char *val, long *steps, int *n)
{
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", val);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_STEPS)
            return cli_fail(2, "report", "--steps takes at most %d steps", MAX_STEPS);
        if (cli_long("report", "--steps", tok, 0, 1L << 40, &steps[(*n)++]))
            return 2;
    }
    return *n ? 0 : cli_fail(2, "report", "--steps needs a list like 100,1000");
}

/* Default output directory: the run's basename without .h5, plus -report. */
static void default_dir(const char *run, char *dir, size_t size)
{
    const char *base = strrchr(run, '/') ? strrchr(run, '/') + 1 : run;
    size_t len = strlen(base);
    if (len > 3 && strcmp(base + len - 3, ".h5") == 0)
        len -= 3;
    snprintf(dir, size, "%.*s-report", (int)len, base);
}

int cmd_report(int argc, char **argv)
{
    const char *run = NULL, *out = NULL, *v;
    long steps[MAX_STEPS];
    int n_steps = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return fputs(help, stdout), 0;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (!(out = cli_value("report", argc, argv, &i)))
                return 2;
        } else if (!strcmp(argv[i], "--steps")) {
            if (!(v = cli_value("report", argc, argv, &i)) || parse_steps(v, steps, &n_steps))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail(2, "report", "unknown option '%s' (see --help)", argv[i]);
        } else if (run) {
            return cli_fail(2, "report", "one run file at a time ('%s' and '%s')", run, argv[i]);
        } else {
            run = argv[i];
        }
    }
    if (!run)
        return cli_fail(2, "report", "no run file given (see --help)");
    char dir[1024];
    default_dir(run, dir, sizeof dir);
    report p = {0};
    gf_err err;
    int rc = load(&p, run, steps, n_steps, &err) || write_report(&p, out ? out : dir, &err);
    if (rc)
        cli_fail(1, "report", "%s", err.msg);
    unload(&p);
    return rc;
}
