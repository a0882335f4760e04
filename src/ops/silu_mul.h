/* SwiGLU's elementwise half: out[i] = silu(gate[i]) * up[i], where
 * silu(g) = g * sigmoid(g). */
#ifndef VKLLM_OPS_SILU_MUL_H
#define VKLLM_OPS_SILU_MUL_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* gate, up, out: fp32 [n]. out may alias gate or up (in place). Safe for any
 * |gate|: no exp overflow, large negative gates give +-0. */
vkllm_status op_silu_mul(gpu_rec *rec, gpu_binding gate, gpu_binding up, gpu_binding out, uint32_t n);
/* The same with an explicit workgroup size (0: the default). Tests use a
 * tiny one to reach the > 65535-workgroup grid on small tensors. */
vkllm_status op_silu_mul_wg(gpu_rec *rec, gpu_binding gate, gpu_binding up, gpu_binding out, uint32_t n,
                            uint32_t wg);

/* CPU reference, in double. */
void ref_silu_mul(const float *gate, const float *up, float *out, uint32_t n);

/* Random gate (with some huge and tiny ones) and up, GPU vs reference;
 * in_place writes over gate. wg as in op_silu_mul_wg. */
vkllm_status check_silu_mul(gpu_ctx *ctx, uint32_t n, uint32_t wg, bool in_place, uint64_t seed,
                            vkllm_check_result *out);

#endif
