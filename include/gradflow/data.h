/* data.h — datasets and mini-batches.
 *
 * A dataset is held whole in memory as float32 NCHW images and int32 labels.
 * Loaders read MNIST / Fashion-MNIST IDX files (gzip or raw, detected by the
 * gzip magic), CIFAR-10 binary batches, or synthesise a seeded dataset. Every
 * loader validates the file completely before trusting it: a missing file, a
 * wrong magic number, a truncated file, header dimensions that disagree with
 * the file size or would overflow, labels out of range, mismatched image and
 * label counts and gzip errors each give one line in err naming the file.
 *
 * Pixel values are scaled to [0, 1] at load time (x / 255); gf_dataset_normalise
 * then applies per-channel (x - mean) / std computed on the training set. */
#ifndef GRADFLOW_DATA_H
#define GRADFLOW_DATA_H

#include <stdint.h>

#include "gradflow/error.h"
#include "gradflow/rng.h"

typedef struct gf_dataset {
    int n;           /* number of examples */
    int c, h, w;     /* per-example shape, NCHW */
    int num_classes; /* labels are in [0, num_classes) */
    float *images;   /* [n, c, h, w], owned */
    int32_t *labels; /* [n], owned */
} gf_dataset;

/* Reads an IDX image file (magic 0x00000803, u8 [n, rows, cols]) and an IDX
 * label file (magic 0x00000801, u8 [n]); each may be gzip-compressed. The
 * result has c = 1 and num_classes = 10. */
int gf_idx_load(const char *images_path, const char *labels_path, gf_dataset *out, gf_err *err);

/* Loads the training (train != 0: train-images-idx3-ubyte[.gz] and
 * train-labels-idx1-ubyte[.gz]) or test (t10k-…) split from a directory laid
 * out like Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). */
int gf_mnist_load_dir(const char *dir, int train, gf_dataset *out, gf_err *err);

/* CIFAR-10 binary version: data_batch_1.bin … data_batch_5.bin (train) or
 * test_batch.bin; each record is 1 label byte then 3072 pixel bytes (R, G, B
 * planes of 32×32). A file whose size is not a multiple of 3073 is refused. */
int gf_cifar10_load_dir(const char *dir, int train, gf_dataset *out, gf_err *err);

/* A seeded synthetic classification problem that a small CNN learns in a few
 * hundred steps with or without gf_loader's augmentation, but not trivially.
 * spec is "" or any comma-separated subset of
 * "N=1024,C=1,H=12,W=12,K=10,TEST=256" (the defaults): N training and TEST
 * test examples of C × H × W in K >= 2 balanced, shuffled classes.
 *
 * Class k is a sinusoidal grating: pixel = 0.5 + a cos(2π f_k u + φ) + noise,
 * clipped to [0, 1], where u is the column for even k and the row for odd k
 * (vertical or horizontal stripes), f_k is one of ceil(K / 2) frequencies
 * evenly spaced in [0.125, 0.4] cycles per pixel, the phase φ is uniform per
 * example and the noise is N(0, 0.3²) per pixel. Every channel shows the
 * same wave; a = min(0.5, 0.22 · sqrt(144 / (C·H·W))) keeps the difficulty
 * about the same at every size. A shift only moves the phase and a
 * horizontal flip maps each class to itself, so the class survives
 * pad-and-crop and flips, while no fixed pixel pattern (e.g. a class mean)
 * identifies it. Same spec and seed give the same bytes. */
int gf_synthetic_make(const char *spec, uint64_t seed, gf_dataset *train, gf_dataset *test,
                      gf_err *err);

/* Frees what a loader allocated and zeroes *d; NULL and zeroed are no-ops. */
void gf_dataset_free(gf_dataset *d);

/* Per-channel mean and (population) standard deviation over all examples,
 * accumulated in double. mean and std have d->c entries. */
void gf_dataset_channel_stats(const gf_dataset *d, float *mean, float *std);
/* x = (x - mean[c]) / std[c] in place. A channel whose std[c] is not
 * positive (0 for a constant channel) is only centred: x = x - mean[c]. */
void gf_dataset_normalise(gf_dataset *d, const float *mean, const float *std);

/* Keeps the first n examples (n <= d->n); used for --subset. The order of a
 * loaded dataset is the file's order, so this is deterministic. */
void gf_dataset_truncate(gf_dataset *d, int n);
/* Moves the last n_val examples of d into val (allocated), shrinking d:
 * the held-out validation split, e.g. 45k/5k. 0 <= n_val < d->n. */
int gf_dataset_split(gf_dataset *d, int n_val, gf_dataset *val, gf_err *err);

/* Mini-batches over a dataset: a fresh permutation per epoch when shuffling,
 * and He et al. 2015's augmentation (pad 4 with zeros, random crop back to
 * h×w, horizontal flip with probability 1/2) when augment is set. Shuffle and
 * augment draw from separate generators, both seeded from seed, so switching
 * augmentation on or off leaves the order of examples alone.
 *
 * State between calls: perm is the current epoch's order, 0 <= pos < n is
 * the next index into it and epoch counts completed epochs. The call that
 * returns an epoch's last batch also ends the epoch: epoch++, pos = 0 and
 * (when shuffling) perm is reshuffled for the next one. So (perm, pos, epoch,
 * shuffle_rng, augment_rng) is the whole mutable state: copying those fields
 * into a loader freshly initialised over the same dataset with the same
 * batch, shuffle and augment continues the exact same sequence of batches,
 * bit for bit. Checkpoints save and restore exactly these fields. */
typedef struct gf_loader {
    const gf_dataset *data; /* not owned; must outlive the loader */
    int batch;
    int shuffle, augment;
    int32_t *perm; /* [data->n], owned: this epoch's order */
    int pos;       /* next index into perm, in [0, data->n) */
    int epoch;     /* completed epochs */
    gf_rng shuffle_rng, augment_rng;
} gf_loader;

/* Sets up l over d (not copied): pos = 0, epoch = 0 and perm the identity,
 * or its first shuffle when shuffle is set. -1 for an empty dataset or
 * batch < 1. */
int gf_loader_init(gf_loader *l, const gf_dataset *d, int batch, int shuffle, int augment,
                   uint64_t seed, gf_err *err);
/* Frees perm and zeroes *l; NULL and zeroed are no-ops. */
void gf_loader_free(gf_loader *l);
/* Fills x [b, c, h, w] and y [b] with the next b <= batch examples and returns
 * b. The last batch of an epoch is short when batch does not divide n (all
 * examples are seen once per epoch); returning it completes the epoch (see
 * above), and the next call starts the new one with a full batch (all n
 * when batch > n). Never returns 0. */
int gf_loader_next(gf_loader *l, float *x, int32_t *y);
/* Number of batches per epoch: ceil(n / batch). */
int gf_loader_batches_per_epoch(const gf_loader *l);

#endif
