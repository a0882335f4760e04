/* A session: KV cache, activation buffers, and the recorded forward pass of
 * a block of tokens, replayed with new ids and positions each step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_internal.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/get_rows.h"
#include "ops/kv_store.h"
#include "ops/matmul.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/silu_mul.h"

#define N_RECS 4 /* recordings kept: decode, the last prefill sizes */

/* What one recorded block produces (llama_out plus "nothing": the blocks of
 * a prompt before its last need no logits). */
typedef enum block_out { OUT_NONE = -1, OUT_LAST = LLAMA_OUT_LAST, OUT_ALL = LLAMA_OUT_ALL, OUT_ARGMAX = LLAMA_OUT_ARGMAX } block_out;

typedef struct cached_rec {
    uint32_t n;     /* tokens in the block; 0: empty slot */
    block_out out;
    uint64_t used;  /* LRU clock */
    gpu_rec *rec;
} cached_rec;

struct llama_session {
    llama_weights *w;
    gpu_ctx *ctx;
    uint32_t n_ctx, n_batch;
    uint32_t n_out_rows; /* rows the logits buffers hold (ALL mode blocks are at most this) */
    uint32_t pos;
    uint32_t max_timed;

    gpu_tensor **k_cache, **v_cache; /* [n_layer] each: fp16 [n_ctx][n_head_kv * head_dim] */
    gpu_tensor *ids, *positions;     /* mapped int32 [n_batch]: this block's tokens and positions */
    gpu_tensor *x;                   /* fp32 [n_batch][n_embd], the residual stream */
    gpu_tensor *xn;                  /* fp32 [n_batch][n_embd], normed */
    gpu_tensor *q, *att;             /* fp32 [n_batch][n_head * head_dim] */
    gpu_tensor *k, *v;               /* fp32 [n_batch][n_head_kv * head_dim] */
    gpu_tensor *gate, *up;           /* fp32 [n_batch][n_ff] */
    gpu_tensor *x_last;              /* fp32 [n_embd], the last token's x */
    gpu_tensor *logits;              /* fp32 [n_out_rows][n_vocab] */
    gpu_tensor *logits_host;         /* mapped copy of it */
    gpu_tensor *argmax;              /* mapped int32 [1] */
    gpu_tensor *attn_scratch;        /* fp32 partials of split attention (decode on GPUs) */

    cached_rec recs[N_RECS];
    uint64_t clock;
    gpu_rec *last_run;
};

/* ------------------------------------------------------------ sizes */

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* fp32 elements per token of the widest activation buffer */
static uint64_t widest_row(const model_hparams *hp)
{
    uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim;
    return max_u32(max_u32(hp->n_embd, hp->n_ff), (uint32_t)q_dim);
}

uint64_t llama_act_bytes(const model_hparams *hp, uint32_t n_batch)
{
    const uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim, kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t per_tok = 4 * (2ull * hp->n_embd + 2 * q_dim + 2 * kv_dim + 2ull * hp->n_ff) + 8;
    uint64_t logits_rows = n_batch ? n_batch : 1;
    uint64_t attn_scratch = 4ull * hp->n_head * 64 * (hp->head_dim + 2); /* split attention, at most 64 ranges */
    return per_tok * n_batch + 4ull * hp->n_embd + 2 * 4 * logits_rows * hp->n_vocab + 4 + attn_scratch;
}

/* ------------------------------------------------------------ create */

uint32_t llama_default_n_ctx(const model_hparams *hp, uint32_t requested)
{
    if (requested) return requested;
    return hp->n_ctx_train && hp->n_ctx_train < LLAMA_DEFAULT_CTX_CAP ? hp->n_ctx_train : LLAMA_DEFAULT_CTX_CAP;
}

vkllm_status llama_session_create(llama_weights *w, const llama_session_opts *opts, llama_session **out)
{
    *out = NULL;
    gpu_ctx *ctx = w->ctx;
    const model_hparams *hp = &w->hp;
    llama_session_opts o = opts ? *opts : (llama_session_opts){ 0 };
    o.n_ctx = llama_default_n_ctx(hp, o.n_ctx);
    if (o.n_batch == 0) o.n_batch = LLAMA_DEFAULT_BATCH;
    if (o.n_batch > o.n_ctx) o.n_batch = o.n_ctx;
    const uint64_t chunk = gpu_max_chunk_bytes(ctx);
    const uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    if ((uint64_t)o.n_ctx * kv_dim * 2 > chunk)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED,
                        "a context of %u positions needs %llu-byte KV cache buffers per layer, above this device's "
                        "%llu-byte buffer limit; use a context of at most %llu",
                        o.n_ctx, (unsigned long long)(o.n_ctx * kv_dim * 2), (unsigned long long)chunk,
                        (unsigned long long)(chunk / (kv_dim * 2)));
    /* one block's buffers must each be one binding */
    uint64_t cap = chunk / (4 * widest_row(hp));
    if (cap == 0) return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "one token's activations exceed a device buffer");
    if (o.n_batch > cap) o.n_batch = (uint32_t)cap;
    if (o.n_batch > 65535) o.n_batch = 65535;
    uint64_t out_cap = chunk / (4ull * hp->n_vocab);
    if (out_cap == 0) return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "one row of logits exceeds a device buffer");
    /* as the model's load does: refuse what does not fit rather than
     * overcommit the device (checked against what is free now) */
    vkllm_status fit = llama_check_session_fits(ctx, hp, o.n_ctx, o.n_batch);
    if (fit != VKLLM_OK) return fit;

    llama_session *s = calloc(1, sizeof *s);
    if (!s) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    s->w = w;
    s->ctx = ctx;
    s->n_ctx = o.n_ctx;
    s->n_batch = o.n_batch;
    s->n_out_rows = o.n_batch < out_cap ? o.n_batch : (uint32_t)out_cap;
    s->max_timed = o.max_timed;
    s->k_cache = calloc(hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc(hp->n_layer, sizeof *s->v_cache);
    vkllm_status st = s->k_cache && s->v_cache ? VKLLM_OK : gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t l = 0; l < hp->n_layer && st == VKLLM_OK; l++) {
        st = gpu_tensor_create(ctx, o.n_ctx * kv_dim * 2, 0, &s->k_cache[l]);
        if (st == VKLLM_OK) st = gpu_tensor_create(ctx, o.n_ctx * kv_dim * 2, 0, &s->v_cache[l]);
    }
    const uint64_t B = o.n_batch, q_dim = (uint64_t)hp->n_head * hp->head_dim;
    struct {
        gpu_tensor **t;
        uint64_t bytes;
        bool mapped;
    } bufs[] = {
        { &s->ids, B * 4, true },
        { &s->positions, B * 4, true },
        { &s->x, B * hp->n_embd * 4, false },
        { &s->xn, B * hp->n_embd * 4, false },
        { &s->q, B * q_dim * 4, false },
        { &s->att, B * q_dim * 4, false },
        { &s->k, B * kv_dim * 4, false },
        { &s->v, B * kv_dim * 4, false },
        { &s->gate, B * hp->n_ff * 4, false },
        { &s->up, B * hp->n_ff * 4, false },
        { &s->x_last, (uint64_t)hp->n_embd * 4, false },
        { &s->logits, (uint64_t)s->n_out_rows * hp->n_vocab * 4, false },
        { &s->logits_host, (uint64_t)s->n_out_rows * hp->n_vocab * 4, true },
        { &s->argmax, 4, true },
        { &s->attn_scratch, attention_scratch_bytes(ctx, 1, hp->n_head, hp->n_head_kv, hp->head_dim, o.n_ctx) + 16, false },
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && st == VKLLM_OK; i++)
        st = bufs[i].mapped ? gpu_tensor_create_mapped(ctx, bufs[i].bytes, bufs[i].t)
                            : gpu_tensor_create(ctx, bufs[i].bytes, 0, bufs[i].t);
    if (st != VKLLM_OK) {
        llama_session_free(s);
        return st;
    }
    *out = s;
    return VKLLM_OK;
}

void llama_session_free(llama_session *s)
{
    if (!s) return;
    gpu_ctx *ctx = s->ctx;
    for (int i = 0; i < N_RECS; i++) gpu_rec_destroy(s->recs[i].rec);
    for (uint32_t l = 0; l < s->w->hp.n_layer; l++) {
        if (s->k_cache) gpu_tensor_destroy(ctx, s->k_cache[l]);
        if (s->v_cache) gpu_tensor_destroy(ctx, s->v_cache[l]);
    }
    free(s->k_cache);
    free(s->v_cache);
    gpu_tensor *ts[] = { s->ids, s->positions, s->x, s->xn, s->q, s->att, s->k, s->v,
                         s->gate, s->up, s->x_last, s->logits, s->logits_host, s->argmax, s->attn_scratch };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) gpu_tensor_destroy(ctx, ts[i]);
    free(s);
}

uint32_t llama_session_n_ctx(const llama_session *s) { return s->n_ctx; }
uint32_t llama_session_n_batch(const llama_session *s) { return s->n_batch; }
uint32_t llama_session_pos(const llama_session *s) { return s->pos; }
const char *llama_session_error(const llama_session *s) { return gpu_error(s->ctx); }

vkllm_status llama_rewind(llama_session *s, uint32_t pos)
{
    if (pos > s->pos)
        return gpu_fail(s->ctx, VKLLM_ERR_INVALID_ARG, "cannot rewind to position %u: only %u filled", pos, s->pos);
    /* the cache past pos is stale but never read: attention stops at each
     * query's own position, and new tokens overwrite it */
    s->pos = pos;
    return VKLLM_OK;
}

/* ------------------------------------------------------------ the graph */

/* What the projections after an RMSNorm read: x itself with the norm folded
 * into their matrix-vector kernels (fused; see op_matmul_norm), or xn =
 * rmsnorm(x), recorded here (step `tag`) with the barrier after it. */
typedef struct normed {
    gpu_binding in;
    matmul_norm norm;
    bool fused;
} normed;
#define NORM_OF(nd) ((nd).fused ? &(nd).norm : NULL)

static void normed_input(gpu_rec *rec, bool fuse, gpu_binding x, gpu_tensor *w, float eps, gpu_binding xn,
                         uint32_t n, uint32_t E, const char *tag, normed *out)
{
    *out = (normed){ fuse ? x : xn, { gpu_bind(w), eps }, fuse };
    if (fuse) return;
    gpu_rec_tag(rec, tag);
    op_rmsnorm(rec, x, gpu_bind(w), xn, n, E, eps);
    gpu_barrier(rec); /* xn -> the projections */
}

/* Records the forward pass of a block of n tokens whose ids and positions
 * are in s->ids / s->positions. The same math in plain loops, one token at
 * a time, is the CPU reference forward pass in tools/gen/ref_llama.c
 * (ref_llama_forward): read it beside this to see what each step computes.
 * Errors stick to the recording (see gpu.h): each op records its first
 * failure into rec and gpu_rec_end reports it, so there is one call per
 * step here. */
static void record_block(llama_session *s, uint32_t n, block_out out, gpu_rec *rec)
{
    const llama_weights *w = s->w;
    const model_hparams *hp = &w->hp;
    const uint32_t E = hp->n_embd, F = hp->n_ff, H = hp->n_head, KH = hp->n_head_kv, D = hp->head_dim;
    const uint32_t q_dim = H * D, kv_dim = KH * D;
    const float scale = 1.0f / sqrtf((float)D);
    gpu_binding x = gpu_bind(s->x), xn = gpu_bind(s->xn), q = gpu_bind(s->q), k = gpu_bind(s->k),
                v = gpu_bind(s->v), att = gpu_bind(s->att), gate = gpu_bind(s->gate),
                up = gpu_bind(s->up), pos = gpu_bind(s->positions);
    /* norms folded into the projections where they run the matrix-vector kernel */
    const bool fuse_attn = matmul_norm_fusable(s->ctx, n, q_dim, E) && matmul_norm_fusable(s->ctx, n, kv_dim, E);
    const bool fuse_ffn = matmul_norm_fusable(s->ctx, n, F, E);
    const bool fuse_glu = matmul_glu_fusable(s->ctx, n, F, E);
    normed nd;

    /* the previous step's reads and writes (same buffers, earlier submit)
     * finished and visible before this one touches them */
    gpu_barrier(rec);
    gpu_rec_tag(rec, "embedding");
    op_get_rows(rec, w->tok_embd, gpu_bind(s->ids), x, n, hp->n_vocab, E);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const llama_layer *L = &w->layers[l];
        gpu_binding kc = gpu_bind(s->k_cache[l]), vc = gpu_bind(s->v_cache[l]);
        gpu_barrier(rec); /* x written (embedding or last layer) -> norm reads it */
        normed_input(rec, fuse_attn, x, L->attn_norm, hp->rms_eps, xn, n, E, "attn norm", &nd);
        gpu_rec_tag(rec, fuse_attn ? "attn norm + q/k/v" : "attn q/k/v");
        op_matmul_norm(rec, L->wq, NORM_OF(nd), nd.in, q, n, q_dim, E);
        op_matmul_norm(rec, L->wk, NORM_OF(nd), nd.in, k, n, kv_dim, E);
        op_matmul_norm(rec, L->wv, NORM_OF(nd), nd.in, v, n, kv_dim, E);
        gpu_barrier(rec); /* q, k, v -> RoPE of q (in place), k and v into the cache (k rotated on the way) */
        gpu_rec_tag(rec, "rope + kv store");
        op_rope(rec, q, pos, q, n, H, D, hp->n_rot, hp->rope_theta, w->pairing);
        op_rope_to_cache(rec, k, pos, kc, n, KH, D, hp->n_rot, hp->rope_theta, w->pairing, s->n_ctx);
        op_kv_store(rec, v, pos, vc, n, kv_dim, s->n_ctx);
        gpu_barrier(rec); /* q rotated, k/v cache written -> attention reads */
        gpu_rec_tag(rec, "attention");
        op_attention(rec, q, kc, vc, pos, att, gpu_bind(s->attn_scratch), n, H, KH, D, s->n_ctx, scale);
        gpu_barrier(rec); /* attention output -> o projection */
        gpu_rec_tag(rec, "attn output");
        op_matmul_acc(rec, L->wo, att, x, n, E, q_dim); /* x += o: the residual */
        gpu_barrier(rec); /* x -> FFN norm */
        normed_input(rec, fuse_ffn, x, L->ffn_norm, hp->rms_eps, xn, n, E, "ffn norm", &nd);
        gpu_rec_tag(rec, fuse_ffn ? "ffn norm + gate/up" : "ffn gate/up");
        if (fuse_glu) { /* gate, up and SiLU(gate) * up in one pass */
            op_matmul_glu(rec, L->w_gate, L->w_up, NORM_OF(nd), nd.in, gate, n, F, E);
        } else {
            op_matmul_norm(rec, L->w_gate, NORM_OF(nd), nd.in, gate, n, F, E);
            op_matmul_norm(rec, L->w_up, NORM_OF(nd), nd.in, up, n, F, E);
            gpu_barrier(rec); /* gate, up -> SiLU(gate) * up */
            gpu_rec_tag(rec, "ffn silu*up");
            op_silu_mul(rec, gate, up, gate, n * F);
        }
        gpu_barrier(rec); /* h -> down projection */
        gpu_rec_tag(rec, "ffn down");
        op_matmul_acc(rec, L->w_down, gate, x, n, E, F); /* x += down: the residual */
    }
    if (out == OUT_NONE) return;

    gpu_barrier(rec); /* final x -> output norm (or the copy of its last row) */
    gpu_tensor *head = w->output ? w->output : w->tok_embd;
    uint32_t rows = out == OUT_ALL ? n : 1;
    gpu_binding final = x;
    if (out != OUT_ALL) {
        gpu_rec_tag(rec, "output norm");
        gpu_binding last = { s->x, 0, (uint64_t)(n - 1) * E * 4, (uint64_t)E * 4 };
        gpu_rec_copy(rec, gpu_bind(s->x_last), last, (uint64_t)E * 4);
        gpu_barrier(rec); /* last row copied -> norm */
        final = gpu_bind(s->x_last);
    }
    const bool fuse_out = matmul_norm_fusable(s->ctx, rows, hp->n_vocab, E);
    normed_input(rec, fuse_out, final, w->output_norm, hp->rms_eps, xn, rows, E, "output norm", &nd);
    gpu_rec_tag(rec, fuse_out ? "output norm + output" : "output");
    op_matmul_norm(rec, head, NORM_OF(nd), nd.in, gpu_bind(s->logits), rows, hp->n_vocab, E);
    gpu_barrier(rec); /* logits -> argmax and the host copy */
    gpu_rec_tag(rec, "argmax");
    gpu_binding last_row = { s->logits, 0, (uint64_t)(rows - 1) * hp->n_vocab * 4, (uint64_t)hp->n_vocab * 4 };
    op_argmax(rec, last_row, gpu_bind(s->argmax), 1, hp->n_vocab);
    if (out != OUT_ARGMAX)
        gpu_rec_copy(rec, gpu_bind(s->logits_host), gpu_bind(s->logits), (uint64_t)rows * hp->n_vocab * 4);
}

/* The recording for (n, out), from the cache or recorded now. */
static vkllm_status get_rec(llama_session *s, uint32_t n, block_out out, gpu_rec **rec)
{
    cached_rec *victim = &s->recs[0];
    for (int i = 0; i < N_RECS; i++) {
        cached_rec *c = &s->recs[i];
        if (c->rec && c->n == n && c->out == out) {
            c->used = ++s->clock;
            *rec = c->rec;
            return VKLLM_OK;
        }
        if (!c->rec || (victim->rec && c->used < victim->used)) victim = c;
    }
    gpu_rec_destroy(victim->rec);
    *victim = (cached_rec){ 0 };
    gpu_rec *r;
    vkllm_status st = gpu_rec_begin(s->ctx, s->max_timed, &r);
    if (st != VKLLM_OK) return st;
    record_block(s, n, out, r);
    st = gpu_rec_end(r);
    if (st != VKLLM_OK) {
        gpu_rec_destroy(r);
        return st;
    }
    *victim = (cached_rec){ .n = n, .out = out, .used = ++s->clock, .rec = r };
    *rec = r;
    return VKLLM_OK;
}

/* ------------------------------------------------------------ eval */

vkllm_status llama_eval(llama_session *s, const int32_t *tokens, uint32_t n, llama_out mode, float *logits,
                        int32_t *argmax)
{
    const model_hparams *hp = &s->w->hp;
    if (n == 0 || !tokens) return gpu_fail(s->ctx, VKLLM_ERR_INVALID_ARG, "llama_eval: no tokens");
    if (mode != LLAMA_OUT_ARGMAX && !logits)
        return gpu_fail(s->ctx, VKLLM_ERR_INVALID_ARG, "llama_eval: no logits buffer");
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return gpu_fail(s->ctx, VKLLM_ERR_INVALID_ARG, "token %d (at index %u) is outside the vocabulary of %u",
                            tokens[i], i, hp->n_vocab);
    if ((uint64_t)s->pos + n > s->n_ctx)
        return gpu_fail(s->ctx, VKLLM_ERR_OUT_OF_MEMORY,
                        "context full: %u positions used + %u new tokens > the context of %u; rewind or use a "
                        "larger context",
                        s->pos, n, s->n_ctx);
    const uint32_t block = mode == LLAMA_OUT_ALL ? s->n_out_rows : s->n_batch;
    for (uint32_t done = 0; done < n;) {
        const uint32_t nb = n - done < block ? n - done : block;
        const bool last = done + nb == n;
        block_out out = mode == LLAMA_OUT_ALL ? OUT_ALL : last ? (block_out)mode : OUT_NONE;
        gpu_rec *rec;
        vkllm_status st = get_rec(s, nb, out, &rec);
        if (st != VKLLM_OK) return st;
        int32_t *ids = gpu_tensor_map(s->ids), *pos = gpu_tensor_map(s->positions);
        for (uint32_t i = 0; i < nb; i++) {
            ids[i] = tokens[done + i];
            pos[i] = (int32_t)(s->pos + i);
        }
        st = gpu_rec_submit(rec);
        if (st != VKLLM_OK) return st;
        s->last_run = rec;
        s->pos += nb;
        const float *host = gpu_tensor_map(s->logits_host);
        if (out == OUT_ALL) memcpy(logits + (size_t)done * hp->n_vocab, host, (size_t)nb * hp->n_vocab * 4);
        if (out == OUT_LAST) memcpy(logits, host, (size_t)hp->n_vocab * 4);
        if (last && argmax) *argmax = *(const int32_t *)gpu_tensor_map(s->argmax);
        done += nb;
    }
    return VKLLM_OK;
}

uint32_t llama_profile(const llama_session *s, const char **steps, const char **kernels, double *us, uint32_t max)
{
    if (!s->last_run) return 0;
    uint32_t n = gpu_rec_timings(s->last_run, kernels, us, max);
    if (steps) gpu_rec_timing_tags(s->last_run, steps, n);
    return n;
}
