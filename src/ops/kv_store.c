#include "kv_store.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rope.h"
#include "util/half.h"

/* The cache write is the RoPE-to-cache kernel with nothing rotated
 * (shaders/rope.comp, TO_CACHE): one shader for keys and values. */
vkllm_status op_kv_store(gpu_rec *rec, gpu_binding src, gpu_binding pos, gpu_binding cache, uint32_t n_tok,
                         uint32_t row, uint32_t n_ctx)
{
    if (row == 0 || row % 2 || n_ctx == 0)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "kv_store: row %u must be even and n_ctx %u non-zero",
                        row, n_ctx);
    if (n_tok == 0) return VKLLM_OK;
    return op_rope_to_cache(rec, src, pos, cache, n_tok, 1, row, 0, 10000.0f, ROPE_ADJACENT, n_ctx);
}

void ref_kv_store(const float *src, const int32_t *pos, uint16_t *cache, uint32_t n_tok, uint32_t row,
                  uint32_t n_ctx)
{
    for (uint32_t t = 0; t < n_tok; t++) {
        if (pos[t] < 0 || (uint32_t)pos[t] >= n_ctx) continue;
        for (uint32_t c = 0; c < row; c++)
            cache[(size_t)pos[t] * row + c] = float_to_half(src[(size_t)t * row + c]);
    }
}

enum { KV_SRC, KV_POS, KV_CACHE, KV_N };

typedef struct kv_store_args {
    uint32_t n_all, row, n_ctx;
} kv_store_args;

static void record_kv_store(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const kv_store_args *a = arg;
    op_kv_store(rec, gpu_bind(b[KV_SRC].t), gpu_bind(b[KV_POS].t), gpu_bind(b[KV_CACHE].t), a->n_all, a->row, a->n_ctx);
}

vkllm_status check_kv_store(gpu_ctx *ctx, uint32_t n_tok, uint32_t n_bad, uint32_t row, uint32_t n_ctx,
                            uint64_t seed, vkllm_check_result *out)
{
    check_begin(out, "kv_store", "%u (+%u outside) x %u into %u", n_tok, n_bad, row, n_ctx);
    if (n_tok > n_ctx) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_kv_store: %u tokens into %u positions", n_tok, n_ctx);
    const uint32_t n_all = n_tok + n_bad;
    const size_t n_src = (size_t)n_all * row, n_cache = (size_t)n_ctx * row;
    check_host h = { 0 };
    float *src = check_alloc(&h, n_src * sizeof *src);
    int32_t *pos = check_alloc(&h, n_all * sizeof *pos);
    uint16_t *cache = check_alloc(&h, n_cache * 2), *want = check_alloc(&h, n_cache * 2), *got = check_alloc(&h, n_cache * 2);
    uint32_t *perm = check_alloc(&h, n_ctx * sizeof *perm);
    vkllm_status s = check_host_status(ctx, &h, "check_kv_store");
    if (s == VKLLM_OK) {
        rng r = { seed };
        check_fill_f32(&r, src, n_src, -70000.0f, 70000.0f); /* past fp16's range too: inf */
        for (size_t i = 0; i < n_src; i += 7) src[i] *= 1e-6f; /* and small ones: subnormal halves */
        for (size_t i = 0; i < n_cache; i++) cache[i] = (uint16_t)rng_next(&r);
        for (uint32_t i = 0; i < n_ctx; i++) perm[i] = i; /* distinct positions: a partial shuffle */
        for (uint32_t i = 0; i < n_tok; i++) {
            uint32_t j = i + (uint32_t)rng_below(&r, n_ctx - i), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            pos[i] = (int32_t)perm[i];
        }
        for (uint32_t i = n_tok; i < n_all; i++) pos[i] = i % 2 ? -1 - (int32_t)rng_below(&r, 1000) : (int32_t)(n_ctx + rng_below(&r, 1000));
        memcpy(want, cache, n_cache * 2);
        ref_kv_store(src, pos, want, n_all, row, n_ctx);
        /* the untouched rows must keep their contents: the cache is an in-out buffer, not poisoned */
        check_buf b[KV_N] = {
            [KV_SRC] = { .host = src, .bytes = n_src * 4 },
            [KV_POS] = { .host = pos, .bytes = (uint64_t)n_all * 4 },
            [KV_CACHE] = { .host = cache, .bytes = n_cache * 2, .got = got, .in_out = true },
        };
        s = check_drive(ctx, b, KV_N, record_kv_store, &(kv_store_args){ n_all, row, n_ctx }, out);
    }
    if (s == VKLLM_OK) compare_bits(got, want, n_cache, 2, "cache", out);
    check_host_free(&h);
    return s;
}
