/* record_schema.c — what a run file holds: every series with its units and
 * description (the schema; docs/run-file.md explains each), and the writers
 * of the file's fixed parts — attributes, environment and model tables. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gf_config.h"
#include "record_internal.h"

const series_def step_series[N_SERIES] = {
    {"step", AX_SCALAR, 1, "steps", "optimiser steps completed when the row was recorded "
     "(1-based); the row axis shared by every per-step series"},
    {"time", AX_SCALAR, 0, "s", "wall-clock seconds since the run file was created; a "
     "resumed run continues from its last kept row (time stopped does not count)"},
    {"train/loss", AX_SCALAR, 0, "nats", "mean softmax cross-entropy of the step's mini-batch, "
     "before the update"},
    {"train/error", AX_SCALAR, 0, "fraction", "fraction of the step's mini-batch misclassified, "
     "before the update"},
    {"train/lr", AX_SCALAR, 0, "1", "learning rate used by the step"},
    {"train/images_per_s", AX_SCALAR, 0, "images/s", "batch size / wall time of this step "
     "(forward, backward, update and the recorder's hooks)"},
    {"layers/act_rms", AX_LAYERS, 0, "activation units", "sqrt(mean(x^2)) of the layer output "
     "over the whole mini-batch (all examples, channels, positions), training mode"},
    {"layers/act_mean", AX_LAYERS, 0, "activation units", "mean of the layer output over the "
     "whole mini-batch"},
    {"layers/act_std", AX_LAYERS, 0, "activation units", "population standard deviation of the "
     "layer output over the whole mini-batch"},
    {"layers/act_max_abs", AX_LAYERS, 0, "activation units", "max |x| of the layer output over "
     "the mini-batch"},
    {"layers/act_zero_frac", AX_LAYERS, 0, "fraction", "fraction of exact zeros in the layer "
     "output (for ReLU layers: inactive units)"},
    {"layers/grad_norm", AX_LAYERS, 0, "loss units / activation units", "L2 norm over the whole "
     "mini-batch of dL/d(layer output), L the batch-mean loss"},
    {"params/weight_norm", AX_PARAMS, 0, "parameter units", "L2 norm of the parameter tensor "
     "after the step's update"},
    {"params/grad_norm", AX_PARAMS, 0, "loss units / parameter units", "L2 norm of dL/dW of "
     "the step (before weight decay)"},
    {"params/update_norm", AX_PARAMS, 0, "parameter units", "L2 norm of the step's change to "
     "the tensor, lr * ||momentum buffer|| (torch.optim.SGD)"},
    {"params/update_ratio", AX_PARAMS, 0, "1", "update_norm / weight_norm"},
    {"blocks/identity_norm", AX_BLOCKS, 0, "loss units / activation units", "L2 norm over the "
     "batch of the identity part S^T(m*g) of the block's input gradient (NaN for plain blocks)"},
    {"blocks/branch_norm", AX_BLOCKS, 0, "loss units / activation units", "L2 norm of the "
     "branch part J_F^T(m*g) of the block's input gradient (plain blocks: the whole input "
     "gradient)"},
    {"blocks/input_grad_norm", AX_BLOCKS, 0, "loss units / activation units", "L2 norm of "
     "dL/dx at the block input (identity + branch)"},
    {"blocks/output_grad_norm", AX_BLOCKS, 0, "loss units / activation units", "L2 norm of "
     "g = dL/dy at the block output"},
    {"blocks/cosine", AX_BLOCKS, 0, "1", "cosine between the identity and branch parts over "
     "the whole batch (NaN for plain blocks or a zero part)"},
    {"blocks/branch_gain", AX_BLOCKS, 0, "1", "||J_F^T v|| / ||v||, v = m*g the gradient "
     "entering the branch (m = relu2' post-activation, 1 pre-activation); plain blocks: "
     "||dL/dx|| / ||g||"},
    {"responses/std", AX_RESPONSES, 0, "activation units", "std over the mini-batch of each "
     "3x3 conv's response after BN, before the nonlinearity or addition (He et al. 2015 "
     "Fig. 7); model/responses/layer names the layer measured"},
};

const series_def epoch_series[N_EPOCH_SERIES] = {
    {"epochs/epoch", AX_SCALAR, 1, "epochs", "epoch number (1-based)"},
    {"epochs/step", AX_SCALAR, 1, "steps", "optimiser steps completed at the evaluation"},
    {"epochs/train_loss", AX_SCALAR, 0, "nats", "mean of the epoch's mini-batch losses "
     "(training mode, weights changing during the epoch)"},
    {"epochs/train_error", AX_SCALAR, 0, "fraction", "mean of the epoch's mini-batch errors"},
    {"epochs/test_loss", AX_SCALAR, 0, "nats", "mean cross-entropy on the test set, eval mode "
     "(NaN: no test set)"},
    {"epochs/test_error", AX_SCALAR, 0, "fraction", "test-set error, eval mode"},
    {"epochs/val_loss", AX_SCALAR, 0, "nats", "mean cross-entropy on the held-out validation "
     "split, eval mode (NaN: no split)"},
    {"epochs/val_error", AX_SCALAR, 0, "fraction", "validation error, eval mode"},
};

/* ------------------------------------------------------- the fixed parts */

static int describe(hid_t d, const char *units, const char *description)
{
    return gf_h5_set_attr_string(d, "units", units) ||
           gf_h5_set_attr_string(d, "description", description);
}

hid_t rec_create_series(hid_t file, const series_def *s, int width, int chunk_rows)
{
    int rank = s->axis == AX_SCALAR ? 1 : 2;
    hsize_t dims[2] = {0, (hsize_t)width}, maxd[2] = {H5S_UNLIMITED, (hsize_t)width};
    /* One chunk per flush (flush_rows rows): a flush then writes whole new
     * chunks instead of rewriting a compressed partial one, which HDF5 would
     * store anew each time (files grew ~24x that way). */
    hsize_t per_row = width > 0 ? (hsize_t)width : 1;
    hsize_t chunk[2] = {(hsize_t)(chunk_rows > 0 ? chunk_rows : 1), per_row};
    hid_t sp = H5Screate_simple(rank, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    hid_t type = s->is_int ? H5T_STD_I64LE : (s->axis == AX_SCALAR ? H5T_IEEE_F64LE
                                                                    : H5T_IEEE_F32LE);
    hid_t d = H5Dcreate2(file, s->path, type, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl), H5Pclose(dcpl), H5Sclose(sp);
    if (d >= 0 && describe(d, s->units, s->description)) {
        H5Dclose(d);
        return -1;
    }
    return d;
}

/* A fixed 1-D dataset of UTF-8 strings. */
static int write_strings(hid_t file, const char *path, const char **v, int n, const char *desc)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(file, path, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n > 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ||
             describe(d, "", desc);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl), H5Sclose(sp), H5Tclose(t);
    return rc ? -1 : 0;
}

/* A fixed int64 table [n, cols] (cols 0: 1-D). */
static int write_ints(hid_t file, const char *path, const long long *v, int n, int cols,
                      const char *units, const char *desc)
{
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)cols};
    hid_t sp = H5Screate_simple(cols ? 2 : 1, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(file, path, H5T_STD_I64LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n > 0 && H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ||
             describe(d, units, desc);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl), H5Sclose(sp);
    return rc ? -1 : 0;
}

static int write_layer_table(hid_t f, const gf_net *net)
{
    int n = gf_net_num_layers(net), rc = 0;
    const char **names = malloc((size_t)n * sizeof *names), **kinds = malloc((size_t)n * sizeof *kinds);
    long long *block = malloc((size_t)n * sizeof *block), *shape = malloc((size_t)n * 6 * sizeof *shape);
    if (!names || !kinds || !block || !shape)
        rc = -1;
    for (int i = 0; !rc && i < n; i++) {
        const gf_layer *l = gf_net_layer(net, i);
        names[i] = l->name, kinds[i] = gf_layer_kind_name(l->kind), block[i] = l->block;
        long long s[6] = {l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w};
        memcpy(shape + 6 * i, s, sizeof s);
    }
    rc = rc || write_strings(f, "model/layers/name", names, n, "layer (PyTorch module) names in "
                             "forward order; column i of every layers/* series") ||
         write_strings(f, "model/layers/kind", kinds, n, "conv, bn, relu, add, shortcut, pool "
                       "or linear") ||
         write_ints(f, "model/layers/block", block, n, 0, "", "index into model/blocks, -1 "
                    "for stem and head layers") ||
         write_ints(f, "model/layers/shape", shape, n, 6, "", "per-example input C, H, W and "
                    "output C, H, W");
    free(names), free(kinds), free(block), free(shape);
    return rc;
}

static int write_block_param_tables(hid_t f, const gf_net *net, const int *param_tensor,
                                    int np, const int *resp_layer, int n_resp)
{
    int nb = gf_net_num_blocks(net), rc = 0;
    static const char *block_kinds[] = {"plain", "resnet", "preact"};
    const char **bn = malloc(((size_t)nb + 1) * sizeof *bn), **bk = malloc(((size_t)nb + 1) * sizeof *bk);
    const char **pn = malloc(((size_t)np + 1) * sizeof *pn), **rn = malloc(((size_t)n_resp + 1) * sizeof *rn);
    long long *ps = malloc(((size_t)np + 1) * 5 * sizeof *ps), *rl = malloc(((size_t)n_resp + 1) * sizeof *rl);
    if (!bn || !bk || !pn || !ps || !rn || !rl)
        rc = -1;
    long long *bs = malloc(((size_t)nb + 1) * 6 * sizeof *bs);
    rc = rc || !bs;
    for (int i = 0; !rc && i < nb; i++) {
        const gf_block *b = gf_net_block(net, i);
        bn[i] = b->name, bk[i] = block_kinds[b->kind];
        long long sh[6] = {b->in_c, b->in_h, b->in_w, b->out_c, b->out_h, b->out_w};
        memcpy(bs + 6 * i, sh, sizeof sh);
    }
    for (int i = 0; !rc && i < np; i++) {
        const gf_tensor_info *t = gf_net_tensor(net, param_tensor[i]);
        pn[i] = t->name;
        for (int d = 0; d < 4; d++)
            ps[5 * i + d] = d < t->ndim ? t->shape[d] : 1;
        ps[5 * i + 4] = (long long)t->size;
    }
    for (int i = 0; !rc && i < n_resp; i++)
        rl[i] = resp_layer[i], rn[i] = gf_net_layer(net, resp_layer[i])->name;
    rc = rc || write_strings(f, "model/blocks/name", bn, nb, "block names; column i of every "
                             "blocks/* series") ||
         write_strings(f, "model/blocks/kind", bk, nb, "plain, resnet (post-activation) or "
                       "preact") ||
         write_ints(f, "model/blocks/shape", bs, nb, 6, "", "per-example input C, H, W and "
                    "output C, H, W") ||
         write_strings(f, "model/params/name", pn, np, "trainable tensors (state_dict names); "
                       "column i of every params/* series") ||
         write_ints(f, "model/params/shape", ps, np, 5, "", "shape padded with 1s to 4 "
                    "dimensions, then the element count") ||
         write_strings(f, "model/responses/name", rn, n_resp, "the layer whose output "
                       "std is responses/std column i") ||
         write_ints(f, "model/responses/layer", rl, n_resp, 0, "", "index into "
                    "model/layers");
    free(bn), free(bk), free(bs), free(pn), free(ps), free(rn), free(rl);
    return rc;
}

static void cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            char *v = strchr(line, ':') + 2;
            v[strcspn(v, "\n")] = '\0';
            snprintf(buf, size, "%s", v);
            break;
        }
    if (f)
        fclose(f);
}

static int write_attrs(hid_t f, const gf_net *net, const gf_record_meta *m)
{
    const gf_model_spec *s = gf_net_spec(net);
    const gf_train_config *c = m->cfg;
    char model[64], shortcut[2] = {s->shortcut, 0}, cpu[256], start[64], hdf5[32];
    gf_model_name(s, model, sizeof model);
    cpu_model(cpu, sizeof cpu);
    time_t now = time(NULL);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
    return gf_h5_set_attr_string(f, "schema", RUN_SCHEMA) ||
           gf_h5_set_attr_long(f, "schema_version", RUN_SCHEMA_VERSION) ||
           gf_h5_set_attr_string(f, "model", model) ||
           gf_h5_set_attr_string(f, "family", gf_family_name(s->family)) ||
           gf_h5_set_attr_long(f, "depth", s->depth) ||
           gf_h5_set_attr_string(f, "shortcut", s->shortcut ? shortcut : "none") ||
           gf_h5_set_attr_long(f, "in_channels", s->in_c) ||
           gf_h5_set_attr_long(f, "height", s->in_h) || gf_h5_set_attr_long(f, "width", s->in_w) ||
           gf_h5_set_attr_long(f, "num_classes", s->num_classes) ||
           gf_h5_set_attr_long(f, "mlp_width", s->mlp_width) ||
           gf_h5_set_attr_long(f, "num_params", (long)gf_net_num_params(net)) ||
           gf_h5_set_attr_string(f, "data", m->data ? m->data : "") ||
           gf_h5_set_attr_string(f, "config_json", m->config_json ? m->config_json : "{}") ||
           gf_h5_set_attr_double(f, "lr", c->lr) || gf_h5_set_attr_double(f, "momentum", c->momentum) ||
           gf_h5_set_attr_double(f, "weight_decay", c->weight_decay) ||
           gf_h5_set_attr_long(f, "batch", c->batch) || gf_h5_set_attr_long(f, "epochs", c->epochs) ||
           gf_h5_set_attr_long(f, "steps", c->steps) || gf_h5_set_attr_long(f, "warmup", c->warmup) ||
           gf_h5_set_attr_long(f, "augment", c->augment) ||
           gf_h5_set_attr_long(f, "seed", (long)c->seed) ||
           gf_h5_set_attr_long(f, "threads", m->threads) ||
           gf_h5_set_attr_long(f, "subset", m->subset) || gf_h5_set_attr_long(f, "val", m->n_val) ||
           gf_h5_set_attr_long(f, "n_train", m->n_train) || gf_h5_set_attr_long(f, "n_test", m->n_test) ||
           gf_h5_set_attr_long(f, "record_every", m->every) ||
           gf_h5_set_attr_long(f, "flush_rows", m->flush_rows) ||
           gf_h5_set_attr_double(f, "flush_seconds", m->flush_seconds) ||
           gf_h5_set_attr_string(f, "gradflow_version", GF_VERSION) ||
           gf_h5_set_attr_string(f, "git_commit", GF_GIT_COMMIT) ||
           gf_h5_set_attr_string(f, "hdf5_version", hdf5) ||
           gf_h5_set_attr_string(f, "openblas_config", openblas_get_config()) ||
           gf_h5_set_attr_string(f, "cpu_model", cpu) ||
           gf_h5_set_attr_string(f, "start_time", start);
}

int rec_write_model(hid_t f, const gf_net *net, const gf_record_meta *m,
                    const int *param_tensor, int n_params, const int *resp_layer, int n_resp)
{
    return write_attrs(f, net, m) || write_layer_table(f, net) ||
           write_block_param_tables(f, net, param_tensor, n_params, resp_layer, n_resp);
}

hid_t rec_create_flag(hid_t f, const char *path, const char *units, const char *desc)
{
    series_def d = {path, AX_SCALAR, 1, units, desc};
    hid_t ds = rec_create_series(f, &d, 1, 1);
    hsize_t one = 1;
    long long zero = 0;
    if (ds >= 0 && (H5Dset_extent(ds, &one) < 0 ||
                    H5Dwrite(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &zero) < 0)) {
        H5Dclose(ds);
        return -1;
    }
    return ds;
}

long gf_record_planned_steps(hid_t file, const char *path)
{
    long steps = 0, epochs = 0, n_train = 0, batch = 0;
    gf_h5_attr_long(file, path, "/", "steps", &steps, NULL);
    gf_h5_attr_long(file, path, "/", "epochs", &epochs, NULL);
    gf_h5_attr_long(file, path, "/", "n_train", &n_train, NULL);
    gf_h5_attr_long(file, path, "/", "batch", &batch, NULL);
    if (steps > 0)
        return steps;
    return epochs > 0 && n_train > 0 && batch > 0 ? epochs * ((n_train + batch - 1) / batch) : 0;
}
