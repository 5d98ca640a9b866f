/* suites.h — every test file registers one CUnit suite through a function
 * declared here; runner.c calls them all. Test data comes from
 * ../shared/reference (GF_REFERENCE_DIR, read-only) and temporary
 * directories created by the tests themselves. */
#ifndef GRADFLOW_TEST_SUITES_H
#define GRADFLOW_TEST_SUITES_H

#include <CUnit/CUnit.h>
#include <stddef.h>

int suite_kernels_register(void);
int suite_models_register(void);
int suite_reference_register(void);
int suite_data_register(void);
int suite_train_register(void);
int suite_record_register(void);
int suite_paths_register(void);
int suite_sweep_register(void);
int suite_analysis_register(void);
int suite_plots_register(void);
/* 1 when gnuplot is absent: the plots tests did not run (meson: skipped). */
int suite_plots_skipped(void);

/* Path to a fresh empty temporary directory (static storage, made once per
 * process and removed by the runner at exit). */
const char *test_tmpdir(void);

/* Helpers the suites share (testutil.c). test_fvec: n zeroed floats (the
 * test fails if allocation does); test_fcopy: a copy; test_bits_equal: the
 * same bits, for determinism checks. */
float *test_fvec(size_t n);
float *test_fcopy(const float *a, size_t n);
int test_bits_equal(const float *a, const float *b, size_t n);

#endif
