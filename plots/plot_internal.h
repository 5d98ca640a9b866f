/* plot_internal.h — between the plot driver (plot.c) and the figure
 * builders (figures_*.c). A builder reads its inputs, writes the data file
 * (gnuplot `index` blocks) and defines the gnuplot variables its template
 * (plots/<kind>.gp) uses; the driver does everything else. */
#ifndef GRADFLOW_PLOT_INTERNAL_H
#define GRADFLOW_PLOT_INTERNAL_H

#include <stdio.h>

#include "../analysis/runfile.h"
#include "plot.h"

typedef struct plot_ctx {
    const plot_options *o;
    const char *const *in; /* input paths */
    int n_in;
    FILE *dat;             /* the data file */
    int blocks;            /* index blocks written so far */
    FILE *vars;            /* gnuplot variable definitions (script preamble) */
    int w, h;              /* canvas in PNG pixels */
    int multi;             /* 1: multiplot (the title is centred on the canvas) */
    int title_w;           /* pixels a title line may take; 0: from w and multi */
} plot_ctx;

/* Starts a new data block (the next gnuplot `index`) whose first line is the
 * comment fmt; returns the block's index. */
int pc_block(plot_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* One data value followed by a space; NaN and ±inf are written as NaN
 * (missing for gnuplot: `set datafile missing NaN`). */
void pc_val(plot_ctx *c, double v);
void pc_eol(plot_ctx *c);

/* Script variables: name = "value" (quoted for gnuplot), a number, an
 * array of n elements, and element i (1-based, as gnuplot counts). */
void pc_str(plot_ctx *c, const char *name, const char *value);
void pc_num(plot_ctx *c, const char *name, double v);
void pc_array(plot_ctx *c, const char *name, int n);
void pc_astr(plot_ctx *c, const char *name, int i, const char *value);
void pc_anum(plot_ctx *c, const char *name, int i, double v);
/* Writes s as a gnuplot double-quoted string (\" and \\ escaped). */
void pc_quote(FILE *f, const char *s);

/* Runs `gnuplot -e "outfile='tmp_out'" script` (gnuplot.c). Returns 0 when
 * it exits 0; -2 when gnuplot is not on PATH (err untouched); -1 with the
 * first useful line of its stderr otherwise. */
int plot_run_gnuplot(const char *script, const char *tmp_out, gf_err *err);

/* ------------------------------------------------------ shared helpers */

/* Opens input i as a run file (rf_open) with a one-line error. */
int pc_open_run(plot_ctx *c, int i, rf_run *r, gf_err *err);
/* Opens every input as a run (calloc'ed array of c->n_in); on failure
 * nothing stays open. */
int pc_open_runs(plot_ctx *c, rf_run **runs, gf_err *err);
void pc_close_runs(rf_run *runs, int n);
/* 1 for plain families (plain, mlp-plain: no shortcut), else 0. */
int pc_is_plain(const rf_run *r);
/* The rows a figure shows: for each --step the nearest recorded row, or
 * the last row when no steps were given. Returns the count (>= 1) or -1
 * when the run has no rows. */
int pc_rows(const plot_ctx *c, const rf_run *r, int *rows, gf_err *err);
/* `set <axis>tics STEP` with a round step (1, 2, 2.5, 5 x 10^k, at least 1)
 * giving at most `most` intervals over [lo, hi]: step axes of wide-ranging
 * runs would otherwise crowd their labels. */
void pc_step_tics(plot_ctx *c, const char *axis, double lo, double hi, int most);
/* "step 16" or "steps 1, 8, 16": the steps of rows[0..n) of r. */
void pc_steps_text(const rf_run *r, const int *rows, int n, char *buf, size_t size);
/* "plain-8, resnet-8" (or "{plain,resnet}-{20,56}" for more than four):
 * the models of runs, for titles. */
void pc_models(const rf_run *runs, int n, char *buf, size_t size);
/* Legend text of run i: its model, plus its file name when another run
 * has the same model. */
void pc_run_label(const rf_run *runs, int n, int i, char *buf, size_t size);
/* The runs' common --data, or "several data sets". */
const char *pc_data(const rf_run *runs, int n);
/* Sets TITLE to o->title, or to the automatic text built from fmt. */
void pc_title(plot_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The weighted layers (conv, linear) of r in forward order: their layer
 * indices into layers (room for r->n_layers); returns their count. The
 * gradient at a weighted layer's output is the one its weight gradient is
 * made from, and plain-N and resnet-N both have N of them, so per-layer
 * figures of the two line up. */
int pc_weighted_layers(const rf_run *r, int *layers);
/* Tics at the first of layers[0..n) in each stage (stem, layer1, ...,
 * head), at positions 1..n: `set <axis>tics ("stem" 1, "layer1" 2, ...)`. */
void pc_stage_tics(plot_ctx *c, const char *axis, const rf_run *r, const int *layers, int n);

/* Builders: one per kind (figures_runs.c, figures_more.c). */
int fig_curves(plot_ctx *c, gf_err *err);
int fig_depth(plot_ctx *c, gf_err *err);
int fig_profile(plot_ctx *c, gf_err *err);
int fig_heatmap(plot_ctx *c, gf_err *err);
int fig_split(plot_ctx *c, gf_err *err);
int fig_paths(plot_ctx *c, gf_err *err);
int fig_responses(plot_ctx *c, gf_err *err);
int fig_updates(plot_ctx *c, gf_err *err);

#endif
