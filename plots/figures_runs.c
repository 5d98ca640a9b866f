/* figures_runs.c — figures over training time and depth: curves (He et al.
 * 2015, Fig. 6), depth (the degradation curve), profile (gradient norm per
 * layer) and heatmap (gradient norm over layer x step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

/* ---------------------------------------------------------------- curves */

/* Rows in one epoch: the first evaluation's step (or n_train / batch) over
 * the recording interval. */
static int rows_per_epoch(const rf_run *r)
{
    double steps = r->epoch_rows > 0 ? r->epoch[RF_EP_STEP][0] : NAN;
    if (!(steps >= 1)) {
        long n_train = 0, batch = 0;
        gf_h5_attr_long(r->file, r->path, "/", "n_train", &n_train, NULL);
        gf_h5_attr_long(r->file, r->path, "/", "batch", &batch, NULL);
        steps = batch > 0 ? (double)(n_train / batch) : 1;
    }
    long k = r->record_every > 0 ? r->record_every : 1;
    int w = (int)ceil(steps / (double)k);
    return w < 1 ? 1 : w;
}

/* Training error: the trailing mean over the last w rows (fewer at the
 * start), so at an epoch's last step it is that epoch's mean batch error. */
static void write_train_curve(plot_ctx *c, const rf_run *r, int w, double *ymax)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < r->rows; i++) {
        if (isfinite(r->error[i]))
            sum += r->error[i], n++;
        if (i >= w && isfinite(r->error[i - w]))
            sum -= r->error[i - w], n--;
        double v = n ? 100.0 * sum / n : NAN;
        pc_val(c, r->step[i]), pc_val(c, v), pc_eol(c);
        if (v > *ymax)
            *ymax = v;
    }
}

static void write_test_curve(plot_ctx *c, const rf_run *r, double *ymax)
{
    for (int e = 0; e < r->epoch_rows; e++) {
        double v = 100.0 * r->epoch[RF_TEST_ERR][e];
        pc_val(c, r->epoch[RF_EP_STEP][e]), pc_val(c, v), pc_eol(c);
        if (v > *ymax)
            *ymax = v;
    }
}

/* Order: plain runs first (panel 1), then residual ones; by depth within. */
static const rf_run *sort_runs;
static int cmp_panel_depth(const void *a, const void *b)
{
    const rf_run *x = &sort_runs[*(const int *)a], *y = &sort_runs[*(const int *)b];
    int px = !pc_is_plain(x), py = !pc_is_plain(y);
    if (px != py)
        return px - py;
    if (x->depth != y->depth)
        return (x->depth > y->depth) - (x->depth < y->depth);
    return strcmp(x->model, y->model);
}

/* Line type of a depth: its rank among the distinct depths (1-based), so a
 * depth has one colour in both panels. */
static int depth_style(const rf_run *runs, int n, long depth)
{
    int rank = 1;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= runs[j].depth == runs[i].depth;
        rank += !seen && runs[i].depth < depth;
    }
    return rank;
}

static void curves_vars(plot_ctx *c, const rf_run *runs, const int *order, int n, int w_rows,
                        double xmax, double ymax)
{
    int n_plain = 0;
    for (int i = 0; i < n; i++)
        n_plain += pc_is_plain(&runs[i]);
    int np = (n_plain > 0) + (n_plain < n);
    pc_num(c, "NP", np);
    pc_array(c, "PANEL_TITLE", np), pc_array(c, "FIRST", np), pc_array(c, "LAST", np);
    int p = 1;
    if (n_plain > 0) {
        pc_astr(c, "PANEL_TITLE", p, "plain networks");
        pc_anum(c, "FIRST", p, 1), pc_anum(c, "LAST", p, n_plain), p++;
    }
    if (n_plain < n) {
        pc_astr(c, "PANEL_TITLE", p, "residual networks");
        pc_anum(c, "FIRST", p, n_plain + 1), pc_anum(c, "LAST", p, n);
    }
    pc_num(c, "N", n);
    pc_array(c, "LABEL", n), pc_array(c, "LT", n), pc_array(c, "PI", n);
    for (int j = 0; j < n; j++) {
        const rf_run *r = &runs[order[j]];
        char label[160];
        pc_run_label(runs, n, order[j], label, sizeof label);
        pc_astr(c, "LABEL", j + 1, label);
        pc_anum(c, "LT", j + 1, depth_style(runs, n, r->depth));
        pc_anum(c, "PI", j + 1, r->rows > 10 ? r->rows / 8 : 1);
    }
    pc_num(c, "XMAX", xmax);
    pc_num(c, "YMAX", ymax > 90 ? 100 : 10 * ceil(ymax / 10 + 0.05));
    char note[256];
    if (w_rows > 0)
        snprintf(note, sizeof note, "solid: training error, running mean of the mini-batch error "
                 "over the last epoch (%d recorded steps); dashed: test error at each epoch's end",
                 w_rows);
    else
        snprintf(note, sizeof note, "solid: training error, running mean of the mini-batch error "
                 "over the last epoch; dashed: test error at each epoch's end");
    pc_str(c, "NOTE", note);
}

int fig_curves(plot_ctx *c, gf_err *err)
{
    rf_run *runs;
    int n = c->n_in, *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return gf_err_set(err, "out of memory");
    if (pc_open_runs(c, &runs, err)) {
        free(order);
        return -1;
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    sort_runs = runs;
    qsort(order, (size_t)n, sizeof *order, cmp_panel_depth);
    double ymax = 0, xmax = 1;
    int w_all = -1;
    for (int j = 0; j < n; j++) {
        const rf_run *r = &runs[order[j]];
        int w = rows_per_epoch(r);
        w_all = w_all == -1 || w_all == w ? w : 0;
        pc_block(c, "%s (%s): step, training error %% (running mean over %d rows)", r->model,
                 r->path, w);
        write_train_curve(c, r, w, &ymax);
        pc_block(c, "%s (%s): step, test error %% (eval mode, end of each epoch)", r->model,
                 r->path);
        write_test_curve(c, r, &ymax);
        xmax = fmax(xmax, r->step[r->rows - 1]);
    }
    curves_vars(c, runs, order, n, w_all, xmax, ymax);
    pc_step_tics(c, "x", 0, xmax, 5);
    char models[512];
    pc_models(runs, n, models, sizeof models);
    pc_title(c, "Training and test error\n%s on %s, steps 1-%.0f", models, pc_data(runs, n), xmax);
    pc_close_runs(runs, n);
    free(order);
    return 0;
}

/* ---------------------------------------------------------------- depth */

/* One (family, depth) point: the mean over its runs of the final errors. */
typedef struct depth_point {
    const char *family;
    long depth;
    double train, test;
    int runs;
} depth_point;

static int cmp_point(const void *a, const void *b)
{
    const depth_point *x = a, *y = b;
    int px = strstr(x->family, "plain") == NULL, py = strstr(y->family, "plain") == NULL;
    int f = px != py ? px - py : strcmp(x->family, y->family);
    return f ? f : (x->depth > y->depth) - (x->depth < y->depth);
}

/* Points from the runs that have an evaluation, merged per (family,
 * depth); returns their count. */
static int depth_points(const rf_run *runs, int n, depth_point *pt)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        const rf_run *r = &runs[i];
        int e = r->epoch_rows - 1, k = 0;
        if (e < 0)
            continue; /* live or killed before its first evaluation */
        /* training error at the end (rf_end_error), test error at the last evaluation */
        double train = r->rows > 0 ? rf_end_error(r, NULL) : r->epoch[RF_TRAIN_ERR][e];
        double test = r->epoch[RF_TEST_ERR][e];
        while (k < m && !(strcmp(pt[k].family, r->family) == 0 && pt[k].depth == r->depth))
            k++;
        if (k == m)
            pt[m++] = (depth_point){r->family, r->depth, 0, 0, 0};
        pt[k].train += 100 * train, pt[k].test += 100 * test, pt[k].runs++;
    }
    for (int k = 0; k < m; k++)
        pt[k].train /= pt[k].runs, pt[k].test /= pt[k].runs;
    qsort(pt, (size_t)m, sizeof *pt, cmp_point);
    return m;
}

/* Data blocks (one per family) and the FAMILY / IDX / LT arrays. */
static void depth_blocks(plot_ctx *c, const depth_point *pt, int m)
{
    int nf = 0;
    for (int k = 0; k < m; k++)
        nf += k == 0 || strcmp(pt[k].family, pt[k - 1].family) != 0;
    pc_num(c, "NF", nf);
    pc_array(c, "FAMILY", nf), pc_array(c, "IDX", nf);
    int f = 0;
    for (int k = 0; k < m; k++) {
        if (k == 0 || strcmp(pt[k].family, pt[k - 1].family) != 0) {
            int idx = pc_block(c, "family %s: depth, training error at the end %%, final "
                               "test error %%, runs averaged", pt[k].family);
            f++;
            pc_astr(c, "FAMILY", f, pt[k].family);
            pc_anum(c, "IDX", f, idx);
        }
        pc_val(c, (double)pt[k].depth), pc_val(c, pt[k].train), pc_val(c, pt[k].test);
        pc_val(c, pt[k].runs), pc_eol(c);
    }
    fprintf(c->vars, "set xtics (");
    for (int k = 0, first = 1; k < m; k++) {
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= pt[j].depth == pt[k].depth;
        if (!seen)
            fprintf(c->vars, "%s%ld", first ? "" : ", ", pt[k].depth), first = 0;
    }
    fprintf(c->vars, ")\n");
}

/* The note under the plot and the title. */
static void depth_text(plot_ctx *c, const rf_run *runs, int n, int averaged, int left_out,
                       double lo, double hi)
{
    char note[256], models[512], steps[64];
    snprintf(note, sizeof note, "training error: mean over the last tenth of each run's steps; "
             "test error: its last evaluation%s", averaged ? "; runs of one depth averaged" : "");
    if (left_out)
        snprintf(note + strlen(note), sizeof note - strlen(note),
                 "; %d run%s without an evaluation left out", left_out, left_out > 1 ? "s" : "");
    pc_str(c, "NOTE", note);
    pc_models(runs, n, models, sizeof models);
    if (lo == hi)
        snprintf(steps, sizeof steps, "after %.0f steps", hi);
    else
        snprintf(steps, sizeof steps, "after %.0f-%.0f steps", lo, hi);
    c->title_w = c->w * 6 / 10; /* the key sits outside, right of the plot */
    pc_title(c, "Final error vs depth\n%s on %s, %s", models, pc_data(runs, n), steps);
}

int fig_depth(plot_ctx *c, gf_err *err)
{
    rf_run *runs;
    int n = c->n_in;
    depth_point *pt = malloc((size_t)n * sizeof *pt);
    if (!pt)
        return gf_err_set(err, "out of memory");
    if (pc_open_runs(c, &runs, err)) {
        free(pt);
        return -1;
    }
    int m = depth_points(runs, n, pt), averaged = 0, rc = 0;
    if (m == 0) {
        rc = gf_err_set(err, "%s%s: no evaluation yet (epochs/ is empty): the depth figure needs "
                        "final errors", c->in[0], n > 1 ? " and the other runs" : "");
    } else {
        long dmin = pt[0].depth, dmax = pt[0].depth;
        double lo = INFINITY, hi = 0;
        int left_out = 0;
        for (int k = 0; k < m; k++) {
            averaged |= pt[k].runs > 1;
            dmin = pt[k].depth < dmin ? pt[k].depth : dmin;
            dmax = pt[k].depth > dmax ? pt[k].depth : dmax;
        }
        for (int i = 0; i < n; i++) {
            left_out += runs[i].epoch_rows == 0;
            if (runs[i].epoch_rows) {
                double s = runs[i].epoch[RF_EP_STEP][runs[i].epoch_rows - 1];
                lo = fmin(lo, s), hi = fmax(hi, s);
            }
        }
        depth_blocks(c, pt, m);
        double pad = 0.05 * (double)(dmax - dmin + 4);
        pc_num(c, "XMIN", (double)dmin - pad), pc_num(c, "XMAX", (double)dmax + pad);
        depth_text(c, runs, n, averaged, left_out, lo, hi);
    }
    pc_close_runs(runs, n);
    free(pt);
    return rc;
}

/* ---------------------------------------------------------------- profile */

/* 1 when every run has the same weighted layers (by name), so stage tics
 * fit them all (plain-N and resnet-N with option-A shortcuts do). */
static int same_layers(const rf_run *runs, int n, int *wl, int *nw)
{
    int most = 0;
    for (int i = 0; i < n; i++)
        most = runs[i].n_layers > most ? runs[i].n_layers : most;
    int *other = malloc((size_t)most * sizeof *other), same = other != NULL;
    *nw = pc_weighted_layers(&runs[0], wl);
    for (int i = 1; same && i < n; i++) {
        same = pc_weighted_layers(&runs[i], other) == *nw;
        for (int j = 0; same && j < *nw; j++)
            same = strcmp(runs[i].layer_name[other[j]], runs[0].layer_name[wl[j]]) == 0;
    }
    free(other);
    return same;
}

/* One block per (run, row); the legend names what differs between them. */
static int profile_series(plot_ctx *c, const rf_run *runs, int n, double *step_out, gf_err *err)
{
    int rows[PLOT_MAX_STEPS], total = 0, idx = 0, steps_differ = 0, nr;
    *step_out = -1;
    for (int i = 0; i < n; i++) {
        nr = pc_rows(c, &runs[i], rows, err);
        for (int k = 0; k < nr; k++, total++) {
            steps_differ |= *step_out >= 0 && runs[i].step[rows[k]] != *step_out;
            *step_out = runs[i].step[rows[k]];
        }
    }
    pc_num(c, "N", total);
    pc_array(c, "LABEL", total), pc_array(c, "IDX", total);
    for (int i = 0; i < n; i++) {
        const rf_run *r = &runs[i];
        float *g = rf_series(r, "layers/grad_norm", r->n_layers, err);
        int *wl = malloc((size_t)r->n_layers * sizeof *wl), nw = wl ? pc_weighted_layers(r, wl) : 0;
        if (!g || !wl) {
            free(g), free(wl);
            return g ? gf_err_set(err, "out of memory") : -1;
        }
        nr = pc_rows(c, r, rows, err);
        for (int k = 0; k < nr; k++) {
            double step = r->step[rows[k]];
            char label[192], run[160];
            pc_run_label(runs, n, i, run, sizeof run);
            if (n == 1)
                snprintf(label, sizeof label, "step %.0f", step);
            else
                snprintf(label, sizeof label, steps_differ ? "%s, step %.0f" : "%s", run, step);
            pc_astr(c, "LABEL", ++idx, label);
            pc_anum(c, "IDX", idx, pc_block(c, "%s (%s) step %.0f: weighted layer (1-based), "
                                           "|dL/d(layer output)|, layer", r->model, r->path, step));
            for (int j = 0; j < nw; j++) {
                pc_val(c, j + 1), pc_val(c, g[(size_t)rows[k] * r->n_layers + wl[j]]);
                fprintf(c->dat, "%s\n", r->layer_name[wl[j]]);
            }
        }
        free(g), free(wl);
    }
    if (steps_differ)
        *step_out = -1;
    return 0;
}

int fig_profile(plot_ctx *c, gf_err *err)
{
    rf_run *runs;
    int n = c->n_in;
    if (pc_open_runs(c, &runs, err))
        return -1;
    double step;
    int rc = profile_series(c, runs, n, &step, err);
    if (rc == 0) {
        int most = 0;
        for (int i = 0; i < n; i++)
            most = runs[i].depth > most ? (int)runs[i].depth : most;
        pc_num(c, "PI", most > 28 ? most / 14 : 1);
        int *wl = malloc((size_t)runs[0].n_layers * sizeof *wl), nw;
        if (wl && same_layers(runs, n, wl, &nw))
            pc_stage_tics(c, "x", &runs[0], wl, nw);
        free(wl);
        char models[512], at[256];
        pc_models(runs, n, models, sizeof models);
        int rows[PLOT_MAX_STEPS];
        if (step >= 0)
            snprintf(at, sizeof at, "step %.0f", step);
        else if (n == 1)
            pc_steps_text(&runs[0], rows, pc_rows(c, &runs[0], rows, err), at, sizeof at);
        else
            snprintf(at, sizeof at, "steps in the key");
        pc_title(c, "Gradient norm per weighted layer\n%s on %s, %s", models, pc_data(runs, n), at);
    }
    pc_close_runs(runs, n);
    return rc;
}

/* ---------------------------------------------------------------- heatmap */

int fig_heatmap(plot_ctx *c, gf_err *err)
{
    rf_run r;
    if (pc_open_run(c, 0, &r, err))
        return -1;
    float *g = rf_series(&r, "layers/grad_norm", r.n_layers, err);
    int *wl = malloc((size_t)r.n_layers * sizeof *wl), nw = wl ? pc_weighted_layers(&r, wl) : 0;
    if (!g || !wl) {
        free(g), free(wl);
        rf_close(&r);
        return g ? gf_err_set(err, "out of memory") : -1;
    }
    int stride = r.rows > 400 ? (r.rows + 399) / 400 : 1;
    pc_block(c, "%s (%s): step, weighted layer (1-based), log10 |dL/d(layer output)| "
             "(every %d-th row)", r.model, r.path, stride);
    for (int i = 0; i < r.rows; i += stride) {
        for (int j = 0; j < nw; j++) {
            double v = g[(size_t)i * r.n_layers + wl[j]];
            pc_val(c, r.step[i]), pc_val(c, j + 1), pc_val(c, v > 0 ? log10(v) : NAN), pc_eol(c);
        }
        pc_eol(c);
    }
    pc_stage_tics(c, "y", &r, wl, nw);
    pc_num(c, "NL", nw);
    pc_step_tics(c, "x", 0, r.step[r.rows - 1], 5);
    pc_num(c, "XMIN", r.step[0]), pc_num(c, "XMAX", r.step[r.rows - 1]);
    pc_num(c, "DX", stride * (r.rows > 1 ? (r.step[1] - r.step[0]) : 1));
    char every[64] = "";
    if (stride > 1)
        snprintf(every, sizeof every, " (every %d-th recorded step)", stride);
    pc_title(c, "Gradient norm per weighted layer over training\n%s on %s, steps %.0f-%.0f%s",
             r.model, r.data, r.step[0], r.step[r.rows - 1], every);
    free(g), free(wl);
    rf_close(&r);
    return 0;
}
