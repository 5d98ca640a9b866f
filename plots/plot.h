/* plot.h — gradflow's figures: run files (docs/run-file.md) and path files
 * (`gradflow paths -o`) drawn by gnuplot, run as an external program.
 *
 * A figure is three files: the data (plain text columns, one gnuplot
 * `index` block per series, each opened by a comment naming its columns),
 * the filled script (variables first, then plots/common.gp and
 * plots/<kind>.gp), and the picture. The picture's format follows the
 * output's extension (.png: pngcairo, .svg: svg, .pdf: pdfcairo). It is
 * written whole or not at all: gnuplot writes a temporary name beside it,
 * renamed only when gnuplot exits 0 and the file is not empty.
 *
 * Usage:
 *   const char *runs[] = {"plain-20.h5", "resnet-20.h5"};
 *   plot_options o = {0};
 *   gf_err err;
 *   if (plot_figure("curves", runs, 2, "curves.png", &o, &err))
 *       fprintf(stderr, "%s\n", err.msg);
 *
 * Templates are read at run time from $GF_PLOTS_DIR when it is set, else
 * from the source tree's plots/ (compiled in), else from ./plots. */
#ifndef GRADFLOW_PLOT_H
#define GRADFLOW_PLOT_H

#include "gradflow/error.h"

#define PLOT_MAX_STEPS 16

typedef struct plot_options {
    const char *title; /* NULL: the automatic title (model, data, step) */
    long steps[PLOT_MAX_STEPS]; /* steps to show (profile, split, responses) */
    int n_steps;       /* 0: the kind's default (the last recorded row) */
    int keep_data;     /* keep OUT.dat and OUT.gp beside the figure */
} plot_options;

/* Figure kinds, in the order `gradflow plot --help` lists them. */
typedef struct plot_kind_info {
    const char *name, *inputs, *summary;
} plot_kind_info;
extern const plot_kind_info plot_kinds[];
extern const int plot_n_kinds;

/* Checks a request without reading anything: a known kind, the input
 * count it takes, --steps only where it applies, an output ending in .png,
 * .svg or .pdf. Returns 0, or -1 with err set (a usage error). */
int plot_check(const char *kind, int n, const char *out, const plot_options *o, gf_err *err);

/* Draws a figure of kind (curves, depth, profile, heatmap, split, paths,
 * responses, updates) from n input files into out (.png, .svg or .pdf).
 * o may be NULL (defaults). Returns 0, or -1 with one line in err. The
 * data file OUT.dat is always written when the inputs could be read; it
 * and the script OUT.gp are removed after a successful figure unless
 * o->keep_data, and kept when gnuplot is missing or fails (the message
 * says so), so the figure can be drawn later with `gnuplot OUT.gp`. */
int plot_figure(const char *kind, const char *const *inputs, int n, const char *out,
                const plot_options *o, gf_err *err);

/* The command line: `gradflow plot KIND INPUT... -o FILE` (plots/cmd_plot.c). */
int cmd_plot(int argc, char **argv);

#endif
