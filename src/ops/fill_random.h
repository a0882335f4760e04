/* Seeded random fp16 values written on the GPU: synthetic model weights for
 * benchmarks, with no file and no host-to-device upload. */
#ifndef VKLLM_OPS_FILL_RANDOM_H
#define VKLLM_OPS_FILL_RANDOM_H

#include "gpu/gpu.h"
#include "push.h"

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

/* Fills t (a tensor op_weight_create made for qtype: all its chunks) with
 * seeded random blocks of qtype: every code bit random, the fp16 scales set
 * so the weights' root mean square is about rms and their mean about zero,
 * the bytes from n_bytes (the blocks' size) on zero. The same bytes whatever
 * the chunking. Errors: INVALID_ARG for an unknown type, n_bytes not whole
 * blocks or past the tensor, or a tensor of 4 GiB or more. */
vkllm_status op_fill_blocks(gpu_rec *rec, gpu_tensor *t, uint32_t qtype, uint64_t n_bytes, uint32_t seed, float rms);

/* CPU reference: byte g of the tensor op_fill_blocks writes with pc (as the
 * op sets it up). */
uint8_t ref_fill_blocks(uint64_t g, const fill_blocks_push *pc);

/* Fills a rows x cols weight of qtype on the device, compares every byte
 * with the reference, and checks the weights the blocks stand for are
 * finite with about the rms asked. */
vkllm_status check_fill_blocks(gpu_ctx *ctx, uint32_t qtype, uint32_t rows, uint32_t cols, uint32_t seed,
                               vkllm_check_result *out);

#endif
