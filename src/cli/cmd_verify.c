/* cmd_verify.c — `gradflow verify FILE.h5…`: one line per quantity with its
 * relative error against PyTorch; non-zero exit if any exceeds the tolerance
 * or a file is not a valid reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gradflow/verify.h"

typedef struct {
    double tol;
    int quiet;
} verify_opts;

static void print_line(void *user, const char *quantity, double e)
{
    const verify_opts *o = user;
    int ok = e <= o->tol;
    if (!o->quiet || !ok)
        printf("  %-52s %.3e  %s\n", quantity, e, ok ? "ok" : "FAIL");
}

static const char help[] =
    "usage: gradflow verify [--tol T] [--quiet] FILE.h5...\n"
    "Rebuilds the network each PyTorch reference case describes, loads its parameters,\n"
    "and compares every quantity the file holds (logits, loss, every module output and\n"
    "gradient, parameter gradients, BN running statistics, block identity/branch\n"
    "splits, two SGD steps). Prints ||ours - ref|| / ||ref|| for each.\n"
    "  --tol T    relative-error bar (default 1e-4)\n"
    "  --quiet    print only failures and the summary line per file\n"
    "Exit status: 0 all pass, 1 a comparison failed or a file is invalid, 2 usage.\n";

int cmd_verify(int argc, char **argv)
{
    verify_opts o = {1e-4, 0};
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--help") == 0) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[first], "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(argv[first], "--tol") == 0 && first + 1 < argc) {
            char *end;
            o.tol = strtod(argv[++first], &end);
            if (*end || !(o.tol > 0))
                return cli_fail(2, "verify", "--tol needs a positive number, got '%s'",
                                argv[first]);
        } else {
            return cli_fail(2, "verify", "unknown option '%s' (see --help)", argv[first]);
        }
    }
    if (first >= argc)
        return cli_fail(2, "verify", "no reference file given (see --help)");
    int status = 0;
    for (int i = first; i < argc; i++) {
        gf_verify_result r;
        gf_err err;
        printf("%s\n", argv[i]);
        if (gf_verify(argv[i], o.tol, print_line, &o, &r, &err) != 0) {
            fflush(stdout);
            cli_fail(1, "verify", "%s", err.msg);
            status = 1;
            continue;
        }
        printf("%s: %s — %d quantities, %d above %.0e, worst %.2e (%s)\n", argv[i], r.model,
               r.checked, r.failed, o.tol, r.worst, r.worst_name);
        if (r.failed)
            status = 1;
    }
    return status;
}
