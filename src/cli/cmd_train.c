/* cmd_train.c — `gradflow train`: He et al.'s recipe on real or synthetic
 * data, a progress line, per-epoch evaluation, a summary, clean stops. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gradflow/checkpoint.h"
#include "gradflow/h5io.h"
#include "gradflow/record.h"
#include "gradflow/train.h"

static const char help[] =
    "usage: gradflow train --model NAME [options]\n"
    "Trains a network with He et al. 2015's CIFAR recipe (SGD momentum 0.9, weight decay\n"
    "1e-4, lr 0.1, batch 128, lr / 10 at 50% and 75% of the steps, pad-4 crop + flip).\n"
    "  --model NAME        plain-N, resnet-N[-A|-B], preact-resnet-N[-A|-B] (N = 6n+2),\n"
    "                      mlp-plain-D, mlp-res-D (D = 2k+2)          [required]\n"
    "  --data SPEC         fashion-mnist[:DIR] (default; Debian's dataset-fashion-mnist),\n"
    "                      mnist:DIR, cifar10:DIR, synthetic[:N=..,C=..,H=..,W=..,K=..,TEST=..]\n"
    "  --epochs E          passes over the training set (default 1)\n"
    "  --steps S           optimiser steps instead of epochs\n"
    "  --subset N          use only the first N training examples\n"
    "  --val N             hold out the last N training examples for validation\n"
    "  --batch B           mini-batch size (default 128)\n"
    "  --lr LR             initial learning rate (default 0.1)\n"
    "  --momentum M        SGD momentum (default 0.9)\n"
    "  --wd WD             weight decay (default 1e-4)\n"
    "  --warmup S          first S steps at lr / 10 (He et al. use ~400 for ResNet-110)\n"
    "  --no-augment        no random crop / flip\n"
    "  --width W           hidden width of MLP models (default 128)\n"
    "  --seed N            seed for init, shuffling and augmentation (default 1)\n"
    "  --threads T         threads (default: all cores); same seed + threads = same numbers\n"
    "  -o, --out FILE.h5   write the trained weights (PyTorch state_dict names) here\n"
    "  --record RUN.h5     record per-layer, per-block and per-parameter statistics (HDF5,\n"
    "                      readable while training; docs/run-file.md)\n"
    "  --record-every K    record every K-th step (default 1)\n"
    "  --flush-every N     write and flush the run file every N records (default 16,\n"
    "                      at most 64) or every 10 s, whichever comes first\n"
    "  --checkpoint FILE   save weights, optimiser, data order and RNG states here at the\n"
    "                      end of every epoch (or every --checkpoint-every steps), on a\n"
    "                      clean stop and at the end\n"
    "  --checkpoint-every K  checkpoint every K steps instead of every epoch\n"
    "  --resume FILE       continue the run saved in checkpoint FILE bit for bit, with its\n"
    "                      own options (give no others except --threads, which must match)\n"
    "  --init FILE         start from the weights in FILE (gradflow weights, checkpoint, or\n"
    "                      any HDF5 file with PyTorch state_dict tensors under /params)\n"
    "  --progress-every S  seconds between progress lines when not on a terminal (default 5)\n"
    "Ctrl-C or SIGTERM stops after the current step, evaluates, and prints the summary.\n";

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

typedef struct train_opts {
    const char *model, *data, *out, *record, *checkpoint, *resume, *init;
    long record_every, flush_every, checkpoint_every;
    int argc;                 /* the options, kept for checkpoints */
    char **argv;
    gf_train_config cfg;
    int subset, val, threads, width;
    double progress_every;
} train_opts;

typedef struct progress {
    int tty;
    double every, last;
    char model[64];
    gf_recorder *rec;  /* NULL unless --record */
    int record_failed;
    gf_err record_err;
    const struct train_opts *opts;
    int checkpoint_failed;
    gf_err checkpoint_err;
} progress;

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void before_step(void *user, long step, gf_net *net)
{
    progress *p = user;
    if (p->rec)
        gf_recorder_before_step(p->rec, net, step);
}

static int on_step(void *user, const gf_train_status *s, gf_net *net, const gf_sgd *sgd)
{
    progress *p = user;
    if (p->rec && gf_recorder_after_step(p->rec, s, net, sgd, &p->record_err)) {
        p->record_failed = 1; /* stop rather than silently drop records */
        return 1;
    }
    double t = wall();
    int last = s->step == s->total_steps;
    if (!p->tty && t - p->last < p->every && !last)
        return 0;
    if (p->tty && t - p->last < 0.2 && !last)
        return 0;
    p->last = t;
    char eta[32];
    double per_step = s->elapsed / (double)s->step;
    fmt_duration(eta, sizeof eta, per_step * (double)(s->total_steps - s->step));
    fprintf(stderr, "%sepoch %d/%d  step %ld/%ld  loss %.4f  train err %5.2f%%  lr %.4g  "
                    "%.0f img/s  ETA %s%s",
            p->tty ? "\r\033[K" : "", s->epoch, s->epochs, s->step, s->total_steps,
            s->epoch_loss, 100 * s->epoch_err, s->lr, s->images_per_s, eta, p->tty ? "" : "\n");
    fflush(stderr);
    return 0;
}

static int on_checkpoint(void *user, const gf_train_status *s, gf_net *net, const gf_sgd *sgd,
                         const gf_train_summary *so_far)
{
    progress *p = user;
    const train_opts *o = p->opts;
    if (!o->checkpoint)
        return 0;
    int due = o->checkpoint_every ? s->step % o->checkpoint_every == 0
                                  : s->batch_in_epoch == 0; /* an epoch just ended */
    if (!due && !so_far->stopped && !stop_signal && s->step != s->total_steps)
        return 0;
    if (gf_checkpoint_save(o->checkpoint, net, sgd, s, so_far, (const char *const *)o->argv,
                           o->argc, &p->checkpoint_err)) {
        p->checkpoint_failed = 1;
        return 1;
    }
    return 0;
}

static int on_epoch(void *user, const gf_epoch_result *e)
{
    progress *p = user;
    if (p->rec && !p->record_failed && gf_recorder_epoch(p->rec, e, &p->record_err))
        p->record_failed = 1;
    if (p->tty)
        fputs("\r\033[K", stderr);
    printf("epoch %d (step %ld): train loss %.4f err %.2f%%", e->epoch, e->step, e->train_loss,
           100 * e->train_err);
    if (e->val.n)
        printf(" | val loss %.4f err %.2f%%", e->val.loss, 100 * e->val.err);
    if (e->test.n)
        printf(" | test loss %.4f err %.2f%%", e->test.loss, 100 * e->test.err);
    printf("\n");
    fflush(stdout);
    return p->record_failed;
}

/* Parses argv into o; returns 0, or an exit status (2 usage, -1 help shown). */
static int parse_train(int argc, char **argv, train_opts *o)
{
    const char *c = "train";
    memset(o, 0, sizeof *o);
    gf_train_defaults(&o->cfg);
    o->data = "fashion-mnist", o->width = 128, o->progress_every = 5;
    o->record_every = 1, o->flush_every = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double d;
#define VALUE() if (!(v = cli_value(c, argc, argv, &i))) return 2
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return -1;
        } else if (!strcmp(a, "--model")) { VALUE(); o->model = v;
        } else if (!strcmp(a, "--data")) { VALUE(); o->data = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { VALUE(); o->out = v;
        } else if (!strcmp(a, "--record")) { VALUE(); o->record = v;
        } else if (!strcmp(a, "--checkpoint")) { VALUE(); o->checkpoint = v;
        } else if (!strcmp(a, "--resume")) { VALUE(); o->resume = v;
        } else if (!strcmp(a, "--init")) { VALUE(); o->init = v;
        } else if (!strcmp(a, "--checkpoint-every")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 40, &n)) return 2; o->checkpoint_every = n;
        } else if (!strcmp(a, "--record-every")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 40, &n)) return 2; o->record_every = n;
        } else if (!strcmp(a, "--flush-every")) { VALUE(); if (cli_long(c, a, v, 1, 64, &n)) return 2; o->flush_every = n;
        } else if (!strcmp(a, "--no-augment")) { o->cfg.augment = 0;
        } else if (!strcmp(a, "--epochs")) { VALUE(); if (cli_long(c, a, v, 1, 100000, &n)) return 2; o->cfg.epochs = (int)n;
        } else if (!strcmp(a, "--steps")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 40, &n)) return 2; o->cfg.steps = n;
        } else if (!strcmp(a, "--subset")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 30, &n)) return 2; o->subset = (int)n;
        } else if (!strcmp(a, "--val")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 30, &n)) return 2; o->val = (int)n;
        } else if (!strcmp(a, "--batch")) { VALUE(); if (cli_long(c, a, v, 1, 65536, &n)) return 2; o->cfg.batch = (int)n;
        } else if (!strcmp(a, "--warmup")) { VALUE(); if (cli_long(c, a, v, 0, 1L << 40, &n)) return 2; o->cfg.warmup = n;
        } else if (!strcmp(a, "--width")) { VALUE(); if (cli_long(c, a, v, 1, 1 << 16, &n)) return 2; o->width = (int)n;
        } else if (!strcmp(a, "--seed")) { VALUE(); if (cli_long(c, a, v, 0, 0x7fffffffffffffffL, &n)) return 2; o->cfg.seed = (uint64_t)n;
        } else if (!strcmp(a, "--threads")) { VALUE(); if (cli_long(c, a, v, 1, 1024, &n)) return 2; o->threads = (int)n;
        } else if (!strcmp(a, "--lr")) { VALUE(); if (cli_double(c, a, v, 0, 100, &d)) return 2; o->cfg.lr = (float)d;
        } else if (!strcmp(a, "--momentum")) { VALUE(); if (cli_double(c, a, v, 0, 1, &d)) return 2; o->cfg.momentum = (float)d;
        } else if (!strcmp(a, "--wd")) { VALUE(); if (cli_double(c, a, v, 0, 1, &d)) return 2; o->cfg.weight_decay = (float)d;
        } else if (!strcmp(a, "--progress-every")) { VALUE(); if (cli_double(c, a, v, 0, 1e6, &d)) return 2; o->progress_every = d;
        } else {
            return cli_fail(2, c, "unknown option '%s' (see --help)", a);
        }
#undef VALUE
    }
    o->argc = argc - 1, o->argv = argv + 1;
    if (!o->model && !o->resume)
        return cli_fail(2, c, "--model is required (see --help)");
    if (o->checkpoint_every && !o->checkpoint)
        return cli_fail(2, c, "--checkpoint-every needs --checkpoint FILE");
    return 0;
}

static void print_summary(const char *model, const gf_train_summary *s, const char *why)
{
    char t[32];
    fmt_duration(t, sizeof t, s->seconds);
    printf("summary: %s, %ld steps, %d epoch(s)%s%s\n", model, s->steps, s->epochs_done,
           why ? ", " : "", why ? why : "");
    printf("  final train loss %.4f err %.2f%% (mean over the last epoch's batches)\n",
           s->final_train_loss, 100 * s->final_train_err);
    if (s->final_val.n)
        printf("  final val   loss %.4f err %.2f%%, best val err %.2f%%\n", s->final_val.loss,
               100 * s->final_val.err, 100 * s->best_val_err);
    if (s->final_test.n)
        printf("  final test  loss %.4f err %.2f%%, best test err %.2f%%\n", s->final_test.loss,
               100 * s->final_test.err, 100 * s->best_test_err);
    printf("  training time %s, %.0f images/s\n", t, s->images_per_s);
}

static int build_net(const train_opts *o, const gf_data_bundle *data, gf_net **net, gf_err *err)
{
    gf_model_spec spec;
    if (gf_model_parse(o->model, &spec, err))
        return 2;
    spec.in_c = data->train.c, spec.in_h = data->train.h, spec.in_w = data->train.w;
    spec.num_classes = data->train.num_classes > 10 ? data->train.num_classes : 10;
    spec.mlp_width = o->width;
    *net = gf_net_new(&spec, o->cfg.batch, err);
    if (!*net)
        return 1;
    gf_net_init(*net, o->cfg.seed);
    return 0;
}

/* The full configuration as one JSON object, for the run file. */
static void config_json(const train_opts *o, int threads, char *buf, size_t size)
{
    const gf_train_config *c = &o->cfg;
    snprintf(buf, size,
             "{\"model\": \"%s\", \"data\": \"%s\", \"epochs\": %d, \"steps\": %ld, "
             "\"subset\": %d, \"val\": %d, \"batch\": %d, \"lr\": %g, \"momentum\": %g, "
             "\"weight_decay\": %g, \"warmup\": %ld, \"milestones\": [%g, %g], "
             "\"augment\": %s, \"width\": %d, \"seed\": %llu, \"threads\": %d, "
             "\"record_every\": %ld, \"flush_every\": %ld}",
             o->model, o->data, c->epochs, c->steps, o->subset, o->val, c->batch, c->lr,
             c->momentum, c->weight_decay, c->warmup, c->milestones[0], c->milestones[1],
             c->augment ? "true" : "false", o->width, (unsigned long long)c->seed, threads,
             o->record_every, o->flush_every);
}

static gf_recorder *open_recorder(const train_opts *o, const gf_data_bundle *d, gf_net *net,
                                  int threads, gf_err *err)
{
    char json[2048];
    config_json(o, threads, json, sizeof json);
    gf_record_meta m = {.data = o->data, .config_json = json, .cfg = &o->cfg,
                        .threads = threads, .subset = o->subset, .n_val = d->val.n,
                        .n_train = d->train.n, .n_test = d->test.n, .every = o->record_every,
                        .flush_rows = (int)o->flush_every, .flush_seconds = 10.0};
    if (o->resume)
        return gf_recorder_resume(o->record, net, &m, o->cfg.resume->step, err);
    return gf_recorder_open(o->record, net, &m, err);
}

/* Trains with progress, recording and signals; returns the exit status. */
static int run_training(train_opts *o, gf_data_bundle *data, gf_net *net, gf_sgd *sgd,
                        int threads)
{
    gf_err err;
    progress p = {.tty = isatty(2), .every = o->progress_every, .last = wall()};
    gf_model_name(gf_net_spec(net), p.model, sizeof p.model);
    p.opts = o;
    if (o->record && !(p.rec = open_recorder(o, data, net, threads, &err)))
        return cli_fail(1, "train", "%s", err.msg);
    if (o->resume)
        printf("resuming %s from %s at step %ld\n", p.model, o->resume, o->cfg.resume->step);
    printf("training %s (%zu parameters) on %s: %d train, %d val, %d test examples of %dx%dx%d\n",
           p.model, gf_net_num_params(net), data->name, data->train.n, data->val.n,
           data->test.n, data->train.c, data->train.h, data->train.w);
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    o->cfg.stop = &stop_signal;
    gf_train_observer obs = {.user = &p, .before_step = before_step, .step = on_step,
                             .epoch = on_epoch, .checkpoint = on_checkpoint};
    gf_train_summary sum;
    int rc = gf_train(&o->cfg, net, sgd, &data->train, data->val.n ? &data->val : NULL,
                      data->test.n ? &data->test : NULL, &obs, &sum, &err);
    if (p.tty)
        fputs("\r\033[K", stderr);
    if (p.record_failed)
        rc = -1, err = p.record_err;
    if (p.checkpoint_failed)
        rc = -1, err = p.checkpoint_err;
    if (rc == 0 && o->out && gf_weights_save(net, o->out, &err) == 0)
        printf("weights written to %s\n", o->out);
    else if (rc == 0 && o->out)
        rc = -1;
    if (p.rec && rc == 0 && gf_recorder_close(p.rec, &err) == 0)
        printf("run recorded in %s\n", o->record);
    else if (p.rec && rc == 0)
        rc = -1;
    else if (p.rec)
        gf_recorder_abort(p.rec);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    print_summary(p.model, &sum, stop_signal ? (stop_signal == SIGINT ? "stopped by Ctrl-C"
                                                                      : "stopped by SIGTERM")
                                             : NULL);
    if (rc != 0)
        return cli_fail(1, "train", "%s", err.msg);
    return stop_signal ? 128 + stop_signal : 0;
}

/* --resume FILE: re-parse the command line stored in the checkpoint. The
 * stored line ends in the resolved --threads, so the resumed run uses the
 * same thread count unless the user names one (a warning: numbers differ). */
static int parse_resume(const train_opts *given, train_opts *o, char ***saved, int *n_saved)
{
    gf_err err;
    for (int i = 0; i < given->argc; i++) {
        const char *a = given->argv[i];
        if (strcmp(a, "--resume") && strcmp(a, "--threads") && !(i > 0 && (!strcmp(given->argv[i - 1], "--resume") || !strcmp(given->argv[i - 1], "--threads"))))
            return cli_fail(2, "train", "--resume takes no other options than --threads "
                                        "(the run continues with its own), got '%s'", a);
    }
    if (gf_checkpoint_argv(given->resume, saved, n_saved, &err))
        return cli_fail(1, "train", "%s", err.msg);
    char **args = malloc(((size_t)*n_saved + 2) * sizeof *args);
    if (!args)
        return cli_fail(1, "train", "out of memory");
    args[0] = "train";
    memcpy(args + 1, *saved, (size_t)*n_saved * sizeof *args);
    int rc = parse_train(*n_saved + 1, args, o);
    if (rc == 0) {
        o->argv = *saved, o->argc = *n_saved; /* args is only the parse view */
        o->resume = given->resume;
        if (given->threads && given->threads != o->threads)
            fprintf(stderr, "gradflow train: warning: resuming with %d threads, the run used "
                            "%d: the numbers will not match an uninterrupted run bit for bit\n",
                    given->threads, o->threads);
        if (given->threads)
            o->threads = given->threads;
    }
    free(args);
    return rc < 0 ? 2 : rc;
}

/* The options as given plus the resolved --threads, for checkpoints. */
static char **checkpoint_argv(train_opts *o, int threads, char *buf, size_t size)
{
    char **a = malloc(((size_t)o->argc + 2) * sizeof *a);
    if (!a)
        return NULL;
    memcpy(a, o->argv, (size_t)o->argc * sizeof *a);
    snprintf(buf, size, "%d", threads);
    a[o->argc] = "--threads", a[o->argc + 1] = buf;
    o->argv = a, o->argc += 2;
    return a;
}

/* --init and --resume: weights, or the whole training state, from a file. */
static int load_start(const train_opts *o, gf_net *net, gf_sgd *sgd, gf_train_resume *res,
                      int32_t **perm, gf_err *err)
{
    if (o->init && gf_weights_load(net, o->init, err))
        return -1;
    return o->resume ? gf_checkpoint_load(o->resume, net, sgd, res, perm, err) : 0;
}

int cmd_train(int argc, char **argv)
{
    train_opts given, o;
    int rc = parse_train(argc, argv, &given), n_saved = 0;
    if (rc)
        return rc < 0 ? 0 : rc;
    char **saved = NULL;
    o = given;
    if (given.resume && (rc = parse_resume(&given, &o, &saved, &n_saved)) != 0) {
        gf_h5_names_free(saved, n_saved);
        return rc;
    }
    gf_err err;
    gf_model_spec probe;
    if (gf_model_parse(o.model, &probe, &err)) {
        gf_h5_names_free(saved, n_saved);
        return cli_fail(2, "train", "%s", err.msg);
    }
    int threads = o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    gf_set_threads(threads);
    char threads_buf[16];
    char **ck_argv = checkpoint_argv(&o, threads, threads_buf, sizeof threads_buf);
    gf_data_bundle data = {0};
    gf_net *net = NULL;
    gf_sgd sgd = {0};
    gf_train_resume res;
    int32_t *perm = NULL;
    if (!ck_argv)
        rc = cli_fail(1, "train", "out of memory");
    else if (gf_data_open(o.data, o.subset, o.val, o.cfg.seed, &data, &err))
        rc = cli_fail(1, "train", "%s", err.msg);
    else if ((rc = build_net(&o, &data, &net, &err)) != 0)
        cli_fail(rc, "train", "%s", err.msg);
    else if (gf_sgd_init(&sgd, net, o.cfg.lr, o.cfg.momentum, o.cfg.weight_decay, &err) ||
             load_start(&o, net, &sgd, &res, &perm, &err))
        rc = cli_fail(1, "train", "%s", err.msg);
    if (rc == 0) {
        o.cfg.resume = o.resume ? &res : NULL;
        rc = run_training(&o, &data, net, &sgd, threads);
    }
    free(perm);
    free(ck_argv);
    gf_h5_names_free(saved, n_saved);
    gf_sgd_free(&sgd);
    gf_net_free(net);
    gf_data_bundle_free(&data);
    return rc;
}
