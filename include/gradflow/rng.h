/* rng.h — small, seedable, platform-independent random numbers.
 *
 * gradflow keeps one generator per purpose (init, shuffle, augment, data
 * synthesis) so that changing how often one is drawn never perturbs another,
 * and the same seed gives the same numbers on every machine. The generator is
 * xoshiro256** seeded through splitmix64 (Blackman & Vigna 2018); its whole
 * state is four words, so checkpoints can store it. */
#ifndef GRADFLOW_RNG_H
#define GRADFLOW_RNG_H

#include <stdint.h>

typedef struct gf_rng {
    uint64_t s[4];
} gf_rng;

/* Seeds from one 64-bit value; `stream` separates purposes that share a seed. */
void gf_rng_seed(gf_rng *r, uint64_t seed, uint64_t stream);
uint64_t gf_rng_next(gf_rng *r);
/* Uniform in [0, 1) with 24 bits (a float's mantissa). */
float gf_rng_uniform(gf_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t gf_rng_below(gf_rng *r, uint32_t n);
/* Standard normal by Box–Muller, in double precision then rounded. */
double gf_rng_normal(gf_rng *r);
/* Fisher–Yates shuffle of perm[0..n). */
void gf_rng_shuffle(gf_rng *r, int32_t *perm, int n);

#endif
