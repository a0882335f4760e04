/* Residual add: out[i] = a[i] + b[i]. */
#ifndef VKLLM_OPS_ADD_H
#define VKLLM_OPS_ADD_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* a, b, out: fp32 [n]. out may be a (or b): the in-place residual add. */
vkllm_status op_add(gpu_rec *rec, gpu_binding a, gpu_binding b, gpu_binding out, uint32_t n);
/* The same with an explicit workgroup size (0: the default). Tests use a
 * tiny one to reach the > 65535-workgroup grid on small tensors. */
vkllm_status op_add_wg(gpu_rec *rec, gpu_binding a, gpu_binding b, gpu_binding out, uint32_t n, uint32_t wg);

/* CPU reference. */
void ref_add(const float *a, const float *b, float *out, uint32_t n);

/* Random a and b (with some exact and near cancellations), GPU vs
 * reference; in_place runs a += b. wg as in op_add_wg. */
vkllm_status check_add(gpu_ctx *ctx, uint32_t n, uint32_t wg, bool in_place, uint64_t seed, vkllm_check_result *out);

#endif
