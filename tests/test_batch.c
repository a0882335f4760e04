/* Several sequences in one step (vkllm_batch_eval) against each sequence
 * run alone (vkllm_session_eval), on generated tiny models (f16 and q8_0):
 *   - a scheduler like the server's: sequences with prompts of different
 *     lengths join at different steps; long prompts go in chunks beside the
 *     other sequences' decode rows; sequences finish while others go on and
 *     new ones take their place (new sessions, maybe at a freed address);
 *   - every logits a batched step returns matches the same tokens run alone
 *     within TOL (test_llama's fp16 bound), and every greedy token (LAST
 *     and ARGMAX modes) is the alone run's argmax, unless the alone logits
 *     have a near-tie within TOL there;
 *   - the refusals (same session twice, a token outside the vocabulary,
 *     ALL mode, too many rows or sequences, a session of another model, a
 *     full context) run nothing and leave every session where it was;
 *   - no validation-layer messages.
 * argv[1]: a scratch folder. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "logits_diff.h"
#include "util/rng.h"
#include "vkllm.h"

static int failures;
#include "expect.h"

#define TOL 1e-3  /* as test_llama: relative to the largest |logit| */
#define N_SLOTS 4
#define CHUNK 8   /* prompt tokens per step (chunked prefill) */
#define N_CTX 64

typedef struct seq_plan {
    uint32_t start;    /* step it joins at */
    uint32_t n_prompt;
    uint32_t n_gen;    /* greedy tokens, then it finishes */
    vkllm_logits mode; /* for decode rows: LAST or ARGMAX */
} seq_plan;

typedef struct seq_state {
    const seq_plan *plan;
    vkllm_session *b, *a; /* batched, alone */
    int32_t toks[N_CTX];
    uint32_t n_toks, fed, gen;
    int32_t next;
    float *logits, *alone;
} seq_state;

static vkllm_session *new_session(vkllm_model *m)
{
    char err[1024];
    vkllm_session_options so = { .n_ctx = N_CTX, .n_batch = 16 };
    vkllm_session *s = NULL;
    if (vkllm_session_create(m, &so, &s, err, sizeof err) != VKLLM_OK) EXPECT(0, "session: %s", err);
    return s;
}

/* The scheduler: runs the plans to the end, comparing every output with the
 * alone sessions. Returns the number of batched steps. */
static uint32_t run_plans(vkllm_model *m, vkllm_batch *bt, const seq_plan *plans, uint32_t n_plans, uint64_t seed,
                          const char *label, double *worst)
{
    const uint32_t V = vkllm_model_get_info(m)->n_vocab;
    seq_state st[8] = { 0 };
    rng r = { seed };
    uint32_t step = 0, finished = 0, max_rows = 0, mixed = 0;
    while (finished < n_plans && step < 200) {
        /* join: plans whose start has come, while a slot is free */
        uint32_t active = 0;
        for (uint32_t i = 0; i < n_plans; i++) active += st[i].b != NULL;
        for (uint32_t i = 0; i < n_plans && active < N_SLOTS; i++) {
            if (st[i].plan || plans[i].start > step) continue;
            seq_state *q = &st[i];
            q->plan = &plans[i];
            q->b = new_session(m);
            q->a = new_session(m);
            q->logits = malloc((size_t)V * 4);
            q->alone = malloc((size_t)V * 4);
            if (!q->b || !q->a || !q->logits || !q->alone) return step;
            for (uint32_t t = 0; t < plans[i].n_prompt; t++) q->toks[t] = (int32_t)rng_below(&r, V);
            q->n_toks = plans[i].n_prompt;
            active++;
        }
        /* the step: a chunk of each prompt not done yet, else one decode row */
        vkllm_batch_seq bs[N_SLOTS];
        seq_state *who[N_SLOTS];
        uint32_t n = 0, rows = 0, n_prefill = 0, n_decode = 0;
        for (uint32_t i = 0; i < n_plans; i++) {
            seq_state *q = &st[i];
            if (!q->b) continue;
            uint32_t left = q->n_toks - q->fed;
            uint32_t take = left < CHUNK ? left : CHUNK;
            bool prompt = q->fed < q->plan->n_prompt;
            vkllm_logits mode = !prompt ? q->plan->mode : q->fed + take == q->n_toks ? VKLLM_LOGITS_LAST : VKLLM_LOGITS_NONE;
            bs[n] = (vkllm_batch_seq){ q->b, q->toks + q->fed, take, mode, q->logits, -2 };
            who[n++] = q;
            rows += take;
            if (prompt) n_prefill++;
            else n_decode++;
        }
        if (n == 0) {
            step++;
            continue;
        }
        if (rows > max_rows) max_rows = rows;
        if (n_prefill && n_decode) mixed++;
        vkllm_status s = vkllm_batch_eval(bt, bs, n);
        if (s != VKLLM_OK) {
            EXPECT(0, "%s: step %u: %s", label, step, vkllm_batch_error(bt));
            return step;
        }
        for (uint32_t j = 0; j < n; j++) {
            seq_state *q = who[j];
            /* the same tokens alone */
            vkllm_logits am = bs[j].mode == VKLLM_LOGITS_NONE ? VKLLM_LOGITS_ARGMAX : VKLLM_LOGITS_LAST;
            int32_t alone_am = -1;
            s = vkllm_session_eval(q->a, bs[j].tokens, bs[j].n, am, q->alone, &alone_am);
            EXPECT(s == VKLLM_OK, "%s: alone: %s", label, vkllm_session_error(q->a));
            EXPECT(vkllm_session_pos(q->b) == vkllm_session_pos(q->a), "%s: positions %u == %u", label,
                   vkllm_session_pos(q->b), vkllm_session_pos(q->a));
            q->fed += bs[j].n;
            if (bs[j].mode == VKLLM_LOGITS_NONE) {
                EXPECT(vkllm_session_pos(q->b) < q->n_toks, "%s: a NONE chunk is never a prompt's last", label);
                continue;
            }
            if (bs[j].mode == VKLLM_LOGITS_LAST) {
                double d = rel_diff(q->logits, q->alone, V);
                if (d > *worst) *worst = d;
                EXPECT(d <= TOL, "%s: step %u, sequence %u at %u: batched vs alone logits rel diff %.2e", label, step,
                       (unsigned)(q->plan - plans), q->fed, d);
                EXPECT(bs[j].argmax == argmax_of(q->logits, V), "%s: batched argmax %d is its logits' argmax", label,
                       bs[j].argmax);
            }
            int32_t want = argmax_of(q->alone, V);
            if (bs[j].argmax != want) {
                double gap = (double)q->alone[want] - q->alone[bs[j].argmax >= 0 ? bs[j].argmax : 0], scale = 0;
                for (uint32_t c = 0; c < V; c++) scale = fmax(scale, fabs(q->alone[c]));
                EXPECT(bs[j].argmax >= 0 && gap <= TOL * scale, "%s: step %u: greedy %d, alone %d (gap %.2e)", label,
                       step, bs[j].argmax, want, gap);
            }
            if (q->gen == q->plan->n_gen || q->n_toks == N_CTX) { /* done: the slot frees */
                vkllm_session_free(q->b);
                vkllm_session_free(q->a);
                free(q->logits);
                free(q->alone);
                q->b = q->a = NULL;
                finished++;
                continue;
            }
            q->toks[q->n_toks++] = bs[j].argmax;
            q->gen++;
        }
        step++;
    }
    EXPECT(finished == n_plans, "%s: %u of %u sequences finished in %u steps", label, finished, n_plans, step);
    if (n_plans > 1)
        EXPECT(mixed > 0 && max_rows > 8, "%s: steps with prompt chunks beside decode rows (%u), up to %u rows", label,
           mixed, max_rows);
    printf("%s: %u steps, up to %u rows, %u mixed prefill + decode, worst rel diff %.2e (tolerance %.0e)\n", label,
           step, max_rows, mixed, *worst, TOL);
    for (uint32_t i = 0; i < n_plans; i++) {
        vkllm_session_free(st[i].b);
        vkllm_session_free(st[i].a);
        if (st[i].b) {
            free(st[i].logits);
            free(st[i].alone);
        }
    }
    return step;
}

static void expect_refused(vkllm_batch *bt, vkllm_batch_seq *seqs, uint32_t n, vkllm_status want, const char *needle,
                           const char *what)
{
    uint32_t pos[8];
    for (uint32_t j = 0; j < n && j < 8; j++) pos[j] = seqs[j].session ? vkllm_session_pos(seqs[j].session) : 0;
    vkllm_status s = vkllm_batch_eval(bt, seqs, n);
    const char *e = vkllm_batch_error(bt);
    EXPECT(s == want && strstr(e, needle), "%s: status %d, \"%s\" (want %d, \"%s\")", what, (int)s, e, (int)want,
           needle);
    for (uint32_t j = 0; j < n && j < 8; j++)
        if (seqs[j].session)
            EXPECT(vkllm_session_pos(seqs[j].session) == pos[j], "%s: sequence %u did not move", what, j);
}

static void refusals(vkllm_model *m, vkllm_model *other, vkllm_batch *bt)
{
    const uint32_t V = vkllm_model_get_info(m)->n_vocab;
    vkllm_session *a = new_session(m), *b = new_session(m), *o = new_session(other);
    float *lg = malloc((size_t)V * 4);
    int32_t toks[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, bad[1] = { (int32_t)V };
    if (!a || !b || !o || !lg) goto done;
    vkllm_batch_seq two[2] = { { a, toks, 2, VKLLM_LOGITS_LAST, lg, 0 }, { a, toks, 1, VKLLM_LOGITS_ARGMAX, NULL, 0 } };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "same session", "a session given twice");
    two[1] = (vkllm_batch_seq){ b, bad, 1, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "outside the vocabulary", "a bad token");
    two[1] = (vkllm_batch_seq){ b, toks, 1, VKLLM_LOGITS_ALL, lg, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "LAST, ARGMAX or NONE", "ALL mode");
    two[1] = (vkllm_batch_seq){ b, toks, 1, VKLLM_LOGITS_LAST, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "no logits buffer", "LAST without a buffer");
    two[1] = (vkllm_batch_seq){ o, toks, 1, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "another model", "a session of another model");
    two[1] = (vkllm_batch_seq){ b, toks, 17, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "block of 16", "more than the session's n_batch");
    two[1] = (vkllm_batch_seq){ b, toks, 0, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_INVALID_ARG, "no tokens", "no tokens");
    expect_refused(bt, two, 0, VKLLM_ERR_INVALID_ARG, "sequences", "no sequences");
    vkllm_batch_seq many[N_SLOTS + 1];
    vkllm_session *extra[N_SLOTS + 1] = { a, b };
    for (uint32_t j = 2; j < N_SLOTS + 1; j++) extra[j] = new_session(m);
    for (uint32_t j = 0; j < N_SLOTS + 1; j++) many[j] = (vkllm_batch_seq){ extra[j], toks, 1, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, many, N_SLOTS + 1, VKLLM_ERR_INVALID_ARG, "max_seqs", "more sequences than the batch holds");
    for (uint32_t j = 0; j < N_SLOTS; j++) many[j].n = 16; /* 64 rows > 32 */
    expect_refused(bt, many, N_SLOTS, VKLLM_ERR_INVALID_ARG, "rows", "more rows than the batch holds");
    for (uint32_t j = 2; j < N_SLOTS + 1; j++) vkllm_session_free(extra[j]);
    /* a full context: b filled to N_CTX - 1, then 2 more */
    for (uint32_t p = 0; p + 16 < N_CTX; p += 16) vkllm_session_eval(b, toks, 16, VKLLM_LOGITS_ARGMAX, NULL, NULL);
    vkllm_session_eval(b, toks, N_CTX - 1 - vkllm_session_pos(b), VKLLM_LOGITS_ARGMAX, NULL, NULL);
    two[0] = (vkllm_batch_seq){ a, toks, 1, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    two[1] = (vkllm_batch_seq){ b, toks, 2, VKLLM_LOGITS_ARGMAX, NULL, 0 };
    expect_refused(bt, two, 2, VKLLM_ERR_OUT_OF_MEMORY, "context full: sequence 1", "a full context");
    /* and a step that fits still runs after the refusals */
    two[1].n = 1;
    EXPECT(vkllm_batch_eval(bt, two, 2) == VKLLM_OK && vkllm_session_pos(b) == N_CTX && two[0].argmax >= 0,
           "the last position of a context runs (%s)", vkllm_batch_error(bt));
    char err[256] = "";
    vkllm_batch *none = NULL;
    EXPECT(vkllm_batch_create(m, 4, 5, &none, err, sizeof err) == VKLLM_ERR_INVALID_ARG && !none && *err,
           "a batch of more sequences than rows is refused: %s", err);
done:
    vkllm_session_free(a);
    vkllm_session_free(b);
    vkllm_session_free(o);
    free(lg);
}

static void run_model(const char *dir, const char *name, const char *quant, uint64_t seed)
{
    char path[1024], err[1024];
    gen_params p;
    gen_preset("tiny", &p);
    p.seed = seed;
    p.n_ctx = N_CTX;
    p.quant = quant;
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    if (gen_write_gguf(&p, path, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "%s: generate: %s", name, err);
        return;
    }
    vkllm_load_options lo = { .validate = 1, .n_ctx = N_CTX };
    vkllm_model *m = NULL, *other = NULL;
    vkllm_batch *bt = NULL;
    if (vkllm_model_load(path, &lo, &m, err, sizeof err) != VKLLM_OK ||
        vkllm_model_load(path, &lo, &other, err, sizeof err) != VKLLM_OK ||
        vkllm_batch_create(m, 32, N_SLOTS, &bt, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "%s: load: %s", name, err);
        vkllm_model_free(m);
        vkllm_model_free(other);
        return;
    }
    /* joins, prompt lengths (chunks of 8), greedy lengths, output modes */
    const seq_plan plans[] = {
        { 0, 5, 6, VKLLM_LOGITS_LAST },    /* short prompt, finishes early */
        { 0, 19, 10, VKLLM_LOGITS_LAST },  /* three chunks beside the others' decode */
        { 1, 3, 12, VKLLM_LOGITS_ARGMAX }, /* joins at step 1, argmax only */
        { 2, 12, 4, VKLLM_LOGITS_LAST },
        { 3, 1, 9, VKLLM_LOGITS_LAST },    /* waits for a free slot, takes a finished one's */
        { 4, 16, 5, VKLLM_LOGITS_ARGMAX },
    };
    double worst = 0;
    run_plans(m, bt, plans, sizeof plans / sizeof plans[0], seed ^ 0xba7c4, name, &worst);
    /* one sequence alone in the batch too (n_seq 1) */
    const seq_plan one[] = { { 0, 9, 5, VKLLM_LOGITS_LAST } };
    run_plans(m, bt, one, 1, seed ^ 0x1, name, &worst);
    refusals(m, other, bt);
    const char *first = NULL;
    uint32_t nv = vkllm_model_validation_messages(m, &first) + vkllm_model_validation_messages(other, NULL);
    EXPECT(nv == 0, "%s: no validation messages (%u; first: %s)", name, nv, first ? first : "");
    vkllm_batch_free(bt);
    vkllm_model_free(m);
    vkllm_model_free(other);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_batch SCRATCH_DIR\n");
        return 2;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", argv[1], argv[1]);
    if (system(cmd) != 0) return 2;
    run_model(argv[1], "tiny-f16", NULL, 11);
    run_model(argv[1], "tiny-q8_0", "q8_0", 12);
    printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
