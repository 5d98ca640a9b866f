/* testutil.c — helpers the suites share (declared in suites.h). */
#include <stdlib.h>
#include <string.h>

#include "suites.h"

float *test_fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

float *test_fcopy(const float *a, size_t n)
{
    float *p = test_fvec(n);
    memcpy(p, a, n * sizeof *p);
    return p;
}

int test_bits_equal(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}
