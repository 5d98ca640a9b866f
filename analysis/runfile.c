/* runfile.c — the analysis commands' shared reader of run files, their
 * tables and their whole-file output (runfile.h). */
#include "runfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gradflow/record.h"

#define RUN_SCHEMA "gradflow-run"
#define RUN_SCHEMA_VERSION 1

static const char *const epoch_dsets[RF_N_EPOCH_SERIES] = {
    "epochs/epoch",     "epochs/step",       "epochs/train_loss", "epochs/train_error",
    "epochs/test_loss", "epochs/test_error", "epochs/val_loss",   "epochs/val_error"};

/* A 1-D series, all of it; *len receives its length. */
static float *read_1d(const rf_run *r, const char *dset, int *len, gf_err *err)
{
    float *v;
    size_t n, dims[8];
    int nd;
    if (gf_h5_read_floats(r->file, r->path, dset, &v, &n, &nd, dims, err))
        return NULL;
    if (nd != 1) {
        free(v);
        gf_err_set(err, "%s: '%s' is not 1-D (corrupt run file?)", r->path, dset);
        return NULL;
    }
    *len = (int)n;
    return v;
}

/* Opens SWMR first (live and killed runs need it); a foreign file written
 * without SWMR support only opens plainly, and then earns a precise "not a
 * run file" rather than "corrupt". */
static int open_checked(rf_run *r, gf_err *err)
{
    r->file = gf_h5_open_read(r->path, 1, err);
    if (r->file < 0)
        r->file = gf_h5_open_read(r->path, 0, NULL);
    if (r->file < 0)
        return -1;
    char schema[64] = "", format[64] = "";
    long version = 0;
    if (gf_h5_attr_string(r->file, r->path, "/", "schema", schema, sizeof schema, NULL) ||
        strcmp(schema, RUN_SCHEMA) != 0) {
        /* weights, checkpoints and reference cases carry a format instead */
        gf_h5_attr_string(r->file, r->path, "/", "format", format, sizeof format, NULL);
        return gf_err_set(err, "%s: not a gradflow run file (%s%s%s)", r->path,
                          schema[0] ? "schema '" : format[0] ? "format '" : "no schema attribute",
                          schema[0] ? schema : format, schema[0] || format[0] ? "'" : "");
    }
    if (gf_h5_attr_long(r->file, r->path, "/", "schema_version", &version, err))
        return -1;
    if (version < 1 || version > RUN_SCHEMA_VERSION)
        return gf_err_set(err, "%s: run file schema version %ld, this gradflow reads %d",
                          r->path, version, RUN_SCHEMA_VERSION);
    return 0;
}

static int read_attrs(rf_run *r, gf_err *err)
{
    hid_t f = r->file;
    const char *p = r->path;
    return gf_h5_attr_string(f, p, "/", "model", r->model, sizeof r->model, err) ||
           gf_h5_attr_string(f, p, "/", "family", r->family, sizeof r->family, err) ||
           gf_h5_attr_string(f, p, "/", "shortcut", r->shortcut, sizeof r->shortcut, err) ||
           gf_h5_attr_string(f, p, "/", "data", r->data, sizeof r->data, err) ||
           gf_h5_attr_string(f, p, "/", "start_time", r->start_time, sizeof r->start_time,
                             err) ||
           gf_h5_attr_long(f, p, "/", "depth", &r->depth, err) ||
           gf_h5_attr_long(f, p, "/", "num_params", &r->num_params, err) ||
           gf_h5_attr_long(f, p, "/", "record_every", &r->record_every, err)
               ? -1
               : 0;
}

/* A string table; *n < 0: any length, which is stored in *n; otherwise it
 * must have *n entries. *out is set only on success, so rf_close can free
 * each table with its count. */
static int read_names(rf_run *r, const char *dset, char ***out, int *n, gf_err *err)
{
    char **v;
    int count;
    if (gf_h5_read_strings(r->file, r->path, dset, &v, &count, err))
        return -1;
    if (*n >= 0 && count != *n) {
        gf_h5_names_free(v, count);
        return gf_err_set(err, "%s: '%s' has %d entries, expected %d (corrupt run file?)",
                          r->path, dset, count, *n);
    }
    *out = v, *n = count;
    return 0;
}

/* Note: gf_h5_read_strings reads with an ASCII memory type; HDF5 1.10 only
 * converts the file's UTF-8 strings to it once a UTF-8 string conversion
 * has happened in the process, which the schema attribute read in
 * open_checked provides. Keep that read first. */
static int read_tables(rf_run *r, gf_err *err)
{
    int len;
    r->n_layers = r->n_blocks = r->n_params = -1;
    if (read_names(r, "model/layers/name", &r->layer_name, &r->n_layers, err) ||
        read_names(r, "model/layers/kind", &r->layer_kind, &r->n_layers, err) ||
        read_names(r, "model/blocks/name", &r->block_name, &r->n_blocks, err) ||
        read_names(r, "model/blocks/kind", &r->block_kind, &r->n_blocks, err) ||
        read_names(r, "model/params/name", &r->param_name, &r->n_params, err))
        return -1;
    float *block = read_1d(r, "model/layers/block", &len, err);
    if (!block)
        return -1;
    r->layer_block = malloc((size_t)len * sizeof *r->layer_block + 1);
    int rc = !r->layer_block ? gf_err_set(err, "out of memory")
             : len != r->n_layers || len < 1
                 ? gf_err_set(err, "%s: model/layers/block has %d entries for %d layers",
                              r->path, len, r->n_layers)
                 : 0;
    for (int i = 0; !rc && i < len; i++)
        r->layer_block[i] = (int)block[i];
    free(block);
    return rc;
}

/* An unfinished run's epoch rows count once the per-step rows through their
 * step are flushed: the writer appends the epoch row, then flushes those
 * rows, then bumps rows_flushed (read first, so never ahead of what we
 * see). A row whose epoch or step reads as the fill value 0 is in flight. */
static void trim_epochs(rf_run *r)
{
    double covered = r->rows ? r->step[r->rows - 1] + (double)r->record_every : 0;
    for (int i = r->epoch_rows - 1; !r->clean_close && i >= 0; i--)
        if (!(r->epoch[RF_EPOCH][i] >= 1 && r->epoch[RF_EP_STEP][i] >= 1 &&
              r->epoch[RF_EP_STEP][i] < covered))
            r->epoch_rows = i;
}

/* Status, then the 1-D series; rows = the shortest of them and
 * rows_flushed, so a reader racing the writer sees whole rows only. */
static int read_series_1d(rf_run *r, gf_err *err)
{
    int n, m = 0;
    float *clean = read_1d(r, "status/clean_close", &n, err);
    float *flushed = clean && n > 0 ? read_1d(r, "status/rows_flushed", &m, err) : NULL;
    int ok = flushed && m > 0;
    if (ok)
        r->clean_close = clean[0] == 1, r->rows_flushed = (long)flushed[0];
    free(clean), free(flushed);
    if (!ok)
        return gf_err_set(err, "%s: run file lacks its status (corrupt?)", r->path);
    r->rows = (int)r->rows_flushed;
    const char *names[] = {"step", "time", "train/loss", "train/error", "train/lr"};
    float **dst[] = {&r->step, &r->time, &r->loss, &r->error, &r->lr};
    for (int s = 0; s < 5; s++) {
        if (!(*dst[s] = read_1d(r, names[s], &n, err)))
            return -1;
        r->rows = n < r->rows ? n : r->rows;
    }
    r->epoch_rows = -1;
    for (int s = 0; s < RF_N_EPOCH_SERIES; s++) {
        if (!(r->epoch[s] = read_1d(r, epoch_dsets[s], &n, err)))
            return -1;
        r->epoch_rows = r->epoch_rows < 0 || n < r->epoch_rows ? n : r->epoch_rows;
    }
    trim_epochs(r);
    return 0;
}

/* The schedule's length from the run's attributes, and the last step the
 * file holds (recorded, or evaluated when --record-every skipped the last
 * steps): a cleanly closed run that stopped short (Ctrl-C, SIGTERM, a hook)
 * is not finished, and a depth trend must not read it as if it were. */
static void read_schedule(rf_run *r)
{
    r->planned_steps = gf_record_planned_steps(r->file, r->path);
    r->last_step = r->rows ? (long)r->step[r->rows - 1] : 0;
    if (r->epoch_rows && (long)r->epoch[RF_EP_STEP][r->epoch_rows - 1] > r->last_step)
        r->last_step = (long)r->epoch[RF_EP_STEP][r->epoch_rows - 1];
    r->completed = r->clean_close && (r->planned_steps <= 0 || r->last_step >= r->planned_steps);
}

/* Finished, stopped, or which of live / killed is likely: the file itself
 * cannot tell the last two apart, but a live writer flushes at least every
 * flush_seconds (attribute; 10 s by default), so a file untouched for much
 * longer was abandoned. */
static void describe_status(rf_run *r)
{
    double every = 10;
    struct stat st;
    gf_h5_attr_double(r->file, r->path, "/", "flush_seconds", &every, NULL);
    double age = stat(r->path, &st) == 0 ? difftime(time(NULL), st.st_mtime) : -1;
    if (r->clean_close && !r->completed)
        snprintf(r->status, sizeof r->status, "stopped at step %ld of %ld, closed cleanly "
                 "(status/clean_close 1)", r->last_step, r->planned_steps);
    else if (r->clean_close)
        snprintf(r->status, sizeof r->status, "finished (status/clean_close 1)");
    else
        snprintf(r->status, sizeof r->status, "not closed cleanly (status/clean_close 0), last "
                 "written %.0f s ago: probably %s; %ld rows flushed", age,
                 age >= 0 && age <= 3 * every + 5 ? "still training" : "killed", r->rows_flushed);
}

int rf_open(rf_run *r, const char *path, gf_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->file = -1;
    if (open_checked(r, err) || read_attrs(r, err) || read_tables(r, err) ||
        read_series_1d(r, err)) {
        rf_close(r);
        return -1;
    }
    read_schedule(r);
    describe_status(r);
    return 0;
}

static void free_names(char **v, int n)
{
    if (v)
        gf_h5_names_free(v, n);
}

void rf_close(rf_run *r)
{
    if (r->file >= 0)
        H5Fclose(r->file);
    free_names(r->layer_name, r->n_layers), free_names(r->layer_kind, r->n_layers);
    free_names(r->block_name, r->n_blocks), free_names(r->block_kind, r->n_blocks);
    free_names(r->param_name, r->n_params);
    free(r->layer_block);
    free(r->step), free(r->time), free(r->loss), free(r->error), free(r->lr);
    for (int s = 0; s < RF_N_EPOCH_SERIES; s++)
        free(r->epoch[s]);
    const char *path = r->path;
    memset(r, 0, sizeof *r); /* closing twice is harmless */
    r->path = path, r->file = -1;
}

float *rf_series(const rf_run *r, const char *dset, int width, gf_err *err)
{
    float *v;
    size_t n, dims[8];
    int nd;
    if (gf_h5_read_floats(r->file, r->path, dset, &v, &n, &nd, dims, err))
        return NULL;
    if (nd != 2 || dims[1] != (size_t)width || dims[0] < (size_t)r->rows) {
        free(v);
        gf_err_set(err, "%s: '%s' does not have %d rows of %d columns (corrupt run file?)",
                   r->path, dset, r->rows, width);
        return NULL;
    }
    return v; /* row-major: the first rows × width values are the usable rows */
}

double rf_end_error(const rf_run *r, int *rows_used)
{
    int k = r->rows / 10 > 0 ? r->rows / 10 : 1;
    if (rows_used)
        *rows_used = r->rows > 0 ? k : 0;
    if (r->rows < 1)
        return NAN;
    double s = 0;
    for (int i = r->rows - k; i < r->rows; i++)
        s += r->error[i];
    return s / k;
}

int rf_nearest_row(const rf_run *r, double step)
{
    int best = -1;
    for (int i = 0; i < r->rows; i++)
        if (best < 0 || fabs(r->step[i] - step) < fabs(r->step[best] - step))
            best = i;
    return best;
}

int rf_first_layer(const rf_run *r)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < r->n_layers; i++)
            if (strcmp(r->layer_kind[i], pass ? "linear" : "conv") == 0)
                return i;
    return 0;
}

/* ------------------------------------------------------------------ tables */

typedef struct rf_cell {
    char *s;     /* string cells */
    double v;    /* number cells */
    char kind;   /* 's' string, 'n' number, 'i' integer, 'p' percent */
} rf_cell;

struct rf_table {
    int ncols, n, cap, oom;
    char **header;
    rf_cell *c;
};

static char *dup_str(const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    return d ? memcpy(d, s, len) : NULL;
}

rf_table *rf_table_new(int ncols, const char *const *header)
{
    rf_table *t = calloc(1, sizeof *t);
    if (!t || !(t->header = calloc((size_t)ncols, sizeof *t->header))) {
        free(t);
        return NULL;
    }
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        t->oom |= !(t->header[i] = dup_str(header[i]));
    return t;
}

void rf_table_free(rf_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->ncols; i++)
        free(t->header[i]);
    for (int i = 0; i < t->n; i++)
        free(t->c[i].s);
    free(t->header), free(t->c), free(t);
}

static void add_cell(rf_table *t, rf_cell c)
{
    if (!t)
        return;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        rf_cell *n = realloc(t->c, (size_t)cap * sizeof *n);
        if (!n) {
            free(c.s);
            t->oom = 1;
            return;
        }
        t->c = n, t->cap = cap;
    }
    t->c[t->n++] = c;
}

void rf_table_str(rf_table *t, const char *s)
{
    char *d = dup_str(s ? s : "");
    if (t && !d)
        t->oom = 1;
    else
        add_cell(t, (rf_cell){d, 0, 's'});
}
void rf_table_num(rf_table *t, double v) { add_cell(t, (rf_cell){NULL, v, 'n'}); }
void rf_table_int(rf_table *t, long v) { add_cell(t, (rf_cell){NULL, (double)v, 'i'}); }
void rf_table_pct(rf_table *t, double v) { add_cell(t, (rf_cell){NULL, v, 'p'}); }

static const char *cell_text(const rf_cell *c, enum rf_format fmt, char *buf, size_t size)
{
    if (c->kind == 's')
        return c->s;
    if (isnan(c->v))
        return fmt == RF_CSV ? "" : "-";
    if (c->kind == 'i')
        snprintf(buf, size, "%.0f", c->v);
    else if (fmt == RF_CSV)
        snprintf(buf, size, "%.9g", c->v);
    else if (c->kind == 'p')
        snprintf(buf, size, "%.2f%%", 100 * c->v);
    else
        snprintf(buf, size, "%.4g", c->v);
    return buf;
}

/* CSV quoting (RFC 4180) only where needed. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++)
        fputs(*s == '"' ? "\"\"" : (char[2]){*s, 0}, f);
    fputc('"', f);
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++)
        fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '"' ? "&quot;"
              : (char[2]){*s, 0}, f);
}

static void md_field(FILE *f, const char *s)
{
    for (; *s; s++)
        fputs(*s == '|' ? "\\|" : (char[2]){*s, 0}, f);
}

/* Column alignment: numbers right, strings left (by the first data row). */
static int col_numeric(const rf_table *t, int col)
{
    return t->n > col && t->c[col].kind != 's';
}

/* Field width for printf: numbers right-aligned, strings left-aligned, and
 * the last column unpadded so no line ends in blanks. */
static int field_width(const rf_table *t, const int *w, int j, int nc)
{
    return col_numeric(t, j) ? w[j] : j < nc - 1 ? -w[j] : 0;
}

static void write_text(const rf_table *t, FILE *f)
{
    int w[64] = {0}, nc = t->ncols < 64 ? t->ncols : 64;
    char buf[64];
    for (int j = 0; j < nc; j++)
        w[j] = (int)strlen(t->header[j]);
    for (int i = 0; i < t->n; i++) {
        int len = (int)strlen(cell_text(&t->c[i], RF_TEXT, buf, sizeof buf));
        if (i % t->ncols < nc && len > w[i % t->ncols])
            w[i % t->ncols] = len;
    }
    for (int j = 0; j < nc; j++)
        fprintf(f, "%s%*s", j ? "  " : "", field_width(t, w, j, nc), t->header[j]);
    fputc('\n', f);
    for (int i = 0; i < t->n; i++) {
        int j = i % t->ncols;
        if (j < nc)
            fprintf(f, "%s%*s", j ? "  " : "", field_width(t, w, j, nc),
                    cell_text(&t->c[i], RF_TEXT, buf, sizeof buf));
        if (j == t->ncols - 1)
            fputc('\n', f);
    }
}

int rf_table_write(const rf_table *t, FILE *f, enum rf_format fmt)
{
    if (!t || t->oom)
        return -1;
    if (fmt == RF_TEXT) {
        write_text(t, f);
        return 0;
    }
    char buf[64];
    static const char *lead[] = {"", "| ", "<tr><th>", ""}, *sep[] = {"", " | ", "</th><th>", ","},
                      *tail[] = {"", " |\n", "</th></tr>\n", "\n"};
    if (fmt == RF_HTML)
        fputs("<table>\n<thead>", f);
    for (int j = 0; j < t->ncols; j++) {
        fputs(j ? sep[fmt] : lead[fmt], f);
        fmt == RF_HTML ? html_escape(f, t->header[j]) : (void)fputs(t->header[j], f);
    }
    fputs(tail[fmt], f);
    for (int j = 0; fmt == RF_MD && j < t->ncols; j++)
        fputs(col_numeric(t, j) ? "|---:" : "|---", f);
    fputs(fmt == RF_MD ? "|\n" : fmt == RF_HTML ? "</thead>\n<tbody>\n" : "", f);
    for (int i = 0; i < t->n; i++) {
        int j = i % t->ncols;
        const char *s = cell_text(&t->c[i], fmt, buf, sizeof buf);
        if (fmt == RF_CSV) {
            fputs(j ? "," : "", f), csv_field(f, s);
        } else if (fmt == RF_MD) {
            fputs(j ? " | " : "| ", f), md_field(f, s);
        } else {
            fputs(j ? "" : "<tr>", f);
            fputs(col_numeric(t, j) ? "<td class=\"num\">" : "<td>", f);
            html_escape(f, s), fputs("</td>", f);
        }
        if (j == t->ncols - 1)
            fputs(fmt == RF_CSV ? "\n" : fmt == RF_MD ? " |\n" : "</tr>\n", f);
    }
    if (fmt == RF_HTML)
        fputs("</tbody>\n</table>\n", f);
    return 0;
}

/* ---------------------------------------------------------------- documents */

static const char css[] =
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}"
    "th,td{border:1px solid #ccc;padding:.2rem .5rem}th{background:#f0f0f0}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "tbody tr:nth-child(even){background:#fafafa}figure{margin:1rem 0}p.note{color:#555}\n";

static int doc_write(FILE *f, const rf_doc *d, int html)
{
    int rc = 0;
    if (html) {
        fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
        html_escape(f, d->title);
        fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
        html_escape(f, d->title), fputs("</h1>\n", f);
    } else {
        fprintf(f, "# %s\n\n", d->title);
    }
    for (const rf_section *s = d->sec; s < d->sec + d->n; s++) {
        if (html) {
            fprintf(f, "<section%s%s%s>\n<h2>", s->id ? " id=\"" : "", s->id ? s->id : "",
                    s->id ? "\"" : "");
            html_escape(f, s->title), fputs("</h2>\n", f);
            if (s->html)
                fputs(s->html, f);
            else if (s->text[0])
                fputs("<p class=\"note\">", f), html_escape(f, s->text), fputs("</p>\n", f);
        } else {
            fprintf(f, "## %s\n\n%s%s", s->title, s->text, s->text[0] ? "\n\n" : "");
        }
        if (s->shown)
            rc |= rf_table_write(s->shown, f, html ? RF_HTML : RF_MD);
        fputs(html ? "</section>\n" : s->shown ? "\n" : "", f);
    }
    fputs(html ? "</body>\n</html>\n" : "", f);
    return rc;
}

int rf_doc_md(FILE *f, const void *doc) { return doc_write(f, doc, 0); }
int rf_doc_html(FILE *f, const void *doc) { return doc_write(f, doc, 1); }
int rf_table_csv(FILE *f, const void *table) { return rf_table_write(table, f, RF_CSV); }

/* ------------------------------------------------------------ output files */

int rf_write_file(const char *path, int (*fill)(FILE *, const void *), const void *arg,
                  gf_err *err)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    /* O_EXCL: never write through a link someone left at the temp name. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd), unlink(tmp);
        return gf_err_set(err, "%s: cannot create (%s)", path, strerror(e));
    }
    int oom = fill(f, arg), bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    bad |= fclose(f) != 0;
    if (oom || bad || rename(tmp, path) != 0) {
        e = bad ? e : errno;
        unlink(tmp);
        return oom ? gf_err_set(err, "%s: out of memory building the tables", path)
                   : gf_err_set(err, "%s: cannot write (%s)", path, strerror(e));
    }
    return 0;
}

int rf_mkdirs(const char *dir, gf_err *err)
{
    char buf[1024];
    if (!dir[0])
        return gf_err_set(err, "empty directory name");
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && (errno != EEXIST || stat(buf, &st) || !S_ISDIR(st.st_mode)))
            return gf_err_set(err, "%s: cannot create directory (%s)", buf,
                              errno == EEXIST ? "a file is in the way" : strerror(errno));
        if (c == '\0')
            return 0;
        *p = '/';
    }
}

char *rf_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        buf[n] = '\0';
    else
        free(buf), buf = NULL;
    if (f)
        fclose(f);
    return buf;
}
