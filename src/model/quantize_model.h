/* Model conversion for `vkllm quantize` (vkllm_quantize in include/vkllm.h):
 * an F32/F16/BF16 model (GGUF or Hugging Face folder; a quantized GGUF with
 * allow_requantize) to a GGUF llama.cpp loads as its own. No Vulkan here.
 *
 * The output, tensor by tensor:
 *   - names: the canonical GGUF names (token_embd.weight, blk.N.attn_q.weight,
 *     ...); a GGUF source keeps its names, order, shapes and any tensor vkllm
 *     does not know (copied as it is);
 *   - weight matrices: the scheme's block type (quant_scheme_type, with
 *     token_embd in the output's role when the embeddings are tied), or F16
 *     when no block type fits a row; the "f32"/"f16"/"bf16" types convert
 *     without quantizing;
 *   - 1-D tensors (norms): F32;
 *   - HF q/k rows permuted per head to llama.cpp's adjacent-pair layout (GGUF
 *     row h*hd + 2i + j = HF row h*hd + j*hd/2 + i), as its converter does.
 * Metadata: a GGUF source's key/values are copied in order, byte for byte,
 * with general.file_type and general.quantization_version (2) set; an HF
 * source gets the keys and key types convert_hf_to_gguf.py writes for a
 * Llama model, and its tokenizer (see qm_vocab_from_hf).
 */
#ifndef VKLLM_MODEL_QUANTIZE_MODEL_H
#define VKLLM_MODEL_QUANTIZE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/gguf_write.h"
#include "vkllm.h"

/* An HF tokenizer (tokenizer.json + tokenizer_config.json) as llama.cpp's
 * SentencePiece ("llama") vocabulary. */
typedef struct qm_vocab {
    uint32_t n;
    char **pieces;      /* [n], NUL-terminated, owned */
    uint32_t *lens;     /* [n] */
    float *scores;      /* [n] */
    int32_t *types;     /* [n], tokenizer.ggml.token_type values */
    int32_t bos, eos, unk, pad; /* -1: none */
    int add_bos, add_eos, add_space_prefix;
    char *chat_template; /* owned; NULL: none */
} qm_vocab;

/* Reads dir/tokenizer.json (a BPE model with SentencePiece's Metaspace
 * handling: Mistral, Llama-2, SOLAR, TinyLlama), dir/tokenizer_config.json
 * and dir/chat_template.jinja when present, for a model of n_vocab
 * embedding rows (ids the tokenizer lacks become "[PADi]" pieces of type
 * UNUSED). Scores: a merged piece scores -(1 + the rank of the first merge
 * producing it), so llama.cpp's highest-score-first merging follows the
 * merge list; specials and byte pieces 0; pieces no merge produces
 * -(1 + n_merges + id). Types: <unk> UNKNOWN, special added tokens CONTROL,
 * other added tokens USER_DEFINED, <0xXX> BYTE, the rest NORMAL.
 * Errors name the file and field: IO, FORMAT, UNSUPPORTED (byte-level BPE,
 * Unigram, WordPiece), OUT_OF_MEMORY. */
vkllm_status qm_vocab_from_hf(const char *dir, uint32_t n_vocab, qm_vocab *v, char *err, size_t err_len);
void qm_vocab_free(qm_vocab *v);

/* The tokenizer.ggml.* keys (and tokenizer.chat_template) of v, in the
 * converter's order. */
void qm_vocab_write(gguf_writer *w, const qm_vocab *v);

/* Does the work of vkllm_quantize (same contract). */
vkllm_status quantize_model(const char *in, const char *out, const vkllm_quantize_options *opt,
                            vkllm_quantize_stats *stats, char *err, size_t err_len);

#endif
