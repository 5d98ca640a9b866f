/* cmd_plot.c — `gradflow plot KIND INPUT... -o FILE.{png,svg,pdf}`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/cli.h"
#include "plot.h"

static void help(FILE *f)
{
    fprintf(f, "usage: gradflow plot KIND INPUT... -o FILE.{png,svg,pdf} [--keep-data]\n"
               "                    [--steps S1,S2,...] [--title TEXT]\n"
               "Draws a figure with gnuplot (Debian: apt-get install gnuplot-nox). Inputs are\n"
               "run files (gradflow train --record) unless noted. Kinds:\n");
    for (int k = 0; k < plot_n_kinds; k++)
        fprintf(f, "  %-10s %-17s %s\n", plot_kinds[k].name, plot_kinds[k].inputs,
                plot_kinds[k].summary);
    fprintf(f, "  -o FILE        the figure; its extension picks the format (pngcairo, svg,\n"
               "                 pdfcairo). Written whole or not at all.\n"
               "  --keep-data    keep FILE.dat (the plotted numbers, plain text columns) and\n"
               "                 FILE.gp (the filled gnuplot script) to restyle and redraw:\n"
               "                 gnuplot FILE.gp\n"
               "  --steps LIST   steps to show (profile, split, responses; default: the last\n"
               "                 recorded row); each picks the nearest recorded step\n"
               "  --title TEXT   replace the automatic title (model, data, step)\n"
               "Templates: $GF_PLOTS_DIR, else the source tree's plots/, else ./plots.\n"
               "Exit 0 ok, 1 runtime error (unreadable input, gnuplot missing or failing),\n"
               "2 usage. Details and examples: docs/figures.md.\n");
}

/* "S1,S2,..." into o->steps. */
static int parse_steps(const char *v, plot_options *o)
{
    const char *s = v;
    while (*s) {
        char *end;
        errno = 0;
        long step = strtol(s, &end, 10);
        if (end == s || errno || step < 0 || (*end && *end != ','))
            return cli_fail(2, "plot", "--steps: '%s' is not a list of steps (e.g. 1,500,2000)", v);
        if (o->n_steps == PLOT_MAX_STEPS)
            return cli_fail(2, "plot", "--steps: at most %d steps", PLOT_MAX_STEPS);
        o->steps[o->n_steps++] = step;
        s = *end ? end + 1 : end;
        if (*end && !*s)
            return cli_fail(2, "plot", "--steps: '%s' ends with a comma", v);
    }
    return o->n_steps ? 0 : cli_fail(2, "plot", "--steps: empty list");
}

int cmd_plot(int argc, char **argv)
{
    plot_options o = {0};
    const char *kind = NULL, *out = NULL, *v;
    const char **in = calloc((size_t)argc + 1, sizeof *in);
    int n = 0, rc = 0;
    if (!in)
        return cli_fail(1, "plot", "out of memory");
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            free(in);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            rc = (v = cli_value("plot", argc, argv, &i)) ? (out = v, 0) : 2;
        } else if (!strcmp(a, "--steps")) {
            rc = (v = cli_value("plot", argc, argv, &i)) ? parse_steps(v, &o) : 2;
        } else if (!strcmp(a, "--title")) {
            rc = (v = cli_value("plot", argc, argv, &i)) ? (o.title = v, 0) : 2;
        } else if (!strcmp(a, "--keep-data")) {
            o.keep_data = 1;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_fail(2, "plot", "unknown option '%s' (see --help)", a);
        } else if (!kind) {
            kind = a;
        } else {
            in[n++] = a;
        }
    }
    if (rc == 0 && (!kind || n == 0 || !out))
        rc = cli_fail(2, "plot", "need a KIND, at least one INPUT and -o FILE (see --help)");
    gf_err err = {{0}};
    if (rc == 0 && plot_check(kind, n, out, &o, &err) != 0)
        rc = cli_fail(2, "plot", "%s (see --help)", err.msg);
    if (rc == 0 && plot_figure(kind, in, n, out, &o, &err) != 0)
        rc = cli_fail(1, "plot", "%s", err.msg);
    if (rc == 0)
        printf("%s written%s\n", out, o.keep_data ? " (with its .dat and .gp)" : "");
    free(in);
    return rc;
}
