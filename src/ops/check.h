/* Helpers shared by every op's check: run a kernel on random data against
 * its CPU reference. Used by the tests and by `vkllm selftest`. */
#ifndef VKLLM_OPS_CHECK_H
#define VKLLM_OPS_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "util/rng.h"

/* Bit pattern written over outputs before each run: a NaN, so an element
 * the kernel forgot to write cannot pass a comparison. */
#define CHECK_POISON 0x7fc0dead

/* Fills with uniform values in [lo, hi). */
void check_fill_f32(rng *r, float *x, uint64_t n, float lo, float hi);
/* Fills fp16 storage with uniform values in [lo, hi), rounded to fp16. */
void check_fill_f16(rng *r, uint16_t *x, uint64_t n, float lo, float hi);

/* Uploads `bytes` into a new tensor (granule as in gpu_tensor_create).
 * On failure *t is NULL and the context holds the error. */
vkllm_status check_tensor_from(gpu_ctx *ctx, const void *src, uint64_t bytes, uint64_t granule, gpu_tensor **t);

/* Compares got[i] with want[i] against the bound atol + rtol * scale[i]
 * (scale NULL: |want[i]|). Fills out->max_err, out->ratio, out->passed,
 * out->detail (first mismatch, with `what` and the index). NaN fails. */
void check_compare(const float *got, const float *want, const double *scale, uint64_t n, double atol,
                   double rtol, const char *what, vkllm_check_result *out);

/* Compares n elements of elt_bytes (2 or 4) bit for bit, filling out like
 * check_compare (max_err over the elements as fp16/fp32 values, ratio 0
 * or inf). For kernels that must be exact, NaNs, -0 and untouched
 * (poisoned) elements included. */
void compare_bits(const void *got, const void *want, uint64_t n, uint32_t elt_bytes, const char *what,
                  vkllm_check_result *out);

/* ------------------------------------------------------------ the driver
 *
 * Every op check is: host inputs and the reference, then the driver
 * (allocate the tensors, record the op, upload, warm up, poison the
 * outputs, run timed, download), then a comparison. A check lists its
 * tensors in a small table of check_buf and records its op from them: */
typedef struct check_buf {
    const void *host; /* uploaded before each run (NULL: left undefined) */
    uint64_t bytes;
    uint64_t granule; /* as gpu_tensor_create (a weight's row) */
    void *got;        /* an output: downloaded here after the run (NULL: not read back) */
    bool in_out;      /* an output that is also an input (y +=, a cache or x written in place):
                         restored from host after the warm-up instead of poisoned */
    uint32_t poison;  /* an output's 32-bit poison pattern (0: CHECK_POISON) */
    gpu_tensor *t;    /* the driver's tensor */
} check_buf;

/* Records the op under test over the tensors b[i].t (errors stick to rec). */
typedef void (*check_record_fn)(gpu_rec *rec, const check_buf *b, const void *arg);

typedef struct check_driver {
    gpu_ctx *ctx;
    check_buf *b;
    uint32_t n;
    gpu_rec *rec;
    uint32_t runs; /* check_execute calls so far */
} check_driver;

/* Creates the tensors (b[i].t) and records the op. The tensors exist (their
 * chunks can be read) before any host data is needed. */
vkllm_status check_prepare(check_driver *d, gpu_ctx *ctx, check_buf *b, uint32_t n, check_record_fn record,
                           const void *arg);
/* Uploads every buffer with host data; the first time runs once to warm up
 * (lavapipe compiles shaders at their first dispatch) and restores the
 * in_out buffers; poisons the other outputs (CHECK_POISON); runs timed
 * (out->gpu_us, first time); downloads the outputs into their got. Called
 * again after changing host inputs, it replays the same recording. */
vkllm_status check_execute(check_driver *d, vkllm_check_result *out);
/* Frees the recording and the tensors. */
void check_release(check_driver *d);
/* check_prepare + check_execute + check_release. */
vkllm_status check_drive(gpu_ctx *ctx, check_buf *b, uint32_t n, check_record_fn record, const void *arg,
                         vkllm_check_result *out);

/* Host arrays of a check, freed together. check_alloc returns NULL (and
 * marks h) when out of memory; check_host_status then fails on the
 * context with a message naming the check. */
#define CHECK_HOST_MAX 16
typedef struct check_host {
    void *p[CHECK_HOST_MAX];
    uint32_t n;
    bool oom;
} check_host;
void *check_alloc(check_host *h, size_t bytes);
vkllm_status check_host_status(gpu_ctx *ctx, const check_host *h, const char *check);
void check_host_free(check_host *h);

/* Copies a kernel name and a printf-formatted shape into the result. */
void check_begin(vkllm_check_result *out, const char *kernel, const char *shape_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
