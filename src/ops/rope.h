/* Rotary position embedding: in each head, pair i of the first n_rot dims
 * rotates by angle pos * theta_base^(-2i/n_rot); the other dims are copied. */
#ifndef VKLLM_OPS_ROPE_H
#define VKLLM_OPS_ROPE_H

#include <stdbool.h>

#include "gpu/gpu.h"
#include "util/rope_pairing.h"


/* x, y: fp32 [n_tok][n_head][head_dim], y may be the same binding as x (in
 * place); pos: int32 [n_tok], the position of each token, read on the GPU
 * when the recording runs (so a recorded step can be replayed with new
 * positions). n_rot even, <= head_dim and <= 8192; pairing ROPE_ADJACENT or
 * ROPE_ROTATE_HALF. Accurate for |pos| < 2^24; the angle error grows like
 * |pos * freq| * 2^-24 (fp32 angle), see check_rope. */
vkllm_status op_rope(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding y, uint32_t n_tok, uint32_t n_head,
                     uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing);

/* The same rotation written as fp16 into a K/V cache: cache[pos[t]][h][d]
 * = half(rotated x[t][h][d]) for the tokens whose position lies in
 * [0, n_ctx) (others are skipped); cache: fp16 [n_ctx][n_head * head_dim].
 * With n_rot = 0 it stores values unrotated. The key RoPE and the cache
 * write in one pass; rounds to nearest even. */
vkllm_status op_rope_to_cache(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding cache, uint32_t n_tok,
                              uint32_t n_head, uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing,
                              uint32_t n_ctx);

/* op_rope_to_cache of the keys k and op_kv_store of the values v in one
 * dispatch (the forward pass's cache write): k, v fp32 [n_tok][n_head *
 * head_dim]; k rotated into k_cache, v as is into v_cache, both fp16
 * [n_ctx][n_head * head_dim], at the positions pos (tokens outside [0,
 * n_ctx) skipped). Errors as op_rope_to_cache. */
vkllm_status op_rope_kv_to_cache(gpu_rec *rec, gpu_binding k, gpu_binding v, gpu_binding pos, gpu_binding k_cache,
                                 gpu_binding v_cache, uint32_t n_tok, uint32_t n_head, uint32_t head_dim,
                                 uint32_t n_rot, float theta_base, uint32_t pairing, uint32_t n_ctx);

/* CPU reference: angles, cos and sin in double. */
void ref_rope(const float *x, const int32_t *pos, float *y, uint32_t n_tok, uint32_t n_head, uint32_t head_dim,
              uint32_t n_rot, float theta_base, uint32_t pairing);

/* One check: shape, rotation, positions. Positions are pos0 + t for token t
 * (a prefill block) or, when pos_rand > 0, each uniform in [0, pos_rand). */
typedef struct rope_case {
    uint32_t n_tok, n_head, head_dim, n_rot;
    float theta_base;
    uint32_t pairing;
    int32_t pos0;
    uint32_t pos_rand;
    bool in_place; /* y is x (x re-uploaded before each run instead of poisoning y) */
} rope_case;

/* Random x in [-1, 1), GPU vs reference; then new positions are uploaded
 * and the same recording is replayed and checked again. */
vkllm_status check_rope(gpu_ctx *ctx, const rope_case *c, uint64_t seed, vkllm_check_result *out);

/* op_rope_to_cache on random x, a cache of random bits and distinct random
 * positions (plus, with n_tok = n_ctx + 1, one token outside the cache):
 * written rows against the reference within the rotation's bound plus fp16
 * rounding, every other row unchanged bit for bit. */
vkllm_status check_rope_to_cache(gpu_ctx *ctx, const rope_case *c, uint32_t n_ctx, uint64_t seed,
                                 vkllm_check_result *out);
/* The same through op_rope_kv_to_cache: the keys as above, and random
 * values (some past fp16's range, some subnormal) into a second cache of
 * random bits, compared bit for bit with ref_kv_store's result (rows
 * written and untouched). */
vkllm_status check_rope_kv_to_cache(gpu_ctx *ctx, const rope_case *c, uint32_t n_ctx, uint64_t seed,
                                    vkllm_check_result *out);

#endif
