/* figures_util.c — what the figure builders share: opening runs, picking
 * rows, titles and layer tics (plot_internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

int pc_open_run(plot_ctx *c, int i, rf_run *r, gf_err *err)
{
    if (rf_open(r, c->in[i], err))
        return -1;
    if (r->rows < 1) {
        gf_err_set(err, "%s: the run has no recorded rows yet", c->in[i]);
        rf_close(r);
        return -1;
    }
    return 0;
}

int pc_open_runs(plot_ctx *c, rf_run **runs, gf_err *err)
{
    *runs = calloc((size_t)c->n_in, sizeof **runs);
    if (!*runs)
        return gf_err_set(err, "out of memory");
    for (int i = 0; i < c->n_in; i++)
        if (pc_open_run(c, i, &(*runs)[i], err)) {
            pc_close_runs(*runs, i);
            *runs = NULL;
            return -1;
        }
    return 0;
}

void pc_close_runs(rf_run *runs, int n)
{
    for (int i = 0; runs && i < n; i++)
        rf_close(&runs[i]);
    free(runs);
}

int pc_is_plain(const rf_run *r)
{
    return strcmp(r->shortcut, "none") == 0 || strstr(r->family, "plain") != NULL;
}

int pc_rows(const plot_ctx *c, const rf_run *r, int *rows, gf_err *err)
{
    if (r->rows < 1)
        return gf_err_set(err, "%s: the run has no recorded rows", r->path);
    if (c->o->n_steps == 0) {
        rows[0] = r->rows - 1;
        return 1;
    }
    int n = 0;
    for (int s = 0; s < c->o->n_steps; s++) {
        int row = rf_nearest_row(r, (double)c->o->steps[s]), dup = 0;
        for (int j = 0; j < n; j++)
            dup |= rows[j] == row;
        if (!dup)
            rows[n++] = row;
    }
    return n;
}

void pc_steps_text(const rf_run *r, const int *rows, int n, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "step%s ", n > 1 ? "s" : "");
    for (int k = 0; k < n && len < size; k++)
        len += (size_t)snprintf(buf + len, size - len, "%s%.0f", k ? ", " : "", r->step[rows[k]]);
}

void pc_step_tics(plot_ctx *c, const char *axis, double lo, double hi, int most)
{
    double span = hi - lo, step = 1;
    if (!(span > 0))
        return;
    double mag = pow(10, floor(log10(span / most)));
    static const double nice[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (span / (nice[i] * mag) <= most) {
            step = nice[i] * mag;
            break;
        }
    fprintf(c->vars, "set %stics %.9g\n", axis, step < 1 ? 1 : step);
}

/* Appends to buf (always NUL-terminated). */
static void cat(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* "8,14,20": the distinct depths of family's runs, ascending. */
static void family_depths(const rf_run *runs, int n, const char *family, char *buf, size_t size)
{
    long *d = malloc((size_t)n * sizeof *d);
    int nd = 0;
    buf[0] = 0;
    for (int j = 0; d && j < n; j++)
        if (strcmp(runs[j].family, family) == 0)
            d[nd++] = runs[j].depth;
    if (d)
        qsort(d, (size_t)nd, sizeof *d, cmp_long);
    for (int j = 0; d && j < nd; j++)
        if (j == 0 || d[j] != d[j - 1])
            cat(buf, size, "%s%ld", j ? "," : "", d[j]);
    free(d);
}

/* Up to four models by name; more as family-{d1,d2,...}, and families with
 * the same depths together: "{plain,resnet}-{20,32,44,56}". */
void pc_models(const rf_run *runs, int n, char *buf, size_t size)
{
    buf[0] = 0;
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= strcmp(runs[i].model, runs[j].model) == 0;
        if (!seen && distinct++ < 4)
            cat(buf, size, "%s%s", distinct > 1 ? ", " : "", runs[i].model);
    }
    if (distinct <= 4)
        return;
    const char *fam[16];
    char dep[16][128];
    int nf = 0, done[16] = {0};
    for (int i = 0; i < n && nf < 16; i++) {
        int seen = 0;
        for (int f = 0; f < nf; f++)
            seen |= strcmp(fam[f], runs[i].family) == 0;
        if (!seen) {
            fam[nf] = runs[i].family;
            family_depths(runs, n, fam[nf], dep[nf], sizeof dep[nf]);
            nf++;
        }
    }
    buf[0] = 0;
    for (int f = 0; f < nf; f++) {
        if (done[f])
            continue;
        int same = 0;
        for (int g = f; g < nf; g++)
            same += strcmp(dep[g], dep[f]) == 0;
        cat(buf, size, "%s%s", buf[0] ? ", " : "", same > 1 ? "{" : "");
        for (int g = f, k = 0; g < nf; g++)
            if (strcmp(dep[g], dep[f]) == 0)
                cat(buf, size, "%s%s", k++ ? "," : "", fam[g]), done[g] = 1;
        cat(buf, size, same > 1 ? "}-" : "-");
        cat(buf, size, strchr(dep[f], ',') ? "{%s}" : "%s", dep[f]);
    }
}

void pc_run_label(const rf_run *runs, int n, int i, char *buf, size_t size)
{
    int dup = 0;
    for (int j = 0; j < n; j++)
        dup |= j != i && strcmp(runs[j].model, runs[i].model) == 0;
    const char *base = strrchr(runs[i].path, '/');
    base = base ? base + 1 : runs[i].path;
    if (dup)
        snprintf(buf, size, "%s (%s)", runs[i].model, base);
    else
        snprintf(buf, size, "%s", runs[i].model);
}

const char *pc_data(const rf_run *runs, int n)
{
    for (int i = 1; i < n; i++)
        if (strcmp(runs[i].data, runs[0].data) != 0)
            return "several data sets";
    return runs[0].data;
}

/* Breaks lines of s longer than width characters at their last ", " or
 * " on " within width (the title is centred over the plot, so it must fit). */
static void wrap(char *s, int width)
{
    char *line = s;
    while (strlen(line) > (size_t)width) {
        char *nl = strchr(line, '\n');
        if (nl && nl - line <= width) {
            line = nl + 1;
            continue;
        }
        char *cut = NULL;
        for (char *p = line + 1; p - line <= width && *p && *p != '\n'; p++)
            if (strncmp(p, ", ", 2) == 0 || strncmp(p, " on ", 4) == 0)
                cut = *p == ',' ? p + 1 : p;
        if (!cut) {
            if (!nl)
                break;
            line = nl + 1;
            continue;
        }
        *cut = '\n';
        line = cut + 1;
    }
}

void pc_title(plot_ctx *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* about 11 px per character of the title font (1.1 FS, FS = 14 px); a
     * single plot's title is centred over the plot area, not the canvas */
    int width = c->title_w ? c->title_w : (int)(c->w * (c->multi ? 0.95 : 0.72));
    wrap(buf, width / 11);
    pc_str(c, "TITLE", c->o->title ? c->o->title : buf);
}

/* The stage of layer i: its block's name without the last ".N" ("layer2"),
 * "stem" before the first block, "head" after the last. */
static void stage_of(const rf_run *r, int i, int seen_block, char *buf, size_t size)
{
    int b = r->layer_block[i];
    if (b < 0 || b >= r->n_blocks) {
        snprintf(buf, size, "%s", seen_block ? "head" : "stem");
        return;
    }
    const char *name = r->block_name[b], *dot = strrchr(name, '.');
    snprintf(buf, size, "%.*s", (int)(dot ? dot - name : (long)strlen(name)), name);
}

void pc_stage_tics(plot_ctx *c, const char *axis, const rf_run *r, const int *layers, int n)
{
    char prev[64] = "", label[64][24];
    int pos[64], m = 0, seen_block = 0;
    for (int j = 0, l = 0; j < n && m < 64; j++) {
        for (; l <= layers[j]; l++) /* blocks seen up to this layer */
            seen_block |= r->layer_block[l] >= 0;
        stage_of(r, layers[j], seen_block, label[m], sizeof label[m]);
        if (strcmp(label[m], prev) != 0) {
            snprintf(prev, sizeof prev, "%s", label[m]);
            pos[m++] = j + 1;
        }
    }
    /* a label closer than n/14 positions to the next one would overlap it:
     * drop it (the stem's, beside layer1's, in deep nets) */
    fprintf(c->vars, "set %stics (", axis);
    for (int k = 0, first = 1; k < m; k++) {
        if (k + 1 < m && (pos[k + 1] - pos[k]) * 14 < n)
            continue;
        fprintf(c->vars, "%s", first ? "" : ", ");
        pc_quote(c->vars, label[k]);
        fprintf(c->vars, " %d", pos[k]);
        first = 0;
    }
    fprintf(c->vars, ") noenhanced\n");
}

int pc_weighted_layers(const rf_run *r, int *layers)
{
    int n = 0;
    for (int l = 0; l < r->n_layers; l++)
        if (strcmp(r->layer_kind[l], "conv") == 0 || strcmp(r->layer_kind[l], "linear") == 0)
            layers[n++] = l;
    return n;
}
