/* Quantize on load on the device (shaders/quantize.comp) against the CPU
 * quantizer (src/model/quantize.c), block by block: every type with a
 * kernel, from fp16, bf16 and fp32 rows of every kind make_row makes (zeros,
 * constants, outliers, tiny and huge magnitudes, fp16 subnormals, ties),
 * row counts that leave a lone last block, pieces as the loader cuts them,
 * weights split across many chunks, and a NaN/Inf row that must be named.
 * On lavapipe (IEEE fp32) the bytes must be the CPU's exactly; on other
 * devices (division within 2.5 ULP) a few blocks may differ, within an RMS
 * error bound of the CPU's (VKLLM_QUANTIZE_EXACT=1 asks for exact anyway). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/quant.h"
#include "ops/quantize_gpu.h"
#include "push.h"

#define CHUNK 4096 /* the chunked context's largest chunk */

int main(void)
{
    uint64_t seed = harness_seed();
    static const struct { uint32_t qtype, rows, cols; } cases[] = {
        { 12, 23, 512 }, { 14, 23, 256 }, { 14, 9, 1280 }, { 8, 21, 96 }, { 13, 13, 256 }, { 2, 25, 160 },
        { 3, 12, 64 },   { 6, 17, 96 },   { 7, 12, 64 }, { 10, 12, 512 }, { 11, 15, 256 }, { 20, 13, 96 },
        { 23, 11, 512 },
    };
    static const uint32_t dtypes[] = { QUANTIZE_SRC_F16, QUANTIZE_SRC_BF16, QUANTIZE_SRC_F32 };
    int failures = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        gpu_ctx *ctx = chunked ? harness_ctx_chunked(CHUNK) : harness_ctx();
        const vkllm_device_info *info = gpu_info(ctx);
        const char *ex = getenv("VKLLM_QUANTIZE_EXACT");
        const bool exact = (ex && !strcmp(ex, "1")) || info->type == VKLLM_DEVICE_CPU;
        int f = 0;
        for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (unsigned d = 0; d < 3; d++) {
                if (!op_quantize_supported(cases[i].qtype)) {
                    printf("FAIL no quantize kernel for type %u\n", cases[i].qtype);
                    f++;
                    continue;
                }
                const uint64_t row = quant_bytes(quant_type_of(cases[i].qtype), cases[i].cols);
                uint64_t gran = row;
                while (gran % 16) gran += row;
                if (chunked && gran > CHUNK) continue; /* whole rows of whole texels do not fit a chunk */
                vkllm_check_result r;
                const uint32_t piece = chunked ? 1 : d ? 2 + d : 0; /* rows per piece (0: one piece) */
                vkllm_status s = check_quantize(ctx, cases[i].qtype, dtypes[d], cases[i].rows + (uint32_t)chunked * 8,
                                                cases[i].cols, piece, (uint32_t)(seed + 7 * i + d), exact, &r);
                f += harness_report(ctx, s, &r);
            }
        failures += harness_finish(ctx, f);
    }
    return failures != 0;
}
