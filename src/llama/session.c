/* A session: KV cache, activation buffers, and the recorded forward pass of
 * a block of tokens, replayed with new ids and positions each step. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_internal.h"
#include "ops/argmax.h"
#include "ops/attention.h"
#include "ops/get_rows.h"
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

/* The activation buffers of a block of rows (a session's, or a batch's,
 * whose rows come from several sessions). */
typedef struct acts {
    uint32_t rows;           /* rows every per-row buffer holds */
    gpu_tensor *ids, *positions; /* mapped int32 [rows]: the rows' tokens and positions */
    gpu_tensor *x;           /* fp32 [rows][n_embd], the residual stream */
    gpu_tensor *xn;          /* fp32 [rows][n_embd], normed */
    gpu_tensor *q, *att;     /* fp32 [rows][n_head * head_dim] */
    gpu_tensor *k, *v;       /* fp32 [rows][n_head_kv * head_dim] */
    gpu_tensor *gate, *up;   /* fp32 [rows][n_ff] */
    gpu_tensor *x_last;      /* fp32 [n_last][n_embd], the last row of each sequence */
    gpu_tensor *logits;      /* fp32 [n_out_rows][n_vocab] */
    gpu_tensor *logits_host; /* mapped copy of it */
    gpu_tensor *argmax;      /* mapped int32 [n_last] */
} acts;

struct llama_session {
    llama_weights *w;
    gpu_ctx *ctx;
    uint64_t uid;        /* unique over the process: what batch recordings are keyed on */
    uint32_t n_ctx, n_batch;
    uint32_t n_out_rows; /* rows the logits buffers hold (ALL mode blocks are at most this) */
    uint32_t pos;
    uint32_t max_timed;

    gpu_tensor **k_cache, **v_cache; /* [n_layer] each: fp16 [n_ctx][n_head_kv * head_dim] */
    acts a;                          /* n_batch rows; positions also serve this session's rows of a batch */
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

static atomic_uint_fast64_t next_uid = 1;

/* Buffers for blocks of `rows` rows whose outputs are the last rows of up
 * to n_last sequences, or (ALL) up to n_out_rows rows. */
static vkllm_status acts_create(gpu_ctx *ctx, const model_hparams *hp, uint32_t rows, uint32_t n_last,
                                uint32_t n_out_rows, acts *a)
{
    const uint64_t B = rows, q_dim = (uint64_t)hp->n_head * hp->head_dim,
                   kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    const uint64_t out_rows = n_out_rows > n_last ? n_out_rows : n_last;
    *a = (acts){ .rows = rows };
    struct {
        gpu_tensor **t;
        uint64_t bytes;
        bool mapped;
    } bufs[] = {
        { &a->ids, B * 4, true },
        { &a->positions, B * 4, true },
        { &a->x, B * hp->n_embd * 4, false },
        { &a->xn, B * hp->n_embd * 4, false },
        { &a->q, B * q_dim * 4, false },
        { &a->att, B * q_dim * 4, false },
        { &a->k, B * kv_dim * 4, false },
        { &a->v, B * kv_dim * 4, false },
        { &a->gate, B * hp->n_ff * 4, false },
        { &a->up, B * hp->n_ff * 4, false },
        { &a->x_last, (uint64_t)n_last * hp->n_embd * 4, false },
        { &a->logits, out_rows * hp->n_vocab * 4, false },
        { &a->logits_host, out_rows * hp->n_vocab * 4, true },
        { &a->argmax, (uint64_t)n_last * 4, true },
    };
    vkllm_status st = VKLLM_OK;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && st == VKLLM_OK; i++)
        st = bufs[i].mapped ? gpu_tensor_create_mapped(ctx, bufs[i].bytes, bufs[i].t)
                            : gpu_tensor_create(ctx, bufs[i].bytes, 0, bufs[i].t);
    return st;
}

static void acts_destroy(gpu_ctx *ctx, acts *a)
{
    gpu_tensor *ts[] = { a->ids, a->positions, a->x,    a->xn,     a->q,      a->att,         a->k,
                         a->v,   a->gate,      a->up,   a->x_last, a->logits, a->logits_host, a->argmax };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) gpu_tensor_destroy(ctx, ts[i]);
    *a = (acts){ 0 };
}

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
    s->uid = atomic_fetch_add(&next_uid, 1);
    s->k_cache = calloc(hp->n_layer, sizeof *s->k_cache);
    s->v_cache = calloc(hp->n_layer, sizeof *s->v_cache);
    vkllm_status st = s->k_cache && s->v_cache ? VKLLM_OK : gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t l = 0; l < hp->n_layer && st == VKLLM_OK; l++) {
        st = gpu_tensor_create(ctx, o.n_ctx * kv_dim * 2, 0, &s->k_cache[l]);
        if (st == VKLLM_OK) st = gpu_tensor_create(ctx, o.n_ctx * kv_dim * 2, 0, &s->v_cache[l]);
    }
    if (st == VKLLM_OK) st = acts_create(ctx, hp, o.n_batch, 1, s->n_out_rows, &s->a);
    if (st == VKLLM_OK)
        st = gpu_tensor_create(ctx, attention_scratch_bytes(ctx, 1, hp->n_head, hp->n_head_kv, hp->head_dim, o.n_ctx) + 16,
                               0, &s->attn_scratch);
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
    acts_destroy(ctx, &s->a);
    gpu_tensor_destroy(ctx, s->attn_scratch);
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

/* One sequence's rows in a block: rows row0 .. row0 + n - 1 of the block
 * go to that session's KV cache at the positions in `pos` (int32 [n]). */
typedef struct seq_rows {
    const llama_session *s;
    uint32_t row0, n;
    gpu_binding pos;
} seq_rows;

/* Rows row0 .. row0 + n - 1 of an activation buffer of `width` fp32 per row. */
static gpu_binding rows_of(gpu_tensor *t, uint32_t row0, uint32_t n, uint32_t width)
{
    return (gpu_binding){ t, 0, (uint64_t)row0 * width * 4, (uint64_t)n * width * 4 };
}

/* Records the forward pass of a block of n rows whose ids and positions
 * are in a->ids / a->positions; the rows belong to the n_seq sequences of
 * sq (one for a session's own block, several for a batch). The matrix
 * kernels see all n rows at once (each weight is read once per block);
 * the KV cache writes and attention run per sequence, against that
 * sequence's cache. The same math in plain loops, one token at a time, is
 * the CPU reference forward pass in tools/gen/ref_llama.c
 * (ref_llama_forward): read it beside this to see what each step computes.
 * Output (unless OUT_NONE): OUT_ALL the logits of every row (one sequence);
 * else those of each sequence's last row, row j of the logits for sequence
 * j, and their argmax.
 * Errors stick to the recording (see gpu.h): each op records its first
 * failure into rec and gpu_rec_end reports it, so there is one call per
 * step here. */
static void record_rows(const llama_weights *w, gpu_ctx *ctx, const acts *a, const seq_rows *sq, uint32_t n_seq,
                        uint32_t n, block_out out, gpu_rec *rec)
{
    const model_hparams *hp = &w->hp;
    const uint32_t E = hp->n_embd, F = hp->n_ff, H = hp->n_head, KH = hp->n_head_kv, D = hp->head_dim;
    const uint32_t q_dim = H * D, kv_dim = KH * D;
    const float scale = 1.0f / sqrtf((float)D);
    gpu_binding x = gpu_bind(a->x), xn = gpu_bind(a->xn), q = gpu_bind(a->q), att = gpu_bind(a->att),
                gate = gpu_bind(a->gate), up = gpu_bind(a->up), pos = gpu_bind(a->positions);
    /* norms folded into the projections where they run the matrix-vector kernel */
    const bool fuse_attn = matmul_norm_fusable(ctx, n, q_dim, E) && matmul_norm_fusable(ctx, n, kv_dim, E);
    const bool fuse_ffn = matmul_norm_fusable(ctx, n, F, E);
    normed nd;

    /* the previous step's reads and writes (same buffers, earlier submit)
     * finished and visible before this one touches them */
    gpu_barrier(rec);
    gpu_rec_tag(rec, "embedding");
    op_get_rows(rec, w->tok_embd, gpu_bind(a->ids), x, n, hp->n_vocab, E);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const llama_layer *L = &w->layers[l];
        gpu_barrier(rec); /* x written (embedding or last layer) -> norm reads it */
        normed_input(rec, fuse_attn, x, L->attn_norm, hp->rms_eps, xn, n, E, "attn norm", &nd);
        gpu_rec_tag(rec, fuse_attn ? "attn norm + q/k/v" : "attn q/k/v");
        op_matmul_norm(rec, L->wq, NORM_OF(nd), nd.in, q, n, q_dim, E);
        op_matmul_norm(rec, L->wk, NORM_OF(nd), nd.in, gpu_bind(a->k), n, kv_dim, E);
        op_matmul_norm(rec, L->wv, NORM_OF(nd), nd.in, gpu_bind(a->v), n, kv_dim, E);
        gpu_barrier(rec); /* q, k, v -> RoPE of q (in place), k and v into the cache (k rotated on the way) */
        gpu_rec_tag(rec, "rope + kv store");
        op_rope(rec, q, pos, q, n, H, D, hp->n_rot, hp->rope_theta, w->pairing);
        for (uint32_t j = 0; j < n_seq; j++) { /* each sequence's keys and values, one dispatch */
            const seq_rows *r = &sq[j];
            op_rope_kv_to_cache(rec, rows_of(a->k, r->row0, r->n, kv_dim), rows_of(a->v, r->row0, r->n, kv_dim),
                                r->pos, gpu_bind(r->s->k_cache[l]), gpu_bind(r->s->v_cache[l]), r->n, KH, D,
                                hp->n_rot, hp->rope_theta, w->pairing, r->s->n_ctx);
        }
        gpu_barrier(rec); /* q rotated, k/v cache written -> attention reads */
        gpu_rec_tag(rec, "attention");
        for (uint32_t j = 0; j < n_seq; j++) { /* each sequence's own scratch: no hazard between them */
            const seq_rows *r = &sq[j];
            op_attention(rec, rows_of(a->q, r->row0, r->n, q_dim), gpu_bind(r->s->k_cache[l]),
                         gpu_bind(r->s->v_cache[l]), r->pos, rows_of(a->att, r->row0, r->n, q_dim),
                         gpu_bind(r->s->attn_scratch), r->n, H, KH, D, r->s->n_ctx, scale);
        }
        gpu_barrier(rec); /* attention output -> o projection */
        gpu_rec_tag(rec, "attn output");
        op_matmul_acc(rec, L->wo, att, x, n, E, q_dim); /* x += o: the residual */
        gpu_barrier(rec); /* x -> FFN norm */
        normed_input(rec, fuse_ffn, x, L->ffn_norm, hp->rms_eps, xn, n, E, "ffn norm", &nd);
        gpu_rec_tag(rec, fuse_ffn ? "ffn norm + gate/up" : "ffn gate/up");
        if (matmul_glu_fusable_for(ctx, L->w_gate, L->w_up, n, F, E)) { /* gate, up and SiLU(gate) * up in one pass */
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

    gpu_barrier(rec); /* final x -> output norm (or the copy of the last rows) */
    gpu_tensor *head = w->output ? w->output : w->tok_embd;
    const uint32_t rows = out == OUT_ALL ? n : n_seq;
    gpu_binding final = x;
    if (out != OUT_ALL) {
        gpu_rec_tag(rec, "output norm");
        for (uint32_t j = 0; j < n_seq; j++)
            gpu_rec_copy(rec, rows_of(a->x_last, j, 1, E), rows_of(a->x, sq[j].row0 + sq[j].n - 1, 1, E),
                         (uint64_t)E * 4);
        gpu_barrier(rec); /* last rows copied -> norm */
        final = gpu_bind(a->x_last);
    }
    const bool fuse_out = matmul_norm_fusable(ctx, rows, hp->n_vocab, E);
    normed_input(rec, fuse_out, final, w->output_norm, hp->rms_eps, xn, rows, E, "output norm", &nd);
    gpu_rec_tag(rec, fuse_out ? "output norm + output" : "output");
    op_matmul_norm(rec, head, NORM_OF(nd), nd.in, gpu_bind(a->logits), rows, hp->n_vocab, E);
    gpu_barrier(rec); /* logits -> argmax and the host copy */
    gpu_rec_tag(rec, "argmax");
    if (out == OUT_ALL) /* the last row's */
        op_argmax(rec, rows_of(a->logits, rows - 1, 1, hp->n_vocab), gpu_bind(a->argmax), 1, hp->n_vocab);
    else
        op_argmax(rec, gpu_bind(a->logits), gpu_bind(a->argmax), n_seq, hp->n_vocab);
    if (out != OUT_ARGMAX)
        gpu_rec_copy(rec, gpu_bind(a->logits_host), gpu_bind(a->logits), (uint64_t)rows * hp->n_vocab * 4);
}

/* A session's own block of n tokens. */
static void record_block(llama_session *s, uint32_t n, block_out out, gpu_rec *rec)
{
    seq_rows one = { s, 0, n, gpu_bind(s->a.positions) };
    record_rows(s->w, s->ctx, &s->a, &one, 1, n, out, rec);
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
        int32_t *ids = gpu_tensor_map(s->a.ids), *pos = gpu_tensor_map(s->a.positions);
        for (uint32_t i = 0; i < nb; i++) {
            ids[i] = tokens[done + i];
            pos[i] = (int32_t)(s->pos + i);
        }
        st = gpu_rec_submit(rec);
        if (st != VKLLM_OK) return st;
        s->last_run = rec;
        s->pos += nb;
        const float *host = gpu_tensor_map(s->a.logits_host);
        if (out == OUT_ALL) memcpy(logits + (size_t)done * hp->n_vocab, host, (size_t)nb * hp->n_vocab * 4);
        if (out == OUT_LAST) memcpy(logits, host, (size_t)hp->n_vocab * 4);
        if (last && argmax) *argmax = *(const int32_t *)gpu_tensor_map(s->a.argmax);
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

/* ------------------------------------------------------------ batch */

typedef struct batch_rec {
    uint32_t n_seq;   /* 0: empty slot */
    uint64_t *uid;    /* [max_seqs]: the sessions, in order */
    uint32_t *n;      /* [max_seqs]: their rows */
    block_out out;
    uint64_t used;
    gpu_rec *rec;
} batch_rec;

struct llama_batch {
    llama_weights *w;
    gpu_ctx *ctx;
    uint32_t max_rows, max_seqs;
    uint32_t row_align; /* each sequence's first row is a multiple of it (binding offset alignment) */
    acts a;             /* max_rows plus the alignment padding */
    batch_rec recs[N_RECS];
    uint64_t clock;
    seq_rows *layout;   /* [max_seqs]: this step's */
    gpu_rec *last_run;  /* for llama_batch_profile */
};

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The fewest rows whose byte size is a multiple of align, for rows of `bytes`. */
static uint32_t rows_for_align(uint64_t bytes, uint64_t align) { return (uint32_t)(align / gcd_u64(bytes, align)); }

vkllm_status llama_batch_create(llama_weights *w, uint32_t max_rows, uint32_t max_seqs, llama_batch **out)
{
    *out = NULL;
    gpu_ctx *ctx = w->ctx;
    const model_hparams *hp = &w->hp;
    if (max_rows == 0 || max_seqs == 0 || max_seqs > max_rows || max_rows > 65535)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                        "a batch of %u rows and %u sequences: want 1 <= sequences <= rows <= 65535", max_rows,
                        max_seqs);
    const uint64_t align = gpu_storage_offset_align(ctx);
    uint32_t ra = 1, widths[] = { hp->n_head * hp->head_dim, hp->n_head_kv * hp->head_dim };
    for (int i = 0; i < 2; i++) {
        uint32_t r = rows_for_align(4ull * widths[i], align);
        if (r > ra) ra = r; /* powers of two: the larger is a multiple of the smaller */
    }
    const uint64_t rows = (uint64_t)max_rows + (uint64_t)(max_seqs - 1) * (ra - 1);
    const uint64_t chunk = gpu_max_chunk_bytes(ctx);
    if (rows * 4 * widest_row(hp) > chunk || (uint64_t)max_seqs * 4 * hp->n_vocab > chunk)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED,
                        "a batch of %u rows and %u sequences exceeds this device's %llu-byte buffers; use fewer",
                        max_rows, max_seqs, (unsigned long long)chunk);
    llama_batch *b = calloc(1, sizeof *b);
    if (!b) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    *b = (llama_batch){ .w = w, .ctx = ctx, .max_rows = max_rows, .max_seqs = max_seqs, .row_align = ra };
    vkllm_status st = VKLLM_OK;
    b->layout = calloc(max_seqs, sizeof *b->layout);
    for (int i = 0; i < N_RECS && b->layout; i++) {
        b->recs[i].uid = calloc(max_seqs, sizeof *b->recs[i].uid);
        b->recs[i].n = calloc(max_seqs, sizeof *b->recs[i].n);
        if (!b->recs[i].uid || !b->recs[i].n) st = VKLLM_ERR_OUT_OF_MEMORY;
    }
    if (!b->layout || st != VKLLM_OK) st = gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == VKLLM_OK) st = acts_create(ctx, hp, (uint32_t)rows, max_seqs, max_seqs, &b->a);
    if (st != VKLLM_OK) {
        llama_batch_free(b);
        return st;
    }
    *out = b;
    return VKLLM_OK;
}

void llama_batch_free(llama_batch *b)
{
    if (!b) return;
    for (int i = 0; i < N_RECS; i++) {
        gpu_rec_destroy(b->recs[i].rec);
        free(b->recs[i].uid);
        free(b->recs[i].n);
    }
    acts_destroy(b->ctx, &b->a);
    free(b->layout);
    free(b);
}

uint32_t llama_batch_max_rows(const llama_batch *b) { return b->max_rows; }
uint32_t llama_batch_max_seqs(const llama_batch *b) { return b->max_seqs; }

/* The recording for this step's layout (b->layout, n_seq, n rows), cached by
 * the sessions' uids and their row counts. */
static vkllm_status batch_get_rec(llama_batch *b, uint32_t n_seq, uint32_t n, block_out out, gpu_rec **rec)
{
    batch_rec *victim = &b->recs[0];
    for (int i = 0; i < N_RECS; i++) {
        batch_rec *c = &b->recs[i];
        bool hit = c->rec && c->n_seq == n_seq && c->out == out;
        for (uint32_t j = 0; hit && j < n_seq; j++)
            hit = c->uid[j] == b->layout[j].s->uid && c->n[j] == b->layout[j].n;
        if (hit) {
            c->used = ++b->clock;
            *rec = c->rec;
            return VKLLM_OK;
        }
        if (!c->rec || (victim->rec && c->used < victim->used)) victim = c;
    }
    if (b->last_run == victim->rec) b->last_run = NULL;
    gpu_rec_destroy(victim->rec);
    victim->rec = NULL;
    victim->n_seq = 0;
    /* timed when a session of the step asks for timing (max_timed) */
    uint32_t timed = 0;
    for (uint32_t j = 0; j < n_seq; j++) timed = max_u32(timed, b->layout[j].s->max_timed);
    gpu_rec *r;
    vkllm_status st = gpu_rec_begin(b->ctx, timed, &r);
    if (st != VKLLM_OK) return st;
    record_rows(b->w, b->ctx, &b->a, b->layout, n_seq, n, out, r);
    st = gpu_rec_end(r);
    if (st != VKLLM_OK) {
        gpu_rec_destroy(r);
        return st;
    }
    for (uint32_t j = 0; j < n_seq; j++) {
        victim->uid[j] = b->layout[j].s->uid;
        victim->n[j] = b->layout[j].n;
    }
    victim->n_seq = n_seq;
    victim->out = out;
    victim->used = ++b->clock;
    victim->rec = r;
    *rec = r;
    return VKLLM_OK;
}

vkllm_status llama_batch_eval(llama_batch *b, llama_batch_seq *seqs, uint32_t n_seq)
{
    gpu_ctx *ctx = b->ctx;
    const model_hparams *hp = &b->w->hp;
    if (n_seq == 0 || !seqs) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "llama_batch_eval: no sequences");
    if (n_seq > b->max_seqs)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "llama_batch_eval: %u sequences, the batch was made for at most %u",
                        n_seq, b->max_seqs);
    uint32_t total = 0, rows = 0;
    bool any_logits = false, any_out = false;
    for (uint32_t j = 0; j < n_seq; j++) {
        llama_batch_seq *q = &seqs[j];
        llama_session *s = q->s;
        if (!s || s->w != b->w)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                            "llama_batch_eval: sequence %u has %s; every session must be on the batch's model", j,
                            s ? "a session of another model" : "no session");
        for (uint32_t i = 0; i < j; i++)
            if (seqs[i].s == s)
                return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                                "llama_batch_eval: sequences %u and %u are the same session; give each session once",
                                i, j);
        if (q->n == 0 || !q->tokens)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "llama_batch_eval: sequence %u has no tokens", j);
        if (q->n > s->n_batch)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                            "llama_batch_eval: sequence %u has %u tokens, above its session's block of %u; split it "
                            "over steps",
                            j, q->n, s->n_batch);
        if (q->mode != LLAMA_OUT_LAST && q->mode != LLAMA_OUT_ARGMAX && q->mode != LLAMA_OUT_NONE)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                            "llama_batch_eval: sequence %u asks for output mode %d; a batch gives LAST, ARGMAX or NONE",
                            j, (int)q->mode);
        if (q->mode == LLAMA_OUT_LAST && !q->logits)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "llama_batch_eval: sequence %u has no logits buffer", j);
        for (uint32_t i = 0; i < q->n; i++)
            if (q->tokens[i] < 0 || (uint32_t)q->tokens[i] >= hp->n_vocab)
                return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                                "token %d (at index %u of sequence %u) is outside the vocabulary of %u", q->tokens[i], i,
                                j, hp->n_vocab);
        if ((uint64_t)s->pos + q->n > s->n_ctx)
            return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY,
                            "context full: sequence %u has %u positions used + %u new tokens > its context of %u; "
                            "rewind it or use a larger context",
                            j, s->pos, q->n, s->n_ctx);
        total += q->n;
        if (total > b->max_rows)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                            "llama_batch_eval: more than the batch's %u rows; run fewer tokens per step", b->max_rows);
        rows = (rows + b->row_align - 1) / b->row_align * b->row_align;
        b->layout[j] = (seq_rows){ s, rows, q->n, gpu_bind(s->a.positions) };
        rows += q->n;
        any_logits |= q->mode == LLAMA_OUT_LAST;
        any_out |= q->mode != LLAMA_OUT_NONE;
    }
    const block_out out = any_logits ? OUT_LAST : any_out ? OUT_ARGMAX : OUT_NONE;
    gpu_rec *rec;
    vkllm_status st = batch_get_rec(b, n_seq, rows, out, &rec);
    if (st != VKLLM_OK) return st;
    int32_t *ids = gpu_tensor_map(b->a.ids), *pos = gpu_tensor_map(b->a.positions);
    memset(ids, 0, (size_t)rows * 4); /* padding rows: token 0 at position 0, never read back */
    memset(pos, 0, (size_t)rows * 4);
    for (uint32_t j = 0; j < n_seq; j++) {
        const seq_rows *r = &b->layout[j];
        int32_t *spos = gpu_tensor_map(r->s->a.positions);
        for (uint32_t i = 0; i < r->n; i++) {
            ids[r->row0 + i] = seqs[j].tokens[i];
            pos[r->row0 + i] = spos[i] = (int32_t)(r->s->pos + i);
        }
    }
    st = gpu_rec_submit(rec);
    if (st != VKLLM_OK) return st;
    b->last_run = rec;
    const float *host = gpu_tensor_map(b->a.logits_host);
    const int32_t *am = gpu_tensor_map(b->a.argmax);
    for (uint32_t j = 0; j < n_seq; j++) {
        seqs[j].s->pos += seqs[j].n;
        seqs[j].argmax = out != OUT_NONE ? am[j] : -1;
        if (seqs[j].mode == LLAMA_OUT_LAST) memcpy(seqs[j].logits, host + (size_t)j * hp->n_vocab, (size_t)hp->n_vocab * 4);
    }
    return VKLLM_OK;
}

const char *llama_batch_error(const llama_batch *b) { return gpu_error(b->ctx); }

uint32_t llama_batch_profile(const llama_batch *b, const char **steps, const char **kernels, double *us, uint32_t max)
{
    if (!b->last_run) return 0;
    uint32_t n = gpu_rec_timings(b->last_run, kernels, us, max);
    if (steps) gpu_rec_timing_tags(b->last_run, steps, n);
    return n;
}
