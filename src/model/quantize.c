/* The quantizer: fp32 weights into ggml's blocks (see quant.h for the
 * layouts). The algorithms are the formats' reference ones, so our files are
 * as good as llama-quantize's (no importance matrix):
 *   - blocks of 32: the scale from the extreme value (Q8_0, Q4_0, Q5_0) or
 *     from min and max (Q4_1, Q5_1);
 *   - K-quants: per sub-block a least-squares search over candidate scales
 *     (fit_scale_min_lanes for the types with a minimum,
 *     fit_scale_signed_lanes / fit_scale_signed_iter_lanes for the symmetric
 *     ones),
 *     then the sub-block scales themselves quantized against the block's
 *     largest, and every weight re-rounded with the scales as they will be
 *     read back;
 *   - IQ4: a search over scales for the non-uniform table.
 * One deliberate difference from llama.cpp: Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 round
 * the weights against the scale (and minimum) as stored in fp16, not the
 * unrounded fp32 one, since those are the values a reader multiplies by.
 * The packers are the inverse of quant.c's element formulas; test_quantize
 * checks the round trip and the error against llama-quantize's files.
 *
 * Speed: the block code (quantize_blocks.h) is built twice, portable with
 * 4 groups per vector and, on x86, with AVX2 and 8 (quantize_avx2.c);
 * quant_quantize takes the AVX2 build where the CPU has it. Both give the
 * same bytes (test_quantize compares them). */

#define QZ_LANES 4
#define QZ_QUANTIZE quant_quantize_portable
#define QZ_F16 quant_f16_to_f32_portable
#include "model/quantize_blocks.h"

#if VKLLM_QUANTIZE_AVX2
static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#endif

void quant_quantize(const quant_type *t, const float *src, void *dst, uint64_t n_blocks)
{
#if VKLLM_QUANTIZE_AVX2
    if (have_avx2()) {
        quant_quantize_avx2(t, src, dst, n_blocks);
        return;
    }
#endif
    quant_quantize_portable(t, src, dst, n_blocks);
}

const char *quant_quantize_build(void)
{
#if VKLLM_QUANTIZE_AVX2
    if (have_avx2()) return "avx2";
#endif
    return "portable";
}

void quant_f16_to_f32(const void *src, float *dst, uint64_t n)
{
#if VKLLM_QUANTIZE_AVX2
    if (have_avx2()) {
        quant_f16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    quant_f16_to_f32_portable(src, dst, n);
}
