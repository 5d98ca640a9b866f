/* cli.h — the command-line front end: `gradflow <command> [options]`.
 * Each command is a function taking its own argv; exit status 0 success,
 * 1 runtime error, 2 usage error (DESIGN.md). Only this layer prints. */
#ifndef GRADFLOW_CLI_H
#define GRADFLOW_CLI_H

int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Prints "gradflow <cmd>: <msg>" to stderr; returns status for `return die(...)`. */
int cli_fail(int status, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
