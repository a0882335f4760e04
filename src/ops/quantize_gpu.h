/* Quantize on load on the device: fp32 / fp16 / bf16 rows into ggml blocks
 * by shaders/quantize.comp, the same algorithms and float operations as the
 * CPU quantizer (src/model/quantize.c), written straight into the weight's
 * device tensor. Bit for bit the CPU's blocks where the device's fp32
 * arithmetic is IEEE (lavapipe); see the shader for other devices. */
#ifndef VKLLM_OPS_QUANTIZE_GPU_H
#define VKLLM_OPS_QUANTIZE_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "ops/check.h"

/* True if the device can make blocks of this ggml type (a quantize_<type>
 * shader exists): Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS. */
bool op_quantize_supported(uint32_t qtype);

/* Records the quantization of rows [row0, row0 + n_rows) of a matrix of
 * total_rows x cols weights into their place in dst, a tensor
 * op_weight_create made for qtype (rows split across its chunks as they
 * fall). src (a whole chunk, read as texels: whole 16-byte texels, within
 * gpu_max_texels) holds the rows from src_row (<= row0) on,
 * row-major, elements of src_dtype (QUANTIZE_SRC_F32/F16/BF16). status: a tensor
 * whose first 32-bit word becomes the least of itself and the index of any
 * row holding NaN or Inf (the caller sets it to 0xffffffff first). Two
 * blocks share a word where a block is not whole words, so row0's first
 * block must be even (counted from row 0) and so must n_rows' block count,
 * unless the range ends the matrix; the word after the matrix's last odd
 * block is written with zeros (op_weight_create's padding). Errors:
 * INVALID_ARG for an unsupported type or dtype, misaligned or out-of-range
 * rows, a src that is too small. */
vkllm_status op_quantize_rows(gpu_rec *rec, uint32_t qtype, uint32_t src_dtype, gpu_binding src, uint64_t src_row,
                              gpu_tensor *dst, gpu_tensor *status, uint64_t row0, uint64_t n_rows, uint64_t cols,
                              uint64_t total_rows);

/* Quantizes a rows x cols matrix of random src_dtype data with awkward rows
 * (zeros, constants, outliers, tiny and huge magnitudes, fp16 subnormals)
 * on the device, in pieces of piece_rows rows (0: all at once) as the
 * loader does, and compares every byte with quant_quantize's blocks of the
 * same (exactly widened) weights; also that a NaN row is reported. Where
 * exact is false (a device whose division is not IEEE), up to 1 % of the
 * blocks may differ if the weights they give are within 1 % RMS of the
 * CPU's error. */
vkllm_status check_quantize(gpu_ctx *ctx, uint32_t qtype, uint32_t src_dtype, uint32_t rows, uint32_t cols,
                            uint32_t piece_rows, uint32_t seed, bool exact, vkllm_check_result *out);

#endif
