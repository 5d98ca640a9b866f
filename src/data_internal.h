/* data_internal.h — what the data_*.c files share and nothing else sees:
 * data_files.c (IDX, CIFAR-10), data_synthetic.c and data_loader.c (dataset
 * operations, gf_loader). Nothing outside src/ includes this. */
#ifndef GRADFLOW_DATA_INTERNAL_H
#define GRADFLOW_DATA_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "gradflow/data.h"

/* Largest number of pixel bytes any loader accepts (2^31 - 1): every element
 * index of a dataset then fits in an int, and no header can ask for more than
 * 8 GiB of floats. */
#define GF_MAX_PIXELS ((uint64_t)INT_MAX)

/* gf_rng_seed streams: one generator per purpose, so drawing more from one
 * never perturbs another (rng.h). Arbitrary tags, listed together so they
 * stay distinct. */
enum {
    GF_STREAM_SHUFFLE = 0x73687566,   /* "shuf": gf_loader's permutations */
    GF_STREAM_AUGMENT = 0x61756720,   /* "aug ": gf_loader's crops and flips */
    GF_STREAM_SYN_TRAIN = 0x73796e31, /* "syn1": synthetic training examples */
    GF_STREAM_SYN_TEST = 0x73796e32,  /* "syn2": synthetic test examples */
};

/* Allocates d for n examples of c × h × w with k classes (contents
 * uninitialised); what names the source in errors. On failure d is zeroed. */
int gf_dataset_alloc(gf_dataset *d, int n, int c, int h, int w, int k, const char *what,
                     gf_err *err);

#endif
