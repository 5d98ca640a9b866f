/* test_analysis.c — `gradflow report`, `depth` and `compare` on real run
 * files made by the CLI: each command's numbers are checked against values
 * this file computes itself from the run file's datasets (shares, ratios,
 * final and best errors), on a finished and on a SIGKILLed run; foreign and
 * truncated files give one line and exit 1, bad flags exit 2. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/h5io.h"
#include "suites.h"

#define DATA "synthetic:N=64,C=1,H=8,W=8,K=4,TEST=32"

static char dir[512], plain[600], resnet[600];

/* Runs `gradflow ARGS`; returns the exit status and what it printed
 * (stdout and stderr together, or only stderr when err_only). */
static int run_cli(const char *args, char *out, size_t size, int err_only)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s %s", GF_EXE, args, err_only ? "2>&1 >/dev/null" : "2>&1");
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---------------------------------------------------------- run-file reads */

/* A whole dataset as floats (SWMR: works on killed runs too); NULL on error. */
static float *h5_read(const char *path, const char *dset, size_t *n, size_t dims[8])
{
    gf_err err;
    hid_t f = gf_h5_open_read(path, 1, &err);
    float *v = NULL;
    int nd;
    if (f >= 0 && gf_h5_read_floats(f, path, dset, &v, n, &nd, dims, &err))
        v = NULL;
    if (f >= 0)
        H5Fclose(f);
    return v;
}

static long rows_flushed(const char *path)
{
    size_t n = 0, dims[8];
    float *v = h5_read(path, "status/rows_flushed", &n, dims);
    long rows = v && n ? (long)v[0] : -1;
    free(v);
    return rows;
}

/* ------------------------------------------------------------ CSV reading */

typedef struct csv {
    char *buf;
    char **cell; /* rows × cols, row 0 the header */
    int rows, cols;
} csv;

static int csv_load(csv *c, const char *path)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    c->buf = calloc((size_t)size + 1, 1);
    size_t got = c->buf ? fread(c->buf, 1, (size_t)size, f) : 0;
    fclose(f);
    int lines = count_lines(c->buf ? c->buf : "");
    for (char *p = c->buf; p && *p && *p != '\n'; p++)
        c->cols += *p == ',';
    c->cols++;
    c->cell = calloc((size_t)lines * c->cols + 1, sizeof *c->cell);
    if (!c->buf || !c->cell || got != (size_t)size)
        return -1;
    /* no quoted fields in these tables: names hold no commas */
    int k = 0;
    for (char *p = c->buf, *start = p; *p; p++)
        if (*p == ',' || *p == '\n') {
            int eol = *p == '\n';
            *p = '\0';
            if (k < lines * c->cols)
                c->cell[k++] = start;
            start = p + 1;
            if (eol)
                c->rows++;
        }
    return k == c->rows * c->cols ? 0 : -1;
}

static void csv_free(csv *c)
{
    free(c->buf);
    free(c->cell);
}

static const char *csv_str(const csv *c, int row, const char *col)
{
    for (int j = 0; j < c->cols; j++)
        if (strcmp(c->cell[j], col) == 0)
            return c->cell[row * c->cols + j];
    return NULL;
}

static double csv_num(const csv *c, int row, const char *col)
{
    const char *s = csv_str(c, row, col);
    return s && *s ? strtod(s, NULL) : NAN;
}

/* Loads dir/name into c and checks it has at least min_rows data rows. */
static int csv_open(csv *c, const char *d, const char *name, int min_rows)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", d, name);
    int rc = csv_load(c, path);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(c->rows - 1 >= min_rows);
    return rc == 0 && c->rows - 1 >= min_rows ? 0 : -1;
}

static int rel_eq(double a, double b) { return fabs(a - b) <= 1e-6 * fmax(fabs(a), fabs(b)) + 1e-12; }

/* --------------------------------------------------------------- fixtures */

static int train(const char *model, const char *path)
{
    char args[1200], out[8192];
    snprintf(args, sizeof args, "train --model %s --data " DATA " --epochs 2 --batch 16 "
             "--threads 1 --record %s", model, path);
    return run_cli(args, out, sizeof out, 0);
}

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "%s/analysis", test_tmpdir());
    snprintf(plain, sizeof plain, "%s/runs/plain8.h5", dir);
    snprintf(resnet, sizeof resnet, "%s/runs/resnet8.h5", dir);
    char runs[600];
    snprintf(runs, sizeof runs, "%s/runs", dir);
    if (mkdir(dir, 0777) || mkdir(runs, 0777))
        return -1;
    return train("plain-8", plain) || train("resnet-8", resnet) ? -1 : 0;
}

/* ------------------------------------------------------------------ report */

/* Index of the first layer of kind in the run's layer table, or -1; read
 * with a UTF-8 memory type (the file's), independently of gradflow. */
static int first_of_kind(const char *path, const char *kind, int *n_layers)
{
    gf_err err;
    hid_t f = gf_h5_open_read(path, 1, &err);
    hid_t d = f >= 0 ? H5Dopen2(f, "model/layers/kind", H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1, mt = H5Tcopy(H5T_C_S1);
    hsize_t n = 0;
    int found = -1;
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    if (sp >= 0 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1) {
        char **v = calloc(n + 1, sizeof *v);
        if (v && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
            for (hsize_t i = 0; i < n && found < 0; i++)
                found = v[i] && strcmp(v[i], kind) == 0 ? (int)i : -1;
        for (hsize_t i = 0; v && i < n; i++)
            H5free_memory(v[i]);
        free(v);
    }
    H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    *n_layers = (int)n;
    return found;
}

/* grad_ratio.csv: one row per recorded step, ratio = first conv / last layer. */
static void check_ratio_csv(const char *run, const char *out)
{
    size_t n, dims[8], ns;
    int nl, first = first_of_kind(run, "conv", &nl);
    float *g = h5_read(run, "layers/grad_norm", &n, dims), *step = h5_read(run, "step", &ns, dims);
    /* A run killed mid-flush may hold a partial row past status/rows_flushed,
     * the documented count of valid rows (docs/run-file.md); the report uses
     * exactly those. */
    size_t nf;
    float *flushed = h5_read(run, "status/rows_flushed", &nf, dims);
    if (flushed && nf == 1) {
        CU_ASSERT((size_t)flushed[0] <= ns);
        ns = (size_t)flushed[0];
    }
    free(flushed);
    csv c;
    if (g && step && first >= 0 && csv_open(&c, out, "grad_ratio.csv", 1) == 0) {
        CU_ASSERT_EQUAL((size_t)(c.rows - 1), ns);
        for (int i = 1; i < c.rows && (size_t)i <= ns; i++) {
            const float *row = g + (size_t)(i - 1) * nl;
            CU_ASSERT(rel_eq(csv_num(&c, i, "ratio"), (double)row[first] / row[nl - 1]));
            CU_ASSERT_EQUAL(csv_num(&c, i, "step"), step[i - 1]);
        }
        csv_free(&c);
    } else {
        CU_FAIL("run file or grad_ratio.csv unreadable");
    }
    free(g), free(step);
}

/* blocks.csv: identity share and cosine at init (row 0) and end (last row). */
static void check_blocks_csv(const char *run, const char *out)
{
    size_t n, dims[8];
    float *id = h5_read(run, "blocks/identity_norm", &n, dims);
    float *br = h5_read(run, "blocks/branch_norm", &n, dims);
    float *cs = h5_read(run, "blocks/cosine", &n, dims);
    csv c;
    if (id && br && cs && csv_open(&c, out, "blocks.csv", 1) == 0) {
        size_t rows = dims[0], nb = dims[1];
        CU_ASSERT_EQUAL((size_t)(c.rows - 1), nb);
        for (size_t b = 0; b < nb && b + 1 < (size_t)c.rows; b++) {
            size_t i0 = b, i1 = (rows - 1) * nb + b;
            CU_ASSERT(rel_eq(csv_num(&c, (int)b + 1, "init_identity_share"),
                             (double)id[i0] / ((double)id[i0] + br[i0])));
            CU_ASSERT(rel_eq(csv_num(&c, (int)b + 1, "end_identity_share"),
                             (double)id[i1] / ((double)id[i1] + br[i1])));
            CU_ASSERT(rel_eq(csv_num(&c, (int)b + 1, "end_cosine"), cs[i1]));
        }
        csv_free(&c);
    } else {
        CU_FAIL("run file or blocks.csv unreadable");
    }
    free(id), free(br), free(cs);
}

/* epochs.csv and train_curve.csv against epochs/ * and train/loss. */
static void check_curves_csv(const char *run, const char *out)
{
    size_t ne, nl, dims[8];
    float *te = h5_read(run, "epochs/train_error", &ne, dims);
    float *loss = h5_read(run, "train/loss", &nl, dims);
    csv e, t;
    if (te && loss && csv_open(&e, out, "epochs.csv", 1) == 0 &&
        csv_open(&t, out, "train_curve.csv", 1) == 0) {
        CU_ASSERT_EQUAL((size_t)(e.rows - 1), ne);
        CU_ASSERT(rel_eq(csv_num(&e, e.rows - 1, "train_error"), te[ne - 1]));
        CU_ASSERT_EQUAL((size_t)(t.rows - 1), nl);
        CU_ASSERT(rel_eq(csv_num(&t, t.rows - 1, "loss"), loss[nl - 1]));
        csv_free(&e), csv_free(&t);
    } else {
        CU_FAIL("run file, epochs.csv or train_curve.csv unreadable");
    }
    free(te), free(loss);
}

static int file_has(const char *d, const char *name, const char *needle)
{
    char path[1200], *buf = malloc(1 << 22);
    snprintf(path, sizeof path, "%s/%s", d, name);
    FILE *f = buf ? fopen(path, "r") : NULL;
    size_t n = f ? fread(buf, 1, (1 << 22) - 1, f) : 0;
    int found = 0;
    if (f) {
        buf[n] = '\0';
        found = strstr(buf, needle) != NULL;
        fclose(f);
    }
    free(buf);
    return found;
}

static void test_report_numbers_match_run_file(void)
{
    char out[600], args[1400], text[8192];
    snprintf(out, sizeof out, "%s/resnet8-report", dir);
    snprintf(args, sizeof args, "report %s -o %s --steps 4", resnet, out);
    CU_ASSERT_EQUAL_FATAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, out));
    check_ratio_csv(resnet, out);
    check_blocks_csv(resnet, out);
    check_curves_csv(resnet, out);
    csv c;
    int nl;
    first_of_kind(resnet, "conv", &nl);
    if (csv_open(&c, out, "layers.csv", 3 * nl) == 0) { /* init, step 4, end */
        CU_ASSERT_STRING_EQUAL(csv_str(&c, 1, "at"), "init");
        CU_ASSERT_EQUAL(csv_num(&c, nl + 1, "step"), 4);
        CU_ASSERT_STRING_EQUAL(csv_str(&c, c.rows - 1, "at"), "end");
        csv_free(&c);
    }
    if (csv_open(&c, out, "flags.csv", 3) == 0) {
        CU_ASSERT_STRING_EQUAL(csv_str(&c, 3, "flag"), "non-finite");
        CU_ASSERT_STRING_EQUAL(csv_str(&c, 3, "raised"), "no");
        csv_free(&c);
    }
    CU_ASSERT(file_has(out, "params.csv", "linear.weight,"));
    CU_ASSERT(file_has(out, "dead_relu.csv", "layer1.0.relu1,layer1.0,"));
    CU_ASSERT(file_has(out, "report.md", "## Identity vs branch per block"));
    CU_ASSERT(file_has(out, "report.md", "finished (status/clean_close 1)"));
    CU_ASSERT(file_has(out, "report.md", "| layer1.0 | resnet |"));
    CU_ASSERT(file_has(out, "report.html", "<!DOCTYPE html>"));
    CU_ASSERT(file_has(out, "report.html", "<style>"));
    CU_ASSERT(file_has(out, "report.html", "<section id=\"figures\">"));
    CU_ASSERT(!file_has(out, "report.html", "<link"));
    /* default directory: the run's basename + -report, in the working dir */
    snprintf(args, sizeof args, "cd %s && %s report %s >/dev/null 2>&1 && test -f "
             "plain8-report/report.html", dir, GF_EXE, plain);
    CU_ASSERT_EQUAL(system(args), 0);
}

/* ------------------------------------------------------------- depth, compare */

static void write_foreign_h5(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f >= 0) {
        gf_h5_set_attr_string(f, "format", "not-a-run");
        H5Fclose(f);
    }
}

/* Last value and minimum of a 1-D dataset. */
static void last_min(const char *run, const char *dset, double *last, double *min)
{
    size_t n, dims[8];
    float *v = h5_read(run, dset, &n, dims);
    *last = v && n ? v[n - 1] : NAN, *min = INFINITY;
    for (size_t i = 0; v && i < n; i++)
        *min = v[i] < *min ? v[i] : *min;
    free(v);
}

static void test_depth_table_matches_epochs(void)
{
    char runs[600], args[1400], text[8192], foreign[700];
    snprintf(runs, sizeof runs, "%s/runs", dir);
    snprintf(foreign, sizeof foreign, "%s/weights.h5", runs);
    write_foreign_h5(foreign);
    snprintf(args, sizeof args, "depth %s -o %s/depth", runs, dir);
    CU_ASSERT_EQUAL_FATAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "skipping"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "weights.h5"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "plain-8"));
    csv c;
    if (csv_open(&c, dir, "depth.csv", 2) != 0)
        return;
    CU_ASSERT_EQUAL(c.rows - 1, 2);
    CU_ASSERT_STRING_EQUAL(csv_str(&c, 1, "family"), "plain"); /* sorted by family */
    CU_ASSERT_STRING_EQUAL(csv_str(&c, 2, "family"), "resnet");
    const char *run[2] = {plain, resnet};
    for (int k = 0; k < 2; k++) {
        double last, best, t_last, t_best, step, time, epoch, unused;
        last_min(run[k], "epochs/epoch", &epoch, &unused);
        last_min(run[k], "epochs/train_error", &last, &best);
        last_min(run[k], "epochs/test_error", &t_last, &t_best);
        last_min(run[k], "step", &step, &unused);
        last_min(run[k], "time", &time, &unused);
        CU_ASSERT(rel_eq(csv_num(&c, k + 1, "final_train_error"), last));
        CU_ASSERT(rel_eq(csv_num(&c, k + 1, "best_train_error"), best));
        /* the end of training: train/error averaged over the last tenth of the rows */
        size_t n = 0, dims[8];
        float *e = h5_read(run[k], "train/error", &n, dims);
        size_t tail = n / 10 > 0 ? n / 10 : 1;
        double end = 0;
        for (size_t i = n - tail; e && i < n; i++)
            end += e[i];
        CU_ASSERT(e && n > 0 && rel_eq(csv_num(&c, k + 1, "end_train_error"), end / tail));
        free(e);
        CU_ASSERT(rel_eq(csv_num(&c, k + 1, "final_test_error"), t_last));
        CU_ASSERT(rel_eq(csv_num(&c, k + 1, "best_test_error"), t_best));
        CU_ASSERT_EQUAL(csv_num(&c, k + 1, "steps"), step);
        CU_ASSERT_EQUAL(csv_num(&c, k + 1, "epochs"), epoch); /* the last epoch reached */
        CU_ASSERT(rel_eq(csv_num(&c, k + 1, "wall_s"), time));
        CU_ASSERT_EQUAL(csv_num(&c, k + 1, "depth"), 8);
    }
    csv_free(&c);
    CU_ASSERT(file_has(dir, "depth.md", "| plain | 8 | plain-8 |"));
    remove(foreign);
}

/* A run closed cleanly before the end of its schedule (Ctrl-C, SIGTERM) is
 * "stopped", not "finished", in depth and inspect, and the depth trend leaves
 * it out. Made here by raising a finished run's planned epochs by one. */
static void test_stopped_run_is_not_finished(void)
{
    char copy[700], args[1500], text[8192];
    snprintf(copy, sizeof copy, "%s/stopped.h5", dir);
    snprintf(args, sizeof args, "cp %s %s", plain, copy);
    CU_ASSERT_EQUAL_FATAL(system(args), 0);
    hid_t f = H5Fopen(copy, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = f >= 0 ? H5Aopen(f, "epochs", H5P_DEFAULT) : -1;
    long epochs = 0;
    CU_ASSERT_FATAL(a >= 0 && H5Aread(a, H5T_NATIVE_LONG, &epochs) >= 0 && epochs > 0);
    epochs += 1;
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_LONG, &epochs) >= 0);
    H5Aclose(a), H5Fclose(f);
    snprintf(args, sizeof args, "depth %s %s", plain, copy);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "finished"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "stopped"));
    snprintf(args, sizeof args, "inspect %s", copy);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "stopped at step"));
    CU_ASSERT_PTR_NULL(strstr(text, "finished"));
    remove(copy);
    /* a finished run whose last steps --record-every left unrecorded (10
     * steps, rows at 1, 5, 9) ends at its last evaluation: not stopped */
    snprintf(args, sizeof args, "train --model plain-8 --data " DATA " --steps 10 --batch 16 "
             "--threads 1 --record-every 4 --record %s", copy);
    CU_ASSERT_EQUAL_FATAL(run_cli(args, text, sizeof text, 0), 0);
    snprintf(args, sizeof args, "inspect %s", copy);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NULL(strstr(text, "stopped at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "last step 9"));
    snprintf(args, sizeof args, "depth %s", copy);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "finished"));
    remove(copy);
}

static void test_compare_matches_run_files(void)
{
    char csvp[700], args[2000], text[65536];
    snprintf(csvp, sizeof csvp, "%s/compare.csv", dir);
    snprintf(args, sizeof args, "compare %s %s --step 5 --csv %s", plain, resnet, csvp);
    CU_ASSERT_EQUAL_FATAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "at step 5 "));
    size_t n, dims[8];
    int nl, first = first_of_kind(resnet, "conv", &nl);
    float *g = h5_read(resnet, "layers/grad_norm", &n, dims);
    float *id = h5_read(resnet, "blocks/identity_norm", &n, dims);
    float *br = h5_read(resnet, "blocks/branch_norm", &n, dims);
    csv c;
    if (g && id && br && csv_open(&c, dir, "compare.csv", 3) == 0) {
        size_t nb = dims[1], row = 4; /* step 5 is row 4: every step recorded */
        CU_ASSERT_STRING_EQUAL(csv_str(&c, 1, "section"), "ratio");
        CU_ASSERT(rel_eq(csv_num(&c, 1, "b_grad_norm"),
                         (double)g[row * nl + first] / g[row * nl + nl - 1]));
        int blocks = 0;
        for (int i = 1; i < c.rows; i++) {
            if (strcmp(csv_str(&c, i, "section"), "block") != 0)
                continue;
            size_t b = (size_t)csv_num(&c, i, "index"), k = row * nb + b;
            CU_ASSERT(rel_eq(csv_num(&c, i, "b_identity_share"),
                             (double)id[k] / ((double)id[k] + br[k])));
            CU_ASSERT(isnan(csv_num(&c, i, "a_identity_share"))); /* plain: no identity */
            blocks++;
        }
        CU_ASSERT_EQUAL((size_t)blocks, nb);
        csv_free(&c);
    } else {
        CU_FAIL("run file or compare.csv unreadable");
    }
    free(g), free(id), free(br);
}

/* ------------------------------------------------------------ killed run */

/* Starts a long recorded training, waits (SWMR polling) until 4 rows are on
 * disk, then SIGKILLs it: the file is left as a crash leaves it. */
static int make_killed_run(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(99);
        execl(GF_EXE, GF_EXE, "train", "--model", "plain-8", "--data",
              "synthetic:N=512,C=1,H=8,W=8,K=4", "--epochs", "1000", "--batch", "16",
              "--threads", "1", "--record", path, "--flush-every", "2", (char *)NULL);
        _exit(98);
    }
    if (pid < 0)
        return -1;
    for (int i = 0; i < 600 && rows_flushed(path) < 4; i++)
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && rows_flushed(path) >= 4 ? 0 : -1;
}

static void test_killed_run_works_everywhere(void)
{
    char killed[700], out[700], args[2000], text[65536];
    snprintf(killed, sizeof killed, "%s/killed.h5", dir);
    snprintf(out, sizeof out, "%s/killed-report", dir);
    CU_ASSERT_EQUAL_FATAL(make_killed_run(killed), 0);
    size_t n, dims[8];
    float *clean = h5_read(killed, "status/clean_close", &n, dims);
    CU_ASSERT(clean && clean[0] == 0);
    free(clean);
    long rows = rows_flushed(killed);
    snprintf(args, sizeof args, "report %s -o %s", killed, out);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT(file_has(out, "report.md", "not closed cleanly (status/clean_close 0)"));
    csv c;
    if (csv_open(&c, out, "train_curve.csv", 4) == 0) {
        CU_ASSERT_EQUAL(c.rows - 1, rows); /* every flushed row, no more */
        csv_free(&c);
    }
    check_ratio_csv(killed, out);
    snprintf(args, sizeof args, "depth %s %s", killed, plain);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "unfinished"));
    snprintf(args, sizeof args, "compare %s %s", killed, plain);
    CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
}

/* --------------------------------------------------------------- refusals */

static void test_foreign_and_truncated_files_exit_1(void)
{
    char foreign[700], trunc[700], args[2000], text[8192];
    snprintf(foreign, sizeof foreign, "%s/foreign.h5", dir);
    snprintf(trunc, sizeof trunc, "%s/truncated.h5", dir);
    write_foreign_h5(foreign);
    struct stat st;
    CU_ASSERT_FATAL(stat(plain, &st) == 0);
    snprintf(args, sizeof args, "head -c %ld %s > %s", (long)st.st_size / 2, plain, trunc);
    CU_ASSERT_FATAL(system(args) == 0);
    const char *bad[2] = {foreign, trunc};
    for (int k = 0; k < 2; k++) {
        const char *fmt[] = {"report %s -o %s/never", "depth %s", "compare %s %s",
                             "compare %s %s"};
        for (int c = 0; c < 4; c++) {
            snprintf(args, sizeof args, fmt[c], c == 3 ? plain : bad[k], c == 3 ? bad[k]
                     : c == 0 ? dir : plain);
            CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 1);
            CU_ASSERT_EQUAL(count_lines(text), 1);
            CU_ASSERT_PTR_NOT_NULL(strstr(text, bad[k]));
        }
    }
    snprintf(args, sizeof args, "%s/never", dir);
    CU_ASSERT(stat(args, &st) != 0); /* nothing written for a refused run */
}

static void test_usage_errors_exit_2(void)
{
    char args[2000], text[8192];
    const char *cases[] = {"report", "report %s --frobnicate", "report %s --steps 1,x",
                           "report %s -o", "report %s %s", "depth", "depth --frobnicate %s",
                           "depth %s -o", "compare %s", "compare %s %s --step -1",
                           "compare %s %s %s", "compare %s %s --csv"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args, cases[i], plain, plain, plain);
        CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 1), 2);
        CU_ASSERT_EQUAL(count_lines(text), 1);
    }
    const char *help[][3] = {{"report --help", "--steps", "-o, --out DIR"},
                             {"depth --help", "-o, --out PREFIX", "DIR"},
                             {"compare --help", "--step S", "--csv FILE"}};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(run_cli(help[i][0], text, sizeof text, 0), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, help[i][1]));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, help[i][2]));
    }
}

/* Every command's --help exits 0 with its usage line, and shows text as a user
 * reads it: a "%%" there is a printf escape printed verbatim (train's said
 * "50%% and 75%%"). */
static void test_every_help_is_clean(void)
{
    static const char *commands[] = {"demo", "verify", "train", "inspect", "export",
                                     "paths", "report", "depth", "compare", "shatter",
                                     "plot", "sweep", "info"};
    char args[64], text[8192], usage[64];
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        snprintf(args, sizeof args, "%s --help", commands[i]);
        snprintf(usage, sizeof usage, "gradflow %s", commands[i]);
        CU_ASSERT_EQUAL(run_cli(args, text, sizeof text, 0), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, usage));
        CU_ASSERT_PTR_NULL(strstr(text, "%%"));
    }
}

int suite_analysis_register(void)
{
    CU_pSuite s = CU_add_suite("analysis", suite_init, NULL);
    if (!s ||
        !CU_add_test(s, "report numbers match the run file", test_report_numbers_match_run_file) ||
        !CU_add_test(s, "depth table matches the epoch series", test_depth_table_matches_epochs) ||
        !CU_add_test(s, "a stopped run is not finished", test_stopped_run_is_not_finished) ||
        !CU_add_test(s, "compare matches both run files", test_compare_matches_run_files) ||
        !CU_add_test(s, "a SIGKILLed run works in every command",
                     test_killed_run_works_everywhere) ||
        !CU_add_test(s, "foreign and truncated files exit 1 with one line",
                     test_foreign_and_truncated_files_exit_1) ||
        !CU_add_test(s, "usage errors exit 2; --help documents the flags",
                     test_usage_errors_exit_2) ||
        !CU_add_test(s, "every command's --help is clean", test_every_help_is_clean))
        return -1;
    return 0;
}
