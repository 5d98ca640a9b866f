/* test_sweep.c — `gradflow sweep`: every run trained and summarised, a rerun
 * skips finished runs, an interrupted sweep resumes to the same numbers, and
 * (where built with MPI) two ranks share the runs. */
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

#define SWEEP_ARGS "--families plain,resnet --depths 8,14 --data synthetic:N=512,H=12,W=12 " \
                   "--epochs 3 --batch 32 --threads 2"

static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int exists(const char *dir, const char *file)
{
    char p[1024];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &s) == 0;
}

/* train/loss of a run file, for bit-for-bit comparison. */
static float *losses(const char *dir, const char *name, size_t *n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/runs/%s.h5", dir, name);
    gf_err err;
    hid_t f = gf_h5_open_read(p, 1, &err);
    float *v = NULL;
    size_t dims[8];
    int nd;
    *n = 0;
    if (f >= 0) {
        gf_h5_read_floats(f, p, "train/loss", &v, n, &nd, dims, &err);
        H5Fclose(f);
    }
    return v;
}

static void test_sweep_trains_summarises_and_skips(void)
{
    char dir[512], cmd[2048], out[65536];
    snprintf(dir, sizeof dir, "%s/sweep-a", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s sweep " SWEEP_ARGS " -o %s 2>&1", GF_EXE, dir);
    CU_ASSERT_EQUAL_FATAL(run(cmd, out, sizeof out), 0);
    const char *names[] = {"plain-8", "plain-14", "resnet-8", "resnet-14"};
    for (int i = 0; i < 4; i++) {
        char f[128];
        snprintf(f, sizeof f, "runs/%s.done", names[i]);
        CU_ASSERT(exists(dir, f));
        snprintf(f, sizeof f, "runs/%s.h5", names[i]);
        CU_ASSERT(exists(dir, f));
    }
    CU_ASSERT(exists(dir, "depth.md"));
    CU_ASSERT(exists(dir, "depth.csv"));
    /* `gradflow depth` on the runs directory reads the four run files and
     * passes over the checkpoints and weights beside them without a word;
     * a foreign .h5 there is still named */
    CU_ASSERT(exists(dir, "runs/plain-8.ckpt.h5") && exists(dir, "runs/plain-8.weights.h5"));
    snprintf(cmd, sizeof cmd, "%s depth %s/runs 2>&1 >/dev/null", GF_EXE, dir);
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    snprintf(cmd, sizeof cmd, "echo x > %s/runs/foreign.h5 && %s depth %s/runs 2>&1 >/dev/null"
                              " && rm %s/runs/foreign.h5", dir, GF_EXE, dir, dir);
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "skipping"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "foreign.h5"));
    CU_ASSERT_PTR_NULL(strstr(out, "ckpt"));
    snprintf(cmd, sizeof cmd, "%s sweep " SWEEP_ARGS " -o %s 2>&1", GF_EXE, dir);
    /* a rerun trains nothing */
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "already done, skipped"));
    CU_ASSERT_PTR_NULL(strstr(out, "started"));
}

/* Ctrl-C in the middle; the rerun resumes from the checkpoints and ends with
 * the same losses as the uninterrupted sweep above, bit for bit. */
static void test_interrupted_sweep_resumes_identically(void)
{
    char a[512], b[512], log[600];
    snprintf(a, sizeof a, "%s/sweep-a", test_tmpdir());
    snprintf(b, sizeof b, "%s/sweep-b", test_tmpdir());
    snprintf(log, sizeof log, "%s/sweep-b.log", test_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(1, 2) < 0)
            _exit(99);
        execl("/bin/sh", "sh", "-c", "exec " GF_EXE " sweep " SWEEP_ARGS " -o \"$0\"", b,
              (char *)NULL);
        _exit(98);
    }
    /* wait for the first run's first checkpoint (runs go one at a time), then interrupt */
    for (int i = 0; i < 600 && !exists(b, "runs/plain-8.ckpt.h5"); i++)
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    char cmd[2048], out[65536];
    snprintf(cmd, sizeof cmd, "%s sweep " SWEEP_ARGS " -o %s 2>&1", GF_EXE, b);
    CU_ASSERT_EQUAL_FATAL(run(cmd, out, sizeof out), 0);
    const char *names[] = {"plain-8", "plain-14", "resnet-8", "resnet-14"};
    for (int i = 0; i < 4; i++) {
        size_t na, nb;
        float *la = losses(a, names[i], &na), *lb = losses(b, names[i], &nb);
        CU_ASSERT(na > 0);
        CU_ASSERT_EQUAL(na, nb);
        if (la && lb && na == nb)
            CU_ASSERT_EQUAL(memcmp(la, lb, na * sizeof *la), 0);
        free(la), free(lb);
    }
}

static void test_sweep_bad_options(void)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s sweep --families plain --depths 21 -o %s/x 2>&1", GF_EXE,
             test_tmpdir());
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "6n+2"));
    snprintf(cmd, sizeof cmd, "%s sweep --families plain 2>&1", GF_EXE);
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s demo --residual densenet 2>&1", GF_EXE);
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--residual is preact-resnet or resnet"));
}

/* Two MPI ranks share the four runs; rank 0 writes the summary. */
static void test_sweep_under_mpirun(void)
{
#ifdef GF_TEST_MPI
    char dir[512], cmd[2048], out[65536];
    snprintf(dir, sizeof dir, "%s/sweep-mpi", test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_warn_on_fork=0 "
             "mpirun -np 2 --oversubscribe %s sweep --families plain,resnet --depths 8 "
             "--data synthetic:N=256,H=8,W=8 --epochs 1 --batch 32 --threads 1 -o %s 2>&1",
             GF_EXE, dir);
    CU_ASSERT_EQUAL(run(cmd, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[rank 0 of 2]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[rank 1 of 2]"));
    CU_ASSERT(exists(dir, "runs/plain-8.done"));
    CU_ASSERT(exists(dir, "runs/resnet-8.done"));
    CU_ASSERT(exists(dir, "depth.md"));
#else
    printf("(skipped: built without MPI) ");
#endif
}

/* The main job on a tiny budget: it trains, analyses, draws and writes a
 * report whose statements quote the measured errors. */
static void test_demo_writes_report_from_measurements(void)
{
    char dir[512], cmd[2048], out[65536];
    snprintf(dir, sizeof dir, "%s/demo", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s demo -o %s --data synthetic:N=512,H=12,W=12,TEST=64 "
                              "--depths 8,14 --subset 512 --epochs 1 --batch 64 2>&1", GF_EXE, dir);
    CU_ASSERT_EQUAL_FATAL(run(cmd, out, sizeof out), 0);
    CU_ASSERT(exists(dir, "index.html"));
    CU_ASSERT(exists(dir, "index.md"));
    CU_ASSERT(exists(dir, "paths-preact-resnet-14.h5")); /* the default residual family */
    CU_ASSERT(exists(dir, "paths-plain-14-ablated.h5"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "report: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "preact-resnet-14's blocks"));
    /* the ablation sentence: plain's gradient vanishes exactly */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plain-14's vanishes (0)"));
    /* and the residual net's shortcuts alone pass it through each stage exactly */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "In the ablated preact-resnet-14 the gradient is the "
                                       "same at the input of every block of a stage"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "bit for bit, spread 0"));
    /* the report quotes plain-14's training error at the end of training as
     * measured in its run file: the mean over the last tenth of the steps */
    char run_path[600];
    snprintf(run_path, sizeof run_path, "%s/runs/plain-14.h5", dir);
    gf_err err;
    hid_t f = gf_h5_open_read(run_path, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    float *e = NULL;
    size_t n = 0, dims[8];
    int nd;
    CU_ASSERT_EQUAL(gf_h5_read_floats(f, run_path, "train/error", &e, &n, &nd, dims, &err), 0);
    H5Fclose(f);
    CU_ASSERT_FATAL(n >= 8); /* 512 / 64 steps, every one recorded */
    size_t k = n / 10 > 0 ? n / 10 : 1;
    double tail = 0;
    for (size_t i = n - k; i < n; i++)
        tail += e[i];
    char alt[48];
    snprintf(alt, sizeof alt, "%.2f%%", 100.0 * (tail / (double)k));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, alt));
    if (!strstr(out, alt))
        fprintf(stderr, "\n    report does not quote %s:\n%s", alt, out);
    free(e);
}

int suite_sweep_register(void)
{
    CU_pSuite s = CU_add_suite("sweep", NULL, NULL);
    if (!s ||
        !CU_add_test(s, "sweep trains, summarises and skips finished runs",
                     test_sweep_trains_summarises_and_skips) ||
        !CU_add_test(s, "interrupted sweep resumes identically",
                     test_interrupted_sweep_resumes_identically) ||
        !CU_add_test(s, "sweep bad options", test_sweep_bad_options) ||
        !CU_add_test(s, "sweep under mpirun -np 2", test_sweep_under_mpirun) ||
        !CU_add_test(s, "demo writes its report from measurements",
                     test_demo_writes_report_from_measurements))
        return -1;
    return 0;
}
