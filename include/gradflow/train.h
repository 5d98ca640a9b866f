/* train.h — the training loop: He et al. 2015's CIFAR recipe by default.
 *
 *   SGD, momentum 0.9, weight decay 1e-4, lr 0.1, batch 128, lr ÷ 10 at 50%
 *   and 75% of the steps (He et al. 2015 §4.2: 32k and 48k of 64k), optional
 *   warm-up at lr/10 for the first steps (as for ResNet-110), pad-4 crop +
 *   flip augmentation, per-channel normalisation from the training set.
 *
 * The loop reports through an observer (the command line prints, the
 * recorder writes HDF5); the library itself never prints. It stops after the
 * current step when *stop becomes non-zero (set from a signal handler), or
 * when the loss is not finite (an error naming the step). */
#ifndef GRADFLOW_TRAIN_H
#define GRADFLOW_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "gradflow/data.h"
#include "gradflow/error.h"
#include "gradflow/net.h"
#include "gradflow/optim.h"

typedef struct gf_train_summary gf_train_summary;
typedef struct gf_train_resume gf_train_resume;

typedef struct gf_train_config {
    int epochs;       /* used when steps == 0 */
    long steps;       /* total optimiser steps; 0: epochs × batches per epoch */
    int batch;        /* 128 */
    float lr, momentum, weight_decay; /* 0.1, 0.9, 1e-4 */
    long warmup;      /* steps at lr / 10 before the schedule starts; 0 = none */
    double milestones[2]; /* fractions of the steps where lr ÷= 10: {0.5, 0.75} */
    int augment;      /* pad-4 random crop + horizontal flip */
    uint64_t seed;    /* init, shuffle and augmentation streams derive from it */
    int eval_every_epoch; /* evaluate test/validation after each epoch (1) */
    volatile sig_atomic_t *stop; /* may be NULL */
    const gf_train_resume *resume; /* continue from a checkpoint; NULL: fresh */
} gf_train_config;

/* Fills cfg with the recipe's defaults (epochs 1). */
void gf_train_defaults(gf_train_config *cfg);

/* Learning rate at step (0-based) under cfg's schedule for total steps. */
float gf_train_lr(const gf_train_config *cfg, long step, long total);

typedef struct gf_train_status {
    long step, total_steps; /* steps done (1-based after the step), planned */
    int epoch, epochs;      /* current epoch (1-based), planned */
    int batch_in_epoch, batches_per_epoch;
    double loss;            /* this step's mean batch loss */
    double train_err;       /* error of this step's batch (before the update) */
    double epoch_loss, epoch_err; /* running means over the epoch so far */
    float lr;
    double elapsed;         /* seconds of training (excluding evaluation) */
    double images_per_s;    /* over the run so far */
    double step_seconds;    /* this step */
    /* The exact loop state, for checkpoints: sums rather than means, so a
     * resumed run continues bit for bit. */
    double loss_sum, err_sum;   /* over the epoch's batches so far */
    long images;                /* trained on so far */
    const gf_loader *loader;    /* its perm, pos, epoch and generators */
} gf_train_status;

typedef struct gf_eval_result {
    double loss, err;
    int n;
} gf_eval_result;

typedef struct gf_epoch_result {
    int epoch;
    long step;
    double train_loss, train_err; /* running means over the epoch's batches */
    gf_eval_result test, val;     /* n == 0 where there was no set */
} gf_epoch_result;

typedef struct gf_train_observer {
    void *user;
    /* Before step (0-based) runs: a recorder installs its hooks here. */
    void (*before_step)(void *user, long step, gf_net *net);
    /* After every optimiser step. Non-zero return stops training. */
    int (*step)(void *user, const gf_train_status *s, gf_net *net, const gf_sgd *sgd);
    /* After each epoch's evaluation. Non-zero return stops training. */
    int (*epoch)(void *user, const gf_epoch_result *e);
    /* At the end of every step, once any epoch evaluation is done: the state
     * is then complete and consistent, the one place to save a checkpoint.
     * so_far is the summary up to here. Non-zero return stops training. */
    int (*checkpoint)(void *user, const gf_train_status *s, gf_net *net, const gf_sgd *sgd,
                      const gf_train_summary *so_far);
} gf_train_observer;

struct gf_train_summary {
    long steps;
    int epochs_done;
    double final_train_loss, final_train_err; /* last epoch's running means */
    gf_eval_result final_test, final_val;
    double best_test_err, best_val_err;       /* 1.0 when never evaluated */
    double seconds, images_per_s;
    int stopped;                              /* 1 if *stop or an observer ended it */
};

/* What a checkpoint restores besides the weights and the optimiser: where
 * the loop was (checkpoint.h reads it from a file). */
struct gf_train_resume {
    long step;
    int epoch, batch_in_epoch;
    double loss_sum, err_sum, elapsed;
    long images;
    gf_train_summary summary;       /* so far */
    const int32_t *perm;            /* the loader's permutation [n] */
    int n, loader_pos, loader_epoch;
    gf_rng shuffle_rng, augment_rng;
};

/* Evaluates net in eval mode (running BN statistics) over d in batches of
 * the net's maximum batch. */
gf_eval_result gf_evaluate(gf_net *net, const gf_dataset *d);

/* Trains net on train (val and test may be NULL). Returns 0 on success or a
 * clean stop, -1 with err set (non-finite loss, bad configuration). */
int gf_train(const gf_train_config *cfg, gf_net *net, gf_sgd *sgd, const gf_dataset *train,
             const gf_dataset *val, const gf_dataset *test, const gf_train_observer *obs,
             gf_train_summary *summary, gf_err *err);

/* Sets the thread count of every parallel part (OpenBLAS, and the library's
 * own threads if built with them). Same count → same numbers. */
void gf_set_threads(int n);

/* Data sets named on the command line:
 *   fashion-mnist[:DIR]  (default /usr/share/datasets/fashion-mnist)
 *   mnist:DIR
 *   cifar10:DIR          (data_batch_1..5.bin, test_batch.bin)
 *   synthetic[:SPEC]     (gf_synthetic_make's spec, seeded by seed)
 * Loads train and test, keeps the first subset training examples (0: all),
 * moves the last n_val into val (0: none), and normalises all three with the
 * per-channel statistics of the (remaining) training set. */
typedef struct gf_data_bundle {
    gf_dataset train, val, test;
    float mean[16], std[16]; /* per channel (at most 16 channels) */
    char name[64];         /* "fashion-mnist", "cifar10", "synthetic" */
} gf_data_bundle;

int gf_data_open(const char *spec, int subset, int n_val, uint64_t seed, gf_data_bundle *b,
                 gf_err *err);
void gf_data_bundle_free(gf_data_bundle *b);

#endif
