/* conv.h — the convolution engines behind gf_conv2d_* (private to src/).
 *
 * Shapes as in kernels.h: x [B, Ci, H, W], w [Co, Ci, K, K], y [B, Co, Ho, Wo].
 * Every engine follows the kernels.h contract (forward writes y; backward
 * writes dx and adds to dw, either may be NULL; caches are only read) and
 * splits its work over gf_par_threads() threads with static partitions. Each
 * *_scratch function returns the floats of scratch its engine needs. */
#ifndef GRADFLOW_CONV_H
#define GRADFLOW_CONV_H

#include <stddef.h>

/* Weight gradients are summed per group of images, then the groups in
 * order: a fixed split, so dw does not depend on the thread count. */
#define GF_CONV_GROUPS 8

/* im2col + sgemm, any kernel size, stride and padding (conv_im2col.c). */
size_t gf_conv_im2col_scratch(int Ci, int H, int W, int Co, int K, int stride, int pad);
void gf_conv_im2col_forward(float *y, const float *x, const float *w, int B, int Ci, int H,
                            int W, int Co, int K, int stride, int pad, float *scratch);
void gf_conv_im2col_backward(float *dx, float *dw, const float *dy, const float *x,
                             const float *w, int B, int Ci, int H, int W, int Co, int K,
                             int stride, int pad, float *scratch);

/* Winograd F(2×2, 3×3) for 3×3, stride 1, pad 1 (conv_winograd.c). */
int gf_conv_winograd_applies(int Ci, int Co, int K, int stride, int pad);
size_t gf_conv_winograd_scratch(int Ci, int H, int W, int Co);
void gf_conv_winograd_forward(float *y, const float *x, const float *w, int B, int Ci, int H,
                              int W, int Co, float *scratch);
void gf_conv_winograd_backward(float *dx, float *dw, const float *dy, const float *x,
                               const float *w, int B, int Ci, int H, int W, int Co,
                               float *scratch);

#endif
