/* h5io.c — checked HDF5 reading helpers (see h5io.h). */
#include "gradflow/h5io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gf_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t gf_h5_open_read(const char *path, int swmr, gf_err *err)
{
    gf_h5_quiet();
    FILE *f = fopen(path, "rb");
    if (!f) {
        gf_err_set(err, "%s: cannot open for reading", path);
        return -1;
    }
    fclose(f);
    if (H5Fis_hdf5(path) <= 0) {
        gf_err_set(err, "%s: not an HDF5 file (no HDF5 signature)", path);
        return -1;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
    /* An SWMR reader retries a bad metadata checksum (a torn write) with
     * doubling sleeps, 100 times by default — minutes on a corrupt file.
     * 20 attempts still ride out a live writer. */
    if (swmr)
        H5Pset_metadata_read_attempts(fapl, 20);
    unsigned flags = H5F_ACC_RDONLY | (swmr ? H5F_ACC_SWMR_READ : 0);
    hid_t file = H5Fopen(path, flags, fapl);
    H5Pclose(fapl);
    if (file < 0)
        gf_err_set(err, "%s: corrupt or unreadable HDF5 file", path);
    return file;
}

int gf_h5_exists(hid_t loc, const char *path)
{
    /* H5Lexists needs each intermediate group to exist: walk the components. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0)
                return 0;
            if (c == '\0')
                return 1;
            *p = '/';
        }
    }
}

/* Opens dset and reads its shape; fails with a message naming it. */
static hid_t open_dataset(hid_t file, const char *fname, const char *dset, int *ndim,
                          size_t dims[8], size_t *n, gf_err *err)
{
    if (!gf_h5_exists(file, dset)) {
        gf_err_set(err, "%s: missing dataset '%s'", fname, dset);
        return -1;
    }
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    if (d < 0) {
        gf_err_set(err, "%s: '%s' is not a readable dataset", fname, dset);
        return -1;
    }
    hid_t sp = H5Dget_space(d);
    hsize_t hd[8];
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (nd < 0 || nd > 8 || H5Sget_simple_extent_dims(sp, hd, NULL) < 0) {
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
        gf_err_set(err, "%s: dataset '%s' has an unreadable or >8-dimensional shape", fname,
                   dset);
        return -1;
    }
    H5Sclose(sp);
    *n = 1;
    for (int i = 0; i < nd; i++)
        dims[i] = (size_t)hd[i], *n *= (size_t)hd[i];
    *ndim = nd;
    return d;
}

int gf_h5_dataset_size(hid_t file, const char *fname, const char *dset, size_t *n, gf_err *err)
{
    int ndim;
    size_t dims[8];
    hid_t d = open_dataset(file, fname, dset, &ndim, dims, n, err);
    if (d < 0)
        return -1;
    H5Dclose(d);
    return 0;
}

static int read_as(hid_t d, hid_t memtype, void *out, const char *fname, const char *dset,
                   gf_err *err)
{
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (t >= 0)
        H5Tclose(t);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER)
        return gf_err_set(err, "%s: dataset '%s' is not numeric", fname, dset);
    if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        return gf_err_set(err, "%s: cannot read dataset '%s' (corrupt?)", fname, dset);
    return 0;
}

int gf_h5_read_floats(hid_t file, const char *fname, const char *dset, float **out, size_t *n,
                      int *ndim, size_t dims[8], gf_err *err)
{
    *out = NULL;
    hid_t d = open_dataset(file, fname, dset, ndim, dims, n, err);
    if (d < 0)
        return -1;
    float *buf = malloc((*n ? *n : 1) * sizeof(float));
    int rc = buf ? read_as(d, H5T_NATIVE_FLOAT, buf, fname, dset, err)
                 : gf_err_set(err, "%s: out of memory reading '%s'", fname, dset);
    H5Dclose(d);
    if (rc) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static int read_exact(hid_t file, const char *fname, const char *dset, hid_t memtype, void *out,
                      size_t n, gf_err *err)
{
    int ndim;
    size_t dims[8], have;
    hid_t d = open_dataset(file, fname, dset, &ndim, dims, &have, err);
    if (d < 0)
        return -1;
    int rc = have != n ? gf_err_set(err, "%s: dataset '%s' has %zu elements, expected %zu",
                                    fname, dset, have, n)
                       : read_as(d, memtype, out, fname, dset, err);
    H5Dclose(d);
    return rc;
}

int gf_h5_read_floats_into(hid_t file, const char *fname, const char *dset, float *out,
                           size_t n, gf_err *err)
{
    return read_exact(file, fname, dset, H5T_NATIVE_FLOAT, out, n, err);
}

int gf_h5_read_ints_into(hid_t file, const char *fname, const char *dset, int *out, size_t n,
                         gf_err *err)
{
    return read_exact(file, fname, dset, H5T_NATIVE_INT, out, n, err);
}

static hid_t open_attr(hid_t file, const char *fname, const char *obj, const char *name,
                       gf_err *err)
{
    if (strcmp(obj, "/") != 0 && !gf_h5_exists(file, obj)) {
        gf_err_set(err, "%s: missing object '%s'", fname, obj);
        return -1;
    }
    if (H5Aexists_by_name(file, obj, name, H5P_DEFAULT) <= 0) {
        gf_err_set(err, "%s: missing attribute '%s' on '%s'", fname, name, obj);
        return -1;
    }
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        gf_err_set(err, "%s: cannot open attribute '%s' on '%s'", fname, name, obj);
    return a;
}

int gf_h5_attr_string(hid_t file, const char *fname, const char *obj, const char *name,
                      char *buf, size_t size, gf_err *err)
{
    hid_t a = open_attr(file, fname, obj, name, err);
    if (a < 0)
        return -1;
    hid_t t = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(t) != H5T_STRING) {
        rc = gf_err_set(err, "%s: attribute '%s' on '%s' is not a string", fname, name, obj);
    } else if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Aread(a, mt, &s) < 0 || !s)
            rc = gf_err_set(err, "%s: cannot read attribute '%s'", fname, name);
        else
            snprintf(buf, size, "%s", s);
        if (s)
            H5free_memory(s);
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(t);
        char *s = calloc(len + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len);
        if (!s || H5Aread(a, mt, s) < 0)
            rc = gf_err_set(err, "%s: cannot read attribute '%s'", fname, name);
        else
            snprintf(buf, size, "%s", s);
        free(s);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int attr_numeric(hid_t file, const char *fname, const char *obj, const char *name,
                        hid_t memtype, void *out, gf_err *err)
{
    hid_t a = open_attr(file, fname, obj, name, err);
    if (a < 0)
        return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    int rc = 0;
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || np != 1)
        rc = gf_err_set(err, "%s: attribute '%s' on '%s' is not a numeric scalar", fname, name,
                        obj);
    else if (H5Aread(a, memtype, out) < 0)
        rc = gf_err_set(err, "%s: cannot read attribute '%s'", fname, name);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int gf_h5_attr_long(hid_t file, const char *fname, const char *obj, const char *name, long *out,
                    gf_err *err)
{
    return attr_numeric(file, fname, obj, name, H5T_NATIVE_LONG, out, err);
}

int gf_h5_attr_double(hid_t file, const char *fname, const char *obj, const char *name,
                      double *out, gf_err *err)
{
    return attr_numeric(file, fname, obj, name, H5T_NATIVE_DOUBLE, out, err);
}

struct name_list {
    char **names;
    int count, cap;
};

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g, (void)info;
    struct name_list *l = data;
    if (l->count == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **n = realloc(l->names, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        l->names = n, l->cap = cap;
    }
    size_t len = strlen(name) + 1;
    if (!(l->names[l->count] = malloc(len)))
        return -1;
    memcpy(l->names[l->count++], name, len);
    return 0;
}

int gf_h5_list(hid_t file, const char *fname, const char *group, char ***names, int *count,
               gf_err *err)
{
    struct name_list l = {0};
    *names = NULL, *count = 0;
    if (!gf_h5_exists(file, group))
        return gf_err_set(err, "%s: missing group '%s'", fname, group);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0)
        return gf_err_set(err, "%s: '%s' is not a group", fname, group);
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &l);
    H5Gclose(g);
    if (rc < 0) {
        gf_h5_names_free(l.names, l.count);
        return gf_err_set(err, "%s: cannot list group '%s' (corrupt?)", fname, group);
    }
    *names = l.names, *count = l.count;
    return 0;
}

void gf_h5_names_free(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static int set_attr(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0)
        H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, type, value) < 0 ? -1 : 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int gf_h5_set_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = set_attr(obj, name, t, &value);
    H5Tclose(t);
    return rc;
}

int gf_h5_set_attr_long(hid_t obj, const char *name, long value)
{
    int64_t v = value;
    return set_attr(obj, name, H5T_NATIVE_INT64, &v);
}

int gf_h5_set_attr_double(hid_t obj, const char *name, double value)
{
    return set_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int gf_h5_write_floats(hid_t loc, const char *name, const float *data, int ndim,
                       const hsize_t *dims)
{
    hid_t sp = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0;
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return rc ? -1 : 0;
}

static int write_plain(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *data,
                       size_t n)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return rc ? -1 : 0;
}

int gf_h5_write_ints(hid_t loc, const char *name, const int32_t *data, size_t n)
{
    return write_plain(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, data, n);
}

int gf_h5_write_u64(hid_t loc, const char *name, const uint64_t *data, size_t n)
{
    return write_plain(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, data, n);
}

int gf_h5_write_strings(hid_t loc, const char *name, const char *const *v, size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = write_plain(loc, name, t, t, v, n);
    H5Tclose(t);
    return rc;
}

int gf_h5_read_u64_into(hid_t file, const char *fname, const char *dset, uint64_t *out,
                        size_t n, gf_err *err)
{
    return read_exact(file, fname, dset, H5T_NATIVE_UINT64, out, n, err);
}

int gf_h5_read_strings(hid_t file, const char *fname, const char *dset, char ***out, int *n,
                       gf_err *err)
{
    int ndim;
    size_t dims[8], count;
    *out = NULL, *n = 0;
    hid_t d = open_dataset(file, fname, dset, &ndim, dims, &count, err);
    if (d < 0)
        return -1;
    hid_t ft = H5Dget_type(d);
    int is_vstr = H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0;
    H5T_cset_t cset = is_vstr ? H5Tget_cset(ft) : H5T_CSET_ASCII;
    H5Tclose(ft);
    char **raw = is_vstr && ndim == 1 ? calloc(count + 1, sizeof *raw) : NULL;
    char **copy = raw ? calloc(count + 1, sizeof *copy) : NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, cset); /* HDF5 1.10 refuses ASCII <-> UTF-8 conversion */
    int rc = !copy ? gf_err_set(err, "%s: '%s' is not a 1-D variable-length string dataset",
                                fname, dset)
             : H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0
                 ? gf_err_set(err, "%s: cannot read '%s'", fname, dset)
                 : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        size_t len = raw[i] ? strlen(raw[i]) + 1 : 1;
        if (!(copy[i] = malloc(len)))
            rc = gf_err_set(err, "out of memory");
        else
            memcpy(copy[i], raw[i] ? raw[i] : "", len);
    }
    for (size_t i = 0; raw && i < count; i++)
        if (raw[i])
            H5free_memory(raw[i]);
    free(raw);
    H5Tclose(mt);
    H5Dclose(d);
    if (rc) {
        gf_h5_names_free(copy, copy ? (int)count : 0);
        return -1;
    }
    *out = copy, *n = (int)count;
    return 0;
}

int gf_h5_write_file(const char *path, gf_h5_fill_fn fill, const void *ctx, gf_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return gf_err_set(err, "%s: path too long", path);
    gf_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return gf_err_set(err, "%s: cannot create (directory missing or not writable?)", path);
    int rc = fill(f, ctx);
    if (H5Fclose(f) < 0)
        rc = -1;
    if (rc || rename(tmp, path) != 0) {
        unlink(tmp);
        return gf_err_set(err, "%s: write failed (disk full or not writable?)", path);
    }
    return 0;
}

int gf_h5_write_series(hid_t loc, const char *name, const double *data, size_t n,
                       const char *units, const char *description)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) ||
             gf_h5_set_attr_string(d, "units", units) ||
             gf_h5_set_attr_string(d, "description", description);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(lcpl), H5Sclose(sp);
    return rc ? -1 : 0;
}
