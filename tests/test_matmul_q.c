/* The quantized-weight kernels (every ggml block type vkllm reads) against
 * the CPU dequantizer: matrix-vector products at awkward row counts, decode
 * and small batches, y +=, the fused RMSNorm and SwiGLU forms, and embedding
 * rows, bit for bit. Random blocks: every code bit random, scales 2^-12..1. */
#include <stdio.h>

#include "harness.h"
#include "model/quant.h"
#include "ops/matmul.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t types[] = { QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_Q5_0, QTYPE_Q5_1, QTYPE_Q2_K,
                                      QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_IQ4_NL, QTYPE_IQ4_XS };
    /* M, N, K in blocks, glu, norm, acc */
    static const struct { uint32_t M, N, kb; bool glu, norm, acc; } shapes[] = {
        { 1, 37, 3, 0, 0, 0 }, { 3, 70, 2, 0, 0, 1 }, { 1, 19, 2, 0, 1, 0 }, { 2, 33, 1, 1, 1, 0 }, { 11, 9, 2, 0, 0, 0 },
        /* decode (M = 1) reads the codes straight into dot products: each form again */
        { 1, 23, 2, 1, 1, 0 }, { 1, 41, 5, 0, 0, 1 }, { 1, 17, 1, 1, 0, 0 },
    };
    int failures = 0;
    for (unsigned ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const quant_type *t = quant_type_of(types[ti]);
        for (unsigned si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            vkllm_check_result r;
            vkllm_status s = check_matmul_quant(ctx, t->id, shapes[si].M, shapes[si].N, shapes[si].kb * t->block,
                                                shapes[si].glu, shapes[si].norm, shapes[si].acc, seed + 16 * ti + si, &r);
            failures += harness_report(ctx, s, &r);
        }
        vkllm_check_result r;
        vkllm_status s = check_get_rows_quant(ctx, t->id, 29, 2 * t->block, 7, seed + 16 * ti + 15, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
