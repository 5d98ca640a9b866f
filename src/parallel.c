/* parallel.c — a fixed team of threads for gf_par_for (see parallel.h).
 *
 * Threads 1..T-1 are started on first use and live for the process. A job
 * is published by bumping `generation`; a worker spins SPIN rounds for the
 * next one, then sleeps on `wake`. The caller runs range 0, then waits the
 * same way for `pending` to reach zero. */
#include "parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SPIN 2000 /* pause rounds (tens of µs) before sleeping */

static struct {
    int size;              /* threads started */
    atomic_int active;     /* threads gf_par_for uses, <= size */
    int requested;         /* gf_set_num_threads before the start, 0 if none */
    pthread_mutex_t busy;  /* one job at a time */
    pthread_mutex_t lock;  /* guards the sleep/wake hand-over */
    pthread_cond_t wake, done;
    atomic_uint generation;
    atomic_int pending;    /* workers that have not finished the job */
    gf_par_body body;
    void *ctx;
    size_t n;
    int job_threads;       /* active when the job was published */
} team = {.size = 1, .active = 1, .busy = PTHREAD_MUTEX_INITIALIZER,
          .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t team_once = PTHREAD_ONCE_INIT;

static void relax(void)
{
#ifdef __SSE2__
    _mm_pause();
#endif
}

/* Thread t's share of the job; threads past `active` have none. */
static void run_range(int t, int active)
{
    size_t T = (size_t)active, n = team.n;
    if (t < active)
        team.body(team.ctx, n * t / T, n * (t + 1) / T, t);
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN && atomic_load(&team.generation) == seen; i++)
            relax();
        if (atomic_load(&team.generation) == seen) {
            pthread_mutex_lock(&team.lock);
            while (atomic_load(&team.generation) == seen)
                pthread_cond_wait(&team.wake, &team.lock);
            pthread_mutex_unlock(&team.lock);
        }
        seen = atomic_load(&team.generation);
        run_range(t, team.job_threads);
        if (atomic_fetch_sub(&team.pending, 1) == 1) {
            pthread_mutex_lock(&team.lock);
            pthread_cond_signal(&team.done);
            pthread_mutex_unlock(&team.lock);
        }
    }
    return NULL;
}

static int requested_threads(void)
{
    if (team.requested > 0)
        return team.requested;
    const char *names[] = {"GF_NUM_THREADS", "OMP_NUM_THREADS"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A child of fork() has only the thread that forked: the team's workers
 * are gone, so it runs everything on itself. */
static void after_fork_in_child(void)
{
    pthread_mutex_init(&team.busy, NULL);
    pthread_mutex_init(&team.lock, NULL);
    pthread_cond_init(&team.wake, NULL);
    pthread_cond_init(&team.done, NULL);
    team.size = 1;
    atomic_store(&team.active, 1);
}

static void team_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
    int n = requested_threads();
    n = n > GF_PAR_MAX_THREADS ? GF_PAR_MAX_THREADS : n;
    int started = 1;
    for (; started < n; started++) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker, (void *)(intptr_t)started) != 0)
            break;
        pthread_detach(th);
    }
    team.size = started; /* if a thread failed to start, the team is smaller */
    atomic_store(&team.active, started);
}

int gf_par_threads(void)
{
    pthread_mutex_lock(&start_lock);
    pthread_once(&team_once, team_init);
    pthread_mutex_unlock(&start_lock);
    return team.size;
}

int gf_set_num_threads(int n)
{
    pthread_mutex_lock(&start_lock);
    if (n > 0)
        team.requested = n;
    pthread_once(&team_once, team_init); /* no-op if the team already started */
    if (n > 0)
        atomic_store(&team.active, n < team.size ? n : team.size);
    pthread_mutex_unlock(&start_lock);
    return atomic_load(&team.active);
}

int gf_num_threads(void)
{
    gf_par_threads();
    return atomic_load(&team.active);
}

void gf_par_for(size_t n, int parallel, gf_par_body body, void *ctx)
{
    if (!parallel || gf_num_threads() == 1 || pthread_mutex_trylock(&team.busy) != 0) {
        body(ctx, 0, n, 0);
        return;
    }
    team.body = body, team.ctx = ctx, team.n = n;
    team.job_threads = atomic_load(&team.active);
    atomic_store(&team.pending, team.size - 1);
    pthread_mutex_lock(&team.lock);
    atomic_fetch_add(&team.generation, 1);
    pthread_cond_broadcast(&team.wake);
    pthread_mutex_unlock(&team.lock);
    run_range(0, team.job_threads);
    for (int i = 0; i < SPIN && atomic_load(&team.pending) > 0; i++)
        relax();
    if (atomic_load(&team.pending) > 0) {
        pthread_mutex_lock(&team.lock);
        while (atomic_load(&team.pending) > 0)
            pthread_cond_wait(&team.done, &team.lock);
        pthread_mutex_unlock(&team.lock);
    }
    pthread_mutex_unlock(&team.busy);
}

/* OPENBLAS_VERSION comes from OpenBLAS's cblas.h; a reference BLAS is
 * single-threaded already. Nested or concurrent sections (two nets trained
 * from two threads) share one count: the first to begin saves OpenBLAS's
 * thread count, the last to end restores it. */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_depth, blas_saved;

int gf_blas_serial_begin(void)
{
#ifdef OPENBLAS_VERSION
    if (gf_par_threads() == 1)
        return 0;
    pthread_mutex_lock(&blas_lock);
    if (blas_depth++ == 0) {
        blas_saved = openblas_get_num_threads();
        if (blas_saved != 1)
            openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_lock);
    return 1;
#else
    return 0;
#endif
}

void gf_blas_serial_end(int began)
{
#ifdef OPENBLAS_VERSION
    if (!began)
        return;
    pthread_mutex_lock(&blas_lock);
    if (--blas_depth == 0 && blas_saved != 1)
        openblas_set_num_threads(blas_saved);
    pthread_mutex_unlock(&blas_lock);
#else
    (void)began;
#endif
}

/* ------------------------------------------------- chunked reductions */

typedef struct chunk_job {
    size_t n, chunk, part_size;
    gf_chunk_body body;
    const void *ctx;
    char *parts;
} chunk_job;

static void chunk_range(void *ctx, size_t begin, size_t end, int thread)
{
    (void)thread;
    const chunk_job *j = ctx;
    for (size_t c = begin; c < end; c++) {
        size_t lo = c * j->chunk, len = j->n - lo < j->chunk ? j->n - lo : j->chunk;
        j->body(j->ctx, lo, len, j->parts + c * j->part_size);
    }
}

size_t gf_par_chunks(size_t n, size_t chunk, size_t max_chunks, int parallel,
                     gf_chunk_body body, const void *ctx, void *parts, size_t part_size)
{
    if (n / chunk >= max_chunks)
        chunk = n / max_chunks + 1;
    size_t chunks = (n + chunk - 1) / chunk;
    chunk_job j = {n, chunk, part_size, body, ctx, parts};
    gf_par_for(chunks, parallel, chunk_range, &j);
    return chunks;
}
