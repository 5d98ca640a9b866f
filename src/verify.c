/* verify.c — rebuild a reference case's network and compare everything. */
#include "gradflow/verify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradflow/h5io.h"
#include "gradflow/kernels.h"
#include "gradflow/net.h"
#include "gradflow/optim.h"
#include "gradflow/paths.h"

typedef struct ctx {
    const char *path;
    hid_t file;
    gf_net *net;
    int B;
    double tol;
    gf_verify_report cb;
    void *user;
    gf_verify_result *res;
    float **identity, **branch; /* per-block copies of the split, from the hook */
    float **out, **dout;        /* per-layer copies of the training pass, from the hooks */
} ctx;

static double rel_err(const float *ours, const float *ref, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)ours[i] - ref[i];
        d += e * e;
        r += (double)ref[i] * ref[i];
    }
    return r > 0.0 ? sqrt(d / r) : sqrt(d);
}

static void report(ctx *c, const char *what, double e)
{
    c->res->checked++;
    if (!(e <= c->tol))
        c->res->failed++;
    if (!(e <= c->res->worst) || c->res->checked == 1) {
        c->res->worst = e;
        snprintf(c->res->worst_name, sizeof c->res->worst_name, "%s", what);
    }
    if (c->cb)
        c->cb(c->user, what, e);
}

/* Compares n floats of ours against dataset dset (which must hold exactly n). */
static int compare(ctx *c, const char *dset, const float *ours, size_t n, gf_err *err)
{
    float *ref = malloc((n ? n : 1) * sizeof *ref);
    if (!ref)
        return gf_err_set(err, "out of memory");
    int rc = gf_h5_read_floats_into(c->file, c->path, dset, ref, n, err);
    if (rc == 0)
        report(c, dset, rel_err(ours, ref, n));
    free(ref);
    return rc;
}

static int read_spec(ctx *c, gf_model_spec *spec, int *B, double opt[3], gf_err *err)
{
    char fmt[64], family[32], shortcut[8];
    long n, in_c, h, w, batch, classes;
    double eps, mom;
    hid_t f = c->file;
    const char *p = c->path;
    if (gf_h5_attr_string(f, p, "/", "format", fmt, sizeof fmt, err))
        return -1;
    if (strcmp(fmt, "gradflow-reference-1") != 0)
        return gf_err_set(err, "%s: format '%s', expected gradflow-reference-1", p, fmt);
    if (gf_h5_attr_string(f, p, "/", "family", family, sizeof family, err) ||
        gf_h5_attr_string(f, p, "/", "shortcut", shortcut, sizeof shortcut, err) ||
        gf_h5_attr_long(f, p, "/", "n", &n, err) ||
        gf_h5_attr_long(f, p, "/", "in_channels", &in_c, err) ||
        gf_h5_attr_long(f, p, "/", "height", &h, err) ||
        gf_h5_attr_long(f, p, "/", "width", &w, err) ||
        gf_h5_attr_long(f, p, "/", "batch", &batch, err) ||
        gf_h5_attr_long(f, p, "/", "num_classes", &classes, err) ||
        gf_h5_attr_double(f, p, "/", "bn_eps", &eps, err) ||
        gf_h5_attr_double(f, p, "/", "bn_momentum", &mom, err) ||
        gf_h5_attr_double(f, p, "/", "lr", &opt[0], err) ||
        gf_h5_attr_double(f, p, "/", "momentum", &opt[1], err) ||
        gf_h5_attr_double(f, p, "/", "weight_decay", &opt[2], err))
        return -1;
    char name[64];
    snprintf(name, sizeof name, "%s-%ld%s", family, 6 * n + 2,
             strcmp(shortcut, "B") == 0 ? "-B" : "");
    if (gf_model_parse(name, spec, err))
        return gf_err_set(err, "%s: describes an unknown model (family '%s', n %ld)", p, family,
                          n);
    if (spec->shortcut && strcmp(shortcut, "A") != 0 && strcmp(shortcut, "B") != 0)
        return gf_err_set(err, "%s: shortcut '%s', expected A or B", p, shortcut);
    if (in_c < 1 || h < 1 || w < 1 || batch < 1 || classes < 2 || in_c > 4096 || h > 4096 ||
        w > 4096 || batch > 65536 || classes > 100000)
        return gf_err_set(err, "%s: implausible shape %ldx%ldx%ld, batch %ld, %ld classes", p,
                          in_c, h, w, batch, classes);
    int widths[3];
    if (gf_h5_exists(f, "/widths") == 0) {
        hid_t a = H5Aexists(f, "widths") > 0 ? H5Aopen(f, "widths", H5P_DEFAULT) : -1;
        if (a >= 0) {
            hid_t sp = H5Aget_space(a);
            int ok = H5Sget_simple_extent_npoints(sp) == 3 &&
                     H5Aread(a, H5T_NATIVE_INT, widths) >= 0;
            H5Sclose(sp);
            H5Aclose(a);
            if (!ok)
                return gf_err_set(err, "%s: attribute 'widths' is not 3 integers", p);
            memcpy(spec->widths, widths, sizeof widths);
        }
    }
    spec->in_c = (int)in_c, spec->in_h = (int)h, spec->in_w = (int)w;
    spec->num_classes = (int)classes;
    spec->bn_eps = (float)eps, spec->bn_momentum = (float)mom;
    *B = (int)batch;
    gf_model_name(spec, c->res->model, sizeof c->res->model);
    return 0;
}

/* Loads every state_dict tensor from group (e.g. "params") and refuses a
 * file whose group holds a tensor the model does not have. */
static int load_params(ctx *c, const char *group, gf_err *err)
{
    char **names;
    int count;
    if (gf_h5_list(c->file, c->path, group, &names, &count, err))
        return -1;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        if (gf_net_find_tensor(c->net, names[i]) < 0 && !strstr(names[i], "num_batches"))
            rc = gf_err_set(err, "%s: '%s/%s' is not a tensor of %s", c->path, group, names[i],
                            c->res->model);
    gf_h5_names_free(names, count);
    for (int i = 0; i < gf_net_num_tensors(c->net) && rc == 0; i++) {
        const gf_tensor_info *t = gf_net_tensor(c->net, i);
        char dset[160];
        snprintf(dset, sizeof dset, "%s/%s", group, t->name);
        rc = gf_h5_read_floats_into(c->file, c->path, dset, t->data, t->size, err);
    }
    return rc;
}

/* A reference must hold every quantity for its model, not just some: the
 * names a group must contain. which: 0 modules (every layer but the
 * elementwise sum, which PyTorch has no module for), 1 trainable tensors,
 * 2 BN buffers, 3 every tensor. */
static int require_all(ctx *c, const char *group, int which, gf_err *err)
{
    int n = which == 0 ? gf_net_num_layers(c->net) : gf_net_num_tensors(c->net);
    for (int i = 0; i < n; i++) {
        const char *name;
        if (which == 0) {
            const gf_layer *l = gf_net_layer(c->net, i);
            if (l->kind == GF_LAYER_ADD)
                continue;
            name = l->name;
        } else {
            const gf_tensor_info *t = gf_net_tensor(c->net, i);
            if ((which == 1 && t->is_buffer) || (which == 2 && !t->is_buffer))
                continue;
            name = t->name;
        }
        char dset[160];
        snprintf(dset, sizeof dset, "%s/%s", group, name);
        if (!gf_h5_exists(c->file, dset))
            return gf_err_set(err, "%s: missing dataset '%s' (not a complete reference for %s)",
                              c->path, dset, c->res->model);
    }
    return 0;
}

/* Compares every module listed under group with a layer's output (grad 0)
 * or output gradient (grad 1), as the hooks saw them. */
static int compare_layers(ctx *c, const char *group, int grad, gf_err *err)
{
    char **names;
    int count;
    if (gf_h5_list(c->file, c->path, group, &names, &count, err))
        return -1;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        int li = gf_net_find_layer(c->net, names[i]);
        if (li < 0) {
            rc = gf_err_set(err, "%s: '%s/%s' is not a module of %s", c->path, group, names[i],
                            c->res->model);
            break;
        }
        const gf_layer *l = gf_net_layer(c->net, li);
        char dset[160];
        snprintf(dset, sizeof dset, "%s/%s", group, names[i]);
        rc = compare(c, dset, grad ? c->dout[li] : c->out[li], (size_t)c->B * gf_layer_out_size(l),
                     err);
    }
    gf_h5_names_free(names, count);
    return rc;
}

/* Compares every tensor listed under group with its value (grad 0) or gradient. */
static int compare_tensors(ctx *c, const char *group, int grad, gf_err *err)
{
    char **names;
    int count;
    if (gf_h5_list(c->file, c->path, group, &names, &count, err))
        return -1;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        if (strstr(names[i], "num_batches_tracked"))
            continue;
        int ti = gf_net_find_tensor(c->net, names[i]);
        const gf_tensor_info *t = ti < 0 ? NULL : gf_net_tensor(c->net, ti);
        if (!t || (grad && !t->grad)) {
            rc = gf_err_set(err, "%s: '%s/%s' is not a %s of %s", c->path, group, names[i],
                            grad ? "trainable parameter" : "tensor", c->res->model);
            break;
        }
        char dset[160];
        snprintf(dset, sizeof dset, "%s/%s", group, names[i]);
        rc = compare(c, dset, grad ? t->grad : t->data, t->size, err);
    }
    gf_h5_names_free(names, count);
    return rc;
}

/* The layer hooks: keep a copy of every layer's output and output gradient
 * (most of them live in buffers the net reuses, gf_layer.out_persists). */
static int capture_out(void *user, const gf_layer *l, int B, int training)
{
    ctx *c = user;
    (void)training;
    memcpy(c->out[l->index], l->out, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    return 0;
}

static int capture_dout(void *user, const gf_layer *l, const float *dx, int B)
{
    ctx *c = user;
    (void)dx;
    memcpy(c->dout[l->index], l->dout, (size_t)B * gf_layer_out_size(l) * sizeof(float));
    return 0;
}

/* The block hook: keep a copy of each block's split (the net reuses the buffers). */
static int capture_split(void *user, const gf_block *b, int B)
{
    ctx *c = user;
    int i = (int)(b - gf_net_block(c->net, 0));
    size_t n = (size_t)B * b->in_c * b->in_h * b->in_w;
    if (b->identity_grad)
        memcpy(c->identity[i], b->identity_grad, n * sizeof(float));
    memcpy(c->branch[i], b->branch_grad, n * sizeof(float));
    return 0;
}

static int compare_blocks(ctx *c, gf_err *err)
{
    int nb = gf_net_num_blocks(c->net), rc = 0;
    for (int i = 0; i < nb && rc == 0; i++) {
        const gf_block *b = gf_net_block(c->net, i);
        char obj[32], name[64], dset[96];
        snprintf(obj, sizeof obj, "blocks/%d", i);
        if (gf_h5_attr_string(c->file, c->path, obj, "name", name, sizeof name, err))
            return -1;
        if (strcmp(name, b->name) != 0)
            return gf_err_set(err, "%s: %s is '%s', expected '%s'", c->path, obj, name, b->name);
        size_t n_in = (size_t)c->B * b->in_c * b->in_h * b->in_w;
        size_t n_out = (size_t)c->B * b->out_c * b->out_h * b->out_w;
        snprintf(dset, sizeof dset, "%s/output_grad", obj);
        rc = compare(c, dset, b->output_grad, n_out, err);
        snprintf(dset, sizeof dset, "%s/input_grad", obj);
        rc = rc ? rc : compare(c, dset, b->input_grad, n_in, err);
        if (rc || !b->identity_grad)
            continue;
        snprintf(dset, sizeof dset, "%s/identity_grad", obj);
        rc = compare(c, dset, c->identity[i], n_in, err);
        snprintf(dset, sizeof dset, "%s/branch_grad", obj);
        rc = rc ? rc : compare(c, dset, c->branch[i], n_in, err);
    }
    return rc;
}

static double read_scalar(ctx *c, const char *dset, gf_err *err, int *rc)
{
    float v = 0.0f;
    if (*rc == 0)
        *rc = gf_h5_read_floats_into(c->file, c->path, dset, &v, 1, err);
    return v;
}

static void report_scalar(ctx *c, const char *what, double ours, double ref)
{
    report(c, what, ref != 0.0 ? fabs(ours - ref) / fabs(ref) : fabs(ours));
}

/* paths/: the gradient at block 0's input split by path length (residual
 * families only), its per-length norms and path counts. */
static int compare_paths(ctx *c, gf_err *err)
{
    int residual = gf_net_block(c->net, 0)->kind != GF_BLOCK_PLAIN;
    if (!gf_h5_exists(c->file, "paths/grad_by_length"))
        return residual ? gf_err_set(err, "%s: missing dataset 'paths/grad_by_length' (FORMAT.md "
                                          "has it for residual families)", c->path)
                        : 0;
    gf_paths p;
    gf_err why;
    if (gf_paths_decompose(c->net, 0, &p, &why)) /* never format err into itself */
        return gf_err_set(err, "%s: paths: %s", c->path, why.msg);
    size_t entries = (size_t)p.L + 1;
    int rc = compare(c, "paths/grad_by_length", p.G, entries * p.n, err);
    float *norms = malloc(entries * sizeof *norms), *counts = malloc(entries * sizeof *counts);
    for (size_t k = 0; norms && counts && k < entries; k++)
        norms[k] = (float)p.norm[k], counts[k] = (float)gf_paths_count(p.L, (int)k);
    if (rc == 0)
        rc = !norms || !counts ? gf_err_set(err, "out of memory")
                               : compare(c, "paths/norm_by_length", norms, entries, err) ||
                                         compare(c, "paths/count_by_length", counts, entries, err);
    if (rc == 0)
        report(c, "paths: sum over lengths vs blocks/0/input_grad", p.sum_rel_err);
    free(norms), free(counts);
    gf_paths_free(&p);
    return rc;
}

/* The sequence of FORMAT.md: eval forward, training forward and backward,
 * SGD step, second forward/backward, second step. */
static int run_checks(ctx *c, const float *x, const int32_t *y, const double opt[3], gf_err *err)
{
    gf_net *net = c->net;
    int B = c->B, K = gf_net_spec(net)->num_classes, rc = 0;
    gf_net_forward(net, x, B, 0);
    gf_hooks hooks = {.user = c, .layer_forward = capture_out, .layer_backward = capture_dout,
                      .block_backward = capture_split};
    gf_net_set_hooks(net, &hooks);
    if (compare(c, "forward/eval_logits", gf_net_logits(net), (size_t)B * K, err) ||
        gf_net_forward(net, x, B, 1) != GF_OK ||
        compare(c, "forward/logits", gf_net_logits(net), (size_t)B * K, err)) {
        gf_net_set_hooks(net, NULL);
        return -1;
    }
    double loss = gf_net_loss(net, y, 1, NULL);
    double ref = read_scalar(c, "forward/loss", err, &rc);
    if (rc) {
        gf_net_set_hooks(net, NULL);
        return -1;
    }
    report_scalar(c, "forward/loss", loss, ref);
    gf_net_zero_grad(net);
    rc = gf_net_backward(net, 0);
    gf_net_set_hooks(net, NULL);
    if (rc != GF_OK || require_all(c, "forward/act", 0, err) ||
        require_all(c, "after_forward", 2, err) || require_all(c, "backward/act_grad", 0, err) ||
        require_all(c, "backward/grad", 1, err) || require_all(c, "step1/params", 1, err) ||
        require_all(c, "step2/params", 3, err) || compare_layers(c, "forward/act", 0, err) ||
        compare_tensors(c, "after_forward", 0, err) ||
        compare_layers(c, "backward/act_grad", 1, err) ||
        compare_tensors(c, "backward/grad", 1, err) || compare_blocks(c, err) ||
        compare_paths(c, err))
        return -1;
    gf_sgd sgd;
    if (gf_sgd_init(&sgd, net, (float)opt[0], (float)opt[1], (float)opt[2], err))
        return -1;
    gf_sgd_step(&sgd, net);
    rc = compare_tensors(c, "step1/params", 0, err);
    if (rc == 0) {
        gf_net_forward(net, x, B, 1);
        loss = gf_net_loss(net, y, 1, NULL);
        ref = read_scalar(c, "step2/loss", err, &rc);
    }
    if (rc == 0) {
        report_scalar(c, "step2/loss", loss, ref);
        gf_net_zero_grad(net);
        gf_net_backward(net, 0);
        gf_sgd_step(&sgd, net);
        rc = compare_tensors(c, "step2/params", 0, err);
    }
    gf_sgd_free(&sgd);
    return rc;
}

/* The copies the hooks fill: every block's split, every layer's out and dout. */
static int alloc_copies(ctx *c, gf_err *err)
{
    int nb = gf_net_num_blocks(c->net), nl = gf_net_num_layers(c->net);
    c->identity = calloc((size_t)nb + 1, sizeof *c->identity);
    c->branch = calloc((size_t)nb + 1, sizeof *c->branch);
    c->out = calloc((size_t)nl, sizeof *c->out);
    c->dout = calloc((size_t)nl, sizeof *c->dout);
    if (!c->identity || !c->branch || !c->out || !c->dout)
        return gf_err_set(err, "out of memory");
    for (int i = 0; i < nl; i++) {
        size_t n = (size_t)c->B * gf_layer_out_size(gf_net_layer(c->net, i));
        c->out[i] = malloc(n * sizeof(float));
        c->dout[i] = malloc(n * sizeof(float));
        if (!c->out[i] || !c->dout[i])
            return gf_err_set(err, "out of memory");
    }
    for (int i = 0; i < nb; i++) {
        const gf_block *b = gf_net_block(c->net, i);
        size_t n = (size_t)c->B * b->in_c * b->in_h * b->in_w;
        c->identity[i] = malloc(n * sizeof(float));
        c->branch[i] = malloc(n * sizeof(float));
        if (!c->identity[i] || !c->branch[i])
            return gf_err_set(err, "out of memory");
    }
    return 0;
}

static void free_copies(ctx *c)
{
    int nb = c->net ? gf_net_num_blocks(c->net) : 0, nl = c->net ? gf_net_num_layers(c->net) : 0;
    for (int i = 0; c->identity && c->branch && i < nb; i++)
        free(c->identity[i]), free(c->branch[i]);
    for (int i = 0; c->out && c->dout && i < nl; i++)
        free(c->out[i]), free(c->dout[i]);
    free(c->identity), free(c->branch), free(c->out), free(c->dout);
}

int gf_verify(const char *path, double tol, gf_verify_report cb, void *user,
              gf_verify_result *result, gf_err *err)
{
    memset(result, 0, sizeof *result);
    ctx c = {.path = path, .tol = tol, .cb = cb, .user = user, .res = result};
    c.file = gf_h5_open_read(path, 0, err);
    if (c.file < 0)
        return -1;
    gf_model_spec spec;
    double opt[3];
    float *x = NULL;
    int32_t *y = NULL;
    int rc = read_spec(&c, &spec, &c.B, opt, err);
    if (rc == 0 && !(c.net = gf_net_new(&spec, c.B, err)))
        rc = -1;
    size_t n_in = (size_t)c.B * spec.in_c * spec.in_h * spec.in_w;
    if (rc == 0) {
        x = malloc(n_in * sizeof *x);
        y = malloc((size_t)c.B * sizeof *y);
        rc = !x || !y ? gf_err_set(err, "out of memory")
             : gf_h5_read_floats_into(c.file, path, "input", x, n_in, err) ||
                     gf_h5_read_ints_into(c.file, path, "labels", y, (size_t)c.B, err)
                 ? -1
                 : 0;
    }
    for (int i = 0; rc == 0 && i < c.B; i++)
        if (y[i] < 0 || y[i] >= spec.num_classes)
            rc = gf_err_set(err, "%s: label %d of example %d is out of range", path, y[i], i);
    if (rc == 0)
        rc = load_params(&c, "params", err);
    if (rc == 0)
        rc = alloc_copies(&c, err);
    if (rc == 0)
        rc = run_checks(&c, x, y, opt, err);
    free_copies(&c);
    free(x), free(y);
    gf_net_free(c.net);
    H5Fclose(c.file);
    return rc;
}
