/* data_files.c — dataset files: MNIST / Fashion-MNIST IDX (gzip or raw) and
 * CIFAR-10 binary batches.
 *
 * No header field is trusted before it is checked: dimensions are validated
 * against overflow and a fixed cap, and file contents are read into a buffer
 * that grows only as bytes actually arrive, so a forged header over a tiny
 * file never costs a large allocation. */
#ifndef _POSIX_C_SOURCE /* meson passes it; standalone builds need it for stat */
#define _POSIX_C_SOURCE 200809L
#endif

#include "gradflow/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_internal.h"

/* First allocation while reading a file; it doubles as data arrives. */
#define GF_READ_CHUNK ((size_t)1 << 20)
#define GF_CIFAR_RECORD 3073 /* 1 label byte + 3 × 32 × 32 pixel bytes */
#define GF_PATH_MAX 4096

/* ------------------------------------------------------------ byte source */

/* A file read front to back, gzip-compressed (detected by the magic 1f 8b)
 * or raw. Sizes are never taken from stat: a gzip file's decompressed length
 * is only known once read, so both kinds are checked the same way, by
 * reading until the data ends. */
typedef struct gf_src {
    const char *path;
    FILE *f;
    gzFile gz;
    uint64_t pos; /* bytes delivered so far (decompressed for gzip) */
} gf_src;

static void src_close(gf_src *s)
{
    if (s->f)
        fclose(s->f);
    if (s->gz)
        gzclose_r(s->gz);
    s->f = NULL;
    s->gz = NULL;
}

static int src_open(gf_src *s, const char *path, gf_err *err)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f)
        return gf_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2];
    size_t got = fread(magic, 1, 2, s->f);
    if (ferror(s->f)) {
        int e = errno;
        src_close(s);
        return gf_err_set(err, "%s: cannot read: %s", path, strerror(e));
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        src_close(s);
        s->gz = gzopen(path, "rb");
        if (!s->gz)
            return gf_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        gzbuffer(s->gz, 1u << 17); /* fewer, larger reads: ~2x faster on MNIST */
        return 0;
    }
    rewind(s->f);
    return 0;
}

/* Reads up to n bytes into buf; *got is smaller than n only at end of file.
 * A read error or a gzip error (corrupt data, bad CRC, stream cut short) is
 * reported here, so a clean short read really is the end of the data. */
static int src_read(gf_src *s, void *buf, size_t n, size_t *got, gf_err *err)
{
    *got = 0;
    if (s->f) {
        *got = fread(buf, 1, n, s->f);
        if (ferror(s->f))
            return gf_err_set(err, "%s: read error at offset %llu: %s", s->path,
                              (unsigned long long)(s->pos + *got), strerror(errno));
    } else {
        while (*got < n) {
            size_t left = n - *got;
            unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
            int r = gzread(s->gz, (unsigned char *)buf + *got, chunk);
            if (r <= 0)
                break;
            *got += (size_t)r;
        }
        int code;
        const char *msg = gzerror(s->gz, &code);
        unsigned long long at = (unsigned long long)(s->pos + *got);
        size_t plen = strlen(s->path);
        if (strncmp(msg, s->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
            msg += plen + 2; /* zlib prefixes the path, which we print anyway */
        /* zlib may meet the end of a cut stream while filling its buffer
         * ahead of us; report it when the data really runs out, so the count
         * says how much was delivered. Other errors stop all reads at once. */
        if (code == Z_BUF_ERROR && *got == n)
            code = Z_OK;
        if (code == Z_BUF_ERROR)
            return gf_err_set(err, "%s: truncated gzip stream (%s) after %llu decompressed bytes",
                              s->path, msg, at);
        /* Not "after N bytes": zlib reads ahead, so the bad spot is further on. */
        if (code != Z_OK)
            return gf_err_set(err, "%s: corrupt gzip stream: %s", s->path,
                              code == Z_ERRNO ? strerror(errno) : msg);
    }
    s->pos += *got;
    return 0;
}

/* Reads until end of file or max bytes into a fresh buffer (*len bytes). The
 * buffer grows geometrically with the data that arrives, never to max up
 * front: max comes from a header that may lie. */
static int src_read_upto(gf_src *s, uint64_t max, unsigned char **out, size_t *len, gf_err *err)
{
    size_t cap = max < GF_READ_CHUNK ? (size_t)max : GF_READ_CHUNK, n = 0, got = 1;
    unsigned char *buf = malloc(cap ? cap : 1);
    *out = NULL;
    *len = 0;
    while (buf && n < max && got > 0) {
        if (n == cap) {
            size_t grow = (uint64_t)cap * 2 > max ? (size_t)max : cap * 2;
            unsigned char *nb = realloc(buf, grow);
            if (!nb) {
                free(buf);
                return gf_err_set(err, "%s: out of memory after %zu bytes", s->path, n);
            }
            buf = nb;
            cap = grow;
        }
        if (src_read(s, buf + n, cap - n, &got, err)) {
            free(buf);
            return -1;
        }
        n += got;
    }
    if (!buf)
        return gf_err_set(err, "%s: out of memory", s->path);
    *out = buf;
    *len = n;
    return 0;
}

/* The data must end here: reading one more byte must find nothing. For gzip
 * that read also makes zlib check the CRC and length trailer. */
static int src_expect_end(gf_src *s, const char *what, gf_err *err)
{
    unsigned char extra;
    size_t got;
    if (src_read(s, &extra, 1, &got, err))
        return -1;
    if (got == 0)
        return 0;
    return gf_err_set(err, "%s: %s size disagrees with %s (%llu bytes): trailing data", s->path,
                      s->gz ? "decompressed" : "file", what, (unsigned long long)(s->pos - 1));
}

/* ------------------------------------------------------------------ IDX */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the sizes of an IDX header (dims[ndims]) and returns their product
 * in *total: none may be zero, the count must fit an int, and the product
 * must stay under GF_MAX_PIXELS. Each partial product is <= 2^31 and each
 * factor <= 2^31 is checked first, so the uint64 arithmetic cannot wrap. */
static int idx_check_dims(const char *path, const uint32_t *dims, int ndims, uint64_t *total,
                          gf_err *err)
{
    char desc[64];
    int len = 0;
    for (int i = 0; i < ndims; i++)
        len += snprintf(desc + len, sizeof desc - (size_t)len, i ? " x %u" : "%u", dims[i]);
    *total = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] == 0)
            return gf_err_set(err, "%s: header has a zero dimension (%s)", path, desc);
        if (dims[i] > GF_MAX_PIXELS || *total * dims[i] > GF_MAX_PIXELS)
            return gf_err_set(err, "%s: header dimensions %s are too large (more than %llu bytes)",
                              path, desc, (unsigned long long)GF_MAX_PIXELS);
        *total *= dims[i];
    }
    return 0;
}

/* Reads an IDX file of unsigned bytes (LeCun et al.: big-endian magic
 * 0x000008nn with nn = ndims, then ndims u32 sizes, then the data) into
 * dims[ndims] and *bytes (owned by the caller), checking every byte count. */
static int idx_read(const char *path, uint32_t magic, int ndims, uint32_t *dims,
                    unsigned char **bytes, gf_err *err)
{
    gf_src s;
    unsigned char hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndims, got = 0, len = 0;
    uint64_t total = 0;
    *bytes = NULL;
    if (src_open(&s, path, err))
        return -1;
    int rc = src_read(&s, hdr, hlen, &got, err);
    if (!rc && got >= 4 && be32(hdr) != magic)
        rc = gf_err_set(err, "%s: bad magic number 0x%08x (expected 0x%08x, IDX u8 %d-D)", path,
                        be32(hdr), magic, ndims);
    if (!rc && got < hlen)
        rc = gf_err_set(err, "%s: truncated header: %zu of %zu bytes", path, got, hlen);
    for (int i = 0; !rc && i < ndims; i++)
        dims[i] = be32(hdr + 4 + 4 * i);
    if (!rc)
        rc = idx_check_dims(path, dims, ndims, &total, err);
    if (!rc)
        rc = src_read_upto(&s, total, bytes, &len, err);
    if (!rc && len < total)
        rc = gf_err_set(err, "%s: truncated: header says %llu data bytes, file has %zu", path,
                        (unsigned long long)total, len);
    if (!rc)
        rc = src_expect_end(&s, "the header", err);
    src_close(&s);
    if (rc) {
        free(*bytes);
        *bytes = NULL;
    }
    return rc;
}

/* Every label byte must name a class: lb[n], found at offset + i in path. */
static int labels_check(const char *path, const unsigned char *lb, size_t n, size_t stride,
                        size_t offset, int k, gf_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (lb[i * stride] >= k)
            return gf_err_set(err, "%s: label %u of example %zu (offset %zu) out of range [0, %d)",
                              path, lb[i * stride], i, offset + i * stride, k);
    return 0;
}

int gf_idx_load(const char *images_path, const char *labels_path, gf_dataset *out, gf_err *err)
{
    uint32_t idims[3], ldims[1];
    unsigned char *px = NULL, *lb = NULL;
    memset(out, 0, sizeof *out);
    if (idx_read(labels_path, 0x00000801, 1, ldims, &lb, err))
        return -1;
    int rc = idx_read(images_path, 0x00000803, 3, idims, &px, err);
    if (!rc && idims[0] != ldims[0])
        rc = gf_err_set(err, "%s: count mismatch: %u images but %s has %u labels", images_path,
                        idims[0], labels_path, ldims[0]);
    if (!rc)
        rc = labels_check(labels_path, lb, ldims[0], 1, 8, 10, err);
    if (!rc)
        rc = gf_dataset_alloc(out, (int)idims[0], 1, (int)idims[1], (int)idims[2], 10,
                              images_path, err);
    if (!rc) {
        size_t count = (size_t)idims[0] * idims[1] * idims[2];
        for (size_t i = 0; i < count; i++)
            out->images[i] = px[i] / 255.0f;
        for (int i = 0; i < out->n; i++)
            out->labels[i] = lb[i];
    }
    free(px);
    free(lb);
    return rc;
}

/* buf = dir/name; -1 if it does not fit. */
static int path_join(char *buf, const char *dir, const char *name, const char *ext, gf_err *err)
{
    int len = snprintf(buf, GF_PATH_MAX, "%s/%s%s", dir, name, ext);
    if (len < 0 || len >= GF_PATH_MAX)
        return gf_err_set(err, "%s/%s%s: path too long", dir, name, ext);
    return 0;
}

/* Picks dir/name.gz if it exists, else dir/name (Debian ships the .gz). */
static int mnist_pick(char *buf, const char *dir, const char *name, gf_err *err)
{
    struct stat st;
    if (path_join(buf, dir, name, ".gz", err))
        return -1;
    if (stat(buf, &st) == 0)
        return 0;
    if (path_join(buf, dir, name, "", err))
        return -1;
    if (stat(buf, &st) != 0 && errno == ENOENT)
        return gf_err_set(err, "%s: cannot open: %s (nor with .gz)", buf, strerror(ENOENT));
    return 0;
}

int gf_mnist_load_dir(const char *dir, int train, gf_dataset *out, gf_err *err)
{
    char images[GF_PATH_MAX], labels[GF_PATH_MAX];
    const char *split = train ? "train" : "t10k";
    char name[64];
    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    if (mnist_pick(images, dir, name, err))
        return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    if (mnist_pick(labels, dir, name, err))
        return -1;
    return gf_idx_load(images, labels, out, err);
}

/* --------------------------------------------------------------- CIFAR-10 */

/* Appends the records of one CIFAR-10 batch file to d (3 × 32 × 32). */
static int cifar_append(gf_dataset *d, const char *path, gf_err *err)
{
    gf_src s;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (src_open(&s, path, err))
        return -1;
    /* One byte over the cap tells "too large" from "exactly at the cap". */
    int rc = src_read_upto(&s, GF_MAX_PIXELS + 1, &buf, &len, err);
    src_close(&s);
    size_t recs = len / GF_CIFAR_RECORD;
    if (!rc && len > GF_MAX_PIXELS)
        rc = gf_err_set(err, "%s: too large (more than %llu bytes)", path,
                        (unsigned long long)GF_MAX_PIXELS);
    if (!rc && len == 0)
        rc = gf_err_set(err, "%s: empty file (no CIFAR-10 records)", path);
    if (!rc && len % GF_CIFAR_RECORD)
        rc = gf_err_set(err, "%s: size %zu is not a multiple of the %d-byte CIFAR-10 record", path,
                        len, GF_CIFAR_RECORD);
    if (!rc && recs > (size_t)(GF_MAX_PIXELS / (GF_CIFAR_RECORD - 1)) - (size_t)d->n)
        rc = gf_err_set(err, "%s: too large: %zu more records exceed the %llu-pixel cap", path,
                        recs, (unsigned long long)GF_MAX_PIXELS);
    if (!rc)
        rc = labels_check(path, buf, recs, GF_CIFAR_RECORD, 0, 10, err);
    size_t old = (size_t)d->n, total = old + recs;
    float *im = rc ? NULL : realloc(d->images, total * (GF_CIFAR_RECORD - 1) * sizeof(float));
    if (im)
        d->images = im;
    int32_t *lb = im ? realloc(d->labels, total * sizeof(int32_t)) : NULL;
    if (lb)
        d->labels = lb;
    if (!rc && (!im || !lb))
        rc = gf_err_set(err, "%s: out of memory for %zu examples", path, total);
    for (size_t r = 0; !rc && r < recs; r++) {
        const unsigned char *rec = buf + r * GF_CIFAR_RECORD;
        float *x = d->images + (old + r) * (GF_CIFAR_RECORD - 1);
        d->labels[old + r] = rec[0];
        for (int i = 0; i < GF_CIFAR_RECORD - 1; i++)
            x[i] = rec[1 + i] / 255.0f; /* R, G, B planes as stored: already CHW */
    }
    if (!rc)
        d->n = (int)total;
    free(buf);
    return rc;
}

int gf_cifar10_load_dir(const char *dir, int train, gf_dataset *out, gf_err *err)
{
    char path[GF_PATH_MAX];
    memset(out, 0, sizeof *out);
    out->c = 3;
    out->h = out->w = 32;
    out->num_classes = 10;
    for (int b = 1; b <= (train ? 5 : 1); b++) {
        char name[32];
        if (train)
            snprintf(name, sizeof name, "data_batch_%d.bin", b);
        else
            snprintf(name, sizeof name, "test_batch.bin");
        if (path_join(path, dir, name, "", err) || cifar_append(out, path, err)) {
            gf_dataset_free(out);
            return -1;
        }
    }
    return 0;
}
