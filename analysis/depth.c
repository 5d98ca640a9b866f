/* depth.c — `gradflow depth RUN.h5... | DIR`: the depth-versus-error table
 * over a set of runs, the degradation problem as numbers (He et al. 2015,
 * Fig. 1 and Table 6: deeper plain nets reach a higher *training* error,
 * residual nets do not). Every number is read from the run files. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/cli/cli.h"
#include "runfile.h"

static const char help[] =
    "usage: gradflow depth RUN.h5...|DIR... [-o PREFIX]\n"
    "Depth-versus-error table over run files (gradflow train --record): family, depth,\n"
    "parameters, steps done, final and best training error (epochs/train_error: the mean\n"
    "over each epoch's mini-batches), the training error at the end of training (the mean\n"
    "of train/error over the last tenth of the recorded steps), final and best test error\n"
    "(epochs/test_error), wall time, and the status: finished (its whole schedule),\n"
    "stopped (closed cleanly before the end: Ctrl-C, SIGTERM) or unfinished (live or\n"
    "killed). Sorted by family, then depth. A directory stands for every *.h5 file in it;\n"
    "checkpoints and weights there are passed over, other files that are not readable run\n"
    "files are skipped with a note.\n"
    "A named file that is not a readable run file is an error. Live and killed runs count\n"
    "with the rows and epochs flushed so far. Below the table, one line per family says\n"
    "whether the training error at the end of its finished runs (mean over runs of the\n"
    "same depth) rises with depth: the degradation problem.\n"
    "  -o, --out PREFIX  also write PREFIX.md and PREFIX.csv (each whole: temporary name,\n"
    "                    then rename)\n"
    "  -h, --help        this text\n"
    "Exit 0 ok, 1 unreadable run, no runs or write failure, 2 usage.\n";

/* One run's row of the table: everything read up front, file closed. */
typedef struct depth_row {
    char path[1024], model[64], family[32];
    long depth, params, steps;
    int finished, closed, epochs; /* finished: the whole schedule; closed: cleanly */
    double final_train, best_train, end_train, final_test, best_test, wall;
} depth_row;

typedef struct depth_set {
    depth_row *row;
    int n, cap;
} depth_set;

/* Last value and minimum over the finite values of v[0..n) (NaN if none:
 * the negated test lets the first finite value replace the NaN start). */
static void last_and_best(const float *v, int n, double *last, double *best)
{
    *last = n > 0 ? v[n - 1] : NAN;
    *best = NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && !(v[i] >= *best))
            *best = v[i];
}

static int add_run(depth_set *s, const char *path, gf_err *err)
{
    rf_run r;
    if (rf_open(&r, path, err))
        return -1;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        depth_row *n = realloc(s->row, (size_t)cap * sizeof *n);
        if (!n) {
            rf_close(&r);
            return gf_err_set(err, "out of memory");
        }
        s->row = n, s->cap = cap;
    }
    depth_row *d = &s->row[s->n++];
    snprintf(d->path, sizeof d->path, "%s", path);
    snprintf(d->model, sizeof d->model, "%s", r.model);
    snprintf(d->family, sizeof d->family, "%s", r.family);
    d->depth = r.depth, d->params = r.num_params, d->closed = r.clean_close;
    d->finished = r.completed;
    /* Epochs reached: the last evaluation's epoch number, not the number of
     * evaluations (a clean stop mid-epoch, then a resume, evaluates twice). */
    d->epochs = r.epoch_rows ? (int)r.epoch[RF_EPOCH][r.epoch_rows - 1] : 0;
    /* Steps done: the last recorded step, or the last evaluation's step when
     * --record-every left the final steps unrecorded. */
    d->steps = r.last_step;
    d->wall = r.rows ? r.time[r.rows - 1] : NAN;
    last_and_best(r.epoch[RF_TRAIN_ERR], r.epoch_rows, &d->final_train, &d->best_train);
    d->end_train = rf_end_error(&r, NULL);
    last_and_best(r.epoch[RF_TEST_ERR], r.epoch_rows, &d->final_test, &d->best_test);
    rf_close(&r);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when path is a gradflow checkpoint or weights file: a sweep or a run
 * writes these beside its run files, so a directory of runs holds them and
 * skipping them needs no message. */
static int is_companion(const char *path)
{
    hid_t f = gf_h5_open_read(path, 0, NULL);
    char format[64] = "";
    if (f < 0)
        return 0;
    gf_h5_attr_string(f, path, "/", "format", format, sizeof format, NULL);
    H5Fclose(f);
    return !strncmp(format, "gradflow-checkpoint-", 20) ||
           !strncmp(format, "gradflow-weights-", 17);
}

/* Every *.h5 in dir, in name order; checkpoints and weights are passed over,
 * other files that are not run files are noted and skipped. */
static int add_dir(depth_set *s, const char *dir, gf_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return gf_err_set(err, "%s: cannot read directory", dir);
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
            continue;
        if (n == cap) {
            char **more = realloc(names, (size_t)(cap ? 2 * cap : 32) * sizeof *more);
            if (!more) {
                rc = gf_err_set(err, "out of memory");
                break;
            }
            names = more, cap = cap ? 2 * cap : 32;
        }
        if (!(names[n] = malloc(strlen(dir) + len + 2)))
            rc = gf_err_set(err, "out of memory");
        else
            sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; !rc && i < n; i++) {
        gf_err why;
        if (add_run(s, names[i], &why) && !is_companion(names[i]))
            fprintf(stderr, "gradflow depth: skipping %s\n", why.msg);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int cmp_row(const void *a, const void *b)
{
    const depth_row *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    if (c == 0)
        c = (x->depth > y->depth) - (x->depth < y->depth);
    return c ? c : strcmp(x->path, y->path);
}

static rf_table *depth_table(const depth_set *s)
{
    static const char *h[] = {"family", "depth", "model", "params", "steps", "epochs",
                              "final_train_error", "best_train_error", "end_train_error",
                              "final_test_error", "best_test_error", "wall_s", "status", "file"};
    rf_table *t = rf_table_new(14, h);
    for (int i = 0; i < s->n; i++) {
        const depth_row *d = &s->row[i];
        rf_table_str(t, d->family), rf_table_int(t, d->depth), rf_table_str(t, d->model);
        rf_table_int(t, d->params), rf_table_int(t, d->steps), rf_table_int(t, d->epochs);
        rf_table_pct(t, d->final_train), rf_table_pct(t, d->best_train);
        rf_table_pct(t, d->end_train);
        rf_table_pct(t, d->final_test), rf_table_pct(t, d->best_test);
        rf_table_num(t, d->wall);
        rf_table_str(t, d->finished ? "finished" : d->closed ? "stopped" : "unfinished");
        rf_table_str(t, d->path);
    }
    return t;
}

/* One line per family with finished runs at two or more depths: the training
 * error at the end of training by depth (mean over runs of the same depth),
 * and whether it rises with depth, as it does for plain nets (He et al. 2015). */
static void degradation_lines(const depth_set *s, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0, j; i < s->n && len < size; i = j) {
        long depth[64];
        double err[64];
        int nd = 0, cnt = 0, rises = 1;
        for (j = i; j < s->n && strcmp(s->row[j].family, s->row[i].family) == 0; j++) {
            const depth_row *d = &s->row[j];
            if (!d->finished || !isfinite(d->end_train))
                continue;
            if (nd == 0 || depth[nd - 1] != d->depth) {
                if (nd == 64)
                    continue;
                depth[nd] = d->depth, err[nd++] = 0, cnt = 0;
            }
            err[nd - 1] = (err[nd - 1] * cnt + d->end_train) / (cnt + 1), cnt++;
        }
        if (nd < 2)
            continue;
        len += (size_t)snprintf(buf + len, size - len, "%s%s: training error at the end",
                                len ? "\n" : "", s->row[i].family);
        for (int k = 0; k < nd && len < size; k++) {
            rises &= k == 0 || err[k] >= err[k - 1];
            len += (size_t)snprintf(buf + len, size - len, "%s %.2f%% (depth %ld)",
                                    k ? " ->" : "", 100 * err[k], depth[k]);
        }
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, ": %s with depth",
                                    rises ? "rises" : "does not rise");
    }
}

static int write_outputs(const char *prefix, const rf_table *t, const char *note, gf_err *err)
{
    char md[1024], csv[1024];
    rf_section sec = {.title = "Depth versus error", .shown = (rf_table *)t};
    rf_doc doc = {"gradflow depth", &sec, 1};
    snprintf(sec.text, sizeof sec.text, "%s", note);
    snprintf(md, sizeof md, "%s.md", prefix);
    snprintf(csv, sizeof csv, "%s.csv", prefix);
    if (rf_write_file(md, rf_doc_md, &doc, err) || rf_write_file(csv, rf_table_csv, t, err))
        return -1;
    printf("wrote %s and %s\n", md, csv);
    return 0;
}

static int run_depth(char **files, int n, const char *prefix)
{
    depth_set s = {0};
    gf_err err;
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        struct stat st;
        rc = stat(files[i], &st) == 0 && S_ISDIR(st.st_mode) ? add_dir(&s, files[i], &err)
                                                              : add_run(&s, files[i], &err);
    }
    if (!rc && s.n == 0)
        rc = gf_err_set(&err, "%s: no readable run files", files[0]);
    if (rc) {
        free(s.row);
        return cli_fail(1, "depth", "%s", err.msg);
    }
    qsort(s.row, (size_t)s.n, sizeof *s.row, cmp_row);
    rf_table *t = depth_table(&s);
    char note[2048];
    degradation_lines(&s, note, sizeof note);
    if (rf_table_write(t, stdout, RF_TEXT))
        rc = cli_fail(1, "depth", "out of memory building the table");
    else if (note[0])
        printf("\n%s\n", note);
    if (!rc && prefix && write_outputs(prefix, t, note, &err))
        rc = cli_fail(1, "depth", "%s", err.msg);
    rf_table_free(t);
    free(s.row);
    return rc;
}

int cmd_depth(int argc, char **argv)
{
    const char *prefix = NULL;
    char **files = malloc((size_t)argc * sizeof *files);
    int n = 0;
    if (!files)
        return cli_fail(1, "depth", "out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            free(files);
            return fputs(help, stdout), 0;
        }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (!(prefix = cli_value("depth", argc, argv, &i)))
                return free(files), 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(files);
            return cli_fail(2, "depth", "unknown option '%s' (see --help)", argv[i]);
        } else {
            files[n++] = argv[i];
        }
    }
    int rc = n ? run_depth(files, n, prefix)
               : cli_fail(2, "depth", "no run files or directory given (see --help)");
    free(files);
    return rc;
}
