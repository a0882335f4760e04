/* Push-constant structs, shared by the C ops (src/ops/) and the shaders.
 * In C every struct is declared; a shader defines PUSH_<OP> before
 * including this file and gets exactly that block as `pc`.
 * Only 32-bit scalars here, so C and std430 layouts agree.
 * Each op owns its own section. */
#ifndef VKLLM_PUSH_H
#define VKLLM_PUSH_H

#ifdef VKLLM_GLSL
#define PUSH_BEGIN(name) layout(push_constant) uniform name {
#define PUSH_END(name) } pc;
#define U32 uint
#define F32 float
#else
#include <stdint.h>
#define PUSH_BEGIN(name) typedef struct name {
#define PUSH_END(name) } name;
#define U32 uint32_t
#define F32 float
#endif

/* ---- rmsnorm: y[r][c] = x[r][c] / sqrt(mean_c(x[r][.]^2) + eps) * w[c] */
#if !defined(VKLLM_GLSL) || defined(PUSH_RMSNORM)
PUSH_BEGIN(rmsnorm_push)
    U32 n_cols;
    U32 n_rows;
    F32 eps;
PUSH_END(rmsnorm_push)
#endif

/* ---- matmul: y[m][row_offset + r] = sum_k w[r][k] * x[m][k]
 * w: fp16 [n_rows][K] (one chunk of the weight), x: fp32 [M][K],
 * y: fp32 [M][y_stride] */
#if !defined(VKLLM_GLSL) || defined(PUSH_MATMUL)
PUSH_BEGIN(matmul_push)
    U32 K;
    U32 M;
    U32 n_rows;
    U32 row_offset;
    U32 y_stride;
    F32 eps;      /* the fused RMSNorm's (matvec with NORM) */
PUSH_END(matmul_push)
#endif

/* ---- rope: y = x rotated; x, y: fp32 [n_tok][n_head][head_dim] (y may be x),
 * pos: int32 [n_tok]; the first n_rot dims of each head rotate, pair i by
 * angle pos * theta_base^(-2i/n_rot); the other head_dim - n_rot dims are
 * copied. pairing: 0 adjacent (2i, 2i+1), 1 rotate-half (i, i + n_rot/2).
 * The frequency is 2^-(i * step) with step = 2 log2(theta_base) / n_rot,
 * computed in double on the CPU and split so that step_hi has at most 12
 * significant bits (i * step_hi is exact for i < 4096) and
 * step_lo = step - step_hi. */
#if !defined(VKLLM_GLSL) || defined(PUSH_ROPE)
PUSH_BEGIN(rope_push)
    U32 n_tok;
    U32 n_head;
    U32 head_dim;
    U32 n_rot;
    U32 pairing;
    F32 step_hi;
    F32 step_lo;
    U32 n_ctx; /* TO_CACHE variant: cache positions */
PUSH_END(rope_push)
#endif

/* ---- attention: out = softmax(scale * q k^T, causal) v per head, GQA.
 * q: fp32 [n_q][n_head][head_dim]; query i sits at position pos[i] (an int32
 * buffer) and sees cache positions 0 ..= pos[i], clamped below n_ctx.
 * k, v: fp16 [n_ctx][n_kv_head][head_dim] (the layer's cache);
 * out: fp32 [n_q][n_head][head_dim]; head h reads kv head h / (n_head / n_kv_head) */
#if !defined(VKLLM_GLSL) || defined(PUSH_ATTENTION)
PUSH_BEGIN(attention_push)
    U32 n_q;
    U32 n_head;
    U32 n_kv_head;
    U32 head_dim;
    U32 n_ctx;
    F32 scale;
PUSH_END(attention_push)
#endif

/* ---- silu_mul: out[i] = silu(gate[i]) * up[i] */
#if !defined(VKLLM_GLSL) || defined(PUSH_SILU_MUL)
PUSH_BEGIN(silu_mul_push)
    U32 n;
PUSH_END(silu_mul_push)
#endif

/* ---- get_rows: out[i][c] = table[ids[i]][c] for the ids that fall in
 * this chunk of the table, rows [row_begin, row_end); table: fp16
 * [row_end - row_begin][n_cols] (one chunk), ids: int32 [n_ids],
 * out: fp32 [n_ids][n_cols] */
#if !defined(VKLLM_GLSL) || defined(PUSH_GET_ROWS)
PUSH_BEGIN(get_rows_push)
    U32 n_cols;
    U32 n_ids;
    U32 row_begin;
    U32 row_end;
PUSH_END(get_rows_push)
#endif

/* ---- argmax: out[r] = the first index of the largest x[r][i], i < n;
 * NaN never wins; a row with no number (all NaN) gives -1 */
#if !defined(VKLLM_GLSL) || defined(PUSH_ARGMAX)
PUSH_BEGIN(argmax_push)
    U32 n_rows;
    U32 n;
PUSH_END(argmax_push)
#endif

/* ---- fill_random: dst[i] = half(scale * (2 u(seed, offset + i) - 1)) for
 * i < n, u in [0, 1) from an integer hash of the global element index, so
 * the values do not depend on how a tensor is cut into chunks */
#if !defined(VKLLM_GLSL) || defined(PUSH_FILL_RANDOM)
PUSH_BEGIN(fill_random_push)
    U32 n;
    U32 offset;
    U32 seed;
    F32 scale;
PUSH_END(fill_random_push)
#endif

/* ---- attention_combine: merges split-attention partials,
 * part [n_rows][splits][2 + head_dim] -> out [n_rows][head_dim] */
#if !defined(VKLLM_GLSL) || defined(PUSH_ATTENTION_COMBINE)
PUSH_BEGIN(attention_combine_push)
    U32 n_rows;
    U32 head_dim;
    U32 splits;
PUSH_END(attention_combine_push)
#endif

#endif
