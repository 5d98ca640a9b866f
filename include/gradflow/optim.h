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

struct gf_sgd;

/* The optimiser-step hook, called by gf_sgd_step after the update. For every
 * trainable tensor t of net (gf_net_tensor, is_buffer == 0): t->data holds
 * the updated weights, t->grad the step's gradient dL/dW (before weight
 * decay), and gf_sgd_momentum(s, net, t) the momentum buffer b; the update
 * applied was -s->lr · b. s->loss is the step's loss as the caller set it
 * (gf_train does; NaN otherwise). Returning non-zero stops: gf_sgd_step
 * returns GF_STOPPED (the update has been applied) and gf_train ends the
 * run after this step as on Ctrl-C. */
typedef int (*gf_sgd_hook)(void *user, const struct gf_sgd *s, const gf_net *net);

typedef struct gf_sgd {
    float lr, momentum, weight_decay;
    size_t n;
    float *buf;  /* momentum buffers [n], owned */
    long steps;  /* steps taken */
    double loss; /* the loss of the step about to be taken, for the hook */
    gf_sgd_hook hook; /* NULL: none (gf_sgd_init clears it) */
    void *hook_user;
} gf_sgd;

int gf_sgd_init(gf_sgd *s, const gf_net *net, float lr, float momentum, float weight_decay,
                gf_err *err);
void gf_sgd_free(gf_sgd *s);
/* One update of every parameter; GF_OK, or GF_STOPPED if the hook asked. */
int gf_sgd_step(gf_sgd *s, gf_net *net);
/* Tensor t's slice of the momentum buffer [t->size] (t a trainable tensor of
 * the net s was initialised for). */
const float *gf_sgd_momentum(const gf_sgd *s, const gf_net *net, const gf_tensor_info *t);

#endif
