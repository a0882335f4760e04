/* The quantized-weight kernels (every ggml block type vkllm reads) against
 * the CPU dequantizer: matrix-vector products at awkward row counts, decode
 * and small batches, y +=, the fused RMSNorm and SwiGLU forms, and embedding
 * rows, bit for bit. Random blocks: every code bit random, scales 2^-12..1.
 * Prefill blocks (M from the profile's quant_prefill_m) take the device's
 * prefill path; both prefill paths, the tiled kernel decoding weight tiles
 * into shared memory and the decode into the fp16 scratch, also run
 * explicitly, on whole weights and on weights split into small chunks (and
 * so a scratch of a few rows). */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "model/quant.h"
#include "ops/matmul.h"

static const uint32_t types[] = { QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_Q5_0, QTYPE_Q5_1, QTYPE_Q2_K,
                                  QTYPE_Q3_K, QTYPE_Q4_K, QTYPE_Q5_K, QTYPE_Q6_K, QTYPE_IQ4_NL, QTYPE_IQ4_XS };
#define N_TYPES (sizeof types / sizeof types[0])

typedef struct pshape { uint32_t M, N, kb, k; bool acc; } pshape; /* K: kb blocks, or k weights */

/* the prefill paths at awkward shapes (M, N not multiples of the tiles; K
 * not a multiple of the tile's k for blocks of 32), explicitly */
static int prefill_paths(gpu_ctx *ctx, const pshape *shapes, unsigned n_shapes, uint64_t seed)
{
    int failures = 0;
    for (unsigned ti = 0; ti < N_TYPES; ti++) {
        const quant_type *t = quant_type_of(types[ti]);
        for (unsigned si = 0; si < n_shapes; si++) {
            const uint32_t M = shapes[si].M, K = shapes[si].k ? shapes[si].k : shapes[si].kb * t->block;
            const matmul_config cfgs[] = {
                { .wg = 128, .bm = 32, .bn = 64, .bk = 32, .tm = 2, .tn = 8 },  /* tiled, k slices of one unit */
                { .wg = 128, .bm = 32, .bn = 32, .bk = 64, .tm = 2, .tn = 4 },  /* two units per slice */
                { .kind = MATMUL_DEQUANT, .wg = 64 },
            };
            for (unsigned ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
                /* y += is the tiles' epilogue, the same for both configs: one each */
                if (cfgs[ci].kind != MATMUL_DEQUANT && (ci == 0) != shapes[si].acc) continue;
                vkllm_check_result r;
                vkllm_status s = check_matmul_quant_with(ctx, &cfgs[ci], t->id, M, shapes[si].N, K, false, false, shapes[si].acc, seed + 64 * ti + 8 * si + ci, &r);
                failures += harness_report(ctx, s, &r);
            }
        }
    }
    return failures;
}

int main(int argc, char **argv)
{
    /* --decode-only (the GPU code paths' run, VKLLM_AS_GPU): the explicit
     * prefill paths read weights as storage buffers on every device, so the
     * plain run has already checked those very kernels */
    const bool decode_only = argc > 1 && strcmp(argv[1], "--decode-only") == 0;
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    /* M, N, K in blocks, glu, norm, acc. Every type in each form a forward
     * pass runs: decode (M = 1, the codes read straight into dot products)
     * with the norm folded in (q/k/v, the output), with y += (o, down) and
     * SwiGLU + norm (gate/up); a batch of decode rows (M 2..8: each weight
     * unit decoded once for all rows; on CPU devices in groups of at most
     * 4), plain and SwiGLU; a prefill block (M 9 and up, the device's
     * prefill path) with y +=. The forms' own code
     * is the same for every type; test_matmul checks each form on many more
     * shapes. */
    static const struct { uint32_t M, N, kb; bool glu, norm, acc; } shapes[] = {
        { 1, 37, 3, 0, 1, 0 }, { 1, 41, 5, 0, 0, 1 }, { 1, 23, 2, 1, 1, 0 },
        { 6, 70, 2, 0, 0, 0 }, { 2, 33, 1, 1, 0, 0 },
        { 33, 65, 2, 0, 0, 1 },
    };
    int failures = 0;
    for (unsigned ti = 0; ti < N_TYPES; ti++) {
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
    static const pshape whole[] = { { 37, 70, 3, 0, 0 }, { 65, 33, 2, 0, 1 } };
    if (!decode_only) failures += prefill_paths(ctx, whole, 2, seed + 1000);
    failures = harness_finish(ctx, failures) ? failures + !failures : 0;
    if (decode_only) return failures ? 1 : 0;
    /* weights in chunks of 16 KiB (x and y still fit one: 12 x 256 and
     * 12 x 300 floats): 300 rows of 84 to 272 bytes make 2 to 5 chunks, the
     * kernels run chunk by chunk, and the scratch holds 32 fp16 rows of 256,
     * so the weights decode in pieces too */
    gpu_ctx *small = harness_ctx_chunked(16384);
    static const pshape split[] = { { 12, 300, 0, 256, 0 }, { 12, 300, 0, 256, 1 } };
    failures += prefill_paths(small, split, 2, seed + 2000);
    return harness_finish(small, failures);
}
