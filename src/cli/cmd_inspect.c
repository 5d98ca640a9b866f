/* cmd_inspect.c — `gradflow inspect FILE.h5`: what a gradflow file holds.
 * Run files are opened for SWMR reading, so a live run and a killed run's
 * file open without h5clear. Foreign or corrupt files are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gradflow/h5io.h"
#include "gradflow/record.h"

static const char help[] =
    "usage: gradflow inspect FILE.h5...\n"
    "Summarises a gradflow run file (gradflow train --record), weights or checkpoint\n"
    "file, or PyTorch reference case: model, steps recorded, last loss, what it holds,\n"
    "whether it was closed cleanly. Refuses foreign or corrupt files with exit status 1.\n";

/* Last element of a 1-D series, NaN when empty or unreadable. */
static double last_value(hid_t f, const char *dset, long *rows)
{
    float *v = NULL;
    size_t n = 0, dims[8];
    int nd;
    double out = NAN;
    *rows = 0;
    if (gf_h5_read_floats(f, "", dset, &v, &n, &nd, dims, NULL) == 0 && nd == 1 && n > 0)
        out = v[n - 1], *rows = (long)n;
    free(v);
    return out;
}

/* Element i of a 1-D series, NaN when absent. */
static double value_at(hid_t f, const char *dset, long i)
{
    float *v = NULL;
    size_t count = 0, dims[8];
    int nd;
    double out = NAN;
    if (i >= 0 && gf_h5_read_floats(f, "", dset, &v, &count, &nd, dims, NULL) == 0 &&
        (size_t)i < count)
        out = v[i];
    free(v);
    return out;
}

static int inspect_run(hid_t f, const char *path)
{
    char model[64] = "?", data[256] = "?", start[64] = "?";
    gf_err err;
    if (gf_h5_attr_string(f, path, "/", "model", model, sizeof model, &err) ||
        gf_h5_attr_string(f, path, "/", "data", data, sizeof data, &err) ||
        gf_h5_attr_string(f, path, "/", "start_time", start, sizeof start, &err))
        return cli_fail(1, "inspect", "%s", err.msg);
    long rows, erows, crow, frow;
    double clean = last_value(f, "status/clean_close", &crow);
    double flushed = last_value(f, "status/rows_flushed", &frow);
    rows = isnan(flushed) ? 0 : (long)flushed; /* rows every series holds */
    double step = value_at(f, "step", rows - 1), loss = value_at(f, "train/loss", rows - 1);
    double test_err = last_value(f, "epochs/test_error", &erows);
    if (isnan(clean))
        return cli_fail(1, "inspect", "%s: run file lacks status/clean_close (corrupt?)", path);
    printf("%s: gradflow run file\n  model %s, data %s, started %s\n", path, model, data, start);
    printf("  %ld steps recorded", rows);
    if (rows)
        printf(", last step %.0f, last loss %.4f", step, loss);
    printf("\n  %ld epoch evaluations", erows);
    if (erows && !isnan(test_err))
        printf(", last test error %.2f%%", 100 * test_err);
    printf("\n  holds: layers/* blocks/* params/* responses/* train/* epochs/* model/*\n");
    /* the last step done: the last recorded row's, or the last evaluation's
     * when --record-every left the final steps unrecorded */
    long ev_rows, planned = gf_record_planned_steps(f, path), last = rows ? (long)step : 0;
    double ev_step = last_value(f, "epochs/step", &ev_rows);
    if (ev_rows && ev_step > (double)last)
        last = (long)ev_step;
    if (clean == 1 && planned > 0 && last < planned)
        printf("  stopped at step %ld of %ld, closed cleanly\n", last, planned);
    else
        printf("  %s\n", clean == 1 ? "closed cleanly"
                                    : "not closed cleanly: still training, or killed (every "
                                      "flushed row is readable)");
    return 0;
}

static int inspect_weights(hid_t f, const char *path, const char *kind)
{
    char model[64] = "?";
    gf_err err;
    char **names;
    int count;
    if (gf_h5_attr_string(f, path, "/", "model", model, sizeof model, &err) ||
        gf_h5_list(f, path, "params", &names, &count, &err))
        return cli_fail(1, "inspect", "%s", err.msg);
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        char dset[160];
        float *v = NULL;
        size_t n = 0, dims[8];
        int nd;
        snprintf(dset, sizeof dset, "params/%s", names[i]);
        if (gf_h5_read_floats(f, path, dset, &v, &n, &nd, dims, &err) == 0)
            total += strstr(names[i], "running_") ? 0 : n;
        free(v);
    }
    gf_h5_names_free(names, count);
    printf("%s: %s\n  model %s, %d tensors, %zu trainable values\n", path, kind, model, count,
           total);
    return 0;
}

static int inspect_one(const char *path)
{
    gf_err err;
    hid_t f = gf_h5_open_read(path, 1, &err);
    if (f < 0)
        f = gf_h5_open_read(path, 0, &err); /* non-SWMR files (older format bounds) */
    if (f < 0)
        return cli_fail(1, "inspect", "%s", err.msg);
    char kind[64] = "";
    int rc;
    if (gf_h5_attr_string(f, path, "/", "schema", kind, sizeof kind, NULL) == 0 &&
        strcmp(kind, "gradflow-run") == 0)
        rc = inspect_run(f, path);
    else if (gf_h5_attr_string(f, path, "/", "format", kind, sizeof kind, NULL) == 0 &&
             (strcmp(kind, "gradflow-weights-1") == 0 ||
              strcmp(kind, "gradflow-checkpoint-1") == 0 ||
              strcmp(kind, "gradflow-reference-1") == 0))
        rc = inspect_weights(f, path, strcmp(kind, "gradflow-weights-1") == 0 ? "weights (state dict)"
                                      : strcmp(kind, "gradflow-checkpoint-1") == 0
                                          ? "training checkpoint"
                                          : "PyTorch reference case");
    else
        rc = cli_fail(1, "inspect", "%s: not a gradflow file (no gradflow schema or format "
                                    "attribute%s%s)", path, kind[0] ? "; found " : "", kind);
    H5Fclose(f);
    return rc;
}

int cmd_inspect(int argc, char **argv)
{
    if (argc < 2)
        return cli_fail(2, "inspect", "no file given (see --help)");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (argv[i][0] == '-')
            return cli_fail(2, "inspect", "unknown option '%s' (see --help)", argv[i]);
    }
    for (int i = 1; i < argc; i++)
        rc |= inspect_one(argv[i]);
    return rc;
}
