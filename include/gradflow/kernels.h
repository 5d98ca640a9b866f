/* kernels.h — the raw operations, forward and backward side by side.
 *
 * Each op is a pair of free functions on raw float32 NCHW buffers with shape
 * integers, llm.c style. Conventions, unless a function says otherwise:
 *   - forward writes its output (=);
 *   - backward writes the input gradient dx (=) and ADDS parameter gradients
 *     (+=) when their pointers are non-NULL; passing NULL skips them, which is
 *     how a backward is re-run on the same forward without touching the
 *     parameter gradients (the path-length analysis does that);
 *   - backward reads only the forward's inputs/outputs and small caches, never
 *     modifies them, so it may be called any number of times per forward.
 * B is the batch size. Matrix products go through cblas_sgemm.
 *
 * Kernels split their work over a team of threads with static partitions
 * chosen so that results do not depend on the thread count (no reduction is
 * split by thread): same inputs, same bits, for 1 thread or 64. */
#ifndef GRADFLOW_KERNELS_H
#define GRADFLOW_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Threads the kernels use. The default is GF_NUM_THREADS or OMP_NUM_THREADS
 * from the environment, else the number of online cores. The team starts
 * with the first kernel call or net: set the count before that. Afterwards
 * it can only be lowered (buffers are sized for the starting count).
 * Returns the count in effect. */
int gf_set_num_threads(int n);
int gf_num_threads(void);

/* Output size of a convolution along one axis. */
static inline int gf_conv_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}
/* Floats of scratch conv2d_forward/backward need for this shape: per-thread
 * work buffers (im2col matrices or Winograd tiles) and per-group weight
 * gradient partial sums. Depends on the thread count, fixed per process. */
size_t gf_conv2d_scratch(int Ci, int H, int W, int Co, int K, int stride, int pad);

/* Convolution without bias: Winograd F(2×2, 3×3) for 3×3 stride-1 pad-1,
 * im2col + sgemm otherwise; multithreaded with static partitions.
 * x [B, Ci, H, W], w [Co, Ci, K, K], y [B, Co, Ho, Wo]. */
void gf_conv2d_forward(float *y, const float *x, const float *w, int B, int Ci, int H, int W,
                       int Co, int K, int stride, int pad, float *scratch);
/* dx [B, Ci, H, W] (= ; may be NULL to skip), dw [Co, Ci, K, K] (+= ; may be NULL). */
void gf_conv2d_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int B, int Ci, int H, int W, int Co, int K, int stride, int pad,
                        float *scratch);

/* Batch normalisation over (B, HW) per channel, x and y [B, C, HW].
 * Training mode (Ioffe & Szegedy 2015, PyTorch semantics): normalise with the
 * batch mean and biased variance; save mean [C] and inv_std [C] = 1/sqrt(var+eps);
 * running = (1 - momentum) * running + momentum * batch, with the UNBIASED
 * variance var * N/(N-1) for running_var (N = B*HW). running_* may be NULL. */
void gf_bn_forward_train(float *y, float *mean, float *inv_std, float *running_mean,
                         float *running_var, const float *x, const float *gamma,
                         const float *beta, int B, int C, int HW, float eps, float momentum);
/* Eval mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta. */
void gf_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, int B, int C,
                        int HW, float eps);
/* The same, also writing r = max(y, 0) in the same pass when r is non-NULL:
 * a BN followed by a ReLU reads its input once. r [B, C, HW]. */
void gf_bn_relu_forward_train(float *y, float *r, float *mean, float *inv_std,
                              float *running_mean, float *running_var, const float *x,
                              const float *gamma, const float *beta, int B, int C, int HW,
                              float eps, float momentum);
void gf_bn_relu_forward_eval(float *y, float *r, const float *x, const float *gamma,
                             const float *beta, const float *running_mean,
                             const float *running_var, int B, int C, int HW, float eps);
/* Training-mode backward through the batch statistics:
 * dx = gamma * inv_std / N * (N dy - Σdy - x̂ Σ(dy x̂)); dgamma += Σ dy x̂; dbeta += Σ dy. */
void gf_bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                    const float *mean, const float *inv_std, const float *gamma, int B, int C,
                    int HW);

/* y = max(x, 0); dx = dy where y > 0 else 0 (y is the forward output). n floats. */
void gf_relu_forward(float *y, const float *x, size_t n);
void gf_relu_backward(float *dx, const float *dy, const float *y, size_t n);

/* He et al. 2015 option-A shortcut: y = x[:, :, ::stride, ::stride] with
 * (Co - Ci)/2 zero channels before and after. x [B, Ci, H, W], y [B, Co, Ho, Wo],
 * Ho = ceil(H / stride). Backward scatters dy's middle channels back (= 0 elsewhere). */
void gf_shortcut_a_forward(float *y, const float *x, int B, int Ci, int H, int W, int Co,
                           int stride);
void gf_shortcut_a_backward(float *dx, const float *dy, int B, int Ci, int H, int W, int Co,
                            int stride);

/* Global average pool: x [B, C, HW] -> y [B, C]. */
void gf_avgpool_forward(float *y, const float *x, int B, int C, int HW);
void gf_avgpool_backward(float *dx, const float *dy, int B, int C, int HW);

/* Fully connected: y [B, O] = x [B, In] wᵀ + b; w [O, In]; b [O] or NULL. */
void gf_linear_forward(float *y, const float *x, const float *w, const float *b, int B, int In,
                       int O);
/* dx [B, In] (= ; may be NULL), dw (+=), db (+=) as above. */
void gf_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int In, int O);

/* Mean softmax cross-entropy over the batch. logits [B, K], labels [B].
 * Returns the loss (accumulated in double); if dlogits is non-NULL writes
 * d(loss)/d(logits) = (softmax - onehot) / B. correct (if non-NULL) receives
 * the number of rows whose arg-max equals the label. */
double gf_softmax_xent(float *dlogits, int *correct, const float *logits, const int32_t *labels,
                       int B, int K);

/* Elementwise helpers used by blocks and analysis. */
void gf_add(float *y, const float *a, const float *b, size_t n);        /* y = a + b */
void gf_axpy(float *y, float alpha, const float *x, size_t n);          /* y += alpha x */
double gf_dot(const float *a, const float *b, size_t n);                /* in double */
double gf_norm2(const float *a, size_t n);                              /* L2, in double */

#endif
