/* setup.c — a net and a batch for the analysis commands (analysis.h). */
#include <stdlib.h>
#include <string.h>

#include "../src/cli/cli.h"
#include "analysis.h"
#include "gradflow/checkpoint.h"

static int model_spec(const analysis_setup *s, const gf_dataset *d, gf_model_spec *spec,
                      gf_err *err)
{
    if (s->weights) {
        if (gf_weights_spec(s->weights, spec, err))
            return -1;
        if (spec->in_c != d->c || spec->in_h != d->h || spec->in_w != d->w)
            return gf_err_set(err, "%s holds a model for %dx%dx%d input, the data is %dx%dx%d",
                              s->weights, spec->in_c, spec->in_h, spec->in_w, d->c, d->h, d->w);
        return 0;
    }
    if (!s->model)
        return gf_err_set(err, "need --model NAME or --weights FILE");
    if (gf_model_parse(s->model, spec, err))
        return -1;
    spec->in_c = d->c, spec->in_h = d->h, spec->in_w = d->w;
    spec->num_classes = d->num_classes > 10 ? d->num_classes : 10;
    spec->mlp_width = s->width > 0 ? s->width : spec->mlp_width;
    return 0;
}

int analysis_open(const analysis_setup *s, gf_data_bundle *data, gf_net **net, float **x,
                  int32_t **y, gf_err *err)
{
    *net = NULL, *x = NULL, *y = NULL;
    if (gf_data_open(s->data, 0, 0, s->seed, data, err))
        return -1;
    gf_model_spec spec;
    if (s->batch < 1 || s->batch > data->train.n) {
        gf_err_set(err, "batch %d outside 1..%d (the training set)", s->batch, data->train.n);
        goto fail;
    }
    if (model_spec(s, &data->train, &spec, err) || !(*net = gf_net_new(&spec, s->batch, err)))
        goto fail;
    gf_net_init(*net, s->seed);
    if (s->weights && gf_weights_load(*net, s->weights, err))
        goto fail;
    size_t per = (size_t)data->train.c * data->train.h * data->train.w;
    *x = malloc((size_t)s->batch * per * sizeof **x);
    *y = malloc((size_t)s->batch * sizeof **y);
    if (!*x || !*y) {
        gf_err_set(err, "out of memory");
        goto fail;
    }
    memcpy(*x, data->train.images, (size_t)s->batch * per * sizeof **x);
    memcpy(*y, data->train.labels, (size_t)s->batch * sizeof **y);
    return 0;
fail:
    gf_net_free(*net), free(*x), free(*y);
    *net = NULL, *x = NULL, *y = NULL;
    gf_data_bundle_free(data);
    return -1;
}

int analysis_option(const char *cmd, int argc, char **argv, int *i, analysis_setup *s,
                    int *threads)
{
    const char *a = argv[*i], *v;
    long n;
    int is_weights = !strcmp(a, "--weights"), is_data = !strcmp(a, "--data");
    int is_seed = !strcmp(a, "--seed"), is_threads = !strcmp(a, "--threads");
    if (!is_weights && !is_data && !is_seed && !is_threads)
        return 0;
    if (!(v = cli_value(cmd, argc, argv, i)))
        return 2;
    if (is_weights)
        s->weights = v;
    else if (is_data)
        s->data = v;
    else if (is_seed) {
        if (cli_long(cmd, a, v, 0, 0x7fffffffffffffffL, &n))
            return 2;
        s->seed = (uint64_t)n;
    } else {
        if (cli_long(cmd, a, v, 1, 1024, &n))
            return 2;
        *threads = (int)n;
    }
    return 1;
}
