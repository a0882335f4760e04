#include "selftest.h"

#include <stdio.h>
#include <string.h>

#include "argmax.h"
#include "attention.h"
#include "get_rows.h"
#include "kv_store.h"
#include "matmul.h"
#include "profile.h"
#include "rmsnorm.h"
#include "rope.h"
#include "silu_mul.h"

/* Reports one finished check; returns non-zero to stop. */
static int report(vkllm_status s, gpu_ctx *ctx, vkllm_check_result *r, vkllm_check_cb cb, void *user,
                  uint32_t *n_failed, vkllm_status *first_err)
{
    if (s != VKLLM_OK) {
        r->passed = 0;
        snprintf(r->detail, sizeof r->detail, "%s", gpu_error(ctx));
        if (*first_err == VKLLM_OK) *first_err = s;
    }
    if (!r->passed) (*n_failed)++;
    return cb ? cb(r, user) : 0;
}

#define RUN(call)                                                                 \
    do {                                                                          \
        vkllm_check_result r_;                                                    \
        memset(&r_, 0, sizeof r_);                                                \
        vkllm_status s_ = (call);                                                 \
        if (report(s_, ctx, &r_, cb, user, n_failed, &first_err)) return first_err; \
    } while (0)
#define R (&r_)

vkllm_status selftest_run(gpu_ctx *ctx, bool full_size, uint64_t seed, vkllm_check_cb cb, void *user,
                          uint32_t *n_failed)
{
    vkllm_status first_err = VKLLM_OK;
    *n_failed = 0;
    /* SOLAR-10.7B: hidden 4096, FFN 14336, vocab 32000, 32/8 heads of 128 */
    RUN(check_rmsnorm(ctx, 7, 4096, seed, R));
    if (full_size) RUN(check_rmsnorm(ctx, 64, 4096, seed + 1, R));
    /* matmul (M, N, K): a decode and a small prefill; full: every SOLAR
     * projection (q/o, k/v, gate/up, down, output) and a prefill batch */
    RUN(check_matmul(ctx, 1, 4096, 4096, seed + 10, R));
    RUN(check_matmul(ctx, 16, 1024, 1024, seed + 11, R));
    if (full_size) {
        RUN(check_matmul(ctx, 1, 1024, 4096, seed + 12, R));
        RUN(check_matmul(ctx, 1, 14336, 4096, seed + 13, R));
        RUN(check_matmul(ctx, 1, 4096, 14336, seed + 14, R));
        RUN(check_matmul(ctx, 1, 32000, 4096, seed + 15, R));
        RUN(check_matmul(ctx, 64, 4096, 4096, seed + 16, R));
    }
    /* the fused decode kernels the forward pass uses: RMSNorm into q, and
     * into SwiGLU's gate/up (full: SOLAR's 14336 x 4096) */
    RUN(check_matmul_norm(ctx, NULL, 1, 4096, 4096, seed + 40, R));
    RUN(check_matmul_glu(ctx, NULL, 1, full_size ? 14336 : 2048, 4096, true, seed + 41, R));
    /* the tensor-core prefill kernel, where the device has one */
    if (ops_profile_of(ctx)->coopmat) {
        /* every variant: the plain kernel (bk 0) and the pipelined one's k slices */
        static const uint32_t bks[] = { 0, 16, 32, 64 };
        for (unsigned i = 0; i < sizeof bks / sizeof bks[0]; i++) {
            matmul_config tc = { .kind = MATMUL_COOPMAT, .wg = 128, .bk = bks[i] };
            RUN(check_matmul_with(ctx, &tc, 70, 130, 264, seed + 17, R));
            RUN(check_matmul_with(ctx, &tc, 512, 4096, 4096, seed + 18, R));
        }
    }
    /* attention, SOLAR-shaped: decode at context 512, a small prefill block;
     * full size: decode at the full 4096 context, a 512-token prefill */
#define SOLAR_ATTN .n_head = 32, .n_kv_head = 8, .head_dim = 128
    RUN(check_attention(ctx, &(attention_check){ SOLAR_ATTN, .n_q = 1, .pos0 = 511 }, seed + 2, R));
    RUN(check_attention(ctx, &(attention_check){ SOLAR_ATTN, .n_q = 16, .pos0 = 40 }, seed + 3, R));
    if (full_size) RUN(check_attention(ctx, &(attention_check){ SOLAR_ATTN, .n_q = 1, .pos0 = 4095 }, seed + 4, R));
    if (full_size) RUN(check_attention(ctx, &(attention_check){ SOLAR_ATTN, .n_q = 512, .pos0 = 0 }, seed + 5, R));
#undef SOLAR_ATTN
    /* rope on SOLAR's q: one decode token at a random position, a prefill block */
    RUN(check_rope(ctx, &(rope_case){ 1, 32, 128, 128, 10000, ROPE_ADJACENT, 0, 4096, false }, seed + 20, R));
    RUN(check_rope(ctx, &(rope_case){ 64, 32, 128, 128, 10000, ROPE_ADJACENT, 1000, 0, false }, seed + 21, R));
    if (full_size) RUN(check_rope(ctx, &(rope_case){ 512, 32, 128, 128, 10000, ROPE_ADJACENT, 0, 0, false }, seed + 22, R));
    RUN(check_silu_mul(ctx, 14336, 0, false, seed + 40, R));
    RUN(check_get_rows(ctx, 512, 4096, 8, 0, 0, seed + 42, R));
    /* quantized weights: the decode product of each block type on a
     * SOLAR-wide row (K 4096), Q4_K and Q6_K (Q4_K_M's) fused as decode runs
     * them, and a quantized embedding lookup */
    static const uint32_t qtypes[] = { 8, 2, 3, 6, 7, 10, 11, 12, 13, 14, 20, 23 }; /* ggml ids, model/quant.h */
    for (unsigned i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++)
        RUN(check_matmul_quant(ctx, qtypes[i], 1, full_size ? 4096 : 256, 4096, false, false, false, seed + 60 + i, R));
    RUN(check_matmul_quant(ctx, 12, 1, 1024, 4096, true, true, false, seed + 80, R));
    RUN(check_matmul_quant(ctx, 14, 1, 1024, 4096, false, true, false, seed + 81, R));
    RUN(check_matmul_quant(ctx, 14, 1, 512, 4096, false, false, true, seed + 82, R));
    RUN(check_get_rows_quant(ctx, 12, 512, 4096, 8, seed + 83, R));
    /* quantized prefill: a 64-token block of each type on the device's
     * prefill path, the tiled kernel that decodes weight tiles into shared
     * memory on Q4_K and Q6_K explicitly (awkward edges, y +=), and the
     * tensor-core kernel on every type where the device has one */
    for (unsigned i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++)
        RUN(check_matmul_quant(ctx, qtypes[i], 64, 256, 4096, false, false, false, seed + 84 + i, R));
    const matmul_config qtile = { .wg = 128, .bm = 64, .bn = 64, .bk = 32, .tm = 4, .tn = 8 };
    RUN(check_matmul_quant_with(ctx, &qtile, 12, 70, 130, 512, false, false, true, seed + 96, R));
    RUN(check_matmul_quant_with(ctx, &qtile, 14, 70, 130, 512, false, false, false, seed + 97, R));
    if (ops_profile_of(ctx)->coopmat) {
        const matmul_config qtc = { .kind = MATMUL_COOPMAT, .wg = 128 };
        for (unsigned i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++)
            RUN(check_matmul_quant_with(ctx, &qtc, qtypes[i], 70, 130, 512, false, false, i == 0, seed + 98 + i, R));
        RUN(check_matmul_quant_with(ctx, &qtc, 12, 128, 512, 4096, false, false, false, seed + 110, R));
    }
    if (full_size) RUN(check_get_rows(ctx, 32000, 4096, 64, 0, 0, seed + 43, R));
    /* one decode token's k row into SOLAR's cache, a prefill block; greedy pick over the vocab */
    RUN(check_kv_store(ctx, 1, 1, 1024, 4096, seed + 46, R));
    RUN(check_kv_store(ctx, 64, 0, 1024, 512, seed + 47, R));
    RUN(check_rope_to_cache(ctx, &(rope_case){ 1, 8, 128, 128, 10000, ROPE_ADJACENT, 0, 0, false }, 4096, seed + 49, R));
    RUN(check_argmax(ctx, 1, 32000, seed + 48, R));
    return first_err;
}
