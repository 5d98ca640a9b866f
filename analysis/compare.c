/* compare.c — `gradflow compare A.h5 B.h5`: two runs side by side at one
 * recorded step: per-layer gradient norms, the identity/branch split of
 * each block (He et al. 2016, Eq. 5) and the first/last-layer gradient
 * ratio. Typical use: plain-20 against resnet-20, or plain-20 against
 * plain-56. Every number is read from the two run files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/cli.h"
#include "runfile.h"

static const char help[] =
    "usage: gradflow compare A.h5 B.h5 [--step S] [--csv FILE]\n"
    "Two run files side by side at the same training step: the last recorded step common\n"
    "to both runs that is <= S (default: the last common step).\n"
    "  - the first/last-layer gradient ratio of each run: grad norm at the first conv (first\n"
    "    linear for MLPs) over the grad norm at the last layer;\n"
    "  - per-layer gradient norms (layers/grad_norm), layers matched by name in forward\n"
    "    order: layers only one network has (extra blocks, add, shortcut) stand alone;\n"
    "  - per-block splits: block i of A beside block i of B (the shorter list padded with\n"
    "    -): input gradient norm, identity and branch norms, identity share =\n"
    "    identity / (identity + branch), and their cosine (plain blocks: no identity, -).\n"
    "Live and killed runs are read up to their last flushed row.\n"
    "  --step S     compare at the last common recorded step <= S\n"
    "  --csv FILE   also write the tables as CSV (whole: temporary name, then rename):\n"
    "               columns section,index,a_name,b_name,a_grad_norm,b_grad_norm,\n"
    "               a_identity_norm,b_identity_norm,a_branch_norm,b_branch_norm,\n"
    "               a_identity_share,b_identity_share,a_cosine,b_cosine; section 'ratio'\n"
    "               (grad_norm = the first/last ratio), 'layer' (layers/grad_norm) or\n"
    "               'block' (grad_norm = blocks/input_grad_norm)\n"
    "  -h, --help   this text\n"
    "Exit 0 ok, 1 unreadable run or no common step, 2 usage.\n";

/* One run at the compared row. */
typedef struct side {
    rf_run r;
    int row, first;
    float *grad, *b_in, *b_id, *b_br, *b_cos; /* rows × width, row `row` used */
} side;

static void side_close(side *s)
{
    free(s->grad), free(s->b_in), free(s->b_id), free(s->b_br), free(s->b_cos);
    s->grad = s->b_in = s->b_id = s->b_br = s->b_cos = NULL;
    rf_close(&s->r);
}

/* s must be zeroed with r.file = -1; on failure s is left closed. */
static int side_open(side *s, const char *path, gf_err *err)
{
    if (rf_open(&s->r, path, err))
        return -1;
    int nb = s->r.n_blocks;
    if (!(s->grad = rf_series(&s->r, "layers/grad_norm", s->r.n_layers, err)) ||
        !(s->b_in = rf_series(&s->r, "blocks/input_grad_norm", nb, err)) ||
        !(s->b_id = rf_series(&s->r, "blocks/identity_norm", nb, err)) ||
        !(s->b_br = rf_series(&s->r, "blocks/branch_norm", nb, err)) ||
        !(s->b_cos = rf_series(&s->r, "blocks/cosine", nb, err))) {
        side_close(s);
        return -1;
    }
    s->first = rf_first_layer(&s->r);
    return 0;
}

static double grad(const side *s, int layer)
{
    return s->grad[(size_t)s->row * s->r.n_layers + layer];
}

static double block_val(const side *s, const float *v, int b)
{
    return b < s->r.n_blocks ? v[(size_t)s->row * s->r.n_blocks + b] : NAN;
}

static double ratio(const side *s) { return grad(s, s->first) / grad(s, s->r.n_layers - 1); }

/* The last step recorded in both runs and <= limit: sets each side's row. */
static int common_row(side *a, side *b, double limit, gf_err *err)
{
    int i = a->r.rows - 1, j = b->r.rows - 1; /* steps ascend: walk down both */
    while (i >= 0 && j >= 0) {
        double x = a->r.step[i], y = b->r.step[j];
        if (x > limit || x > y)
            i--;
        else if (y > limit || y > x)
            j--;
        else {
            a->row = i, b->row = j;
            return 0;
        }
    }
    return gf_err_set(err, "%s and %s: no recorded step in common%s", a->r.path, b->r.path,
                      isinf(limit) ? "" : " at or before --step");
}

/* Appends a CSV row; absent values are NaN (empty in the file). */
static void csv_row(rf_table *t, const char *section, long index, const char *an,
                    const char *bn, const double v[10])
{
    rf_table_str(t, section), rf_table_int(t, index);
    rf_table_str(t, an), rf_table_str(t, bn);
    for (int k = 0; k < 10; k++)
        rf_table_num(t, v[k]);
}

/* Position of name in s's layers at or after from, or -1. */
static int find_layer(const side *s, const char *name, int from)
{
    for (int i = from; i < s->r.n_layers; i++)
        if (strcmp(s->r.layer_name[i], name) == 0)
            return i;
    return -1;
}

/* Layers merged by name in forward order (names are unique and both nets
 * list shared names in the same order, so a greedy walk aligns them). */
static rf_table *layer_table(const side *a, const side *b, rf_table *csv)
{
    static const char *h[] = {"#", "A layer", "A grad_norm", "B layer", "B grad_norm", "B/A"};
    rf_table *t = rf_table_new(6, h);
    int i = 0, j = 0, k = 0;
    while (i < a->r.n_layers || j < b->r.n_layers) {
        int ia = -1, jb = -1;
        if (i < a->r.n_layers && j < b->r.n_layers && !strcmp(a->r.layer_name[i], b->r.layer_name[j]))
            ia = i++, jb = j++;
        else if (i < a->r.n_layers && find_layer(b, a->r.layer_name[i], j) < 0)
            ia = i++; /* only A has it */
        else if (j < b->r.n_layers)
            jb = j++; /* only B has it, or B's comes first */
        else
            ia = i++;
        double ga = ia >= 0 ? grad(a, ia) : NAN, gb = jb >= 0 ? grad(b, jb) : NAN;
        const char *na = ia >= 0 ? a->r.layer_name[ia] : "", *nb = jb >= 0 ? b->r.layer_name[jb] : "";
        rf_table_int(t, k), rf_table_str(t, na), rf_table_num(t, ga);
        rf_table_str(t, nb), rf_table_num(t, gb), rf_table_num(t, gb / ga);
        double v[10] = {ga, gb, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
        csv_row(csv, "layer", k++, na, nb, v);
    }
    return t;
}

/* Block i of A beside block i of B; the shorter side padded. */
static rf_table *block_table(const side *a, const side *b, rf_table *csv)
{
    static const char *h[] = {"#", "A block", "A in_grad", "A identity", "A branch", "A share",
                              "A cos", "B block", "B in_grad", "B identity", "B branch",
                              "B share", "B cos"};
    rf_table *t = rf_table_new(13, h);
    int n = a->r.n_blocks > b->r.n_blocks ? a->r.n_blocks : b->r.n_blocks;
    for (int i = 0; i < n; i++) {
        const side *s[2] = {a, b};
        double v[2][5];
        rf_table_int(t, i);
        for (int k = 0; k < 2; k++) {
            double id = block_val(s[k], s[k]->b_id, i), br = block_val(s[k], s[k]->b_br, i);
            double row[5] = {block_val(s[k], s[k]->b_in, i), id, br, id / (id + br),
                             block_val(s[k], s[k]->b_cos, i)};
            memcpy(v[k], row, sizeof row);
            rf_table_str(t, i < s[k]->r.n_blocks ? s[k]->r.block_name[i] : "");
            for (int q = 0; q < 5; q++)
                rf_table_num(t, row[q]);
        }
        double c[10];
        for (int q = 0; q < 5; q++)
            c[2 * q] = v[0][q], c[2 * q + 1] = v[1][q];
        csv_row(csv, "block", i, i < a->r.n_blocks ? a->r.block_name[i] : "",
                i < b->r.n_blocks ? b->r.block_name[i] : "", c);
    }
    return t;
}

static void print_header(const side *a, const side *b)
{
    const side *s[2] = {a, b};
    for (int k = 0; k < 2; k++)
        printf("%c: %s  %s on %s, %s\n   at step %.0f (row %d of %d)\n", "AB"[k], s[k]->r.path,
               s[k]->r.model, s[k]->r.data, s[k]->r.status, s[k]->r.step[s[k]->row],
               s[k]->row + 1, s[k]->r.rows);
    printf("\nfirst/last-layer gradient ratio: A %.4g (%s / %s)   B %.4g (%s / %s)\n",
           ratio(a), a->r.layer_name[a->first], a->r.layer_name[a->r.n_layers - 1], ratio(b),
           b->r.layer_name[b->first], b->r.layer_name[b->r.n_layers - 1]);
}

static int run_compare(const char *pa, const char *pb, double limit, const char *csv_path)
{
    side a = {.r.file = -1}, b = {.r.file = -1};
    gf_err err;
    int rc = side_open(&a, pa, &err) || side_open(&b, pb, &err) ||
             common_row(&a, &b, limit, &err);
    if (rc == 0) {
        static const char *h[] = {"section", "index", "a_name", "b_name", "a_grad_norm",
                                  "b_grad_norm", "a_identity_norm", "b_identity_norm",
                                  "a_branch_norm", "b_branch_norm", "a_identity_share",
                                  "b_identity_share", "a_cosine", "b_cosine"};
        rf_table *csv = rf_table_new(14, h);
        char name[2][160];
        snprintf(name[0], sizeof name[0], "%s/%s", a.r.layer_name[a.first],
                 a.r.layer_name[a.r.n_layers - 1]);
        snprintf(name[1], sizeof name[1], "%s/%s", b.r.layer_name[b.first],
                 b.r.layer_name[b.r.n_layers - 1]);
        double v[10] = {ratio(&a), ratio(&b), NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
        csv_row(csv, "ratio", 0, name[0], name[1], v);
        rf_table *lt = layer_table(&a, &b, csv), *bt = block_table(&a, &b, csv);
        print_header(&a, &b);
        printf("\nper-layer gradient norm (layers/grad_norm), matched by name:\n");
        rc = rf_table_write(lt, stdout, RF_TEXT);
        printf("\nper-block split (block i of A beside block i of B):\n");
        rc |= rf_table_write(bt, stdout, RF_TEXT);
        if (rc)
            gf_err_set(&err, "out of memory building the tables");
        else if (csv_path && !(rc = rf_write_file(csv_path, rf_table_csv, csv, &err)))
            printf("\nwrote %s\n", csv_path);
        rf_table_free(lt), rf_table_free(bt), rf_table_free(csv);
    }
    side_close(&a), side_close(&b);
    return rc ? cli_fail(1, "compare", "%s", err.msg) : 0;
}

int cmd_compare(int argc, char **argv)
{
    const char *file[2] = {NULL, NULL}, *csv = NULL, *v;
    double limit = INFINITY;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return fputs(help, stdout), 0;
        if (!strcmp(argv[i], "--step")) {
            if (!(v = cli_value("compare", argc, argv, &i)) ||
                cli_double("compare", "--step", v, 0, 1e15, &limit))
                return 2;
        } else if (!strcmp(argv[i], "--csv")) {
            if (!(csv = cli_value("compare", argc, argv, &i)))
                return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail(2, "compare", "unknown option '%s' (see --help)", argv[i]);
        } else if (n == 2) {
            return cli_fail(2, "compare", "two run files only ('%s' is a third)", argv[i]);
        } else {
            file[n++] = argv[i];
        }
    }
    if (n < 2)
        return cli_fail(2, "compare", "needs two run files, A.h5 and B.h5 (see --help)");
    return run_compare(file[0], file[1], limit, csv);
}
