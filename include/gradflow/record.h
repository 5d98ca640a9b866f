/* record.h — the run recorder: a hook consumer that writes an HDF5 run file.
 *
 * Per recorded step it stores per-layer activation statistics and output-
 * gradient norms, per-parameter weight / gradient / update norms, per-block
 * identity / branch norms, cosine and branch gain, the layer responses of
 * He et al. 2015 Fig. 7, and the loss, error, lr and speed; per epoch the
 * evaluation results. docs/run-file.md defines every quantity.
 *
 * The file is written in SWMR mode (single writer, multiple readers): every
 * object is created first, then rows are appended in memory and written and
 * flushed every flush_rows records or flush_seconds, whichever comes first.
 * A killed run keeps every flushed row; a live run can be read by gradflow
 * and by h5py (swmr=True) while it trains.
 *
 * Usage, with the training loop's observer (train.h):
 *   gf_recorder *r = gf_recorder_open(path, net, &meta, &err);
 *   before each step:  gf_recorder_before_step(r, net, step);   // arms hooks
 *   after each step:   gf_recorder_after_step(r, status, net, sgd, &err);
 *   after each epoch:  gf_recorder_epoch(r, epoch_result, &err);
 *   at the end:        gf_recorder_close(r, &err);              // marks clean close */
#ifndef GRADFLOW_RECORD_H
#define GRADFLOW_RECORD_H

#include "gradflow/error.h"
#include "gradflow/h5io.h"
#include "gradflow/net.h"
#include "gradflow/optim.h"
#include "gradflow/stats.h"
#include "gradflow/train.h"

/* Everything about the run that the file states as attributes. */
typedef struct gf_record_meta {
    const char *data;        /* "fashion-mnist" */
    const char *config_json; /* the full configuration as one JSON object */
    const gf_train_config *cfg;
    int threads, subset, n_val, n_train, n_test;
    long every;              /* record every K-th step (1 = all) */
    int flush_rows;          /* write + flush after this many buffered rows */
    double flush_seconds;    /* ... or this many seconds since the last flush */
} gf_record_meta;

typedef struct gf_recorder gf_recorder;

gf_recorder *gf_recorder_open(const char *path, gf_net *net, const gf_record_meta *meta,
                              gf_err *err);
/* Continues the run file at path for a run resumed from a checkpoint taken
 * after step: keeps every row up to that step (a killed run's file included),
 * drops the later ones, which the resumed run will write again. */
gf_recorder *gf_recorder_resume(const char *path, gf_net *net, const gf_record_meta *meta,
                                long step, gf_err *err);
/* Installs the recorder's hooks on net when step (0-based, about to run) is
 * one to record, and removes them otherwise: unrecorded steps cost nothing. */
void gf_recorder_before_step(gf_recorder *r, gf_net *net, long step);
int gf_recorder_after_step(gf_recorder *r, const gf_train_status *s, gf_net *net,
                           const gf_sgd *sgd, gf_err *err);
int gf_recorder_epoch(gf_recorder *r, const gf_epoch_result *e, gf_err *err);
/* Writes what is buffered, marks the file closed cleanly, closes it and
 * frees r. Returns -1 (with err) if anything could not be written. */
int gf_recorder_close(gf_recorder *r, gf_err *err);
/* Closes without marking a clean end (after an error); frees r. */
void gf_recorder_abort(gf_recorder *r);

/* The number of steps a recorded run was scheduled for, from its file's
 * attributes as gf_train counts them: steps, or epochs x ceil(n_train /
 * batch). 0 when the attributes cannot say. A cleanly closed run whose last
 * step is below it was stopped early (Ctrl-C, SIGTERM, a hook). */
long gf_record_planned_steps(hid_t file, const char *path);

#endif
