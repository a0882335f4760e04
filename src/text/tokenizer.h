/* SentencePiece-BPE tokenizer (Llama-2, Mistral, SOLAR, TinyLlama): text ->
 * token ids and back, on the CPU. No Vulkan here.
 *
 * Two sources, one algorithm:
 *   - GGUF (`tokenizer.ggml.model` = "llama"): pieces, scores, token types.
 *     Adjacent symbols merge when their concatenation is a piece; the highest
 *     scoring such pair merges first (llama.cpp's / SentencePiece's rule).
 *   - Hugging Face tokenizer.json (model type "BPE"): vocab + merges. Adjacent
 *     symbols merge when (left, right) is a merge rule; the earliest rule
 *     merges first (the `tokenizers` library's rule). tokenizer_config.json
 *     beside it supplies add_bos_token / add_eos_token / bos_token / eos_token.
 * Ties go to the leftmost pair. A heap over adjacent pairs keeps encoding
 * O(n log n) in the text length (SentencePiece does not split on spaces).
 *
 * Encoding, per text segment between special tokens: the text gets the
 * SentencePiece dummy prefix (a leading space, when the vocabulary asks for
 * it), spaces become U+2581 '▁', it is cut into UTF-8 characters, merged, and
 * any character that is not a piece becomes its bytes' <0xXX> pieces (byte
 * fallback) or <unk>. Invalid UTF-8 is accepted: each invalid byte is a
 * character of its own, so it reaches the byte fallback unchanged.
 * Special tokens (control / unknown / user-defined pieces, HF added_tokens)
 * are matched literally in the raw text first, leftmost-longest, as HF does;
 * a trie of them makes the work at each position at most the longest
 * special's length, however many specials there are.
 *
 * Loading sizes every table by the entries the file holds and that pass the
 * checks (an id past the number of pieces is refused before any per-id
 * table exists; the merge table grows with the rules checked).
 *
 * Decoding (tok_decoder) is streaming: ids go in one at a time and only
 * complete UTF-8 comes out. '▁' becomes ' ', runs of <0xXX> pieces become
 * their bytes, and the first space of the text is dropped when the
 * vocabulary adds a dummy prefix (HF's Replace, ByteFallback, Fuse,
 * Strip(left 1) decoder). Invalid byte sequences become one U+FFFD per
 * invalid byte, as SentencePiece does (HF replaces every byte of a byte-piece
 * run that is not valid UTF-8 as a whole; the two differ only on such runs).
 *
 * A tokenizer is read-only after loading and may be shared between threads.
 */
#ifndef VKLLM_TEXT_TOKENIZER_H
#define VKLLM_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "vkllm.h"

typedef struct tokenizer tokenizer;

/* Token kinds (the values are GGUF's tokenizer.ggml.token_type). */
typedef enum tok_type {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,      /* <unk> */
    TOK_TYPE_CONTROL = 3,      /* <s>, </s>, HF added tokens with "special": true */
    TOK_TYPE_USER_DEFINED = 4, /* HF added tokens with "special": false: always matched literally */
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,         /* <0x00>..<0xFF> */
} tok_type;

/* ---------------------------------------------------------------- loading */

/* From an open GGUF (a model or a vocab-only file). Copies what it needs: g
 * may be closed afterwards. *out is freed with tok_free. Errors name the file
 * and the key: VKLLM_ERR_FORMAT (missing key, count mismatch between tokens /
 * scores / token_type, id out of range), VKLLM_ERR_UNSUPPORTED (another
 * tokenizer.ggml.model such as "gpt2"), VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status tok_load_gguf(const gguf_file *g, tokenizer **out, char *err, size_t err_len);

/* From an HF tokenizer.json, or a folder holding one (then its
 * tokenizer_config.json is read too, if present). Errors name the file and
 * the field: VKLLM_ERR_IO, VKLLM_ERR_FORMAT, VKLLM_ERR_UNSUPPORTED (not BPE,
 * byte-level BPE, a normalizer or pre-tokenizer other than SentencePiece's),
 * VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status tok_load_hf(const char *path, tokenizer **out, char *err, size_t err_len);

/* Picks by what `path` is: a file starting with "GGUF", a folder, or a JSON
 * file. Same errors as above. */
vkllm_status tok_load_path(const char *path, tokenizer **out, char *err, size_t err_len);

/* Frees everything; accepts NULL. */
void tok_free(tokenizer *t);

/* ---------------------------------------------------------------- queries */

uint32_t tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t);  /* -1 if the vocabulary has none */
int32_t tok_eos(const tokenizer *t);  /* -1 if none */
int32_t tok_unk(const tokenizer *t);  /* -1 if none */
bool tok_add_bos(const tokenizer *t); /* the vocabulary's default for TOK_ENCODE_BOS */
bool tok_add_eos(const tokenizer *t); /* the vocabulary's default for TOK_ENCODE_EOS */

/* The piece of `id` as stored ("▁Hello", "<0x0A>", "<s>"), NUL-terminated and
 * owned by t; *len (if non-NULL) gets its length in bytes. NULL if id is out
 * of range. */
const char *tok_piece(const tokenizer *t, int32_t id, size_t *len);
tok_type tok_piece_type(const tokenizer *t, int32_t id); /* 0 if out of range */

/* The id of the piece `s` (len bytes), or -1. */
int32_t tok_find(const tokenizer *t, const char *s, size_t len);

/* ---------------------------------------------------------------- encoding */

enum {
    TOK_ENCODE_BOS = 1u << 0,     /* prepend tok_bos (if the vocabulary has one) */
    TOK_ENCODE_EOS = 1u << 1,     /* append tok_eos (if any) */
    TOK_ENCODE_SPECIAL = 1u << 2, /* match control/unknown pieces ("<s>") literally in the text, like HF
                                     (split_special_tokens=False); without it they are plain text.
                                     User-defined pieces are matched either way. */
};

/* Encodes text[0..len) (any bytes; need not be NUL-terminated). On success
 * *ids is malloc'd (the caller frees it; non-NULL even when *n_ids == 0).
 * Errors: VKLLM_ERR_INVALID_ARG (NULL arguments), VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status tok_encode(const tokenizer *t, const char *text, size_t len, unsigned flags, int32_t **ids,
                        size_t *n_ids, char *err, size_t err_len);

/* ---------------------------------------------------------------- decoding */

enum {
    TOK_DECODE_SPECIAL = 1u << 0, /* write control/unknown pieces ("<s>") as their text; without it they
                                     produce nothing (HF skip_special_tokens=True) */
};

/* Streaming decoder state: a plain struct the caller owns (no allocation). */
typedef struct tok_decoder {
    const tokenizer *t;
    unsigned flags;
    bool started;        /* some text has been written: no more leading-space stripping */
    uint8_t pending[4];  /* bytes from <0xXX> pieces that begin an unfinished UTF-8 character */
    uint32_t n_pending;
} tok_decoder;

void tok_decoder_init(tok_decoder *d, const tokenizer *t, unsigned flags);

/* Bytes an `out` buffer of tok_decoder_next / tok_decoder_flush must hold. */
size_t tok_decode_bound(const tokenizer *t);

/* Feeds one id; writes the complete UTF-8 it finishes to out (not
 * NUL-terminated, *n_out bytes, possibly 0). out_cap must be at least
 * tok_decode_bound(t). VKLLM_ERR_INVALID_ARG for an id out of range or a too
 * small buffer (the state is then unchanged). */
vkllm_status tok_decoder_next(tok_decoder *d, int32_t id, char *out, size_t out_cap, size_t *n_out);

/* At the end of the stream: an unfinished character becomes U+FFFD per byte. */
vkllm_status tok_decoder_flush(tok_decoder *d, char *out, size_t out_cap, size_t *n_out);

/* Whole-sequence decode: *text is malloc'd, NUL-terminated, *len bytes (len
 * may be NULL). Errors: VKLLM_ERR_INVALID_ARG (an id out of range, named),
 * VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status tok_decode(const tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags, char **text,
                        size_t *len, char *err, size_t err_len);

#endif
