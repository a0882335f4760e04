/* Generation and chat turns (include/vkllm.h): the loop that evaluates a
 * prompt (reusing what the cache already holds), samples, decodes streaming
 * text, watches for stop strings and reports each token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "text/sampler.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The public settings and the sampler's are the same fields. */
static vkllm_sampling to_public(sampler_params p)
{
    return (vkllm_sampling){ .temperature = p.temperature, .top_k = p.top_k, .top_p = p.top_p, .min_p = p.min_p,
                             .repeat_penalty = p.repeat_penalty, .repeat_last_n = p.repeat_last_n, .seed = p.seed };
}

static sampler_params from_public(vkllm_sampling v)
{
    return (sampler_params){
        .temperature = v.temperature, .top_k = v.top_k, .top_p = v.top_p, .min_p = v.min_p,
        .repeat_penalty = v.repeat_penalty, .repeat_last_n = v.repeat_last_n, .seed = v.seed,
    };
}

vkllm_sampling vkllm_sampling_default(void) { return to_public(sampler_params_default()); }
vkllm_sampling vkllm_sampling_greedy(void) { return to_public(sampler_params_greedy()); }

/* ------------------------------------------------------------ streamed text */

/* Decoded text not yet passed on: held back while its end could be the
 * start of a stop string. */
typedef struct text_out {
    const vkllm_generate_options *o;
    char *buf;
    size_t len, cap;
    size_t max_stop; /* longest stop string */
} text_out;

static int text_append(text_out *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) return 0;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return 1;
}

/* Where the first stop string starts in the buffer, or -1. */
static long find_stop(const text_out *t)
{
    long best = -1;
    for (size_t i = 0; i < t->o->n_stop; i++) {
        const char *st = t->o->stop[i];
        if (!st || !*st) continue;
        const char *p = strstr(t->buf, st);
        if (p && (best < 0 || p - t->buf < best)) best = p - t->buf;
    }
    return best;
}

/* Bytes at the end of the buffer that could begin a stop string. */
static size_t stop_prefix_tail(const text_out *t)
{
    size_t keep = 0;
    for (size_t i = 0; i < t->o->n_stop; i++) {
        const char *st = t->o->stop[i];
        if (!st) continue;
        size_t sl = strlen(st);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > keep; k--)
            if (k <= t->len && memcmp(t->buf + t->len - k, st, k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

/* Passes on n bytes from the front of the buffer; returns the callback's answer. */
static int text_emit(text_out *t, int32_t token, size_t n)
{
    int stop = t->o->on_token ? t->o->on_token(token, t->buf, n, t->o->user) : 0;
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
    if (t->buf) t->buf[t->len] = '\0';
    return stop;
}

/* ------------------------------------------------------------ generate */

/* vkllm_session_eval, or the caller's o->eval in its place. */
static vkllm_status gen_eval(vkllm_session *s, const vkllm_generate_options *o, const int32_t *tokens, uint32_t n,
                             vkllm_logits mode, float *logits, int32_t *argmax)
{
    if (!o->eval) return vkllm_session_eval(s, tokens, n, mode, logits, argmax);
    vkllm_status st = o->eval(s, tokens, n, mode, logits, argmax, o->user);
    if (st != VKLLM_OK) snprintf(s->err, sizeof s->err, "evaluation failed (%s)", vkllm_status_name(st));
    return st;
}

/* Evaluates the n prompt tokens after the cached prefix: in one call, or,
 * with o->on_prefill, block by block (the session's n_batch), asking after
 * each whether to go on. Blocks before the last need no logits: only the
 * argmax (4 bytes) comes back. *done: tokens evaluated; *stopped: the
 * callback asked to stop. */
static vkllm_status eval_prompt(vkllm_session *s, const int32_t *tokens, uint32_t n, vkllm_logits mode, float *logits,
                                int32_t *next, const vkllm_generate_options *o, uint32_t *done, int *stopped)
{
    *done = 0;
    *stopped = 0;
    if (!o->on_prefill) {
        vkllm_status st = gen_eval(s, o, tokens, n, mode, logits, next);
        if (st == VKLLM_OK) *done = n;
        return st;
    }
    const uint32_t block = llama_session_n_batch(s->s);
    while (*done < n) {
        const uint32_t nb = n - *done < block ? n - *done : block;
        const int last = *done + nb == n;
        vkllm_status st = gen_eval(s, o, tokens + *done, nb, last ? mode : VKLLM_LOGITS_ARGMAX,
                                             last ? logits : NULL, last ? next : NULL);
        if (st != VKLLM_OK) return st;
        *done += nb;
        if (o->on_prefill(*done, n, o->user)) {
            *stopped = 1;
            break;
        }
    }
    return VKLLM_OK;
}

vkllm_status vkllm_generate(vkllm_session *s, const int32_t *prompt, size_t n_prompt, const vkllm_generate_options *opts,
                            vkllm_generate_stats *stats)
{
    vkllm_generate_stats st_local;
    if (!stats) stats = &st_local;
    memset(stats, 0, sizeof *stats);
    vkllm_generate_options o = opts ? *opts : (vkllm_generate_options){ .sampling = vkllm_sampling_default() };
    if (!prompt || n_prompt == 0) {
        snprintf(s->err, sizeof s->err, "the prompt is empty: give at least one token (e.g. BOS)");
        return VKLLM_ERR_INVALID_ARG;
    }
    const uint32_t n_ctx = llama_session_n_ctx(s->s), V = s->m->info.n_vocab;
    if (n_prompt >= n_ctx) {
        snprintf(s->err, sizeof s->err,
                 "context full: the prompt has %zu tokens, the context holds %u (one more is needed to generate); "
                 "use a larger context",
                 n_prompt, n_ctx);
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    const float fpen = o.sampling.frequency_penalty, ppen = o.sampling.presence_penalty;
    if (!(fpen >= -2.0f && fpen <= 2.0f) || !(ppen >= -2.0f && ppen <= 2.0f)) {
        snprintf(s->err, sizeof s->err,
                 "bad sampling settings: frequency_penalty %g and presence_penalty %g must each be in [-2, 2]", fpen,
                 ppen);
        return VKLLM_ERR_INVALID_ARG;
    }
    sampler_params sp = from_public(o.sampling);
    sampler *smp = sampler_create(&sp, V);
    if (!smp) {
        snprintf(s->err, sizeof s->err,
                 "bad sampling settings (temperature %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g, "
                 "repeat_last_n %d): top_p must be in (0, 1], min_p in [0, 1], repeat_penalty > 0",
                 sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, sp.repeat_last_n);
        return VKLLM_ERR_INVALID_ARG;
    }
    /* greedy without a penalty needs only the argmax: 4 bytes from the GPU */
    const bool penalize = fpen != 0.0f || ppen != 0.0f;
    const bool argmax_only =
        sp.temperature <= 0 && (sp.repeat_penalty == 1.0f || sp.repeat_last_n == 0) && !penalize;
    float *logits = argmax_only ? NULL : malloc((size_t)V * sizeof *logits);
    uint32_t *counts = penalize ? calloc(V, sizeof *counts) : NULL; /* [V]: times each token was generated */
    const tokenizer *tok = s->m->tok;
    text_out out = { .o = &o };
    for (size_t i = 0; i < o.n_stop; i++)
        if (o.stop[i] && strlen(o.stop[i]) > out.max_stop) out.max_stop = strlen(o.stop[i]);
    char *piece = tok ? malloc(tok_decode_bound(tok)) : NULL;
    tok_decoder dec;
    if (tok) tok_decoder_init(&dec, tok, 0);
    vkllm_status st = VKLLM_OK;
    if ((!argmax_only && !logits) || (tok && !piece) || (penalize && !counts)) {
        snprintf(s->err, sizeof s->err, "out of host memory");
        st = VKLLM_ERR_OUT_OF_MEMORY;
        goto done;
    }

    /* reuse the cached prefix; at least the last prompt token runs again,
     * for the logits the first sample needs */
    uint32_t pos = llama_session_pos(s->s), common = 0;
    while (common < pos && common < n_prompt - 1 && s->tokens[common] == prompt[common]) common++;
    st = vkllm_session_rewind(s, common);
    for (size_t i = 0; i < n_prompt; i++) sampler_accept(smp, prompt[i]); /* the penalty window sees the prompt */
    double t0 = now_s();
    int32_t next = -1;
    uint32_t n_done = 0;
    int stop_now = 0;
    if (st == VKLLM_OK)
        st = eval_prompt(s, prompt + common, (uint32_t)(n_prompt - common),
                         argmax_only ? VKLLM_LOGITS_ARGMAX : VKLLM_LOGITS_LAST, logits, &next, &o, &n_done, &stop_now);
    stats->n_reused = common;
    stats->n_prompt = n_done;
    stats->prompt_s = now_s() - t0;
    if (stop_now) stats->reason = VKLLM_STOP_CALLBACK;
    t0 = now_s();
    const int32_t eos = tok ? tok_eos(tok) : -1;
    while (st == VKLLM_OK && !stop_now) {
        if (penalize)
            for (uint32_t v = 0; v < V; v++)
                if (counts[v]) logits[v] -= (float)counts[v] * fpen + ppen;
        int32_t t = argmax_only ? next : sampler_sample(smp, logits);
        if (t < 0 || (uint32_t)t >= V) {
            snprintf(s->err, sizeof s->err, "no token could be sampled: every logit is NaN or -inf");
            st = VKLLM_ERR_INVALID_ARG;
            break;
        }
        if (t == eos) {
            stats->reason = VKLLM_STOP_EOS;
            break;
        }
        sampler_accept(smp, t);
        if (counts) counts[t]++;
        stats->n_generated++;
        size_t n_piece = 0;
        if (tok && tok_decoder_next(&dec, t, piece, tok_decode_bound(tok), &n_piece) == VKLLM_OK &&
            !text_append(&out, piece, n_piece)) {
            snprintf(s->err, sizeof s->err, "out of host memory");
            st = VKLLM_ERR_OUT_OF_MEMORY;
            break;
        }
        long at = tok ? find_stop(&out) : -1;
        if (at >= 0) {
            text_emit(&out, t, (size_t)at);
            out.len = 0; /* the stop string and anything after it are dropped */
            stats->reason = VKLLM_STOP_STRING;
            break;
        }
        if (text_emit(&out, t, out.len - stop_prefix_tail(&out))) {
            stats->reason = VKLLM_STOP_CALLBACK;
            break;
        }
        if (o.max_tokens && stats->n_generated >= o.max_tokens) {
            stats->reason = VKLLM_STOP_MAX_TOKENS;
            break;
        }
        if (llama_session_pos(s->s) >= n_ctx) {
            stats->reason = VKLLM_STOP_CONTEXT_FULL;
            break;
        }
        st = gen_eval(s, &o, &t, 1, argmax_only ? VKLLM_LOGITS_ARGMAX : VKLLM_LOGITS_LAST, logits, &next);
    }
    stats->gen_s = now_s() - t0;
    if (st == VKLLM_OK && stats->reason != VKLLM_STOP_STRING && tok) {
        /* what was held back, and an unfinished character, go out last */
        size_t n_piece = 0;
        if (tok_decoder_flush(&dec, piece, tok_decode_bound(tok), &n_piece) == VKLLM_OK)
            text_append(&out, piece, n_piece);
        if (out.len) text_emit(&out, -1, out.len);
    }
done:
    free(out.buf);
    free(piece);
    free(logits);
    free(counts);
    sampler_free(smp);
    return st;
}

/* ------------------------------------------------------------ chat */

/* The text that starts the next turn in each template: generation stops there. */
static const char *end_of_turn(chat_template_id id)
{
    switch (id) {
    case CHAT_TEMPLATE_SOLAR: return "### User:";
    case CHAT_TEMPLATE_CHATML: return "<|im_end|>";
    case CHAT_TEMPLATE_LLAMA2:
    case CHAT_TEMPLATE_MISTRAL: return "[INST]";
    case CHAT_TEMPLATE_ZEPHYR: return "<|user|>";
    case CHAT_TEMPLATE_VICUNA: return "USER:";
    case CHAT_TEMPLATE_ALPACA: return "### Instruction:";
    case CHAT_TEMPLATE_GEMMA: return "<end_of_turn>";
    case CHAT_TEMPLATE_PHI3: return "<|end|>";
    case CHAT_TEMPLATE_LLAMA3: return "<|eot_id|>";
    default: return NULL;
    }
}

vkllm_status vkllm_chat(vkllm_session *s, const char *name, const vkllm_message *msgs, size_t n,
                        const vkllm_generate_options *opts, vkllm_generate_stats *stats)
{
    const vkllm_model *m = s->m;
    if (!m->tok) {
        snprintf(s->err, sizeof s->err, "this model has no tokenizer (%s); chat needs one", m->tok_err);
        return VKLLM_ERR_UNSUPPORTED;
    }
    char *text = NULL;
    chat_template_id id;
    vkllm_status st = api_chat_render(m, name, msgs, n, 1, &text, &id, s->err, sizeof s->err);
    if (st != VKLLM_OK) return st;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    unsigned flags = TOK_ENCODE_SPECIAL | (tok_add_bos(m->tok) ? TOK_ENCODE_BOS : 0);
    st = tok_encode(m->tok, text, strlen(text), flags, &ids, &n_ids, s->err, sizeof s->err);
    free(text);
    if (st != VKLLM_OK) return st;
    vkllm_generate_options o = opts ? *opts : (vkllm_generate_options){ .sampling = vkllm_sampling_default() };
    const char *eot = end_of_turn(id);
    const char **stops = malloc((o.n_stop + 1) * sizeof *stops);
    if (!stops) {
        free(ids);
        snprintf(s->err, sizeof s->err, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < o.n_stop; i++) stops[i] = o.stop[i];
    if (eot) stops[o.n_stop++] = eot;
    o.stop = stops;
    st = vkllm_generate(s, ids, n_ids, &o, stats);
    free(stops);
    free(ids);
    return st;
}

const char *vkllm_chat_end_of_turn(const vkllm_model *m, const char *name)
{
    chat_template_id id = name ? chat_template_by_name(name) : m ? m->tmpl : CHAT_TEMPLATE_DEFAULT;
    return end_of_turn(id);
}
