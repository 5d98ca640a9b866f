/* sweep.c — the sweep scheduler (sweep.h): child `gradflow train` processes,
 * restartable through checkpoints and done-markers. */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

const char *sweep_self_exe(void)
{
    static char path[4096];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0)
            snprintf(path, sizeof path, "gradflow");
        else
            path[n] = '\0';
    }
    return path;
}

/* fork + exec of this executable with args (args[0] is the subcommand). */
static pid_t spawn(const char *const *args, const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    signal(SIGINT, SIG_IGN); /* the parent decides when children stop */
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close(fd);
    }
    int n = 0;
    while (args[n])
        n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    if (!argv)
        _exit(127);
    argv[0] = (char *)sweep_self_exe();
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    execv(argv[0], argv);
    _exit(127);
}

static int exit_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

int sweep_run_self(const char *const *args, const char *log)
{
    pid_t pid = spawn(args, log);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return 127;
    return exit_status(st);
}

static int file_exists(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0;
}

static void path_of(char *buf, size_t n, const sweep_plan *p, const char *sub, const char *name,
                    const char *suffix)
{
    snprintf(buf, n, "%s/%s/%s%s", p->dir, sub, name, suffix);
}

/* The `train` arguments for run r: fresh, or --resume from its checkpoint. */
typedef struct child_args {
    const char *v[64];
    char rec[4200], ckpt[4200], weights[4200], threads[16], epochs[24], subset[16], batch[16],
        seed[24];
} child_args;

static void build_args(const sweep_plan *p, const sweep_run *r, int threads, child_args *a)
{
    int n = 0;
    path_of(a->rec, sizeof a->rec, p, "runs", r->name, ".h5");
    path_of(a->ckpt, sizeof a->ckpt, p, "runs", r->name, ".ckpt.h5");
    path_of(a->weights, sizeof a->weights, p, "runs", r->name, ".weights.h5");
    snprintf(a->threads, sizeof a->threads, "%d", threads);
    a->v[n++] = "train";
    if (file_exists(a->ckpt)) {
        a->v[n++] = "--resume", a->v[n++] = a->ckpt;
        a->v[n++] = "--threads", a->v[n++] = a->threads;
        a->v[n] = NULL;
        return;
    }
    snprintf(a->epochs, sizeof a->epochs, "%ld", p->steps > 0 ? p->steps : (long)p->epochs);
    snprintf(a->subset, sizeof a->subset, "%d", p->subset);
    snprintf(a->batch, sizeof a->batch, "%d", p->batch);
    snprintf(a->seed, sizeof a->seed, "%ld", p->seed);
    a->v[n++] = "--model", a->v[n++] = r->name, a->v[n++] = "--data", a->v[n++] = p->data;
    a->v[n++] = p->steps > 0 ? "--steps" : "--epochs", a->v[n++] = a->epochs;
    if (p->subset > 0)
        a->v[n++] = "--subset", a->v[n++] = a->subset;
    a->v[n++] = "--batch", a->v[n++] = a->batch, a->v[n++] = "--seed", a->v[n++] = a->seed;
    a->v[n++] = "--threads", a->v[n++] = a->threads;
    a->v[n++] = "--record", a->v[n++] = a->rec, a->v[n++] = "--checkpoint", a->v[n++] = a->ckpt;
    a->v[n++] = "-o", a->v[n++] = a->weights, a->v[n++] = "--progress-every", a->v[n++] = "30";
    for (int i = 0; p->extra && p->extra[i] && n < 62; i++)
        a->v[n++] = p->extra[i];
    a->v[n] = NULL;
}

static int make_dirs(const sweep_plan *p)
{
    char d[4200];
    const char *subs[] = {"", "/runs", "/logs"};
    for (int i = 0; i < 3; i++) {
        snprintf(d, sizeof d, "%s%s", p->dir, subs[i]);
        if (mkdir(d, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "gradflow sweep: %s: cannot create directory: %s\n", d, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct slot {
    pid_t pid;
    int run;
    double start;
} slot;

/* A child ended: mark its run done (writing NAME.done) or failed. */
static void finish(sweep_plan *p, slot *s, int status)
{
    sweep_run *r = &p->runs[s->run];
    r->seconds = now() - s->start;
    char done[4200];
    path_of(done, sizeof done, p, "runs", r->name, ".done");
    if (status == 0) {
        FILE *f = fopen(done, "w");
        if (f)
            fprintf(f, "%s finished in %.0f s\n", r->name, r->seconds), fclose(f);
        r->done = 1;
        printf("[rank %d] %-20s done in %.0f s\n", p->rank, r->name, r->seconds);
    } else if (!interrupted) {
        r->failed = 1;
        printf("[rank %d] %-20s FAILED (exit %d), see %s/logs/%s.log\n", p->rank, r->name,
               status, p->dir, r->name);
    }
    fflush(stdout);
    s->pid = 0;
}

/* Stops the running children cleanly (they checkpoint) and waits for them. */
static void stop_children(slot *slots, int jobs)
{
    for (int j = 0; j < jobs; j++)
        if (slots[j].pid > 0)
            kill(slots[j].pid, SIGTERM);
    for (int j = 0; j < jobs; j++)
        if (slots[j].pid > 0)
            waitpid(slots[j].pid, NULL, 0), slots[j].pid = 0;
}

int sweep_execute(sweep_plan *p)
{
    if (make_dirs(p))
        return -1;
    int jobs = p->jobs > 0 ? p->jobs : 1;
    int threads = p->threads / jobs > 0 ? p->threads / jobs : 1;
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    if (!slots)
        return -1;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int next = 0, running = 0;
    for (;;) {
        while (!interrupted && running < jobs && next < p->n_runs) {
            sweep_run *r = &p->runs[next];
            char done[4200];
            path_of(done, sizeof done, p, "runs", r->name, ".done");
            if (next % p->size != p->rank || (r->done = file_exists(done))) {
                if (r->done && next % p->size == p->rank)
                    printf("[rank %d] %-20s already done, skipped\n", p->rank, r->name), fflush(stdout);
                next++;
                continue;
            }
            child_args a;
            build_args(p, r, threads, &a);
            char log[4200];
            path_of(log, sizeof log, p, "logs", r->name, ".log");
            int j = 0;
            while (slots[j].pid > 0)
                j++;
            slots[j] = (slot){spawn(a.v, log), next, now()};
            printf("[rank %d] %-20s %s (%d threads), log %s\n", p->rank, r->name,
                   strcmp(a.v[1], "--resume") == 0 ? "resumed" : "started", threads, log);
            fflush(stdout);
            running++, next++;
        }
        if (running == 0)
            break;
        int st;
        pid_t pid = interrupted ? -1 : waitpid(-1, &st, 0);
        if (interrupted) { /* Ctrl-C or SIGTERM: children checkpoint and stop */
            stop_children(slots, jobs);
            break;
        }
        for (int j = 0; pid > 0 && j < jobs; j++)
            if (slots[j].pid == pid)
                finish(p, &slots[j], exit_status(st)), running--;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(slots);
    int failed = 0;
    for (int i = 0; i < p->n_runs; i++)
        failed += p->runs[i].failed;
    return interrupted ? -1 : failed;
}
