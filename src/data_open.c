/* data_open.c — data sets by the names the command line uses (train.h). */
#include <stdio.h>
#include <string.h>

#include "gradflow/train.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static int load_named(const char *spec, uint64_t seed, gf_data_bundle *b, gf_err *err)
{
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    snprintf(b->name, sizeof b->name, "%.*s", (int)len, spec);
    if (strcmp(b->name, "fashion-mnist") == 0 || strcmp(b->name, "mnist") == 0) {
        const char *dir = arg && *arg ? arg : NULL;
        if (!dir && strcmp(b->name, "mnist") == 0)
            return gf_err_set(err, "data 'mnist' needs a directory: mnist:DIR");
        if (!dir)
            dir = FASHION_MNIST_DIR;
        return gf_mnist_load_dir(dir, 1, &b->train, err) ||
                       gf_mnist_load_dir(dir, 0, &b->test, err)
                   ? -1
                   : 0;
    }
    if (strcmp(b->name, "cifar10") == 0) {
        if (!arg || !*arg)
            return gf_err_set(err, "data 'cifar10' needs a directory: cifar10:DIR");
        return gf_cifar10_load_dir(arg, 1, &b->train, err) ||
                       gf_cifar10_load_dir(arg, 0, &b->test, err)
                   ? -1
                   : 0;
    }
    if (strcmp(b->name, "synthetic") == 0)
        return gf_synthetic_make(arg ? arg : "", seed, &b->train, &b->test, err);
    return gf_err_set(err, "unknown data '%s'; valid: fashion-mnist[:DIR], mnist:DIR, "
                           "cifar10:DIR, synthetic[:N=..,C=..,H=..,W=..,K=..,TEST=..]",
                      spec);
}

int gf_data_open(const char *spec, int subset, int n_val, uint64_t seed, gf_data_bundle *b,
                 gf_err *err)
{
    memset(b, 0, sizeof *b);
    if (load_named(spec, seed, b, err))
        goto fail;
    if (b->train.c > 16) {
        gf_err_set(err, "data '%s' has %d channels; at most 16 are supported", spec, b->train.c);
        goto fail;
    }
    if (subset < 0 || n_val < 0) {
        gf_err_set(err, "subset and validation sizes must be >= 0");
        goto fail;
    }
    if (subset > 0 && subset < b->train.n)
        gf_dataset_truncate(&b->train, subset);
    if (n_val > 0) {
        if (n_val >= b->train.n) {
            gf_err_set(err, "validation split of %d leaves no training examples (have %d)",
                       n_val, b->train.n);
            goto fail;
        }
        if (gf_dataset_split(&b->train, n_val, &b->val, err))
            goto fail;
    }
    /* Statistics from the training examples only, applied to all splits. */
    gf_dataset_channel_stats(&b->train, b->mean, b->std);
    for (int c = 0; c < b->train.c; c++)
        if (!(b->std[c] > 0))
            b->std[c] = 1.0f; /* a constant channel: centre it, don't divide by zero */
    gf_dataset_normalise(&b->train, b->mean, b->std);
    gf_dataset_normalise(&b->val, b->mean, b->std);
    gf_dataset_normalise(&b->test, b->mean, b->std);
    return 0;
fail:
    gf_data_bundle_free(b);
    return -1;
}

void gf_data_bundle_free(gf_data_bundle *b)
{
    gf_dataset_free(&b->train);
    gf_dataset_free(&b->val);
    gf_dataset_free(&b->test);
}
