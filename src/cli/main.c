/* main.c — git-style dispatch of `gradflow <command>`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "cli.h"
#include "gf_config.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"demo", cmd_demo, "the main job: plain vs residual nets, measured, with a report"},
    {"verify", cmd_verify, "check the network against PyTorch reference cases (FORMAT.md)"},
    {"train", cmd_train, "train a network (He et al. 2015 recipe) on real or synthetic data"},
    {"inspect", cmd_inspect, "summarise a run file, weights, checkpoint or reference case"},
    {"export", cmd_export, "write a checkpoint's weights as a PyTorch-style state dict"},
    {"paths", cmd_paths, "identity vs branch gradient, exact path-length decomposition"},
    {"report", cmd_report, "gradient-norm report of a run (Markdown, HTML, CSV)"},
    {"depth", cmd_depth, "depth-versus-error table over a set of runs"},
    {"compare", cmd_compare, "two runs side by side: per-layer gradients, block splits"},
    {"shatter", cmd_shatter, "input-gradient correlation across depth (shattered gradients)"},
    {"plot", cmd_plot, "draw figures with gnuplot (PNG, SVG, PDF)"},
    {"sweep", cmd_sweep, "train every (family, depth) pair, then tables and figures"},
    {"info", cmd_info, "describe a model: layers, shapes, parameter counts"},
};

int cli_fail(int status, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gradflow %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gradflow <command> [options]   (gradflow <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    /* We close every HDF5 object ourselves; HDF5's own atexit clean-up would
     * retry a close that failed (disk full) and crash in it. */
    H5dont_atexit();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gradflow %s (commit %s)\n", GF_VERSION, GF_GIT_COMMIT);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gradflow: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
