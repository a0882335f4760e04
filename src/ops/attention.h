/* Attention for one layer: out = softmax(scale * q k^T, causal) v for each
 * head, with grouped-query attention (several query heads share one kv head). */
#ifndef VKLLM_OPS_ATTENTION_H
#define VKLLM_OPS_ATTENTION_H

#include "gpu/gpu.h"

/* q:   fp32 [n_q][n_head][head_dim].
 * k,v: fp16 [n_ctx][n_kv_head][head_dim], the layer's cache (token-major).
 * pos: int32 [n_q], query i's position: it sees cache positions
 *      0 ..= pos[i] (clamped to n_ctx - 1, so a bad position never reads
 *      outside the cache). Positions come from a device buffer so that one
 *      recorded decode step serves every position; those positions of the
 *      cache must hold data.
 * out: fp32 [n_q][n_head][head_dim]; must not alias q, k or v.
 * Head h reads kv head h / (n_head / n_kv_head). n_head must be a multiple of
 * n_kv_head; head_dim even and at most 256. Each binding lies in one chunk.
 * Decode is n_q = 1, prefill a block of n_q queries; the workgroup count does
 * not depend on the positions. Errors: VKLLM_ERR_INVALID_ARG for a bad shape
 * or a binding too small for it. */
vkllm_status op_attention(gpu_rec *rec, gpu_binding q, gpu_binding k, gpu_binding v, gpu_binding pos,
                          gpu_binding out, gpu_binding scratch, uint32_t n_q, uint32_t n_head, uint32_t n_kv_head,
                          uint32_t head_dim, uint32_t n_ctx, float scale);

/* Split attention (flash-decoding): when few (query, head) rows would keep
 * few workgroups busy (decode on a GPU), the keys are cut into ranges, one
 * workgroup each, and a second dispatch merges the partial results through
 * `scratch` (fp32). Bytes of scratch the op's choice needs for this shape
 * (0: it would not split); with a smaller (or no) scratch binding the op
 * does not split. */
uint64_t attention_scratch_bytes(gpu_ctx *ctx, uint32_t n_q, uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim,
                                 uint32_t n_ctx);

/* How the kernel maps work onto the device. A zero field means "the op's
 * choice for this device"; op_attention uses all zeros. Tests set fields to
 * cover every code path on one device. */
typedef struct attention_tuning {
    uint32_t vec;     /* fp16 elements per K/V load: 8, 4 or 2 (must divide head_dim) */
    uint32_t rows;    /* (query, head) rows sharing each K/V load: 1, 2, 4 or 8 */
    uint32_t n_split; /* subgroups per workgroup, each taking a slice of the keys: 1 .. 16 */
    uint32_t splits;  /* workgroups per row over ranges of the keys, merged by a second pass:
                         1 .. 256 (needs scratch) */
    uint32_t texel;   /* K/V through uniform texel buffers (vec 8 only): 0 the op's choice
                         (on for CPU devices), 1 on, 2 off */
} attention_tuning;

/* op_attention with explicit tuning (NULL: the op's choice). */
vkllm_status op_attention_tuned(gpu_rec *rec, gpu_binding q, gpu_binding k, gpu_binding v, gpu_binding pos,
                                gpu_binding out, gpu_binding scratch, uint32_t n_q, uint32_t n_head,
                                uint32_t n_kv_head, uint32_t head_dim, uint32_t n_ctx, float scale,
                                const attention_tuning *tune);

/* CPU reference, double accumulation. Layouts as op_attention, with query i
 * at position pos0 + i; k and v need only pos0 + n_q positions. */
void ref_attention(const float *q, const uint16_t *k, const uint16_t *v, float *out, uint32_t n_q, uint32_t n_head,
                   uint32_t n_kv_head, uint32_t head_dim, uint32_t pos0, float scale);

/* The shape of one check. */
typedef struct attention_check {
    uint32_t n_q, n_head, n_kv_head, head_dim;
    uint32_t pos0;          /* position of the first query */
    uint32_t n_ctx;         /* cache positions; 0: pos0 + n_q. Positions past pos0 + n_q hold NaN */
    float scale;            /* 0: 1 / sqrt(head_dim) */
    float q_max;            /* q uniform in [-q_max, q_max]; 0: 8 (k, v are uniform in [-1, 1]) */
    attention_tuning tune;  /* zeros: the op's choice */
} attention_check;

/* Random q, fp16 k and v, GPU vs reference. */
vkllm_status check_attention(gpu_ctx *ctx, const attention_check *shape, uint64_t seed, vkllm_check_result *out);

#endif
