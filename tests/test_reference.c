/* test_reference.c — every PyTorch reference case in GF_REFERENCE_DIR
 * (../shared/reference/FORMAT.md) passes gf_verify; files that are not valid
 * references are refused with a message naming the file; and the
 * `gradflow verify` command line (GF_EXE) exits 0, 1 or 2 as documented.
 * GF_REFERENCE_DIR is read-only: every damaged copy lives in test_tmpdir(). */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gradflow/verify.h"
#include "suites.h"

#ifndef GF_REFERENCE_DIR
#error "GF_REFERENCE_DIR must name the reference cases directory"
#endif
#ifndef GF_EXE
#error "GF_EXE must name the gradflow command-line binary"
#endif

#define TOL 1e-4 /* FORMAT.md: the bar per tensor */

/* ------------------------------------------------------------- helpers */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted paths of every *.h5 in GF_REFERENCE_DIR (caller frees each and
 * the array); 0 when the directory cannot be read. */
static int reference_files(char ***out)
{
    *out = NULL;
    DIR *d = opendir(GF_REFERENCE_DIR);
    if (!d)
        return 0;
    int n = 0, cap = 0;
    char **paths = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **p = realloc(paths, (size_t)cap * sizeof *p);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            paths = p;
        }
        size_t size = strlen(GF_REFERENCE_DIR) + len + 2;
        paths[n] = malloc(size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(paths[n]);
        snprintf(paths[n++], size, "%s/%s", GF_REFERENCE_DIR, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(paths, (size_t)n, sizeof *paths, cmp_str);
    *out = paths;
    return n;
}

static void free_files(char **paths, int n)
{
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

/* A reference file to damage: resnet8_A.h5 if present, else the first. */
static char *pick_reference(void)
{
    char **paths;
    int n = reference_files(&paths);
    CU_ASSERT_FATAL(n > 0);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strstr(paths[i], "/resnet8_A.h5"))
            k = i;
    char *p = strdup(paths[k]);
    free_files(paths, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* test_tmpdir()/name into buf. */
static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", test_tmpdir(), name);
    return buf;
}

/* Copies the first `keep` bytes of src (all when keep < 0) to dst. */
static void copy_file(const char *src, const char *dst, long keep)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    CU_ASSERT_FATAL(in != NULL && out != NULL);
    CU_ASSERT_FATAL(fseek(in, 0, SEEK_END) == 0);
    long size = ftell(in), left = keep < 0 || keep > size ? size : keep;
    rewind(in);
    char buf[1 << 16];
    while (left > 0) {
        size_t want = left < (long)sizeof buf ? (size_t)left : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        CU_ASSERT_FATAL(got == want && fwrite(buf, 1, got, out) == got);
        left -= (long)got;
    }
    fclose(in);
    CU_ASSERT_FATAL(fclose(out) == 0);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* A copy of the reference in test_tmpdir() with the links in `drop`
 * deleted (NULL-terminated) and, if format is non-NULL, the root attribute
 * `format` replaced by it. */
static void damaged_copy(const char *dst, const char *const *drop, const char *format)
{
    char *src = pick_reference();
    copy_file(src, dst, -1);
    free(src);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    for (int i = 0; drop && drop[i]; i++)
        CU_ASSERT(H5Ldelete(f, drop[i], H5P_DEFAULT) >= 0);
    if (format) {
        CU_ASSERT(H5Adelete(f, "format") >= 0);
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t a = H5Acreate2(f, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT(a >= 0 && H5Awrite(a, t, &format) >= 0);
        H5Aclose(a), H5Sclose(sp), H5Tclose(t);
    }
    CU_ASSERT(H5Fclose(f) >= 0);
}

/* gf_verify must refuse path: -1, and a one-line message naming the file. */
static void check_refused(const char *path, const char *also)
{
    gf_verify_result res;
    gf_err err = {{0}};
    int rc = gf_verify(path, TOL, NULL, NULL, &res, &err);
    printf("\n    %s", rc ? err.msg : "accepted");
    CU_ASSERT_EQUAL(rc, -1);
    if (rc != -1)
        return;
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
    if (also)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, also));
}

/* ---------------------------------------------------------- gf_verify */

typedef struct tally {
    int calls, above;
    double worst;
} tally;

static void count_report(void *user, const char *quantity, double rel_err)
{
    tally *t = user;
    (void)quantity;
    t->calls++;
    t->above += !(rel_err <= TOL);
    if (rel_err > t->worst)
        t->worst = rel_err;
}

static void test_every_reference_case_verifies(void)
{
    char **paths;
    int n = reference_files(&paths);
    if (n == 0)
        printf("\n    no *.h5 in %s", GF_REFERENCE_DIR);
    CU_ASSERT_FATAL(n > 0);
    for (int i = 0; i < n; i++) {
        gf_verify_result res;
        gf_err err = {{0}};
        tally t = {0};
        int rc = gf_verify(paths[i], TOL, count_report, &t, &res, &err);
        if (rc)
            printf("\n    %s", err.msg);
        else
            printf("\n    %-22s %d checked, %d failed, worst %.2e (%s)", res.model, res.checked,
                   res.failed, res.worst, res.worst_name);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(res.failed, 0);
        CU_ASSERT(res.checked > 100);
        CU_ASSERT_EQUAL(t.calls, res.checked);
        CU_ASSERT_EQUAL(t.above, res.failed);
        CU_ASSERT(res.worst <= TOL && t.worst == res.worst);
        CU_ASSERT(strlen(res.model) > 0);
    }
    free_files(paths, n);
}

static void test_verify_refuses_non_hdf5_file(void)
{
    char path[512];
    FILE *f = fopen(tmp_path(path, sizeof path, "not_hdf5.h5"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("format = gradflow-reference-1\nthis is text, not HDF5\n", f);
    fclose(f);
    check_refused(path, NULL);
}

static void test_verify_refuses_truncated_file(void)
{
    char path[512];
    char *src = pick_reference();
    copy_file(src, tmp_path(path, sizeof path, "truncated.h5"), file_size(src) / 2);
    CU_ASSERT_EQUAL(file_size(path), file_size(src) / 2);
    free(src);
    check_refused(path, NULL);
}

static void test_verify_refuses_wrong_format_attribute(void)
{
    char path[512];
    damaged_copy(tmp_path(path, sizeof path, "wrong_format.h5"), NULL, "gradflow-reference-9");
    check_refused(path, "format");
}

static void test_verify_refuses_missing_file(void)
{
    char path[512];
    check_refused(tmp_path(path, sizeof path, "no_such_file.h5"), NULL);
}

/* Datasets gf_verify reads by the model's own tensor list. */
static void test_verify_refuses_missing_input_or_parameter(void)
{
    static const char *const drop_param[] = {"params/linear.bias", NULL};
    static const char *const drop_input[] = {"input", NULL};
    char path[512];
    damaged_copy(tmp_path(path, sizeof path, "no_param.h5"), drop_param, NULL);
    check_refused(path, "params/linear.bias");
    damaged_copy(tmp_path(path, sizeof path, "no_input.h5"), drop_input, NULL);
    check_refused(path, "input");
}

/* A reference missing an expected result is not a valid reference either
 * (verify.h): dropping a gradient, a module output or a step's parameters
 * must not just shrink the number of comparisons. */
static void test_verify_refuses_missing_result_dataset(void)
{
    static const struct {
        const char *file, *dset;
    } cases[] = {
        {"no_grad.h5", "backward/grad/linear.bias"},
        {"no_act.h5", "forward/act/layer1.0.conv1"},
        {"no_act_grad.h5", "backward/act_grad/linear"},
        {"no_step2.h5", "step2/params/linear.weight"},
        {"no_paths.h5", "paths/grad_by_length"}, /* a residual family: FORMAT.md has it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *drop[] = {cases[i].dset, NULL};
        char path[512];
        damaged_copy(tmp_path(path, sizeof path, cases[i].file), drop, NULL);
        check_refused(path, cases[i].dset);
    }
}

/* ---------------------------------------------------- the command line */

typedef struct cli_run {
    int status; /* exit status, or -1 if the command did not exit normally */
    char out[8192], err[4096];
} cli_run;

static void slurp(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `GF_EXE args` with stdout and stderr captured in test_tmpdir(). */
static void run_cli(const char *args, cli_run *r)
{
    char out[512], err[512], cmd[2048];
    tmp_path(out, sizeof out, "cli.out");
    tmp_path(err, sizeof err, "cli.err");
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", GF_EXE, args, out, err);
    int st = system(cmd);
    r->status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_cli_verify_reference_exits_0(void)
{
    char *ref = pick_reference(), args[1024];
    cli_run r;
    snprintf(args, sizeof args, "verify --quiet '%s'", ref);
    run_cli(args, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, ref));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, " 0 above"));
    CU_ASSERT_EQUAL(r.err[0], '\0');
    free(ref);
}

/* Each invalid file: exit 1 and exactly one line on stderr naming it. */
static void test_cli_verify_bad_file_exits_1_with_one_line(void)
{
    static const char *const drop_param[] = {"params/layer1.0.conv1.weight", NULL};
    char bad[4][512], args[2100];
    FILE *f = fopen(tmp_path(bad[0], sizeof bad[0], "cli_text.h5"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("not HDF5\n", f);
    fclose(f);
    char *src = pick_reference();
    copy_file(src, tmp_path(bad[1], sizeof bad[1], "cli_truncated.h5"), file_size(src) / 2);
    free(src);
    damaged_copy(tmp_path(bad[2], sizeof bad[2], "cli_no_param.h5"), drop_param, NULL);
    tmp_path(bad[3], sizeof bad[3], "cli_missing.h5");
    for (int i = 0; i < 4; i++) {
        cli_run r;
        snprintf(args, sizeof args, "verify '%s'", bad[i]);
        run_cli(args, &r);
        printf("\n    exit %d: %s", r.status, r.err);
        CU_ASSERT_EQUAL(r.status, 1);
        CU_ASSERT_EQUAL(count_lines(r.err), 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, bad[i]));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "gradflow verify: "));
    }
}

/* One bad file among good ones fails the run, but the good one is still
 * checked and reported. */
static void test_cli_verify_mixed_files_exits_1(void)
{
    char *ref = pick_reference(), missing[512], args[2048];
    cli_run r;
    snprintf(args, sizeof args, "verify --quiet '%s' '%s'",
             tmp_path(missing, sizeof missing, "mixed_missing.h5"), ref);
    run_cli(args, &r);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, " 0 above"));
    CU_ASSERT_EQUAL(count_lines(r.err), 1);
    free(ref);
}

static void test_cli_verify_usage_errors_exit_2(void)
{
    cli_run r;
    run_cli("verify", &r);
    CU_ASSERT_EQUAL(r.status, 2);
    CU_ASSERT(count_lines(r.err) >= 1);
    run_cli("verify --tol -1 x.h5", &r);
    CU_ASSERT_EQUAL(r.status, 2);
    run_cli("verify --no-such-option x.h5", &r);
    CU_ASSERT_EQUAL(r.status, 2);
}

/* ---------------------------------------------------------------- suite */

int suite_reference_register(void)
{
    static const test_entry tests[] = {
        TEST_ENTRY(test_every_reference_case_verifies),
        TEST_ENTRY(test_verify_refuses_non_hdf5_file),
        TEST_ENTRY(test_verify_refuses_truncated_file),
        TEST_ENTRY(test_verify_refuses_wrong_format_attribute),
        TEST_ENTRY(test_verify_refuses_missing_file),
        TEST_ENTRY(test_verify_refuses_missing_input_or_parameter),
        TEST_ENTRY(test_verify_refuses_missing_result_dataset),
        TEST_ENTRY(test_cli_verify_reference_exits_0),
        TEST_ENTRY(test_cli_verify_bad_file_exits_1_with_one_line),
        TEST_ENTRY(test_cli_verify_mixed_files_exits_1),
        TEST_ENTRY(test_cli_verify_usage_errors_exit_2),
    };
    return test_register("reference", tests, sizeof tests / sizeof tests[0]);
}
