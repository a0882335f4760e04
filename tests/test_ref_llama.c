/* The CPU reference forward pass (tools/gen/ref_llama.h), checked as far as
 * possible against things other than itself. For each generated model:
 *   - weights: the HF-read reference holds exactly the generator's values
 *     rounded to fp16 (matrices) or kept as they are (norms);
 *   - formats: the same model as GGUF (adjacent-pair q/k rows) and as HF
 *     (rotate-half) gives the same logits at every position: checks both
 *     readers and the RoPE pairing;
 *   - an independent forward pass in this file (double activations, weights
 *     straight from the generator in HF layout, RoPE written as HF's
 *     q*cos + rotate_half(q)*sin) gives the same logits;
 *   - prefill of N tokens == N single-token calls (bit for bit);
 *   - forward(a,b,c), reset(1), forward(x) == forward(a), forward(x) fresh;
 *   - greedy: GGUF == HF, and each token is the argmax of a full re-run;
 *   - bad tokens, context overflow and bad resets fail and change nothing.
 * Shapes: GQA ratio 1, 2, 4 (also with 2 kv heads, so h / ratio != h % n_kv);
 * head_dim 16, 32, 64 (one explicit, != embd / heads); tied and untied; F16,
 * BF16, F32 files.
 * usage: test_ref_llama SCRATCH_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "model/model.h"
#include "model_util.h"
#include "ref_llama.h"
#include "util/half.h"
#include "util/rng.h"

#define N_TOK 10 /* sequence length of the logits checks */
#define N_CTX 16 /* reference cache */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float f16r(float v) { return half_to_float(float_to_half(v)); }

/* Max |a - b| over n, and max |b| (the logit scale). */
static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
    double d = 0.0, s = 1.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    if (scale) *scale = s;
    return d;
}

/* ----------------------------------------------------------------------------
 * weights: the reference holds the generator's values (HF layout) */

/* The generator's tensor `name` [rows][cols] in HF layout, fp16-rounded if
 * f16; NULL (and a failure) if the generator refuses. */
static double *gen_matrix(const gen_params *p, const char *name, uint64_t rows, uint64_t cols, int f16)
{
    char err[256];
    double *w = malloc(rows * cols * sizeof *w);
    float *row = malloc(cols * sizeof *row);
    for (uint64_t r = 0; r < rows; r++) {
        if (gen_weight_row(p, name, r, row, cols, err, sizeof err) != VKLLM_OK) {
            CHECK(0, "%s", err);
            free(w), free(row);
            return NULL;
        }
        for (uint64_t c = 0; c < cols; c++) w[r * cols + c] = f16 ? f16r(row[c]) : row[c];
    }
    free(row);
    return w;
}

static void check_tensor(const char *what, const gen_params *p, const char *name, const float *got, uint64_t rows,
                         uint64_t cols, int f16)
{
    double *want = gen_matrix(p, name, rows, cols, f16);
    if (!want) return;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < rows * cols; i++)
        if ((double)got[i] != want[i] && !bad++)
            CHECK(0, "%s: %s[%llu] = %.9g, want %.9g", what, name, (unsigned long long)i, got[i], want[i]);
    free(want);
}

static void check_weights(const char *what, const gen_params *p, const ref_llama *r)
{
    const model_hparams *h = &r->hp;
    uint64_t E = h->n_embd, F = h->n_ff, Q = (uint64_t)h->n_head * h->head_dim, KV = (uint64_t)h->n_head_kv * h->head_dim;
    check_tensor(what, p, "token_embd.weight", r->tok_embd, h->n_vocab, E, 1);
    check_tensor(what, p, "output_norm.weight", r->output_norm, 1, E, 0);
    CHECK((r->output == r->tok_embd) == !!p->tied, "%s: tied output", what);
    if (!p->tied) check_tensor(what, p, "output.weight", r->output, h->n_vocab, E, 1);
    for (uint32_t l = 0; l < h->n_layer; l++) {
        const ref_layer *L = &r->layers[l];
        struct { const char *n; const float *w; uint64_t rows, cols; int f16; } t[9] = {
            { "attn_norm", L->attn_norm, 1, E, 0 }, { "attn_q", L->wq, Q, E, 1 },    { "attn_k", L->wk, KV, E, 1 },
            { "attn_v", L->wv, KV, E, 1 },          { "attn_output", L->wo, E, Q, 1 }, { "ffn_norm", L->ffn_norm, 1, E, 0 },
            { "ffn_gate", L->w_gate, F, E, 1 },     { "ffn_up", L->w_up, F, E, 1 },  { "ffn_down", L->w_down, E, F, 1 },
        };
        for (int k = 0; k < 9; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, t[k].n);
            check_tensor(what, p, name, t[k].w, t[k].rows, t[k].cols, t[k].f16);
        }
    }
}

/* ----------------------------------------------------------------------------
 * an independent forward pass: double activations, HF layout, K/V cached as fp16 */

static void naive_matvec(double *out, const double *w, const double *x, uint64_t rows, uint64_t cols)
{
    for (uint64_t r = 0; r < rows; r++) {
        out[r] = 0.0;
        for (uint64_t c = 0; c < cols; c++) out[r] += w[r * cols + c] * x[c];
    }
}

static void naive_norm(double *out, const double *x, const double *w, uint64_t n, double eps)
{
    double ms = 0.0;
    for (uint64_t i = 0; i < n; i++) ms += x[i] * x[i] / n;
    for (uint64_t i = 0; i < n; i++) out[i] = x[i] / sqrt(ms + eps) * w[i];
}

/* HF apply_rotary_pos_emb on one head: x*cos + rotate_half(x)*sin over dims [0, n_rot) */
static void naive_rope(double *x, uint32_t n_rot, uint32_t pos, double theta)
{
    double y[1024];
    uint32_t half = n_rot / 2;
    for (uint32_t d = 0; d < n_rot; d++) {
        double inv_freq = 1.0 / pow(theta, (double)(2 * (d % half)) / n_rot);
        double rot = d < half ? -x[d + half] : x[d - half];
        y[d] = x[d] * cos(pos * inv_freq) + rot * sin(pos * inv_freq);
    }
    memcpy(x, y, n_rot * sizeof *x);
}

/* logits [n][n_vocab] of tokens at positions 0 .. n-1 */
static void naive_forward(const gen_params *p, const model_hparams *h, const int32_t *tok, uint32_t n, float *logits)
{
    uint64_t E = h->n_embd, F = h->n_ff, hd = h->head_dim, V = h->n_vocab;
    uint64_t Q = h->n_head * hd, KV = h->n_head_kv * hd;
    double *emb = gen_matrix(p, "token_embd.weight", V, E, 1);
    double *out = p->tied ? emb : gen_matrix(p, "output.weight", V, E, 1);
    double *onorm = gen_matrix(p, "output_norm.weight", 1, E, 0);
    double *x = calloc(n * E, sizeof *x), *xn = malloc(E * sizeof *xn), *q = malloc(Q * sizeof *q);
    double *k = malloc(n * KV * sizeof *k), *v = malloc(n * KV * sizeof *v), *att = malloc(Q * sizeof *att);
    double *o = malloc(E * sizeof *o), *g = malloc(F * sizeof *g), *u = malloc(F * sizeof *u), *s = malloc(n * sizeof *s);
    for (uint32_t t = 0; t < n; t++) memcpy(x + t * E, emb + tok[t] * E, E * sizeof *x);
    /* layer by layer over all positions, unlike the reference's token by token */
    for (uint32_t l = 0; l < h->n_layer; l++) {
        char nm[9][64];
        const char *parts[9] = { "attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output",
                                 "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down" };
        for (int i = 0; i < 9; i++) snprintf(nm[i], sizeof nm[i], "blk.%u.%s.weight", l, parts[i]);
        double *an = gen_matrix(p, nm[0], 1, E, 0), *wq = gen_matrix(p, nm[1], Q, E, 1);
        double *wk = gen_matrix(p, nm[2], KV, E, 1), *wv = gen_matrix(p, nm[3], KV, E, 1);
        double *wo = gen_matrix(p, nm[4], E, Q, 1), *fn = gen_matrix(p, nm[5], 1, E, 0);
        double *wg = gen_matrix(p, nm[6], F, E, 1), *wu = gen_matrix(p, nm[7], F, E, 1);
        double *wd = gen_matrix(p, nm[8], E, F, 1);
        for (uint32_t t = 0; t < n; t++) { /* the cache, fp16 like the GPU's */
            naive_norm(xn, x + t * E, an, E, h->rms_eps);
            naive_matvec(k + t * KV, wk, xn, KV, E);
            naive_matvec(v + t * KV, wv, xn, KV, E);
            for (uint32_t kh = 0; kh < h->n_head_kv; kh++) naive_rope(k + t * KV + kh * hd, h->n_rot, t, h->rope_theta);
            for (uint64_t i = 0; i < KV; i++) k[t * KV + i] = f16r((float)k[t * KV + i]), v[t * KV + i] = f16r((float)v[t * KV + i]);
        }
        for (uint32_t t = 0; t < n; t++) {
            naive_norm(xn, x + t * E, an, E, h->rms_eps);
            naive_matvec(q, wq, xn, Q, E);
            for (uint32_t qh = 0; qh < h->n_head; qh++) {
                double *qv = q + qh * hd;
                const double *kb = k + (qh / (h->n_head / h->n_head_kv)) * hd;
                const double *vb = v + (qh / (h->n_head / h->n_head_kv)) * hd;
                naive_rope(qv, h->n_rot, t, h->rope_theta);
                double sum = 0.0;
                for (uint32_t j = 0; j <= t; j++) { /* scores are O(1): no max subtraction needed */
                    double d = 0.0;
                    for (uint64_t i = 0; i < hd; i++) d += qv[i] * kb[j * KV + i];
                    s[j] = exp(d / sqrt((double)hd));
                    sum += s[j];
                }
                for (uint64_t i = 0; i < hd; i++) {
                    att[qh * hd + i] = 0.0;
                    for (uint32_t j = 0; j <= t; j++) att[qh * hd + i] += s[j] / sum * vb[j * KV + i];
                }
            }
            naive_matvec(o, wo, att, E, Q);
            for (uint64_t i = 0; i < E; i++) x[t * E + i] += o[i];
            naive_norm(xn, x + t * E, fn, E, h->rms_eps);
            naive_matvec(g, wg, xn, F, E);
            naive_matvec(u, wu, xn, F, E);
            for (uint64_t i = 0; i < F; i++) g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            naive_matvec(o, wd, g, E, F);
            for (uint64_t i = 0; i < E; i++) x[t * E + i] += o[i];
        }
        free(an), free(wq), free(wk), free(wv), free(wo), free(fn), free(wg), free(wu), free(wd);
    }
    double *lg = malloc(V * sizeof *lg);
    for (uint32_t t = 0; t < n; t++) {
        naive_norm(xn, x + t * E, onorm, E, h->rms_eps);
        naive_matvec(lg, out, xn, V, E);
        for (uint64_t i = 0; i < V; i++) logits[t * V + i] = (float)lg[i];
    }
    free(lg);
    if (out != emb) free(out);
    free(emb), free(onorm), free(x), free(xn), free(q), free(k), free(v), free(att), free(o), free(g), free(u), free(s);
}

/* ----------------------------------------------------------------------------
 * one model, both formats */

static void run_case(const char *scratch, const char *what, const gen_params *p)
{
    double t0 = now_s();
    char err[512];
    char *gpath = tu_path(scratch, "m.gguf"), *hdir = tu_path(scratch, "hf");
    tu_rmtree(hdir);
    model *mg = NULL, *mh = NULL;
    CHECK(gen_write_gguf(p, gpath, err, sizeof err) == VKLLM_OK, "%s: gen gguf: %s", what, err);
    CHECK(gen_write_hf(p, hdir, err, sizeof err) == VKLLM_OK, "%s: gen hf: %s", what, err);
    CHECK(model_open(gpath, &mg, err, sizeof err) == VKLLM_OK, "%s: open gguf: %s", what, err);
    CHECK(model_open(hdir, &mh, err, sizeof err) == VKLLM_OK, "%s: open hf: %s", what, err);
    ref_llama *g = mg ? ref_llama_create(mg, N_CTX, err, sizeof err) : NULL;
    ref_llama *h = mh ? ref_llama_create(mh, N_CTX, err, sizeof err) : NULL;
    ref_llama *f = mg ? ref_llama_create(mg, N_CTX, err, sizeof err) : NULL;
    CHECK(g && h && f, "%s: create: %s", what, err);
    if (!g || !h || !f) goto done;
    CHECK(g->rope_pairing == ROPE_ADJACENT && h->rope_pairing == ROPE_ROTATE_HALF, "%s: pairing", what);
    /* the model is not needed after create */
    model_close(mg), model_close(mh);
    mg = mh = NULL;

    check_weights(what, p, h);

    uint32_t V = g->hp.n_vocab;
    rng rg = { p->seed * 31 + 7 };
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = (int32_t)rng_below(&rg, V);
    float *lg = malloc((size_t)N_TOK * V * sizeof *lg), *lh = malloc((size_t)N_TOK * V * sizeof *lh);
    float *ln = malloc((size_t)N_TOK * V * sizeof *ln), *l1 = malloc((size_t)N_TOK * V * sizeof *l1);
    float *last = malloc(V * sizeof *last);

    /* GGUF vs HF: the pairings differ, the math must not */
    CHECK(ref_llama_forward(g, tok, N_TOK, lg, last) == 0 && g->pos == N_TOK, "%s: forward: %s", what, g->err);
    CHECK(ref_llama_forward(h, tok, N_TOK, lh, NULL) == 0, "%s: forward: %s", what, h->err);
    CHECK(!memcmp(last, lg + (size_t)(N_TOK - 1) * V, V * sizeof *last), "%s: last_logits != logits[n-1]", what);
    double scale, d_fmt = max_diff(lg, lh, (size_t)N_TOK * V, &scale);
    CHECK(d_fmt <= 1e-5 * scale, "%s: GGUF vs HF logits differ by %g (scale %g)", what, d_fmt, scale);

    /* an independent implementation */
    naive_forward(p, &h->hp, tok, N_TOK, ln);
    double d_naive = max_diff(lh, ln, (size_t)N_TOK * V, NULL);
    CHECK(d_naive <= 1e-4 * scale, "%s: reference vs naive logits differ by %g (scale %g)", what, d_naive, scale);
    int pos0_bad = 0; /* position 0 alone: attention is just v, RoPE the identity */
    for (uint32_t i = 0; i < V; i++) pos0_bad |= !(fabsf(lh[i] - ln[i]) <= 1e-4 * scale);
    CHECK(!pos0_bad, "%s: position-0 logits differ from the naive ones", what);

    /* prefill == single-token calls, bit for bit */
    CHECK(ref_llama_reset(g, 0) == 0 && g->pos == 0, "%s: reset(0)", what);
    for (int i = 0; i < N_TOK; i++) CHECK(ref_llama_forward(g, &tok[i], 1, l1 + (size_t)i * V, NULL) == 0, "%s", g->err);
    CHECK(!memcmp(l1, lg, (size_t)N_TOK * V * sizeof *lg), "%s: single-token logits != prefill (max diff %g)", what,
          max_diff(l1, lg, (size_t)N_TOK * V, NULL));

    /* forward(a,b,c), reset(1), forward(x) == fresh forward(a), forward(x) */
    int32_t x = (tok[2] + 1) % (int32_t)V;
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    CHECK(ref_llama_reset(g, 0) == 0 && ref_llama_forward(g, tok, 3, NULL, NULL) == 0 && ref_llama_reset(g, 1) == 0 &&
              g->pos == 1 && ref_llama_forward(g, &x, 1, NULL, a) == 0, "%s: truncated run: %s", what, g->err);
    CHECK(ref_llama_forward(f, tok, 1, NULL, NULL) == 0 && ref_llama_forward(f, &x, 1, NULL, b) == 0 && f->pos == 2,
          "%s: fresh run: %s", what, f->err);
    CHECK(!memcmp(a, b, V * sizeof *a), "%s: reset(1) then x differs from a fresh a, x", what);
    free(a), free(b);

    /* greedy: both formats agree; each token is the argmax of a full re-run */
    enum { NP = 3, NG = N_CTX - NP + 1 }; /* fills the cache exactly */
    int32_t gg[NG], gh[NG], seq[N_CTX];
    CHECK(ref_llama_reset(g, 0) == 0 && ref_llama_greedy(g, tok, NP, NG, gg) == 0 && g->pos == N_CTX,
          "%s: greedy: %s", what, g->err);
    CHECK(ref_llama_reset(h, 0) == 0 && ref_llama_greedy(h, tok, NP, NG, gh) == 0, "%s: greedy: %s", what, h->err);
    CHECK(!memcmp(gg, gh, sizeof gg), "%s: greedy GGUF != HF", what);
    memcpy(seq, tok, NP * sizeof *seq);
    memcpy(seq + NP, gg, (NG - 1) * sizeof *seq);
    float *all = malloc((size_t)N_CTX * V * sizeof *all);
    CHECK(ref_llama_reset(f, 0) == 0 && ref_llama_forward(f, seq, N_CTX, all, NULL) == 0, "%s: %s", what, f->err);
    for (int i = 0; i < NG; i++)
        CHECK(ref_llama_argmax(all + (size_t)(NP - 1 + i) * V, V) == gg[i], "%s: greedy token %d is not the argmax", what, i);
    free(all);

    /* errors change nothing */
    int32_t bad[2] = { 0, (int32_t)V };
    CHECK(ref_llama_reset(g, 2) == 0, "%s: reset(2)", what);
    CHECK(ref_llama_forward(g, bad, 2, NULL, NULL) == -1 && g->pos == 2 && strstr(g->err, "vocab"), "%s: token %u: %s",
          what, V, g->err);
    bad[1] = -1;
    CHECK(ref_llama_forward(g, bad, 2, NULL, NULL) == -1 && g->pos == 2, "%s: token -1", what);
    CHECK(ref_llama_forward(g, seq, N_CTX - 1, NULL, NULL) == -1 && g->pos == 2 && strstr(g->err, "n_ctx"),
          "%s: overflow: %s", what, g->err);
    CHECK(ref_llama_reset(g, 3) == -1 && g->pos == 2, "%s: reset past pos", what);
    CHECK(ref_llama_greedy(g, tok, 1, N_CTX, gg) == -1 && g->pos == 2, "%s: greedy overflow", what);
    CHECK(ref_llama_forward(g, seq, N_CTX - 2, NULL, NULL) == 0 && g->pos == N_CTX, "%s: fill: %s", what, g->err);

    printf("%-34s GGUF-HF %.2g, naive %.2g (scale %.3g)  %.2f s\n", what, d_fmt, d_naive, scale, now_s() - t0);
    free(lg), free(lh), free(ln), free(l1), free(last);
done:
    ref_llama_destroy(g), ref_llama_destroy(h), ref_llama_destroy(f);
    model_close(mg), model_close(mh);
    free(gpath), free(hdir);
}

static void argmax_cases(void)
{
    const float nan = NAN, inf = INFINITY;
    CHECK(ref_llama_argmax((const float[]){ 1, 3, 3, 2 }, 4) == 1, "first of ties");
    CHECK(ref_llama_argmax((const float[]){ nan, 1 }, 2) == 1, "leading NaN");
    CHECK(ref_llama_argmax((const float[]){ 1, nan, 5 }, 3) == 2, "NaN in the middle");
    CHECK(ref_llama_argmax((const float[]){ 7, nan }, 2) == 0, "trailing NaN");
    CHECK(ref_llama_argmax((const float[]){ -inf, nan, -inf }, 3) == 0, "-inf beats NaN");
    CHECK(ref_llama_argmax((const float[]){ nan, nan }, 2) == -1, "all NaN");
    CHECK(ref_llama_argmax((const float[]){ 0 }, 0) == -1, "empty");
    CHECK(ref_llama_argmax((const float[]){ -2, inf, 1 }, 3) == 1, "inf");
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : "tmp-ref-llama";
    if (!tu_scratch(scratch)) {
        printf("FAIL cannot create %s\n", scratch);
        return 1;
    }
    argmax_cases();
    char err[256];
    ref_llama *none = ref_llama_create(NULL, 4, err, sizeof err);
    CHECK(!none && strstr(err, "no model"), "create without a model");

    gen_params p;
    gen_preset("tiny", &p); /* f16, GQA 2, head_dim 16 */
    run_case(scratch, "tiny f16 gqa2 hd16", &p);

    gen_preset("tiny", &p);
    p.n_embd = 64, p.n_head = 2, p.n_head_kv = 2, p.n_ff = 96, p.n_vocab = 300, p.seed = 11;
    run_case(scratch, "f16 gqa1 hd32", &p);

    gen_preset("tiny", &p);
    p.dtype = DTYPE_BF16, p.n_embd = 128, p.n_head = 2, p.n_head_kv = 1, p.n_ff = 160, p.n_vocab = 280;
    p.tied = 1, p.n_shards = 2, p.seed = 12, p.rope_theta = 500000, p.rms_eps = 1e-6;
    run_case(scratch, "bf16 gqa2 hd64 tied", &p);

    gen_preset("tiny", &p); /* explicit head_dim: q is 256 wide, the residual 48 */
    p.dtype = DTYPE_F32, p.n_layer = 1, p.n_embd = 48, p.n_head = 8, p.n_head_kv = 2, p.head_dim = 32;
    p.n_ff = 80, p.n_vocab = 270, p.seed = 13, p.rope_theta = 1000000;
    run_case(scratch, "f32 gqa4 hd32 explicit", &p);

    gen_preset("tiny", &p);
    p.dtype = DTYPE_F32, p.n_layer = 2, p.n_embd = 256, p.n_head = 4, p.n_head_kv = 1, p.n_ff = 64, p.n_vocab = 261;
    p.tied = 1, p.seed = 14;
    run_case(scratch, "f32 gqa4 hd64 tied", &p);

    tu_rmtree(scratch);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
