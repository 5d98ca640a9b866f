/* train.c — the training loop, evaluation, and data sets by name. */
#include "gradflow/train.h"

#include "gradflow/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void gf_set_threads(int n)
{
    if (n > 0) {
        openblas_set_num_threads(n);
        gf_set_num_threads(n); /* the kernels' own thread team (parallel.h) */
    }
}

void gf_train_defaults(gf_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 1;
    cfg->batch = 128;
    cfg->lr = 0.1f, cfg->momentum = 0.9f, cfg->weight_decay = 1e-4f;
    cfg->milestones[0] = 0.5, cfg->milestones[1] = 0.75;
    cfg->augment = 1;
    cfg->seed = 1;
    cfg->eval_every_epoch = 1;
}

float gf_train_lr(const gf_train_config *cfg, long step, long total)
{
    if (step < cfg->warmup)
        return cfg->lr * 0.1f;
    float lr = cfg->lr;
    for (int i = 0; i < 2; i++)
        if (cfg->milestones[i] > 0 && (double)step >= cfg->milestones[i] * (double)total)
            lr *= 0.1f;
    return lr;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

gf_eval_result gf_evaluate(gf_net *net, const gf_dataset *d)
{
    gf_eval_result r = {0.0, 0.0, 0};
    if (!d || d->n == 0)
        return r;
    int maxb = gf_net_max_batch(net);
    size_t per = (size_t)d->c * d->h * d->w;
    double loss = 0.0;
    long wrong = 0;
    for (int i = 0; i < d->n; i += maxb) {
        int b = d->n - i < maxb ? d->n - i : maxb, correct;
        gf_net_forward(net, d->images + (size_t)i * per, b, 0);
        loss += gf_net_loss(net, d->labels + i, 0, &correct) * b;
        wrong += b - correct;
    }
    r.n = d->n;
    r.loss = loss / d->n;
    r.err = (double)wrong / d->n;
    return r;
}

/* Training state for one run, so the loop body stays short. */
typedef struct run {
    const gf_train_config *cfg;
    gf_net *net;
    gf_sgd *sgd;
    gf_loader loader;
    float *x;
    int32_t *y;
    gf_train_status st;
    double loss_sum, err_sum; /* over the epoch's batches */
    long images;
} run;

/* One optimiser step on the next batch: GF_OK; GF_STOPPED when a net hook
 * cancelled the forward or backward (the step is not taken) or the
 * optimiser hook asked to stop (it is); -1 on a non-finite loss. */
static int train_step(run *r, gf_err *err)
{
    double t0 = now_seconds();
    int b = gf_loader_next(&r->loader, r->x, r->y), correct;
    if (gf_net_forward(r->net, r->x, b, 1) == GF_STOPPED)
        return GF_STOPPED;
    double loss = gf_net_loss(r->net, r->y, 1, &correct);
    if (!isfinite(loss))
        return gf_err_set(err, "loss is %g at step %ld (epoch %d, batch %d): training diverged",
                          loss, r->st.step + 1, r->st.epoch, r->st.batch_in_epoch + 1);
    gf_net_zero_grad(r->net);
    if (gf_net_backward(r->net, 0) == GF_STOPPED)
        return GF_STOPPED;
    r->sgd->lr = gf_train_lr(r->cfg, r->st.step, r->st.total_steps);
    r->sgd->loss = loss;
    int stopped = gf_sgd_step(r->sgd, r->net) == GF_STOPPED;
    double dt = now_seconds() - t0;
    gf_train_status *s = &r->st;
    s->step++;
    s->batch_in_epoch++;
    s->loss = loss;
    s->train_err = 1.0 - (double)correct / b;
    r->loss_sum += loss, r->err_sum += s->train_err;
    s->epoch_loss = r->loss_sum / s->batch_in_epoch;
    s->epoch_err = r->err_sum / s->batch_in_epoch;
    s->lr = r->sgd->lr;
    s->step_seconds = dt;
    s->elapsed += dt;
    r->images += b;
    s->images_per_s = s->elapsed > 0 ? (double)r->images / s->elapsed : 0.0;
    s->loss_sum = r->loss_sum, s->err_sum = r->err_sum, s->images = r->images;
    return stopped ? GF_STOPPED : GF_OK;
}

static void summarise_epoch(run *r, gf_epoch_result *e, const gf_dataset *val,
                            const gf_dataset *test, gf_train_summary *sum)
{
    memset(e, 0, sizeof *e);
    e->epoch = r->st.epoch;
    e->step = r->st.step;
    e->train_loss = r->st.epoch_loss, e->train_err = r->st.epoch_err;
    if (r->cfg->eval_every_epoch) {
        e->test = gf_evaluate(r->net, test);
        e->val = gf_evaluate(r->net, val);
    }
    sum->epochs_done = r->st.epoch;
    sum->final_train_loss = e->train_loss, sum->final_train_err = e->train_err;
    if (e->test.n) {
        sum->final_test = e->test;
        if (e->test.err < sum->best_test_err)
            sum->best_test_err = e->test.err;
    }
    if (e->val.n) {
        sum->final_val = e->val;
        if (e->val.err < sum->best_val_err)
            sum->best_val_err = e->val.err;
    }
}

/* Puts the loop and the loader where the checkpoint left them. */
static int restore(run *r, const gf_train_resume *res, const gf_dataset *train, gf_err *err)
{
    if (res->n != train->n)
        return gf_err_set(err, "checkpoint's data order has %d examples, the data %d", res->n,
                          train->n);
    if (res->loader_pos < 0 || res->loader_pos >= train->n || res->step < 0 ||
        res->batch_in_epoch < 0 || res->batch_in_epoch > r->st.batches_per_epoch)
        return gf_err_set(err, "checkpoint's loop state is inconsistent (step %ld, position "
                               "%d of %d)", res->step, res->loader_pos, train->n);
    for (int i = 0; i < train->n; i++)
        if (res->perm[i] < 0 || res->perm[i] >= train->n)
            return gf_err_set(err, "checkpoint's data order is corrupt");
    memcpy(r->loader.perm, res->perm, (size_t)train->n * sizeof *res->perm);
    r->loader.pos = res->loader_pos, r->loader.epoch = res->loader_epoch;
    r->loader.shuffle_rng = res->shuffle_rng, r->loader.augment_rng = res->augment_rng;
    gf_train_status *s = &r->st;
    s->step = res->step, s->epoch = res->epoch, s->batch_in_epoch = res->batch_in_epoch;
    r->loss_sum = s->loss_sum = res->loss_sum, r->err_sum = s->err_sum = res->err_sum;
    s->elapsed = res->elapsed;
    r->images = s->images = res->images;
    return 0;
}

static int start_run(run *r, const gf_train_config *cfg, gf_net *net, gf_sgd *sgd,
                     const gf_dataset *train, gf_err *err)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg, r->net = net, r->sgd = sgd;
    int batch = cfg->batch;
    if (batch < 1 || batch > gf_net_max_batch(net))
        return gf_err_set(err, "batch %d is outside 1..%d", batch, gf_net_max_batch(net));
    const gf_model_spec *sp = gf_net_spec(net);
    if (train->c != sp->in_c || train->h != sp->in_h || train->w != sp->in_w)
        return gf_err_set(err, "data is %dx%dx%d but the model expects %dx%dx%d", train->c,
                          train->h, train->w, sp->in_c, sp->in_h, sp->in_w);
    if (train->num_classes > sp->num_classes)
        return gf_err_set(err, "data has %d classes, the model %d", train->num_classes,
                          sp->num_classes);
    if (gf_loader_init(&r->loader, train, batch, 1, cfg->augment, cfg->seed, err))
        return -1;
    size_t per = (size_t)train->c * train->h * train->w;
    r->x = malloc((size_t)batch * per * sizeof *r->x);
    r->y = malloc((size_t)batch * sizeof *r->y);
    if (!r->x || !r->y)
        return gf_err_set(err, "out of memory for a batch of %d", batch);
    int bpe = gf_loader_batches_per_epoch(&r->loader);
    r->st.batches_per_epoch = bpe;
    r->st.total_steps = cfg->steps > 0 ? cfg->steps : (long)cfg->epochs * bpe;
    r->st.epochs = (int)((r->st.total_steps + bpe - 1) / bpe);
    r->st.loader = &r->loader;
    return cfg->resume ? restore(r, cfg->resume, train, err) : 0;
}

int gf_train(const gf_train_config *cfg, gf_net *net, gf_sgd *sgd, const gf_dataset *train,
             const gf_dataset *val, const gf_dataset *test, const gf_train_observer *obs,
             gf_train_summary *sum, gf_err *err)
{
    memset(sum, 0, sizeof *sum);
    sum->best_test_err = sum->best_val_err = 1.0;
    if (cfg->resume)
        *sum = cfg->resume->summary, sum->stopped = 0;
    run r;
    int rc = start_run(&r, cfg, net, sgd, train, err);
    gf_train_status *s = &r.st;
    while (rc == 0 && s->step < s->total_steps && !sum->stopped) {
        if (s->batch_in_epoch == 0)
            s->epoch++, r.loss_sum = r.err_sum = 0.0;
        if (obs && obs->before_step)
            obs->before_step(obs->user, s->step, net);
        long before = s->step;
        if ((rc = train_step(&r, err)) == GF_STOPPED) { /* a hook asked */
            rc = 0, sum->stopped = 1;
            if (s->step == before) /* cancelled mid-step: nothing to account */
                break;
        } else if (rc != 0) {
            break;
        }
        if (obs && obs->step && obs->step(obs->user, s, net, sgd))
            sum->stopped = 1;
        if (cfg->stop && *cfg->stop)
            sum->stopped = 1;
        int epoch_end = s->batch_in_epoch == s->batches_per_epoch || s->step == s->total_steps;
        if (epoch_end || sum->stopped) {
            gf_epoch_result e;
            summarise_epoch(&r, &e, val, test, sum);
            if (obs && obs->epoch && obs->epoch(obs->user, &e))
                sum->stopped = 1;
            if (epoch_end) /* a stop mid-epoch keeps its place, for resuming */
                s->batch_in_epoch = 0;
        }
        sum->steps = s->step, sum->seconds = s->elapsed, sum->images_per_s = s->images_per_s;
        if (obs && obs->checkpoint && obs->checkpoint(obs->user, s, net, sgd, sum))
            sum->stopped = 1;
    }
    sum->steps = s->step;
    sum->seconds = s->elapsed;
    sum->images_per_s = s->images_per_s;
    gf_loader_free(&r.loader);
    free(r.x), free(r.y);
    return rc;
}
