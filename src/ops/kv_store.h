/* Writes a block of keys or values into a layer's fp16 KV cache at the
 * tokens' positions: cache[pos[t]][c] = half(src[t][c]). */
#ifndef VKLLM_OPS_KV_STORE_H
#define VKLLM_OPS_KV_STORE_H

#include "gpu/gpu.h"

/* src: fp32 [n_tok][row]; pos: int32 [n_tok], read on the GPU when the
 * recording runs (so one recorded decode step serves every position);
 * cache: fp16 [n_ctx][row]. row must be even. Tokens whose position is
 * outside [0, n_ctx) are skipped. Rounds to nearest even, like
 * float_to_half. Each binding lies in one chunk. Errors:
 * VKLLM_ERR_INVALID_ARG for an odd row or a binding too small. */
vkllm_status op_kv_store(gpu_rec *rec, gpu_binding src, gpu_binding pos, gpu_binding cache, uint32_t n_tok,
                         uint32_t row, uint32_t n_ctx);

/* CPU reference. */
void ref_kv_store(const float *src, const int32_t *pos, uint16_t *cache, uint32_t n_tok, uint32_t row,
                  uint32_t n_ctx);

/* Random src and a cache of random fp16 bits; positions: `n_tok` distinct
 * random ones in [0, n_ctx), and `n_bad` more tokens at positions outside
 * it. The whole cache is compared bit for bit (untouched rows included). */
vkllm_status check_kv_store(gpu_ctx *ctx, uint32_t n_tok, uint32_t n_bad, uint32_t row, uint32_t n_ctx,
                            uint64_t seed, vkllm_check_result *out);

#endif
