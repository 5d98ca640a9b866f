/* verify.h — check the whole network against a PyTorch reference case.
 *
 * A reference file (../shared/reference/FORMAT.md) holds one network's
 * parameters, one batch, and what PyTorch computed from them. gf_verify
 * rebuilds the network the file describes, loads its parameters and compares
 * every quantity the file holds: eval and training logits and loss, every
 * module output and output gradient, every parameter gradient, BN running
 * statistics, every block's identity/branch split, two SGD steps and, for
 * residual families, the gradient split by path length. Each comparison is
 * reported through a callback as ‖ours − ref‖ / ‖ref‖. */
#ifndef GRADFLOW_VERIFY_H
#define GRADFLOW_VERIFY_H

#include "gradflow/error.h"

typedef void (*gf_verify_report)(void *user, const char *quantity, double rel_err);

typedef struct gf_verify_result {
    char model[64];  /* "resnet-8" (+ "-B") */
    int checked;     /* quantities compared */
    int failed;      /* of those, how many exceeded tol */
    double worst;    /* largest relative error */
    char worst_name[128];
} gf_verify_result;

/* Returns 0 when the file was a valid reference and every comparison ran
 * (result says how many failed), -1 with err set when the file is not a
 * valid reference (missing attribute or dataset, wrong shape, unknown
 * module). cb may be NULL. */
int gf_verify(const char *path, double tol, gf_verify_report cb, void *user,
              gf_verify_result *result, gf_err *err);

#endif
