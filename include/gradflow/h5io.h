/* h5io.h — small checked helpers over the HDF5 C API.
 *
 * Every reader validates what it opens (is it HDF5, does the object exist,
 * has it the type and shape we expect) and reports failures as one line
 * naming the file and the object; HDF5's own error stack printing is
 * switched off so a corrupt file never floods stderr. */
#ifndef GRADFLOW_H5IO_H
#define GRADFLOW_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "gradflow/error.h"

/* Silences HDF5's automatic error printing for this process (idempotent). */
void gf_h5_quiet(void);

/* Opens an existing file read-only; refuses a missing, non-HDF5 or corrupt
 * file. Returns the file id or -1. swmr: open for single-writer/multi-reader
 * reading (a live run). */
hid_t gf_h5_open_read(const char *path, int swmr, gf_err *err);

int gf_h5_exists(hid_t loc, const char *path); /* 1 if a link path resolves */
/* Element count of a dataset, or -1 with err set. */
int gf_h5_dataset_size(hid_t file, const char *fname, const char *dset, size_t *n, gf_err *err);

/* Reads a dataset of any real type, converted to float32, into a freshly
 * malloc'ed buffer; dims (up to 8) and ndim receive its shape and *n its
 * element count. */
int gf_h5_read_floats(hid_t file, const char *fname, const char *dset, float **out, size_t *n,
                      int *ndim, size_t dims[8], gf_err *err);
/* Reads into a caller buffer of exactly n elements (float32 or int32), or fails. */
int gf_h5_read_floats_into(hid_t file, const char *fname, const char *dset, float *out,
                           size_t n, gf_err *err);
int gf_h5_read_ints_into(hid_t file, const char *fname, const char *dset, int *out, size_t n,
                         gf_err *err);

/* Scalar attributes on an object (path "/" for the root). */
int gf_h5_attr_string(hid_t file, const char *fname, const char *obj, const char *name,
                      char *buf, size_t size, gf_err *err);
int gf_h5_attr_long(hid_t file, const char *fname, const char *obj, const char *name, long *out,
                    gf_err *err);
int gf_h5_attr_double(hid_t file, const char *fname, const char *obj, const char *name,
                      double *out, gf_err *err);

/* Names of the links directly under group (sorted by name), malloc'ed;
 * free with gf_h5_names_free. */
int gf_h5_list(hid_t file, const char *fname, const char *group, char ***names, int *count,
               gf_err *err);
void gf_h5_names_free(char **names, int count);

/* Writes a whole file or nothing: creates path under a temporary name, lets
 * fill write it (0 = success), and renames it into place only if everything,
 * the close included, succeeded. */
typedef int (*gf_h5_fill_fn)(hid_t file, const void *ctx);
int gf_h5_write_file(const char *path, gf_h5_fill_fn fill, const void *ctx, gf_err *err);

/* Writers (return 0 or -1; the caller turns -1 into a message naming its
 * file). Strings are UTF-8, variable length. */
int gf_h5_set_attr_string(hid_t obj, const char *name, const char *value);
int gf_h5_set_attr_long(hid_t obj, const char *name, long value);
int gf_h5_set_attr_double(hid_t obj, const char *name, double value);
/* Contiguous datasets of the given shape under loc: float32, int32, uint64,
 * and a 1-D array of UTF-8 strings. */
/* A 1-D float64 dataset with its `units` and `description` attributes;
 * intermediate groups in name are created. */
int gf_h5_write_series(hid_t loc, const char *name, const double *data, size_t n,
                       const char *units, const char *description);
int gf_h5_write_ints(hid_t loc, const char *name, const int32_t *data, size_t n);
int gf_h5_write_u64(hid_t loc, const char *name, const uint64_t *data, size_t n);
int gf_h5_write_strings(hid_t loc, const char *name, const char *const *v, size_t n);
/* Reads a 1-D string dataset into malloc'ed strings (free with gf_h5_names_free). */
int gf_h5_read_strings(hid_t file, const char *fname, const char *dset, char ***out, int *n,
                       gf_err *err);
int gf_h5_read_u64_into(hid_t file, const char *fname, const char *dset, uint64_t *out,
                        size_t n, gf_err *err);
int gf_h5_write_floats(hid_t loc, const char *name, const float *data, int ndim,
                       const hsize_t *dims);

#endif
