/* gnuplot.c — runs gnuplot on a filled script: fork/execvp (no shell),
 * stdin and stdout from /dev/null, stderr captured; execvp's failure comes
 * back through a close-on-exec pipe, so "not on PATH" is told apart from
 * "ran and failed". */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot_internal.h"

/* The line of gnuplot's stderr worth reporting: the first error naming a
 * script line ("file" line N: message; warnings skipped), else the first
 * non-blank one. */
static void first_error_line(const char *text, char *buf, size_t size)
{
    const char *pick = NULL;
    for (const char *s = text; *s && !pick; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : "") {
        size_t len = strcspn(s, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), s);
        if (strstr(line, " line ") && strchr(line, ':') && !strstr(line, "warning:"))
            pick = s;
    }
    for (const char *s = text; *s && !pick; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t')
            pick = s;
    if (!pick)
        pick = "(no message)";
    size_t n = strcspn(pick, "\n");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), pick);
}

/* Reads fd to EOF, keeping the first size-1 bytes. */
static void drain(int fd, char *buf, size_t size)
{
    size_t have = 0;
    char tmp[4096];
    ssize_t got;
    while ((got = read(fd, tmp, sizeof tmp)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        size_t take = (size_t)got < size - 1 - have ? (size_t)got : size - 1 - have;
        memcpy(buf + have, tmp, take);
        have += take;
    }
    buf[have] = 0;
}

static void child_exec(int errpipe, int status_pipe, char *const argv[])
{
    int null = open("/dev/null", O_RDWR);
    if (null >= 0)
        dup2(null, 0), dup2(null, 1);
    dup2(errpipe, 2);
    execvp(argv[0], argv);
    int e = errno;
    if (write(status_pipe, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

/* Runs `gnuplot -e "outfile='tmp'" script`. Returns 0 on exit status 0;
 * -2 when gnuplot is not on PATH; -1 with its first error line otherwise. */
int plot_run_gnuplot(const char *script, const char *tmp_out, gf_err *err)
{
    size_t len = strlen(tmp_out) + 16;
    char *assign = malloc(len); /* tmp_out has no single quote (temp_beside checks) */
    if (assign)
        snprintf(assign, len, "outfile = '%s'", tmp_out);
    char *argv[] = {"gnuplot", "-e", assign, (char *)script, NULL};
    int errp[2], st[2];
    if (!assign || pipe(errp) != 0) {
        free(assign);
        return gf_err_set(err, "cannot start gnuplot: %s", strerror(errno));
    }
    if (pipe(st) != 0 || fcntl(st[1], F_SETFD, FD_CLOEXEC) != 0) {
        close(errp[0]), close(errp[1]), free(assign);
        return gf_err_set(err, "cannot start gnuplot: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(errp[0]), close(st[0]);
        child_exec(errp[1], st[1], argv);
    }
    close(errp[1]), close(st[1]);
    free(assign);
    if (pid < 0) {
        close(errp[0]), close(st[0]);
        return gf_err_set(err, "cannot start gnuplot: %s", strerror(errno));
    }
    char text[16384];
    drain(errp[0], text, sizeof text);
    int exec_errno = 0, status = 0;
    ssize_t got = read(st[0], &exec_errno, sizeof exec_errno);
    close(errp[0]), close(st[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof exec_errno)
        return exec_errno == ENOENT ? -2
               : gf_err_set(err, "cannot run gnuplot: %s", strerror(exec_errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char line[400];
    first_error_line(text, line, sizeof line);
    if (WIFSIGNALED(status))
        return gf_err_set(err, "gnuplot killed by signal %d: %s", WTERMSIG(status), line);
    return gf_err_set(err, "gnuplot failed (exit %d): %s", WEXITSTATUS(status), line);
}

