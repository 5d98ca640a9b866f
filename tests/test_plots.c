/* test_plots.c — `gradflow plot`: every figure kind drawn from small real
 * runs made by the CLI, in PNG, SVG and PDF, each checked to be a valid,
 * non-trivial file of its format; --keep-data keeps a data file and a script
 * that redraws the figure; a missing gnuplot names the package and keeps
 * the data; a failing gnuplot leaves no figure and no temporary; bad inputs
 * give one line and exit 1, bad usage exit 2.
 *
 * gnuplot is an external program: when it is not on PATH, suite_init
 * prints a note and every test returns at once (CUnit has no "skipped");
 * suite_plots_skipped() tells a caller that wants to report a skip (77). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"

#define DATA "synthetic:N=256,H=12,W=12"

static char dir[512], plain[600], resnet[600], paths[600], skip;

int suite_plots_skipped(void) { return skip; }

/* Runs `ENV GF_EXE ARGS` through the shell (env may be ""): returns the exit
 * status, and what it printed (stdout and stderr) in out. */
static int run_env(const char *env, const char *args, char *out, size_t size)
{
    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd, "cd '%s' && %s %s %s 2>&1", dir[0] ? dir : ".", env,
                       GF_EXE, args);
    if (len < 0 || (size_t)len >= sizeof cmd)
        return -1;
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char *out, size_t size) { return run_env("", args, out, size); }

/* 1 if an executable file named name is in one of PATH's directories. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096], file[4200];
    snprintf(buf, sizeof buf, "%s", path ? path : "");
    for (char *d = strtok(buf, ":"); d; d = strtok(NULL, ":")) {
        snprintf(file, sizeof file, "%s/%s", *d ? d : ".", name);
        if (access(file, X_OK) == 0)
            return 1;
    }
    return 0;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* The whole file (NUL-terminated, malloc'ed), or NULL. */
static char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    long n = file_size(path);
    char *s = f && n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0, *len = n;
    if (f)
        fclose(f);
    return s;
}

static int suite_init(void)
{
    if (!on_path("gnuplot")) {
        skip = 1;
        fprintf(stderr, "\nnote: gnuplot is not on PATH; the plots suite is skipped "
                        "(apt-get install gnuplot-nox)\n");
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/plots", test_tmpdir());
    snprintf(plain, sizeof plain, "%s/plain-8.h5", dir);
    snprintf(resnet, sizeof resnet, "%s/resnet-8.h5", dir);
    snprintf(paths, sizeof paths, "%s/paths.h5", dir);
    if (mkdir(dir, 0755) != 0)
        return -1;
    char out[8192];
    const char *fmt = "train --model %s --data " DATA " --epochs 2 --batch 32 --threads 2 "
                      "--record %s";
    char args[2048];
    snprintf(args, sizeof args, fmt, "plain-8", plain);
    if (run(args, out, sizeof out) != 0)
        return fprintf(stderr, "%s", out), -1;
    snprintf(args, sizeof args, fmt, "resnet-8", resnet);
    if (run(args, out, sizeof out) != 0)
        return fprintf(stderr, "%s", out), -1;
    snprintf(args, sizeof args, "paths --model resnet-8 --data synthetic:H=12,W=12 --batch 8 "
             "--threads 2 -o %s", paths);
    return run(args, out, sizeof out) == 0 ? 0 : (fprintf(stderr, "%s", out), -1);
}

/* ------------------------------------------------------------ formats */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PNG signature, an IHDR wider and taller than 100 px, more than 5 KB. */
static int valid_png(const char *path)
{
    long len;
    unsigned char *s = (unsigned char *)slurp(path, &len);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int ok = s && len > 5 * 1024 && memcmp(s, sig, 8) == 0 && memcmp(s + 12, "IHDR", 4) == 0 &&
             be32(s + 16) > 100 && be32(s + 20) > 100;
    free(s);
    return ok;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* An XML or SVG start, the closing tag, and many drawn paths. */
static int valid_svg(const char *path)
{
    long len;
    char *s = slurp(path, &len);
    int ok = s && (strncmp(s, "<?xml", 5) == 0 || strncmp(s, "<svg", 4) == 0) &&
             strstr(s, "</svg>") && count(s, "<path") + count(s, "<polyline") >= 10;
    free(s);
    return ok;
}

/* %PDF- header, %%EOF in the trailer. */
static int valid_pdf(const char *path)
{
    long len;
    char *s = slurp(path, &len);
    int ok = s && len > 1024 && strncmp(s, "%PDF-", 5) == 0;
    for (long i = len > 1024 ? len - 1024 : 0; ok && i + 5 <= len; i++)
        if (memcmp(s + i, "%%EOF", 5) == 0) {
            free(s);
            return 1;
        }
    free(s);
    return 0;
}

/* No temporary file (".<name>.tmp…" or "….tmp<pid>") left in dir. */
static int no_temporaries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int clean = d != NULL;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp"))
            clean = 0, fprintf(stderr, "\nleft behind: %s\n", e->d_name);
    if (d)
        closedir(d);
    return clean;
}

/* ------------------------------------------------------------ tests */

/* The inputs of each kind, as the command line takes them. */
static void kind_inputs(const char *kind, char *buf, size_t size)
{
    if (strcmp(kind, "paths") == 0)
        snprintf(buf, size, "%s", paths);
    else if (!strcmp(kind, "heatmap") || !strcmp(kind, "split") || !strcmp(kind, "updates"))
        snprintf(buf, size, "%s", resnet);
    else
        snprintf(buf, size, "%s %s", plain, resnet);
}

static const char *const kinds[] = {"curves", "depth", "profile", "heatmap",
                                    "split", "paths", "responses", "updates"};

static void draw_every_kind(const char *ext, int (*valid)(const char *))
{
    if (skip)
        return;
    for (int k = 0; k < 8; k++) {
        char in[1300], args[2048], out[4096], fig[700];
        kind_inputs(kinds[k], in, sizeof in);
        snprintf(fig, sizeof fig, "%s/%s.%s", dir, kinds[k], ext);
        snprintf(args, sizeof args, "plot %s %s -o %s", kinds[k], in, fig);
        int rc = run(args, out, sizeof out);
        if (rc != 0)
            fprintf(stderr, "\n%s: %s", args, out);
        CU_ASSERT_EQUAL(rc, 0);
        if (!valid(fig))
            fprintf(stderr, "\n%s is not a valid, non-trivial .%s file\n", fig, ext);
        CU_ASSERT(valid(fig));
        /* without --keep-data the data and the script are gone */
        snprintf(fig, sizeof fig, "%s/%s.dat", dir, kinds[k]);
        CU_ASSERT_EQUAL(file_size(fig), -1);
    }
    CU_ASSERT(no_temporaries());
}

static void test_every_kind_draws_a_valid_png(void) { draw_every_kind("png", valid_png); }
static void test_every_kind_draws_a_valid_svg(void) { draw_every_kind("svg", valid_svg); }
static void test_every_kind_draws_a_valid_pdf(void) { draw_every_kind("pdf", valid_pdf); }

/* --keep-data keeps OUT.dat (numbers, one commented block per series) and
 * OUT.gp, and `gnuplot OUT.gp` draws the figure again. */
static void test_keep_data_keeps_a_script_that_redraws(void)
{
    if (skip)
        return;
    char args[2048], out[4096], path[700];
    snprintf(args, sizeof args, "plot profile %s --steps 1,16 --keep-data -o kept.png "
             "--title 'My title'", resnet);
    CU_ASSERT_EQUAL_FATAL(run(args, out, sizeof out), 0);
    long len;
    snprintf(path, sizeof path, "%s/kept.dat", dir);
    char *dat = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dat);
    CU_ASSERT(strstr(dat, "[index 0]") && strstr(dat, "step 1:"));
    CU_ASSERT(strstr(dat, "[index 1]") && strstr(dat, "step 16:"));
    CU_ASSERT(strstr(dat, "layer3.0.conv2") != NULL);
    free(dat);
    snprintf(path, sizeof path, "%s/kept.gp", dir);
    char *gp = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gp);
    CU_ASSERT(strstr(gp, "My title") != NULL);
    free(gp);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && rm -f kept.png && gnuplot kept.gp 2>/dev/null", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    snprintf(path, sizeof path, "%s/kept.png", dir);
    CU_ASSERT(valid_png(path));
}

/* PATH without gnuplot: one line naming gnuplot-nox, exit 1, the data and
 * the script written, no figure. */
static void test_missing_gnuplot_names_the_package_and_keeps_the_data(void)
{
    if (skip)
        return;
    char env[1200], args[2048], out[4096], path[700];
    snprintf(env, sizeof env, "mkdir -p '%s/empty-bin' && PATH='%s/empty-bin'", dir, dir);
    snprintf(args, sizeof args, "plot curves %s %s -o nognuplot.png", plain, resnet);
    CU_ASSERT_NOT_EQUAL(run_env(env, args, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "gnuplot-nox") != NULL);
    CU_ASSERT_EQUAL(count(out, "\n"), 1);
    snprintf(path, sizeof path, "%s/nognuplot.dat", dir);
    CU_ASSERT(file_size(path) > 100);
    snprintf(path, sizeof path, "%s/nognuplot.gp", dir);
    CU_ASSERT(file_size(path) > 100);
    snprintf(path, sizeof path, "%s/nognuplot.png", dir);
    CU_ASSERT_EQUAL(file_size(path), -1);
    CU_ASSERT(no_temporaries());
}

/* A gnuplot that fails (or exits 0 having written nothing): exit 1 with its
 * first line, no figure, no temporary file. */
static void test_failing_gnuplot_leaves_no_figure(void)
{
    if (skip)
        return;
    char env[2400], args[2048], out[4096], path[700];
    snprintf(env, sizeof env, "mkdir -p '%s/fake-bin' && printf '#!/bin/sh\\necho "
             "\"fake: broken\" >&2\\necho more >&2\\nexit 3\\n' > '%s/fake-bin/gnuplot' && "
             "chmod +x '%s/fake-bin/gnuplot' && PATH='%s/fake-bin'", dir, dir, dir, dir);
    snprintf(args, sizeof args, "plot heatmap %s -o failed.png", resnet);
    CU_ASSERT_EQUAL(run_env(env, args, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "fake: broken") != NULL && strstr(out, "more") == NULL);
    snprintf(path, sizeof path, "%s/failed.png", dir);
    CU_ASSERT_EQUAL(file_size(path), -1);
    snprintf(env, sizeof env, "printf '#!/bin/sh\\nexit 0\\n' > '%s/fake-bin/gnuplot' && "
             "PATH='%s/fake-bin'", dir, dir);
    CU_ASSERT_EQUAL(run_env(env, args, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "wrote nothing") != NULL);
    CU_ASSERT_EQUAL(file_size(path), -1);
    CU_ASSERT(no_temporaries());
}

/* Foreign inputs: one line and exit 1; usage errors exit 2; nothing drawn. */
static void test_bad_inputs_give_one_line(void)
{
    if (skip)
        return;
    char args[2048], out[4096], path[700];
    snprintf(path, sizeof path, "%s/not-a-run.txt", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("hello\n", f);
    fclose(f);
    const char *cases[][2] = {
        {"plot curves %s -o bad.png", path}, {"plot profile %s -o bad.png", paths},
        {"plot paths %s -o bad.png", resnet}, {"plot split %s.missing -o bad.png", resnet},
    };
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, cases[i][0], cases[i][1]);
        CU_ASSERT_EQUAL(run(args, out, sizeof out), 1);
        CU_ASSERT_EQUAL(count(out, "\n"), 1);
        CU_ASSERT(strncmp(out, "gradflow plot: ", 15) == 0);
    }
    const char *usage[] = {"plot curves %s -o bad.jpg", "plot nosuchkind %s -o bad.png",
                           "plot heatmap %s %s -o bad.png", "plot curves --steps 5 %s -o bad.png",
                           "plot profile --steps 5,x %s -o bad.png", "plot curves %s"};
    for (int i = 0; i < 6; i++) {
        snprintf(args, sizeof args, usage[i], resnet, resnet);
        CU_ASSERT_EQUAL(run(args, out, sizeof out), 2);
    }
    snprintf(path, sizeof path, "%s/bad.png", dir);
    CU_ASSERT_EQUAL(file_size(path), -1);
    snprintf(path, sizeof path, "%s/bad.dat", dir);
    CU_ASSERT_EQUAL(file_size(path), -1);
}

/* --help lists every kind. */
static void test_help_lists_every_kind(void)
{
    char out[8192];
    CU_ASSERT_EQUAL(run("plot --help", out, sizeof out), 0);
    for (int k = 0; k < 8; k++)
        CU_ASSERT(strstr(out, kinds[k]) != NULL);
    CU_ASSERT(strstr(out, "--keep-data") && strstr(out, "gnuplot-nox"));
}

int suite_plots_register(void)
{
    CU_pSuite s = CU_add_suite("plots", suite_init, NULL);
    if (!s || !CU_add_test(s, "every kind draws a valid PNG", test_every_kind_draws_a_valid_png) ||
        !CU_add_test(s, "every kind draws a valid SVG", test_every_kind_draws_a_valid_svg) ||
        !CU_add_test(s, "every kind draws a valid PDF", test_every_kind_draws_a_valid_pdf) ||
        !CU_add_test(s, "--keep-data keeps a script that redraws",
                     test_keep_data_keeps_a_script_that_redraws) ||
        !CU_add_test(s, "missing gnuplot names the package, keeps the data",
                     test_missing_gnuplot_names_the_package_and_keeps_the_data) ||
        !CU_add_test(s, "failing gnuplot leaves no figure",
                     test_failing_gnuplot_leaves_no_figure) ||
        !CU_add_test(s, "bad inputs give one line, exit 1; usage exit 2",
                     test_bad_inputs_give_one_line) ||
        !CU_add_test(s, "--help lists every kind", test_help_lists_every_kind))
        return -1;
    return 0;
}
