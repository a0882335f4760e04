/* Test-model generator: writes a Llama model with seeded random weights as a
 * GGUF file (laid out as llama.cpp's convert_hf_to_gguf.py writes it) and/or a
 * Hugging Face folder (config.json, safetensors, tokenizer files).
 *
 * This is a small static library (vkllm_gen) used by the vkllm-gen-model tool
 * and by the tests; it is not part of the runtime library. It shares no code
 * with the readers in src/model/ (only the fp16/bf16 converters), so a test
 * that writes with one and reads with the other checks both.
 *
 * Weights. Every value is a pure function of (seed, canonical tensor name,
 * row, column) in the Hugging Face layout, rounded to the model dtype, so the
 * same seed gives the same model in both formats: the GGUF holds the q/k rows
 * permuted to llama.cpp's adjacent-pair layout, and its 1-D norm weights as F32
 * (the dtype-rounded values, exactly as the converter widens them). Data are
 * generated and written one row at a time: memory use does not grow with the
 * model, so a SOLAR-10.7B-sized model (21.5 GB) can be written.
 * Assumes a little-endian host (checked).
 */
#ifndef VKLLM_GEN_H
#define VKLLM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "model/dtype.h"
#include "vkllm.h"

typedef struct gen_params {
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv;
    uint32_t head_dim;      /* 0: n_embd / n_head (not written); else written explicitly */
    uint32_t n_vocab;       /* >= 260: 3 specials + 256 byte pieces + at least one more */
    uint32_t n_ctx;
    double rope_theta, rms_eps;
    tensor_dtype dtype;     /* F32, F16 or BF16 */
    uint64_t seed;
    int tied;               /* tie_word_embeddings: no output.weight / lm_head.weight */
    uint32_t alignment;     /* GGUF general.alignment; 0 or 32: default, key not written */
    uint32_t n_shards;      /* HF: 0 or 1: model.safetensors; N: N shards + index.json */
    int config_new_style;   /* HF config.json: "dtype", "rope_parameters", "head_dim" (transformers 5)
                               instead of "torch_dtype", top-level "rope_theta" (4.35) */
    const char *name;       /* general.name; NULL: "vkllm-test" */
    const char *quant;      /* GGUF only: a quantization scheme of src/model/quant.h ("q4_k_m",
                               "q8_0", ...) for the matrices, quantized by vkllm's quantizer from
                               the dtype-rounded values; NULL: none */
} gen_params;

/* Fills p with a preset: "tiny" (2 layers, 64 wide, GQA 4/2, vocab 512, f16)
 * or "solar-10.7b" (SOLAR-10.7B's shapes, f16, 5 shards). 0 if unknown. */
int gen_preset(const char *name, gen_params *p);

/* Checks p (shapes divisible, vocab large enough, ...). VKLLM_ERR_INVALID_ARG. */
vkllm_status gen_check(const gen_params *p, char *err, size_t err_len);

/* Writes the model as one GGUF v3 file at `path` (replaced if present). */
vkllm_status gen_write_gguf(const gen_params *p, const char *path, char *err, size_t err_len);

/* The ggml type of canonical tensor `canon` as gen_write_gguf writes it
 * (the dtype's, or the block type the scheme gives it); UINT32_MAX when the
 * model has no such tensor. */
uint32_t gen_tensor_type(const gen_params *p, const char *canon);

/* Writes the model as an HF folder `dir` (created if missing): config.json,
 * model.safetensors or model-0000i-of-0000N.safetensors + index, tokenizer.json,
 * tokenizer_config.json. A stale model.safetensors / index from another
 * shard count is removed so the folder is unambiguous. Quantized models
 * (p->quant) are GGUF only: VKLLM_ERR_INVALID_ARG. */
vkllm_status gen_write_hf(const gen_params *p, const char *dir, char *err, size_t err_len);

/* One row of canonical tensor `canon` in HF layout (unpermuted), rounded to
 * p->dtype (and, for a quantized matrix, the values its blocks decode to):
 * `out` receives cols floats. For tests. INVALID_ARG for a name the
 * model does not have. */
vkllm_status gen_weight_row(const gen_params *p, const char *canon, uint64_t row, float *out, uint64_t out_len,
                            char *err, size_t err_len);

/* The chat template written into tokenizer_config.json and the GGUF
 * (SOLAR-10.7B-Instruct's). */
extern const char *const gen_chat_template;

#endif
