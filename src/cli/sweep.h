/* sweep.h — running many trainings: the sweep scheduler, shared by
 * `gradflow sweep` and `gradflow demo`.
 *
 * Each run is a `gradflow train` child process (this same executable) with
 * its own run file, checkpoint, weights and log under DIR:
 *   DIR/runs/NAME.h5 (record)  NAME.ckpt.h5  NAME.weights.h5  NAME.done
 *   DIR/logs/NAME.log
 * NAME.done is written when the child exits 0: a rerun skips those runs and
 * resumes the others from their checkpoints (`train --resume`), so a sweep is
 * restartable after a crash or Ctrl-C. Up to `jobs` children run at once,
 * each with threads / jobs threads. Under MPI (built with -Dmpi=enabled and
 * started by mpirun), rank r takes the runs i with i % size == r. */
#ifndef GRADFLOW_SWEEP_H
#define GRADFLOW_SWEEP_H

typedef struct sweep_run {
    char name[64];      /* the model name, e.g. "resnet-20" */
    int done, failed;
    double seconds;
} sweep_run;

typedef struct sweep_plan {
    const char *dir;
    const char *data;
    int epochs;           /* or steps > 0 */
    long steps;
    int subset, batch, jobs, threads;
    long seed;
    const char *const *extra; /* more `train` options, NULL-terminated, may be NULL */
    sweep_run *runs;
    int n_runs;
    int rank, size;       /* MPI rank and size (0, 1 without MPI) */
} sweep_plan;

/* Creates the directories, then trains this rank's share of the runs that
 * are not done. Returns the number of runs that failed, or -1 if interrupted
 * (children were stopped cleanly and can be resumed). */
int sweep_execute(sweep_plan *p);

/* The path of this executable (for child processes). */
const char *sweep_self_exe(void);

/* Runs `gradflow ARGS…` as a child with stdout/stderr to log (NULL: inherit);
 * returns its exit status (or 128 + signal). */
int sweep_run_self(const char *const *args, const char *log);

#endif
