/* test_data.c — the file loaders: IDX (raw and gzip), CIFAR-10 and Fashion-MNIST.
 *
 * Bad files are crafted in test_tmpdir(): every failure must return -1, leave
 * the output zeroed and give one line naming the file and the problem. The
 * real Fashion-MNIST tests pass with a note when the Debian dataset package
 * (/usr/share/datasets/fashion-mnist) is not installed. */
#ifndef _POSIX_C_SOURCE /* meson passes it; standalone builds need it for mkdir, unlink */
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gradflow/data.h"
#include "suites.h"

#ifndef FASHION_DIR /* overridable, e.g. -DFASHION_DIR='"/nowhere"' to exercise the skip */
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#endif
#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u

/* ---------------------------------------------------------------- helpers */

static char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", test_tmpdir(), name);
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes bytes to path, gzip-compressed when gz. */
static void write_bytes(const char *path, const unsigned char *bytes, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_EQUAL_FATAL(gzwrite(f, bytes, (unsigned)len), (int)len);
        CU_ASSERT_EQUAL_FATAL(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_EQUAL_FATAL(fwrite(bytes, 1, len, f), len);
        CU_ASSERT_EQUAL_FATAL(fclose(f), 0);
    }
}

/* Writes an IDX file: magic, ndims big-endian sizes, then payload[len]
 * (which need not agree with the sizes: that is the point of many tests). */
static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                      const unsigned char *payload, size_t len, int gz)
{
    size_t hlen = 4 + 4 * (size_t)ndims;
    unsigned char *buf = malloc(hlen + len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    if (len)
        memcpy(buf + hlen, payload, len);
    write_bytes(path, buf, hlen + len, gz);
    free(buf);
}

/* The standard small pair: 3 images of 2 × 3 with pixel j of image i equal
 * to (i * 6 + j) * 13 % 256, labels {0, 9, 4}. */
static const unsigned char good_labels[3] = {0, 9, 4};
static void good_pixels(unsigned char *px)
{
    for (int k = 0; k < 18; k++)
        px[k] = (unsigned char)(k * 13 % 256);
}

static void write_good_pair(const char *images, const char *labels, int gz)
{
    unsigned char px[18];
    uint32_t idims[3] = {3, 2, 3}, ldims[1] = {3};
    good_pixels(px);
    write_idx(images, IDX_IMAGES, idims, 3, px, sizeof px, gz);
    write_idx(labels, IDX_LABELS, ldims, 1, good_labels, 3, gz);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL_FATAL(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

/* -------------------------------------------------------------- IDX: good */

static void test_idx_raw_loads_scaled_pixels(void)
{
    char im[512], lb[512];
    unsigned char px[18];
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "ok-images"), tmp_path(lb, "ok-labels"), 0);
    good_pixels(px);
    CU_ASSERT_EQUAL_FATAL(gf_idx_load(im, lb, &d, &err), 0);
    CU_ASSERT_EQUAL(d.n, 3);
    CU_ASSERT_EQUAL(d.c, 1);
    CU_ASSERT_EQUAL(d.h, 2);
    CU_ASSERT_EQUAL(d.w, 3);
    CU_ASSERT_EQUAL(d.num_classes, 10);
    for (int k = 0; k < 18; k++)
        CU_ASSERT_EQUAL(d.images[k], px[k] / 255.0f);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(d.labels[i], good_labels[i]);
    gf_dataset_free(&d);
}

static void test_idx_gzip_equals_raw(void)
{
    char im[512], lb[512], gim[512], glb[512];
    gf_dataset raw, gz;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "eq-images"), tmp_path(lb, "eq-labels"), 0);
    write_good_pair(tmp_path(gim, "eq-images.gz"), tmp_path(glb, "eq-labels.gz"), 1);
    CU_ASSERT_EQUAL_FATAL(gf_idx_load(im, lb, &raw, &err), 0);
    CU_ASSERT_EQUAL_FATAL(gf_idx_load(gim, glb, &gz, &err), 0);
    CU_ASSERT_EQUAL(gz.n, 3);
    CU_ASSERT_EQUAL(gz.h * gz.w, 6);
    CU_ASSERT_EQUAL(memcmp(raw.images, gz.images, 18 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(raw.labels, gz.labels, 3 * sizeof(int32_t)), 0);
    gf_dataset_free(&raw);
    gf_dataset_free(&gz);
}

/* gf_mnist_load_dir takes the Debian .gz names and plain uncompressed ones. */
static void test_mnist_dir_accepts_gz_and_raw_names(void)
{
    char dir[512], im[600], lb[600];
    gf_dataset d;
    gf_err err = {""};
    for (int gz = 0; gz <= 1; gz++) {
        tmp_path(dir, gz ? "mnist-gz" : "mnist-raw");
        CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
        const char *ext = gz ? ".gz" : "";
        snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte%s", dir, ext);
        snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte%s", dir, ext);
        write_good_pair(im, lb, gz);
        CU_ASSERT_EQUAL_FATAL(gf_mnist_load_dir(dir, 0, &d, &err), 0);
        CU_ASSERT_EQUAL(d.n, 3);
        CU_ASSERT_EQUAL(d.labels[1], 9);
        gf_dataset_free(&d);
        /* Only the test split exists: asking for train names the missing file. */
        snprintf(im, sizeof im, "%s/train-images-idx3-ubyte", dir);
        CHECK_FAIL(gf_mnist_load_dir(dir, 1, &d, &err), err, im, "cannot open");
        CHECK_ZEROED(d);
    }
}

/* --------------------------------------------------------------- IDX: bad */

static void test_idx_missing_file(void)
{
    char im[512], lb[512];
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "miss-images"), tmp_path(lb, "miss-labels"), 0);
    tmp_path(im, "no-such-images");
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "cannot open");
    CHECK_ZEROED(d);
    /* A directory opens on Linux but cannot be read. */
    CHECK_FAIL(gf_idx_load(test_tmpdir(), lb, &d, &err), err, test_tmpdir(), "cannot");
    CHECK_ZEROED(d);
}

static void test_idx_bad_magic(void)
{
    char im[512], lb[512];
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "magic-images"), tmp_path(lb, "magic-labels"), 0);
    /* The files swapped: each has the other's magic number. */
    CHECK_FAIL(gf_idx_load(lb, lb, &d, &err), err, lb, "magic");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "0x00000801"));
    CHECK_FAIL(gf_idx_load(im, im, &d, &err), err, im, "magic");
    CHECK_ZEROED(d);
    /* A gzip file with a wrong magic inside. */
    uint32_t dims[3] = {3, 2, 3};
    unsigned char px[18] = {0};
    write_idx(tmp_path(im, "magic-images.gz"), 0x00000c03u, dims, 3, px, 18, 1);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "magic");
}

static void test_idx_truncated_header(void)
{
    char im[512], lb[512];
    unsigned char hdr[10] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0};
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "th-images"), tmp_path(lb, "th-labels"), 0);
    for (int gz = 0; gz <= 1; gz++) {
        write_bytes(tmp_path(im, gz ? "th-short.gz" : "th-short"), hdr, sizeof hdr, gz);
        CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "truncated");
        CHECK_ZEROED(d);
    }
    write_bytes(tmp_path(im, "th-empty"), hdr, 0, 0);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "truncated");
}

static void test_idx_truncated_pixels(void)
{
    char im[512], lb[512];
    unsigned char px[18];
    uint32_t dims[3] = {3, 2, 3};
    gf_dataset d;
    gf_err err = {""};
    good_pixels(px);
    write_good_pair(tmp_path(im, "tp-images"), tmp_path(lb, "tp-labels"), 0);
    for (int gz = 0; gz <= 1; gz++) {
        write_idx(tmp_path(im, gz ? "tp-short.gz" : "tp-short"), IDX_IMAGES, dims, 3, px, 17, gz);
        CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "truncated");
        CHECK_ZEROED(d);
    }
}

/* A file longer than its header says is refused, not silently cut. */
static void test_idx_trailing_data(void)
{
    char im[512], lb[512];
    unsigned char px[19];
    uint32_t dims[3] = {3, 2, 3};
    gf_dataset d;
    gf_err err = {""};
    good_pixels(px);
    px[18] = 7;
    write_good_pair(tmp_path(im, "td-images"), tmp_path(lb, "td-labels"), 0);
    for (int gz = 0; gz <= 1; gz++) {
        write_idx(tmp_path(im, gz ? "td-long.gz" : "td-long"), IDX_IMAGES, dims, 3, px, 19, gz);
        CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "trailing");
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "disagrees"));
        CHECK_ZEROED(d);
    }
}

static void test_idx_zero_dimension(void)
{
    char im[512], lb[512];
    uint32_t dims[3] = {3, 0, 3};
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "zd-images"), tmp_path(lb, "zd-labels"), 0);
    write_idx(tmp_path(im, "zd-zero"), IDX_IMAGES, dims, 3, NULL, 0, 0);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "zero dimension");
    CHECK_ZEROED(d);
}

/* Headers whose product overflows 32 or 64 bits (wrapping to 0, which an
 * unchecked reader would accept with an empty payload) or exceeds 2^31. */
static void test_idx_dims_overflow(void)
{
    static const uint32_t bad[][3] = {
        {0xffffffffu, 28, 28},       /* count does not fit an int */
        {65536, 65536, 1},           /* 2^32: wraps to 0 in 32 bits */
        {1u << 22, 1u << 21, 1u << 21}, /* 2^64: wraps to 0 in size_t */
        {1, 65536, 32768},           /* 2^31 bytes: over the cap */
        {3, 0xffffffffu, 0xffffffffu},
    };
    char im[512], lb[512];
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "of-images"), tmp_path(lb, "of-labels"), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int gz = 0; gz <= 1; gz++) {
            write_idx(tmp_path(im, gz ? "of-huge.gz" : "of-huge"), IDX_IMAGES, bad[i], 3, NULL,
                      0, gz);
            CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "too large");
            CHECK_ZEROED(d);
        }
    uint32_t ldims[1] = {0xfffffff0u};
    write_idx(tmp_path(lb, "of-labels-huge"), IDX_LABELS, ldims, 1, good_labels, 3, 0);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, lb, "too large");
}

/* Plausible but huge dimensions over a tiny file: truncated, found without
 * allocating what the header claims (the gzip case reads incrementally). */
static void test_idx_huge_dims_tiny_file(void)
{
    static const uint32_t dims[][3] = {{100000, 28, 28}, {1, 46340, 46340}};
    char im[512], lb[512];
    unsigned char px[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "hd-images"), tmp_path(lb, "hd-labels"), 0);
    for (int i = 0; i < 2; i++)
        for (int gz = 0; gz <= 1; gz++) {
            write_idx(tmp_path(im, gz ? "hd-big.gz" : "hd-big"), IDX_IMAGES, dims[i], 3, px, 10,
                      gz);
            CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "truncated");
            CHECK_ZEROED(d);
        }
}

static void test_idx_label_out_of_range(void)
{
    char im[512], lb[512];
    unsigned char labels[3] = {0, 9, 10};
    uint32_t ldims[1] = {3};
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "lr-images"), tmp_path(lb, "lr-labels"), 0);
    for (int gz = 0; gz <= 1; gz++) {
        write_idx(tmp_path(lb, gz ? "lr-bad.gz" : "lr-bad"), IDX_LABELS, ldims, 1, labels, 3, gz);
        CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, lb, "out of range");
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "label 10"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "offset 10")); /* 8-byte header + index 2 */
        CHECK_ZEROED(d);
    }
    labels[2] = 255;
    write_idx(lb, IDX_LABELS, ldims, 1, labels, 3, 1);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, lb, "label 255");
}

static void test_idx_count_mismatch(void)
{
    char im[512], lb[512];
    uint32_t ldims[1] = {2};
    gf_dataset d;
    gf_err err = {""};
    write_good_pair(tmp_path(im, "cm-images"), tmp_path(lb, "cm-labels"), 0);
    write_idx(tmp_path(lb, "cm-two-labels"), IDX_LABELS, ldims, 1, good_labels, 2, 0);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "mismatch");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, lb));
    CHECK_ZEROED(d);
}

/* ---------------------------------------------------------- IDX: bad gzip */

/* A compressible gzip IDX file of 50 images of 28 × 28 (about 2 KB): big
 * enough that deflate uses dynamic Huffman blocks worth corrupting. */
static void write_gz_images(const char *path, uint32_t n)
{
    size_t len = (size_t)n * 28 * 28;
    unsigned char *px = malloc(len);
    uint32_t dims[3] = {n, 28, 28};
    CU_ASSERT_PTR_NOT_NULL_FATAL(px);
    for (size_t k = 0; k < len; k++)
        px[k] = (unsigned char)((k % 28) * (k / 784 % 7));
    write_idx(path, IDX_IMAGES, dims, 3, px, len, 1);
    free(px);
}

static void write_gz_labels(const char *path, uint32_t n)
{
    unsigned char lb[50];
    for (uint32_t i = 0; i < n; i++)
        lb[i] = (unsigned char)(i % 10);
    write_idx(path, IDX_LABELS, &n, 1, lb, n, 1);
}

static void rewrite_with(const char *path, size_t len, size_t flip_at, unsigned char mask)
{
    size_t full;
    unsigned char *buf = read_file(path, &full);
    CU_ASSERT_FATAL(len <= full && (flip_at == (size_t)-1 || flip_at < len));
    if (flip_at != (size_t)-1)
        buf[flip_at] ^= mask;
    write_bytes(path, buf, len, 0);
    free(buf);
}

static void test_gzip_corrupt_stream(void)
{
    char im[512], lb[512];
    size_t len;
    gf_dataset d;
    gf_err err = {""};
    write_gz_labels(tmp_path(lb, "gc-labels.gz"), 50);
    write_gz_images(tmp_path(im, "gc-images.gz"), 50);
    CU_ASSERT_EQUAL_FATAL(gf_idx_load(im, lb, &d, &err), 0); /* intact it loads */
    CU_ASSERT_EQUAL(d.n, 50);
    gf_dataset_free(&d);
    free(read_file(im, &len));
    /* Garbage in the middle of the deflate data (after the 10-byte header). */
    rewrite_with(im, len, 12, 0xff);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "gzip");
    CHECK_ZEROED(d);
    /* An unknown compression method in the gzip header itself. */
    write_gz_images(im, 50);
    rewrite_with(im, len, 2, 0x01);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "gzip");
}

/* The data decompresses but the CRC-32 in the trailer does not match. */
static void test_gzip_bad_crc(void)
{
    char im[512], lb[512];
    size_t len;
    gf_dataset d;
    gf_err err = {""};
    write_gz_labels(tmp_path(lb, "crc-labels.gz"), 50);
    write_gz_images(tmp_path(im, "crc-images.gz"), 50);
    free(read_file(im, &len));
    rewrite_with(im, len, len - 8, 0x5a);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "gzip");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "check"));
    CHECK_ZEROED(d);
}

static void test_gzip_truncated(void)
{
    char im[512], lb[512];
    size_t len;
    gf_dataset d;
    gf_err err = {""};
    write_gz_labels(tmp_path(lb, "gt-labels.gz"), 50);
    write_gz_images(tmp_path(im, "gt-images.gz"), 50);
    free(read_file(im, &len));
    /* Cut in half, then cut only the 8-byte trailer (all data present, but
     * the CRC is never checked): both are truncated gzip streams. */
    size_t cuts[3] = {len / 2, len - 8, 11};
    for (int i = 0; i < 3; i++) {
        write_gz_images(im, 50);
        rewrite_with(im, cuts[i], (size_t)-1, 0);
        CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, im, "truncated");
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "gzip"));
        CHECK_ZEROED(d);
    }
    /* Labels are checked just as carefully. */
    write_gz_images(im, 50);
    free(read_file(lb, &len));
    rewrite_with(lb, len - 4, (size_t)-1, 0);
    CHECK_FAIL(gf_idx_load(im, lb, &d, &err), err, lb, "truncated");
}

/* ------------------------------------------------------------------ CIFAR */

/* Writes a CIFAR-10 batch of n records: label first + r, pixel j of
 * record r equal to (r * 7 + j) % 251. */
static void write_cifar(const char *path, int n, int first, size_t len_override)
{
    size_t len = (size_t)n * 3073;
    unsigned char *buf = calloc(len + 1, 1); /* + 1: the one-byte-over case */
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    for (int r = 0; r < n; r++) {
        buf[(size_t)r * 3073] = (unsigned char)(first + r);
        for (int j = 0; j < 3072; j++)
            buf[(size_t)r * 3073 + 1 + j] = (unsigned char)((r * 7 + j) % 251);
    }
    write_bytes(path, buf, len_override ? len_override : len, 0);
    free(buf);
}

static void make_cifar_dir(char *dir, const char *name)
{
    char path[600];
    tmp_path(dir, name);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    for (int b = 1; b <= 5; b++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
        write_cifar(path, 2, 2 * (b - 1), 0);
    }
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar(path, 3, 5, 0);
}

static void test_cifar_loads_train_and_test(void)
{
    char dir[512];
    gf_dataset d;
    gf_err err = {""};
    make_cifar_dir(dir, "cifar-ok");
    CU_ASSERT_EQUAL_FATAL(gf_cifar10_load_dir(dir, 1, &d, &err), 0);
    CU_ASSERT_EQUAL(d.n, 10);
    CU_ASSERT_EQUAL(d.c, 3);
    CU_ASSERT_EQUAL(d.h, 32);
    CU_ASSERT_EQUAL(d.w, 32);
    CU_ASSERT_EQUAL(d.num_classes, 10);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(d.labels[i], i); /* batch b holds labels 2(b-1), 2(b-1)+1 */
    /* Example 3 is record 1 of batch 2: R plane first, then G at 1024, B at 2048. */
    const float *x = d.images + 3 * 3072;
    CU_ASSERT_EQUAL(x[0], (7 % 251) / 255.0f);
    CU_ASSERT_EQUAL(x[1024 + 5], ((7 + 1029) % 251) / 255.0f);
    CU_ASSERT_EQUAL(x[2048 + 33], ((7 + 2081) % 251) / 255.0f);
    gf_dataset_free(&d);
    CU_ASSERT_EQUAL_FATAL(gf_cifar10_load_dir(dir, 0, &d, &err), 0);
    CU_ASSERT_EQUAL(d.n, 3);
    CU_ASSERT_EQUAL(d.labels[2], 7);
    CU_ASSERT_EQUAL(d.images[2 * 3072 + 3071], ((14 + 3071) % 251) / 255.0f);
    gf_dataset_free(&d);
}

static void test_cifar_bad_files(void)
{
    char dir[512], path[600];
    gf_dataset d;
    gf_err err = {""};
    make_cifar_dir(dir, "cifar-bad");
    snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
    write_cifar(path, 2, 0, 2 * 3073 - 1); /* one byte short */
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "multiple");
    CHECK_ZEROED(d);
    write_cifar(path, 2, 0, 2 * 3073 + 1); /* one byte over */
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "multiple");
    write_cifar(path, 1, 0, 1); /* one byte: less than a record */
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "multiple");
    write_bytes(path, (const unsigned char *)"", 0, 0);
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "empty");
    write_cifar(path, 2, 9, 0); /* labels 9 and 10 */
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "out of range");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "offset 3073"));
    CHECK_ZEROED(d);
    write_cifar(path, 2, 0, 0);
    snprintf(path, sizeof path, "%s/data_batch_5.bin", dir);
    CU_ASSERT_EQUAL_FATAL(unlink(path), 0);
    CHECK_FAIL(gf_cifar10_load_dir(dir, 1, &d, &err), err, path, "cannot open");
    CHECK_ZEROED(d);
    CU_ASSERT_EQUAL(gf_cifar10_load_dir(dir, 0, &d, &err), 0); /* test split is intact */
    gf_dataset_free(&d);
}

/* ---------------------------------------------------------- Fashion-MNIST */

static int fashion_present(void)
{
    struct stat st;
    return stat(FASHION_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Loads a real split and checks its shape, its exact class histogram, the
 * first ten labels and that the pixels span [0, 1]. */
static void check_fashion(int train, int n, const int *first10, gf_dataset *d)
{
    gf_err err = {""};
    int hist[10] = {0};
    CU_ASSERT_EQUAL_FATAL(gf_mnist_load_dir(FASHION_DIR, train, d, &err), 0);
    CU_ASSERT_EQUAL_FATAL(d->n, n);
    CU_ASSERT(d->c == 1 && d->h == 28 && d->w == 28 && d->num_classes == 10);
    for (int i = 0; i < n; i++)
        if (d->labels[i] >= 0 && d->labels[i] < 10)
            hist[d->labels[i]]++;
    for (int k = 0; k < 10; k++)
        CU_ASSERT_EQUAL(hist[k], n / 10);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(d->labels[i], first10[i]);
    float lo = 1.0f, hi = 0.0f;
    for (size_t j = 0; j < (size_t)n * 784; j++) {
        lo = fminf(lo, d->images[j]);
        hi = fmaxf(hi, d->images[j]);
    }
    CU_ASSERT_EQUAL(lo, 0.0f);
    CU_ASSERT_EQUAL(hi, 1.0f);
}

static void test_fashion_mnist_train(void)
{
    static const int first10[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    gf_dataset d;
    float mean, std;
    if (!fashion_present()) {
        CU_PASS("skipped: " FASHION_DIR " not installed");
        return;
    }
    check_fashion(1, 60000, first10, &d);
    /* The widely quoted Fashion-MNIST training statistics. */
    gf_dataset_channel_stats(&d, &mean, &std);
    CU_ASSERT_DOUBLE_EQUAL(mean, 0.2860, 5e-4);
    CU_ASSERT_DOUBLE_EQUAL(std, 0.3530, 5e-4);
    gf_dataset_free(&d);
}

static void test_fashion_mnist_test(void)
{
    static const int first10[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    gf_dataset d;
    if (!fashion_present()) {
        CU_PASS("skipped: " FASHION_DIR " not installed");
        return;
    }
    check_fashion(0, 10000, first10, &d);
    gf_dataset_free(&d);
}

/* -------------------------------------------------------------- register */

int suite_data_register(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"idx_raw_loads_scaled_pixels", test_idx_raw_loads_scaled_pixels},
        {"idx_gzip_equals_raw", test_idx_gzip_equals_raw},
        {"mnist_dir_accepts_gz_and_raw_names", test_mnist_dir_accepts_gz_and_raw_names},
        {"idx_missing_file", test_idx_missing_file},
        {"idx_bad_magic", test_idx_bad_magic},
        {"idx_truncated_header", test_idx_truncated_header},
        {"idx_truncated_pixels", test_idx_truncated_pixels},
        {"idx_trailing_data", test_idx_trailing_data},
        {"idx_zero_dimension", test_idx_zero_dimension},
        {"idx_dims_overflow", test_idx_dims_overflow},
        {"idx_huge_dims_tiny_file", test_idx_huge_dims_tiny_file},
        {"idx_label_out_of_range", test_idx_label_out_of_range},
        {"idx_count_mismatch", test_idx_count_mismatch},
        {"gzip_corrupt_stream", test_gzip_corrupt_stream},
        {"gzip_bad_crc", test_gzip_bad_crc},
        {"gzip_truncated", test_gzip_truncated},
        {"cifar_loads_train_and_test", test_cifar_loads_train_and_test},
        {"cifar_bad_files", test_cifar_bad_files},
        {"fashion_mnist_train", test_fashion_mnist_train},
        {"fashion_mnist_test", test_fashion_mnist_test},
    };
    CU_pSuite s = CU_add_suite("data", NULL, NULL);
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}
