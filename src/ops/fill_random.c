#include "fill_random.h"

#include <stdlib.h>

#include "check.h"
#include "push.h"
#include "util/half.h"

#define FILL_WG 256 /* invocations per workgroup; two elements each */

vkllm_status op_fill_random(gpu_rec *rec, gpu_tensor *t, uint64_t n, uint32_t seed, float scale)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n * 2 > gpu_tensor_bytes(t) || n >= (1ull << 32))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "fill_random: %llu elements exceed the tensor or 2^32",
                        (unsigned long long)n);
    gpu_pipeline_desc d = {
        .shader = "fill_random", .n_buffers = FILL_RANDOM_N_BINDINGS, .push_bytes = sizeof(fill_random_push),
        .n_spec = FILL_RANDOM_N_SPEC, .spec = { [FILL_RANDOM_SPEC_WG] = FILL_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    for (uint32_t c = 0; c < gpu_tensor_n_chunks(t); c++) {
        uint64_t first = gpu_tensor_chunk_offset(t, c) / 2;
        if (first >= n) break;
        if (gpu_tensor_chunk_offset(t, c) % 2)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "fill_random: chunk %u starts inside an element", c);
        uint64_t count = gpu_tensor_chunk_bytes(t, c) / 2;
        if (count > n - first) count = n - first;
        fill_random_push pc = { .n = (uint32_t)count, .offset = (uint32_t)first, .seed = seed, .scale = scale };
        gpu_binding b[FILL_RANDOM_N_BINDINGS] = { [FILL_RANDOM_BIND_DST] = gpu_bind_chunk(t, c) };
        uint64_t groups = ((count + 1) / 2 + FILL_WG - 1) / FILL_WG;
        uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
        gpu_dispatch(rec, p, b, FILL_RANDOM_N_BINDINGS, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "fill_random");
    }
    return gpu_rec_status(rec);
}

static uint32_t hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint16_t ref_fill_random(uint64_t i, uint32_t seed, float scale)
{
    uint32_t h = hash((uint32_t)i * 0x9e3779b9u ^ hash(seed));
    float u = (float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f;
    return float_to_half(u * scale);
}

typedef struct fill_random_args {
    uint64_t n;
    uint32_t seed;
    float scale;
} fill_random_args;

static void record_fill_random(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const fill_random_args *a = arg;
    op_fill_random(rec, b[0].t, a->n, a->seed, a->scale);
}

vkllm_status check_fill_random(gpu_ctx *ctx, uint64_t n, uint32_t seed, float scale, vkllm_check_result *out)
{
    check_begin(out, "fill_random", "%llu x fp16, scale %g", (unsigned long long)n, scale);
    check_host h = { 0 };
    uint16_t *want = check_alloc(&h, n * 2 + 2), *got = check_alloc(&h, n * 2 + 2);
    vkllm_status s = check_host_status(ctx, &h, "check_fill_random");
    if (s == VKLLM_OK) {
        for (uint64_t i = 0; i < n; i++) want[i] = ref_fill_random(i, seed, scale);
        want[n] = 0x7e00; /* the element after the end keeps its poison (a half NaN) */
        check_buf b[1] = { { .bytes = n * 2 + 2, .granule = 2, .got = got, .poison = 0x7e007e00u } };
        s = check_drive(ctx, b, 1, record_fill_random, &(fill_random_args){ n, seed, scale }, out);
    }
    if (s == VKLLM_OK) compare_bits(got, want, n + 1, 2, "dst", out);
    check_host_free(&h);
    return s;
}
