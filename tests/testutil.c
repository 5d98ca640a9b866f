/* testutil.c — helpers the suites share (declared in suites.h). */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/h5io.h"
#include "gradflow/kernels.h"
#include "gradflow/rng.h"
#include "suites.h"

float *test_fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

float *test_fcopy(const float *a, size_t n)
{
    float *p = test_fvec(n);
    memcpy(p, a, n * sizeof *p);
    return p;
}

int test_bits_equal(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

int test_register(const char *suite, const test_entry *tests, size_t n)
{
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}

/* ------------------------------------------------ a pass seen by hooks */

static size_t block_in(const gf_block *b, int B)
{
    return (size_t)B * b->in_c * b->in_h * b->in_w;
}

static size_t block_out(const gf_block *b, int B)
{
    return (size_t)B * b->out_c * b->out_h * b->out_w;
}

void test_pass_init(test_pass *p, const gf_net *net, int B)
{
    int nl = gf_net_num_layers(net), nb = gf_net_num_blocks(net);
    memset(p, 0, sizeof *p);
    p->net = net, p->B = B;
    p->at = calloc((size_t)nl + 1, sizeof *p->at);
    p->dx_at = calloc((size_t)nl + 1, sizeof *p->dx_at);
    p->block_at = calloc((size_t)nb + 1, sizeof *p->block_at);
    CU_ASSERT_FATAL(p->at && p->dx_at && p->block_at);
    for (int i = 0; i < nl; i++) {
        const gf_layer *l = gf_net_layer(net, i);
        p->at[i] = p->n, p->n += (size_t)B * gf_layer_out_size(l);
        p->dx_at[i] = p->n_dx, p->n_dx += (size_t)B * gf_layer_in_size(l);
    }
    for (int i = 0; i < nb; i++) { /* identity, branch, input_grad; output_grad, v */
        const gf_block *b = gf_net_block(net, i);
        p->block_at[i] = p->n_block, p->n_block += 3 * block_in(b, B) + 2 * block_out(b, B);
    }
    p->out = test_fvec(p->n), p->dout = test_fvec(p->n);
    p->dx = test_fvec(p->n_dx), p->block = test_fvec(p->n_block);
    p->hooks = (gf_hooks){.user = p, .layer_forward = test_pass_forward,
                          .layer_backward = test_pass_backward,
                          .block_backward = test_pass_block};
}

void test_pass_free(test_pass *p)
{
    free(p->at), free(p->dx_at), free(p->block_at);
    free(p->out), free(p->dout), free(p->dx), free(p->block);
    memset(p, 0, sizeof *p);
}

int test_pass_forward(void *user, const gf_layer *l, int B, int training)
{
    test_pass *p = user;
    (void)training;
    memcpy(p->out + p->at[l->index], l->out, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    return 0;
}

int test_pass_backward(void *user, const gf_layer *l, const float *dx, int B)
{
    test_pass *p = user;
    memcpy(p->dout + p->at[l->index], l->dout, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    if (dx)
        memcpy(p->dx + p->dx_at[l->index], dx, (size_t)B * gf_layer_in_size(l) * sizeof(float));
    return 0;
}

int test_pass_block(void *user, const gf_block *b, int B)
{
    test_pass *p = user;
    int i = (int)(b - gf_net_block(p->net, 0));
    size_t n_in = block_in(b, B), n_out = block_out(b, B);
    float *q = p->block + p->block_at[i];
    if (b->identity_grad)
        memcpy(q, b->identity_grad, n_in * sizeof(float));
    memcpy(q + n_in, b->branch_grad, n_in * sizeof(float));
    memcpy(q + 2 * n_in, b->input_grad, n_in * sizeof(float));
    memcpy(q + 3 * n_in, b->output_grad, n_out * sizeof(float));
    if (b->add >= 0) /* v = m ⊙ g, valid until this hook returns */
        memcpy(q + 3 * n_in + n_out, gf_net_layer(p->net, b->add)->dout, n_out * sizeof(float));
    return 0;
}

/* ------------------------------------------------ gradient checking */

void fill_normal(gf_rng *r, float *a, size_t n, double mean, double std)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(mean + std * gf_rng_normal(r));
}

double dot_d(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

const fd_opts FD_LINEAR = {1.0, 1e-3, 1e-3, 1};
const fd_opts FD_RELU = {1e-2, 1e-3, 1e-3, 1}; /* linear on each side of 0 */
const fd_opts FD_XENT = {1e-3, 1e-3, 1e-3, 0}; /* smooth, computed in double */
const fd_opts FD_BN = {3e-2, 1e-2, 1e-2, 0};
const fd_opts FD_NET = {2e-2, 5e-2, 2e-2, 0};
const fd_opts FD_MLP = {5e-3, 5e-2, 2e-2, 0}; /* BN over 8 examples: more curved */

/* (f(p + h) − f(p − h)) / s in p[i], s the step between the float32 values
 * actually stored; adds the kink bound of both calls, over s, to *kb. */
static double central(objective_fn f, kink_fn kink, void *ctx, float *p, size_t i, double h,
                      double *kb)
{
    float orig = p[i];
    p[i] = (float)(orig + h);
    double step = p[i], lp = f(ctx), kp = kink ? kink(ctx) : 0.0;
    p[i] = (float)(orig - h);
    step -= p[i];
    double lm = f(ctx), km = kink ? kink(ctx) : 0.0;
    p[i] = orig;
    *kb += (kp + km) / step;
    return (lp - lm) / step;
}

fd_result fd_compare(objective_fn f, kink_fn kink, void *ctx, float *p, const size_t *idx,
                     size_t nidx, const float *analytic, const fd_opts *o)
{
    fd_result r = {0};
    double *num = malloc((nidx ? nidx : 1) * 3 * sizeof *num), nmax = 0.0, dd = 0.0, nn = 0.0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(num);
    double *unc = num + nidx, *curv = unc + nidx;
    for (size_t k = 0; k < nidx; k++) {
        double kb = 0.0, d1 = central(f, kink, ctx, p, idx[k], o->h, &kb);
        double d2 = o->linear ? d1 : central(f, kink, ctx, p, idx[k], o->h / 2, &kb);
        num[k] = d1, unc[k] = kb, curv[k] = fabs(d1 - d2);
        nmax = fmax(nmax, fabs(num[k]));
    }
    double floor = o->floor_frac * nmax + 1e-30, tol = o->tol;
    for (size_t k = 0; k < nidx; k++) {
        double a = analytic[idx[k]], e = fabs(a - num[k]);
        double scale = fmax(fmax(fabs(a), fabs(num[k])), floor), rel = e / scale;
        if (unc[k] > 0.25 * tol * scale || curv[k] > tol * scale) {
            r.skipped++;
            continue;
        }
        dd += e * e, nn += num[k] * num[k];
        r.checked++;
        if (!(rel <= r.max_rel) || r.checked == 1)
            r.max_rel = rel, r.worst = idx[k], r.worst_a = a, r.worst_n = num[k];
    }
    r.norm_rel = nn > 0.0 ? sqrt(dd / nn) : sqrt(dd);
    free(num);
    return r;
}

size_t *index_all(size_t n)
{
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    return idx;
}

fd_result fd_check(const char *what, objective_fn f, kink_fn kink, void *ctx, float *p,
                   const size_t *idx, size_t nidx, const float *analytic, const fd_opts *o)
{
    fd_result r = fd_compare(f, kink, ctx, p, idx, nidx, analytic, o);
    double tol = o->tol;
    printf("\n    fd %-34s max rel %.2e  norm rel %.2e  (%zu checked, %zu skipped)", what,
           r.max_rel, r.norm_rel, r.checked, r.skipped);
    if (!(r.max_rel <= tol))
        printf("\n    FAIL %s: element %zu analytic %.8g numeric %.8g", what, r.worst, r.worst_a,
               r.worst_n);
    CU_ASSERT(r.max_rel <= tol);
    CU_ASSERT(r.norm_rel <= tol / 5);
    CU_ASSERT(r.checked > 0);
    CU_ASSERT(r.skipped * 4 <= nidx);
    return r;
}

void fd_check_all(const char *what, objective_fn f, void *ctx, float *p, size_t n,
                  const float *analytic, const fd_opts *o)
{
    size_t *idx = index_all(n);
    fd_check(what, f, NULL, ctx, p, idx, n, analytic, o);
    free(idx);
}

void fd_check_linear(const char *what, objective_fn f, void *ctx, float *p, size_t n,
                     const float *analytic)
{
    fd_check_all(what, f, ctx, p, n, analytic, &FD_LINEAR);
}

size_t conv_nx(const conv_case *c) { return (size_t)c->B * c->Ci * c->H * c->W; }
size_t conv_nw(const conv_case *c) { return (size_t)c->Co * c->Ci * c->K * c->K; }
size_t conv_ny(const conv_case *c) { return (size_t)c->B * c->Co * c->Ho * c->Wo; }

double conv_objective(void *u)
{
    conv_case *c = u;
    gf_conv2d_forward(c->y, c->x, c->w, c->B, c->Ci, c->H, c->W, c->Co, c->K, c->s, c->p,
                      c->scratch);
    return dot_d(c->r, c->y, conv_ny(c));
}

void conv_setup(conv_case *c, uint64_t seed)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 0);
    c->Ho = gf_conv_out(c->H, c->K, c->s, c->p), c->Wo = gf_conv_out(c->W, c->K, c->s, c->p);
    c->x = test_fvec(conv_nx(c)), c->w = test_fvec(conv_nw(c));
    c->y = test_fvec(conv_ny(c)), c->r = test_fvec(conv_ny(c));
    c->scratch = test_fvec(gf_conv2d_scratch(c->Ci, c->H, c->W, c->Co, c->K, c->s, c->p));
    fill_normal(&rng, c->x, conv_nx(c), 0.0, 1.0);
    fill_normal(&rng, c->w, conv_nw(c), 0.0, 0.5);
    fill_normal(&rng, c->r, conv_ny(c), 0.0, 1.0);
}

void conv_teardown(conv_case *c)
{
    free(c->x), free(c->w), free(c->y), free(c->r), free(c->scratch);
}

void conv_backward(conv_case *c, float *dx, float *dw)
{
    gf_conv2d_backward(dx, dw, c->r, c->x, c->w, c->B, c->Ci, c->H, c->W, c->Co, c->K, c->s,
                       c->p, c->scratch);
}

const conv_case conv_engines[2] = {
    {.B = 3, .Ci = 3, .H = 6, .W = 5, .Co = 4, .K = 3, .s = 2, .p = 1},
    {.B = 3, .Ci = 8, .H = 6, .W = 5, .Co = 9, .K = 3, .s = 1, .p = 1},
};

/* ------------------------------------ run files and the command line */

double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

const char *test_dir(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", test_tmpdir(), name);
    mkdir(buf, 0755);
    return buf;
}

double *read_series(hid_t f, const char *name, size_t *rows, size_t *cols)
{
    *rows = *cols = 0;
    if (!gf_h5_exists(f, name))
        return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int nd = H5Sget_simple_extent_ndims(sp);
    double *v = NULL;
    if (nd >= 1 && nd <= 2 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0) {
        *rows = (size_t)dims[0], *cols = (size_t)dims[1];
        v = malloc((*rows * *cols + 1) * sizeof *v);
        if (v && *rows && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            free(v), v = NULL;
    }
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

double read_scalar(hid_t f, const char *name)
{
    size_t r, c;
    double *v = read_series(f, name, &r, &c), out = v && r * c == 1 ? v[0] : NAN;
    free(v);
    return out;
}

const test_series test_step_series[] = {
    {"step", 0}, {"time", 0}, {"train/loss", 0}, {"train/error", 0}, {"train/lr", 0},
    {"train/images_per_s", 0}, {"layers/act_rms", 1}, {"layers/act_mean", 1},
    {"layers/act_std", 1}, {"layers/act_max_abs", 1}, {"layers/act_zero_frac", 1},
    {"layers/grad_norm", 1}, {"params/weight_norm", 2}, {"params/grad_norm", 2},
    {"params/update_norm", 2}, {"params/update_ratio", 2}, {"blocks/output_grad_norm", 3},
    {"blocks/identity_norm", 3}, {"blocks/branch_norm", 3}, {"blocks/input_grad_norm", 3},
    {"blocks/cosine", 3}, {"blocks/branch_gain", 3}, {"responses/std", 4},
};
const int N_STEP_SERIES = sizeof test_step_series / sizeof test_step_series[0];

long common_rows(hid_t f)
{
    long rows = -2;
    for (int s = 0; s < N_STEP_SERIES; s++) {
        size_t r, c;
        double *v = read_series(f, test_step_series[s].path, &r, &c);
        free(v);
        if (!v || (rows != -2 && (long)r != rows)) {
            fprintf(stderr, "\n    %s: %s %zu rows, step %ld", test_step_series[s].path,
                    v ? "has" : "missing,", r, rows);
            return -1;
        }
        rows = (long)r;
    }
    return rows;
}

pid_t spawn(child *c, const char *dir, const char *tag, const char *const *args, long fsize)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)GF_EXE;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    snprintf(c->out, sizeof c->out, "%s/%s.out", dir, tag);
    snprintf(c->err, sizeof c->err, "%s/%s.err", dir, tag);
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        int o = open(c->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(c->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(97);
        if (fsize > 0) {
            struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_IGN;
            if (sigaction(SIGXFSZ, &sa, NULL) || setrlimit(RLIMIT_FSIZE, &rl))
                _exit(96);
        }
        execv(GF_EXE, argv);
        _exit(98);
    }
    return c->pid;
}

int wait_child(child *c, double seconds)
{
    double t0 = now();
    int st;
    for (;;) {
        pid_t w = waitpid(c->pid, &st, WNOHANG);
        if (w == c->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : SIGNALLED + WTERMSIG(st);
        if (w < 0)
            return -2;
        if (now() - t0 > seconds) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            fprintf(stderr, "\n    %s: still running after %.0f s, killed", c->err, seconds);
            return TIMED_OUT;
        }
        sleep_ms(5);
    }
}

int test_run_cli(child *c, const char *dir, const char *tag, const char *const *args,
                 double timeout)
{
    if (spawn(c, dir, tag, args, 0) < 0)
        return -2;
    return wait_child(c, timeout);
}

