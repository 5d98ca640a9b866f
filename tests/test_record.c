/* test_record.c — the HDF5 run recorder and checkpoints (docs/run-file.md).
 *
 * In process: a tiny net takes two steps by hand under a recorder; every
 * recorded number is then recomputed directly, in double, from the net's own
 * buffers (activations, gradients, momentum) and, for the identity/branch
 * split, from a second identical net whose block hook copies the split out.
 * Through the command line: --record-every, a SIGKILLed run (kept rows, live
 * SWMR reading), a SIGTERMed run (clean close), an unwritable path and a full
 * disk (RLIMIT_FSIZE), checkpoint + resume bit for bit, and bad input files
 * fed to every reader. Comments marked BUG name the defect a test exposes. */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/checkpoint.h"
#include "gradflow/h5io.h"
#include "gradflow/record.h"
#include "gradflow/train.h"
#include "suites.h"

/* ------------------------------------------------------------ small tools */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A fresh directory tmp/name for one test's files; returns its path. */
static const char *test_dir(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", test_tmpdir(), name);
    mkdir(buf, 0755);
    return buf;
}

/* The whole file as a NUL-terminated string (malloc'ed; "" if unreadable). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        rewind(f);
        buf = malloc(size > 0 ? (size_t)size + 1 : 1);
        n = buf && size > 0 ? fread(buf, 1, (size_t)size, f) : 0;
    }
    if (f)
        fclose(f);
    if (!buf)
        buf = malloc(1);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static double norm2(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s);
}

/* 1 (and a line on stderr) if got differs from want by more than tol·scale;
 * scale 0 means |want|. A NaN want demands a NaN. */
static int differs(const char *what, size_t row, size_t col, double got, double want,
                   double tol, double scale)
{
    double s = scale > 0 ? scale : fabs(want);
    int bad = isnan(want) ? !isnan(got) : !(fabs(got - want) <= tol * s);
    if (bad)
        fprintf(stderr, "\n    %s[%zu][%zu]: file %.9g, direct %.9g", what, row, col, got, want);
    return bad;
}

/* ---------------------------------------------------------- reading files */

/* A whole numeric dataset as doubles (malloc'ed), rows × cols (cols 1 when
 * 1-D); NULL if it is absent, not 1-D/2-D or unreadable. */
static double *read_series(hid_t f, const char *name, size_t *rows, size_t *cols)
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

/* One value of a 1-element dataset, NaN if absent. */
static double read_scalar(hid_t f, const char *name)
{
    size_t r, c;
    double *v = read_series(f, name, &r, &c), out = v && r * c == 1 ? v[0] : NAN;
    free(v);
    return out;
}

/* Every per-step series of the schema (docs/run-file.md), with its axis:
 * 0 scalar, 1 layers, 2 params, 3 blocks, 4 responses. */
static const struct {
    const char *path;
    int axis;
} step_series[] = {
    {"step", 0}, {"time", 0}, {"train/loss", 0}, {"train/error", 0}, {"train/lr", 0},
    {"train/images_per_s", 0}, {"layers/act_rms", 1}, {"layers/act_mean", 1},
    {"layers/act_std", 1}, {"layers/act_max_abs", 1}, {"layers/act_zero_frac", 1},
    {"layers/grad_norm", 1}, {"params/weight_norm", 2}, {"params/grad_norm", 2},
    {"params/update_norm", 2}, {"params/update_ratio", 2}, {"blocks/output_grad_norm", 3},
    {"blocks/identity_norm", 3}, {"blocks/branch_norm", 3}, {"blocks/input_grad_norm", 3},
    {"blocks/cosine", 3}, {"blocks/branch_gain", 3}, {"responses/std", 4},
};
enum { N_STEP_SERIES = sizeof step_series / sizeof step_series[0] };

static const char *const fixed_datasets[] = {
    "model/layers/name", "model/layers/kind", "model/layers/block", "model/layers/shape",
    "model/blocks/name", "model/blocks/kind", "model/blocks/shape", "model/params/name",
    "model/params/shape", "model/responses/name", "model/responses/layer",
    "epochs/epoch", "epochs/step", "epochs/train_loss", "epochs/train_error",
    "epochs/test_loss", "epochs/test_error", "epochs/val_loss", "epochs/val_error",
    "status/clean_close", "status/rows_flushed",
};
enum { N_FIXED = sizeof fixed_datasets / sizeof fixed_datasets[0] };

/* Row count shared by every per-step series, or -1 (with the lengths on
 * stderr) if they disagree or one is missing. */
static long common_rows(hid_t f)
{
    long rows = -2;
    for (int s = 0; s < N_STEP_SERIES; s++) {
        size_t r, c;
        double *v = read_series(f, step_series[s].path, &r, &c);
        free(v);
        if (!v || (rows != -2 && (long)r != rows)) {
            fprintf(stderr, "\n    %s: %s %zu rows, step %ld", step_series[s].path,
                    v ? "has" : "missing,", r, rows);
            return -1;
        }
        rows = (long)r;
    }
    return rows;
}

/* The fewest and the most rows of any per-step series; 0 if all exist. */
static int row_range(hid_t f, long *fewest, long *most)
{
    *fewest = -1, *most = -1;
    for (int s = 0; s < N_STEP_SERIES; s++) {
        size_t r, c;
        double *v = read_series(f, step_series[s].path, &r, &c);
        free(v);
        if (!v)
            return -1;
        *fewest = *fewest < 0 || (long)r < *fewest ? (long)r : *fewest;
        *most = (long)r > *most ? (long)r : *most;
    }
    return 0;
}

/* 1 if /step begins with 1, 2, …, n. */
static int steps_consecutive(hid_t f, long n)
{
    size_t r, c;
    double *v = read_series(f, "step", &r, &c);
    int ok = v && (long)r >= n;
    for (size_t i = 0; ok && i < r; i++)
        ok = v[i] == (double)(i + 1);
    free(v);
    return ok;
}

/* ------------------------------------------------- running the CLI */

typedef struct child {
    pid_t pid;
    char out[600], err[600]; /* where its stdout and stderr go */
} child;

/* Starts GF_EXE with args (NULL-terminated, no argv[0]), stdout and stderr
 * into dir/tag.out and dir/tag.err. fsize > 0: RLIMIT_FSIZE of that many
 * bytes with SIGXFSZ ignored, so writes past it fail with EFBIG. */
static pid_t spawn(child *c, const char *dir, const char *tag, const char *const *args,
                   long fsize)
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

enum { SIGNALLED = 1000, TIMED_OUT = -1 };

/* 1 while pid runs; does not reap it, so wait_child still sees its status. */
static int running(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

/* Waits up to seconds for c. Returns its exit code, SIGNALLED + signal if a
 * signal ended it, or TIMED_OUT (after killing it). */
static int wait_child(child *c, double seconds)
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

static int run_cli(child *c, const char *dir, const char *tag, const char *const *args,
                   double timeout)
{
    if (spawn(c, dir, tag, args, 0) < 0)
        return -2;
    return wait_child(c, timeout);
}

/* status/rows_flushed of a run file being written (SWMR read), and the row
 * count of /step in *rows; -1 while the file cannot be opened yet. */
static long live_flushed(const char *path, long *rows)
{
    gf_err err;
    *rows = -1;
    hid_t f = gf_h5_open_read(path, 1, &err);
    if (f < 0)
        return -1;
    double flushed = read_scalar(f, "status/rows_flushed");
    size_t r, c;
    double *s = read_series(f, "step", &r, &c);
    if (s)
        *rows = (long)r;
    free(s);
    H5Fclose(f);
    return isnan(flushed) ? -1 : (long)flushed;
}

/* Polls path until rows_flushed >= want or the child ends or seconds pass;
 * returns the last rows_flushed seen (-1 if never readable). */
static long wait_for_rows(const char *path, long want, pid_t pid, double seconds, long *rows)
{
    double t0 = now();
    long flushed = -1;
    *rows = -1;
    while (now() - t0 < seconds) {
        long r, fl = live_flushed(path, &r);
        if (fl >= 0)
            flushed = fl, *rows = r;
        if (flushed >= want || !running(pid))
            break;
        sleep_ms(10);
    }
    return flushed;
}

/* ------------------------------------------- recording steps by hand */

enum { MAX_L = 64, MAX_P = 64, MAX_B = 16, STEPS = 2, BATCH = 8 };

/* What one recorded row should hold, computed directly in double. */
typedef struct ref_row {
    double loss, err, lr;
    double rms[MAX_L], mean[MAX_L], std[MAX_L], max_abs[MAX_L], zero[MAX_L], grad[MAX_L];
    double w[MAX_P], g[MAX_P], u[MAX_P], dw[MAX_P]; /* dw: ||W_before - W_after|| */
    double in[MAX_B], out[MAX_B];                   /* from the recorded net */
    double id[MAX_B], br[MAX_B], cos[MAX_B], gain[MAX_B]; /* from the twin's hook */
    double id_from_v[MAX_B];                        /* ||Sᵀv|| from v = m⊙g alone */
    long sum_mismatch;   /* elements where input_grad != identity + branch */
} ref_row;

typedef struct recorded {
    char path[600];
    gf_net *net, *twin; /* the recorded net, and an identical one with our hook */
    gf_sgd sgd, twin_sgd;
    gf_train_config cfg;
    gf_record_meta meta;
    ref_row rows[STEPS];
    ref_row *capturing; /* the row the twin's hook fills */
    int n_params, param_tensor[MAX_P];
    int twins_equal;    /* the twin computed the same losses and weights */
} recorded;

/* The twin's block hook: the split exists only during this call. */
static int capture_split(void *user, const gf_block *b, int B)
{
    recorded *rec = user;
    ref_row *row = rec->capturing;
    int i = (int)(b - gf_net_block(rec->twin, 0));
    size_t n_in = (size_t)B * b->in_c * b->in_h * b->in_w;
    size_t n_out = (size_t)B * b->out_c * b->out_h * b->out_w;
    double in = norm2(b->input_grad, n_in), g = norm2(b->output_grad, n_out);
    row->br[i] = norm2(b->branch_grad, n_in);
    row->id[i] = row->cos[i] = row->id_from_v[i] = NAN;
    row->gain[i] = in / g;
    if (b->kind == GF_BLOCK_PLAIN)
        return 0;
    /* v = m ⊙ g, m = relu2'(s): 1 where relu2's output is positive */
    const float *y = b->kind == GF_BLOCK_PREACT ? NULL : gf_net_layer(rec->twin, b->relu2)->out;
    int pad = (b->out_c - b->in_c) / 2, hw = b->out_h * b->out_w;
    double vv = 0.0, vs = 0.0, dot = 0.0;
    for (size_t k = 0; k < n_out; k++) {
        double v = !y || y[k] > 0 ? b->output_grad[k] : 0.0;
        int ch = (int)(k / (size_t)hw % (size_t)b->out_c);
        vv += v * v;
        vs += ch >= pad && ch < pad + b->in_c ? v * v : 0.0; /* option A keeps these */
    }
    for (size_t k = 0; k < n_in; k++) {
        dot += (double)b->identity_grad[k] * b->branch_grad[k];
        row->sum_mismatch += b->input_grad[k] != b->identity_grad[k] + b->branch_grad[k];
    }
    row->id[i] = norm2(b->identity_grad, n_in);
    row->cos[i] = dot / (row->id[i] * row->br[i]);
    row->gain[i] = row->br[i] / sqrt(vv);
    const gf_layer *sc = b->sc >= 0 ? gf_net_layer(rec->twin, b->sc) : NULL;
    if (!sc)
        row->id_from_v[i] = sqrt(vv);                  /* S = identity */
    else if (sc->kind == GF_LAYER_SHORTCUT_A)
        row->id_from_v[i] = sqrt(vs);                  /* subsample + zero channels */
    return 0;
}

/* The twin's layer hooks: each layer's activation statistics and output
 * gradient norm, while its out and dout hold (most are reused afterwards). */
static int capture_activations(void *user, const gf_layer *l, int B, int training)
{
    ref_row *row = ((recorded *)user)->capturing;
    size_t n = (size_t)B * gf_layer_out_size(l);
    double sum = 0.0, sq = 0.0, mx = 0.0, zeros = 0.0, var = 0.0;
    int i = l->index;
    (void)training;
    for (size_t k = 0; k < n; k++) {
        double v = l->out[k];
        sum += v, sq += v * v, zeros += v == 0.0;
        mx = fabs(v) > mx ? fabs(v) : mx;
    }
    double mean = sum / (double)n;
    for (size_t k = 0; k < n; k++)
        var += (l->out[k] - mean) * (l->out[k] - mean);
    row->rms[i] = sqrt(sq / (double)n), row->mean[i] = mean;
    row->std[i] = sqrt(var / (double)n), row->max_abs[i] = mx;
    row->zero[i] = zeros / (double)n;
    return 0;
}

static int capture_grad_norm(void *user, const gf_layer *l, const float *dx, int B)
{
    ref_row *row = ((recorded *)user)->capturing;
    (void)dx;
    row->grad[l->index] = norm2(l->dout, (size_t)B * gf_layer_out_size(l));
    return 0;
}

/* Every block's gradient norms of the last step, from net's buffers (block
 * boundary gradients persist after the backward). */
static void block_grad_reference(const gf_net *net, ref_row *row)
{
    int B = gf_net_batch(net);
    for (int i = 0; i < gf_net_num_blocks(net); i++) {
        const gf_block *b = gf_net_block(net, i);
        row->in[i] = norm2(b->input_grad, (size_t)B * b->in_c * b->in_h * b->in_w);
        row->out[i] = norm2(b->output_grad, (size_t)B * b->out_c * b->out_h * b->out_w);
    }
}

/* Weight, gradient and update norms of every trainable tensor after a step;
 * before holds the parameters as they were before it. */
static void param_reference(recorded *rec, const float *before, ref_row *row)
{
    const float *base = gf_net_params(rec->net);
    rec->n_params = 0;
    for (int i = 0; i < gf_net_num_tensors(rec->net) && rec->n_params < MAX_P; i++) {
        const gf_tensor_info *t = gf_net_tensor(rec->net, i);
        if (!t->grad)
            continue;
        size_t off = (size_t)(t->data - base);
        double d2 = 0.0;
        for (size_t k = 0; k < t->size; k++)
            d2 += ((double)before[off + k] - t->data[k]) * ((double)before[off + k] - t->data[k]);
        int p = rec->n_params++;
        rec->param_tensor[p] = i;
        row->w[p] = norm2(t->data, t->size), row->g[p] = norm2(t->grad, t->size);
        row->u[p] = rec->sgd.lr * norm2(rec->sgd.buf + off, t->size), row->dw[p] = sqrt(d2);
    }
}

/* Deterministic inputs: 2·BATCH examples of 1×8×8, roughly N(0, 1). */
static void make_batch(float *x, int32_t *y)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < STEPS * BATCH * 64; i++) {
        double u = 0.0;
        for (int k = 0; k < 12; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            u += (double)(s >> 11) / 9007199254740992.0;
        }
        x[i] = (float)(u - 6.0);
    }
    for (int i = 0; i < STEPS * BATCH; i++)
        y[i] = (i * 7) % 10;
}

/* Forward, loss, zero-grad, backward and an SGD step at lr. */
static double step_by_hand(gf_net *net, gf_sgd *sgd, const float *x, const int32_t *y,
                           float lr, int *correct)
{
    gf_net_forward(net, x, BATCH, 1);
    double loss = gf_net_loss(net, y, 1, correct);
    gf_net_zero_grad(net);
    gf_net_backward(net, 0);
    sgd->lr = lr;
    gf_sgd_step(sgd, net);
    return loss;
}

static gf_net *tiny_net(const char *model, gf_sgd *sgd)
{
    gf_err err;
    gf_model_spec spec;
    if (gf_model_parse(model, &spec, &err))
        return NULL;
    spec.in_c = 1, spec.in_h = spec.in_w = 8;
    gf_net *net = gf_net_new(&spec, BATCH, &err);
    if (!net)
        return NULL;
    gf_net_init(net, 11);
    if (gf_sgd_init(sgd, net, 0.05f, 0.9f, 1e-4f, &err)) {
        gf_net_free(net);
        return NULL;
    }
    return net;
}

/* One recorded step k of rec->net (and the same on the twin), then the
 * direct computation of what the row should hold. 0 on success. */
static int record_step(recorded *rec, gf_recorder *r, int k, const float *x, const int32_t *y,
                       float *before, gf_err *err)
{
    static const float lrs[STEPS] = {0.05f, 0.02f};
    size_t np = gf_net_num_params(rec->net);
    ref_row *row = &rec->rows[k];
    int correct, twin_correct;
    memcpy(before, gf_net_params(rec->net), np * sizeof *before);
    gf_recorder_before_step(r, rec->net, k);
    rec->capturing = row;
    gf_hooks h = {.user = rec, .layer_forward = capture_activations,
                  .layer_backward = capture_grad_norm, .block_backward = capture_split};
    gf_net_set_hooks(rec->twin, &h);
    x += (size_t)k * BATCH * 64, y += k * BATCH;
    row->loss = step_by_hand(rec->net, &rec->sgd, x, y, lrs[k], &correct);
    double twin_loss = step_by_hand(rec->twin, &rec->twin_sgd, x, y, lrs[k], &twin_correct);
    rec->twins_equal &= memcmp(&twin_loss, &row->loss, sizeof twin_loss) == 0 &&
                        memcmp(gf_net_params(rec->twin), gf_net_params(rec->net),
                               np * sizeof(float)) == 0;
    row->err = 1.0 - (double)correct / BATCH, row->lr = lrs[k];
    gf_train_status st = {.step = k + 1, .total_steps = STEPS, .epoch = 1, .epochs = 1,
                          .batch_in_epoch = k + 1, .batches_per_epoch = STEPS,
                          .loss = row->loss, .train_err = row->err, .lr = lrs[k],
                          .step_seconds = 0.5, .elapsed = 0.5 * (k + 1)};
    if (gf_recorder_after_step(r, &st, rec->net, &rec->sgd, err))
        return -1;
    block_grad_reference(rec->net, row);
    param_reference(rec, before, row);
    return 0;
}

static void recorded_free(recorded *rec)
{
    if (!rec)
        return;
    gf_net_free(rec->net), gf_net_free(rec->twin);
    gf_sgd_free(&rec->sgd), gf_sgd_free(&rec->twin_sgd);
    free(rec);
}

/* Records STEPS hand-made steps of model into dir/model.h5 and the
 * reference values; NULL on a setup failure. Free with recorded_free. */
static recorded *record_by_hand(const char *model, const char *dir)
{
    recorded *rec = calloc(1, sizeof *rec);
    float *x = malloc(STEPS * BATCH * 64 * sizeof *x), *before = NULL;
    int32_t y[STEPS * BATCH];
    gf_err err = {{0}};
    if (!rec || !x || !(rec->net = tiny_net(model, &rec->sgd)) ||
        !(rec->twin = tiny_net(model, &rec->twin_sgd)) ||
        !(before = malloc(gf_net_num_params(rec->net) * sizeof *before)))
        goto fail;
    make_batch(x, y);
    snprintf(rec->path, sizeof rec->path, "%s/%s.h5", dir, model);
    gf_train_defaults(&rec->cfg);
    rec->cfg.steps = STEPS, rec->cfg.batch = BATCH, rec->cfg.lr = 0.05f, rec->cfg.seed = 11;
    rec->meta = (gf_record_meta){.data = "hand-made", .config_json = "{\"test\": true}",
                                 .cfg = &rec->cfg, .threads = 1, .n_train = 16, .every = 1,
                                 .flush_rows = 16, .flush_seconds = 10.0};
    rec->twins_equal = 1;
    gf_recorder *r = gf_recorder_open(rec->path, rec->net, &rec->meta, &err);
    if (!r)
        goto fail;
    int rc = 0;
    for (int k = 0; k < STEPS && rc == 0; k++)
        rc = record_step(rec, r, k, x, y, before, &err);
    gf_epoch_result e = {.epoch = 1, .step = STEPS, .train_loss = 2.25, .train_err = 0.5,
                         .test = {1.5, 0.25, 32}};
    rc = rc || gf_recorder_epoch(r, &e, &err);
    if (rc) {
        gf_recorder_abort(r);
        goto fail;
    }
    if (gf_recorder_close(r, &err))
        goto fail;
    free(x), free(before);
    return rec;
fail:
    fprintf(stderr, "\n    recording %s by hand failed: %s", model, err.msg);
    free(x), free(before);
    recorded_free(rec);
    return NULL;
}

/* Reads series path and checks it is STEPS × cols. */
static double *series_of(hid_t f, const char *path, size_t cols)
{
    size_t r, c;
    double *v = read_series(f, path, &r, &c);
    CU_ASSERT_PTR_NOT_NULL(v);
    CU_ASSERT_EQUAL(r, STEPS);
    CU_ASSERT_EQUAL(c, cols);
    if (v && (r != STEPS || c != cols))
        free(v), v = NULL;
    if (!v)
        fprintf(stderr, "\n    %s: %zu x %zu, expected %d x %zu", path, r, c, STEPS, cols);
    return v;
}

/* Compares series path [STEPS, n] with the ref_row array at offset field,
 * relative tol; a non-zero scale_field names the array whose values are the
 * scale instead of |want|. Returns the number of mismatches. */
static int compare_series(hid_t f, const char *path, size_t n, size_t field, double tol,
                          size_t scale_field, recorded *rec)
{
    double *v = series_of(f, path, n);
    int bad = !v;
    for (size_t k = 0; v && k < STEPS; k++) {
        const double *want = (const double *)((const char *)&rec->rows[k] + field);
        const double *scale = scale_field
                                  ? (const double *)((const char *)&rec->rows[k] + scale_field)
                                  : NULL;
        for (size_t j = 0; j < n; j++)
            bad += differs(path, k, j, v[k * n + j], want[j], tol, scale ? scale[j] : 0);
    }
    free(v);
    return bad;
}

#define FIELD(name) offsetof(ref_row, name)

/* ------------------------------------------------ 1. values in the file */

static void check_train_series(hid_t f, recorded *rec)
{
    double *step = series_of(f, "step", 1), *t = series_of(f, "time", 1);
    double *loss = series_of(f, "train/loss", 1), *err = series_of(f, "train/error", 1);
    double *lr = series_of(f, "train/lr", 1), *ips = series_of(f, "train/images_per_s", 1);
    for (int k = 0; step && t && loss && err && lr && ips && k < STEPS; k++) {
        CU_ASSERT_EQUAL(step[k], k + 1);
        CU_ASSERT(t[k] >= 0 && t[k] < 120 && (k == 0 || t[k] >= t[k - 1]));
        CU_ASSERT_EQUAL(loss[k], rec->rows[k].loss); /* float64: exact */
        CU_ASSERT_EQUAL(err[k], rec->rows[k].err);
        CU_ASSERT_EQUAL(lr[k], rec->rows[k].lr);
        CU_ASSERT_DOUBLE_EQUAL(ips[k], BATCH / 0.5, 1e-9); /* batch / step_seconds */
    }
    CU_ASSERT(loss && loss[0] != loss[1]); /* two different batches */
    free(step), free(t), free(loss), free(err), free(lr), free(ips);
    size_t r, c;
    double *e[5] = {read_series(f, "epochs/step", &r, &c), NULL, NULL, NULL, NULL};
    e[1] = read_series(f, "epochs/train_loss", &r, &c);
    e[2] = read_series(f, "epochs/test_error", &r, &c);
    e[3] = read_series(f, "epochs/val_loss", &r, &c);
    e[4] = read_series(f, "epochs/epoch", &r, &c);
    CU_ASSERT_EQUAL(r, 1);
    if (e[0] && e[1] && e[2] && e[3] && e[4] && r == 1) {
        CU_ASSERT_EQUAL(e[4][0], 1);
        CU_ASSERT_EQUAL(e[0][0], STEPS);
        CU_ASSERT_EQUAL(e[1][0], 2.25);
        CU_ASSERT_EQUAL(e[2][0], 0.25);
        CU_ASSERT(isnan(e[3][0])); /* no validation split: NaN */
    }
    for (int i = 0; i < 5; i++)
        free(e[i]);
}

static void check_layer_series(hid_t f, recorded *rec)
{
    size_t nl = (size_t)gf_net_num_layers(rec->net);
    CU_ASSERT_FATAL(nl <= MAX_L);
    CU_ASSERT_EQUAL(compare_series(f, "layers/act_rms", nl, FIELD(rms), 1e-5, 0, rec), 0);
    /* a BN output's mean is ~0: judge the mean's error on the scale of its rms */
    CU_ASSERT_EQUAL(compare_series(f, "layers/act_mean", nl, FIELD(mean), 1e-5, FIELD(rms),
                                   rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "layers/act_std", nl, FIELD(std), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "layers/act_max_abs", nl, FIELD(max_abs), 0, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "layers/act_zero_frac", nl, FIELD(zero), 1e-6, 0, rec),
                    0);
    CU_ASSERT_EQUAL(compare_series(f, "layers/grad_norm", nl, FIELD(grad), 1e-5, 0, rec), 0);
    /* the statistics are not degenerate: ReLUs have zeros, gradients flow */
    int relu_zeros = 0, grads = 0;
    for (size_t i = 0; i < nl; i++) {
        relu_zeros += gf_net_layer(rec->net, (int)i)->kind == GF_LAYER_RELU &&
                      rec->rows[1].zero[i] > 0.05;
        grads += rec->rows[1].grad[i] > 0;
    }
    CU_ASSERT(relu_zeros >= 3);
    CU_ASSERT_EQUAL(grads, (int)nl);
}

static void check_param_series(hid_t f, recorded *rec)
{
    size_t np = (size_t)rec->n_params;
    CU_ASSERT_EQUAL(compare_series(f, "params/weight_norm", np, FIELD(w), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "params/grad_norm", np, FIELD(g), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "params/update_norm", np, FIELD(u), 1e-5, 0, rec), 0);
    /* lr·||momentum buffer|| is the change the step made (float rounding aside) */
    CU_ASSERT_EQUAL(compare_series(f, "params/update_norm", np, FIELD(dw), 1e-3, 0, rec), 0);
    double *u = series_of(f, "params/update_norm", np), *w = series_of(f, "params/weight_norm", np);
    double *ratio = series_of(f, "params/update_ratio", np);
    int bad = !u || !w || !ratio;
    for (size_t k = 0; !bad && k < STEPS; k++)
        for (size_t j = 0; j < np; j++)
            bad += differs("params/update_ratio", k, j, ratio[k * np + j],
                           rec->rows[k].u[j] / rec->rows[k].w[j], 1e-5, 0);
    CU_ASSERT_EQUAL(bad, 0);
    free(u), free(w), free(ratio);
}

static void check_block_series(hid_t f, recorded *rec)
{
    size_t nb = (size_t)gf_net_num_blocks(rec->net);
    CU_ASSERT_FATAL(nb > 0 && nb <= MAX_B);
    CU_ASSERT_EQUAL(rec->twins_equal, 1); /* the twin's split is the recorded net's */
    CU_ASSERT_EQUAL(compare_series(f, "blocks/input_grad_norm", nb, FIELD(in), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "blocks/output_grad_norm", nb, FIELD(out), 1e-5, 0, rec),
                    0);
    CU_ASSERT_EQUAL(compare_series(f, "blocks/identity_norm", nb, FIELD(id), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "blocks/branch_norm", nb, FIELD(br), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "blocks/cosine", nb, FIELD(cos), 1e-5, 0, rec), 0);
    CU_ASSERT_EQUAL(compare_series(f, "blocks/branch_gain", nb, FIELD(gain), 1e-5, 0, rec), 0);
    for (int k = 0; k < STEPS; k++) {
        const ref_row *row = &rec->rows[k];
        CU_ASSERT_EQUAL(row->sum_mismatch, 0); /* input grad = identity + branch */
        for (size_t i = 0; i < nb; i++) {
            const gf_block *b = gf_net_block(rec->net, (int)i);
            if (b->kind == GF_BLOCK_PLAIN) {
                CU_ASSERT(isnan(row->id[i]) && isnan(row->cos[i]));
                CU_ASSERT_EQUAL(row->br[i], row->in[i]); /* all of dL/dx is "branch" */
                continue;
            }
            /* the hook's identity part is Sᵀ(m⊙g), computed here from g alone
             * (identity or option A shortcuts: all of resnet-8's) */
            CU_ASSERT(!isnan(row->id_from_v[i]) &&
                      !differs("identity from v", (size_t)k, i, row->id[i],
                               row->id_from_v[i], 1e-6, 0));
            /* |in|² = |id|² + |br|² + 2 cos |id||br| */
            double in2 = row->id[i] * row->id[i] + row->br[i] * row->br[i] +
                         2 * row->cos[i] * row->id[i] * row->br[i];
            CU_ASSERT(!differs("|input grad|^2", (size_t)k, i, row->in[i] * row->in[i], in2,
                               1e-6, 0));
        }
    }
}

/* responses/std column j is layers/act_std of layer model/responses/layer[j],
 * the BN after each 3×3 conv (or the conv, where no BN reads it). */
static void check_responses(hid_t f, recorded *rec)
{
    const gf_net *net = rec->net;
    size_t nl = (size_t)gf_net_num_layers(net), nr, c, r;
    int convs = 0;
    for (size_t i = 0; i < nl; i++) {
        const gf_layer *l = gf_net_layer(net, (int)i);
        convs += l->kind == GF_LAYER_CONV && l->k == 3;
    }
    double *layer = read_series(f, "model/responses/layer", &nr, &c);
    double *resp = series_of(f, "responses/std", nr), *std = series_of(f, "layers/act_std", nl);
    CU_ASSERT_EQUAL(nr, (size_t)convs);
    for (size_t j = 0; layer && resp && std && j < nr; j++) {
        int L = (int)layer[j];
        CU_ASSERT_FATAL(L >= 0 && L < (int)nl);
        const gf_layer *l = gf_net_layer(net, L), *conv = l, *bn = NULL;
        for (size_t i = 0; l->kind == GF_LAYER_BN && i < nl; i++)
            if (gf_net_layer(net, (int)i)->out == l->in)
                conv = gf_net_layer(net, (int)i); /* the layer this BN reads */
        for (size_t i = 0; i < nl; i++)
            if (gf_net_layer(net, (int)i)->kind == GF_LAYER_BN &&
                gf_net_layer(net, (int)i)->in == conv->out)
                bn = gf_net_layer(net, (int)i); /* the BN reading the conv, if any */
        CU_ASSERT(conv->kind == GF_LAYER_CONV && conv->k == 3);
        CU_ASSERT_PTR_EQUAL(l, bn ? bn : conv); /* after BN where there is one */
        for (r = 0; r < STEPS; r++)
            CU_ASSERT_EQUAL(resp[r * nr + j], std[r * nl + (size_t)L]);
    }
    free(layer), free(resp), free(std);
}

static void check_values(const char *model)
{
    char dir[512];
    recorded *rec = record_by_hand(model, test_dir("by-hand", dir, sizeof dir));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    gf_err err;
    hid_t f = gf_h5_open_read(rec->path, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    check_train_series(f, rec);
    check_layer_series(f, rec);
    check_param_series(f, rec);
    check_block_series(f, rec);
    check_responses(f, rec);
    CU_ASSERT_EQUAL(read_scalar(f, "status/clean_close"), 1);
    CU_ASSERT_EQUAL(read_scalar(f, "status/rows_flushed"), STEPS);
    H5Fclose(f);
    recorded_free(rec);
}

static void test_resnet_rows_equal_direct_computation(void) { check_values("resnet-8"); }
static void test_plain_rows_equal_direct_computation(void) { check_values("plain-8"); }

/* ------------------------------------------- 1b. tables and attributes */

/* A 1-D variable-length string dataset, read with the file's character set
 * (HDF5 does not convert UTF-8 to ASCII); free with gf_h5_names_free. */
static char **read_names(hid_t f, const char *dset, int *n)
{
    size_t rows = 0, cols;
    *n = 0;
    free(read_series(f, dset, &rows, &cols)); /* the shape (numeric read fails) */
    hid_t d = gf_h5_exists(f, dset) ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d), ft = H5Dget_type(d), mt = H5Tcopy(H5T_C_S1);
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    char **raw = count >= 0 ? calloc((size_t)count + 1, sizeof *raw) : NULL;
    char **out = raw ? calloc((size_t)count + 1, sizeof *out) : NULL;
    int ok = out && H5Tis_variable_str(ft) > 0 &&
             H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0;
    for (hssize_t i = 0; ok && i < count; i++)
        ok = (out[i] = strdup(raw[i] ? raw[i] : "")) != NULL;
    for (hssize_t i = 0; raw && i < count; i++)
        H5free_memory(raw[i]);
    free(raw);
    H5Tclose(mt), H5Tclose(ft), H5Sclose(sp), H5Dclose(d);
    if (!ok) {
        gf_h5_names_free(out, out ? (int)count : 0);
        return NULL;
    }
    *n = (int)count;
    return out;
}

static int strings_equal(hid_t f, const char *dset, int n,
                         const char *(*name)(const gf_net *, int), const gf_net *net)
{
    int count = 0, bad = 0;
    char **v = read_names(f, dset, &count);
    if (!v || count != n) {
        fprintf(stderr, "\n    %s: %d strings, expected %d", dset, count, n);
        gf_h5_names_free(v, count);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], name(net, i)) != 0) {
            fprintf(stderr, "\n    %s[%d] = '%s', expected '%s'", dset, i, v[i], name(net, i));
            bad++;
        }
    gf_h5_names_free(v, count);
    return bad;
}

static const char *layer_name(const gf_net *n, int i) { return gf_net_layer(n, i)->name; }
static const char *layer_kind(const gf_net *n, int i)
{
    return gf_layer_kind_name(gf_net_layer(n, i)->kind);
}
static const char *block_name(const gf_net *n, int i) { return gf_net_block(n, i)->name; }
static const char *block_kind(const gf_net *n, int i)
{
    static const char *kinds[] = {"plain", "resnet", "preact"};
    return kinds[gf_net_block(n, i)->kind];
}

/* Integer table dset is [n, cols] (cols 0: 1-D) and row i equals want(i). */
static int table_equal(hid_t f, const char *dset, int n, int cols, const gf_net *net,
                       void (*want)(const gf_net *, int, long *))
{
    size_t r, c;
    double *v = read_series(f, dset, &r, &c);
    int bad = !v || r != (size_t)n || c != (size_t)(cols ? cols : 1);
    for (int i = 0; !bad && i < n; i++) {
        long w[6];
        want(net, i, w);
        for (int j = 0; j < (cols ? cols : 1); j++)
            bad += differs(dset, (size_t)i, (size_t)j, v[(size_t)i * c + (size_t)j],
                           (double)w[j], 0, 0);
    }
    free(v);
    return bad;
}

static void layer_shape(const gf_net *n, int i, long *w)
{
    const gf_layer *l = gf_net_layer(n, i);
    long s[6] = {l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w};
    memcpy(w, s, sizeof s);
}
static void layer_block(const gf_net *n, int i, long *w) { w[0] = gf_net_layer(n, i)->block; }
static void block_shape(const gf_net *n, int i, long *w)
{
    const gf_block *b = gf_net_block(n, i);
    long s[6] = {b->in_c, b->in_h, b->in_w, b->out_c, b->out_h, b->out_w};
    memcpy(w, s, sizeof s);
}

static void check_tables(hid_t f, recorded *rec)
{
    const gf_net *net = rec->net;
    int nl = gf_net_num_layers(net), nb = gf_net_num_blocks(net);
    CU_ASSERT_EQUAL(strings_equal(f, "model/layers/name", nl, layer_name, net), 0);
    CU_ASSERT_EQUAL(strings_equal(f, "model/layers/kind", nl, layer_kind, net), 0);
    CU_ASSERT_EQUAL(strings_equal(f, "model/blocks/name", nb, block_name, net), 0);
    CU_ASSERT_EQUAL(strings_equal(f, "model/blocks/kind", nb, block_kind, net), 0);
    CU_ASSERT_EQUAL(table_equal(f, "model/layers/shape", nl, 6, net, layer_shape), 0);
    CU_ASSERT_EQUAL(table_equal(f, "model/layers/block", nl, 0, net, layer_block), 0);
    CU_ASSERT_EQUAL(table_equal(f, "model/blocks/shape", nb, 6, net, block_shape), 0);
    /* params: state_dict names, shape padded to 4 dims, then the element count */
    char **names = NULL;
    int count = 0;
    size_t r, c;
    double *shape = read_series(f, "model/params/shape", &r, &c);
    CU_ASSERT_PTR_NOT_NULL(names = read_names(f, "model/params/name", &count));
    CU_ASSERT_EQUAL(count, rec->n_params);
    CU_ASSERT(shape && r == (size_t)rec->n_params && c == 5);
    for (int i = 0; shape && r == (size_t)count && c == 5 && i < count; i++) {
        const gf_tensor_info *t = gf_net_tensor(net, rec->param_tensor[i]);
        CU_ASSERT_STRING_EQUAL(names[i], t->name);
        for (int d = 0; d < 4; d++)
            CU_ASSERT_EQUAL(shape[5 * i + d], d < t->ndim ? t->shape[d] : 1);
        CU_ASSERT_EQUAL(shape[5 * i + 4], (double)t->size);
    }
    gf_h5_names_free(names, count);
    free(shape);
    /* responses: names are those of the layers they index */
    double *layer = read_series(f, "model/responses/layer", &r, &c);
    CU_ASSERT_PTR_NOT_NULL(names = read_names(f, "model/responses/name", &count));
    CU_ASSERT(layer && (size_t)count == r && r > 0);
    for (int i = 0; layer && (size_t)count == r && i < count; i++)
        CU_ASSERT_STRING_EQUAL(names[i], gf_net_layer(net, (int)layer[i])->name);
    gf_h5_names_free(names, count);
    free(layer);
}

static void check_attrs(hid_t f, recorded *rec, const char *model)
{
    const char *p = rec->path;
    const gf_model_spec *s = gf_net_spec(rec->net);
    char v[512];
    long n;
    double d;
    gf_err err;
#define ATTR_STR(name, want)                                                           \
    CU_ASSERT(gf_h5_attr_string(f, p, "/", name, v, sizeof v, &err) == 0 &&             \
              strcmp(v, want) == 0)
#define ATTR_LONG(name, want) \
    CU_ASSERT(gf_h5_attr_long(f, p, "/", name, &n, &err) == 0 && n == (long)(want))
    ATTR_STR("schema", "gradflow-run");
    ATTR_LONG("schema_version", 1);
    ATTR_STR("model", model);
    ATTR_STR("family", gf_family_name(s->family));
    ATTR_STR("shortcut", s->shortcut ? "A" : "none");
    ATTR_STR("data", "hand-made");
    ATTR_STR("config_json", "{\"test\": true}");
    ATTR_LONG("depth", 8);
    ATTR_LONG("in_channels", 1);
    ATTR_LONG("height", 8);
    ATTR_LONG("width", 8);
    ATTR_LONG("num_classes", 10);
    ATTR_LONG("num_params", gf_net_num_params(rec->net));
    ATTR_LONG("batch", BATCH);
    ATTR_LONG("steps", STEPS);
    ATTR_LONG("seed", 11);
    ATTR_LONG("record_every", 1);
    ATTR_LONG("n_train", 16);
    CU_ASSERT(gf_h5_attr_double(f, p, "/", "lr", &d, &err) == 0 && d == 0.05f);
    CU_ASSERT(gf_h5_attr_double(f, p, "/", "momentum", &d, &err) == 0 && d == 0.9f);
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char hv[32];
    snprintf(hv, sizeof hv, "%u.%u.%u", maj, min, rel);
    ATTR_STR("hdf5_version", hv);
    static const char *present[] = {"gradflow_version", "git_commit", "openblas_config",
                                    "cpu_model", "start_time"};
    for (int i = 0; i < 5; i++)
        CU_ASSERT(gf_h5_attr_string(f, p, "/", present[i], v, sizeof v, &err) == 0 && v[0]);
    int Y, M, D, h, m, sec;
    CU_ASSERT(gf_h5_attr_string(f, p, "/", "start_time", v, sizeof v, &err) == 0 &&
              sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2dZ", &Y, &M, &D, &h, &m, &sec) == 6 &&
              strlen(v) == 20);
#undef ATTR_STR
#undef ATTR_LONG
}

typedef struct visit_ctx {
    hid_t file;
    const char *path;
    int datasets, missing;
} visit_ctx;

/* Every dataset carries string attributes 'units' and a non-empty 'description'. */
static herr_t check_described(hid_t g, const char *name, const H5L_info_t *info, void *user)
{
    (void)info;
    visit_ctx *c = user;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0)
        return -1;
    if (H5Iget_type(o) == H5I_DATASET) {
        char units[128] = "", desc[1024] = "";
        c->datasets++;
        if (gf_h5_attr_string(c->file, c->path, name, "units", units, sizeof units, NULL) ||
            gf_h5_attr_string(c->file, c->path, name, "description", desc, sizeof desc, NULL) ||
            !desc[0]) {
            fprintf(stderr, "\n    %s lacks units or a description", name);
            c->missing++;
        }
    }
    H5Oclose(o);
    return 0;
}

static void check_descriptions(hid_t f, const char *path)
{
    visit_ctx c = {f, path, 0, 0};
    CU_ASSERT(H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, check_described, &c) >= 0);
    CU_ASSERT_EQUAL(c.missing, 0);
    CU_ASSERT_EQUAL(c.datasets, N_STEP_SERIES + N_FIXED); /* the schema, nothing else */
    for (int i = 0; i < N_FIXED; i++)
        CU_ASSERT(gf_h5_exists(f, fixed_datasets[i]));
    for (int i = 0; i < N_STEP_SERIES; i++) {
        char units[128] = "";
        CU_ASSERT(gf_h5_attr_string(f, path, step_series[i].path, "units", units, sizeof units,
                                    NULL) == 0 && units[0]);
    }
}

static void test_model_tables_attributes_and_descriptions(void)
{
    static const char *models[] = {"resnet-8", "plain-8"};
    char dir[512];
    for (int m = 0; m < 2; m++) {
        recorded *rec = record_by_hand(models[m], test_dir("tables", dir, sizeof dir));
        CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
        gf_err err;
        hid_t f = gf_h5_open_read(rec->path, 0, &err); /* closed cleanly: plain open works */
        CU_ASSERT_FATAL(f >= 0);
        check_tables(f, rec);
        check_attrs(f, rec, models[m]);
        check_descriptions(f, rec->path);
        H5Fclose(f);
        recorded_free(rec);
    }
}

/* gf_h5_read_strings must read the run file's UTF-8 names with a UTF-8
 * memory type: with an ASCII one, HDF5 1.10 refuses the conversion until some
 * UTF-8 conversion has happened in the process, so the first read of
 * model/layers/name failed in a fresh library (here: a child after H5close). */
static void test_h5_read_strings_reads_utf8_names_in_fresh_library(void)
{
    char dir[512];
    recorded *rec = record_by_hand("resnet-8", test_dir("utf8", dir, sizeof dir));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    int want = gf_net_num_layers(rec->net);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        H5close(); /* forget every conversion path the parent registered */
        gf_err err;
        char **v = NULL;
        int n = 0;
        hid_t f = gf_h5_open_read(rec->path, 1, &err);
        int ok = f >= 0 && gf_h5_read_strings(f, rec->path, "model/layers/name", &v, &n,
                                              &err) == 0 && n == want &&
                 strcmp(v[0], "conv1") == 0;
        if (!ok)
            fprintf(stderr, "\n    first read in a fresh library: %s", err.msg);
        _exit(ok ? 0 : 1);
    }
    int st = -1;
    CU_ASSERT_FATAL(pid > 0 && waitpid(pid, &st, 0) == pid);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    recorded_free(rec);
}

/* --record-every K records steps 1, K+1, 2K+1. */
static void test_record_every_k_records_steps_1_k1_2k1(void)
{
    char dir[512], run[600];
    test_dir("every", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/every.h5", dir);
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=128,H=8,W=8,TEST=32", "--steps", "9", "--batch", "16",
                          "--record-every", "4", "--record", run, NULL};
    child c;
    CU_ASSERT_EQUAL_FATAL(run_cli(&c, dir, "every", args, 60), 0);
    gf_err err;
    hid_t f = gf_h5_open_read(run, 0, &err);
    CU_ASSERT_FATAL(f >= 0);
    size_t r, cols;
    double *step = read_series(f, "step", &r, &cols), *lr = read_series(f, "train/lr", &r, &cols);
    CU_ASSERT_EQUAL(common_rows(f), 3);
    CU_ASSERT(step && r == 3 && step[0] == 1 && step[1] == 5 && step[2] == 9);
    /* each row's lr is the schedule's at its step: 0.1, 0.1, 0.001 */
    gf_train_config cfg;
    gf_train_defaults(&cfg);
    for (int k = 0; lr && r == 3 && k < 3; k++)
        CU_ASSERT_EQUAL(lr[k], gf_train_lr(&cfg, 4 * k, 9));
    CU_ASSERT(lr && r == 3 && lr[2] < lr[0]);
    long every;
    CU_ASSERT(gf_h5_attr_long(f, run, "/", "record_every", &every, &err) == 0 && every == 4);
    CU_ASSERT_EQUAL(read_scalar(f, "status/rows_flushed"), 3);
    free(step), free(lr);
    H5Fclose(f);
}

/* ------------------------------------------------ 2, 3. kills and stops */

/* A long recording run of resnet-8 on 8×8 synthetic data. */
static pid_t start_long_run(child *c, const char *dir, const char *tag, const char *run,
                            const char *flush)
{
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=4096,H=8,W=8,TEST=32", "--epochs", "100", "--batch", "8",
                          "--threads", "1", "--record", run, "--flush-every", flush,
                          "--progress-every", "1000", NULL};
    return spawn(c, dir, tag, args, 0);
}

/* After a SIGKILL the first status/rows_flushed rows of every series are
 * readable and whole; the file reads as not closed cleanly. */
static void check_killed_file(const char *run, long flushed_seen)
{
    gf_err err;
    hid_t f = gf_h5_open_read(run, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    long fewest, most, kept = (long)read_scalar(f, "status/rows_flushed");
    CU_ASSERT_EQUAL(row_range(f, &fewest, &most), 0);
    CU_ASSERT(kept >= 6 && kept >= flushed_seen);
    CU_ASSERT(fewest >= kept); /* every flushed row of every series */
    CU_ASSERT(steps_consecutive(f, kept));
    CU_ASSERT_EQUAL(read_scalar(f, "status/clean_close"), 0);
    size_t r, cols;
    double *loss = read_series(f, "train/loss", &r, &cols);
    double *rms = read_series(f, "layers/act_rms", &r, &cols);
    int finite = loss && rms && fewest >= kept;
    for (size_t i = 0; finite && i < (size_t)kept; i++)
        finite = isfinite(loss[i]) && loss[i] > 0 && isfinite(rms[i * cols]) && rms[i * cols] > 0;
    CU_ASSERT(finite);
    free(loss), free(rms);
    H5Fclose(f);
}

static void test_killed_run_keeps_flushed_rows(void)
{
    char dir[512], run[600];
    test_dir("killed", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/killed.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "killed", run, "2") > 0);
    long live_rows, flushed = wait_for_rows(run, 6, c.pid, 60, &live_rows);
    kill(c.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&c, 30), SIGNALLED + SIGKILL); /* it was still training */
    CU_ASSERT(flushed >= 6);
    CU_ASSERT(live_rows >= flushed); /* read live, while it trained */
    check_killed_file(run, flushed);
    const char *args[] = {"inspect", run, NULL};
    CU_ASSERT_EQUAL(run_cli(&c, dir, "inspect", args, 30), 0);
    char *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "not closed cleanly"));
    free(out);
}

/* A SIGKILL during a flush (the series are extended and flushed one after
 * another, which HDF5 cannot make atomic across datasets) may leave some
 * series a row longer than others; the contract (docs/run-file.md) is that
 * status/rows_flushed rows are whole in every series. The kill lands in a
 * flush by firing while the file grows. */
static void test_kill_mid_flush_keeps_rows_flushed_whole(void)
{
    char dir[512], run[600];
    test_dir("midflush", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/mid.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "mid", run, "2") > 0);
    long live_rows, flushed = wait_for_rows(run, 2, c.pid, 60, &live_rows);
    struct stat st;
    off_t size = -1;
    double t0 = now();
    for (int growths = 0; growths < 10 && now() - t0 < 30 && stat(run, &st) == 0;) {
        growths += size >= 0 && st.st_size != size;
        size = st.st_size;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    kill(c.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&c, 30), SIGNALLED + SIGKILL);
    CU_ASSERT(flushed >= 2);
    gf_err err;
    hid_t f = gf_h5_open_read(run, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    long fewest, most, whole = (long)read_scalar(f, "status/rows_flushed");
    CU_ASSERT_EQUAL(row_range(f, &fewest, &most), 0);
    CU_ASSERT(whole >= flushed);
    CU_ASSERT(fewest >= whole);
    CU_ASSERT(steps_consecutive(f, whole));
    H5Fclose(f);
}

/* SIGTERM: the step finishes, the file closes cleanly, exit 128 + 15. */
static void test_sigterm_closes_run_file_cleanly(void)
{
    char dir[512], run[600];
    test_dir("sigterm", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/term.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "term", run, "1") > 0);
    long live_rows, flushed = wait_for_rows(run, 3, c.pid, 60, &live_rows);
    CU_ASSERT(flushed >= 3);
    kill(c.pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_child(&c, 60), 128 + SIGTERM);
    gf_err err;
    hid_t f = gf_h5_open_read(run, 0, &err); /* closed: no SWMR needed */
    CU_ASSERT_FATAL(f >= 0);
    long rows = common_rows(f);
    CU_ASSERT(rows >= flushed && rows >= 3);
    CU_ASSERT(steps_consecutive(f, rows));
    CU_ASSERT_EQUAL(read_scalar(f, "status/clean_close"), 1);
    CU_ASSERT_EQUAL(read_scalar(f, "status/rows_flushed"), (double)rows);
    /* one epoch row for the partial epoch, at the last step */
    size_t r, cols;
    double *estep = read_series(f, "epochs/step", &r, &cols);
    CU_ASSERT(estep && r == 1 && estep[0] == (double)rows);
    free(estep);
    H5Fclose(f);
    char *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stopped by SIGTERM"));
    free(out);
}

/* ------------------------------------------------ 4. unwritable, disk full */

static void test_unwritable_record_path_exits_1_naming_it(void)
{
    char dir[512];
    test_dir("unwritable", dir, sizeof dir);
    const char *bad = "/nonexistent-dir/run.h5";
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=64,H=8,W=8,TEST=16", "--steps", "2", "--batch", "8",
                          "--record", bad, NULL};
    child c;
    CU_ASSERT_EQUAL(run_cli(&c, dir, "unwritable", args, 60), 1);
    char *err = slurp(c.err, NULL);
    CU_ASSERT_EQUAL(count_lines(err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, bad));
    free(err);
}

/* Writes failing with EFBIG part-way (RLIMIT_FSIZE): the run stops early with
 * exit status 1 and says why, rather than training on without its records.
 * The limit lets the file be created (~50 kB) and a few flushes through.
 * (Regression: the process once died in HDF5's atexit clean-up after the
 * message, losing the summary; main() now calls H5dont_atexit.) */
static void test_disk_full_stops_run_with_exit_1(void)
{
    char dir[512], run[600];
    test_dir("diskfull", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/full.h5", dir);
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=2048,H=8,W=8,TEST=32", "--steps", "2000", "--batch", "8",
                          "--threads", "1", "--record", run, "--flush-every", "1",
                          "--progress-every", "1000", NULL};
    child c;
    CU_ASSERT_FATAL(spawn(&c, dir, "full", args, 256 * 1024) > 0);
    int code = wait_child(&c, 120);
    CU_ASSERT(code < SIGNALLED); /* not a crash */
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT(file_exists(run));
    char *err = slurp(c.err, NULL), *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "disk full"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, run));
    const char *sum = strstr(out, "summary: resnet-8, ");
    long steps = -1;
    CU_ASSERT(sum && sscanf(sum, "summary: resnet-8, %ld steps", &steps) == 1);
    CU_ASSERT(steps > 0 && steps < 2000);
    if (code != 1)
        fprintf(stderr, "\n    exit %d; stderr: %s", code, err);
    free(err), free(out);
}

/* ------------------------------------------------ 5. checkpoint + resume */

/* Every element of dset in files a and b, bit for bit. */
static int same_bits(hid_t a, hid_t b, const char *dset)
{
    size_t ra, ca, rb, cb;
    double *va = read_series(a, dset, &ra, &ca), *vb = read_series(b, dset, &rb, &cb);
    int same = va && vb && ra == rb && ca == cb && ra > 0 &&
               memcmp(va, vb, ra * ca * sizeof *va) == 0;
    if (!same)
        fprintf(stderr, "\n    %s differs (%zu x %zu vs %zu x %zu)", dset, ra, ca, rb, cb);
    free(va), free(vb);
    return same;
}

/* The tensors under /params of two weights files, bit for bit. */
static int same_weights(const char *pa, const char *pb)
{
    gf_err err;
    hid_t a = gf_h5_open_read(pa, 0, &err), b = gf_h5_open_read(pb, 0, &err);
    char **names = NULL;
    int count = 0, same = a >= 0 && b >= 0 && gf_h5_list(a, pa, "params", &names, &count,
                                                         &err) == 0 && count > 20;
    for (int i = 0; same && i < count; i++) {
        char d[160];
        float *va = NULL, *vb = NULL;
        size_t na = 0, nb = 0, dims[8];
        int nd;
        snprintf(d, sizeof d, "params/%s", names[i]);
        same = gf_h5_read_floats(a, pa, d, &va, &na, &nd, dims, &err) == 0 &&
               gf_h5_read_floats(b, pb, d, &vb, &nb, &nd, dims, &err) == 0 && na == nb &&
               memcmp(va, vb, na * sizeof *va) == 0;
        if (!same)
            fprintf(stderr, "\n    %s differs between %s and %s", d, pa, pb);
        free(va), free(vb);
    }
    gf_h5_names_free(names, count);
    if (a >= 0)
        H5Fclose(a);
    if (b >= 0)
        H5Fclose(b);
    return same;
}

static void compare_resumed(const char *ra, const char *rb, const char *wa, const char *wb)
{
    gf_err err;
    hid_t a = gf_h5_open_read(ra, 0, &err), b = gf_h5_open_read(rb, 0, &err);
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    CU_ASSERT_EQUAL(common_rows(a), 24);
    CU_ASSERT_EQUAL(common_rows(b), 24);
    CU_ASSERT(steps_consecutive(b, 24));
    /* the resumed run's clock continues from the kept rows: never backwards */
    size_t n = 0, w = 0;
    double *t = read_series(b, "time", &n, &w);
    for (size_t i = 1; t && i < n; i++)
        CU_ASSERT(t[i] >= t[i - 1]);
    free(t);
    CU_ASSERT(same_bits(a, b, "train/loss"));
    CU_ASSERT(same_bits(a, b, "layers/grad_norm"));
    CU_ASSERT(same_bits(a, b, "blocks/branch_gain"));
    CU_ASSERT(same_bits(a, b, "params/update_norm"));
    CU_ASSERT(same_bits(a, b, "epochs/test_error"));
    CU_ASSERT(same_bits(a, b, "epochs/train_loss"));
    CU_ASSERT_EQUAL(read_scalar(b, "status/clean_close"), 1);
    H5Fclose(a), H5Fclose(b);
    CU_ASSERT(same_weights(wa, wb));
}

/* Run A uninterrupted; run B checkpoints every 5 steps, is SIGKILLed past a
 * checkpoint, and resumes: both must agree bit for bit. */
static void test_resume_after_kill_is_bit_identical(void)
{
    char dir[512], ra[600], rb[600], wa[600], wb[600], ck[600];
    test_dir("resume", dir, sizeof dir);
    snprintf(ra, sizeof ra, "%s/ra.h5", dir), snprintf(rb, sizeof rb, "%s/rb.h5", dir);
    snprintf(wa, sizeof wa, "%s/a.h5", dir), snprintf(wb, sizeof wb, "%s/b.h5", dir);
    snprintf(ck, sizeof ck, "%s/ck.h5", dir);
#define RUN_ARGS "train", "--model", "resnet-8", "--data", "synthetic:N=256,H=12,W=12,TEST=64", \
                 "--epochs", "3", "--batch", "32", "--threads", "2", "--flush-every", "1"
    const char *args_a[] = {RUN_ARGS, "--record", ra, "-o", wa, NULL};
    const char *args_b[] = {RUN_ARGS, "--record", rb, "-o", wb, "--checkpoint", ck,
                            "--checkpoint-every", "5", NULL};
#undef RUN_ARGS
    child a, b;
    CU_ASSERT_FATAL(spawn(&a, dir, "a", args_a, 0) > 0);
    CU_ASSERT_FATAL(spawn(&b, dir, "b", args_b, 0) > 0);
    /* kill B one to three steps after a checkpoint (every 5 steps) */
    long ck_step = -1, rows = -1, flushed = -1;
    double t0 = now();
    while (now() - t0 < 90 && running(b.pid)) {
        gf_err err;
        hid_t f = file_exists(ck) ? gf_h5_open_read(ck, 0, &err) : -1;
        if (f >= 0 && gf_h5_attr_long(f, ck, "/", "step", &ck_step, &err) != 0)
            ck_step = -1;
        if (f >= 0)
            H5Fclose(f);
        flushed = live_flushed(rb, &rows);
        if (ck_step > 0 && flushed > ck_step && flushed <= ck_step + 3)
            break;
        sleep_ms(5);
    }
    kill(b.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&b, 30), SIGNALLED + SIGKILL);
    gf_err err;
    hid_t f = gf_h5_open_read(ck, 0, &err);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(gf_h5_attr_long(f, ck, "/", "step", &ck_step, &err) == 0 && ck_step % 5 == 0);
    H5Fclose(f);
    live_flushed(rb, &rows);
    CU_ASSERT(rows > ck_step); /* the resumed run must drop and redo rows */
    CU_ASSERT(!file_exists(wb));
    const char *args_r[] = {"train", "--resume", ck, NULL};
    CU_ASSERT_EQUAL(run_cli(&b, dir, "resumed", args_r, 120), 0);
    CU_ASSERT_EQUAL(wait_child(&a, 120), 0);
    char *out = slurp(b.out, NULL), want[64];
    snprintf(want, sizeof want, "at step %ld", ck_step);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    free(out);
    compare_resumed(ra, rb, wa, wb);
}

/* ------------------------------------------------ 6. bad input files */

/* An HDF5 file with one dataset 'x', or (schema != NULL) just a root
 * attribute schema. */
static int make_foreign_h5(const char *path, const char *schema)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return -1;
    int rc = 0;
    if (schema) {
        rc = gf_h5_set_attr_string(f, "schema", schema);
    } else {
        hsize_t n = 4;
        const float x[4] = {1, 2, 3, 4};
        rc = gf_h5_write_floats(f, "x", x, 1, &n);
    }
    return H5Fclose(f) < 0 || rc ? -1 : 0;
}

/* The bad files of dir: truncated and bit-flipped run files, a foreign HDF5
 * file, a wrong-schema file and a text file. */
static int make_bad_files(const char *dir, char paths[5][600])
{
    recorded *rec = record_by_hand("resnet-8", dir);
    size_t n = 0;
    char *run = rec ? slurp(rec->path, &n) : NULL;
    recorded_free(rec);
    static const char *names[5] = {"truncated.h5", "flipped.h5", "foreign.h5",
                                   "wrong-schema.h5", "text.h5"};
    for (int i = 0; i < 5; i++)
        snprintf(paths[i], 600, "%s/%s", dir, names[i]);
    int rc = !run || n < 4096 || write_bytes(paths[0], run, n / 2);
    /* flip the middle third: object headers and B-trees, not only raw data */
    for (size_t i = n / 3; run && i < 2 * n / 3; i += 7)
        run[i] ^= 0x5A;
    rc = rc || write_bytes(paths[1], run, n) || make_foreign_h5(paths[2], NULL) ||
         make_foreign_h5(paths[3], "something-else") ||
         write_bytes(paths[4], "just some text, not HDF5\n", 25);
    free(run);
    return rc ? -1 : 0;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Runs one reader on one bad file: exit 1 or 2, not a signal, not a hang,
 * one stderr line naming the file, and no new files in dir. */
static void check_refusal(const char *dir, const char *tag, const char *const *args,
                          const char *bad, const char *outputs[3])
{
    int before = count_entries(dir);
    child c;
    int code = run_cli(&c, dir, tag, args, 10);
    char *err = slurp(c.err, NULL);
    int ok = (code == 1 || code == 2) && count_lines(err) == 1 && strstr(err, bad);
    for (int i = 0; outputs && i < 3; i++)
        ok &= !file_exists(outputs[i]);
    ok &= count_entries(dir) == before + 2; /* only tag.out and tag.err */
    if (!ok)
        fprintf(stderr, "\n    %s: exit %d%s, stderr: %s", tag, code,
                code >= SIGNALLED ? " (signal)" : code == TIMED_OUT ? " (hung)" : "", err);
    CU_ASSERT(code != TIMED_OUT && code < SIGNALLED);
    CU_ASSERT(ok);
    free(err);
}

/* Every reader refuses every bad file quickly. (Regression: `inspect` once
 * hung on a bit-flipped run file: an SWMR open retries a metadata checksum
 * failure 100 times with doubling sleeps; gf_h5_open_read bounds it.) */
static void test_bad_files_refused_by_every_reader(void)
{
    char dir[512], out_dir[600], paths[5][600], o[3][700];
    test_dir("bad", dir, sizeof dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    mkdir(out_dir, 0755);
    CU_ASSERT_FATAL(make_bad_files(dir, paths) == 0);
    snprintf(o[0], sizeof o[0], "%s/w.h5", out_dir);
    snprintf(o[1], sizeof o[1], "%s/run.h5", out_dir);
    snprintf(o[2], sizeof o[2], "%s/ck.h5", out_dir);
    const char *outputs[3] = {o[0], o[1], o[2]};
    static const char *kinds[5] = {"truncated", "flipped", "foreign", "schema", "text"};
    for (int i = 0; i < 5; i++) {
        const char *p = paths[i];
        char tag[64];
        const char *inspect[] = {"inspect", p, NULL}, *verify[] = {"verify", p, NULL};
        const char *init[] = {"train", "--model", "resnet-8", "--data",
                              "synthetic:N=64,H=8,W=8,TEST=16", "--steps", "1", "--batch", "8",
                              "--init", p, "-o", o[0], "--record", o[1], "--checkpoint", o[2],
                              NULL};
        const char *resume[] = {"train", "--resume", p, NULL};
        snprintf(tag, sizeof tag, "inspect-%s", kinds[i]);
        check_refusal(out_dir, tag, inspect, p, NULL);
        snprintf(tag, sizeof tag, "verify-%s", kinds[i]);
        check_refusal(out_dir, tag, verify, p, NULL);
        snprintf(tag, sizeof tag, "init-%s", kinds[i]);
        check_refusal(out_dir, tag, init, p, outputs);
        snprintf(tag, sizeof tag, "resume-%s", kinds[i]);
        check_refusal(out_dir, tag, resume, p, outputs);
    }
}

int suite_record_register(void)
{
    CU_pSuite s = CU_add_suite("record", NULL, NULL);
    if (!s ||
        !CU_add_test(s, "resnet rows equal direct computation",
                     test_resnet_rows_equal_direct_computation) ||
        !CU_add_test(s, "plain rows equal direct computation",
                     test_plain_rows_equal_direct_computation) ||
        !CU_add_test(s, "model tables, attributes and descriptions",
                     test_model_tables_attributes_and_descriptions) ||
        !CU_add_test(s, "gf_h5_read_strings reads UTF-8 names in a fresh library",
                     test_h5_read_strings_reads_utf8_names_in_fresh_library) ||
        !CU_add_test(s, "--record-every K records steps 1, K+1, 2K+1",
                     test_record_every_k_records_steps_1_k1_2k1) ||
        !CU_add_test(s, "killed run keeps flushed rows", test_killed_run_keeps_flushed_rows) ||
        !CU_add_test(s, "kill mid-flush keeps rows_flushed rows whole",
                     test_kill_mid_flush_keeps_rows_flushed_whole) ||
        !CU_add_test(s, "SIGTERM closes the run file cleanly",
                     test_sigterm_closes_run_file_cleanly) ||
        !CU_add_test(s, "unwritable record path exits 1 naming it",
                     test_unwritable_record_path_exits_1_naming_it) ||
        !CU_add_test(s, "disk full stops the run with exit 1",
                     test_disk_full_stops_run_with_exit_1) ||
        !CU_add_test(s, "resume after SIGKILL is bit-identical",
                     test_resume_after_kill_is_bit_identical) ||
        !CU_add_test(s, "bad files refused by every reader",
                     test_bad_files_refused_by_every_reader))
        return -1;
    return 0;
}
