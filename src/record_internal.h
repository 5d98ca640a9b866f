/* record_internal.h — the run file's schema (every series, its axis, units
 * and description, which docs/run-file.md explains) and the writers of its
 * fixed parts, shared by record.c (the recorder) and record_schema.c.
 * Private to src/. */
#ifndef GRADFLOW_RECORD_INTERNAL_H
#define GRADFLOW_RECORD_INTERNAL_H

#include "gradflow/h5io.h"
#include "gradflow/record.h"

#define RUN_SCHEMA "gradflow-run"
#define RUN_SCHEMA_VERSION 1

/* What a series is indexed by along its second axis. */
enum axis { AX_SCALAR, AX_LAYERS, AX_PARAMS, AX_BLOCKS, AX_RESPONSES };

typedef struct series_def {
    const char *path;
    enum axis axis;
    int is_int;
    const char *units, *description;
} series_def;

/* Per-step series: one row per recorded step, the shared axis is /step. */
enum {
    S_STEP, S_TIME, S_LOSS, S_ERR, S_LR, S_IPS,
    S_ACT_RMS, S_ACT_MEAN, S_ACT_STD, S_ACT_MAX, S_ACT_ZERO, S_GRAD_NORM,
    S_W_NORM, S_G_NORM, S_U_NORM, S_U_RATIO,
    S_B_ID, S_B_BR, S_B_IN, S_B_OUT, S_B_COS, S_B_GAIN,
    S_RESP,
    N_SERIES
};

/* Per-epoch series: one row per evaluation, with its own step column. */
enum { E_EPOCH, E_STEP, E_TRAIN_LOSS, E_TRAIN_ERR, E_TEST_LOSS, E_TEST_ERR, E_VAL_LOSS,
       E_VAL_ERR, N_EPOCH_SERIES };

extern const series_def step_series[N_SERIES];
extern const series_def epoch_series[N_EPOCH_SERIES];

/* An extendable, chunked (chunk_rows rows), shuffle+deflate series
 * [0, width] (1-D when scalar) with its units and description; -1 on failure. */
hid_t rec_create_series(hid_t file, const series_def *s, int width, int chunk_rows);
/* A one-element int64 status dataset holding 0 (status/clean_close, ...). */
hid_t rec_create_flag(hid_t f, const char *path, const char *units, const char *desc);
/* The run's attributes (configuration, environment) and the model tables:
 * layers, blocks, the trainable tensors param_tensor[0..n_params) (tensor
 * indices) and the response layers resp_layer[0..n_resp). 0 or -1. */
int rec_write_model(hid_t f, const gf_net *net, const gf_record_meta *m,
                    const int *param_tensor, int n_params, const int *resp_layer, int n_resp);

#endif
