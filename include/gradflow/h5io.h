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

#include "gradflow/error.h"

/* Silences HDF5's automatic error printing for this process (idempotent). */
void gf_h5_quiet(void);

/* Opens an existing file read-only; refuses a missing, non-HDF5 or corrupt
 * file. Returns the file id or -1. swmr: open for single-writer/multi-reader
 * reading (a live run). */
hid_t gf_h5_open_read(const char *path, int swmr, gf_err *err);

int gf_h5_exists(hid_t loc, const char *path); /* 1 if a link path resolves */

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

#endif
