/* Seeded random fp16 values written on the GPU: synthetic model weights for
 * benchmarks, with no file and no host-to-device upload. */
#ifndef VKLLM_OPS_FILL_RANDOM_H
#define VKLLM_OPS_FILL_RANDOM_H

#include "gpu/gpu.h"

/* Fills the first n fp16 elements of t (all its chunks; each chunk holds an
 * even number of bytes' worth of whole elements) with
 * half(scale * (2u - 1)), u uniform in [0, 1) from a hash of (seed, element
 * index): the same values whatever the chunking. Errors: INVALID_ARG if n
 * elements exceed the tensor or n >= 2^32. */
vkllm_status op_fill_random(gpu_rec *rec, gpu_tensor *t, uint64_t n, uint32_t seed, float scale);

/* CPU reference: element i of the same sequence. */
uint16_t ref_fill_random(uint64_t i, uint32_t seed, float scale);

/* Fills a tensor split into chunks (a context with small chunks gives
 * several), downloads it and compares every element bit for bit. */
vkllm_status check_fill_random(gpu_ctx *ctx, uint64_t n, uint32_t seed, float scale, vkllm_check_result *out);

#endif
