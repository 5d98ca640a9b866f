/* plot.c — the figure driver (plot.h): finds the kind's template, lets the
 * kind's builder write the data and the script's variables, assembles the
 * script and runs gnuplot on it (fork/execvp, no shell), writing the figure
 * whole or not at all. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot_internal.h"

/* The kinds: public name, inputs and summary, then the builder, the input
 * count range and the default canvas (PNG pixels; SVG alike, PDF at 128
 * px per inch). Two- and three-panel figures get wider canvases so every
 * panel stays readable at one paper column per panel row. */
typedef struct kind_impl {
    int (*build)(plot_ctx *c, gf_err *err);
    int min_in, max_in, steps, w, h, multi;
} kind_impl;

const plot_kind_info plot_kinds[] = {
    {"curves", "RUN...", "train/test error vs steps; plain, residual panels"},
    {"depth", "RUN...", "final train/test error vs depth, per family"},
    {"profile", "RUN... [--steps]", "gradient norm per weighted layer (log y)"},
    {"heatmap", "RUN", "log10 gradient norm over layer x step"},
    {"split", "RUN [--steps]", "per block: identity and branch parts, share"},
    {"paths", "PATHS.h5...", "paths, gradient per path, total by length"},
    {"responses", "RUN... [--steps]", "std of 3x3 responses, in order and sorted"},
    {"updates", "RUN", "update/weight ratio per tensor over time (log y)"},
};
const int plot_n_kinds = (int)(sizeof plot_kinds / sizeof plot_kinds[0]);

static const kind_impl impls[] = {
    {fig_curves, 1, 64, 0, 1200, 500, 1},   {fig_depth, 1, 256, 0, 720, 500, 0},
    {fig_profile, 1, 16, 1, 720, 500, 0},   {fig_heatmap, 1, 1, 0, 720, 500, 0},
    {fig_split, 1, 1, 1, 720, 540, 0},      {fig_paths, 1, 8, 0, 1500, 500, 1},
    {fig_responses, 1, 16, 1, 720, 760, 1}, {fig_updates, 1, 1, 0, 720, 500, 0},
};

/* ------------------------------------------------------------ variables */

void pc_quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* A path as a gnuplot single-quoted string: no escapes, '' for a quote. */
static void quote_path(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        fputs(*s == '\'' ? "''" : (char[2]){*s, 0}, f);
    fputc('\'', f);
}

void pc_str(plot_ctx *c, const char *name, const char *value)
{
    fprintf(c->vars, "%s = ", name);
    pc_quote(c->vars, value);
    fputc('\n', c->vars);
}

void pc_num(plot_ctx *c, const char *name, double v)
{
    fprintf(c->vars, isfinite(v) ? "%s = %.9g\n" : "%s = NaN\n", name, v);
}

void pc_array(plot_ctx *c, const char *name, int n)
{
    fprintf(c->vars, "array %s[%d]\n", name, n > 0 ? n : 1);
}

void pc_astr(plot_ctx *c, const char *name, int i, const char *value)
{
    fprintf(c->vars, "%s[%d] = ", name, i);
    pc_quote(c->vars, value);
    fputc('\n', c->vars);
}

void pc_anum(plot_ctx *c, const char *name, int i, double v)
{
    fprintf(c->vars, isfinite(v) ? "%s[%d] = %.9g\n" : "%s[%d] = NaN\n", name, i, v);
}

int pc_block(plot_ctx *c, const char *fmt, ...)
{
    if (c->blocks > 0)
        fputs("\n\n", c->dat);
    fprintf(c->dat, "# [index %d] ", c->blocks);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->dat, fmt, ap);
    va_end(ap);
    fputc('\n', c->dat);
    return c->blocks++;
}

void pc_val(plot_ctx *c, double v)
{
    if (isfinite(v))
        fprintf(c->dat, "%.7g ", v);
    else
        fputs("NaN ", c->dat);
}

void pc_eol(plot_ctx *c) { fputc('\n', c->dat); }

/* ------------------------------------------------------------ files */

static char *str_printf(const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

/* "png", "svg" or "pdf" from out's extension (any case); NULL otherwise. */
static const char *out_format(const char *out)
{
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    static const char *fmts[] = {"png", "svg", "pdf"};
    for (int i = 0; dot && (!slash || dot > slash) && i < 3; i++)
        if (strcasecmp(dot + 1, fmts[i]) == 0)
            return fmts[i];
    return NULL;
}

/* The template plots/<kind>.gp (or common.gp): $GF_PLOTS_DIR when set
 * (then only there), else the source tree's plots/, else ./plots. */
static char *find_template(const char *name, gf_err *err)
{
    const char *env = getenv("GF_PLOTS_DIR");
    const char *dirs[2];
    int n = 0;
    if (env && *env) {
        dirs[n++] = env;
    } else {
#ifdef GF_PLOTS_DIR
        dirs[n++] = GF_PLOTS_DIR;
#endif
        dirs[n++] = "plots";
    }
    for (int i = 0; i < n; i++) {
        char *p = str_printf("%s/%s.gp", dirs[i], name);
        if (p && access(p, R_OK) == 0)
            return p;
        free(p);
    }
    if (env && *env)
        gf_err_set(err, "plot template %s.gp not found in $GF_PLOTS_DIR (%s): point it at "
                   "gradflow's plots/ directory", name, env);
    else
        gf_err_set(err, "plot template %s.gp not found in %s%s%s (set GF_PLOTS_DIR to gradflow's "
                   "plots/ directory)", name, dirs[0], n > 1 ? " or " : "", n > 1 ? dirs[1] : "");
    return NULL;
}

/* Appends the whole file at path to f. */
static int append_file(FILE *f, const char *path, gf_err *err)
{
    FILE *in = fopen(path, "r");
    if (!in)
        return gf_err_set(err, "%s: %s", path, strerror(errno));
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, f);
    int bad = ferror(in);
    fclose(in);
    return bad ? gf_err_set(err, "%s: read error", path) : 0;
}

/* Writes data to path whole: a temporary name, then rename. */
static int write_whole(const char *path, const char *data, size_t len, gf_err *err)
{
    char *tmp = str_printf("%s.tmp%ld", path, (long)getpid());
    FILE *f = tmp ? fopen(tmp, "w") : NULL;
    if (!f) {
        gf_err_set(err, "%s: %s", tmp ? tmp : path, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        gf_err_set(err, "%s: %s", path, bad ? "write failed" : strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* The terminal for fmt at w x h pixels, with a sans font of FS points
 * (PNG: pixels) so a single-panel figure still reads when shrunk to a paper
 * column. SVG uses the same pixels; PDF is w/128 inches wide with fonts,
 * lines and points scaled to keep the PNG's proportions. */
#define PLOT_FONT_SIZE 14
static void write_terminal(FILE *f, const char *fmt, int w, int h)
{
    fprintf(f, "FS = %d   # base font size; titles and notes scale with it\n", PLOT_FONT_SIZE);
    if (strcmp(fmt, "png") == 0)
        fprintf(f, "set terminal pngcairo size %d,%d enhanced font 'Sans,%d' linewidth 1.4 "
                   "pointscale 1.1 rounded background rgb 'white'\n", w, h, PLOT_FONT_SIZE);
    else if (strcmp(fmt, "svg") == 0)
        fprintf(f, "set terminal svg size %d,%d dynamic enhanced font 'sans-serif,%d' "
                   "linewidth 1.4 rounded background rgb 'white'\n", w, h,
                PLOT_FONT_SIZE);
    else
        fprintf(f, "set terminal pdfcairo size %.3fin,%.3fin enhanced font 'Sans,%d' "
                   "fontscale 0.5625 linewidth 0.9 pointscale 0.65 rounded\n", w / 128.0,
                h / 128.0, PLOT_FONT_SIZE);
}

/* The script: how to redraw it, the output, the terminal, the builder's
 * variables, then common.gp and the kind's template verbatim. */
static int assemble_script(const plot_ctx *c, const char *const tmpl[2], const char *kind,
                           const char *fmt, const char *out, const char *dat,
                           const char *vars, char **script, size_t *len, gf_err *err)
{
    FILE *f = open_memstream(script, len);
    int rc = f ? 0 : gf_err_set(err, "out of memory");
    if (f) {
        fprintf(f, "# gradflow plot %s — data: the index blocks of the data file below.\n"
                   "# Redraw (after restyling) with: gnuplot THIS_FILE; run it from the directory\n"
                   "# gradflow plot ran in, or edit datafile and outfile.\n", kind);
        fputs("if (!exists(\"outfile\")) outfile = ", f), quote_path(f, out), fputc('\n', f);
        fputs("datafile = ", f), quote_path(f, dat), fputc('\n', f);
        fprintf(f, "fmt = '%s'\n", fmt);
        write_terminal(f, fmt, c->w, c->h);
        fputs("set output outfile\nset encoding utf8\n\n# ---- figure variables\n", f);
        fputs(vars, f);
        for (int i = 0; i < 2 && !rc; i++) {
            fprintf(f, "\n# ---- %s\n", tmpl[i]);
            rc = append_file(f, tmpl[i], err);
        }
        fputs("\nunset output\n", f);
        rc = fclose(f) || rc ? -1 : 0;
        if (rc && !err->msg[0])
            gf_err_set(err, "out of memory assembling the gnuplot script");
    }
    return rc;
}

/* ------------------------------------------------------------ the figure */

/* out with its extension replaced by ext (".dat", ".gp"). */
static char *sibling(const char *out, const char *ext)
{
    const char *dot = strrchr(out, '.');
    return str_printf("%.*s%s", (int)(dot - out), out, ext);
}

/* A temporary name beside out (".NAME.tmpPID-N"), created empty with
 * O_EXCL so no one else takes it; gnuplot overwrites it. */
static char *temp_beside(const char *out, gf_err *err)
{
    const char *slash = strrchr(out, '/');
    int dir = slash ? (int)(slash - out + 1) : 0, fd = -1;
    char *tmp = NULL;
    for (int i = 0; i < 100 && fd < 0; i++) {
        free(tmp);
        tmp = str_printf("%.*s.%s.tmp%ld-%d", dir, out, out + dir, (long)getpid(), i);
        fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666) : -1;
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        gf_err_set(err, "%s: cannot create a temporary file beside it: %s", out, strerror(errno));
        free(tmp);
        return NULL;
    }
    close(fd);
    if (strchr(tmp, '\'')) { /* the -e assignment quotes it with ' */
        unlink(tmp);
        free(tmp);
        gf_err_set(err, "%s: output paths with a single quote are not supported", out);
        return NULL;
    }
    return tmp;
}

/* Runs gnuplot into a temporary name and renames it to out when gnuplot
 * succeeded and wrote something. */
static int draw(const char *script, const char *out, const char *dat, gf_err *err)
{
    char *tmp = temp_beside(out, err);
    if (!tmp)
        return -1;
    int rc = plot_run_gnuplot(script, tmp, err);
    struct stat sb;
    if (rc == 0 && (stat(tmp, &sb) != 0 || sb.st_size == 0))
        rc = gf_err_set(err, "gnuplot exited 0 but wrote nothing to %s", out);
    if (rc == 0 && rename(tmp, out) != 0)
        rc = gf_err_set(err, "%s: %s", out, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    if (rc == -2)
        gf_err_set(err, "gnuplot not found on PATH: install it (apt-get install gnuplot-nox); "
                        "data kept in %s, draw later with: gnuplot %.*s.gp", dat,
                   (int)(strrchr(dat, '.') - dat), dat);
    else if (rc != 0)
        snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
                 " (script kept: %s)", script);
    free(tmp);
    return rc ? -1 : 0;
}

static int find_kind(const char *kind, gf_err *err)
{
    for (int k = 0; k < plot_n_kinds; k++)
        if (strcmp(kind, plot_kinds[k].name) == 0)
            return k;
    return gf_err_set(err, "unknown figure kind '%s' (curves, depth, profile, heatmap, split, "
                           "paths, responses, updates)", kind);
}

/* Checks the request: kind, input count, steps, output format. */
static int check_request(const char *kind, int n, const char *out, const plot_options *o,
                         int *k, gf_err *err)
{
    if ((*k = find_kind(kind, err)) < 0)
        return -1;
    const kind_impl *im = &impls[*k];
    if (!out)
        return gf_err_set(err, "no output file");
    if (n < im->min_in || n > im->max_in)
        return im->max_in == 1
                   ? gf_err_set(err, "%s takes one input file, got %d", kind, n)
                   : gf_err_set(err, "%s takes 1 to %d input files, got %d", kind, im->max_in, n);
    if (o->n_steps && !im->steps)
        return gf_err_set(err, "--steps applies to profile, split and responses, not %s", kind);
    if (!out_format(out))
        return gf_err_set(err, "%s: the output must end in .png, .svg or .pdf", out);
    return 0;
}

/* Runs the builder into the data file and the variables buffer. */
static int build(plot_ctx *c, int k, const char *dat, char **vars, size_t *vlen, gf_err *err)
{
    char *data = NULL;
    size_t dlen = 0;
    c->dat = open_memstream(&data, &dlen);
    c->vars = open_memstream(vars, vlen);
    int rc = c->dat && c->vars ? impls[k].build(c, err)
                               : gf_err_set(err, "out of memory");
    if (c->dat)
        fclose(c->dat);
    if (c->vars)
        fclose(c->vars);
    if (rc == 0)
        rc = write_whole(dat, data, dlen, err);
    free(data);
    return rc;
}

int plot_check(const char *kind, int n, const char *out, const plot_options *o, gf_err *err)
{
    static const plot_options none;
    int k;
    return check_request(kind, n, out, o ? o : &none, &k, err);
}

int plot_figure(const char *kind, const char *const *inputs, int n, const char *out,
                const plot_options *opt, gf_err *err)
{
    static const plot_options none;
    gf_err local;
    if (!err)
        err = &local;
    err->msg[0] = 0;
    const plot_options *o = opt ? opt : &none;
    int k;
    if (check_request(kind, n, out, o, &k, err))
        return -1;
    plot_ctx c = {.o = o, .in = inputs, .n_in = n, .w = impls[k].w, .h = impls[k].h,
                  .multi = impls[k].multi};
    char *tmpl[2] = {find_template("common", err), NULL};
    tmpl[1] = tmpl[0] ? find_template(kind, err) : NULL;
    char *dat = sibling(out, ".dat"), *gp = sibling(out, ".gp"), *vars = NULL, *script = NULL;
    size_t vlen = 0, slen = 0;
    int rc = !tmpl[1] ? -1 : !dat || !gp ? gf_err_set(err, "out of memory") : 0;
    rc = rc || build(&c, k, dat, &vars, &vlen, err);
    rc = rc || assemble_script(&c, (const char *const *)tmpl, kind, out_format(out), out, dat,
                               vars, &script, &slen, err);
    rc = rc || write_whole(gp, script, slen, err);
    if (rc == 0) {
        rc = draw(gp, out, dat, err);
        if (rc == 0 && !o->keep_data)
            unlink(dat), unlink(gp);
    }
    free(dat), free(gp), free(vars), free(script), free(tmpl[0]), free(tmpl[1]);
    return rc ? -1 : 0;
}
