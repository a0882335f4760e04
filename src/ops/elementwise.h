/* The dispatch shared by the elementwise ops with two fp32 inputs and one
 * output of n elements (add, silu_mul): their shaders take 4 elements per
 * invocation and an elementwise_push. Not an op itself. */
#ifndef VKLLM_OPS_ELEMENTWISE_H
#define VKLLM_OPS_ELEMENTWISE_H

#include "gpu/gpu.h"

/* Records `shader` over a, b -> out (n fp32 each; out may alias a or b) with
 * wg invocations per workgroup (0: 128). `name` prefixes error messages and
 * labels the dispatch. INVALID_ARG for a missing tensor or a binding too
 * small for n. */
vkllm_status elementwise_dispatch(gpu_rec *rec, const char *name, gpu_binding a, gpu_binding b, gpu_binding out,
                                  uint32_t n, uint32_t wg);

#endif
