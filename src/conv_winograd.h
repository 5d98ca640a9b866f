/* conv_winograd.h — the Winograd convolution's plan and tile transforms
 * (private to src/conv_winograd*.c, conv_wino_*.c).
 *
 * A transform set F(m×m, 3×3) (Lavin & Gray 2016, Sec. 4) maps each α×α
 * input tile (α = m + 2) to α² points, each filter to α² points, and α²
 * points back to an m×m output tile. The driver (conv_winograd.c) owns the
 * chunks, threads and matrix products; a transform set only moves tiles
 * between NCHW planes and the tile buffers.
 *
 * Tile buffers are [α², C, T]: point k of channel c, tile t at
 * k·ks + c·T + t, with ks = C·T + KPAD (see kstride in conv_winograd.c). */
#ifndef GRADFLOW_CONV_WINOGRAD_H
#define GRADFLOW_CONV_WINOGRAD_H

#include <stddef.h>

typedef struct wino_transforms wino_transforms;

typedef struct wino_plan {
    const wino_transforms *tf;
    int B, Ci, Co, H, W;
    int m, alpha, points; /* output tile m×m, input tile α×α, α² points */
    int th, tw, tiles;    /* tile rows, tile columns, tiles per image */
    int per_chunk, chunks, groups; /* images per chunk, chunks, dw groups */
    size_t T;             /* tiles per chunk */
    size_t buf;           /* floats of one tile buffer */
    size_t plane;         /* floats of the zero row and α transform rows */
    size_t thread;        /* floats of per-thread scratch */
} wino_plan;

struct wino_transforms {
    int m;
    /* U[k·stride] = (G g Gᵀ)_k for one 3×3 filter g, k over the α² points. */
    void (*filter)(float *U, size_t stride, const float g[9]);
    /* g += Gᵀ u G for the points u[k·stride] (the adjoint of filter). */
    void (*filter_adjoint)(float g[9], const float *u, size_t stride);
    /* V = Bᵀ d B for every tile of plane x [H, W] into channel c, columns
     * t0 + tile. rows: α transform rows of m·tw + 2 floats whose first and
     * last columns are zero; zero: a row of W zeros. */
    void (*input)(float *V, const float *x, float *rows, const float *zero, const wino_plan *p,
                  size_t ks, int c, size_t t0);
    /* y [H, W] = Aᵀ M A for every tile of channel c, cropped. */
    void (*output)(float *y, const float *M, const wino_plan *p, size_t ks, int c, size_t t0);
    /* dM = A dY Aᵀ for every tile of gradient plane dy [H, W] (the adjoint of
     * output), zeros where output cropped. */
    void (*output_adjoint)(float *dM, const float *dy, const float *zero, const wino_plan *p,
                           size_t ks, int c, size_t t0);
};

extern const wino_transforms gf_wino_f2x2_3x3;

/* Image row y of plane x, or the zero row outside the image. */
static inline const float *gf_wino_row(const float *x, int y, const wino_plan *p,
                                       const float *zero)
{
    return y >= 0 && y < p->H ? x + (size_t)y * p->W : zero;
}

#endif
