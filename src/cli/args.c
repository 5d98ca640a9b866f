/* args.c — strict option-value parsing for every command. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int cli_long(const char *cmd, const char *flag, const char *val, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (end == val || *end || errno || v < min || v > max)
        return cli_fail(2, cmd, "%s needs an integer in %ld..%ld, got '%s'", flag, min, max,
                        val);
    *out = v;
    return 0;
}

int cli_double(const char *cmd, const char *flag, const char *val, double min, double max,
               double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno || !(v >= min && v <= max))
        return cli_fail(2, cmd, "%s needs a number in %g..%g, got '%s'", flag, min, max, val);
    *out = v;
    return 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_fail(2, cmd, "%s needs a value (see --help)", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
