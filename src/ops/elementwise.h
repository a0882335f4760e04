/* The dispatch shared by the elementwise ops with two fp32 inputs and one
 * output of n elements (add, silu_mul): their shaders take 4 elements per
 * invocation and an elementwise_push. Not an op itself. */
#ifndef VKLLM_OPS_ELEMENTWISE_H
#define VKLLM_OPS_ELEMENTWISE_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* Records `shader` over a, b -> out (n fp32 each; out may alias a or b) with
 * wg invocations per workgroup (0: 128). `name` prefixes error messages and
 * labels the dispatch. INVALID_ARG for a missing tensor or a binding too
 * small for n. */
vkllm_status elementwise_dispatch(gpu_rec *rec, const char *name, gpu_binding a, gpu_binding b, gpu_binding out,
                                  uint32_t n, uint32_t wg);

/* The GPU half of these ops' checks: uploads a and b (n fp32 each), runs
 * shader `name` with wg (out of place: through check_run, poisoned and
 * timed; in place, writing over a: once) and downloads the result into
 * got. The caller compares it with its reference. */
vkllm_status elementwise_check_run(gpu_ctx *ctx, const char *name, const float *a, const float *b, uint32_t n,
                                   uint32_t wg, bool in_place, float *got, vkllm_check_result *out);

#endif
