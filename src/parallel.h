/* parallel.h — the kernels' thread team (private to src/).
 *
 * gf_par_for splits [0, n) into one contiguous range per team thread (a
 * static partition, never dynamic scheduling) and runs body on each, the
 * calling thread taking range 0. Kernels only split work whose result does
 * not depend on the split: per-output-element loops, reductions owned whole
 * by one thread (a BN channel), and weight gradients summed over a fixed
 * number of image groups (GF_CONV_GROUPS) in a fixed order. So results are
 * bit-identical for any thread count, and between runs.
 *
 * Why not OpenMP: libgomp's idle threads spin for a long time by default,
 * and on a busy 2-core machine a spinning thread stalls its partner (the
 * whole step ran 2× slower than with OMP_WAIT_POLICY=passive in our
 * measurements). This team spins briefly, then sleeps. */
#ifndef GRADFLOW_PARALLEL_H
#define GRADFLOW_PARALLEL_H

#include <stddef.h>

/* Threads started for the team (gf_set_num_threads in kernels.h, else
 * GF_NUM_THREADS / OMP_NUM_THREADS, else the online cores; at most
 * GF_PAR_MAX_THREADS). Fixed once the team starts, so scratch sized with it
 * stays large enough; gf_par_for may use fewer (gf_num_threads). */
#define GF_PAR_MAX_THREADS 64

/* Below PAR_MIN floats of work a kernel stays on the calling thread: waking
 * the team would cost more than it saves. */
#define PAR_MIN 32768
int gf_par_threads(void);

/* body(ctx, begin, end, thread) for thread t's range [n·t/T, n·(t+1)/T). With
 * parallel == 0 (too little work to be worth waking the team), or when the
 * team is busy (a nested or concurrent call), runs body(ctx, 0, n, 0) on the
 * caller — which gives the same results, see above. */
typedef void (*gf_par_body)(void *ctx, size_t begin, size_t end, int thread);
void gf_par_for(size_t n, int parallel, gf_par_body body, void *ctx);

/* A reduction in fixed chunks: [0, n) is cut into chunks of `chunk` items
 * (grown if there would be more than max_chunks), never depending on the
 * thread count; body(ctx, lo, len, part) reduces items [lo, lo + len) into
 * the part_size bytes at parts + c·part_size for chunk c, on the team when
 * parallel. Returns the number of chunks: the caller folds parts[0..c) in
 * order, so the result is the same for any thread count. */
typedef void (*gf_chunk_body)(const void *ctx, size_t lo, size_t len, void *part);
size_t gf_par_chunks(size_t n, size_t chunk, size_t max_chunks, int parallel,
                     gf_chunk_body body, const void *ctx, void *parts, size_t part_size);

/* Inside gf_par_for every thread calls cblas_sgemm on its own slice; a
 * threaded OpenBLAS would serialise those calls on its level-3 lock and
 * spin its own workers against ours. Between gf_blas_serial_begin and
 * gf_blas_serial_end (given begin's return value) OpenBLAS is
 * single-threaded; afterwards its thread count is what it was. */
int gf_blas_serial_begin(void);
void gf_blas_serial_end(int began);

#endif
