/* analysis.h — what the analysis commands share: a network (fresh with a
 * seed, or weights from a file) and one batch from a data set. */
#ifndef GRADFLOW_ANALYSIS_H
#define GRADFLOW_ANALYSIS_H

#include "gradflow/net.h"
#include "gradflow/train.h"

typedef struct analysis_setup {
    const char *model;   /* --model NAME, or NULL with weights */
    const char *weights; /* --weights FILE: gradflow weights or checkpoint */
    const char *data;    /* --data SPEC */
    int batch, width;
    uint64_t seed;
} analysis_setup;

/* The options every analysis command shares: --weights FILE, --data SPEC,
 * --seed N, --threads T (into *threads). Returns 1 if argv[*i] was one of
 * them (consuming its value), 0 if not, 2 after a usage message. */
int analysis_option(const char *cmd, int argc, char **argv, int *i, analysis_setup *s,
                    int *threads);

/* Loads the data (normalised as for training), builds the net for its
 * shape, initialises it from seed or loads the weights, and copies the first
 * `batch` training examples into x [batch, c, h, w] and y [batch]. */
int analysis_open(const analysis_setup *s, gf_data_bundle *data, gf_net **net, float **x,
                  int32_t **y, gf_err *err);

#endif
