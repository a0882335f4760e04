/* Shared by the generator's files: the tensor list, row generation, output
 * helpers, the vocabulary. */
#ifndef VKLLM_GEN_INTERNAL_H
#define VKLLM_GEN_INTERNAL_H

#include <stdio.h>

#include "gen.h"
#include "util/errf.h"

/* ---------------------------------------------------------------- tensors */

typedef struct gen_tensor {
    char canon[48];       /* "blk.0.attn_q.weight" */
    char hf[80];          /* "model.layers.0.self_attn.q_proj.weight" */
    uint32_t n_dims;      /* 1 (norms) or 2 */
    uint64_t rows, cols;  /* HF shape [rows][cols]; 1-D: rows = 1 */
    uint32_t perm_heads;  /* q: n_head, k: n_head_kv (GGUF permutes rows per head); 0: none */
    int kind;             /* GEN_EMBD, GEN_MATRIX, GEN_NORM */
    uint64_t id;          /* hash of canon: seeds the rows */
    uint32_t qtype;       /* ggml block type of a quantized matrix (model/quant.h); 0: p->dtype */
} gen_tensor;

enum { GEN_EMBD, GEN_MATRIX, GEN_NORM };

/* The model's tensors in file order; *n set. malloc'd; NULL when out of memory. */
gen_tensor *gen_tensor_list(const gen_params *p, size_t *n);

/* Row `row` (HF layout) of t: cols floats, rounded to p->dtype; for a
 * quantized matrix (t->qtype), the values its blocks decode to. */
void gen_row(const gen_params *p, const gen_tensor *t, uint64_t row, float *out);
/* The same row as gen_write_gguf stores it: t->qtype's blocks into
 * out[quant_bytes(t->qtype, cols)], or the dtype's bytes into out[cols * 4].
 * Returns the bytes written. */
size_t gen_row_bytes(const gen_params *p, const gen_tensor *t, uint64_t row, float *scratch, uint8_t *out);

/* HF row stored at GGUF row r of t (the llama.cpp q/k permutation; identity otherwise). */
uint64_t gen_gguf_src_row(const gen_tensor *t, uint64_t r);

/* Encodes n floats as dtype into out (little-endian); returns bytes written. */
size_t gen_encode(tensor_dtype dt, const float *in, uint64_t n, uint8_t *out);

/* ---------------------------------------------------------------- output */

/* A write-only file that remembers its first error. */
typedef struct gen_out {
    FILE *f;
    const char *path;
    uint64_t pos;
    int err_no; /* first errno, 0 if none */
} gen_out;

vkllm_status gen_out_open(gen_out *o, const char *path, char *err, size_t err_len);
void gen_out_write(gen_out *o, const void *p, size_t n);
void gen_out_zeros(gen_out *o, uint64_t n);
/* Closes; reports the first error of the whole write. */
vkllm_status gen_out_close(gen_out *o, char *err, size_t err_len);

/* Writes a whole small file (JSON). */
vkllm_status gen_write_text(const char *path, const char *text, char *err, size_t err_len);


/* ---------------------------------------------------------------- vocabulary */

/* SentencePiece-like: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then
 * pieces "▁", "a".."z", "▁a".."▁z", "aa".."zz", "▁aa", ... (breadth first, so
 * every piece's prefix precedes it and BPE merges are prefix + last char). */
typedef struct gen_vocab {
    uint32_t n;
    char **pieces;  /* [n] UTF-8 */
    float *scores;  /* [n] SentencePiece scores: 0 for special/byte, -(id - 258) otherwise */
    int32_t *types; /* [n] llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte */
    uint32_t *merge_left; /* [n] id of the prefix a normal piece merges from, else UINT32_MAX */
} gen_vocab;

#define GEN_FIRST_PIECE 259

vkllm_status gen_vocab_build(uint32_t n, gen_vocab *v, char *err, size_t err_len);
void gen_vocab_free(gen_vocab *v);

#endif
