/* test_train.c — the training loop: schedule, determinism bit for bit,
 * divergence stops with the step named, weights round-trip, and the
 * command line's clean stop on SIGTERM and its usage errors, and the
 * optimiser and layer hooks (each update seen exactly; a hook stops a run). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/checkpoint.h"
#include "gradflow/h5io.h"
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
    /* a state dict written elsewhere (no format attribute, h5py-style) loads too */
    gf_net_init(b, 4);
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(h >= 0);
    CU_ASSERT(H5Adelete(h, "format") >= 0);
    H5Fclose(h);
    CU_ASSERT_EQUAL(gf_weights_load(b, path, &err), 0);
    for (int i = 0; i < gf_net_num_tensors(a); i++) {
        const gf_tensor_info *ta = gf_net_tensor(a, i), *tb = gf_net_tensor(b, i);
        CU_ASSERT_EQUAL(memcmp(ta->data, tb->data, ta->size * sizeof(float)), 0);
    }
    /* ... but a file with neither a format nor /params is refused */
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty.h5", test_tmpdir());
    h = H5Fcreate(empty, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(h, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(h);
    CU_ASSERT_EQUAL(gf_weights_load(b, empty, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no /params"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, empty));
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

/* ------------------------------------------------------------- hooks */

/* What the optimiser hook and the observer saw, step by step. */
typedef struct hook_watch {
    float *before;         /* the parameters before the current step */
    size_t n;
    int calls, stop_at;    /* hook calls; return 1 on call stop_at (0: never) */
    int bad_update, bad_tensor;
    double hook_loss[16], hook_lr[16], seen_loss[16], seen_lr[16];
    int seen;
    int cancel_backward_at; /* net hook: cancel the backward of this step (1-based) */
    int backward_calls;
} hook_watch;

static void watch_before(void *user, long step, gf_net *net)
{
    (void)step;
    hook_watch *w = user;
    memcpy(w->before, gf_net_params(net), w->n * sizeof(float));
}

/* The optimiser hook: every trainable tensor's new weights are exactly the
 * old ones minus lr times its momentum-buffer slice. */
static int watch_sgd(void *user, const gf_sgd *s, const gf_net *net)
{
    hook_watch *w = user;
    const float *base = w->before;
    for (int i = 0; i < gf_net_num_tensors(net); i++) {
        const gf_tensor_info *t = gf_net_tensor(net, i);
        if (t->is_buffer)
            continue;
        const float *b = gf_sgd_momentum(s, net, t);
        const float *old = base + (t->grad - gf_net_grads((gf_net *)net));
        if (!t->grad || t->size == 0)
            w->bad_tensor++;
        for (size_t j = 0; j < t->size; j++) {
            float want = old[j] - s->lr * b[j];
            w->bad_update += memcmp(&want, &t->data[j], sizeof want) != 0;
        }
    }
    if (w->calls < 16)
        w->hook_loss[w->calls] = s->loss, w->hook_lr[w->calls] = s->lr;
    return ++w->calls == w->stop_at;
}

static int watch_step(void *user, const gf_train_status *st, gf_net *net, const gf_sgd *sgd)
{
    (void)net, (void)sgd;
    hook_watch *w = user;
    if (w->seen < 16)
        w->seen_loss[w->seen] = st->loss, w->seen_lr[w->seen] = st->lr;
    w->seen++;
    return 0;
}

static int watch_backward(void *user, const gf_layer *l, const float *dx, int B)
{
    (void)l, (void)dx, (void)B;
    hook_watch *w = user;
    return w->cancel_backward_at && ++w->backward_calls > 0 &&
           w->seen + 1 == w->cancel_backward_at;
}

/* Trains plain-8 for up to 6 steps with the watch installed; *final_params
 * (if asked for) gets a malloc'd copy of the weights at the end. */
static int train_watched(hook_watch *w, gf_train_summary *sum, float **final_params)
{
    gf_err err;
    gf_data_bundle data;
    if (gf_data_open("synthetic:N=96,C=1,H=8,W=8,K=4,TEST=32", 7, 0, 7, &data, &err))
        return -1;
    gf_model_spec spec;
    gf_model_parse("plain-8", &spec, &err);
    spec.in_c = 1, spec.in_h = spec.in_w = 8;
    gf_net *net = gf_net_new(&spec, 16, &err);
    gf_sgd sgd;
    gf_train_config cfg;
    gf_train_defaults(&cfg);
    cfg.steps = 6, cfg.batch = 16, cfg.lr = 0.05f, cfg.seed = 7;
    gf_net_init(net, cfg.seed);
    gf_sgd_init(&sgd, net, cfg.lr, cfg.momentum, cfg.weight_decay, &err);
    sgd.hook = watch_sgd, sgd.hook_user = w;
    w->n = gf_net_num_params(net);
    w->before = malloc(w->n * sizeof(float));
    gf_hooks h = {.user = w, .layer_backward = watch_backward};
    gf_net_set_hooks(net, &h);
    gf_train_observer obs = {.user = w, .before_step = watch_before, .step = watch_step};
    int rc = gf_train(&cfg, net, &sgd, &data.train, NULL, &data.test, &obs, sum, &err);
    if (final_params && (*final_params = malloc(w->n * sizeof(float))))
        memcpy(*final_params, gf_net_params(net), w->n * sizeof(float));
    free(w->before);
    gf_sgd_free(&sgd);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc;
}

static void test_optimizer_hook_sees_every_update(void)
{
    hook_watch w = {0};
    gf_train_summary sum;
    CU_ASSERT_EQUAL_FATAL(train_watched(&w, &sum, NULL), 0);
    CU_ASSERT_EQUAL(w.calls, 6);
    CU_ASSERT_EQUAL(w.seen, 6);
    CU_ASSERT_EQUAL(w.bad_tensor, 0);
    CU_ASSERT_EQUAL(w.bad_update, 0);
    CU_ASSERT(!sum.stopped);
    for (int k = 0; k < 6; k++) { /* the loss and lr of the same step */
        CU_ASSERT_EQUAL(w.hook_loss[k], w.seen_loss[k]);
        CU_ASSERT_EQUAL(w.hook_lr[k], w.seen_lr[k]);
        CU_ASSERT(isfinite(w.hook_loss[k]) && w.hook_loss[k] > 0);
    }
    CU_ASSERT(w.hook_lr[0] != w.hook_lr[5]); /* the schedule moved: lr is per step */
}

static void test_hooks_stop_training(void)
{
    /* the optimiser hook stops after its 3rd update: 3 steps taken */
    hook_watch w = {.stop_at = 3};
    gf_train_summary sum;
    CU_ASSERT_EQUAL_FATAL(train_watched(&w, &sum, NULL), 0);
    CU_ASSERT(sum.stopped);
    CU_ASSERT_EQUAL(sum.steps, 3);
    CU_ASSERT_EQUAL(w.calls, 3);
    CU_ASSERT_EQUAL(w.seen, 3);

    /* a layer hook cancels step 4's backward: 3 steps, and step 4 is not taken,
     * so the weights equal those after 3 steps of an uncancelled run */
    hook_watch a = {.stop_at = 3}, b = {.cancel_backward_at = 4};
    gf_train_summary sa, sb;
    float *pa = NULL, *pb = NULL;
    CU_ASSERT_EQUAL_FATAL(train_watched(&a, &sa, &pa), 0);
    CU_ASSERT_EQUAL_FATAL(train_watched(&b, &sb, &pb), 0);
    CU_ASSERT_FATAL(pa && pb && a.n == b.n);
    CU_ASSERT(sb.stopped);
    CU_ASSERT_EQUAL(sb.steps, 3);
    CU_ASSERT_EQUAL(b.calls, 3);
    CU_ASSERT(b.backward_calls > 3);
    CU_ASSERT_EQUAL(memcmp(pa, pb, a.n * sizeof(float)), 0);
    free(pa), free(pb);
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
                     test_cli_sigterm_stops_cleanly_with_summary) ||
        !CU_add_test(s, "optimizer hook sees every update", test_optimizer_hook_sees_every_update) ||
        !CU_add_test(s, "hooks stop training", test_hooks_stop_training))
        return -1;
    return 0;
}
