/* What the C ops (src/ops/) and the shaders must agree on, declared once:
 *   - push-constant structs: in C every struct is declared; a shader
 *     defines PUSH_<OP> before including this file and gets exactly that
 *     block as `pc`. Only 32-bit scalars here, so C and std430 layouts agree.
 *   - specialization constant ids, <OP>_SPEC_<NAME>: the shader's
 *     `layout(constant_id = <OP>_SPEC_<NAME>)`, the op's
 *     `desc.spec[<OP>_SPEC_<NAME>]`; <OP>_N_SPEC of them (ids 0..n-1).
 *   - binding slots, <OP>_BIND_<NAME>: the shader's `binding =`, the op's
 *     index into its gpu_binding array (and BINDING_BIT(...) in a texel
 *     mask); <OP>_N_BINDINGS of them.
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
/* bit of a binding slot in gpu_pipeline_desc.texel_mask */
#define BINDING_BIT(slot) (1u << (slot))
#endif

/* ---- rmsnorm: y[r][c] = x[r][c] / sqrt(mean_c(x[r][.]^2) + eps) * w[c] */
#define RMSNORM_SPEC_WG 0 /* invocations per workgroup (one row each) */
#define RMSNORM_N_SPEC 1
#define RMSNORM_BIND_X 0
#define RMSNORM_BIND_W 1
#define RMSNORM_BIND_Y 2
#define RMSNORM_N_BINDINGS 3
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
/* tiled (matmul.comp) and tensor-core (matmul_coopmat*.comp) kernels: */
#define MATMUL_SPEC_WG 0    /* invocations per workgroup, (BM / TM) * (BN / TN) */
#define MATMUL_SPEC_BM 1    /* tile rows of x / y */
#define MATMUL_SPEC_BN 2    /* tile rows of w */
#define MATMUL_SPEC_BK 3    /* k slice staged per step */
#define MATMUL_SPEC_TM 4    /* register block per invocation */
#define MATMUL_SPEC_TN 5
#define MATMUL_SPEC_ACC 6   /* 1: y += the product */
#define MATMUL_SPEC_TC_BK 7 /* the pipelined tensor-core kernel's k slice */
#define MATMUL_N_SPEC 7     /* tiled; tensor cores: MATMUL_N_SPEC_TC */
#define MATMUL_N_SPEC_TC 8
#define MATMUL_BIND_W 0
#define MATMUL_BIND_X 1
#define MATMUL_BIND_Y 2
#define MATMUL_N_BINDINGS 3
/* matrix-vector kernel (matvec.comp): */
#define MATVEC_SPEC_WG 0   /* invocations per workgroup */
#define MATVEC_SPEC_ROWS 1 /* rows of w per workgroup */
#define MATVEC_SPEC_R 2    /* rows a subgroup works on at once */
#define MATVEC_SPEC_NM 3   /* columns of x per workgroup */
#define MATVEC_SPEC_ACC 4  /* 1: y += the product */
#define MATVEC_SPEC_NORM 5 /* 1: x RMSNorm'd on the way in */
#define MATVEC_N_SPEC 6
#define MATVEC_BIND_W 0
#define MATVEC_BIND_X 1
#define MATVEC_BIND_Y 2
#define MATVEC_BIND_W2 3   /* GLU: the up weight */
#define MATVEC_BIND_NORM 4 /* NORM: the norm's weight */
#define MATVEC_N_BINDINGS 5 /* VEC 8; the scalar variant has W, X, Y only */
#define MATVEC_N_BINDINGS_SCALAR 3
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

/* ---- dequant: out[r][k] = half(w[row_begin + r][k]) for r < n_rows, k < K;
 * w: quantized blocks (one chunk), out: fp16 [n_rows][K] */
#define DEQUANT_SPEC_WG 0
#define DEQUANT_N_SPEC 1
#define DEQUANT_BIND_W 0
#define DEQUANT_BIND_OUT 1
#define DEQUANT_N_BINDINGS 2
#if !defined(VKLLM_GLSL) || defined(PUSH_DEQUANT)
PUSH_BEGIN(dequant_push)
    U32 K;
    U32 n_rows;
    U32 row_begin;
PUSH_END(dequant_push)
#endif

/* ---- rope: y = x rotated; x, y: fp32 [n_tok][n_head][head_dim] (y may be x),
 * pos: int32 [n_tok]; the first n_rot dims of each head rotate, pair i by
 * angle pos * theta_base^(-2i/n_rot); the other head_dim - n_rot dims are
 * copied. pairing: 0 adjacent (2i, 2i+1), 1 rotate-half (i, i + n_rot/2).
 * The frequency is 2^-(i * step) with step = 2 log2(theta_base) / n_rot,
 * computed in double on the CPU and split so that step_hi has at most 12
 * significant bits (i * step_hi is exact for i < 4096) and
 * step_lo = step - step_hi. */
#define ROPE_SPEC_WG 0
#define ROPE_N_SPEC 1
#define ROPE_BIND_X 0
#define ROPE_BIND_POS 1
#define ROPE_BIND_Y 2 /* y, or the fp16 cache (TO_CACHE) */
#define ROPE_BIND_V 3 /* TO_CACHE: values fp32 [n_tok][n_v], stored unrotated ... */
#define ROPE_BIND_V_CACHE 4 /* ... into this fp16 cache [n_ctx][n_v] (n_v 0: none) */
#define ROPE_N_BINDINGS 3
#define ROPE_TO_CACHE_N_BINDINGS 5
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
    U32 n_v;   /* TO_CACHE variant: value elements per token (0: no values) */
PUSH_END(rope_push)
#endif

/* ---- attention: out = softmax(scale * q k^T, causal) v per head, GQA.
 * q: fp32 [n_q][n_head][head_dim]; query i sits at position pos[i] (an int32
 * buffer) and sees cache positions 0 ..= pos[i], clamped below n_ctx.
 * k, v: fp16 [n_ctx][n_kv_head][head_dim] (the layer's cache);
 * out: fp32 [n_q][n_head][head_dim]; head h reads kv head h / (n_head / n_kv_head) */
#define ATTENTION_SPEC_WG 0     /* a multiple of every subgroup size the device may use */
#define ATTENTION_SPEC_ROWS 1   /* rows per tile */
#define ATTENTION_SPEC_CPL 2    /* chunks per lane */
#define ATTENTION_SPEC_NSG 3    /* subgroups per workgroup, at most */
#define ATTENTION_SPEC_D_MAX 4  /* >= head_dim: sizes the shared combine */
#define ATTENTION_SPEC_SPLITS 5 /* workgroups per row, each on a range of the keys */
#define ATTENTION_N_SPEC 6
#define ATTENTION_BIND_Q 0
#define ATTENTION_BIND_K 1
#define ATTENTION_BIND_V 2
#define ATTENTION_BIND_OUT 3
#define ATTENTION_BIND_POS 4
#define ATTENTION_BIND_PART 5   /* SPLITS > 1: the partials */
#define ATTENTION_N_BINDINGS 6
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
#define SILU_MUL_SPEC_WG 0
#define SILU_MUL_N_SPEC 1
#define SILU_MUL_BIND_GATE 0
#define SILU_MUL_BIND_UP 1
#define SILU_MUL_BIND_OUT 2
#define SILU_MUL_N_BINDINGS 3
#if !defined(VKLLM_GLSL) || defined(PUSH_SILU_MUL)
PUSH_BEGIN(silu_mul_push)
    U32 n;
PUSH_END(silu_mul_push)
#endif

/* ---- get_rows: out[i][c] = table[ids[i]][c] for the ids that fall in
 * this chunk of the table, rows [row_begin, row_end); table: fp16
 * [row_end - row_begin][n_cols] (one chunk), ids: int32 [n_ids],
 * out: fp32 [n_ids][n_cols] */
#define GET_ROWS_SPEC_WG 0
#define GET_ROWS_N_SPEC 1
#define GET_ROWS_BIND_TABLE 0
#define GET_ROWS_BIND_IDS 1
#define GET_ROWS_BIND_OUT 2
#define GET_ROWS_N_BINDINGS 3
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
#define ARGMAX_SPEC_WG 0 /* a power of two */
#define ARGMAX_N_SPEC 1
#define ARGMAX_BIND_X 0
#define ARGMAX_BIND_OUT 1
#define ARGMAX_N_BINDINGS 2
#if !defined(VKLLM_GLSL) || defined(PUSH_ARGMAX)
PUSH_BEGIN(argmax_push)
    U32 n_rows;
    U32 n;
PUSH_END(argmax_push)
#endif

/* ---- fill_blocks: random ggml blocks of block_bytes bytes, the fp16 fields
 * at d_off and m_off (0xffffffff: none) set to dm's halves, zeros from
 * n_bytes on; offset: the chunk's first byte in the tensor (a multiple of 4) */
#define FILL_BLOCKS_SPEC_WG 0
#define FILL_BLOCKS_N_SPEC 1
#define FILL_BLOCKS_BIND_DST 0
#define FILL_BLOCKS_N_BINDINGS 1
#if !defined(VKLLM_GLSL) || defined(PUSH_FILL_BLOCKS)
PUSH_BEGIN(fill_blocks_push)
    U32 n_words;
    U32 offset;
    U32 n_bytes;
    U32 seed;
    U32 block_bytes;
    U32 d_off;
    U32 m_off;
    U32 dm;
PUSH_END(fill_blocks_push)
#endif

/* ---- fill_random: dst[i] = half(scale * (2 u(seed, offset + i) - 1)) for
 * i < n, u in [0, 1) from an integer hash of the global element index, so
 * the values do not depend on how a tensor is cut into chunks */
#define FILL_RANDOM_SPEC_WG 0
#define FILL_RANDOM_N_SPEC 1
#define FILL_RANDOM_BIND_DST 0
#define FILL_RANDOM_N_BINDINGS 1
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
#define ATTENTION_COMBINE_SPEC_WG 0
#define ATTENTION_COMBINE_N_SPEC 1
#define ATTENTION_COMBINE_BIND_PART 0
#define ATTENTION_COMBINE_BIND_OUT 1
#define ATTENTION_COMBINE_N_BINDINGS 2
#if !defined(VKLLM_GLSL) || defined(PUSH_ATTENTION_COMBINE)
PUSH_BEGIN(attention_combine_push)
    U32 n_rows;
    U32 head_dim;
    U32 splits;
PUSH_END(attention_combine_push)
#endif

/* ---- quantize: n_blocks ggml blocks of the shader's QTYPE from src (fp32,
 * fp16 or bf16 elements [n_blocks * block], src_dtype one of
 * QUANTIZE_SRC_*, the values of src/model/dtype.h's DTYPE_*; from element
 * src_elem on) into dst from
 * word dst_word on (the first block's byte offset / 4: dispatches start on
 * even blocks, so a pair of 2-byte-aligned blocks shares no word with
 * another invocation); status[0] = min(itself, the row of any block holding
 * NaN/Inf), rows counted from row0 with blocks_per_row blocks each */
#define QUANTIZE_SRC_F32 0
#define QUANTIZE_SRC_F16 1
#define QUANTIZE_SRC_BF16 2
#define QUANTIZE_SPEC_WG 0
#define QUANTIZE_N_SPEC 1
#define QUANTIZE_BIND_SRC 0
#define QUANTIZE_BIND_DST 1
#define QUANTIZE_BIND_STATUS 2
#define QUANTIZE_N_BINDINGS 3
#if !defined(VKLLM_GLSL) || defined(PUSH_QUANTIZE)
PUSH_BEGIN(quantize_push)
    U32 n_blocks;
    U32 src_elem;  /* the first block's first element in src */
    U32 dst_word;
    U32 src_dtype;
    U32 row0;
    U32 blocks_per_row;
PUSH_END(quantize_push)
#endif

#endif
