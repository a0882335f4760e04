/* RoPE against the CPU reference: SOLAR's q and k shapes at small, large and
 * random positions, both pairings, partial rotary, Mistral's theta. */
#include "harness.h"
#include "ops/rope.h"

#define ADJ ROPE_ADJACENT
#define HALF ROPE_ROTATE_HALF

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const rope_case cases[] = {
        /* n_tok, n_head, head_dim, n_rot, theta, pairing, pos0, pos_rand, in_place */
        /* SOLAR q (32 heads) and k (8 kv heads), decode at fixed positions */
        { 1, 32, 128, 128, 10000, ADJ, 0, 0, false },
        { 1, 32, 128, 128, 10000, ADJ, 1, 0, false },
        { 1, 32, 128, 128, 10000, HALF, 17, 0, false },
        { 1, 8, 128, 128, 10000, ADJ, 4095, 0, false },
        { 1, 8, 128, 128, 10000, HALF, 4095, 0, false },
        /* random positions up to 32768, decode and a 64-token block */
        { 1, 32, 128, 128, 10000, ADJ, 0, 32768, false },
        { 64, 32, 128, 128, 10000, ADJ, 0, 32768, false },
        { 64, 8, 128, 128, 10000, HALF, 0, 32768, false },
        /* prefill blocks */
        { 64, 32, 128, 128, 10000, HALF, 0, 0, false },
        { 64, 8, 128, 128, 10000, ADJ, 4032, 0, false },
        /* partial rotary: the rest of each head is copied */
        { 7, 32, 128, 64, 10000, ADJ, 100, 0, false },
        { 7, 32, 128, 64, 10000, HALF, 0, 32768, false },
        { 5, 3, 80, 32, 10000, ADJ, 0, 32768, false },
        { 5, 3, 80, 32, 10000, HALF, 3000, 0, false },
        /* Mistral-style theta, head_dim 64 */
        { 16, 32, 128, 128, 1e6f, ADJ, 0, 32768, false },
        { 16, 8, 128, 128, 1e6f, HALF, 0, 32768, false },
        { 9, 12, 64, 64, 10000, ADJ, 0, 32768, false },
        { 9, 12, 64, 64, 1e6f, HALF, 500, 0, false },
        /* in place (positions > 0: an unwritten element would keep its input) */
        { 64, 32, 128, 128, 10000, ADJ, 0, 32768, true },
        { 5, 3, 80, 32, 10000, HALF, 0, 32768, true },
        /* 2048-token block of q: 65536 workgroups, past one dimension's 65535 */
        { 2048, 32, 128, 128, 10000, HALF, 0, 0, false },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_rope(ctx, &cases[i], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    /* RoPE written straight into an fp16 K/V cache (SOLAR's 8 kv heads and
     * others; n_tok = n_ctx + 1: one token outside the cache, skipped) */
    static const struct { rope_case c; uint32_t n_ctx; } to_cache[] = {
        { { 1, 8, 128, 128, 10000, ADJ, 0, 0, false }, 4096 },
        { { 64, 8, 128, 128, 10000, ADJ, 0, 0, false }, 512 },
        { { 17, 8, 128, 128, 10000, HALF, 0, 0, false }, 16 },
        { { 9, 2, 64, 64, 1e6f, HALF, 0, 0, false }, 40 },
        { { 5, 3, 80, 32, 10000, ADJ, 0, 0, false }, 4 },
        { { 7, 4, 32, 0, 10000, ADJ, 0, 0, false }, 9 }, /* n_rot 0: values, stored as they are */
    };
    for (unsigned i = 0; i < sizeof to_cache / sizeof to_cache[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_rope_to_cache(ctx, &to_cache[i].c, to_cache[i].n_ctx, seed + 100 + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    /* keys and values in one dispatch (op_rope_kv_to_cache, the forward
     * pass's cache write): decode, a prefill block, awkward sizes, a token
     * outside the cache */
    static const struct { rope_case c; uint32_t n_ctx; } kv_to_cache[] = {
        { { 1, 8, 128, 128, 10000, ADJ, 0, 0, false }, 300 },
        { { 33, 4, 64, 64, 10000, HALF, 0, 0, false }, 32 },
        { { 6, 3, 80, 32, 1e6f, ADJ, 0, 0, false }, 11 },
    };
    for (unsigned i = 0; i < sizeof kv_to_cache / sizeof kv_to_cache[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_rope_kv_to_cache(ctx, &kv_to_cache[i].c, kv_to_cache[i].n_ctx, seed + 200 + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
