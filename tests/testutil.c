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

