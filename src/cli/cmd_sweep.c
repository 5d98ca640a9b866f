/* cmd_sweep.c — `gradflow sweep`: every (family, depth) pair with the same
 * recipe and seed, then the depth table and figures for the set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gradflow/net.h"
#include "sweep.h"
#ifdef GF_HAVE_MPI
#include <mpi.h>
#endif

static const char help[] =
    "usage: gradflow sweep --families F1,F2 --depths D1,D2,... [options] -o DIR\n"
    "Trains every (family, depth) pair with the same recipe and seed — one run file,\n"
    "checkpoint and log each under DIR — then writes the depth-versus-error table and\n"
    "the figures for the set. Restartable: a rerun skips finished runs and resumes\n"
    "interrupted ones from their checkpoints. Ctrl-C stops the runs cleanly.\n"
    "  --families LIST  plain, resnet, resnet-B, preact-resnet, mlp-plain, mlp-res\n"
    "  --depths LIST    e.g. 20,32,44,56 (6n+2; MLPs: 2k+2)\n"
    "  --data SPEC      as for train (default fashion-mnist)\n"
    "  --epochs E | --steps S   schedule per run (default 1 epoch)\n"
    "  --subset N  --batch B (128)  --seed N (1)\n"
    "  --jobs J         runs at once (default 1); each gets threads/J threads\n"
    "  --threads T      thread budget (default: all cores)\n"
    "  -o DIR           output directory (required)\n"
    "  -- ARGS          anything after -- is passed to every `gradflow train`\n"
    "Many machines: build with meson -Dmpi=enabled and start with\n"
    "  mpirun -np R gradflow sweep ...   (rank r trains runs r, r+R, ...; rank 0 summarises)\n";

typedef struct sweep_opts {
    const char *families, *depths;
    sweep_plan plan;
} sweep_opts;

static int parse(int argc, char **argv, sweep_opts *o)
{
    const char *c = "sweep";
    memset(o, 0, sizeof *o);
    sweep_plan *p = &o->plan;
    p->data = "fashion-mnist", p->epochs = 1, p->batch = 128, p->seed = 1, p->jobs = 1;
    p->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
#define VALUE() if (!(v = cli_value(c, argc, argv, &i))) return 2
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(help, stdout); return -1;
        } else if (!strcmp(a, "--")) { p->extra = (const char *const *)argv + i + 1; break;
        } else if (!strcmp(a, "--families")) { VALUE(); o->families = v;
        } else if (!strcmp(a, "--depths")) { VALUE(); o->depths = v;
        } else if (!strcmp(a, "--data")) { VALUE(); p->data = v;
        } else if (!strcmp(a, "-o")) { VALUE(); p->dir = v;
        } else if (!strcmp(a, "--epochs")) { VALUE(); if (cli_long(c, a, v, 1, 100000, &n)) return 2; p->epochs = (int)n;
        } else if (!strcmp(a, "--steps")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 40, &n)) return 2; p->steps = n;
        } else if (!strcmp(a, "--subset")) { VALUE(); if (cli_long(c, a, v, 1, 1L << 30, &n)) return 2; p->subset = (int)n;
        } else if (!strcmp(a, "--batch")) { VALUE(); if (cli_long(c, a, v, 1, 65536, &n)) return 2; p->batch = (int)n;
        } else if (!strcmp(a, "--seed")) { VALUE(); if (cli_long(c, a, v, 0, 0x7fffffffffffffffL, &n)) return 2; p->seed = n;
        } else if (!strcmp(a, "--jobs")) { VALUE(); if (cli_long(c, a, v, 1, 256, &n)) return 2; p->jobs = (int)n;
        } else if (!strcmp(a, "--threads")) { VALUE(); if (cli_long(c, a, v, 1, 1024, &n)) return 2; p->threads = (int)n;
        } else { return cli_fail(2, c, "unknown option '%s' (see --help)", a); }
#undef VALUE
    }
    if (!o->families || !o->depths || !p->dir)
        return cli_fail(2, c, "--families, --depths and -o DIR are required (see --help)");
    return 0;
}

/* families × depths, each name checked by the model zoo. */
static int plan_runs(sweep_opts *o)
{
    char fam[512], dep[512];
    snprintf(fam, sizeof fam, "%s", o->families);
    size_t nf = 1, nd = 1;
    for (const char *s = o->families; *s; s++)
        nf += *s == ',';
    for (const char *s = o->depths; *s; s++)
        nd += *s == ',';
    sweep_run *runs = calloc(nf * nd, sizeof *runs);
    if (!runs)
        return cli_fail(1, "sweep", "out of memory");
    int k = 0;
    for (char *s1 = NULL, *f = strtok_r(fam, ",", &s1); f; f = strtok_r(NULL, ",", &s1)) {
        snprintf(dep, sizeof dep, "%s", o->depths);
        for (char *s2 = NULL, *d = strtok_r(dep, ",", &s2); d; d = strtok_r(NULL, ",", &s2)) {
            const char *b = strstr(f, "-B");
            int is_b = b && b[2] == '\0';
            snprintf(runs[k].name, sizeof runs[k].name, "%.*s-%s%s",
                     (int)(is_b ? (size_t)(b - f) : strlen(f)), f, d, is_b ? "-B" : "");
            gf_model_spec spec;
            gf_err err;
            if (gf_model_parse(runs[k].name, &spec, &err)) {
                free(runs);
                return cli_fail(2, "sweep", "%s", err.msg);
            }
            k++;
        }
    }
    o->plan.runs = runs, o->plan.n_runs = k;
    return 0;
}

/* Rank 0, after every run: the depth table and the figures for the set. */
static int summarise(const sweep_plan *p)
{
    char prefix[4200], figs[4200], log[4200];
    snprintf(prefix, sizeof prefix, "%s/depth", p->dir);
    snprintf(figs, sizeof figs, "%s/figures", p->dir);
    snprintf(log, sizeof log, "%s/logs/summary.log", p->dir);
    mkdir(figs, 0755);
    const char **args = calloc((size_t)p->n_runs + 8, sizeof *args);
    char (*files)[4200] = calloc((size_t)p->n_runs + 1, sizeof *files);
    if (!args || !files) {
        free(args), free(files);
        return cli_fail(1, "sweep", "out of memory");
    }
    int n = 0;
    args[n++] = "depth";
    for (int i = 0; i < p->n_runs; i++)
        if (p->runs[i].done) {
            snprintf(files[i], sizeof files[i], "%s/runs/%s.h5", p->dir, p->runs[i].name);
            args[n++] = files[i];
        }
    int first_file = 1, n_files = n - 1, rc = 0;
    args[n++] = "-o", args[n++] = prefix, args[n] = NULL;
    if (n_files == 0) {
        free(args), free(files);
        return cli_fail(1, "sweep", "no finished runs to summarise");
    }
    rc = sweep_run_self(args, NULL);
    static const char *kinds[] = {"curves", "depth", "profile"};
    for (int k = 0; k < 3; k++) {
        char out[4300];
        snprintf(out, sizeof out, "%s/%s.png", figs, kinds[k]);
        const char **pa = calloc((size_t)n_files + 6, sizeof *pa);
        if (!pa)
            break;
        int m = 0;
        pa[m++] = "plot", pa[m++] = kinds[k];
        for (int i = 0; i < n_files; i++)
            pa[m++] = args[first_file + i];
        pa[m++] = "-o", pa[m++] = out, pa[m] = NULL;
        if (sweep_run_self(pa, log) == 0)
            printf("figure: %s\n", out);
        else
            printf("figure %s not drawn (see %s)\n", out, log), rc = rc ? rc : 1;
        free(pa);
    }
    free(args), free(files);
    printf("depth table: %s.md, %s.csv\n", prefix, prefix);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = plan_runs(&o)) != 0)
        return rc;
    sweep_plan *p = &o.plan;
    p->size = 1;
#ifdef GF_HAVE_MPI
    int mpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
    if (mpi) {
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
        MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    }
#endif
    printf("[rank %d of %d] sweep of %d runs into %s (%d at once)\n", p->rank, p->size,
           p->n_runs, p->dir, p->jobs);
    fflush(stdout);
    int failed = sweep_execute(p);
#ifdef GF_HAVE_MPI
    if (mpi) { /* every rank's runs are on the shared file system before rank 0 reads them */
        int mine = failed, all = 0;
        MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        failed = all;
        for (int i = 0; i < p->n_runs; i++) {
            char done[4200];
            snprintf(done, sizeof done, "%s/runs/%s.done", p->dir, p->runs[i].name);
            p->runs[i].done = access(done, F_OK) == 0;
        }
    }
#endif
    if (failed < 0)
        rc = cli_fail(130, "sweep", "interrupted: rerun the same command to resume");
    else if (p->rank == 0)
        rc = summarise(p) || failed ? 1 : 0;
    if (failed > 0 && p->rank == 0)
        cli_fail(1, "sweep", "%d run(s) failed; see %s/logs", failed, p->dir);
#ifdef GF_HAVE_MPI
    if (mpi)
        MPI_Finalize();
#endif
    free(p->runs);
    return rc;
}
