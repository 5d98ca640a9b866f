/* simd.h — the portable vectors the reductions use (private to src/).
 *
 * GCC/Clang vector extensions: 8 float lanes that compile to two SSE2 ops on
 * the x86-64 baseline and to one AVX op in the AVX2 clone that
 * GF_SIMD_CLONES asks the compiler for (picked at load time by the CPU).
 * Either way the lanes and the order of every addition are the same, and
 * ISO C mode keeps the compiler from contracting a*b+c into an FMA, so a
 * reduction gives the same bits on any x86-64 machine.
 *
 * Why not rely on auto-vectorisation: the per-lane loops in stats.c and
 * kernels.c's gf_dot compiled to scalar code (a max, a compare-and-count
 * and mixed float/int lanes defeat GCC 12), and the activation statistics
 * were a fifth of a recorded resnet-56 step. */
#ifndef GRADFLOW_SIMD_H
#define GRADFLOW_SIMD_H

#include <stdint.h>
#include <string.h>

typedef float gf_v8f __attribute__((vector_size(32)));
typedef int32_t gf_v8i __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
/* One AVX2 clone beside the baseline; the dynamic loader picks by CPU. */
#define GF_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define GF_SIMD_CLONES
#endif

/* Macros rather than functions: a function passing 32-byte vectors by value
 * would have a different ABI in the baseline and the AVX2 clone. */

/* An unaligned load of 8 floats into the gf_v8f lvalue v. */
#define GF_V8F_LOAD(v, p) memcpy(&(v), (p), sizeof(gf_v8f))

/* Lane-wise |v|: clears the sign bit. */
#define GF_V8F_ABS(v) ((gf_v8f)((gf_v8i)(v) & (gf_v8i){0x7fffffff, 0x7fffffff, 0x7fffffff, \
    0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}))

/* Lane-wise a > b ? a : b, written as a select (b when either is NaN). */
#define GF_V8F_MAX(a, b) ((gf_v8f)(((gf_v8i)(a) & ((a) > (b))) | ((gf_v8i)(b) & ~((a) > (b)))))

#endif
