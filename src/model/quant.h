/* ggml's quantized weight blocks on the CPU: the reference dequantizer.
 *
 * Plain C written from the block layouts (ggml-common.h's structs, as the
 * GGUF specification names the type ids), one element at a time, so a reader
 * can check each formula against the layout; it shares nothing with the
 * shaders and is the oracle the GPU kernels and the quantizer are tested
 * against. Values are those llama.cpp computes: the same fp32 products in
 * the same order (fp16 scales widened to fp32 first, never fused into an
 * FMA: meson builds with -ffp-contract=off).
 *
 * Blocks of 32 weights (a fp16 scale d, some with a fp16 minimum m):
 *   Q8_0   d, int8 q[32]                       w = d*q
 *   Q4_0   d, 4-bit q[32]                      w = d*(q-8)
 *   Q4_1   d, m, 4-bit q[32]                   w = d*q + m
 *   Q5_0   d, 5th bits, 4-bit q[32]            w = d*(q-16)
 *   Q5_1   d, m, 5th bits, 4-bit q[32]         w = d*q + m
 *   IQ4_NL d, 4-bit index[32]                  w = d*table[index]
 * Super-blocks of 256 (K-quants), sub-blocks of 16 or 32 with packed scales:
 *   Q2_K   16 x (4-bit scale, 4-bit min), 2-bit q, d, dmin
 *   Q3_K   2-bit q, high-bit plane, 16 6-bit signed scales, d
 *   Q4_K   d, dmin, 8 x (6-bit scale, 6-bit min), 4-bit q
 *   Q5_K   as Q4_K plus a high-bit plane
 *   Q6_K   4-bit low q, 2-bit high q, 16 int8 scales, d
 *   IQ4_XS d, 8 6-bit scales (low nibbles + high pairs), 4-bit index
 * All multi-byte fields are little-endian.
 */
#ifndef VKLLM_MODEL_QUANT_H
#define VKLLM_MODEL_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* ggml type ids of the block types (GGUF specification) */
enum {
    QTYPE_Q4_0 = 2,
    QTYPE_Q4_1 = 3,
    QTYPE_Q5_0 = 6,
    QTYPE_Q5_1 = 7,
    QTYPE_Q8_0 = 8,
    QTYPE_Q2_K = 10,
    QTYPE_Q3_K = 11,
    QTYPE_Q4_K = 12,
    QTYPE_Q5_K = 13,
    QTYPE_Q6_K = 14,
    QTYPE_IQ4_NL = 20,
    QTYPE_IQ4_XS = 23,
};

typedef struct quant_type {
    uint32_t id;          /* ggml type id */
    const char *name;     /* "Q4_K" */
    uint32_t block;       /* weights per block: 32 or 256 */
    uint32_t block_bytes; /* bytes per block */
} quant_type;

/* The block type with ggml id `id`, or NULL when vkllm cannot dequantize it
 * (F32/F16/BF16 are not block types and give NULL too). */
const quant_type *quant_type_of(uint32_t id);

/* Bytes of n_weights of type t; 0 when n_weights is not a whole number of
 * blocks (the caller reports that as a format error). */
uint64_t quant_bytes(const quant_type *t, uint64_t n_weights);

/* Dequantizes n_blocks consecutive blocks of type t from src (block-packed,
 * any alignment) into dst[n_blocks * t->block]. */
void quant_dequantize(const quant_type *t, const void *src, float *dst, uint64_t n_blocks);

/* ---------------------------------------------------------------- schemes */

/* What llama-quantize calls a file type: one block type for every matrix
 * ("q4_0", "q8_0", "q6_k", "iq4_xs", ...; pure) or a mix that gives some
 * tensors a higher type ("q4_k_m", ...). The mixes follow llama.cpp's rules
 * for a Llama model without an importance matrix (use_more_bits(i, n): layer
 * i < n/8, or >= 7n/8, or (i - n/8) % 3 == 2):
 *   every scheme but q8_0:  output Q6_K (q8_0: Q8_0)
 *   q2_k    base Q2_K; attn_v Q4_K when n_head/n_head_kv >= 4 else Q3_K;
 *           ffn_down, attn_output Q3_K
 *   q3_k_s  base Q3_K
 *   q3_k_m  base Q3_K; attn_v Q5_K in layers 0-1, else Q4_K; ffn_down Q5_K
 *           in layers < n/16, else Q4_K where use_more_bits; attn_output Q4_K
 *   q3_k_l  base Q3_K; attn_v, ffn_down, attn_output Q5_K
 *   q4_k_s  base Q4_K; attn_v Q5_K in layers 0-3
 *   q4_k_m  base Q4_K; attn_v, ffn_down Q6_K where use_more_bits
 *   q5_k_s  base Q5_K
 *   q5_k_m  base Q5_K; attn_v, ffn_down Q6_K where use_more_bits
 *   iq4_nl, iq4_xs: ffn_down Q5_K in layers < n/8
 * A tensor whose rows are not a whole number of 256-weight super-blocks
 * falls back as llama-quantize does: Q2_K, Q3_K, IQ4_XS -> IQ4_NL,
 * Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0. */
typedef enum quant_role {
    QROLE_TOKEN_EMBD, QROLE_OUTPUT, QROLE_ATTN_Q, QROLE_ATTN_K, QROLE_ATTN_V, QROLE_ATTN_OUTPUT,
    QROLE_FFN_GATE, QROLE_FFN_UP, QROLE_FFN_DOWN,
} quant_role;

typedef struct quant_scheme {
    const char *name;   /* "q4_k_m" */
    uint32_t base;      /* the block type of most matrices */
    uint32_t file_type; /* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) */
} quant_scheme;

/* The scheme named `name` (case-insensitive: "Q4_K_M" works), or NULL. */
const quant_scheme *quant_scheme_find(const char *name);
/* All schemes, for help texts: *n receives the count. */
const quant_scheme *quant_schemes(unsigned *n);
/* The block type the scheme gives the matrix of `role` in layer `layer` of
 * n_layer (layer ignored for the embeddings and output) whose rows hold
 * `cols` weights; n_head / n_head_kv for the GQA rule. 0 when no block type
 * fits a row of `cols` (cols not a multiple of 32): keep it unquantized. */
uint32_t quant_scheme_type(const quant_scheme *s, quant_role role, uint32_t layer, uint32_t n_layer, uint64_t cols,
                           uint32_t n_head, uint32_t n_head_kv);

/* The role of the weight matrix with GGUF name `name` ("token_embd.weight",
 * "output.weight", "blk.3.attn_v.weight", ...), its layer in *layer (0 for
 * the embeddings and output); -1 for any other name. */
int quant_tensor_role(const char *name, uint32_t *layer);
/* What `vkllm quantize` and quantize-on-load both give a tensor: for a weight
 * matrix named as quant_tensor_role knows (2-D, rows of `cols` weights) of a
 * model of n_layer layers (tied: the embeddings serve as the output, so they
 * get the output's type), *type = the scheme's block type, or 0 when no
 * block type fits a row (kept F16, as llama-quantize does); returns 1.
 * Returns 0 (and leaves *type) for any other tensor: kept as it is. */
int quant_scheme_tensor(const quant_scheme *s, const char *name, uint64_t cols, int tied, uint32_t n_layer,
                        uint32_t n_head, uint32_t n_head_kv, uint32_t *type);

/* Quantizes n_blocks * t->block weights from src into n_blocks blocks of
 * type t at dst (see quantize.c for the algorithms). Non-finite inputs give
 * unspecified (but in-range) blocks; the caller refuses them first. */
void quant_quantize(const quant_type *t, const float *src, void *dst, uint64_t n_blocks);

/* How the K-quants and IQ4 find their scales (quantize.c): EXACT is the
 * formats' reference search (llama-quantize's blocks); FAST tries a few of
 * its candidate scales (see quantize.c for which and what it costs in
 * error). The other types have no search: the same blocks either way. */
typedef enum quant_search { QUANT_SEARCH_EXACT = 0, QUANT_SEARCH_FAST = 1 } quant_search;
/* 1 when none of x[0..n) is Inf or NaN */
int quant_all_finite(const float *x, uint64_t n);
/* "exact" / "fast" (any case) into *out; 0 for any other name */
int quant_search_parse(const char *name, quant_search *out);
/* 1 for the block types whose blocks depend on the search */
int quant_type_searched(uint32_t type);
/* quant_quantize with the given search */
void quant_quantize_as(const quant_type *t, quant_search search, const float *src, void *dst, uint64_t n_blocks);

/* n fp16 values at src (host byte order, any alignment) as floats into
 * dst[n], exactly as half_to_float. */
int quant_f16_to_f32(const void *src, float *dst, uint64_t n); /* 1: none was Inf or NaN */

/* The builds of the two above (quantize.c): portable, and on x86 AVX2 and
 * AVX-512 ones; all give the same results, quant_quantize and
 * quant_f16_to_f32 take the first one the CPU runs. */
typedef struct quant_build {
    const char *name; /* "avx512", "avx2", "portable" */
    void (*quantize)(const quant_type *t, int fast, const float *src, void *dst, uint64_t n_blocks); /* fast: QUANT_SEARCH_FAST */
    int (*f16_to_f32)(const void *src, float *dst, uint64_t n);
} quant_build;
/* Up to max of the builds this CPU runs, fastest first (the portable one
 * last), into out; returns how many. */
unsigned quant_builds(const quant_build **out, unsigned max);

#endif
