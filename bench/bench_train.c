/* bench_train.c — training-speed benchmark of one gradflow configuration.
 *
 * Trains MODEL on one seeded batch of synthetic data (inputs N(0,1), labels
 * uniform in [0, classes)) for W warm-up and S timed SGD steps, the step
 * being exactly the library's training step:
 *   gf_net_forward; gf_net_loss; gf_net_zero_grad; gf_net_backward; gf_sgd_step
 * Images/s is batch / the median timed step (sec_step; the mean and the minimum
 * are printed too), so one step slowed by a neighbour on a shared machine does
 * not move it. fwd_ms/bwd_ms/sgd_ms are per-step means of forward+loss,
 * zero_grad+backward and the SGD step. The program
 * prints ONE machine-readable line of key=value pairs starting "BENCH"
 * (bench/torch_bench.py prints the same keys; bench/run.sh parses both).
 *
 * FLOP convention (also printed as flops=3xfwd): forward FLOPs are the
 * matrix-product FLOPs of the convolutions and the linear layer, 2*Co*Ci*K*K*Ho*Wo
 * per conv and 2*In*Out for the linear layer, per image; a training step
 * counts 3 x forward (backward = dx + dw, each as costly as the forward).
 * BN, ReLU, add, shortcut, pooling, loss and SGD are not counted. The exact
 * count of what is computed, which skips the stem conv's dx because neither
 * framework needs the input gradient, is printed as gflop_img_exact; GFLOP/s
 * uses the 3x convention. These are the FLOPs of a direct convolution
 * whatever the kernel does (Winograd or FFT do fewer multiplications), so
 * GFLOP/s is an effective rate, comparable across implementations.
 *
 * cpus_used is this process's CPU time over the timed steps' wall time;
 * others_cpus the CPUs that other processes kept busy meanwhile (from
 * /proc/stat), which says how much a shared machine disturbed the run.
 *
 * Peak memory is getrusage(RUSAGE_SELF).ru_maxrss of this process (so run
 * one configuration per process), in MiB; act_mb is the part the net
 * planned for activations (gf_net_activation_bytes), out_mb and grad_mb its
 * layer outputs and gradients. Threads (--threads T, default
 * nproc): gf_set_num_threads(T) for the library's kernel team, and
 * openblas_set_num_threads(T); printed as threads= (requested), gf_threads=
 * (the team's count) and blas_threads= (OpenBLAS's), "-" where unknown.
 *
 * usage: bench_train --model resnet-20 [--input 3x32x32] [--batch 128]
 *                    [--warmup 3] [--steps 10] [--threads T] [--seed 1]
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/net.h"
#include "gradflow/optim.h"
#include "gradflow/record.h"
#include "gradflow/rng.h"

/* Thread controls, declared here (weak) so the bench builds against any
 * version of the library and any BLAS: a function that is absent is NULL.
 *   gf_set_num_threads   the library's kernel team (kernels.h); it must be
 *                        set before the first net or kernel call
 *   omp_set_num_threads  for a library built on OpenMP instead
 *   openblas_*           OpenBLAS's own threads, its core and build config
 * Without them the thread counts come from GF_NUM_THREADS / OMP_NUM_THREADS /
 * OPENBLAS_NUM_THREADS, which bench/run.sh sets too. */
int gf_set_num_threads(int n) __attribute__((weak));
int gf_num_threads(void) __attribute__((weak));
void omp_set_num_threads(int) __attribute__((weak));
int omp_get_max_threads(void) __attribute__((weak));
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
char *openblas_get_corename(void) __attribute__((weak));
char *openblas_get_config(void) __attribute__((weak));
void gf_net_memory_usage(const gf_net *net, gf_net_memory *m) __attribute__((weak));

typedef struct bench_opts {
    const char *model;
    int in_c, in_h, in_w;
    int batch, warmup, steps, threads;
    uint64_t seed;
    const char *perf_ctl; /* perf record --control fifo, or NULL */
    int layer_times;      /* time every layer through the net's hooks */
    const char *record;   /* record into this run file, or NULL */
    int record_every;     /* record every K-th step (2: alternate, in one process) */
} bench_opts;

static const char usage[] =
    "usage: bench_train --model MODEL [--input CxHxW] [--batch B] [--warmup W]\n"
    "                   [--steps S] [--threads T] [--seed N] [--perf-ctl FIFO]\n"
    "                   [--layer-times] [--record RUN.h5 [--record-every K]]\n"
    "Trains MODEL (plain-N, resnet-N[-A|-B], ...) on synthetic data and prints one\n"
    "line: BENCH impl=gradflow model=... img_s=... gflop_s=... peak_rss_mb=...\n"
    "Defaults: --input 3x32x32 --batch 128 --warmup 3 --steps 10 --threads nproc --seed 1\n"
    "--perf-ctl FIFO writes 'enable' to FIFO after the warm-up and 'disable' after\n"
    "the timed steps, so `perf record -D -1 --control fifo:FIFO` samples only those.\n"
    "--layer-times adds one LAYERS line per layer kind: its forward and backward\n"
    "milliseconds per timed step, measured between the net's layer hooks.\n"
    "--record RUN.h5 records every step (warm-up included) as `gradflow train --record`\n"
    "does, so the time per step includes the recorder's hooks, its parameter norms\n"
    "and its writes; compare with a run without it for the recording overhead.\n"
    "--record-every K records every K-th step only; the line then also gives the\n"
    "median of the recorded and of the other steps (rec_sec_step, norec_sec_step)\n"
    "and record_overhead = their ratio - 1: with K = 2 recorded and plain steps\n"
    "alternate in one process, so drifts of the machine affect both alike.\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds used by the whole machine (every process, all CPUs) since boot,
 * from /proc/stat's first line: user nice system idle iowait irq softirq
 * steal ... in clock ticks; busy = all but idle and iowait. -1 if unreadable. */
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1.0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return -1.0;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds (user + system) of this process, all its threads. */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* Returns 0 and fills o, or prints the problem and returns 2. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){NULL, 3, 32, 32, 128, 3, 10, (int)sysconf(_SC_NPROCESSORS_ONLN), 1, NULL, 0,
                       NULL, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--layer-times") == 0) {
            o->layer_times = 1;
            continue;
        } else if (ok && strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (ok && strcmp(a, "--input") == 0) {
            ok = sscanf(v, "%dx%dx%d", &o->in_c, &o->in_h, &o->in_w) == 3 && o->in_c > 0 &&
                 o->in_h > 0 && o->in_w > 0;
        } else if (ok && strcmp(a, "--batch") == 0) {
            ok = sscanf(v, "%d", &o->batch) == 1 && o->batch > 0;
        } else if (ok && strcmp(a, "--warmup") == 0) {
            ok = sscanf(v, "%d", &o->warmup) == 1 && o->warmup >= 0;
        } else if (ok && strcmp(a, "--steps") == 0) {
            ok = sscanf(v, "%d", &o->steps) == 1 && o->steps > 0;
        } else if (ok && strcmp(a, "--threads") == 0) {
            ok = sscanf(v, "%d", &o->threads) == 1 && o->threads > 0;
        } else if (ok && strcmp(a, "--record") == 0) {
            o->record = v;
        } else if (ok && strcmp(a, "--record-every") == 0) {
            ok = sscanf(v, "%d", &o->record_every) == 1 && o->record_every > 0;
        } else if (ok && strcmp(a, "--perf-ctl") == 0) {
            o->perf_ctl = v;
        } else if (ok && strcmp(a, "--seed") == 0) {
            ok = sscanf(v, "%" SCNu64, &o->seed) == 1;
        } else {
            ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "bench_train: bad or incomplete argument '%s'\n%s", a, usage);
            return 2;
        }
        i++;
    }
    if (!o->model) {
        fprintf(stderr, "bench_train: --model is required\n%s", usage);
        return 2;
    }
    return 0;
}

/* Per-image FLOPs of the net (see the convention at the top of this file):
 * *fwd = forward conv + linear matmul FLOPs, *exact = forward + dw + dx where
 * dx is skipped for layers that read the network input. */
static void count_flops(const gf_net *net, double *fwd, double *exact)
{
    *fwd = *exact = 0.0;
    for (int i = 0; i < gf_net_num_layers(net); i++) {
        const gf_layer *l = gf_net_layer(net, i);
        double f;
        if (l->kind == GF_LAYER_CONV)
            f = 2.0 * l->out_c * l->in_c * l->k * l->k * l->out_h * l->out_w;
        else if (l->kind == GF_LAYER_LINEAR)
            f = 2.0 * (double)gf_layer_in_size(l) * l->out_c;
        else
            continue;
        int reads_input = i == 0; /* the stem: its dx is not needed */
        *fwd += f;
        *exact += f * (reads_input ? 2.0 : 3.0);
    }
}

/* Seeded synthetic batch: x ~ N(0, 1), labels uniform in [0, classes). */
static void synth_batch(float *x, int32_t *labels, size_t n_x, int B, int classes,
                        uint64_t seed)
{
    gf_rng rng;
    gf_rng_seed(&rng, seed, 7 /* stream: benchmark data */);
    for (size_t i = 0; i < n_x; i++)
        x[i] = (float)gf_rng_normal(&rng);
    for (int b = 0; b < B; b++)
        labels[b] = (int32_t)gf_rng_below(&rng, (uint32_t)classes);
}

typedef struct step_times {
    double fwd, bwd, sgd; /* seconds, summed over the timed steps */
} step_times;

/* Per-layer-kind time from the net's hooks: each hook call charges the time
 * since the previous one to the layer just finished. In backward, the sum
 * input_grad = identity + branch that ends a residual block is charged to
 * "add" (the block hook), as is the add layer's own (trivial) backward. */
#define N_KINDS (GF_LAYER_LINEAR + 1)
typedef struct layer_clock {
    double last;
    double t[2][N_KINDS]; /* [forward, backward][kind], seconds */
    int on;               /* 1 during timed steps */
} layer_clock;

static void clock_charge(layer_clock *c, int pass, gf_layer_kind kind)
{
    double t = now_s();
    if (c->on)
        c->t[pass][kind] += t - c->last;
    c->last = t;
}
static int on_layer_forward(void *u, const gf_layer *l, int B, int training)
{
    (void)B, (void)training;
    clock_charge(u, 0, l->kind);
    return 0;
}
static int on_layer_backward(void *u, const gf_layer *l, const float *dx, int B)
{
    (void)dx, (void)B;
    clock_charge(u, 1, l->kind);
    return 0;
}
static int on_block_backward(void *u, const gf_block *b, int B)
{
    (void)b, (void)B;
    clock_charge(u, 1, GF_LAYER_ADD);
    return 0;
}

static void print_layer_times(const layer_clock *c, const bench_opts *o)
{
    double total = 0.0;
    for (int k = 0; k < N_KINDS; k++)
        total += c->t[0][k] + c->t[1][k];
    for (int k = 0; k < N_KINDS; k++)
        printf("LAYERS impl=gradflow model=%s input=%dx%dx%d kind=%s fwd_ms=%.1f bwd_ms=%.1f "
               "pct=%.1f\n",
               o->model, o->in_c, o->in_h, o->in_w, gf_layer_kind_name((gf_layer_kind)k),
               1e3 * c->t[0][k] / o->steps, 1e3 * c->t[1][k] / o->steps,
               total > 0 ? 100.0 * (c->t[0][k] + c->t[1][k]) / total : 0.0);
}

/* The recorder of a --record run and the step count it is told. */
typedef struct bench_recording {
    gf_recorder *rec;
    long step;
} bench_recording;

/* One training step; adds its phase times to t if non-NULL. Returns the loss,
 * or NAN if the recorder failed. With a recorder the step is recorded as the
 * training loop records it (gf_recorder_before_step / _after_step). */
static double train_step(gf_net *net, gf_sgd *sgd, const float *x, const int32_t *labels, int B,
                         step_times *t, layer_clock *lc, bench_recording *rec)
{
    int correct = 0;
    double t0 = now_s();
    if (rec->rec)
        gf_recorder_before_step(rec->rec, net, rec->step);
    lc->last = t0;
    gf_net_forward(net, x, B, 1);
    double loss = gf_net_loss(net, labels, 1, &correct);
    double t1 = now_s();
    gf_net_zero_grad(net);
    lc->last = now_s();
    gf_net_backward(net, 0);
    double t2 = now_s();
    gf_sgd_step(sgd, net);
    if (rec->rec) {
        gf_train_status st = {.step = ++rec->step, .loss = loss, .lr = sgd->lr,
                              .train_err = 1.0 - (double)correct / B, .step_seconds = now_s() - t0};
        gf_err err;
        if (gf_recorder_after_step(rec->rec, &st, net, sgd, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            loss = NAN;
        }
    }
    double t3 = now_s();
    if (t)
        t->fwd += t1 - t0, t->bwd += t2 - t1, t->sgd += t3 - t2;
    return loss;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v; v[0] is then the minimum). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Sends a command ("enable", "disable") to perf record's control FIFO. */
static void perf_ctl(const char *fifo, const char *cmd)
{
    if (!fifo)
        return;
    FILE *f = fopen(fifo, "w");
    if (!f) {
        fprintf(stderr, "bench_train: cannot open perf control fifo %s\n", fifo);
        return;
    }
    fprintf(f, "%s\n", cmd);
    fclose(f);
}

static const char *blas_core(void)
{
    return openblas_get_corename ? openblas_get_corename() : "unknown";
}

/* What one run measured. */
typedef struct bench_result {
    double med, mean, min; /* seconds per timed step */
    step_times t;          /* phase sums over the timed steps */
    double cpus_used;      /* this process's CPU seconds per wall second */
    double others_cpus;    /* CPUs other processes kept busy meanwhile, -1 unknown */
    double loss;
    double rec_med, norec_med; /* --record-every > 1: medians of each kind of step */
} bench_result;

/* Warm-up, then the timed steps with perf and the layer clock switched on. */
static int run_steps(gf_net *net, gf_sgd *sgd, const float *x, const int32_t *labels,
                     const bench_opts *o, layer_clock *lc, bench_recording *rec, bench_result *r)
{
    double *dt = malloc((size_t)o->steps * sizeof(double)), elapsed = 0.0;
    if (!dt)
        return -1;
    for (int i = 0; i < o->warmup; i++)
        r->loss = train_step(net, sgd, x, labels, o->batch, NULL, lc, rec);
    lc->on = 1;
    perf_ctl(o->perf_ctl, "enable");
    double *kind[2] = {malloc((size_t)o->steps * sizeof(double)),
                       malloc((size_t)o->steps * sizeof(double))}; /* [recorded] */
    int nk[2] = {0, 0};
    if (!kind[0] || !kind[1]) {
        free(dt), free(kind[0]), free(kind[1]);
        return -1;
    }
    double busy0 = machine_busy_s(), self0 = self_cpu_s();
    for (int i = 0; i < o->steps; i++) {
        int recorded = rec->rec && rec->step % o->record_every == 0;
        double t0 = now_s();
        r->loss = train_step(net, sgd, x, labels, o->batch, &r->t, lc, rec);
        dt[i] = now_s() - t0;
        kind[recorded][nk[recorded]++] = dt[i];
        elapsed += dt[i];
    }
    r->rec_med = nk[1] ? median(kind[1], nk[1]) : NAN;
    r->norec_med = nk[0] ? median(kind[0], nk[0]) : NAN;
    free(kind[0]), free(kind[1]);
    double busy1 = machine_busy_s(), self1 = self_cpu_s();
    perf_ctl(o->perf_ctl, "disable");
    r->cpus_used = (self1 - self0) / elapsed;
    r->others_cpus = busy0 < 0 || busy1 < 0 ? -1.0
                                            : ((busy1 - busy0) - (self1 - self0)) / elapsed;
    if (r->others_cpus < 0 && busy0 >= 0 && busy1 >= 0)
        r->others_cpus = 0.0; /* tick rounding */
    if (rec->rec && isnan(r->loss)) {
        free(dt);
        return -1;
    }
    r->mean = elapsed / o->steps;
    r->med = median(dt, o->steps);
    r->min = dt[0];
    free(dt);
    return 0;
}

/* The activation storage the net planned, as " act_mb=... out_mb=... grad_mb=..." (MiB). */
static void print_memory(const gf_net *net)
{
    if (!gf_net_memory_usage)
        return;
    gf_net_memory m;
    gf_net_memory_usage(net, &m);
    double mib = 1024.0 * 1024.0;
    printf(" act_mb=%.1f out_mb=%.1f grad_mb=%.1f",
           (double)(m.outputs + m.gradients + m.scratch) / mib, (double)m.outputs / mib,
           (double)m.gradients / mib);
}

/* The BENCH line (keys shared with bench/torch_bench.py; act_mb, out_mb, grad_mb
 * are gradflow's own). */
static void print_result(const gf_net *net, const bench_opts *o, const bench_result *r,
                         double base_rss)
{
    double fwd, exact;
    count_flops(net, &fwd, &exact);
    char name[64], team[16] = "-", blas[16] = "-"; /* "-": not known to this build */
    gf_model_name(gf_net_spec(net), name, sizeof name);
    if (gf_num_threads)
        snprintf(team, sizeof team, "%d", gf_num_threads());
    else if (omp_get_max_threads)
        snprintf(team, sizeof team, "%d", omp_get_max_threads());
    if (openblas_get_num_threads)
        snprintf(blas, sizeof blas, "%d", openblas_get_num_threads());
    double img_s = o->batch / r->med, n = o->steps;
    printf("BENCH impl=gradflow model=%s input=%dx%dx%d batch=%d threads=%d gf_threads=%s "
           "blas_threads=%s warmup=%d steps=%d ",
           name, o->in_c, o->in_h, o->in_w, o->batch, o->threads, team, blas, o->warmup,
           o->steps);
    printf("sec_step=%.4f mean_sec_step=%.4f min_sec_step=%.4f fwd_ms=%.1f bwd_ms=%.1f "
           "sgd_ms=%.2f img_s=%.2f ",
           r->med, r->mean, r->min, 1e3 * r->t.fwd / n, 1e3 * r->t.bwd / n, 1e3 * r->t.sgd / n,
           img_s);
    printf("gflop_img_3x=%.6f gflop_img_exact=%.6f gflop_s=%.2f flops=3xfwd "
           "peak_rss_mb=%.1f base_rss_mb=%.1f loss=%.4f cpus_used=%.2f others_cpus=%.2f "
           "blas_core=%s",
           3.0 * fwd / 1e9, exact / 1e9, img_s * 3.0 * fwd / 1e9, peak_rss_mb(), base_rss,
           r->loss, r->cpus_used, r->others_cpus, blas_core());
    print_memory(net);
    putchar('\n');
    if (o->record && o->record_every > 1)
        printf("BENCH_RECORD model=%s input=%dx%dx%d batch=%d threads=%d every=%d "
               "rec_sec_step=%.4f norec_sec_step=%.4f record_overhead=%+.4f\n", name, o->in_c,
               o->in_h, o->in_w, o->batch, o->threads, o->record_every, r->rec_med,
               r->norec_med, r->rec_med / r->norec_med - 1.0);
}

/* The net at max batch o->batch, initialised from the seed, and its SGD. */
static gf_net *build_net(const bench_opts *o, gf_sgd *sgd)
{
    gf_model_spec spec;
    gf_err err;
    if (gf_model_parse(o->model, &spec, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return NULL;
    }
    spec.in_c = o->in_c, spec.in_h = o->in_h, spec.in_w = o->in_w;
    gf_net *net = gf_net_new(&spec, o->batch, &err);
    if (!net || gf_sgd_init(sgd, net, 0.1f, 0.9f, 1e-4f, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        gf_net_free(net);
        return NULL;
    }
    gf_net_init(net, o->seed);
    return net;
}

/* --record: a recorder like `gradflow train --record`'s (every step, the
 * default flush policy). Returns 0, or -1 after printing why. */
static int open_recording(const bench_opts *o, gf_net *net, bench_recording *rec)
{
    if (!o->record)
        return 0;
    gf_train_config cfg; /* read by gf_recorder_open only */
    gf_train_defaults(&cfg);
    cfg.batch = o->batch, cfg.seed = o->seed, cfg.steps = o->warmup + o->steps;
    gf_record_meta meta = {.data = "synthetic (bench_train)", .config_json = "{}", .cfg = &cfg,
                           .threads = o->threads, .n_train = o->batch, .every = o->record_every,
                           .flush_rows = 16, .flush_seconds = 10.0};
    gf_err err;
    if (!(rec->rec = gf_recorder_open(o->record, net, &meta, &err))) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void set_threads(int n)
{
    if (openblas_set_num_threads)
        openblas_set_num_threads(n);
    if (gf_set_num_threads) /* before the first net: the team starts with it */
        gf_set_num_threads(n);
    if (omp_set_num_threads)
        omp_set_num_threads(n);
}

int main(int argc, char **argv)
{
    bench_opts o;
    int st = parse_args(argc, argv, &o);
    if (st)
        return st;
    set_threads(o.threads);
    double base_rss = peak_rss_mb();
    gf_sgd sgd = {0};
    gf_net *net = build_net(&o, &sgd);
    if (!net)
        return 1;
    size_t n_x = (size_t)o.batch * o.in_c * o.in_h * o.in_w;
    float *x = malloc(n_x * sizeof(float));
    int32_t *labels = malloc((size_t)o.batch * sizeof(int32_t));
    layer_clock lc = {0};
    bench_result r = {0};
    bench_recording rec = {0};
    if (x && labels) {
        synth_batch(x, labels, n_x, o.batch, gf_net_spec(net)->num_classes, o.seed);
        if (o.layer_times) {
            gf_hooks h = {&lc, on_layer_forward, on_layer_backward, on_block_backward};
            gf_net_set_hooks(net, &h);
        }
        st = open_recording(&o, net, &rec) || run_steps(net, &sgd, x, labels, &o, &lc, &rec, &r);
    }
    if (!x || !labels || st) {
        if (!x || !labels)
            fprintf(stderr, "bench_train: out of memory\n");
        st = 1;
    } else {
        print_result(net, &o, &r, base_rss);
        if (o.layer_times)
            print_layer_times(&lc, &o);
        if (openblas_get_config) /* version, DYNAMIC_ARCH, core: for the record */
            fprintf(stderr, "# %s\n", openblas_get_config());
    }
    gf_err err;
    if (rec.rec && gf_recorder_close(rec.rec, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        st = 1;
    }
    free(x), free(labels);
    gf_sgd_free(&sgd);
    gf_net_free(net);
    return st;
}
