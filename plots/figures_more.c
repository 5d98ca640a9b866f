/* figures_more.c — figures of one moment of training: split (identity vs
 * branch per block, He et al. 2016 Eq. 5), paths (Veit et al. 2016, Fig. 6),
 * responses (He et al. 2015, Fig. 7) and updates (update/weight ratios). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

/* ---------------------------------------------------------------- split */

/* Block tics: every block name when there are few, else each stage's first
 * block labelled with the stage ("layer2"). */
static void block_tics(plot_ctx *c, const rf_run *r)
{
    int few = r->n_blocks <= 16, first = 1, rotate = r->n_blocks > 6;
    fprintf(c->vars, "set xtics (");
    for (int b = 0; b < r->n_blocks; b++) {
        const char *name = r->block_name[b], *dot = strrchr(name, '.');
        int len = dot ? (int)(dot - name) : (int)strlen(name);
        const char *prev = b ? r->block_name[b - 1] : "";
        if (!few && b > 0 && strncmp(name, prev, (size_t)len) == 0 &&
            (prev[len] == '.' || prev[len] == 0))
            continue;
        char label[64];
        snprintf(label, sizeof label, "%.*s", few ? (int)strlen(name) : len, name);
        fprintf(c->vars, "%s", first ? "" : ", ");
        pc_quote(c->vars, label);
        fprintf(c->vars, " %d", b);
        first = 0;
    }
    fprintf(c->vars, ") noenhanced%s\n", few && rotate ? " rotate by 30 right" : "");
}

int fig_split(plot_ctx *c, gf_err *err)
{
    rf_run r;
    if (pc_open_run(c, 0, &r, err))
        return -1;
    float *id = rf_series(&r, "blocks/identity_norm", r.n_blocks, err);
    float *br = id ? rf_series(&r, "blocks/branch_norm", r.n_blocks, err) : NULL;
    int rows[PLOT_MAX_STEPS], nr = br ? pc_rows(c, &r, rows, err) : -1;
    if (nr > 0) {
        pc_num(c, "N", nr);
        pc_array(c, "IDX", nr), pc_array(c, "LABEL", nr);
        double lo = INFINITY, hi = 0;
        for (int k = 0; k < nr; k++) {
            char label[64];
            snprintf(label, sizeof label, "step %.0f", r.step[rows[k]]);
            pc_astr(c, "LABEL", k + 1, label);
            pc_anum(c, "IDX", k + 1, pc_block(c, "%s (%s) step %.0f: block index, |identity "
                                          "part|, |branch part|, identity share, block", r.model,
                                          r.path, r.step[rows[k]]));
            for (int b = 0; b < r.n_blocks; b++) {
                double i = id[(size_t)rows[k] * r.n_blocks + b];
                double v = br[(size_t)rows[k] * r.n_blocks + b];
                pc_val(c, b), pc_val(c, i), pc_val(c, v), pc_val(c, i / (i + v));
                fprintf(c->dat, "%s\n", r.block_name[b]);
                for (int q = 0; q < 2; q++) {
                    double x = q ? v : i;
                    if (x > 0 && isfinite(x))
                        lo = fmin(lo, x), hi = fmax(hi, x);
                }
            }
        }
        pc_num(c, "YLO", hi > 0 ? lo : 1e-3), pc_num(c, "YHI", hi > 0 ? hi : 1);
        block_tics(c, &r);
        pc_num(c, "NB", r.n_blocks);
        pc_num(c, "PLAIN", pc_is_plain(&r));
        char at[256];
        pc_steps_text(&r, rows, nr, at, sizeof at);
        pc_title(c, "Identity and branch parts of dL/dx per block\n%s on %s, %s%s", r.model,
                 r.data, at, pc_is_plain(&r) ? " (plain: no shortcut)" : "");
    }
    free(id), free(br);
    rf_close(&r);
    return nr > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- paths */

/* A whole 1-D dataset as doubles (malloc'ed), with its length. */
static double *read_doubles(hid_t f, const char *path, const char *name, int *n, gf_err *err)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        gf_err_set(err, "%s: no dataset '%s' (not a gradflow paths file?)", path, name);
        return NULL;
    }
    hid_t space = H5Dget_space(d);
    hssize_t len = space >= 0 && H5Sget_simple_extent_ndims(space) == 1
                       ? H5Sget_simple_extent_npoints(space) : -1;
    double *v = len > 0 ? malloc((size_t)len * sizeof *v) : NULL;
    if (!v || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        gf_err_set(err, "%s: cannot read '%s' as a 1-D series", path, name);
        free(v);
        v = NULL;
    }
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    *n = v ? (int)len : 0;
    return v;
}

/* One paths file: its identity and the per-length series. */
typedef struct paths_file {
    char model[64], data[256], weights[512];
    long batch, from, L;
    int n;
    double *norm, *log_count, *share;
} paths_file;

static void paths_free(paths_file *p)
{
    free(p->norm), free(p->log_count), free(p->share);
}

static int paths_attrs(hid_t f, const char *path, paths_file *p, gf_err *err)
{
    char schema[64] = "";
    if (gf_h5_attr_string(f, path, "/", "schema", schema, sizeof schema, NULL) ||
        strcmp(schema, "gradflow-paths") != 0)
        return gf_err_set(err, "%s: not a gradflow paths file (%s%s%s; make one with gradflow "
                          "paths -o)", path, schema[0] ? "schema '" : "no schema attribute",
                          schema, schema[0] ? "'" : "");
    if (gf_h5_attr_string(f, path, "/", "model", p->model, sizeof p->model, err) ||
        gf_h5_attr_string(f, path, "/", "data", p->data, sizeof p->data, err) ||
        gf_h5_attr_string(f, path, "/", "weights", p->weights, sizeof p->weights, err) ||
        gf_h5_attr_long(f, path, "/", "batch", &p->batch, err))
        return -1;
    if (!gf_h5_exists(f, "paths"))
        return gf_err_set(err, "%s: %s has no path-length split (plain network: a single path; "
                          "run gradflow paths on a residual model)", path, p->model);
    return gf_h5_attr_long(f, path, "/paths", "from_block", &p->from, err) ||
           gf_h5_attr_long(f, path, "/paths", "L", &p->L, err);
}

static int paths_open(const char *path, paths_file *p, gf_err *err)
{
    memset(p, 0, sizeof *p);
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    int n1, n2, n3;
    int rc = paths_attrs(f, path, p, err);
    if (rc == 0) {
        p->norm = read_doubles(f, path, "paths/norm_by_length", &n1, err);
        p->log_count =
            p->norm ? read_doubles(f, path, "paths/log_count_by_length", &n2, err) : NULL;
        p->share = p->log_count ? read_doubles(f, path, "paths/share_by_length", &n3, err) : NULL;
        rc = !p->share ? -1 : n1 != n2 || n1 != n3 || n1 != p->L + 1
                 ? gf_err_set(err, "%s: the paths/ series do not all have L+1 = %ld rows", path,
                              p->L + 1)
                 : 0;
        p->n = n1;
    }
    H5Fclose(f);
    if (rc)
        paths_free(p);
    return rc;
}

/* Writes each file's block; returns the spans the axes need. */
static void paths_blocks(plot_ctx *c, const paths_file *p, int n, double span[3])
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    pc_array(c, "LABEL", n), pc_array(c, "IDX", n);
    for (int i = 0; i < n; i++) {
        char label[600];
        const char *w = strrchr(p[i].weights, '/');
        w = w ? w + 1 : p[i].weights;
        snprintf(label, sizeof label, "%s%s%s (L = %ld)", p[i].model,
                 w[0] ? ", weights " : " at init", w,
                 p[i].L);
        pc_astr(c, "LABEL", i + 1, label);
        pc_anum(c, "IDX", i + 1, pc_block(c, "%s (%s): k, paths C(L,k), log10 C(L,k), |G[k]|, "
                                        "|G[k]|/C(L,k), share of dL/dx", p[i].model, c->in[i]));
        for (int k = 0; k < p[i].n; k++) {
            double lc10 = p[i].log_count[k] / log(10.0), g = p[i].norm[k];
            double per = g > 0 ? exp(log(g) - p[i].log_count[k]) : NAN;
            double v[3] = {lc10, per > 0 ? log10(per) : NAN, g > 0 ? log10(g) : NAN};
            pc_val(c, k), pc_val(c, lc10 < 300 ? pow(10, lc10) : NAN), pc_val(c, lc10);
            pc_val(c, g), pc_val(c, per), pc_val(c, p[i].share[k]), pc_eol(c);
            for (int a = 0; a < 3; a++)
                if (isfinite(v[a]))
                    lo[a] = fmin(lo[a], v[a]), hi[a] = fmax(hi[a], v[a]);
        }
    }
    for (int a = 0; a < 3; a++)
        span[a] = hi[a] >= lo[a] ? hi[a] - lo[a] : 0;
    span[0] = hi[0] >= 300 ? -1 : span[0]; /* counts past 1e300: plot their log10 */
}

int fig_paths(plot_ctx *c, gf_err *err)
{
    int n = c->n_in;
    paths_file *p = calloc((size_t)n, sizeof *p);
    if (!p)
        return gf_err_set(err, "out of memory");
    int rc = 0, opened = 0;
    for (; opened < n && rc == 0; opened++)
        rc = paths_open(c->in[opened], &p[opened], err);
    if (rc == 0) {
        double span[3];
        pc_num(c, "N", n);
        paths_blocks(c, p, n, span);
        /* COUNT_MODE 0: linear, 1: log axis, 2: log10 of the count on a linear axis */
        pc_num(c, "COUNT_MODE", span[0] < 0 ? 2 : span[0] > 2 ? 1 : 0);
        pc_num(c, "LOG_PER", span[1] > 0.5);
        /* (c) is linear as in Veit et al.: it answers which lengths carry the
         * gradient, and a log axis makes every length look as if it did. Only
         * files whose peaks differ tenfold get a log axis, cut 4 decades below
         * the lower peak so the vanishing tail does not take the panel. */
        double lo_peak = INFINITY, hi_peak = 0;
        for (int i = 0; i < n; i++) {
            double peak = 0;
            for (int k = 0; k < p[i].n; k++)
                peak = fmax(peak, p[i].norm[k]);
            lo_peak = fmin(lo_peak, peak), hi_peak = fmax(hi_peak, peak);
        }
        (void)span[2];
        pc_num(c, "LOG_TOTAL", lo_peak > 0 && hi_peak > 10 * lo_peak);
        pc_num(c, "TOTAL_MIN", lo_peak * 1e-4);
        long most = 0;
        for (int i = 0; i < n; i++)
            most = p[i].L > most ? p[i].L : most;
        pc_num(c, "PI", most > 24 ? most / 12 : 1);
        char models[256] = "";
        for (int i = 0; i < n && strlen(models) < 200; i++)
            if (!strstr(models, p[i].model))
                snprintf(models + strlen(models), sizeof models - strlen(models), "%s%s",
                         models[0] ? ", " : "", p[i].model);
        const char *w = strrchr(p[0].weights, '/');
        w = w ? w + 1 : p[0].weights;
        long xstep = p[0].L <= 10 ? 1 : p[0].L <= 20 ? 2 : 0;
        pc_num(c, "XSTEP", xstep);
        int same_L = 1;
        for (int i = 1; i < n; i++)
            same_L &= p[i].L == p[0].L && p[i].from == p[0].from;
        char where[96];
        snprintf(where, sizeof where, same_L ? "dL/dx at the input of block %ld, paths through "
                 "L = %ld blocks" : "dL/dx at the input of block %ld", p[0].from, p[0].L);
        pc_title(c, "Gradient by path length (Veit et al. 2016): %s\n%s%s%s on %s, batch %ld",
                 where, models, n > 1 ? "" : w[0] ? " with weights " : " at initialisation",
                 n > 1 ? "" : w, p[0].data, p[0].batch);
    }
    for (int i = 0; i < opened; i++)
        paths_free(&p[i]);
    free(p);
    return rc;
}

/* ---------------------------------------------------------------- responses */

/* One block per (run, row): index, std in network order, std sorted
 * descending, layer. */
static int responses_block(plot_ctx *c, const rf_run *runs, int n, int i, int row, int nr,
                           char **names, int n_resp, const float *std, int *idx)
{
    const rf_run *r = &runs[i];
    float *sorted = malloc((size_t)n_resp * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, std + (size_t)row * n_resp, (size_t)n_resp * sizeof *sorted);
    for (int a = 1; a < n_resp; a++) /* insertion sort, descending */
        for (int b = a; b > 0 && sorted[b] > sorted[b - 1]; b--) {
            float t = sorted[b];
            sorted[b] = sorted[b - 1], sorted[b - 1] = t;
        }
    char label[192], run[160];
    pc_run_label(runs, n, i, run, sizeof run);
    snprintf(label, sizeof label, nr > 1 ? "%s, step %.0f" : "%s", run, r->step[row]);
    pc_astr(c, "LABEL", ++*idx, label);
    pc_anum(c, "IDX", *idx, pc_block(c, "%s (%s) step %.0f: layer index (1-based), response std, "
                                     "std sorted descending, layer", r->model, r->path,
                                     r->step[row]));
    for (int k = 0; k < n_resp; k++) {
        pc_val(c, k + 1), pc_val(c, std[(size_t)row * n_resp + k]), pc_val(c, sorted[k]);
        fprintf(c->dat, "%s\n", names[k]);
    }
    free(sorted);
    return 0;
}

static int responses_run(plot_ctx *c, const rf_run *runs, int n, int i, int *idx, gf_err *err)
{
    const rf_run *r = &runs[i];
    char **names;
    int n_resp, rows[PLOT_MAX_STEPS], nr = pc_rows(c, r, rows, err), rc = 0;
    if (gf_h5_read_strings(r->file, r->path, "model/responses/name", &names, &n_resp, err))
        return -1;
    float *std = rf_series(r, "responses/std", n_resp, err);
    if (!std)
        rc = -1;
    for (int k = 0; rc == 0 && k < nr; k++)
        rc = responses_block(c, runs, n, i, rows[k], nr, names, n_resp, std, idx)
                 ? gf_err_set(err, "out of memory") : 0;
    free(std);
    gf_h5_names_free(names, n_resp);
    return rc;
}

int fig_responses(plot_ctx *c, gf_err *err)
{
    rf_run *runs;
    int n = c->n_in, rows[PLOT_MAX_STEPS], total = 0, idx = 0, rc = 0;
    if (pc_open_runs(c, &runs, err))
        return -1;
    double step = -1;
    int steps_differ = 0;
    for (int i = 0; i < n; i++) {
        int nr = pc_rows(c, &runs[i], rows, err);
        for (int k = 0; k < nr; k++, total++) {
            steps_differ |= step >= 0 && runs[i].step[rows[k]] != step;
            step = runs[i].step[rows[k]];
        }
    }
    pc_num(c, "N", total);
    pc_array(c, "LABEL", total), pc_array(c, "IDX", total);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = responses_run(c, runs, n, i, &idx, err);
    if (rc == 0) {
        char models[512], at[64];
        pc_models(runs, n, models, sizeof models);
        snprintf(at, sizeof at, steps_differ ? "steps in the key" : "step %.0f", step);
        pc_title(c, "Std of 3x3 layer responses (He et al. 2015, Fig. 7)\n%s on %s, %s", models,
                 pc_data(runs, n), at);
    }
    pc_close_runs(runs, n);
    return rc;
}

/* ---------------------------------------------------------------- updates */

/* 1 if param p is a conv or linear weight (its layer's kind). */
static int is_weight(const rf_run *r, int p)
{
    const char *name = r->param_name[p], *dot = strrchr(name, '.');
    if (!dot || strcmp(dot, ".weight") != 0)
        return 0;
    for (int l = 0; l < r->n_layers; l++)
        if (strlen(r->layer_name[l]) == (size_t)(dot - name) &&
            strncmp(r->layer_name[l], name, (size_t)(dot - name)) == 0)
            return strcmp(r->layer_kind[l], "conv") == 0 || strcmp(r->layer_kind[l], "linear") == 0;
    return 0;
}

int fig_updates(plot_ctx *c, gf_err *err)
{
    rf_run r;
    if (pc_open_run(c, 0, &r, err))
        return -1;
    float *u = rf_series(&r, "params/update_ratio", r.n_params, err);
    if (!u) {
        rf_close(&r);
        return -1;
    }
    int weights_only = r.n_params > 10, n = 0;
    for (int p = 0; p < r.n_params; p++)
        n += !weights_only || is_weight(&r, p);
    int stride = r.rows > 1000 ? (r.rows + 999) / 1000 : 1, idx = 0;
    pc_num(c, "N", n);
    pc_num(c, "MANY", n > 10);
    pc_array(c, "LABEL", n), pc_array(c, "IDX", n);
    for (int p = 0; p < r.n_params; p++) {
        if (weights_only && !is_weight(&r, p))
            continue;
        pc_astr(c, "LABEL", ++idx, r.param_name[p]);
        pc_anum(c, "IDX", idx, pc_block(c, "%s (%s) %s: step, |update| / |weight|", r.model,
                                        r.path, r.param_name[p]));
        for (int i = 0; i < r.rows; i += stride) {
            double v = u[(size_t)i * r.n_params + p];
            pc_val(c, r.step[i]), pc_val(c, v > 0 ? v : NAN), pc_eol(c);
        }
    }
    int shown = (r.rows + stride - 1) / stride;
    pc_num(c, "PI", shown > 16 ? shown / 8 : 1);
    if (n > 10) { /* colour bar tics: the stages, when the tensors are the weighted layers */
        int *wl = malloc((size_t)r.n_layers * sizeof *wl);
        if (wl && pc_weighted_layers(&r, wl) == n)
            pc_stage_tics(c, "cb", &r, wl, n);
        free(wl);
    }
    pc_step_tics(c, "x", 0, r.step[r.rows - 1], 5);
    pc_str(c, "WHICH", weights_only ? "conv and linear weights only (BN and bias tensors left out)"
                                    : "every parameter tensor");
    pc_title(c, "Update/weight ratio per tensor\n%s on %s, steps %.0f-%.0f%s", r.model, r.data,
             r.step[0], r.step[r.rows - 1], stride > 1 ? " (subsampled)" : "");
    free(u);
    rf_close(&r);
    return 0;
}
