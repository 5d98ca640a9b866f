/* error.h — errors are values.
 *
 * Library functions that can fail return 0 on success and -1 on failure, and
 * fill a caller-owned gf_err with one line saying what failed and where
 * (file, dataset, offset, expected vs found). Only the command-line front end
 * prints and exits; the library never does. Passing err == NULL is allowed
 * and simply drops the message. */
#ifndef GRADFLOW_ERROR_H
#define GRADFLOW_ERROR_H

typedef struct gf_err {
    char msg[512];
} gf_err;

/* Formats the message into err (if non-NULL) and returns -1, so a failing
 * path reads `return gf_err_set(err, "%s: truncated", path);`. */
int gf_err_set(gf_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
