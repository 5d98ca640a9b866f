/* runfile.h — what the analysis commands share: a checked reader of run
 * files (docs/run-file.md), a small table that prints as aligned text,
 * Markdown, HTML or CSV, and whole-file output (temp name, then rename).
 *
 * A run file may be finished, still being written, or left by a killed run.
 * rf_open reads it through SWMR and keeps only the per-step rows counted by
 * status/rows_flushed: the writer extends each series in turn and bumps that
 * counter last, so rows past it may be half-written. Epoch rows of an
 * unfinished run count once the step rows through their step are flushed.
 *
 * Usage:
 *   rf_run r;
 *   if (rf_open(&r, path, &err)) fail(err.msg);
 *   float *g = rf_series(&r, "layers/grad_norm", r.n_layers, &err); // rows × n_layers
 *   ...
 *   free(g); rf_close(&r); */
#ifndef GRADFLOW_ANALYSIS_RUNFILE_H
#define GRADFLOW_ANALYSIS_RUNFILE_H

#include <stdio.h>

#include "gradflow/h5io.h"

/* Per-epoch series, in file order (epochs/<name>). */
enum { RF_EPOCH, RF_EP_STEP, RF_TRAIN_LOSS, RF_TRAIN_ERR, RF_TEST_LOSS, RF_TEST_ERR,
       RF_VAL_LOSS, RF_VAL_ERR, RF_N_EPOCH_SERIES };

typedef struct rf_run {
    const char *path;
    hid_t file;
    char model[64], family[32], shortcut[16], data[256], start_time[64];
    long depth, num_params, record_every;
    int clean_close;  /* 1: closed cleanly (finished or stopped); 0: training or killed */
    long planned_steps; /* the schedule's steps (attributes steps, or epochs x
                           ceil(n_train / batch)); 0 when the file cannot say */
    long last_step;     /* the last step recorded or evaluated */
    int completed;      /* closed cleanly after the whole schedule */
    char status[200]; /* for people: finished, stopped at step s of n, or
                         probably live / killed (by mtime) */
    long rows_flushed;
    int rows;         /* usable per-step rows (<= rows_flushed) */
    int n_layers, n_blocks, n_params;
    char **layer_name, **layer_kind, **block_name, **block_kind, **param_name;
    int *layer_block; /* block index of each layer, -1 for stem and head */
    float *step, *time, *loss, *error, *lr; /* [rows] */
    int epoch_rows;
    float *epoch[RF_N_EPOCH_SERIES];        /* [epoch_rows] each */
} rf_run;

/* Opens and validates a run file (schema gradflow-run) and reads its
 * attributes, model tables, status and 1-D series. Fails with one line
 * naming the file: missing, not HDF5, corrupt or truncated, not a run file.
 * path must outlive r. On failure nothing needs closing. */
int rf_open(rf_run *r, const char *path, gf_err *err);
void rf_close(rf_run *r);

/* A per-step series [rows × width] as float32 (malloc'ed), checked against
 * the model table's width; NULL with err set on failure. */
float *rf_series(const rf_run *r, const char *dset, int width, gf_err *err);

/* The training error at the end of training: the mean of train/error over
 * the last tenth of the rows (at least one), as the mini-batches it trained
 * on measured it. An epoch's mean would be dominated by a short run's first
 * steps. *rows_used (if non-NULL) gets how many rows were averaged; NaN and
 * 0 without rows. demo, depth and `plot depth` all judge on it. */
double rf_end_error(const rf_run *r, int *rows_used);

/* Row of the recorded step nearest to step (ties: the earlier); -1 if no rows. */
int rf_nearest_row(const rf_run *r, double step);
/* The numerator layer of the first/last-layer gradient ratio: the first
 * conv, or for MLPs the first linear layer (the stem's weights). */
int rf_first_layer(const rf_run *r);

/* ------------------------------------------------------------------ tables */

enum rf_format { RF_TEXT, RF_MD, RF_HTML, RF_CSV };

/* A table of cells appended row-major. Numbers keep full precision in CSV
 * (%.9g, float32 round-trips) and print as 4 significant digits elsewhere;
 * percent cells hold a fraction shown as "12.34%" (CSV keeps the fraction).
 * NaN prints as "-" (CSV: empty). Allocation failures are remembered and
 * reported by rf_table_write. */
typedef struct rf_table rf_table;
rf_table *rf_table_new(int ncols, const char *const *header);
void rf_table_free(rf_table *t);
void rf_table_str(rf_table *t, const char *s);
void rf_table_num(rf_table *t, double v);
void rf_table_int(rf_table *t, long v);
void rf_table_pct(rf_table *t, double fraction);
/* Writes t in fmt; returns 0, or -1 when the table lost a cell to OOM. */
int rf_table_write(const rf_table *t, FILE *f, enum rf_format fmt);

/* A document: sections of a heading, a paragraph and a table, written as
 * Markdown or as one self-contained HTML page (inline CSS). html, when
 * set, is raw markup the HTML page shows instead of the paragraph (figures:
 * inline SVG or data: URIs keep the page one file). csv and full are for
 * the caller: the file that receives the table's full version when the
 * document shows a subsample (full == shown otherwise). */
typedef struct rf_section {
    char title[160], text[8192];
    const char *id, *html, *csv; /* id: the HTML section's id attribute, or NULL */
    rf_table *shown, *full;
} rf_section;
typedef struct rf_doc {
    const char *title;
    const rf_section *sec;
    int n;
} rf_doc;
/* Fill functions for rf_write_file: arg is an rf_doc or an rf_table. */
int rf_doc_md(FILE *f, const void *doc);
int rf_doc_html(FILE *f, const void *doc);
int rf_table_csv(FILE *f, const void *table);

/* ------------------------------------------------------------ output files */

/* Writes path whole or not at all: fill(f, arg) writes a temporary file
 * beside path, which replaces path only if fill returned 0 and every write
 * succeeded (fill fails only for want of memory). */
int rf_write_file(const char *path, int (*fill)(FILE *, const void *), const void *arg,
                  gf_err *err);
/* A whole file as a malloc'ed, NUL-terminated string; NULL on failure. */
char *rf_slurp(const char *path);
/* Creates dir and its parents (like mkdir -p). */
int rf_mkdirs(const char *dir, gf_err *err);

#endif
