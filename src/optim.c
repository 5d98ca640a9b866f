/* optim.c — torch.optim.SGD (momentum, weight decay, dampening 0). */
#include "gradflow/optim.h"

#include <math.h>
#include <stdlib.h>

int gf_sgd_init(gf_sgd *s, const gf_net *net, float lr, float momentum, float weight_decay,
                gf_err *err)
{
    s->lr = lr, s->momentum = momentum, s->weight_decay = weight_decay;
    s->n = gf_net_num_params(net);
    s->steps = 0;
    s->loss = NAN;
    s->hook = NULL, s->hook_user = NULL;
    s->buf = calloc(s->n ? s->n : 1, sizeof(float));
    return s->buf ? 0 : gf_err_set(err, "out of memory for %zu momentum buffers", s->n);
}

void gf_sgd_free(gf_sgd *s)
{
    free(s->buf);
    s->buf = NULL;
}

int gf_sgd_step(gf_sgd *s, gf_net *net)
{
    float *p = gf_net_params(net);
    const float *g = gf_net_grads(net);
    float lr = s->lr, mu = s->momentum, wd = s->weight_decay;
    int first = s->steps == 0;
    for (size_t i = 0; i < s->n; i++) {
        float d = g[i] + wd * p[i];
        float b = (first || mu == 0.0f) ? d : mu * s->buf[i] + d;
        s->buf[i] = b;
        p[i] -= lr * b;
    }
    s->steps++;
    return s->hook && s->hook(s->hook_user, s, net) ? GF_STOPPED : GF_OK;
}

const float *gf_sgd_momentum(const gf_sgd *s, const gf_net *net, const gf_tensor_info *t)
{
    /* t->grad and the momentum buffer share the flat parameter layout */
    return s->buf + (t->grad - gf_net_grads((gf_net *)net));
}
