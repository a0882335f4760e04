/* The Llama forward pass on the GPU.
 *
 *   llama_weights   a model's weights on one device (fp16 matrices, fp32
 *                   norm weights), uploaded once; shared by sessions.
 *   llama_session   one conversation: the fp16 KV cache, the activation
 *                   buffers and the recorded command buffers. Positions
 *                   continue across llama_eval calls; llama_rewind truncates.
 *
 * How a step runs. The work for a block of n tokens (every layer's
 * dispatches and barriers) is recorded once into a command buffer and
 * replayed: the token ids and positions come from small host-visible
 * device buffers (mapped tensors) that the host writes before each submit,
 * and the kernels that depend on the position (RoPE, the K/V cache write,
 * attention) read it there. A decode step is one vkQueueSubmit and one fence
 * wait; the logits (or, for greedy decoding, the 4-byte argmax computed on
 * the GPU) are read from a mapped buffer after it. Recordings are cached per
 * (block size, logits wanted) — decode always hits the same one.
 *
 * Data layout: weights as the file has them (q/k rows in the file's RoPE
 * pairing, which the RoPE kernel is told), fp16; activations fp32; KV cache
 * fp16 [n_layer] x [n_ctx][n_head_kv * head_dim] for K and for V.
 */
#ifndef VKLLM_LLAMA_H
#define VKLLM_LLAMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "model/model.h"

typedef struct llama_weights llama_weights;
typedef struct llama_session llama_session;

/* Session defaults: the context when none is asked for (the model's
 * trained context, at most LLAMA_DEFAULT_CTX_CAP) and the prefill block. */
#define LLAMA_DEFAULT_CTX_CAP 4096
#define LLAMA_DEFAULT_BATCH 256
uint32_t llama_default_n_ctx(const model_hparams *hp, uint32_t requested);

/* Bytes a model needs on the device, by kind. */
typedef struct llama_mem {
    uint64_t weights;     /* matrices (fp16, or their quantized blocks) + fp32 norm weights */
    uint64_t kv_cache;    /* K and V, every layer, n_ctx positions */
    uint64_t activations; /* per-block buffers (n_batch tokens), logits included */
    uint64_t total;
} llama_mem;

/* What a model with hparams `hp` (tied: output shares the embedding) needs
 * for one session of n_ctx positions and blocks of n_batch tokens.
 * weight_bytes: the weights' device bytes (llama_weight_bytes of the model),
 * or 0 for fp16 matrices of the hparams' shapes. */
llama_mem llama_mem_needed(const model_hparams *hp, bool tied, uint64_t weight_bytes, uint32_t n_ctx,
                           uint32_t n_batch);

/* The device bytes of m's weights: fp16 matrices (BF16 / F32 are converted),
 * quantized matrices in their blocks (padded to whole 16-byte texels),
 * fp32 norm weights. */
uint64_t llama_weight_bytes(const model *m);
/* The device bytes of one matrix of m: fp16, its blocks, or the blocks of
 * its load_qtype (quantize on load), padded as llama_weight_bytes says. */
uint64_t llama_matrix_device_bytes(const model_tensor *t);

/* Checks llama_mem_needed against the device's free memory (gpu_mem_free). VKLLM_ERR_OUT_OF_MEMORY
 * with the numbers and a hint ("needs 22.3 GiB, device X has 16.0 GiB; ...")
 * when it does not fit. */
vkllm_status llama_check_fits(gpu_ctx *ctx, const model_hparams *hp, bool tied, uint64_t weight_bytes, uint32_t n_ctx,
                              uint32_t n_batch);
/* The same for one more session (its KV cache and activations) on a
 * context that already holds weights and maybe other sessions: against
 * what is free now (gpu_mem_free). */
vkllm_status llama_check_session_fits(gpu_ctx *ctx, const model_hparams *hp, uint32_t n_ctx, uint32_t n_batch);

/* Upload progress: bytes done of total; return non-zero to cancel
 * (the load then fails with VKLLM_ERR_INVALID_ARG "cancelled"). */
typedef int (*llama_progress_cb)(uint64_t done, uint64_t total, void *user);

/* Uploads every weight of `m` (F16 as is, BF16 and F32 converted to fp16 on
 * the way, through a bounded host buffer: host memory use does not grow
 * with the model; a matrix with a load_qtype (model_plan_quant) quantized
 * on all cores while the previous chunks upload, through 32 MiB of
 * buffers). Errors also FORMAT for a planned row holding NaN/Inf. `m` must outlive nothing: the weights keep no pointer
 * into it. Does not check the fit (call llama_check_fits first for a
 * friendly message). Errors: OUT_OF_MEMORY, UNSUPPORTED (a row wider than a
 * buffer), VULKAN; the context's error says which. */
vkllm_status llama_weights_load(gpu_ctx *ctx, const model *m, llama_progress_cb progress, void *user,
                                llama_weights **out);
void llama_weights_free(llama_weights *w);

/* The hparams of a well-known shape ("solar-10.7b", "llama-2-7b",
 * "mistral-7b", "tinyllama-1.1b", "small", "tiny"); 0 if unknown. */
int llama_preset(const char *name, model_hparams *hp);
/* Those names, comma-separated, for messages. */
const char *llama_preset_names(void);

/* Weights of shape hp with seeded random values written on the device
 * (norm weights 1): for benchmarks, no file and no upload. type: "f16" (or
 * NULL), a block type for every matrix ("q8_0", "q4_k", ...) or a
 * llama-quantize mix ("q4_k_m": each tensor the type the mix gives it);
 * quantized matrices get random blocks with sane scales. Same errors as
 * llama_weights_load, and INVALID_ARG for an unknown type. */
vkllm_status llama_weights_synthetic(gpu_ctx *ctx, const model_hparams *hp, const char *type, bool tied,
                                     uint32_t seed, llama_weights **out);
/* The device bytes those weights take (fp32 norms included) and of their
 * embedding table; INVALID_ARG for an unknown type. */
vkllm_status llama_synthetic_bytes(const model_hparams *hp, const char *type, bool tied, uint64_t *bytes,
                                   uint64_t *embd_bytes);
/* The types llama_weights_synthetic knows, for messages. */
const char *llama_synthetic_types(void);
const model_hparams *llama_weights_hparams(const llama_weights *w);
uint64_t llama_weights_bytes(const llama_weights *w);
/* What llama_weights_tune did at load: a line, then (when it measured) a
 * markdown table per weight shape (default and chosen configuration, GB/s
 * of weights). snprintf-style: returns the length, writes at most len. */
size_t llama_weights_tuning(const llama_weights *w, char *buf, size_t len);

typedef struct llama_session_opts {
    uint32_t n_ctx;     /* KV cache positions; 0: the model's n_ctx_train (capped at 4096) */
    uint32_t n_batch;   /* most tokens per block (prefill); 0: 256. Capped so one block's
                           largest buffer fits one shader binding */
    uint32_t max_timed; /* > 0: time that many dispatches of each step (llama_profile) */
} llama_session_opts;

/* A session on loaded weights: allocates the KV cache and the activations.
 * Several sessions may share one llama_weights. Errors as llama_weights_load
 * plus INVALID_ARG for a bad option. */
vkllm_status llama_session_create(llama_weights *w, const llama_session_opts *opts, llama_session **out);
void llama_session_free(llama_session *s);

uint32_t llama_session_n_ctx(const llama_session *s);
uint32_t llama_session_n_batch(const llama_session *s);
/* Positions filled so far: the next token goes to this position. */
uint32_t llama_session_pos(const llama_session *s);
/* Forgets positions >= pos (pos <= current); 0 clears the session. */
vkllm_status llama_rewind(llama_session *s, uint32_t pos);

/* What llama_eval returns. */
typedef enum llama_out {
    LLAMA_OUT_LAST = 0,   /* logits of the last token only */
    LLAMA_OUT_ALL = 1,    /* logits of every token */
    LLAMA_OUT_ARGMAX = 2, /* only the argmax of the last token (computed on the GPU) */
    LLAMA_OUT_NONE = 3,   /* nothing (llama_batch_eval only: a prompt chunk before its last) */
} llama_out;

/* Runs n tokens at positions pos .. pos + n - 1 (blocks of n_batch), adding
 * them to the KV cache. logits: [n_vocab] (LAST), [n][n_vocab] (ALL) or
 * unused (ARGMAX, may be NULL); *argmax (may be NULL) receives the last
 * token's argmax in every mode. Errors: INVALID_ARG for a token id outside
 * the vocabulary (nothing runs) or n == 0; OUT_OF_MEMORY ("context full")
 * when pos + n > n_ctx; VULKAN from the device. */
vkllm_status llama_eval(llama_session *s, const int32_t *tokens, uint32_t n, llama_out mode, float *logits,
                        int32_t *argmax);

/* Several sequences in one step (continuous batching). A batch holds the
 * activation buffers of up to max_rows rows from up to max_seqs sessions of
 * one llama_weights; each step is one forward pass over all of their rows:
 * the matrix kernels see every row at once (each weight is read once per
 * step, not once per sequence), the KV cache writes and attention run per
 * sequence against that session's own cache, at that session's positions.
 * Recordings are cached per (sessions, rows of each, output): a decode step
 * of the same sessions replays one command buffer. */
typedef struct llama_batch llama_batch;

/* Errors: INVALID_ARG (max_seqs 0 or above max_rows, max_rows above 65535),
 * UNSUPPORTED (buffers above the device's limit), OUT_OF_MEMORY, VULKAN. */
vkllm_status llama_batch_create(llama_weights *w, uint32_t max_rows, uint32_t max_seqs, llama_batch **out);
void llama_batch_free(llama_batch *b);
uint32_t llama_batch_max_rows(const llama_batch *b);
uint32_t llama_batch_max_seqs(const llama_batch *b);

/* One sequence's part of a step: n tokens (at most its session's n_batch)
 * at the session's next positions. mode: LAST (logits [n_vocab] of the last
 * token into `logits`), ARGMAX or NONE. */
typedef struct llama_batch_seq {
    llama_session *s;
    const int32_t *tokens;
    uint32_t n;
    llama_out mode;
    float *logits;
    int32_t argmax; /* out: the last token's argmax (LAST, ARGMAX); -1 when no sequence wanted output */
} llama_batch_seq;

/* Runs one step over seqs[0 .. n_seq): each session advances by its n.
 * Everything is checked before anything runs: INVALID_ARG for no or too
 * many sequences or rows, a session of another model or given twice, a
 * token outside the vocabulary, ALL mode, a missing logits buffer;
 * OUT_OF_MEMORY "context full" for a sequence that does not fit its
 * context. VULKAN from the device. The message is in gpu_error of the
 * weights' context (llama_batch_error). */
vkllm_status llama_batch_eval(llama_batch *b, llama_batch_seq *seqs, uint32_t n_seq);
const char *llama_batch_error(const llama_batch *b);

/* The error message of the last failure. */
const char *llama_session_error(const llama_session *s);

/* Per-dispatch GPU times of the last block run (needs max_timed > 0), in
 * order: the step of the layer ("attn q/k/v", "ffn down", ...), the kernel
 * and the microseconds; any array may be NULL. Returns the number filled. */
uint32_t llama_profile(const llama_session *s, const char **steps, const char **kernels, double *us, uint32_t max);
/* The same for the last step a batch ran; its recordings are timed (up to
 * the largest max_timed) when a session of the step has max_timed > 0. */
uint32_t llama_batch_profile(const llama_batch *b, const char **steps, const char **kernels, double *us, uint32_t max);

#endif
