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
#include "gradflow/rng.h"

int suite_kernels_register(void);
int suite_netgrad_register(void);
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

/* Gradient checking (test_kernels.c, test_netgrad.c). fill_normal: n draws
 * of N(mean, std²) into a; dot_d: Σ a·b in double; max_abs_diff: max |a − b|;
 * max_abs: max |a|. */
void fill_normal(gf_rng *r, float *a, size_t n, double mean, double std);
double dot_d(const float *a, const float *b, size_t n);
double max_abs_diff(const float *a, const float *b, size_t n);
double max_abs(const float *a, size_t n);

/* How a derivative is checked: the step h, the tolerance on each element's
 * relative error, its floor as a fraction of max|numeric|, and whether the
 * objective is linear in the perturbed argument. conv, linear, avgpool and
 * the shortcut are: the central difference has no truncation error, so a
 * large step only shrinks float32 rounding noise (|δy| ~ 6e-8·|y| per output,
 * over 2h), and a second, half step to measure curvature is pointless. BN is
 * curved: its step balances truncation (h²) against the rounding noise of N
 * outputs moving at once. A whole net is float32 throughout and its loss
 * carries ~3e-7 of noise, hence the wider floor. Every planted bug (sign,
 * index shift, missing BN term) is off by O(1), far above these. */
typedef struct fd_opts {
    double h, tol, floor_frac;
    int linear;
} fd_opts;

extern const fd_opts FD_LINEAR, FD_RELU, FD_XENT, FD_BN, FD_NET, FD_MLP;

/* Returns L at the current values of everything the objective reads. */
typedef double (*objective_fn)(void *ctx);
/* For objectives with ReLUs: a first-order bound on how far the last call's
 * L moved because some ReLU input changed side (see kink_hook); NULL: none. */
typedef double (*kink_fn)(void *ctx);

typedef struct fd_result {
    double max_rel;  /* max |a − n| / max(|a|, |n|, floor) */
    double norm_rel; /* ‖a − n‖ / ‖n‖ over the checked elements */
    size_t checked, skipped, worst;
    double worst_a, worst_n;
} fd_result;

/* Compares analytic[idx[k]] with the central difference D1 of f in p[idx[k]]
 * at step h. Relative errors use a floor of floor_frac · max|D1| so that
 * elements near zero are judged against the tensor's scale (and the noise
 * of the objective). A second difference D2 at h/2 measures curvature. A
 * point is skipped, not compared, when its kink bound could account for a
 * quarter of tol, or when D1 and D2 disagree by tol (too curved there for
 * this step); neither looks at the analytic value, so a skip cannot hide a
 * wrong gradient, and fd_check bounds how many points may be skipped. */
fd_result fd_compare(objective_fn f, kink_fn kink, void *ctx, float *p, const size_t *idx,
                     size_t nidx, const float *analytic, const fd_opts *o);
/* 0, 1, …, n − 1 (malloc'ed). */
size_t *index_all(size_t n);
/* Prints the result and asserts it: every element within tol, the whole
 * within tol / 5, and at most a quarter of the points skipped. */
fd_result fd_check(const char *what, objective_fn f, kink_fn kink, void *ctx, float *p,
                   const size_t *idx, size_t nidx, const float *analytic, const fd_opts *o);
/* Checks every element of p (n floats). */
void fd_check_all(const char *what, objective_fn f, void *ctx, float *p, size_t n,
                  const float *analytic, const fd_opts *o);
/* Every element of an argument the objective is linear in. */
void fd_check_linear(const char *what, objective_fn f, void *ctx, float *p, size_t n,
                     const float *analytic);

/* A convolution of kernels.h and its objective L = Σ r ⊙ y (conv_setup fills
 * x, w and r from seed; conv_backward is gf_conv2d_backward with dy = r). */
typedef struct conv_case {
    int B, Ci, H, W, Co, K, s, p, Ho, Wo;
    float *x, *w, *y, *r, *scratch;
} conv_case;

size_t conv_nx(const conv_case *c);
size_t conv_nw(const conv_case *c);
size_t conv_ny(const conv_case *c);
double conv_objective(void *u);
void conv_setup(conv_case *c, uint64_t seed);
void conv_teardown(conv_case *c);
void conv_backward(conv_case *c, float *dx, float *dw);
/* Both conv engines: im2col (stride 2) and Winograd (3×3 s1 p1, >= 8 channels). */
extern const conv_case conv_engines[2];

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
