/* CPU reference forward pass of a whole Llama model: the oracle the GPU
 * end-to-end tests compare logits and greedy continuations against. Plain
 * loops in the manner of llama2.c's run.c, written for clarity, not speed;
 * only for tests and the test-model generator (part of vkllm_gen, not of the
 * runtime library). It shares no code with src/ops/ and their references, so
 * agreement checks both.
 *
 * Precision contract (what the GPU sees, computed exactly where it can be):
 *   - weights: every 2-D matrix (token embeddings, q/k/v/o, gate/up/down,
 *     output) is rounded to fp16 (round to nearest even) and then widened to
 *     float, whatever the file's dtype, because the GPU holds matrix weights
 *     in fp16 (F32 and BF16 files are converted on upload). 1-D norm weights
 *     stay fp32, as on the GPU. A quantized matrix (ggml blocks) is the fp32
 *     values its blocks decode to (src/model/quant.c), which the GPU kernels
 *     compute exactly too.
 *   - KV cache: K (after RoPE) and V are stored rounded to fp16, as the GPU
 *     caches them.
 *   - activations: fp32 between ops (x, xn, q, k, v, attention output, gate,
 *     up, logits, ...).
 *   - inside an op: double. Dot products (matmuls, q.k), RMSNorm sums of
 *     squares, RoPE angles/cos/sin, softmax and the weighted sum of V
 *     accumulate in double; the result is rounded once to float.
 * Tokens are processed one at a time (a prefill of N tokens gives exactly the
 * logits of N single-token calls).
 *
 * Math per token at position pos (hp = model hparams, hd = head_dim):
 *   x = tok_embd[token]
 *   per layer: xn = rmsnorm(x) * attn_norm   (x / sqrt(mean(x^2) + rms_eps) * w)
 *              q = wq xn, k = wk xn, v = wv xn
 *              RoPE on the first n_rot dims of each q/k head, pair i rotated by
 *              pos * rope_theta^(-2i/n_rot); pairs are (2i, 2i+1) or
 *              (i, i + n_rot/2) as model->rope_pairing says
 *              k, v -> cache (fp16); head h attends with kv head
 *              h / (n_head / n_head_kv), scale 1/sqrt(hd), causal, softmax
 *              x += wo att
 *              xn = rmsnorm(x) * ffn_norm; x += w_down (silu(w_gate xn) * (w_up xn))
 *   logits = output (rmsnorm(x) * output_norm)     (output = tok_embd if tied)
 */
#ifndef VKLLM_GEN_REF_LLAMA_H
#define VKLLM_GEN_REF_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct ref_layer {
    float *attn_norm; /* [n_embd], fp32 */
    float *wq;        /* [n_head * head_dim][n_embd], rows paired as rope_pairing */
    float *wk;        /* [n_head_kv * head_dim][n_embd], same pairing */
    float *wv;        /* [n_head_kv * head_dim][n_embd] */
    float *wo;        /* [n_embd][n_head * head_dim] */
    float *ffn_norm;  /* [n_embd], fp32 */
    float *w_gate;    /* [n_ff][n_embd] */
    float *w_up;      /* [n_ff][n_embd] */
    float *w_down;    /* [n_embd][n_ff] */
} ref_layer;

/* Everything is owned by the ref_llama; the matrices hold fp16-exact values.
 * Read the fields, change them only through the functions below. */
typedef struct ref_llama {
    model_hparams hp;
    rope_pairing rope_pairing; /* layout of wq/wk rows, from the model */
    uint32_t n_ctx;            /* KV cache capacity in positions */
    uint32_t pos;              /* positions held in the cache; the next token goes here */

    float *tok_embd;    /* [n_vocab][n_embd] */
    ref_layer *layers;  /* [n_layer] */
    float *output_norm; /* [n_embd], fp32 */
    float *output;      /* [n_vocab][n_embd]; == tok_embd when tied (not a copy) */

    uint16_t *k_cache; /* [n_layer][n_ctx][n_head_kv][head_dim], fp16, after RoPE */
    uint16_t *v_cache; /* [n_layer][n_ctx][n_head_kv][head_dim], fp16 */

    /* scratch for one token */
    float *x, *xn;      /* [n_embd] */
    float *q, *att;     /* [n_head * head_dim] */
    float *k, *v;       /* [n_head_kv * head_dim] */
    float *gate, *up;   /* [n_ff] */
    double *scores;     /* [n_ctx] */
    float *logits;      /* [n_vocab] */

    char err[160]; /* why the last ref_llama_forward / ref_llama_greedy failed */
} ref_llama;

/* Converts all weights of `m` to float once (see the precision contract) and
 * allocates a KV cache of n_ctx positions (n_ctx > 0; it may exceed the
 * model's n_ctx_train). `m` is not used after the call returns and may be
 * closed. Returns NULL with a message in err on out-of-memory or n_ctx == 0.
 * Free with ref_llama_destroy. */
ref_llama *ref_llama_create(const model *m, uint32_t n_ctx, char *err, size_t err_len);

/* Frees everything; accepts NULL. */
void ref_llama_destroy(ref_llama *r);

/* Runs tokens[0 .. n_tokens) at positions r->pos, r->pos + 1, ... and
 * appends their K/V to the cache (r->pos += n_tokens).
 * logits:      [n_tokens][n_vocab], every position's logits, or NULL.
 * last_logits: [n_vocab], the last position's logits, or NULL.
 * Returns 0, or -1 with a message in r->err and nothing changed when a token
 * id is outside [0, n_vocab) or r->pos + n_tokens > n_ctx. n_tokens == 0 is
 * a no-op. */
int ref_llama_forward(ref_llama *r, const int32_t *tokens, uint32_t n_tokens, float *logits, float *last_logits);

/* Truncates the cache to its first `pos` positions (pos <= r->pos, else
 * -1 with a message in r->err); the next token goes to position pos. */
int ref_llama_reset(ref_llama *r, uint32_t pos);

/* Greedy decoding continuing from r->pos (call ref_llama_reset(r, 0) first
 * for a fresh start): runs the prompt (n_prompt >= 1), then writes n_gen
 * tokens to out_ids[n_gen], each the argmax of the previous position's
 * logits; each generated token except the last is fed back. Needs
 * r->pos + n_prompt + n_gen - 1 <= n_ctx. Returns 0, or -1 with r->err (bad
 * arguments, a bad token, context full, or all-NaN logits). */
int ref_llama_greedy(ref_llama *r, const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out_ids);

/* Index of the first maximum of v[0 .. n); NaN never wins. -1 if n == 0 or
 * every value is NaN. */
int32_t ref_llama_argmax(const float *v, uint32_t n);

#endif
