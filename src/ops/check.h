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

/* Runs a finished recording twice: once to warm up (shader compilation on
 * lavapipe happens at first dispatch), then poisons `outs` and runs it again
 * timed. Sets out->gpu_us from the second run. */
vkllm_status check_run(gpu_ctx *ctx, gpu_rec *rec, gpu_tensor *const *outs, uint32_t n_outs,
                       vkllm_check_result *out);

/* Copies a kernel name and a printf-formatted shape into the result. */
void check_begin(vkllm_check_result *out, const char *kernel, const char *shape_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
