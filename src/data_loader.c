/* data_loader.c — operations on a loaded dataset (normalisation, truncate,
 * split) and the mini-batch loader with He et al. 2015's augmentation. */
#include "gradflow/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define GF_PAD 4 /* He et al. 2015, §4.2: "4 pixels are padded on each side" */

/* ---------------------------------------------------- dataset operations */

/* Allocates d for n examples of c × h × w; what names the source in errors. */
int gf_dataset_alloc(gf_dataset *d, int n, int c, int h, int w, int k, const char *what,
                     gf_err *err)
{
    size_t count = (size_t)n * c * h * w;
    memset(d, 0, sizeof *d);
    if (count > SIZE_MAX / sizeof(float))
        return gf_err_set(err, "%s: %d examples do not fit in memory", what, n);
    d->images = malloc(count ? count * sizeof(float) : 1);
    d->labels = malloc(n ? (size_t)n * sizeof(int32_t) : 1);
    if (!d->images || !d->labels) {
        gf_dataset_free(d);
        return gf_err_set(err, "%s: out of memory for %d examples", what, n);
    }
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->num_classes = k;
    return 0;
}

void gf_dataset_free(gf_dataset *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Two passes in double (mean, then squared deviations): one pass of sums of
 * squares loses digits to cancellation when the mean is large. */
void gf_dataset_channel_stats(const gf_dataset *d, float *mean, float *std)
{
    size_t plane = (size_t)d->h * d->w, count = (size_t)d->n * plane;
    for (int c = 0; c < d->c; c++) {
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < d->n; i++) {
            const float *x = d->images + ((size_t)i * d->c + c) * plane;
            for (size_t p = 0; p < plane; p++)
                sum += x[p];
        }
        double m = count ? sum / (double)count : 0.0;
        for (int i = 0; i < d->n; i++) {
            const float *x = d->images + ((size_t)i * d->c + c) * plane;
            for (size_t p = 0; p < plane; p++)
                sq += (x[p] - m) * (x[p] - m);
        }
        mean[c] = (float)m;
        std[c] = (float)(count ? sqrt(sq / (double)count) : 0.0);
    }
}

void gf_dataset_normalise(gf_dataset *d, const float *mean, const float *std)
{
    size_t plane = (size_t)d->h * d->w;
    for (int i = 0; i < d->n; i++)
        for (int c = 0; c < d->c; c++) {
            /* A constant channel has std 0: centre it rather than make it inf/NaN. */
            float s = std[c] > 0.0f ? std[c] : 1.0f;
            float *x = d->images + ((size_t)i * d->c + c) * plane;
            for (size_t p = 0; p < plane; p++)
                x[p] = (x[p] - mean[c]) / s;
        }
}

void gf_dataset_truncate(gf_dataset *d, int n)
{
    if (!d || n < 0 || n >= d->n)
        return;
    d->n = n;
    if (n == 0)
        return;
    /* Give the memory back (--subset 1000 of 60000); on failure keep the block. */
    float *im = realloc(d->images, (size_t)n * d->c * d->h * d->w * sizeof(float));
    if (im)
        d->images = im;
    int32_t *lb = realloc(d->labels, (size_t)n * sizeof(int32_t));
    if (lb)
        d->labels = lb;
}

int gf_dataset_split(gf_dataset *d, int n_val, gf_dataset *val, gf_err *err)
{
    memset(val, 0, sizeof *val);
    if (n_val < 0 || n_val >= d->n)
        return gf_err_set(err, "split: validation size %d must be in [0, %d)", n_val, d->n);
    if (n_val == 0) {
        val->c = d->c;
        val->h = d->h;
        val->w = d->w;
        val->num_classes = d->num_classes;
        return 0;
    }
    if (gf_dataset_alloc(val, n_val, d->c, d->h, d->w, d->num_classes, "split", err))
        return -1;
    int keep = d->n - n_val;
    size_t dim = (size_t)d->c * d->h * d->w;
    memcpy(val->images, d->images + (size_t)keep * dim, (size_t)n_val * dim * sizeof(float));
    memcpy(val->labels, d->labels + keep, (size_t)n_val * sizeof(int32_t));
    gf_dataset_truncate(d, keep);
    return 0;
}

/* ----------------------------------------------------------------- loader */

int gf_loader_init(gf_loader *l, const gf_dataset *d, int batch, int shuffle, int augment,
                   uint64_t seed, gf_err *err)
{
    memset(l, 0, sizeof *l);
    if (!d || d->n <= 0 || !d->images || !d->labels)
        return gf_err_set(err, "loader: dataset is empty");
    if (batch <= 0)
        return gf_err_set(err, "loader: batch size %d must be positive", batch);
    l->perm = malloc((size_t)d->n * sizeof(int32_t));
    if (!l->perm)
        return gf_err_set(err, "loader: out of memory for %d indices", d->n);
    for (int i = 0; i < d->n; i++)
        l->perm[i] = i;
    l->data = d;
    l->batch = batch;
    l->shuffle = shuffle;
    l->augment = augment;
    gf_rng_seed(&l->shuffle_rng, seed, GF_STREAM_SHUFFLE);
    gf_rng_seed(&l->augment_rng, seed, GF_STREAM_AUGMENT);
    if (shuffle)
        gf_rng_shuffle(&l->shuffle_rng, l->perm, d->n);
    return 0;
}

void gf_loader_free(gf_loader *l)
{
    if (!l)
        return;
    free(l->perm);
    memset(l, 0, sizeof *l);
}

/* He et al. 2015, §4.2: pad 4 zero pixels on each side, crop h × w at a
 * random offset (dy, dx) in [0, 8]^2, and flip horizontally with p = 1/2.
 * The padded image is never built: out[y][x] = in[y+dy-4][x'+dx-4] with
 * x' = w-1-x when flipped, zero outside in. in and out are [c, h, w]. */
static void augment_copy(gf_rng *r, const float *in, float *out, int c, int h, int w)
{
    int dy = (int)gf_rng_below(r, 2 * GF_PAD + 1);
    int dx = (int)gf_rng_below(r, 2 * GF_PAD + 1);
    int flip = (int)gf_rng_below(r, 2);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            int iy = y + dy - GF_PAD;
            float *o = out + ((size_t)ch * h + y) * w;
            if (iy < 0 || iy >= h) {
                memset(o, 0, (size_t)w * sizeof(float));
                continue;
            }
            const float *row = in + ((size_t)ch * h + iy) * w;
            for (int x = 0; x < w; x++) {
                int ix = (flip ? w - 1 - x : x) + dx - GF_PAD;
                o[x] = (ix >= 0 && ix < w) ? row[ix] : 0.0f;
            }
        }
}

int gf_loader_next(gf_loader *l, float *x, int32_t *y)
{
    const gf_dataset *d = l->data;
    size_t dim = (size_t)d->c * d->h * d->w;
    int b = d->n - l->pos < l->batch ? d->n - l->pos : l->batch;
    for (int i = 0; i < b; i++) {
        int32_t k = l->perm[l->pos + i];
        const float *src = d->images + (size_t)k * dim;
        if (l->augment)
            augment_copy(&l->augment_rng, src, x + (size_t)i * dim, d->c, d->h, d->w);
        else
            memcpy(x + (size_t)i * dim, src, dim * sizeof(float));
        y[i] = d->labels[k];
    }
    l->pos += b;
    /* End of epoch: count it now (epoch = completed epochs) and reshuffle, so
     * the state between calls is always "pos into this epoch's perm". */
    if (l->pos == d->n) {
        l->pos = 0;
        l->epoch++;
        if (l->shuffle)
            gf_rng_shuffle(&l->shuffle_rng, l->perm, d->n);
    }
    return b;
}

int gf_loader_batches_per_epoch(const gf_loader *l)
{
    return (l->data->n + l->batch - 1) / l->batch;
}
