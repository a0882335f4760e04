/* The GPU layer itself: chunked tensors, the staging ring across chunk and
 * slot boundaries, fills, bad arguments, pipeline caching, timestamps,
 * asynchronous submits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "ops/rmsnorm.h"
#include "util/rng.h"

static int failures;
#define EXPECT_PRINT_OK 1
#include "expect.h"

static void transfers(gpu_ctx *ctx, uint64_t seed)
{
    /* 1,000,003 bytes in chunks of whole 6-byte granules, each <= 64 KiB;
     * the staging ring's slots are 4 KiB, so every transfer crosses both. */
    const uint64_t n = 1000003;
    uint8_t *src = malloc(n), *dst = malloc(n);
    rng r = { seed };
    for (uint64_t i = 0; i < n; i++) src[i] = (uint8_t)rng_next(&r);
    gpu_tensor *t;
    vkllm_status s = gpu_tensor_create(ctx, n, 6, &t);
    EXPECT(s == VKLLM_OK, "create %llu-byte tensor: %s", (unsigned long long)n, gpu_error(ctx));
    if (s != VKLLM_OK) return;
    uint32_t nc = gpu_tensor_n_chunks(t);
    uint64_t sum = 0;
    int whole_granules = 1;
    for (uint32_t c = 0; c < nc; c++) {
        sum += gpu_tensor_chunk_bytes(t, c);
        if (c + 1 < nc && gpu_tensor_chunk_bytes(t, c) % 6) whole_granules = 0;
        if (gpu_tensor_chunk_bytes(t, c) > 65536) whole_granules = 0;
    }
    EXPECT(nc > 10 && sum == n && whole_granules, "split into %u chunks of whole granules <= 64 KiB", nc);

    s = gpu_upload(ctx, t, 0, src, n);
    memset(dst, 0, n);
    if (s == VKLLM_OK) s = gpu_download(ctx, t, 0, dst, n);
    EXPECT(s == VKLLM_OK && memcmp(src, dst, n) == 0, "whole upload/download round trip");

    int ok = 1;
    for (int i = 0; i < 50 && ok; i++) { /* random sub-ranges, both directions */
        uint64_t off = rng_next(&r) % n, len = rng_next(&r) % (n - off) + 1;
        if (i % 2) {
            for (uint64_t j = 0; j < len; j++) src[off + j] = (uint8_t)rng_next(&r);
            if (gpu_upload(ctx, t, off, src + off, len) != VKLLM_OK) ok = 0;
        }
        memset(dst, 0xee, len);
        if (gpu_download(ctx, t, off, dst, len) != VKLLM_OK || memcmp(dst, src + off, len)) ok = 0;
    }
    EXPECT(ok, "50 random sub-range uploads/downloads across chunks and slots");

    s = gpu_fill(ctx, t, 0xa5a5a5a5u);
    if (s == VKLLM_OK) s = gpu_download(ctx, t, 0, dst, n);
    ok = s == VKLLM_OK;
    for (uint64_t i = 0; ok && i < n; i++) ok = dst[i] == 0xa5;
    EXPECT(ok, "fill reaches every byte of every chunk");

    s = gpu_upload(ctx, t, n - 2, src, 3);
    EXPECT(s == VKLLM_ERR_INVALID_ARG && strstr(gpu_error(ctx), "outside"), "upload past the end refused: %s",
           gpu_error(ctx));
    s = gpu_download(ctx, t, n + 1, dst, 0);
    EXPECT(s == VKLLM_ERR_INVALID_ARG, "download starting past the end refused");
    gpu_tensor_destroy(ctx, t);
    free(src);
    free(dst);
}

static void pipelines_and_timing(gpu_ctx *ctx)
{
    gpu_pipeline *a, *b, *c;
    gpu_pipeline_desc d = { .shader = "rmsnorm", .n_buffers = 3, .push_bytes = 12, .n_spec = 1, .spec = { 64 } };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &a);
    if (s == VKLLM_OK) s = gpu_pipeline_get(ctx, &d, &b);
    d.spec[0] = 32;
    if (s == VKLLM_OK) s = gpu_pipeline_get(ctx, &d, &c);
    EXPECT(s == VKLLM_OK && a == b && a != c, "pipelines cached per (shader, spec constants)");
    d.shader = "no_such_shader";
    s = gpu_pipeline_get(ctx, &d, &a);
    EXPECT(s == VKLLM_ERR_UNSUPPORTED && strstr(gpu_error(ctx), "no_such_shader"), "unknown shader refused: %s",
           gpu_error(ctx));

    /* three timed dispatches, replayed twice */
    gpu_tensor *x, *w, *y;
    s = gpu_tensor_create(ctx, 64 * 256 * 4, 0, &x);
    if (s == VKLLM_OK) s = gpu_tensor_create(ctx, 256 * 4, 0, &w);
    if (s == VKLLM_OK) s = gpu_tensor_create(ctx, 64 * 256 * 4, 0, &y);
    if (s != VKLLM_OK) {
        EXPECT(0, "tensors: %s", gpu_error(ctx));
        return;
    }
    gpu_fill(ctx, x, 0x3f800000u); /* 1.0f */
    gpu_fill(ctx, w, 0x40000000u); /* 2.0f */
    gpu_rec *rec;
    s = gpu_rec_begin(ctx, 8, &rec);
    for (int i = 0; i < 3 && s == VKLLM_OK; i++) {
        s = op_rmsnorm(rec, gpu_bind(x), gpu_bind(w), gpu_bind(y), 64, 256, 0.0f);
        gpu_barrier(rec); /* y written -> next rmsnorm rewrites it */
    }
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    int ok = s == VKLLM_OK;
    for (int run = 0; run < 2 && ok; run++) ok = gpu_rec_submit(rec) == VKLLM_OK;
    const char *labels[8];
    double us[8];
    uint32_t n = ok ? gpu_rec_timings(rec, labels, us, 8) : 0;
    int times_ok = gpu_info(ctx)->timestamps ? n == 3 : n == 0;
    for (uint32_t i = 0; i < n; i++) times_ok &= us[i] > 0 && us[i] < 1e7 && strcmp(labels[i], "rmsnorm") == 0;
    EXPECT(ok && times_ok, "recording replays; %u timed dispatches labelled, first %.1f us", n, n ? us[0] : 0.0);
    float got[4];
    ok = gpu_download(ctx, y, 0, got, sizeof got) == VKLLM_OK && got[0] == 2.0f && got[3] == 2.0f;
    EXPECT(ok, "rmsnorm of ones with weight 2 gives 2 (got %g)", got[0]);

    /* a binding naming a chunk the tensor doesn't have fails at record time */
    gpu_rec *bad;
    s = gpu_rec_begin(ctx, 0, &bad);
    if (s == VKLLM_OK) {
        gpu_binding wrong = { x, 3, 0, 0 };
        s = op_rmsnorm(bad, wrong, gpu_bind(w), gpu_bind(y), 64, 256, 0.0f);
    }
    EXPECT(s == VKLLM_ERR_INVALID_ARG && gpu_rec_end(bad) == VKLLM_ERR_INVALID_ARG,
           "bad chunk in a binding refused and remembered: %s", gpu_error(ctx));
    gpu_rec_destroy(bad);

    /* errors stick to the recording: an op's own argument check fails, the
     * ops after it record nothing, a later failure elsewhere on the context
     * does not replace the message, and gpu_rec_end reports the first */
    s = gpu_rec_begin(ctx, 0, &bad);
    if (s == VKLLM_OK) {
        s = op_rmsnorm(bad, gpu_bind(x), gpu_bind(w), gpu_bind(y), 64, 257, 0.0f); /* x too small for 64 x 257 */
        vkllm_status later = op_rmsnorm(bad, gpu_bind(x), gpu_bind(w), gpu_bind(y), 64, 256, 0.0f);
        gpu_fail(ctx, VKLLM_ERR_VULKAN, "something else failed");
        vkllm_status end = gpu_rec_end(bad);
        EXPECT(s == VKLLM_ERR_INVALID_ARG && later == s && gpu_rec_status(bad) == s && end == s &&
                   strstr(gpu_error(ctx), "rmsnorm") && gpu_rec_submit(bad) == s,
               "an op's error sticks to the recording, first message kept: %s", gpu_error(ctx));
    }
    gpu_rec_destroy(bad);
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, x);
    gpu_tensor_destroy(ctx, w);
    gpu_tensor_destroy(ctx, y);
}

/* Mapped tensors: host writes read by a shader, shader writes read by the
 * host right after the submit, replayed with new host data each time. */
static void mapped(gpu_ctx *ctx)
{
    gpu_tensor *in = NULL, *w = NULL, *out = NULL, *big = NULL;
    vkllm_status s = gpu_tensor_create_mapped(ctx, 2 * 256 * 4, &in);
    if (s == VKLLM_OK) s = gpu_tensor_create(ctx, 256 * 4, 0, &w);
    if (s == VKLLM_OK) s = gpu_tensor_create_mapped(ctx, 2 * 256 * 4, &out);
    gpu_rec *rec = NULL;
    if (s == VKLLM_OK) s = gpu_fill(ctx, w, 0x40400000u); /* 3.0f */
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 0, &rec);
    if (s == VKLLM_OK) s = op_rmsnorm(rec, gpu_bind(in), gpu_bind(w), gpu_bind(out), 2, 256, 0.0f);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    int ok = s == VKLLM_OK && gpu_tensor_map(in) && gpu_tensor_map(out) && !gpu_tensor_map(w);
    for (int run = 1; run <= 3 && ok; run++) {
        float *x = gpu_tensor_map(in), *y = gpu_tensor_map(out);
        for (int i = 0; i < 512; i++) x[i] = (float)(run * (i < 256 ? 1 : -2)); /* rms |x|: y = +-3 */
        ok = gpu_rec_submit(rec) == VKLLM_OK && y[0] == 3.0f && y[255] == 3.0f && y[256] == -3.0f;
    }
    EXPECT(ok, "mapped tensors: host writes in, shader results out, three replays: %s", gpu_error(ctx));
    s = gpu_tensor_create_mapped(ctx, 1 << 20, &big); /* above this context's 64 KiB chunks */
    EXPECT(s == VKLLM_ERR_UNSUPPORTED && !big, "mapped tensor larger than one chunk refused: %s", gpu_error(ctx));
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, in);
    gpu_tensor_destroy(ctx, w);
    gpu_tensor_destroy(ctx, out);
}

/* Asynchronous submits: two recordings in flight at once, each filling
 * its own mapped tensor, waited for in the other order; a second submit of
 * one in flight refused; a wait on one not in flight is nothing; destroying
 * one in flight waits for it (the validation layer would see a command
 * buffer and fence freed in use). */
static void async_submits(gpu_ctx *ctx)
{
    gpu_tensor *t[2] = { NULL, NULL };
    gpu_rec *rec[2] = { NULL, NULL };
    vkllm_status s = VKLLM_OK;
    for (int i = 0; i < 2 && s == VKLLM_OK; i++) {
        s = gpu_tensor_create_mapped(ctx, 4096, &t[i]);
        if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 0, &rec[i]);
        if (s == VKLLM_OK) s = gpu_rec_fill(rec[i], gpu_bind(t[i]), 4096, 0x11111111u * (uint32_t)(i + 1));
        if (s == VKLLM_OK) s = gpu_rec_end(rec[i]);
    }
    int ok = s == VKLLM_OK && gpu_rec_submit_async(rec[0]) == VKLLM_OK && gpu_rec_submit_async(rec[1]) == VKLLM_OK;
    EXPECT(ok, "async: two recordings submitted: %s", gpu_error(ctx));
    if (ok) {
        s = gpu_rec_submit_async(rec[0]);
        EXPECT(s == VKLLM_ERR_INVALID_ARG && strstr(gpu_error(ctx), "in flight"),
               "async: a second submit while in flight refused: %d '%s'", (int)s, gpu_error(ctx));
        s = gpu_rec_submit(rec[1]);
        EXPECT(s == VKLLM_ERR_INVALID_ARG, "async: gpu_rec_submit while in flight refused: %d", (int)s);
        const uint32_t *a = gpu_tensor_map(t[0]), *b = gpu_tensor_map(t[1]);
        ok = gpu_rec_wait(rec[1]) == VKLLM_OK && b[0] == 0x22222222u && b[1023] == 0x22222222u &&
             gpu_rec_wait(rec[0]) == VKLLM_OK && a[0] == 0x11111111u && a[1023] == 0x11111111u &&
             gpu_rec_wait(rec[0]) == VKLLM_OK;
        EXPECT(ok, "async: both done, waited for in the other order (and again): %s", gpu_error(ctx));
        memset(gpu_tensor_map(t[0]), 0, 4096);
        ok = gpu_rec_submit(rec[0]) == VKLLM_OK && a[512] == 0x11111111u && gpu_rec_submit_async(rec[0]) == VKLLM_OK;
        EXPECT(ok, "async: submitted again after the wait: %s", gpu_error(ctx));
    }
    gpu_rec_destroy(rec[0]); /* in flight: waits */
    gpu_rec_destroy(rec[1]);
    gpu_tensor_destroy(ctx, t[0]);
    gpu_tensor_destroy(ctx, t[1]);
}

int main(void)
{
    gpu_opts o = { .validate = true, .max_chunk_bytes = 65536, .staging_bytes = 16384 };
    gpu_ctx *ctx;
    char err[1024];
    if (gpu_ctx_create(&o, &ctx, err, sizeof err) != VKLLM_OK) {
        printf("FAIL context: %s\n", err);
        return 1;
    }
    printf("device: %s\n", gpu_info(ctx)->name);
    transfers(ctx, 42);
    pipelines_and_timing(ctx);
    mapped(ctx);
    async_submits(ctx);

    gpu_opts none = { .device = "no-such-device-name" };
    gpu_ctx *c2;
    vkllm_status s = gpu_ctx_create(&none, &c2, err, sizeof err);
    EXPECT(s == VKLLM_ERR_NO_DEVICE && c2 == NULL && strstr(err, "no-such-device-name"), "unknown device: %s", err);

    if (gpu_validation_count(ctx)) {
        printf("FAIL validation layer: %u message(s); first: %s\n", gpu_validation_count(ctx), gpu_validation_first(ctx));
        failures++;
    }
    gpu_ctx_destroy(ctx);
    printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
