/* checkpoint.c — state dicts in HDF5 (see checkpoint.h). */
#include "gradflow/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradflow/h5io.h"

/* Root attributes describing the model, and every state_dict tensor under
 * /params: what weights files and checkpoints share. */
static int write_model(hid_t f, const gf_net *net, const char *format)
{
    const gf_model_spec *s = gf_net_spec(net);
    char model[64];
    gf_model_name(s, model, sizeof model);
    if (gf_h5_set_attr_string(f, "format", format) || gf_h5_set_attr_string(f, "model", model) ||
        gf_h5_set_attr_long(f, "in_channels", s->in_c) ||
        gf_h5_set_attr_long(f, "height", s->in_h) || gf_h5_set_attr_long(f, "width", s->in_w) ||
        gf_h5_set_attr_long(f, "num_classes", s->num_classes) ||
        gf_h5_set_attr_long(f, "mlp_width", s->mlp_width))
        return -1;
    hid_t g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = g < 0;
    for (int i = 0; !rc && i < gf_net_num_tensors(net); i++) {
        const gf_tensor_info *t = gf_net_tensor(net, i);
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++)
            dims[d] = (hsize_t)t->shape[d];
        rc = gf_h5_write_floats(g, t->name, t->data, t->ndim, dims);
    }
    if (g >= 0)
        H5Gclose(g);
    return rc ? -1 : 0;
}

static int fill_weights(hid_t f, const void *net) { return write_model(f, net, "gradflow-weights-1"); }

int gf_weights_save(const gf_net *net, const char *path, gf_err *err)
{
    return gf_h5_write_file(path, fill_weights, net, err);
}

int gf_weights_load(gf_net *net, const char *path, gf_err *err)
{
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    /* gradflow's own files say what they are; a state dict written elsewhere
     * (h5py: f["params/" + name] = tensor) need not, but must have /params. */
    char fmt[64] = "";
    int rc = 0;
    if (H5Aexists_by_name(f, "/", "format", H5P_DEFAULT) > 0) {
        rc = gf_h5_attr_string(f, path, "/", "format", fmt, sizeof fmt, NULL);
        if (rc || (strcmp(fmt, "gradflow-weights-1") && strcmp(fmt, "gradflow-checkpoint-1") &&
                   strcmp(fmt, "gradflow-reference-1"))) {
            H5Fclose(f);
            return gf_err_set(err, "%s: not a weights file, checkpoint or reference case "
                                   "(format '%s')", path, fmt);
        }
    } else if (H5Lexists(f, "params", H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return gf_err_set(err, "%s: no /params group of state_dict tensors (not a weights "
                               "file)", path);
    }
    char **names = NULL;
    int count = 0;
    rc = gf_h5_list(f, path, "params", &names, &count, err);
    for (int i = 0; rc == 0 && i < count; i++)
        if (gf_net_find_tensor(net, names[i]) < 0 && !strstr(names[i], "num_batches_tracked")) {
            char model[64];
            gf_model_name(gf_net_spec(net), model, sizeof model);
            rc = gf_err_set(err, "%s: tensor '%s' is not part of %s", path, names[i], model);
        }
    gf_h5_names_free(names, count);
    float *staged = NULL;
    size_t total = 0;
    for (int i = 0; i < gf_net_num_tensors(net); i++)
        total += gf_net_tensor(net, i)->size;
    if (rc == 0 && !(staged = malloc(total * sizeof *staged)))
        rc = gf_err_set(err, "out of memory");
    /* Read everything first: a bad file leaves the net untouched. */
    size_t off = 0;
    for (int i = 0; rc == 0 && i < gf_net_num_tensors(net); i++) {
        const gf_tensor_info *t = gf_net_tensor(net, i);
        char dset[128];
        snprintf(dset, sizeof dset, "params/%s", t->name);
        rc = gf_h5_read_floats_into(f, path, dset, staged + off, t->size, err);
        off += t->size;
    }
    off = 0;
    for (int i = 0; rc == 0 && i < gf_net_num_tensors(net); i++) {
        const gf_tensor_info *t = gf_net_tensor(net, i);
        memcpy(t->data, staged + off, t->size * sizeof(float));
        off += t->size;
    }
    free(staged);
    H5Fclose(f);
    return rc;
}

/* ------------------------------------------------------------ checkpoints */

typedef struct ckpt_ctx {
    const gf_net *net;
    const gf_sgd *sgd;
    const gf_train_status *s;
    const gf_train_summary *sum;
    const char *const *argv;
    int argc;
} ckpt_ctx;

static int write_loop_state(hid_t f, const gf_train_status *s, const gf_train_summary *m)
{
    const gf_loader *l = s->loader;
    return gf_h5_set_attr_long(f, "step", s->step) || gf_h5_set_attr_long(f, "epoch", s->epoch) ||
           gf_h5_set_attr_long(f, "batch_in_epoch", s->batch_in_epoch) ||
           gf_h5_set_attr_double(f, "loss_sum", s->loss_sum) ||
           gf_h5_set_attr_double(f, "err_sum", s->err_sum) ||
           gf_h5_set_attr_double(f, "elapsed", s->elapsed) ||
           gf_h5_set_attr_long(f, "images", s->images) ||
           gf_h5_set_attr_long(f, "loader_pos", l->pos) ||
           gf_h5_set_attr_long(f, "loader_epoch", l->epoch) ||
           gf_h5_set_attr_long(f, "epochs_done", m->epochs_done) ||
           gf_h5_set_attr_double(f, "final_train_loss", m->final_train_loss) ||
           gf_h5_set_attr_double(f, "final_train_err", m->final_train_err) ||
           gf_h5_set_attr_double(f, "final_test_loss", m->final_test.loss) ||
           gf_h5_set_attr_double(f, "final_test_err", m->final_test.err) ||
           gf_h5_set_attr_long(f, "final_test_n", m->final_test.n) ||
           gf_h5_set_attr_double(f, "final_val_loss", m->final_val.loss) ||
           gf_h5_set_attr_double(f, "final_val_err", m->final_val.err) ||
           gf_h5_set_attr_long(f, "final_val_n", m->final_val.n) ||
           gf_h5_set_attr_double(f, "best_test_err", m->best_test_err) ||
           gf_h5_set_attr_double(f, "best_val_err", m->best_val_err);
}

static int fill_checkpoint(hid_t f, const void *p)
{
    const ckpt_ctx *c = p;
    const gf_loader *l = c->s->loader;
    if (write_model(f, c->net, "gradflow-checkpoint-1") ||
        write_loop_state(f, c->s, c->sum) ||
        gf_h5_set_attr_long(f, "sgd_steps", c->sgd->steps))
        return -1;
    hid_t g = H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = (hsize_t)c->sgd->n;
    int rc = g < 0 || gf_h5_write_floats(g, "momentum", c->sgd->buf, 1, &n);
    if (g >= 0)
        H5Gclose(g);
    g = rc ? -1 : H5Gcreate2(f, "loader", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = rc || g < 0 || gf_h5_write_ints(g, "perm", l->perm, (size_t)l->data->n) ||
         gf_h5_write_u64(g, "shuffle_rng", l->shuffle_rng.s, 4) ||
         gf_h5_write_u64(g, "augment_rng", l->augment_rng.s, 4);
    if (g >= 0)
        H5Gclose(g);
    g = rc ? -1 : H5Gcreate2(f, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = rc || g < 0 || gf_h5_write_strings(g, "argv", c->argv, (size_t)c->argc);
    if (g >= 0)
        H5Gclose(g);
    return rc ? -1 : 0;
}

int gf_checkpoint_save(const char *path, const gf_net *net, const gf_sgd *sgd,
                       const gf_train_status *s, const gf_train_summary *so_far,
                       const char *const *argv, int argc, gf_err *err)
{
    ckpt_ctx c = {net, sgd, s, so_far, argv, argc};
    return gf_h5_write_file(path, fill_checkpoint, &c, err);
}

int gf_checkpoint_argv(const char *path, char ***argv, int *argc, gf_err *err)
{
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    char fmt[64];
    int rc = gf_h5_attr_string(f, path, "/", "format", fmt, sizeof fmt, err);
    if (rc == 0 && strcmp(fmt, "gradflow-checkpoint-1") != 0)
        rc = gf_err_set(err, "%s: format '%s' is not a gradflow checkpoint", path, fmt);
    if (rc == 0)
        rc = gf_h5_read_strings(f, path, "config/argv", argv, argc, err);
    H5Fclose(f);
    return rc;
}

static int read_loop_state(hid_t f, const char *p, gf_train_resume *r, long *sgd_steps,
                           gf_err *err)
{
    long v[9];
    const char *names[9] = {"step", "epoch", "batch_in_epoch", "images", "loader_pos",
                            "loader_epoch", "epochs_done", "final_test_n", "final_val_n"};
    for (int i = 0; i < 9; i++)
        if (gf_h5_attr_long(f, p, "/", names[i], &v[i], err))
            return -1;
    gf_train_summary *m = &r->summary;
    r->step = v[0], r->epoch = (int)v[1], r->batch_in_epoch = (int)v[2], r->images = v[3];
    r->loader_pos = (int)v[4], r->loader_epoch = (int)v[5], m->epochs_done = (int)v[6];
    m->final_test.n = (int)v[7], m->final_val.n = (int)v[8];
    return gf_h5_attr_double(f, p, "/", "loss_sum", &r->loss_sum, err) ||
           gf_h5_attr_double(f, p, "/", "err_sum", &r->err_sum, err) ||
           gf_h5_attr_double(f, p, "/", "elapsed", &r->elapsed, err) ||
           gf_h5_attr_double(f, p, "/", "final_train_loss", &m->final_train_loss, err) ||
           gf_h5_attr_double(f, p, "/", "final_train_err", &m->final_train_err, err) ||
           gf_h5_attr_double(f, p, "/", "final_test_loss", &m->final_test.loss, err) ||
           gf_h5_attr_double(f, p, "/", "final_test_err", &m->final_test.err, err) ||
           gf_h5_attr_double(f, p, "/", "final_val_loss", &m->final_val.loss, err) ||
           gf_h5_attr_double(f, p, "/", "final_val_err", &m->final_val.err, err) ||
           gf_h5_attr_double(f, p, "/", "best_test_err", &m->best_test_err, err) ||
           gf_h5_attr_double(f, p, "/", "best_val_err", &m->best_val_err, err) ||
           gf_h5_attr_long(f, p, "/", "sgd_steps", sgd_steps, err);
}

int gf_checkpoint_load(const char *path, gf_net *net, gf_sgd *sgd, gf_train_resume *res,
                       int32_t **perm_storage, gf_err *err)
{
    memset(res, 0, sizeof *res);
    *perm_storage = NULL;
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    long sgd_steps = 0;
    int ndim, rc = read_loop_state(f, path, res, &sgd_steps, err);
    size_t n = 0, dims[8];
    float *mom = NULL;
    if (rc == 0 && gf_h5_read_floats(f, path, "optim/momentum", &mom, &n, &ndim, dims, err))
        rc = -1;
    if (rc == 0 && n != sgd->n)
        rc = gf_err_set(err, "%s: optim/momentum has %zu values, the model %zu", path, n,
                        sgd->n);
    if (rc == 0 && gf_h5_dataset_size(f, path, "loader/perm", &n, err))
        rc = -1;
    int32_t *perm = rc ? NULL : malloc((n ? n : 1) * sizeof *perm);
    if (rc == 0 && (!perm || gf_h5_read_ints_into(f, path, "loader/perm", perm, n, err)))
        rc = -1;
    if (rc == 0 && (gf_h5_read_u64_into(f, path, "loader/shuffle_rng", res->shuffle_rng.s, 4, err) ||
                    gf_h5_read_u64_into(f, path, "loader/augment_rng", res->augment_rng.s, 4, err)))
        rc = -1;
    H5Fclose(f);
    if (rc == 0) /* the weights last: everything else is known good by now */
        rc = gf_weights_load(net, path, err);
    if (rc) {
        free(mom), free(perm);
        return -1;
    }
    memcpy(sgd->buf, mom, sgd->n * sizeof(float));
    sgd->steps = sgd_steps;
    free(mom);
    res->perm = perm, res->n = (int)n;
    *perm_storage = perm;
    return 0;
}

int gf_weights_spec(const char *path, gf_model_spec *spec, gf_err *err)
{
    hid_t f = gf_h5_open_read(path, 0, err);
    if (f < 0)
        return -1;
    char fmt[64], model[64];
    long c, h, w, k, width;
    int rc = gf_h5_attr_string(f, path, "/", "format", fmt, sizeof fmt, err);
    if (rc == 0 && strcmp(fmt, "gradflow-weights-1") && strcmp(fmt, "gradflow-checkpoint-1"))
        rc = gf_err_set(err, "%s: format '%s' is not gradflow weights or a checkpoint", path, fmt);
    if (rc == 0)
        rc = gf_h5_attr_string(f, path, "/", "model", model, sizeof model, err) ||
             gf_h5_attr_long(f, path, "/", "in_channels", &c, err) ||
             gf_h5_attr_long(f, path, "/", "height", &h, err) ||
             gf_h5_attr_long(f, path, "/", "width", &w, err) ||
             gf_h5_attr_long(f, path, "/", "num_classes", &k, err) ||
             gf_h5_attr_long(f, path, "/", "mlp_width", &width, err);
    H5Fclose(f);
    if (rc)
        return -1;
    if (gf_model_parse(model, spec, err))
        return gf_err_set(err, "%s: unknown model '%s'", path, model);
    if (c < 1 || h < 1 || w < 1 || k < 2 || width < 1 || c > 4096 || h > 4096 || w > 4096 ||
        k > 100000 || width > 1 << 20)
        return gf_err_set(err, "%s: implausible model shape attributes", path);
    spec->in_c = (int)c, spec->in_h = (int)h, spec->in_w = (int)w;
    spec->num_classes = (int)k, spec->mlp_width = (int)width;
    return 0;
}
