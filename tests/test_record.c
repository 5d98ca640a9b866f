/* test_record.c — the HDF5 run recorder: what a run file holds (docs/run-file.md).
 *
 * In process: a tiny net takes two steps by hand under a recorder; every
 * recorded number is then recomputed directly, in double, from the net's own
 * buffers (activations, gradients, momentum) and, for the identity/branch
 * split, from a second identical net whose block hook copies the split out.
 * Through the command line: --record-every. Kills, a full disk, checkpoints
 * and bad files are test_durability.c's. Comments marked BUG name the defect
 * a test exposes. */
#include <hdf5.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gradflow/h5io.h"
#include "gradflow/record.h"
#include "gradflow/train.h"
#include "suites.h"

/* ------------------------------------------------------------ small tools */

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

static const char *const fixed_datasets[] = {
    "model/layers/name", "model/layers/kind", "model/layers/block", "model/layers/shape",
    "model/blocks/name", "model/blocks/kind", "model/blocks/shape", "model/params/name",
    "model/params/shape", "model/responses/name", "model/responses/layer",
    "epochs/epoch", "epochs/step", "epochs/train_loss", "epochs/train_error",
    "epochs/test_loss", "epochs/test_error", "epochs/val_loss", "epochs/val_error",
    "status/clean_close", "status/rows_flushed",
};
enum { N_FIXED = sizeof fixed_datasets / sizeof fixed_datasets[0] };

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

/* suites.h: the run file of record_by_hand, for test_durability.c's bad files. */
int test_record_by_hand(const char *model, const char *dir, char *path, size_t size)
{
    recorded *rec = record_by_hand(model, dir);
    if (!rec)
        return -1;
    snprintf(path, size, "%s", rec->path);
    recorded_free(rec);
    return 0;
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
        CU_ASSERT(gf_h5_attr_string(f, path, test_step_series[i].path, "units", units, sizeof units,
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
    CU_ASSERT_EQUAL_FATAL(test_run_cli(&c, dir, "every", args, 60), 0);
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
                     test_record_every_k_records_steps_1_k1_2k1))
        return -1;
    return 0;
}
