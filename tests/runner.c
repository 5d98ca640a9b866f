/* runner.c — the one CUnit runner. `gradflow-tests [SUITE…]` runs the named
 * suites (all when none is named) and exits with the number of failures, so
 * meson test and CI see any failure. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"

static char tmpdir[256];

static void remove_tmpdir(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/gradflow-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

static const struct {
    const char *name;
    int (*reg)(void);
} suites[] = {
    {"kernels", suite_kernels_register},
    {"netgrad", suite_netgrad_register},
    {"models", suite_models_register},
    {"reference", suite_reference_register},
    {"data", suite_data_register},
    {"loader", suite_loader_register},
    {"train", suite_train_register},
    {"record", suite_record_register},
    {"durability", suite_durability_register},
    {"paths", suite_paths_register},
    {"sweep", suite_sweep_register},
    {"analysis", suite_analysis_register},
    {"plots", suite_plots_register},
    {"plan", suite_plan_register},
};

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    int n_suites = (int)(sizeof suites / sizeof suites[0]);
    for (int i = 0; i < n_suites; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], suites[i].name) == 0;
        if (wanted && suites[i].reg() != 0) {
            fprintf(stderr, "cannot register suite %s\n", suites[i].name);
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "no tests ran\n");
        return 2;
    }
    if (failures == 0 && argc == 2 && strcmp(argv[1], "plots") == 0 && suite_plots_skipped())
        return 77; /* meson: skipped (no gnuplot) */
    return failures > 125 ? 125 : (int)failures;
}
