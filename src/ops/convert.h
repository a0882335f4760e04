/* fp32 <-> fp16 conversion of a run of elements, at element offsets: writes
 * K/V rows into the fp16 cache at a position, reads them back. */
#ifndef VKLLM_OPS_CONVERT_H
#define VKLLM_OPS_CONVERT_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* dst[dst_offset + i] = half(src[src_offset + i]) for i < n, rounded to
 * nearest even exactly like float_to_half (src/util/half.h) on every device:
 * overflow -> +-inf, NaN -> quiet NaN, -0 kept, fp16 subnormals produced.
 * src: fp32 [>= src_offset + n]; dst: fp16 [>= dst_offset + n]; offsets in
 * elements; elements of dst outside the range are not touched. */
vkllm_status op_convert_f32_f16(gpu_rec *rec, gpu_binding src, gpu_binding dst, uint32_t n, uint32_t src_offset,
                                uint32_t dst_offset);
/* dst[dst_offset + i] = float(src[src_offset + i]), exact (like
 * half_to_float, subnormals and NaN payloads included).
 * src: fp16 [>= src_offset + n]; dst: fp32 [>= dst_offset + n]. */
vkllm_status op_convert_f16_f32(gpu_rec *rec, gpu_binding src, gpu_binding dst, uint32_t n, uint32_t src_offset,
                                uint32_t dst_offset);
/* Either direction with an explicit workgroup size (0: the default). Tests
 * use a tiny one to reach the > 65535-workgroup grid on small tensors. */
vkllm_status op_convert_wg(gpu_rec *rec, bool src_f16, gpu_binding src, gpu_binding dst, uint32_t n,
                           uint32_t src_offset, uint32_t dst_offset, uint32_t wg);

/* CPU references (src/util/half.h). */
void ref_convert_f32_f16(const float *src, uint16_t *dst, uint32_t n);
void ref_convert_f16_f32(const uint16_t *src, float *dst, uint32_t n);


/* Converts n elements at the offsets into a poisoned dst and compares all of
 * dst bit for bit: converted elements exact, the rest still poisoned.
 * fp32 sources mix typical values, exact ties, fp16 subnormals, overflow,
 * +-0, inf, NaN and random bit patterns; fp16 sources are random bit
 * patterns (all 65536 when n >= 65536). wg as in op_convert_wg. */
vkllm_status check_convert(gpu_ctx *ctx, bool src_f16, uint32_t n, uint32_t src_offset, uint32_t dst_offset,
                           uint32_t wg, uint64_t seed, vkllm_check_result *out);

#endif
