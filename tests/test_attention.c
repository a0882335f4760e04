/* Attention against the CPU reference: SOLAR-10.7B's shape (32 heads over 8
 * kv heads of 128, scale 1/sqrt(128)) in decode and prefill, other GQA
 * ratios and head sizes, caches with NaN past the last written position, and
 * every kernel variant (load width, rows per tile, key splits). */
#include "harness.h"
#include "ops/attention.h"

#define SOLAR .n_head = 32, .n_kv_head = 8, .head_dim = 128

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const attention_check shapes[] = {
        /* SOLAR decode: one query at position len - 1 sees len keys */
        { SOLAR, .n_q = 1, .pos0 = 0 },
        { SOLAR, .n_q = 1, .pos0 = 16 },
        { SOLAR, .n_q = 1, .pos0 = 127 },
        { SOLAR, .n_q = 1, .pos0 = 999 },
        { SOLAR, .n_q = 1, .pos0 = 4095 },
        /* SOLAR prefill blocks */
        { SOLAR, .n_q = 64, .pos0 = 0 },
        { SOLAR, .n_q = 33, .pos0 = 100 },
        /* caches larger than the keys in use, NaN in the unused positions */
        { SOLAR, .n_q = 1, .pos0 = 200, .n_ctx = 512 },
        { SOLAR, .n_q = 33, .pos0 = 100, .n_ctx = 160 },
        { SOLAR, .n_q = 5, .pos0 = 0, .n_ctx = 6 },
        /* GQA ratios 1, 2, 4, 8 (and 32: one kv head) */
        { .n_q = 1, .n_head = 8, .n_kv_head = 8, .head_dim = 128, .pos0 = 300, .n_ctx = 333 },
        { .n_q = 7, .n_head = 8, .n_kv_head = 8, .head_dim = 128, .pos0 = 20 },
        { .n_q = 1, .n_head = 16, .n_kv_head = 8, .head_dim = 128, .pos0 = 77 },
        { .n_q = 9, .n_head = 16, .n_kv_head = 8, .head_dim = 128, .pos0 = 3, .n_ctx = 20 },
        { .n_q = 3, .n_head = 32, .n_kv_head = 8, .head_dim = 128, .pos0 = 40 },
        { .n_q = 1, .n_head = 32, .n_kv_head = 4, .head_dim = 128, .pos0 = 500 },
        { .n_q = 5, .n_head = 32, .n_kv_head = 4, .head_dim = 128, .pos0 = 11, .n_ctx = 30 },
        { .n_q = 2, .n_head = 32, .n_kv_head = 1, .head_dim = 64, .pos0 = 50 },
        /* head sizes: 64 (Llama-2 small, TinyLlama), awkward 80 and 96, and
         * 66 / 42, which only 2-wide loads divide */
        { .n_q = 1, .n_head = 32, .n_kv_head = 4, .head_dim = 64, .pos0 = 255 },
        { .n_q = 17, .n_head = 8, .n_kv_head = 2, .head_dim = 64, .pos0 = 30 },
        { .n_q = 1, .n_head = 12, .n_kv_head = 4, .head_dim = 80, .pos0 = 129 },
        { .n_q = 6, .n_head = 12, .n_kv_head = 4, .head_dim = 96, .pos0 = 60, .n_ctx = 70 },
        { .n_q = 1, .n_head = 4, .n_kv_head = 2, .head_dim = 66, .pos0 = 90 },
        { .n_q = 4, .n_head = 6, .n_kv_head = 3, .head_dim = 42, .pos0 = 12, .n_ctx = 17 },
        { .n_q = 2, .n_head = 4, .n_kv_head = 2, .head_dim = 256, .pos0 = 70 },
        { .n_q = 3, .n_head = 2, .n_kv_head = 1, .head_dim = 2, .pos0 = 5 },
        /* numerical stability: scores in the hundreds (exp overflows fp32
         * without the running max) */
        { SOLAR, .n_q = 1, .pos0 = 300, .q_max = 300 },
        { SOLAR, .n_q = 9, .pos0 = 40, .q_max = 300 },
        /* every variant on one device: load widths, rows per tile, key
         * splits across subgroups (more splits than keys included) */
        { SOLAR, .n_q = 1, .pos0 = 150, .tune = { .vec = 4 } },
        { SOLAR, .n_q = 3, .pos0 = 20, .n_ctx = 30, .tune = { .vec = 2 } },
        { SOLAR, .n_q = 5, .pos0 = 20, .tune = { .rows = 1 } },
        { SOLAR, .n_q = 5, .pos0 = 20, .n_ctx = 26, .tune = { .rows = 8 } },
        { SOLAR, .n_q = 1, .pos0 = 0, .tune = { .n_split = 4 } },
        { SOLAR, .n_q = 1, .pos0 = 1000, .n_ctx = 1024, .tune = { .n_split = 4 } },
        { SOLAR, .n_q = 11, .pos0 = 2, .n_ctx = 14, .tune = { .rows = 8, .n_split = 2 } },
        { .n_q = 3, .n_head = 12, .n_kv_head = 4, .head_dim = 96, .pos0 = 33, .tune = { .vec = 4, .n_split = 16 } },
        { .n_q = 2, .n_head = 4, .n_kv_head = 2, .head_dim = 256, .pos0 = 70, .tune = { .rows = 2, .n_split = 3 } },
        { .n_q = 2, .n_head = 4, .n_kv_head = 2, .head_dim = 66, .pos0 = 7, .tune = { .n_split = 5 } },
        /* split attention (flash-decoding): key ranges across workgroups, merged
         * by a second pass; ranges past the last position stay empty */
        { SOLAR, .n_q = 1, .pos0 = 4095, .tune = { .splits = 16 } },
        { SOLAR, .n_q = 1, .pos0 = 100, .n_ctx = 4096, .tune = { .splits = 16 } },
        { SOLAR, .n_q = 1, .pos0 = 0, .n_ctx = 512, .tune = { .splits = 3 } },
        { SOLAR, .n_q = 4, .pos0 = 300, .n_ctx = 400, .tune = { .splits = 7, .n_split = 2 } },
        { .n_q = 2, .n_head = 8, .n_kv_head = 2, .head_dim = 64, .pos0 = 1000, .tune = { .splits = 5, .texel = 2 } },
        { .n_q = 1, .n_head = 4, .n_kv_head = 2, .head_dim = 66, .pos0 = 77, .n_ctx = 90, .tune = { .splits = 4 } },
        /* storage-buffer K/V where the op would pick texel buffers (CPUs), and the reverse */
        { SOLAR, .n_q = 1, .pos0 = 700, .n_ctx = 800, .tune = { .texel = 2 } },
        { SOLAR, .n_q = 7, .pos0 = 30, .tune = { .texel = 2, .rows = 8 } },
        { SOLAR, .n_q = 3, .pos0 = 90, .n_ctx = 100, .tune = { .texel = 1, .n_split = 3 } },
        { .n_q = 5, .n_head = 8, .n_kv_head = 2, .head_dim = 64, .pos0 = 19, .tune = { .texel = 1, .rows = 2 } },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_attention(ctx, &shapes[i], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
