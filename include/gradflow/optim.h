/* optim.h — SGD with momentum and weight decay, torch.optim.SGD semantics:
 *   d = g + weight_decay * p
 *   buf = d on the first step, else buf = momentum * buf + (1 - dampening) d
 *   p -= lr * buf            (dampening 0, not Nesterov)
 * applied to every trainable parameter (BN and biases included, as PyTorch
 * does for a single parameter group). One loop over the flat buffers. */
#ifndef GRADFLOW_OPTIM_H
#define GRADFLOW_OPTIM_H

#include "gradflow/error.h"
#include "gradflow/net.h"

typedef struct gf_sgd {
    float lr, momentum, weight_decay;
    size_t n;
    float *buf;  /* momentum buffers [n], owned */
    long steps;  /* steps taken */
} gf_sgd;

int gf_sgd_init(gf_sgd *s, const gf_net *net, float lr, float momentum, float weight_decay,
                gf_err *err);
void gf_sgd_free(gf_sgd *s);
void gf_sgd_step(gf_sgd *s, gf_net *net);

#endif
