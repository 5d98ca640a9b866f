/* test_durability.c — run files and checkpoints when a run goes wrong, through
 * the command line (docs/run-file.md): a SIGKILLed run (kept rows, live SWMR
 * reading), a SIGTERMed run (clean close), an unwritable path and a full disk
 * (RLIMIT_FSIZE), checkpoint + resume bit for bit, and bad input files fed to
 * every reader. */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/checkpoint.h"
#include "gradflow/h5io.h"
#include "suites.h"

/* ------------------------------------------------------------ small tools */

/* The whole file as a NUL-terminated string (malloc'ed; "" if unreadable). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        rewind(f);
        buf = malloc(size > 0 ? (size_t)size + 1 : 1);
        n = buf && size > 0 ? fread(buf, 1, (size_t)size, f) : 0;
    }
    if (f)
        fclose(f);
    if (!buf)
        buf = malloc(1);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---------------------------------------------------------- reading files */

/* The fewest and the most rows of any per-step series; 0 if all exist. */
static int row_range(hid_t f, long *fewest, long *most)
{
    *fewest = -1, *most = -1;
    for (int s = 0; s < N_STEP_SERIES; s++) {
        size_t r, c;
        double *v = read_series(f, test_step_series[s].path, &r, &c);
        free(v);
        if (!v)
            return -1;
        *fewest = *fewest < 0 || (long)r < *fewest ? (long)r : *fewest;
        *most = (long)r > *most ? (long)r : *most;
    }
    return 0;
}

/* 1 if /step begins with 1, 2, …, n. */
static int steps_consecutive(hid_t f, long n)
{
    size_t r, c;
    double *v = read_series(f, "step", &r, &c);
    int ok = v && (long)r >= n;
    for (size_t i = 0; ok && i < r; i++)
        ok = v[i] == (double)(i + 1);
    free(v);
    return ok;
}

/* ------------------------------------------------- running the CLI */

/* 1 while pid runs; does not reap it, so wait_child still sees its status. */
static int running(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

/* status/rows_flushed of a run file being written (SWMR read), and the row
 * count of /step in *rows; -1 while the file cannot be opened yet. */
static long live_flushed(const char *path, long *rows)
{
    gf_err err;
    *rows = -1;
    hid_t f = gf_h5_open_read(path, 1, &err);
    if (f < 0)
        return -1;
    double flushed = read_scalar(f, "status/rows_flushed");
    size_t r, c;
    double *s = read_series(f, "step", &r, &c);
    if (s)
        *rows = (long)r;
    free(s);
    H5Fclose(f);
    return isnan(flushed) ? -1 : (long)flushed;
}

/* Polls path until rows_flushed >= want or the child ends or seconds pass;
 * returns the last rows_flushed seen (-1 if never readable). */
static long wait_for_rows(const char *path, long want, pid_t pid, double seconds, long *rows)
{
    double t0 = now();
    long flushed = -1;
    *rows = -1;
    while (now() - t0 < seconds) {
        long r, fl = live_flushed(path, &r);
        if (fl >= 0)
            flushed = fl, *rows = r;
        if (flushed >= want || !running(pid))
            break;
        sleep_ms(10);
    }
    return flushed;
}

/* ------------------------------------------------ 2, 3. kills and stops */

/* A long recording run of resnet-8 on 8×8 synthetic data. */
static pid_t start_long_run(child *c, const char *dir, const char *tag, const char *run,
                            const char *flush)
{
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=4096,H=8,W=8,TEST=32", "--epochs", "100", "--batch", "8",
                          "--threads", "1", "--record", run, "--flush-every", flush,
                          "--progress-every", "1000", NULL};
    return spawn(c, dir, tag, args, 0);
}

/* After a SIGKILL the first status/rows_flushed rows of every series are
 * readable and whole; the file reads as not closed cleanly. */
static void check_killed_file(const char *run, long flushed_seen)
{
    gf_err err;
    hid_t f = gf_h5_open_read(run, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    long fewest, most, kept = (long)read_scalar(f, "status/rows_flushed");
    CU_ASSERT_EQUAL(row_range(f, &fewest, &most), 0);
    CU_ASSERT(kept >= 6 && kept >= flushed_seen);
    CU_ASSERT(fewest >= kept); /* every flushed row of every series */
    CU_ASSERT(steps_consecutive(f, kept));
    CU_ASSERT_EQUAL(read_scalar(f, "status/clean_close"), 0);
    size_t r, cols;
    double *loss = read_series(f, "train/loss", &r, &cols);
    double *rms = read_series(f, "layers/act_rms", &r, &cols);
    int finite = loss && rms && fewest >= kept;
    for (size_t i = 0; finite && i < (size_t)kept; i++)
        finite = isfinite(loss[i]) && loss[i] > 0 && isfinite(rms[i * cols]) && rms[i * cols] > 0;
    CU_ASSERT(finite);
    free(loss), free(rms);
    H5Fclose(f);
}

static void test_killed_run_keeps_flushed_rows(void)
{
    char dir[512], run[600];
    test_dir("killed", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/killed.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "killed", run, "2") > 0);
    long live_rows, flushed = wait_for_rows(run, 6, c.pid, 60, &live_rows);
    kill(c.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&c, 30), SIGNALLED + SIGKILL); /* it was still training */
    CU_ASSERT(flushed >= 6);
    CU_ASSERT(live_rows >= flushed); /* read live, while it trained */
    check_killed_file(run, flushed);
    const char *args[] = {"inspect", run, NULL};
    CU_ASSERT_EQUAL(test_run_cli(&c, dir, "inspect", args, 30), 0);
    char *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "not closed cleanly"));
    free(out);
}

/* A SIGKILL during a flush (the series are extended and flushed one after
 * another, which HDF5 cannot make atomic across datasets) may leave some
 * series a row longer than others; the contract (docs/run-file.md) is that
 * status/rows_flushed rows are whole in every series. The kill lands in a
 * flush by firing while the file grows. */
static void test_kill_mid_flush_keeps_rows_flushed_whole(void)
{
    char dir[512], run[600];
    test_dir("midflush", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/mid.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "mid", run, "2") > 0);
    long live_rows, flushed = wait_for_rows(run, 2, c.pid, 60, &live_rows);
    struct stat st;
    off_t size = -1;
    double t0 = now();
    for (int growths = 0; growths < 10 && now() - t0 < 30 && stat(run, &st) == 0;) {
        growths += size >= 0 && st.st_size != size;
        size = st.st_size;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    kill(c.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&c, 30), SIGNALLED + SIGKILL);
    CU_ASSERT(flushed >= 2);
    gf_err err;
    hid_t f = gf_h5_open_read(run, 1, &err);
    CU_ASSERT_FATAL(f >= 0);
    long fewest, most, whole = (long)read_scalar(f, "status/rows_flushed");
    CU_ASSERT_EQUAL(row_range(f, &fewest, &most), 0);
    CU_ASSERT(whole >= flushed);
    CU_ASSERT(fewest >= whole);
    CU_ASSERT(steps_consecutive(f, whole));
    H5Fclose(f);
}

/* SIGTERM: the step finishes, the file closes cleanly, exit 128 + 15. */
static void test_sigterm_closes_run_file_cleanly(void)
{
    char dir[512], run[600];
    test_dir("sigterm", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/term.h5", dir);
    child c;
    CU_ASSERT_FATAL(start_long_run(&c, dir, "term", run, "1") > 0);
    long live_rows, flushed = wait_for_rows(run, 3, c.pid, 60, &live_rows);
    CU_ASSERT(flushed >= 3);
    kill(c.pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_child(&c, 60), 128 + SIGTERM);
    gf_err err;
    hid_t f = gf_h5_open_read(run, 0, &err); /* closed: no SWMR needed */
    CU_ASSERT_FATAL(f >= 0);
    long rows = common_rows(f);
    CU_ASSERT(rows >= flushed && rows >= 3);
    CU_ASSERT(steps_consecutive(f, rows));
    CU_ASSERT_EQUAL(read_scalar(f, "status/clean_close"), 1);
    CU_ASSERT_EQUAL(read_scalar(f, "status/rows_flushed"), (double)rows);
    /* one epoch row for the partial epoch, at the last step */
    size_t r, cols;
    double *estep = read_series(f, "epochs/step", &r, &cols);
    CU_ASSERT(estep && r == 1 && estep[0] == (double)rows);
    free(estep);
    H5Fclose(f);
    char *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stopped by SIGTERM"));
    free(out);
}

/* ------------------------------------------------ 4. unwritable, disk full */

static void test_unwritable_record_path_exits_1_naming_it(void)
{
    char dir[512];
    test_dir("unwritable", dir, sizeof dir);
    const char *bad = "/nonexistent-dir/run.h5";
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=64,H=8,W=8,TEST=16", "--steps", "2", "--batch", "8",
                          "--record", bad, NULL};
    child c;
    CU_ASSERT_EQUAL(test_run_cli(&c, dir, "unwritable", args, 60), 1);
    char *err = slurp(c.err, NULL);
    CU_ASSERT_EQUAL(count_lines(err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, bad));
    free(err);
}

/* Writes failing with EFBIG part-way (RLIMIT_FSIZE): the run stops early with
 * exit status 1 and says why, rather than training on without its records.
 * The limit lets the file be created (~50 kB) and a few flushes through.
 * (Regression: the process once died in HDF5's atexit clean-up after the
 * message, losing the summary; main() now calls H5dont_atexit.) */
static void test_disk_full_stops_run_with_exit_1(void)
{
    char dir[512], run[600];
    test_dir("diskfull", dir, sizeof dir);
    snprintf(run, sizeof run, "%s/full.h5", dir);
    const char *args[] = {"train", "--model", "resnet-8", "--data",
                          "synthetic:N=2048,H=8,W=8,TEST=32", "--steps", "2000", "--batch", "8",
                          "--threads", "1", "--record", run, "--flush-every", "1",
                          "--progress-every", "1000", NULL};
    child c;
    CU_ASSERT_FATAL(spawn(&c, dir, "full", args, 256 * 1024) > 0);
    int code = wait_child(&c, 120);
    CU_ASSERT(code < SIGNALLED); /* not a crash */
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT(file_exists(run));
    char *err = slurp(c.err, NULL), *out = slurp(c.out, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "disk full"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, run));
    const char *sum = strstr(out, "summary: resnet-8, ");
    long steps = -1;
    CU_ASSERT(sum && sscanf(sum, "summary: resnet-8, %ld steps", &steps) == 1);
    CU_ASSERT(steps > 0 && steps < 2000);
    if (code != 1)
        fprintf(stderr, "\n    exit %d; stderr: %s", code, err);
    free(err), free(out);
}

/* ------------------------------------------------ 5. checkpoint + resume */

/* Every element of dset in files a and b, bit for bit. */
static int same_bits(hid_t a, hid_t b, const char *dset)
{
    size_t ra, ca, rb, cb;
    double *va = read_series(a, dset, &ra, &ca), *vb = read_series(b, dset, &rb, &cb);
    int same = va && vb && ra == rb && ca == cb && ra > 0 &&
               memcmp(va, vb, ra * ca * sizeof *va) == 0;
    if (!same)
        fprintf(stderr, "\n    %s differs (%zu x %zu vs %zu x %zu)", dset, ra, ca, rb, cb);
    free(va), free(vb);
    return same;
}

/* The tensors under /params of two weights files, bit for bit. */
static int same_weights(const char *pa, const char *pb)
{
    gf_err err;
    hid_t a = gf_h5_open_read(pa, 0, &err), b = gf_h5_open_read(pb, 0, &err);
    char **names = NULL;
    int count = 0, same = a >= 0 && b >= 0 && gf_h5_list(a, pa, "params", &names, &count,
                                                         &err) == 0 && count > 20;
    for (int i = 0; same && i < count; i++) {
        char d[160];
        float *va = NULL, *vb = NULL;
        size_t na = 0, nb = 0, dims[8];
        int nd;
        snprintf(d, sizeof d, "params/%s", names[i]);
        same = gf_h5_read_floats(a, pa, d, &va, &na, &nd, dims, &err) == 0 &&
               gf_h5_read_floats(b, pb, d, &vb, &nb, &nd, dims, &err) == 0 && na == nb &&
               memcmp(va, vb, na * sizeof *va) == 0;
        if (!same)
            fprintf(stderr, "\n    %s differs between %s and %s", d, pa, pb);
        free(va), free(vb);
    }
    gf_h5_names_free(names, count);
    if (a >= 0)
        H5Fclose(a);
    if (b >= 0)
        H5Fclose(b);
    return same;
}

static void compare_resumed(const char *ra, const char *rb, const char *wa, const char *wb)
{
    gf_err err;
    hid_t a = gf_h5_open_read(ra, 0, &err), b = gf_h5_open_read(rb, 0, &err);
    CU_ASSERT_FATAL(a >= 0 && b >= 0);
    CU_ASSERT_EQUAL(common_rows(a), 24);
    CU_ASSERT_EQUAL(common_rows(b), 24);
    CU_ASSERT(steps_consecutive(b, 24));
    /* the resumed run's clock continues from the kept rows: never backwards */
    size_t n = 0, w = 0;
    double *t = read_series(b, "time", &n, &w);
    for (size_t i = 1; t && i < n; i++)
        CU_ASSERT(t[i] >= t[i - 1]);
    free(t);
    CU_ASSERT(same_bits(a, b, "train/loss"));
    CU_ASSERT(same_bits(a, b, "layers/grad_norm"));
    CU_ASSERT(same_bits(a, b, "blocks/branch_gain"));
    CU_ASSERT(same_bits(a, b, "params/update_norm"));
    CU_ASSERT(same_bits(a, b, "epochs/test_error"));
    CU_ASSERT(same_bits(a, b, "epochs/train_loss"));
    CU_ASSERT_EQUAL(read_scalar(b, "status/clean_close"), 1);
    H5Fclose(a), H5Fclose(b);
    CU_ASSERT(same_weights(wa, wb));
}

/* Run A uninterrupted; run B checkpoints every 5 steps, is SIGKILLed past a
 * checkpoint, and resumes: both must agree bit for bit. */
static void test_resume_after_kill_is_bit_identical(void)
{
    char dir[512], ra[600], rb[600], wa[600], wb[600], ck[600];
    test_dir("resume", dir, sizeof dir);
    snprintf(ra, sizeof ra, "%s/ra.h5", dir), snprintf(rb, sizeof rb, "%s/rb.h5", dir);
    snprintf(wa, sizeof wa, "%s/a.h5", dir), snprintf(wb, sizeof wb, "%s/b.h5", dir);
    snprintf(ck, sizeof ck, "%s/ck.h5", dir);
#define RUN_ARGS "train", "--model", "resnet-8", "--data", "synthetic:N=256,H=12,W=12,TEST=64", \
                 "--epochs", "3", "--batch", "32", "--threads", "2", "--flush-every", "1"
    const char *args_a[] = {RUN_ARGS, "--record", ra, "-o", wa, NULL};
    const char *args_b[] = {RUN_ARGS, "--record", rb, "-o", wb, "--checkpoint", ck,
                            "--checkpoint-every", "5", NULL};
#undef RUN_ARGS
    child a, b;
    CU_ASSERT_FATAL(spawn(&a, dir, "a", args_a, 0) > 0);
    CU_ASSERT_FATAL(spawn(&b, dir, "b", args_b, 0) > 0);
    /* kill B one to three steps after a checkpoint (every 5 steps) */
    long ck_step = -1, rows = -1, flushed = -1;
    double t0 = now();
    while (now() - t0 < 90 && running(b.pid)) {
        gf_err err;
        hid_t f = file_exists(ck) ? gf_h5_open_read(ck, 0, &err) : -1;
        if (f >= 0 && gf_h5_attr_long(f, ck, "/", "step", &ck_step, &err) != 0)
            ck_step = -1;
        if (f >= 0)
            H5Fclose(f);
        flushed = live_flushed(rb, &rows);
        if (ck_step > 0 && flushed > ck_step && flushed <= ck_step + 3)
            break;
        sleep_ms(5);
    }
    kill(b.pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_child(&b, 30), SIGNALLED + SIGKILL);
    gf_err err;
    hid_t f = gf_h5_open_read(ck, 0, &err);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(gf_h5_attr_long(f, ck, "/", "step", &ck_step, &err) == 0 && ck_step % 5 == 0);
    H5Fclose(f);
    live_flushed(rb, &rows);
    CU_ASSERT(rows > ck_step); /* the resumed run must drop and redo rows */
    CU_ASSERT(!file_exists(wb));
    const char *args_r[] = {"train", "--resume", ck, NULL};
    CU_ASSERT_EQUAL(test_run_cli(&b, dir, "resumed", args_r, 120), 0);
    CU_ASSERT_EQUAL(wait_child(&a, 120), 0);
    char *out = slurp(b.out, NULL), want[64];
    snprintf(want, sizeof want, "at step %ld", ck_step);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    free(out);
    compare_resumed(ra, rb, wa, wb);
}

/* ------------------------------------------------ 6. bad input files */

/* An HDF5 file with one dataset 'x', or (schema != NULL) just a root
 * attribute schema. */
static int make_foreign_h5(const char *path, const char *schema)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return -1;
    int rc = 0;
    if (schema) {
        rc = gf_h5_set_attr_string(f, "schema", schema);
    } else {
        hsize_t n = 4;
        const float x[4] = {1, 2, 3, 4};
        rc = gf_h5_write_floats(f, "x", x, 1, &n);
    }
    return H5Fclose(f) < 0 || rc ? -1 : 0;
}

/* The bad files of dir: truncated and bit-flipped run files, a foreign HDF5
 * file, a wrong-schema file and a text file. */
static int make_bad_files(const char *dir, char paths[5][600])
{
    char good[600];
    size_t n = 0;
    char *run = test_record_by_hand("resnet-8", dir, good, sizeof good) == 0 ? slurp(good, &n)
                                                                               : NULL;
    static const char *names[5] = {"truncated.h5", "flipped.h5", "foreign.h5",
                                   "wrong-schema.h5", "text.h5"};
    for (int i = 0; i < 5; i++)
        snprintf(paths[i], 600, "%s/%s", dir, names[i]);
    int rc = !run || n < 4096 || write_bytes(paths[0], run, n / 2);
    /* flip the middle third: object headers and B-trees, not only raw data */
    for (size_t i = n / 3; run && i < 2 * n / 3; i += 7)
        run[i] ^= 0x5A;
    rc = rc || write_bytes(paths[1], run, n) || make_foreign_h5(paths[2], NULL) ||
         make_foreign_h5(paths[3], "something-else") ||
         write_bytes(paths[4], "just some text, not HDF5\n", 25);
    free(run);
    return rc ? -1 : 0;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Runs one reader on one bad file: exit 1 or 2, not a signal, not a hang,
 * one stderr line naming the file, and no new files in dir. */
static void check_refusal(const char *dir, const char *tag, const char *const *args,
                          const char *bad, const char *outputs[3])
{
    int before = count_entries(dir);
    child c;
    int code = test_run_cli(&c, dir, tag, args, 10);
    char *err = slurp(c.err, NULL);
    int ok = (code == 1 || code == 2) && count_lines(err) == 1 && strstr(err, bad);
    for (int i = 0; outputs && i < 3; i++)
        ok &= !file_exists(outputs[i]);
    ok &= count_entries(dir) == before + 2; /* only tag.out and tag.err */
    if (!ok)
        fprintf(stderr, "\n    %s: exit %d%s, stderr: %s", tag, code,
                code >= SIGNALLED ? " (signal)" : code == TIMED_OUT ? " (hung)" : "", err);
    CU_ASSERT(code != TIMED_OUT && code < SIGNALLED);
    CU_ASSERT(ok);
    free(err);
}

/* Every reader refuses every bad file quickly. (Regression: `inspect` once
 * hung on a bit-flipped run file: an SWMR open retries a metadata checksum
 * failure 100 times with doubling sleeps; gf_h5_open_read bounds it.) */
static void test_bad_files_refused_by_every_reader(void)
{
    char dir[512], out_dir[600], paths[5][600], o[3][700];
    test_dir("bad", dir, sizeof dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    mkdir(out_dir, 0755);
    CU_ASSERT_FATAL(make_bad_files(dir, paths) == 0);
    snprintf(o[0], sizeof o[0], "%s/w.h5", out_dir);
    snprintf(o[1], sizeof o[1], "%s/run.h5", out_dir);
    snprintf(o[2], sizeof o[2], "%s/ck.h5", out_dir);
    const char *outputs[3] = {o[0], o[1], o[2]};
    static const char *kinds[5] = {"truncated", "flipped", "foreign", "schema", "text"};
    for (int i = 0; i < 5; i++) {
        const char *p = paths[i];
        char tag[64];
        const char *inspect[] = {"inspect", p, NULL}, *verify[] = {"verify", p, NULL};
        const char *init[] = {"train", "--model", "resnet-8", "--data",
                              "synthetic:N=64,H=8,W=8,TEST=16", "--steps", "1", "--batch", "8",
                              "--init", p, "-o", o[0], "--record", o[1], "--checkpoint", o[2],
                              NULL};
        const char *resume[] = {"train", "--resume", p, NULL};
        snprintf(tag, sizeof tag, "inspect-%s", kinds[i]);
        check_refusal(out_dir, tag, inspect, p, NULL);
        snprintf(tag, sizeof tag, "verify-%s", kinds[i]);
        check_refusal(out_dir, tag, verify, p, NULL);
        snprintf(tag, sizeof tag, "init-%s", kinds[i]);
        check_refusal(out_dir, tag, init, p, outputs);
        snprintf(tag, sizeof tag, "resume-%s", kinds[i]);
        check_refusal(out_dir, tag, resume, p, outputs);
    }
}

int suite_durability_register(void)
{
    static const test_entry tests[] = {
        {"killed run keeps flushed rows", test_killed_run_keeps_flushed_rows},
        {"kill mid-flush keeps rows_flushed rows whole",
         test_kill_mid_flush_keeps_rows_flushed_whole},
        {"SIGTERM closes the run file cleanly", test_sigterm_closes_run_file_cleanly},
        {"unwritable record path exits 1 naming it",
         test_unwritable_record_path_exits_1_naming_it},
        {"disk full stops the run with exit 1", test_disk_full_stops_run_with_exit_1},
        {"resume after SIGKILL is bit-identical", test_resume_after_kill_is_bit_identical},
        {"bad files refused by every reader", test_bad_files_refused_by_every_reader},
    };
    return test_register("durability", tests, sizeof tests / sizeof tests[0]);
}
