/* suites.h — every test file registers one CUnit suite through a function
 * declared here; runner.c calls them all. Test data comes from
 * ../shared/reference (GF_REFERENCE_DIR, read-only) and temporary
 * directories created by the tests themselves. */
#ifndef GRADFLOW_TEST_SUITES_H
#define GRADFLOW_TEST_SUITES_H

#include <CUnit/CUnit.h>
#include <hdf5.h>
#include <stddef.h>
#include <sys/types.h>

#include "gradflow/net.h"

int suite_kernels_register(void);
int suite_models_register(void);
int suite_reference_register(void);
int suite_data_register(void);
int suite_loader_register(void);
int suite_train_register(void);
int suite_record_register(void);
int suite_durability_register(void);
int suite_paths_register(void);
int suite_sweep_register(void);
int suite_analysis_register(void);
int suite_plots_register(void);
int suite_plan_register(void);
/* 1 when gnuplot is absent: the plots tests did not run (meson: skipped). */
int suite_plots_skipped(void);

/* A suite as a table: test_register(name, tests, n) adds suite name with
 * every {name, function} of tests; TEST_ENTRY(f) names a test after its
 * function. Returns 0, or -1 if CUnit refused. */
typedef struct test_entry {
    const char *name;
    CU_TestFunc fn;
} test_entry;
#define TEST_ENTRY(f) {#f, f}
int test_register(const char *suite, const test_entry *tests, size_t n);

/* Path to a fresh empty temporary directory (static storage, made once per
 * process and removed by the runner at exit). */
const char *test_tmpdir(void);

/* Helpers the suites share (testutil.c). test_fvec: n zeroed floats (the
 * test fails if allocation does); test_fcopy: a copy; test_bits_equal: the
 * same bits, for determinism checks. */
float *test_fvec(size_t n);
float *test_fcopy(const float *a, size_t n);
int test_bits_equal(const float *a, const float *b, size_t n);

/* A pass as the hooks saw it: most outs and douts live in buffers the net
 * reuses right after the hooks (gf_layer.out_persists, dout_persists), so
 * a test that reads them copies them there. out and dout hold every
 * layer's [B, out] at at[layer]; dx the hook's dL/d(in) [B, in] at
 * dx_at[layer] (zeros where it got NULL); block, at block_at[block],
 * identity_grad (zeros for plain blocks), branch_grad, input_grad [B, in]
 * each, then output_grad and the add's dout v (zeros without an add)
 * [B, out] each. Set p->hooks on the net, or call the three hook functions
 * from your own hooks with user = p. */
typedef struct test_pass {
    const gf_net *net;
    int B;
    size_t *at, *dx_at, *block_at;
    float *out, *dout, *dx, *block;
    size_t n, n_dx, n_block; /* floats in out (= in dout), dx, block */
    gf_hooks hooks;
} test_pass;
void test_pass_init(test_pass *p, const gf_net *net, int B);
void test_pass_free(test_pass *p);
int test_pass_forward(void *user, const gf_layer *l, int B, int training);
int test_pass_backward(void *user, const gf_layer *l, const float *dx, int B);
int test_pass_block(void *user, const gf_block *b, int B);

/* Data (test_data.c, test_loader.c). A failing call: -1, a one-line message
 * naming path and the problem, and the output left zeroed so that freeing it
 * is safe. */
#define CHECK_FAIL(rc, err, path, word)                                                      \
    do {                                                                                     \
        CU_ASSERT_EQUAL(rc, -1);                                                             \
        CU_ASSERT_PTR_NOT_NULL(strstr((err).msg, (path)));                                   \
        CU_ASSERT_PTR_NOT_NULL(strstr((err).msg, (word)));                                   \
        CU_ASSERT_PTR_NULL(strchr((err).msg, '\n'));                                         \
    } while (0)
#define CHECK_ZEROED(d)                                                                      \
    do {                                                                                     \
        CU_ASSERT_EQUAL((d).n, 0);                                                           \
        CU_ASSERT_PTR_NULL((d).images);                                                      \
        CU_ASSERT_PTR_NULL((d).labels);                                                      \
    } while (0)

/* Run files and the command line (test_record.c, test_durability.c).
 * test_dir: a fresh directory tmp/name for one test's files; returns its
 * path. now: monotonic seconds; sleep_ms: sleeps ms milliseconds. */
const char *test_dir(const char *name, char *buf, size_t size);
double now(void);
void sleep_ms(long ms);

/* A whole numeric dataset as doubles (malloc'ed), rows × cols (cols 1 when
 * 1-D); NULL if it is absent, not 1-D/2-D or unreadable. */
double *read_series(hid_t f, const char *name, size_t *rows, size_t *cols);
/* One value of a 1-element dataset, NaN if absent. */
double read_scalar(hid_t f, const char *name);

/* Every per-step series of the schema (docs/run-file.md), with its axis:
 * 0 scalar, 1 layers, 2 params, 3 blocks, 4 responses. */
typedef struct test_series {
    const char *path;
    int axis;
} test_series;
extern const test_series test_step_series[];
extern const int N_STEP_SERIES;
/* Row count shared by every per-step series, or -1 (with the lengths on
 * stderr) if they disagree or one is missing. */
long common_rows(hid_t f);

typedef struct child {
    pid_t pid;
    char out[600], err[600]; /* where its stdout and stderr go */
} child;

/* Starts GF_EXE with args (NULL-terminated, no argv[0]), stdout and stderr
 * into dir/tag.out and dir/tag.err. fsize > 0: RLIMIT_FSIZE of that many
 * bytes with SIGXFSZ ignored, so writes past it fail with EFBIG. */
pid_t spawn(child *c, const char *dir, const char *tag, const char *const *args, long fsize);

enum { SIGNALLED = 1000, TIMED_OUT = -1 };

/* Waits up to seconds for c. Returns its exit code, SIGNALLED + signal if a
 * signal ended it, or TIMED_OUT (after killing it). test_run_cli: spawn
 * (no file size limit), then wait_child. */
int wait_child(child *c, double seconds);
int test_run_cli(child *c, const char *dir, const char *tag, const char *const *args,
                 double timeout);

/* A run file of two hand-made steps of model at dir/model.h5 (test_record.c's
 * recording by hand), its path in path; 0 on success. */
int test_record_by_hand(const char *model, const char *dir, char *path, size_t size);

#endif
