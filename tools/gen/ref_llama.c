/* CPU reference forward pass of a Llama model; see ref_llama.h for the
 * precision contract. */
#include "ref_llama.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bf16.h"
#include "model/quant.h"
#include "util/half.h"

static void ref_errf(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ----------------------------------------------------------------------------
 * weights: file dtype -> float, matrices rounded to fp16 */

static float elem(const model_tensor *t, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + i * dtype_size(t->dtype); /* may be unaligned */
    if (t->dtype == DTYPE_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t->dtype == DTYPE_F16 ? half_to_float(h) : bf16_to_float(h);
}

/* A float copy of t: fp16-rounded if round_f16 (matrices), exact otherwise
 * (norms); a quantized matrix as its blocks decode (src/model/quant.c), the
 * values the GPU multiplies by. NULL on OOM. */
static float *load(const model_tensor *t, int round_f16)
{
    uint64_t n = t->rows * t->cols;
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return NULL;
    if (t->dtype == DTYPE_QUANT) {
        const quant_type *qt = quant_type_of(t->qtype);
        quant_dequantize(qt, t->data, w, n / qt->block);
        return w;
    }
    for (uint64_t i = 0; i < n; i++) {
        float f = elem(t, i);
        w[i] = round_f16 ? half_to_float(float_to_half(f)) : f;
    }
    return w;
}

/* ----------------------------------------------------------------------------
 * create / destroy */

void ref_llama_destroy(ref_llama *r)
{
    if (!r) return;
    if (r->output != r->tok_embd) free(r->output);
    free(r->tok_embd);
    free(r->output_norm);
    if (r->layers) {
        for (uint32_t l = 0; l < r->hp.n_layer; l++) {
            ref_layer *L = &r->layers[l];
            free(L->attn_norm), free(L->wq), free(L->wk), free(L->wv), free(L->wo);
            free(L->ffn_norm), free(L->w_gate), free(L->w_up), free(L->w_down);
        }
        free(r->layers);
    }
    free(r->k_cache), free(r->v_cache);
    free(r->x), free(r->xn), free(r->q), free(r->att), free(r->k), free(r->v);
    free(r->gate), free(r->up), free(r->scores), free(r->logits);
    free(r);
}

ref_llama *ref_llama_create(const model *m, uint32_t n_ctx, char *err, size_t err_len)
{
    if (!m || n_ctx == 0) {
        ref_errf(err, err_len, "ref_llama: %s", m ? "n_ctx must be > 0" : "no model");
        return NULL;
    }
    ref_llama *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    const model_hparams *hp = &m->hp;
    r->hp = *hp;
    r->rope_pairing = m->rope_pairing;
    r->n_ctx = n_ctx;
    size_t E = hp->n_embd, Q = (size_t)hp->n_head * hp->head_dim, KV = (size_t)hp->n_head_kv * hp->head_dim;

    if (!(r->tok_embd = load(m->tok_embd, 1)) || !(r->output_norm = load(m->output_norm, 0))) goto oom;
    r->output = m->output == m->tok_embd ? r->tok_embd : load(m->output, 1);
    if (!r->output || !(r->layers = calloc(hp->n_layer, sizeof *r->layers))) goto oom;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const model_layer *ml = &m->layers[l];
        ref_layer *L = &r->layers[l];
        if (!(L->attn_norm = load(ml->attn_norm, 0)) || !(L->wq = load(ml->wq, 1)) || !(L->wk = load(ml->wk, 1)) ||
            !(L->wv = load(ml->wv, 1)) || !(L->wo = load(ml->wo, 1)) || !(L->ffn_norm = load(ml->ffn_norm, 0)) ||
            !(L->w_gate = load(ml->w_gate, 1)) || !(L->w_up = load(ml->w_up, 1)) || !(L->w_down = load(ml->w_down, 1)))
            goto oom;
    }

    size_t cache = (size_t)hp->n_layer * n_ctx * KV;
    r->k_cache = calloc(cache, sizeof *r->k_cache);
    r->v_cache = calloc(cache, sizeof *r->v_cache);
    r->x = calloc(E, sizeof(float)), r->xn = calloc(E, sizeof(float));
    r->q = calloc(Q, sizeof(float)), r->att = calloc(Q, sizeof(float));
    r->k = calloc(KV, sizeof(float)), r->v = calloc(KV, sizeof(float));
    r->gate = calloc(hp->n_ff, sizeof(float)), r->up = calloc(hp->n_ff, sizeof(float));
    r->scores = calloc(n_ctx, sizeof(double)), r->logits = calloc(hp->n_vocab, sizeof(float));
    if (!r->k_cache || !r->v_cache || !r->x || !r->xn || !r->q || !r->att || !r->k || !r->v || !r->gate || !r->up ||
        !r->scores || !r->logits)
        goto oom;
    return r;

oom:
    ref_errf(err, err_len, "ref_llama: out of memory for %s (n_ctx %" PRIu32 ")", m->path ? m->path : "the model", n_ctx);
    ref_llama_destroy(r);
    return NULL;
}

/* ----------------------------------------------------------------------------
 * the building blocks */

/* out = x / sqrt(mean(x^2) + eps) * w;  x, w, out: [n] (out may alias x) */
static void rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double scale = 1.0 / sqrt(ss / n + (double)eps);
    for (uint32_t i = 0; i < n; i++) out[i] = (float)(x[i] * scale * w[i]);
}

/* out = W x;  W: [d][n], x: [n], out: [d] */
static void matmul(float *out, const float *x, const float *w, uint32_t n, uint32_t d)
{
    for (uint32_t i = 0; i < d; i++) {
        const float *row = w + (size_t)i * n;
        double sum = 0.0;
        for (uint32_t j = 0; j < n; j++) sum += (double)row[j] * x[j];
        out[i] = (float)sum;
    }
}

/* Rotates the first n_rot dims of each head of v: [n_head][head_dim] in place. */
static void rope(float *v, uint32_t n_head, uint32_t head_dim, uint32_t n_rot, uint32_t pos, double theta,
                 rope_pairing pairing)
{
    for (uint32_t h = 0; h < n_head; h++) {
        float *vh = v + (size_t)h * head_dim;
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            double angle = pos * pow(theta, -2.0 * i / n_rot);
            double c = cos(angle), s = sin(angle);
            uint32_t d0 = pairing == ROPE_ADJACENT ? 2 * i : i;
            uint32_t d1 = pairing == ROPE_ADJACENT ? 2 * i + 1 : i + n_rot / 2;
            double x0 = vh[d0], x1 = vh[d1];
            vh[d0] = (float)(x0 * c - x1 * s);
            vh[d1] = (float)(x0 * s + x1 * c);
        }
    }
}

int32_t ref_llama_argmax(const float *v, uint32_t n)
{
    int32_t best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == v[i] && (best < 0 || v[i] > v[best])) best = (int32_t)i; /* v[i] == v[i]: not NaN */
    return best;
}

/* ----------------------------------------------------------------------------
 * the forward pass */

/* One token at position r->pos: fills r->logits [n_vocab], appends its K/V. */
static void forward_one(ref_llama *r, int32_t token)
{
    const model_hparams *p = &r->hp;
    uint32_t E = p->n_embd, hd = p->head_dim, n_head = p->n_head, n_kv = p->n_head_kv;
    uint32_t kv_dim = n_kv * hd, group = n_head / n_kv, pos = r->pos;
    double scale = 1.0 / sqrt((double)hd);
    float *x = r->x, *xn = r->xn;

    memcpy(x, r->tok_embd + (size_t)token * E, E * sizeof *x); /* x: [E] */

    for (uint32_t l = 0; l < p->n_layer; l++) {
        const ref_layer *L = &r->layers[l];
        uint16_t *kc = r->k_cache + (size_t)l * r->n_ctx * kv_dim; /* [n_ctx][n_kv][hd] */
        uint16_t *vc = r->v_cache + (size_t)l * r->n_ctx * kv_dim;

        /* ---- attention */
        rmsnorm(xn, x, L->attn_norm, E, p->rms_eps);
        matmul(r->q, xn, L->wq, E, n_head * hd); /* q: [n_head][hd] */
        matmul(r->k, xn, L->wk, E, kv_dim);      /* k: [n_kv][hd] */
        matmul(r->v, xn, L->wv, E, kv_dim);      /* v: [n_kv][hd] */
        rope(r->q, n_head, hd, p->n_rot, pos, p->rope_theta, r->rope_pairing);
        rope(r->k, n_kv, hd, p->n_rot, pos, p->rope_theta, r->rope_pairing);
        for (uint32_t i = 0; i < kv_dim; i++) {
            kc[(size_t)pos * kv_dim + i] = float_to_half(r->k[i]);
            vc[(size_t)pos * kv_dim + i] = float_to_half(r->v[i]);
        }

        for (uint32_t h = 0; h < n_head; h++) {
            const float *qh = r->q + (size_t)h * hd;
            uint32_t kvh = h / group;
            /* scores[t] = q . k_t * scale for t <= pos (causal) */
            double max = -INFINITY;
            for (uint32_t t = 0; t <= pos; t++) {
                const uint16_t *kt = kc + (size_t)t * kv_dim + (size_t)kvh * hd;
                double dot = 0.0;
                for (uint32_t d = 0; d < hd; d++) dot += (double)qh[d] * half_to_float(kt[d]);
                r->scores[t] = dot * scale;
                if (r->scores[t] > max) max = r->scores[t];
            }
            double sum = 0.0;
            for (uint32_t t = 0; t <= pos; t++) {
                r->scores[t] = exp(r->scores[t] - max);
                sum += r->scores[t];
            }
            /* att_h = sum_t softmax_t v_t */
            float *ah = r->att + (size_t)h * hd;
            for (uint32_t d = 0; d < hd; d++) {
                double acc = 0.0;
                for (uint32_t t = 0; t <= pos; t++)
                    acc += r->scores[t] * half_to_float(vc[(size_t)t * kv_dim + (size_t)kvh * hd + d]);
                ah[d] = (float)(acc / sum);
            }
        }
        matmul(xn, r->att, L->wo, n_head * hd, E); /* o: [E], in xn */
        for (uint32_t i = 0; i < E; i++) x[i] += xn[i];

        /* ---- feed-forward (SwiGLU) */
        rmsnorm(xn, x, L->ffn_norm, E, p->rms_eps);
        matmul(r->gate, xn, L->w_gate, E, p->n_ff); /* gate: [n_ff] */
        matmul(r->up, xn, L->w_up, E, p->n_ff);     /* up: [n_ff] */
        for (uint32_t i = 0; i < p->n_ff; i++) {
            double g = r->gate[i];
            r->gate[i] = (float)(g / (1.0 + exp(-g)) * r->up[i]); /* silu(gate) * up */
        }
        matmul(xn, r->gate, L->w_down, p->n_ff, E); /* down: [E], in xn */
        for (uint32_t i = 0; i < E; i++) x[i] += xn[i];
    }

    rmsnorm(xn, x, r->output_norm, E, p->rms_eps);
    matmul(r->logits, xn, r->output, E, p->n_vocab); /* logits: [n_vocab] */
    r->pos++;
}

int ref_llama_forward(ref_llama *r, const int32_t *tokens, uint32_t n_tokens, float *logits, float *last_logits)
{
    if (n_tokens == 0) return 0;
    if (n_tokens > r->n_ctx - r->pos) {
        ref_errf(r->err, sizeof r->err, "ref_llama: %" PRIu32 " tokens at position %" PRIu32 " overflow n_ctx %" PRIu32,
             n_tokens, r->pos, r->n_ctx);
        return -1;
    }
    for (uint32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= r->hp.n_vocab) {
            ref_errf(r->err, sizeof r->err, "ref_llama: token %" PRId32 " (index %" PRIu32 ") outside vocab %" PRIu32,
                 tokens[i], i, r->hp.n_vocab);
            return -1;
        }
    size_t V = r->hp.n_vocab;
    for (uint32_t i = 0; i < n_tokens; i++) {
        forward_one(r, tokens[i]);
        if (logits) memcpy(logits + i * V, r->logits, V * sizeof *logits);
    }
    if (last_logits) memcpy(last_logits, r->logits, V * sizeof *last_logits);
    return 0;
}

int ref_llama_reset(ref_llama *r, uint32_t pos)
{
    if (pos > r->pos) {
        ref_errf(r->err, sizeof r->err, "ref_llama: reset to %" PRIu32 " past the cache's %" PRIu32 " positions", pos,
             r->pos);
        return -1;
    }
    r->pos = pos; /* later positions are overwritten before they are read */
    return 0;
}

int ref_llama_greedy(ref_llama *r, const int32_t *prompt, uint32_t n_prompt, uint32_t n_gen, int32_t *out_ids)
{
    if (n_prompt == 0) {
        ref_errf(r->err, sizeof r->err, "ref_llama: greedy needs a prompt");
        return -1;
    }
    if (n_gen && (uint64_t)r->pos + n_prompt + n_gen - 1 > r->n_ctx) {
        ref_errf(r->err, sizeof r->err,
             "ref_llama: %" PRIu32 " prompt + %" PRIu32 " generated tokens at position %" PRIu32 " overflow n_ctx %" PRIu32,
             n_prompt, n_gen, r->pos, r->n_ctx);
        return -1;
    }
    if (ref_llama_forward(r, prompt, n_prompt, NULL, NULL)) return -1;
    for (uint32_t i = 0; i < n_gen; i++) {
        int32_t id = ref_llama_argmax(r->logits, r->hp.n_vocab);
        if (id < 0) {
            ref_errf(r->err, sizeof r->err, "ref_llama: all logits are NaN at position %" PRIu32, r->pos - 1);
            return -1;
        }
        out_ids[i] = id;
        if (i + 1 < n_gen && ref_llama_forward(r, &id, 1, NULL, NULL)) return -1;
    }
    return 0;
}
