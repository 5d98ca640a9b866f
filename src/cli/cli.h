/* cli.h — the command-line front end: `gradflow <command> [options]`.
 * Each command is a function taking its own argv; exit status 0 success,
 * 1 runtime error, 2 usage error (DESIGN.md). Only this layer prints. */
#ifndef GRADFLOW_CLI_H
#define GRADFLOW_CLI_H

int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_paths(int argc, char **argv);   /* analysis/paths.c */
int cmd_report(int argc, char **argv);  /* analysis/report.c */
int cmd_depth(int argc, char **argv);   /* analysis/depth.c */
int cmd_compare(int argc, char **argv); /* analysis/compare.c */
int cmd_shatter(int argc, char **argv); /* analysis/shatter.c */
int cmd_sweep(int argc, char **argv);
int cmd_demo(int argc, char **argv);   /* analysis/demo.c */
int cmd_plot(int argc, char **argv);

/* Option values: parse the whole string or fail with a usage message naming
 * the flag (status 2). Return 0 on success. */
int cli_long(const char *cmd, const char *flag, const char *val, long min, long max, long *out);
int cli_double(const char *cmd, const char *flag, const char *val, double min, double max,
               double *out);
/* For `--flag VALUE`: the value after argv[*i], advancing *i; NULL (and a
 * usage message) when it is missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Prints "gradflow <cmd>: <msg>" to stderr; returns status for `return die(...)`. */
int cli_fail(int status, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
