/* test_train.c — the training loop: schedule, determinism bit for bit,
 * divergence stops with the step named, weights round-trip, and the
 * command line's clean stop on SIGTERM and its usage errors. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/checkpoint.h"
#include "gradflow/train.h"
#include "suites.h"

static void test_lr_schedule_he_recipe(void)
{
    gf_train_config cfg;
    gf_train_defaults(&cfg);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 0, 64000), 0.1, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 31999, 64000), 0.1, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 32000, 64000), 0.01, 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 47999, 64000), 0.01, 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 48000, 64000), 0.001, 1e-9);
    cfg.warmup = 400;
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 399, 64000), 0.01, 1e-8);
    CU_ASSERT_DOUBLE_EQUAL(gf_train_lr(&cfg, 400, 64000), 0.1, 1e-7);
}

/* Records every step's loss so two runs can be compared bit for bit. */
typedef struct loss_log {
    double loss[64];
    int n;
} loss_log;

static int log_step(void *user, const gf_train_status *s, gf_net *net, const gf_sgd *sgd)
{
    (void)net, (void)sgd;
    loss_log *l = user;
    if (l->n < 64)
        l->loss[l->n++] = s->loss;
    return 0;
}

/* Trains model on a small synthetic set for steps; fills log and summary. */
static int train_small(const char *model, long steps, float lr, loss_log *log,
                       gf_train_summary *sum, float *param_checksum, gf_err *err)
{
    gf_data_bundle data;
    if (gf_data_open("synthetic:N=96,C=1,H=8,W=8,K=4,TEST=32", 7, 0, 7, &data, err))
        return -1;
    gf_model_spec spec;
    gf_model_parse(model, &spec, err);
    spec.in_c = 1, spec.in_h = spec.in_w = 8;
    gf_net *net = gf_net_new(&spec, 16, err);
    gf_sgd sgd;
    gf_train_config cfg;
    gf_train_defaults(&cfg);
    cfg.steps = steps, cfg.batch = 16, cfg.lr = lr, cfg.seed = 7;
    gf_net_init(net, cfg.seed);
    gf_sgd_init(&sgd, net, cfg.lr, cfg.momentum, cfg.weight_decay, err);
    memset(log, 0, sizeof *log);
    gf_train_observer obs = {.user = log, .step = log_step};
    int rc = gf_train(&cfg, net, &sgd, &data.train, NULL, &data.test, &obs, sum, err);
    double s = 0;
    for (size_t i = 0; i < gf_net_num_params(net); i++)
        s += gf_net_params(net)[i] * (double)(i % 7 + 1);
    *param_checksum = (float)s;
    gf_sgd_free(&sgd);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc;
}

static void test_same_seed_same_losses_bit_for_bit(void)
{
    gf_set_threads(2);
    loss_log a, b;
    gf_train_summary sa, sb;
    float ca, cb;
    gf_err err;
    CU_ASSERT_EQUAL_FATAL(train_small("resnet-8", 12, 0.1f, &a, &sa, &ca, &err), 0);
    CU_ASSERT_EQUAL_FATAL(train_small("resnet-8", 12, 0.1f, &b, &sb, &cb, &err), 0);
    CU_ASSERT_EQUAL(a.n, 12);
    CU_ASSERT_EQUAL(b.n, 12);
    CU_ASSERT_EQUAL(memcmp(a.loss, b.loss, sizeof a.loss), 0);
    CU_ASSERT_EQUAL(memcmp(&ca, &cb, sizeof ca), 0);
    CU_ASSERT_EQUAL(memcmp(&sa.final_test.loss, &sb.final_test.loss, sizeof(double)), 0);
    /* and the losses moved: a run that never trained would also be "deterministic" */
    CU_ASSERT(a.loss[0] != a.loss[11]);
}

static void test_nonfinite_loss_stops_naming_the_step(void)
{
    loss_log log;
    gf_train_summary sum;
    float c;
    gf_err err = {{0}};
    int rc = train_small("plain-8", 40, 1e30f, &log, &sum, &c, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "at step"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "diverged"));
    CU_ASSERT(sum.steps < 40);
    CU_ASSERT_EQUAL(sum.steps, log.n); /* stopped before counting the bad step */
}

static void test_weights_roundtrip_and_refusal(void)
{
    gf_err err;
    gf_model_spec spec;
    gf_model_parse("resnet-8-B", &spec, &err);
    spec.in_c = 1, spec.in_h = spec.in_w = 8;
    gf_net *a = gf_net_new(&spec, 2, &err), *b = gf_net_new(&spec, 2, &err);
    gf_net_init(a, 3);
    gf_net_init(b, 4);
    char path[512];
    snprintf(path, sizeof path, "%s/w.h5", test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(gf_weights_save(a, path, &err), 0);
    CU_ASSERT_EQUAL(gf_weights_load(b, path, &err), 0);
    for (int i = 0; i < gf_net_num_tensors(a); i++) {
        const gf_tensor_info *ta = gf_net_tensor(a, i), *tb = gf_net_tensor(b, i);
        CU_ASSERT_EQUAL(memcmp(ta->data, tb->data, ta->size * sizeof(float)), 0);
    }
    /* a file of another model is refused and leaves the net untouched */
    gf_model_spec other;
    gf_model_parse("resnet-8", &other, &err);
    other.in_c = 1, other.in_h = other.in_w = 8;
    gf_net *c = gf_net_new(&other, 2, &err);
    gf_net_init(c, 5);
    float before = gf_net_params(c)[0];
    CU_ASSERT_EQUAL(gf_weights_load(c, path, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "shortcut"));
    CU_ASSERT_EQUAL(gf_net_params(c)[0], before);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/not.h5", test_tmpdir());
    FILE *f = fopen(bad, "w");
    fputs("not hdf5", f);
    fclose(f);
    CU_ASSERT_EQUAL(gf_weights_load(c, bad, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad));
    CU_ASSERT_EQUAL(gf_weights_save(a, "/nonexistent-dir/w.h5", &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent-dir/w.h5"));
    gf_net_free(a), gf_net_free(b), gf_net_free(c);
}

/* Runs the CLI with args; returns its exit status, stdout+stderr in out. */
static int run_cli(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", GF_EXE, args);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_usage_errors_exit_2(void)
{
    char out[4096];
    CU_ASSERT_EQUAL(run_cli("train", out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--model is required"));
    CU_ASSERT_EQUAL(run_cli("train --model resnet-21", out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "6n+2"));
    CU_ASSERT_EQUAL(run_cli("train --model resnet-8 --batch zero", out, sizeof out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--batch"));
    CU_ASSERT_EQUAL(run_cli("train --model resnet-8 --frobnicate", out, sizeof out), 2);
    CU_ASSERT_EQUAL(run_cli("train --model resnet-8 --data cifar10:/nonexistent", out,
                            sizeof out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "/nonexistent"));
    CU_ASSERT_EQUAL(run_cli("frobnicate", out, sizeof out), 2);
}

/* SIGTERM mid-run: the child finishes its step, prints the summary and
 * exits 128 + SIGTERM, having written nothing partial. */
static void test_cli_sigterm_stops_cleanly_with_summary(void)
{
    char log[512];
    snprintf(log, sizeof log, "%s/sigterm.log", test_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        if (!f || dup2(1, 2) < 0)
            _exit(99);
        execl(GF_EXE, GF_EXE, "train", "--model", "resnet-8", "--data",
              "synthetic:N=512,H=16,W=16", "--epochs", "1000", "--batch", "32",
              "--progress-every", "0.1", (char *)NULL);
        _exit(98);
    }
    CU_ASSERT_FATAL(pid > 0);
    nanosleep(&(struct timespec){1, 500000000}, NULL);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 128 + SIGTERM);
    char buf[65536];
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "summary: resnet-8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "stopped by SIGTERM"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "test  loss"));
}

int suite_train_register(void)
{
    CU_pSuite s = CU_add_suite("train", NULL, NULL);
    if (!s || !CU_add_test(s, "lr schedule follows He et al.", test_lr_schedule_he_recipe) ||
        !CU_add_test(s, "same seed, same losses bit for bit",
                     test_same_seed_same_losses_bit_for_bit) ||
        !CU_add_test(s, "non-finite loss stops naming the step",
                     test_nonfinite_loss_stops_naming_the_step) ||
        !CU_add_test(s, "weights round-trip and refusal", test_weights_roundtrip_and_refusal) ||
        !CU_add_test(s, "CLI usage errors exit 2", test_cli_usage_errors_exit_2) ||
        !CU_add_test(s, "CLI SIGTERM stops cleanly with a summary",
                     test_cli_sigterm_stops_cleanly_with_summary))
        return -1;
    return 0;
}
