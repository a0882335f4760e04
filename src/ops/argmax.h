/* Argmax of each row, on the GPU, so greedy decoding reads back 4 bytes
 * per token instead of the whole vocabulary's logits. */
#ifndef VKLLM_OPS_ARGMAX_H
#define VKLLM_OPS_ARGMAX_H

#include "gpu/gpu.h"

/* x: fp32 [n_rows][n]; out: int32 [n_rows]: the first index of the largest
 * value of the row. NaN never wins; a row of only NaN gives -1. Each
 * binding lies in one chunk. Errors: VKLLM_ERR_INVALID_ARG for a binding
 * too small. */
vkllm_status op_argmax(gpu_rec *rec, gpu_binding x, gpu_binding out, uint32_t n_rows, uint32_t n);

/* CPU reference, same rules. */
void ref_argmax(const float *x, int32_t *out, uint32_t n_rows, uint32_t n);

/* Random rows with planted ties for the maximum, NaNs, infinities and an
 * all-NaN row; compared exactly. */
vkllm_status check_argmax(gpu_ctx *ctx, uint32_t n_rows, uint32_t n, uint64_t seed, vkllm_check_result *out);

#endif
