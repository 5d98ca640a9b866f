/* record.c — the HDF5 run recorder (record.h; schema in docs/run-file.md). */
#include "gradflow/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gradflow/h5io.h"
#include "gradflow/kernels.h"
#include "record_internal.h"

/* A gradient norm this pass has already measured for a buffer that has not
 * changed since: saves a second read of the same tensor. */
typedef struct known_norm {
    const float *p;
    size_t n;
    double norm;
} known_norm;

struct gf_recorder {
    char path[1024];
    hid_t file;
    hid_t dset[N_SERIES], edset[N_EPOCH_SERIES];
    hid_t clean_close, last_flushed;
    int width[N_SERIES];
    double *buf[N_SERIES];   /* [flush_rows, width] rows not yet written */
    int nbuf, flush_rows;
    hsize_t rows;            /* rows written to the file */
    hsize_t epoch_rows;
    double flush_seconds, last_flush, t0;
    long every;
    int armed;               /* the current step is being recorded */
    const gf_net *net;
    int n_layers, n_params, n_blocks, n_resp;
    int *param_tensor;       /* trainable tensor index of each params column */
    int *resp_layer;         /* layer index of each responses column */
    int *layer_resp;         /* responses column of each layer, or -1 */
    gf_hooks hooks;
    known_norm known_v, known_in; /* see dout_norm */
};

static double wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double *cur(gf_recorder *r, int series) { return r->buf[series] + (size_t)r->nbuf * r->width[series]; }

static int on_forward(void *user, const gf_layer *l, int B, int training)
{
    gf_recorder *r = user;
    if (!training || !r->armed)
        return 0;
    size_t n = (size_t)B * gf_layer_out_size(l);
    gf_act_stats s;
    gf_act_stats_compute(l->out, n, &s);
    double mean = s.sum / (double)n, ms = s.sumsq / (double)n;
    double var = ms - mean * mean;
    double sd = sqrt(var > 0 ? var : 0);
    int i = l->index;
    cur(r, S_ACT_RMS)[i] = sqrt(ms);
    cur(r, S_ACT_MEAN)[i] = mean;
    cur(r, S_ACT_STD)[i] = sd;
    cur(r, S_ACT_MAX)[i] = s.max_abs;
    cur(r, S_ACT_ZERO)[i] = (double)s.zeros / (double)n;
    if (r->layer_resp[i] >= 0)
        cur(r, S_RESP)[r->layer_resp[i]] = sd;
    return 0;
}

/* The norm of l->dout, reusing a known one when the buffer is the same:
 *   r->known_v:  a residual block's v = m ⊙ g, measured at its add layer's
 *                hook; bn2 and the shortcut's last layer share that buffer
 *                (their dout is v), and nothing writes it until the block's
 *                backward ends, as both branch and shortcut read it.
 *   r->known_in: a block's input gradient, measured by its block hook; the
 *                very next layer hook is the producing layer's, whose dout
 *                it is, and only that layer's backward (which writes another
 *                buffer) ran in between. */
static double dout_norm(gf_recorder *r, const gf_layer *l, int B)
{
    size_t n = (size_t)B * gf_layer_out_size(l);
    const known_norm *k[2] = {&r->known_v, &r->known_in};
    double norm = -1.0;
    for (int i = 0; i < 2; i++)
        if (k[i]->p == l->dout && k[i]->n == n)
            norm = k[i]->norm;
    if (norm < 0.0)
        norm = gf_norm2(l->dout, n);
    r->known_in = (known_norm){0};
    if (l->kind == GF_LAYER_ADD)
        r->known_v = (known_norm){l->dout, n, norm};
    return norm;
}

static int on_backward(void *user, const gf_layer *l, const float *dx, int B)
{
    (void)dx;
    gf_recorder *r = user;
    if (r->armed)
        cur(r, S_GRAD_NORM)[l->index] = dout_norm(r, l, B);
    return 0;
}

/* ‖dL/dy‖ and ‖v‖ come from the layer hooks of the block's last layer and
 * its add, which ran earlier in this block's backward. */
static int on_block(void *user, const gf_block *b, int B)
{
    gf_recorder *r = user;
    if (!r->armed)
        return 0;
    int i = (int)(b - gf_net_block(r->net, 0));
    double *grad = cur(r, S_GRAD_NORM);
    gf_block_stats st;
    gf_block_stats_split(b, B, grad[b->last], b->identity_grad ? grad[b->add] : NAN, &st);
    cur(r, S_B_ID)[i] = st.identity_norm, cur(r, S_B_BR)[i] = st.branch_norm;
    cur(r, S_B_IN)[i] = st.input_norm, cur(r, S_B_OUT)[i] = st.output_norm;
    cur(r, S_B_COS)[i] = st.cosine, cur(r, S_B_GAIN)[i] = st.branch_gain;
    r->known_v = (known_norm){0};
    r->known_in = (known_norm){b->input_grad, (size_t)B * b->in_c * b->in_h * b->in_w,
                               st.input_norm};
    return 0;
}

/* ------------------------------------------------------------- the file */

/* Column maps: trainable tensors, and the response (He et al. Fig. 7) of
 * each 3×3 conv — its BN's output when a BN reads it, else its own output
 * (pre-activation conv2 feeds the addition directly). */
static int build_maps(gf_recorder *r)
{
    const gf_net *net = r->net;
    int nt = gf_net_num_tensors(net);
    r->n_layers = gf_net_num_layers(net), r->n_blocks = gf_net_num_blocks(net);
    r->param_tensor = malloc(((size_t)nt + 1) * sizeof(int));
    r->resp_layer = malloc(((size_t)r->n_layers + 1) * sizeof(int));
    r->layer_resp = malloc(((size_t)r->n_layers + 1) * sizeof(int));
    if (!r->param_tensor || !r->resp_layer || !r->layer_resp)
        return -1;
    for (int i = 0; i < nt; i++)
        if (gf_net_tensor(net, i)->grad)
            r->param_tensor[r->n_params++] = i;
    for (int i = 0; i < r->n_layers; i++)
        r->layer_resp[i] = -1;
    for (int i = 0; i < r->n_layers; i++) {
        const gf_layer *l = gf_net_layer(net, i);
        if (l->kind != GF_LAYER_CONV || l->k != 3)
            continue;
        const gf_layer *next = i + 1 < r->n_layers ? gf_net_layer(net, i + 1) : NULL;
        int at = next && next->kind == GF_LAYER_BN && next->in == l->out ? i + 1 : i;
        r->layer_resp[at] = r->n_resp;
        r->resp_layer[r->n_resp++] = at;
    }
    int axis_width[] = {1, r->n_layers, r->n_params, r->n_blocks, r->n_resp};
    for (int s = 0; s < N_SERIES; s++) {
        r->width[s] = axis_width[step_series[s].axis];
        r->buf[s] = malloc((size_t)r->flush_rows * r->width[s] * sizeof(double) + 1);
        if (!r->buf[s])
            return -1;
    }
    return 0;
}

static void free_recorder(gf_recorder *r)
{
    for (int s = 0; s < N_SERIES; s++)
        free(r->buf[s]);
    free(r->param_tensor), free(r->resp_layer), free(r->layer_resp);
    free(r);
}

static void close_handles(gf_recorder *r)
{
    for (int s = 0; s < N_SERIES; s++)
        if (r->dset[s] > 0)
            H5Dclose(r->dset[s]);
    for (int s = 0; s < N_EPOCH_SERIES; s++)
        if (r->edset[s] > 0)
            H5Dclose(r->edset[s]);
    if (r->clean_close > 0)
        H5Dclose(r->clean_close);
    if (r->last_flushed > 0)
        H5Dclose(r->last_flushed);
    if (r->file > 0)
        H5Fclose(r->file);
}

/* Creates every object, then switches the file to SWMR writing. */
static int create_file(gf_recorder *r, const gf_record_meta *m, gf_err *err)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    r->file = H5Fcreate(r->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (r->file < 0)
        return gf_err_set(err, "%s: cannot create the run file (directory missing or not "
                               "writable?)", r->path);
    int rc = rec_write_model(r->file, r->net, m, r->param_tensor, r->n_params, r->resp_layer,
                             r->n_resp);
    for (int s = 0; !rc && s < N_SERIES; s++)
        rc = (r->dset[s] = rec_create_series(r->file, &step_series[s], r->width[s], r->flush_rows)) < 0;
    for (int s = 0; !rc && s < N_EPOCH_SERIES; s++)
        rc = (r->edset[s] = rec_create_series(r->file, &epoch_series[s], 1, 16)) < 0;
    if (!rc)
        rc = (r->clean_close = rec_create_flag(r->file, "status/clean_close", "1",
                                           "1 once the run ended and the file was closed "
                                           "cleanly; 0 while running or if it was killed")) < 0;
    if (!rc)
        rc = (r->last_flushed = rec_create_flag(r->file, "status/rows_flushed", "rows",
                                            "per-step rows written and flushed so far")) < 0;
    if (rc)
        return gf_err_set(err, "%s: cannot create the run file's objects (disk full?)",
                          r->path);
    if (H5Fstart_swmr_write(r->file) < 0)
        return gf_err_set(err, "%s: cannot start SWMR writing", r->path);
    return 0;
}

gf_recorder *gf_recorder_open(const char *path, gf_net *net, const gf_record_meta *m,
                              gf_err *err)
{
    gf_h5_quiet();
    gf_recorder *r = calloc(1, sizeof *r);
    if (!r) {
        gf_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(r->path, sizeof r->path, "%s", path);
    r->net = net;
    r->every = m->every > 0 ? m->every : 1;
    r->flush_rows = m->flush_rows > 0 ? (m->flush_rows < 64 ? m->flush_rows : 64) : 16;
    r->flush_seconds = m->flush_seconds > 0 ? m->flush_seconds : 10.0;
    r->t0 = r->last_flush = wall_seconds();
    r->hooks = (gf_hooks){.user = r, .layer_forward = on_forward,
                          .layer_backward = on_backward, .block_backward = on_block};
    if (build_maps(r)) {
        gf_err_set(err, "out of memory");
        free_recorder(r);
        return NULL;
    }
    if (create_file(r, m, err)) {
        close_handles(r);
        free_recorder(r);
        return NULL;
    }
    return r;
}

/* Appends the buffered rows to every series and flushes them to disk. */
static int flush_rows(gf_recorder *r, gf_err *err)
{
    if (r->nbuf == 0)
        return 0;
    int rc = 0;
    for (int s = 0; !rc && s < N_SERIES; s++) {
        int rank = step_series[s].axis == AX_SCALAR ? 1 : 2;
        hsize_t start[2] = {r->rows, 0}, count[2] = {(hsize_t)r->nbuf, (hsize_t)r->width[s]};
        hsize_t size[2] = {r->rows + (hsize_t)r->nbuf, (hsize_t)r->width[s]};
        hid_t d = r->dset[s];
        if (H5Dset_extent(d, size) < 0) {
            rc = -1;
            break;
        }
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t mt = step_series[s].is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE;
        long long ints[64];
        const void *src = r->buf[s];
        if (step_series[s].is_int) { /* only /step is an integer series, width 1 */
            for (int i = 0; i < r->nbuf; i++)
                ints[i] = (long long)r->buf[s][i];
            src = ints;
        }
        rc = H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, src) < 0 || H5Dflush(d) < 0;
        H5Sclose(ms), H5Sclose(fs);
    }
    if (rc)
        return gf_err_set(err, "%s: writing rows failed (disk full or file removed?)", r->path);
    r->rows += (hsize_t)r->nbuf;
    r->nbuf = 0;
    r->last_flush = wall_seconds();
    long long rows = (long long)r->rows;
    if (H5Dwrite(r->last_flushed, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &rows) < 0 ||
        H5Dflush(r->last_flushed) < 0)
        return gf_err_set(err, "%s: writing status failed (disk full?)", r->path);
    return 0;
}

void gf_recorder_before_step(gf_recorder *r, gf_net *net, long step)
{
    r->armed = step % r->every == 0;
    gf_net_set_hooks(net, r->armed ? &r->hooks : NULL);
    if (!r->armed)
        return;
    /* NaN until measured: a stat no hook reached stays visibly missing. */
    for (int s = S_ACT_RMS; s < N_SERIES; s++)
        for (int i = 0; i < r->width[s]; i++)
            cur(r, s)[i] = NAN;
}

/* Weight, gradient and update norms per trainable tensor, after the step.
 * torch.optim.SGD moves p by lr · buf, so the update norm is lr · ||buf||. */
static void param_stats(gf_recorder *r, gf_net *net, const gf_sgd *sgd)
{
    for (int i = 0; i < r->n_params; i++) {
        const gf_tensor_info *t = gf_net_tensor(net, r->param_tensor[i]);
        double w = gf_norm2(t->data, t->size);
        double u = sgd->lr * gf_norm2(gf_sgd_momentum(sgd, net, t), t->size);
        cur(r, S_W_NORM)[i] = w;
        cur(r, S_G_NORM)[i] = gf_norm2(t->grad, t->size);
        cur(r, S_U_NORM)[i] = u;
        cur(r, S_U_RATIO)[i] = w > 0 ? u / w : NAN;
    }
}

int gf_recorder_after_step(gf_recorder *r, const gf_train_status *s, gf_net *net,
                           const gf_sgd *sgd, gf_err *err)
{
    gf_net_set_hooks(net, NULL); /* evaluation forwards are not recorded */
    if (!r->armed)
        return 0;
    r->armed = 0;
    param_stats(r, net, sgd);
    cur(r, S_STEP)[0] = (double)s->step;
    cur(r, S_TIME)[0] = wall_seconds() - r->t0;
    cur(r, S_LOSS)[0] = s->loss;
    cur(r, S_ERR)[0] = s->train_err;
    cur(r, S_LR)[0] = s->lr;
    cur(r, S_IPS)[0] = s->step_seconds > 0 ? gf_net_batch(net) / s->step_seconds : NAN;
    r->nbuf++;
    if (r->nbuf >= r->flush_rows || wall_seconds() - r->last_flush >= r->flush_seconds)
        return flush_rows(r, err);
    return 0;
}

/* Appends one row of the per-epoch series and flushes it. */
static int append_epoch_row(gf_recorder *r, const double v[N_EPOCH_SERIES])
{
    hsize_t start = r->epoch_rows, count = 1, size = r->epoch_rows + 1;
    int rc = 0;
    for (int s = 0; !rc && s < N_EPOCH_SERIES; s++) {
        hid_t d = r->edset[s];
        if (H5Dset_extent(d, &size) < 0)
            return -1;
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        long long iv = (long long)v[s];
        rc = (epoch_series[s].is_int
                  ? H5Dwrite(d, H5T_NATIVE_LLONG, ms, fs, H5P_DEFAULT, &iv)
                  : H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &v[s])) < 0 ||
             H5Dflush(d) < 0;
        H5Sclose(ms), H5Sclose(fs);
    }
    if (rc == 0)
        r->epoch_rows++;
    return rc;
}

int gf_recorder_epoch(gf_recorder *r, const gf_epoch_result *e, gf_err *err)
{
    double v[N_EPOCH_SERIES] = {
        e->epoch, (double)e->step, e->train_loss, e->train_err,
        e->test.n ? e->test.loss : NAN, e->test.n ? e->test.err : NAN,
        e->val.n ? e->val.loss : NAN, e->val.n ? e->val.err : NAN};
    if (append_epoch_row(r, v))
        return gf_err_set(err, "%s: writing the epoch row failed (disk full?)", r->path);
    return flush_rows(r, err); /* an epoch boundary is a natural flush point */
}

int gf_recorder_close(gf_recorder *r, gf_err *err)
{
    int rc = flush_rows(r, err);
    long long one = 1;
    if (rc == 0 && (H5Dwrite(r->clean_close, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                             &one) < 0 ||
                    H5Dflush(r->clean_close) < 0))
        rc = gf_err_set(err, "%s: marking the clean close failed (disk full?)", r->path);
    close_handles(r);
    free_recorder(r);
    return rc;
}

void gf_recorder_abort(gf_recorder *r)
{
    if (!r)
        return;
    gf_err ignored;
    flush_rows(r, &ignored); /* keep what was measured */
    close_handles(r);
    free_recorder(r);
}

/* ---------------------------------------------------------------- resume */

/* Reads a whole series of the old file as doubles: rows × width. */
static double *read_series(hid_t f, const char *path, hsize_t *rows, int width)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    double *v = NULL;
    if ((nd == 1 && width == 1) || (nd == 2 && dims[1] == (hsize_t)width)) {
        v = malloc((size_t)(dims[0] * (hsize_t)width + 1) * sizeof *v);
        if (v && dims[0] && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            free(v), v = NULL;
    }
    H5Dclose(d);
    *rows = dims[0];
    return v;
}

/* Rows of the old file whose step <= step: the ones the resumed run keeps. */
static int copy_rows(gf_recorder *r, hid_t old, long step, gf_err *err)
{
    hsize_t n;
    double *steps = read_series(old, "step", &n, 1), *v[N_SERIES] = {0};
    hsize_t keep = 0;
    while (steps && keep < n && steps[keep] <= (double)step)
        keep++;
    int rc = steps ? 0 : -1;
    for (int s = 0; !rc && s < N_SERIES; s++) {
        hsize_t m;
        v[s] = read_series(old, step_series[s].path, &m, r->width[s]);
        rc = !v[s] || m < keep;
    }
    for (hsize_t i = 0; !rc && i < keep; i++) {
        for (int s = 0; s < N_SERIES; s++)
            memcpy(cur(r, s), v[s] + i * (hsize_t)r->width[s], (size_t)r->width[s] * sizeof(double));
        if (++r->nbuf == r->flush_rows)
            rc = flush_rows(r, err);
    }
    rc = rc ? rc : flush_rows(r, err);
    /* time continues from the last kept row (the time the run was stopped
     * does not count), so the column stays a running clock of the run */
    if (!rc && keep > 0)
        r->t0 = wall_seconds() - v[S_TIME][keep - 1];
    free(steps);
    for (int s = 0; s < N_SERIES; s++)
        free(v[s]);
    return rc ? gf_err_set(err, "%s: cannot carry the recorded rows over (does the run file "
                                "belong to this model?)", r->path) : 0;
}

static int copy_epochs(gf_recorder *r, hid_t old, long step, gf_err *err)
{
    hsize_t n, m;
    double *v[N_EPOCH_SERIES] = {0};
    int rc = 0;
    for (int s = 0; !rc && s < N_EPOCH_SERIES; s++) {
        v[s] = read_series(old, epoch_series[s].path, s ? &m : &n, 1);
        rc = !v[s] || (s && m != n);
    }
    for (hsize_t i = 0; !rc && i < n && v[E_STEP][i] <= (double)step; i++) {
        double row[N_EPOCH_SERIES];
        for (int s = 0; s < N_EPOCH_SERIES; s++)
            row[s] = v[s][i];
        rc = append_epoch_row(r, row);
    }
    for (int s = 0; s < N_EPOCH_SERIES; s++)
        free(v[s]);
    return rc ? gf_err_set(err, "%s: cannot carry the epoch rows over", r->path) : 0;
}

gf_recorder *gf_recorder_resume(const char *path, gf_net *net, const gf_record_meta *m,
                                long step, gf_err *err)
{
    hid_t old = gf_h5_open_read(path, 1, err);
    if (old < 0)
        return NULL;
    char schema[64] = "", model[64] = "", want[64];
    gf_model_name(gf_net_spec(net), want, sizeof want);
    int bad = gf_h5_attr_string(old, path, "/", "schema", schema, sizeof schema, err) ||
              gf_h5_attr_string(old, path, "/", "model", model, sizeof model, err);
    if (!bad && strcmp(schema, RUN_SCHEMA) != 0)
        bad = gf_err_set(err, "%s: not a gradflow run file (schema '%s')", path, schema);
    else if (!bad && strcmp(model, want) != 0)
        bad = gf_err_set(err, "%s: is a run of %s, not %s", path, model, want);
    if (bad) {
        H5Fclose(old);
        return NULL;
    }
    /* A fresh file under a temporary name takes the kept rows, then replaces
     * the old one: the old file stays whole until the new one is complete. */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.resume-tmp", path);
    gf_recorder *r = gf_recorder_open(tmp, net, m, err);
    if (r && (copy_rows(r, old, step, err) || copy_epochs(r, old, step, err))) {
        gf_recorder_abort(r);
        remove(tmp);
        r = NULL;
    }
    H5Fclose(old);
    if (r && rename(tmp, path) != 0) {
        gf_err_set(err, "%s: cannot replace the run file", path);
        gf_recorder_abort(r);
        return NULL;
    }
    if (r)
        snprintf(r->path, sizeof r->path, "%s", path);
    return r;
}
