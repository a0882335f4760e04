/* RMSNorm with weight: y[r][c] = x[r][c] / sqrt(mean(x[r]^2) + eps) * w[c]. */
#ifndef VKLLM_OPS_RMSNORM_H
#define VKLLM_OPS_RMSNORM_H

#include "gpu/gpu.h"

/* x, y: fp32 [n_rows][n_cols]; w: fp32 [n_cols]. y may not alias x. */
vkllm_status op_rmsnorm(gpu_rec *rec, gpu_binding x, gpu_binding w, gpu_binding y, uint32_t n_rows,
                        uint32_t n_cols, float eps);

/* CPU reference, double accumulation. */
void ref_rmsnorm(const float *x, const float *w, float *y, uint32_t n_rows, uint32_t n_cols, float eps);

/* Random x and w, GPU vs reference. */
vkllm_status check_rmsnorm(gpu_ctx *ctx, uint32_t n_rows, uint32_t n_cols, uint64_t seed, vkllm_check_result *out);

#endif
