/* Bandwidth measurements (include/vkllm.h): the device's copy bandwidth and
 * the decode matrix-vector kernel's achieved weight-read bandwidth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "gpu/gpu.h"
#include "ops/fill_random.h"
#include "ops/matmul.h"
#include "ops/profile.h"
#include "vkllm.h"


static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Copy bandwidth: a recording of 8 copies between two buffers of up to
 * 256 MiB (one chunk), timed on the host around the submit (the copies
 * dominate: milliseconds against a submit's microseconds); median of reps. */
static vkllm_status copy_bandwidth(gpu_ctx *ctx, uint32_t reps, double *gbps, uint64_t *bytes_out)
{
    uint64_t bytes = gpu_max_chunk_bytes(ctx);
    if (bytes > (256u << 20)) bytes = 256u << 20;
    gpu_tensor *a = NULL, *b = NULL;
    gpu_rec *rec = NULL;
    double *t = calloc(reps, sizeof *t);
    vkllm_status s = t ? gpu_rec_begin(ctx, 0, &rec) : gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == VKLLM_OK) { /* errors stick to the recording (gpu.h) */
        gpu_rec_note(rec, gpu_tensor_create(ctx, bytes, 0, &a));
        gpu_rec_note(rec, gpu_tensor_create(ctx, bytes, 0, &b));
        for (int i = 0; i < 8; i++) {
            gpu_rec_copy(rec, gpu_bind(i % 2 ? a : b), gpu_bind(i % 2 ? b : a), bytes);
            gpu_barrier(rec); /* each copy reads what the previous one wrote */
        }
        s = gpu_rec_end(rec);
    }
    if (s == VKLLM_OK) s = gpu_fill(ctx, a, 0x3c003c00u); /* defined bytes to copy */
    if (s == VKLLM_OK) s = gpu_rec_submit(rec); /* warm-up */
    for (uint32_t r = 0; r < reps && s == VKLLM_OK; r++) {
        double t0 = now_s();
        s = gpu_rec_submit(rec);
        t[r] = now_s() - t0;
    }
    if (s == VKLLM_OK) {
        qsort(t, reps, sizeof *t, cmp_double);
        *gbps = 8.0 * 2 * bytes / t[reps / 2] / 1e9;
        *bytes_out = bytes;
    }
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, a);
    gpu_tensor_destroy(ctx, b);
    free(t);
    return s;
}

/* Weight bytes a matrix-vector timing streams through, in distinct
 * tensors: more than any GPU's last-level cache (H100: 50 MB; AMD's
 * Infinity Cache: up to 256 MB), so repeats are not served from it. */
#define MATVEC_STREAM_BYTES (320ull << 20)
#define MATVEC_MAX_COPIES 64

/* One matrix-vector product's median GPU time (timestamps), or wall time
 * where the device has no timestamps: each run multiplies x with each of
 * several copies of the weights in turn (barriers between, as in a decode
 * step) and counts the mean per product. */
static vkllm_status matvec_time(gpu_ctx *ctx, uint32_t rows, uint32_t cols, uint32_t reps, double *us)
{
    const uint64_t w_bytes = (uint64_t)rows * cols * 2;
    uint32_t n_w = (uint32_t)((MATVEC_STREAM_BYTES + w_bytes - 1) / w_bytes);
    if (n_w > MATVEC_MAX_COPIES) n_w = MATVEC_MAX_COPIES;
    gpu_tensor *w[MATVEC_MAX_COPIES] = { 0 }, *x = NULL, *y = NULL;
    gpu_rec *fill = NULL, *rec = NULL;
    double *t = calloc(reps, sizeof *t);
    vkllm_status s = t ? gpu_rec_begin(ctx, 0, &fill) : gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    if (s == VKLLM_OK) { /* the tensors, random weights and x = 1; errors stick to the recording (gpu.h) */
        for (uint32_t i = 0; i < n_w; i++) {
            gpu_rec_note(fill, gpu_tensor_create(ctx, w_bytes, (uint64_t)cols * 2, &w[i]));
            op_fill_random(fill, w[i], (uint64_t)rows * cols, 7 + i, 0.01f);
        }
        gpu_rec_note(fill, gpu_tensor_create(ctx, (uint64_t)cols * 4, 0, &x));
        gpu_rec_note(fill, gpu_tensor_create(ctx, (uint64_t)rows * 4, 0, &y));
        gpu_rec_fill(fill, gpu_bind(x), (uint64_t)cols * 4, 0x3f800000u);
        s = gpu_rec_end(fill);
    }
    if (s == VKLLM_OK) s = gpu_rec_submit(fill);
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 64 * n_w, &rec);
    if (s == VKLLM_OK) {
        for (uint32_t i = 0; i < n_w; i++) {
            op_matmul(rec, w[i], gpu_bind(x), gpu_bind(y), 1, rows, cols);
            gpu_barrier(rec); /* as in a decode step: each product after the last */
        }
        s = gpu_rec_end(rec);
    }
    if (s == VKLLM_OK) s = gpu_rec_submit(rec); /* warm-up (and the shader JIT on lavapipe) */
    for (uint32_t r = 0; r < reps && s == VKLLM_OK; r++) {
        double t0 = now_s();
        s = gpu_rec_submit(rec);
        double wall = (now_s() - t0) * 1e6, gpu = gpu_rec_total_us(rec);
        t[r] = (gpu > 0 ? gpu : wall) / n_w;
    }
    if (s == VKLLM_OK) {
        qsort(t, reps, sizeof *t, cmp_double);
        *us = t[reps / 2];
    }
    gpu_rec_destroy(fill);
    gpu_rec_destroy(rec);
    for (uint32_t i = 0; i < n_w; i++) gpu_tensor_destroy(ctx, w[i]);
    gpu_tensor_destroy(ctx, x);
    gpu_tensor_destroy(ctx, y);
    free(t);
    return s;
}

vkllm_status vkllm_measure_bandwidth(const char *device, const uint32_t (*shapes)[2], uint32_t n_shapes, uint32_t reps,
                                     vkllm_bandwidth *out, char *err, size_t err_len)
{
    static const uint32_t solar[][2] = { { 4096, 4096 }, { 1024, 4096 }, { 14336, 4096 }, { 4096, 14336 }, { 32000, 4096 } };
    if (!out || n_shapes > VKLLM_MAX_MATVEC_SHAPES) {
        if (err && err_len) snprintf(err, err_len, "vkllm_measure_bandwidth: bad arguments");
        return VKLLM_ERR_INVALID_ARG;
    }
    if (!shapes) {
        shapes = solar;
        n_shapes = 5;
    }
    if (reps == 0) reps = 10;
    memset(out, 0, sizeof *out);
    gpu_opts o = { .device = device };
    gpu_ctx *ctx;
    vkllm_status s = gpu_ctx_create(&o, &ctx, err, err_len);
    if (s != VKLLM_OK) return s;
    snprintf(out->device, sizeof out->device, "%s", gpu_info(ctx)->name);
    s = copy_bandwidth(ctx, reps, &out->copy_gbps, &out->copy_bytes);
    for (uint32_t i = 0; i < n_shapes && s == VKLLM_OK; i++) {
        out->matvec[i].rows = shapes[i][0];
        out->matvec[i].cols = shapes[i][1];
        s = matvec_time(ctx, shapes[i][0], shapes[i][1], reps, &out->matvec[i].us);
        out->matvec[i].gbps = (double)shapes[i][0] * shapes[i][1] * 2 / (out->matvec[i].us * 1e-6) / 1e9;
        out->n_matvec = i + 1;
    }
    if (s != VKLLM_OK && err && err_len) snprintf(err, err_len, "%s", gpu_error(ctx));
    gpu_ctx_destroy(ctx);
    return s;
}

vkllm_status vkllm_model_copy_bandwidth(vkllm_model *m, double *gbps, char *err, size_t err_len)
{
    uint64_t bytes;
    vkllm_status s = copy_bandwidth(m->ctx, 5, gbps, &bytes);
    if (s != VKLLM_OK && err && err_len) snprintf(err, err_len, "%s", gpu_error(m->ctx));
    return s;
}

size_t vkllm_device_profile(const vkllm_device_info *d, char *buf, size_t len)
{
    if (buf && len) buf[0] = 0;
    if (!d) return 0;
    ops_profile p = ops_profile_start(d);
    return ops_profile_json(&p, buf, len);
}

size_t vkllm_model_profile(const vkllm_model *m, char *buf, size_t len)
{
    if (buf && len) buf[0] = 0;
    return m ? ops_profile_json(ops_profile_of(m->ctx), buf, len) : 0;
}

size_t vkllm_model_tuning(const vkllm_model *m, char *buf, size_t len)
{
    if (buf && len) buf[0] = 0;
    return m ? llama_weights_tuning(m->w, buf, len) : 0;
}
