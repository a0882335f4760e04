/* Talking to a model end to end, on a generated tiny model (GGUF and HF):
 *   - vkllm_generate's greedy tokens and streamed text == the CPU reference's
 *     greedy continuation (tools/gen/ref_llama.c), decoded by the tokenizer,
 *   - `vkllm run --raw --greedy` prints exactly that text,
 *   - the embedding example prints what `vkllm run` prints,
 *   - same seed = same text; another seed = other text; frequency/presence
 *     penalties (negative: repeats, positive: fewer), out of range refused,
 *   - a stop string cuts the text right before it,
 *   - a second chat turn reuses the cached conversation and gives what a
 *     fresh session gives for the same conversation,
 *   - two sessions on one model don't disturb each other,
 *   - a full context stops generation with its reason.
 * argv: scratch folder, path of vkllm, path of vkllm-embed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "model/model.h"
#include "ref_llama.h"
#include "vkllm.h"

static int failures;
#define EXPECT_PRINT_OK 1
#include "expect.h"

#define N_GEN 24
static const char *const PROMPT = "Hello wonderful world, abc";

typedef struct collected {
    int32_t ids[4096];
    size_t n_ids;
    char text[65536];
    size_t len;
} collected;

static int collect(int32_t token, const char *text, size_t len, void *user)
{
    collected *c = user;
    if (token >= 0 && c->n_ids < 4096) c->ids[c->n_ids++] = token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    return 0;
}

/* stdout of a shell command (malloc'd), NULL on failure or non-zero exit. */
static char *run_cmd(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) n += got;
    int rc = pclose(p);
    if (!buf || rc != 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void strip_newline(char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n && s[n - 1] == '\n') s[n - 1] = '\0';
}

static vkllm_session *new_session(vkllm_model *m, uint32_t n_ctx)
{
    char err[1024];
    vkllm_session_options so = { .n_ctx = n_ctx };
    vkllm_session *s = NULL;
    if (vkllm_session_create(m, &so, &s, err, sizeof err) != VKLLM_OK) printf("session: %s\n", err);
    return s;
}

static void check_model(const char *path, const char *dir, const char *vkllm, const char *embed)
{
    char err[1024];
    printf("-- %s\n", path);
    vkllm_load_options lo = { .validate = 1, .n_ctx = 256 };
    vkllm_model *m = NULL;
    if (vkllm_model_load(path, &lo, &m, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "load: %s", err);
        return;
    }
    const vkllm_tokenizer *tok = vkllm_model_tokenizer(m);
    EXPECT(tok != NULL, "the generated model has a tokenizer (%s)", vkllm_model_tokenizer_error(m));
    if (!tok) {
        vkllm_model_free(m);
        return;
    }
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    vkllm_status s = vkllm_tokenize(tok, PROMPT, strlen(PROMPT), VKLLM_TOKENIZE_BOS, &prompt, &n_prompt, err, sizeof err);
    EXPECT(s == VKLLM_OK && n_prompt > 2 && prompt[0] == vkllm_token_bos(tok), "prompt: %zu tokens", n_prompt);

    /* the reference's greedy continuation, cut at EOS like generation is */
    model *md = NULL;
    ref_llama *ref = NULL;
    int32_t want[N_GEN];
    uint32_t n_want = 0;
    if (model_open(path, &md, err, sizeof err) == VKLLM_OK && (ref = ref_llama_create(md, 256, err, sizeof err)) &&
        ref_llama_greedy(ref, prompt, (uint32_t)n_prompt, N_GEN, want) == 0) {
        while (n_want < N_GEN && want[n_want] != vkllm_token_eos(tok)) n_want++;
    } else {
        EXPECT(0, "reference: %s", ref ? ref->err : err);
    }
    char *want_text = NULL;
    size_t want_len = 0;
    vkllm_detokenize(tok, want, n_want, &want_text, &want_len, err, sizeof err);

    /* API, greedy */
    vkllm_session *a = new_session(m, 256);
    collected *got = calloc(1, sizeof *got);
    vkllm_generate_options go = { .sampling = vkllm_sampling_greedy(), .max_tokens = N_GEN, .on_token = collect, .user = got };
    vkllm_generate_stats st;
    s = a ? vkllm_generate(a, prompt, n_prompt, &go, &st) : VKLLM_ERR_INVALID_ARG;
    EXPECT(s == VKLLM_OK && got->n_ids == n_want && memcmp(got->ids, want, n_want * 4) == 0,
           "greedy: %zu tokens identical to the reference's %u (%s)", got->n_ids, n_want, a ? vkllm_session_error(a) : "");
    EXPECT(want_text && strlen(got->text) == want_len && memcmp(got->text, want_text, want_len) == 0,
           "streamed text == decoded reference: \"%.60s\"", got->text);
    EXPECT(st.n_prompt == n_prompt && st.n_generated == n_want &&
               st.reason == (n_want < N_GEN ? VKLLM_STOP_EOS : VKLLM_STOP_MAX_TOKENS),
           "stats: %u prompt, %u generated, reason %d", st.n_prompt, st.n_generated, st.reason);

    /* the CLI prints the same text */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "VKLLM_VALIDATE=1 '%s' run -m '%s' -p '%s' --raw --greedy -n %d -q 2>/dev/null", vkllm, path,
             PROMPT, N_GEN);
    char *cli = run_cmd(cmd);
    strip_newline(cli);
    EXPECT(cli && want_text && strcmp(cli, want_text) == 0, "vkllm run --raw --greedy streams the reference text");
    free(cli);

    /* the embedding example == vkllm run through the chat template */
    snprintf(cmd, sizeof cmd, "'%s' '%s' 'Hi there' 2>/dev/null", embed, path);
    char *ex = run_cmd(cmd);
    snprintf(cmd, sizeof cmd, "'%s' run -m '%s' -p 'Hi there' --greedy -n 64 --ctx 1024 -q 2>/dev/null", vkllm, path);
    char *cli2 = run_cmd(cmd);
    strip_newline(cli2);
    EXPECT(ex && cli2 && strcmp(ex, cli2) == 0, "vkllm-embed prints what vkllm run prints (\"%.40s\")", ex ? ex : "(failed)");
    free(ex);
    free(cli2);

    /* sampling: seeds */
    collected *c1 = calloc(1, sizeof *c1), *c2 = calloc(1, sizeof *c2), *c3 = calloc(1, sizeof *c3);
    vkllm_generate_options so = { .sampling = vkllm_sampling_default(), .max_tokens = 40, .on_token = collect };
    so.sampling.temperature = 1.5f;
    so.sampling.seed = 11;
    so.user = c1;
    vkllm_generate(a, prompt, n_prompt, &so, NULL);
    so.user = c2;
    vkllm_generate(a, prompt, n_prompt, &so, NULL);
    so.sampling.seed = 12;
    so.user = c3;
    vkllm_generate(a, prompt, n_prompt, &so, NULL);
    EXPECT(c1->n_ids > 0 && c1->n_ids == c2->n_ids && memcmp(c1->ids, c2->ids, c1->n_ids * 4) == 0,
           "same seed, same tokens (%zu)", c1->n_ids);
    EXPECT(c1->n_ids != c3->n_ids || memcmp(c1->ids, c3->ids, c1->n_ids * 4) != 0, "another seed, other tokens");

    /* OpenAI's frequency / presence penalties: negative ones favour the
     * tokens generated so far, so a greedy answer repeats itself; out of
     * [-2, 2] they are refused */
    memset(c1, 0, sizeof *c1);
    memset(c2, 0, sizeof *c2);
    vkllm_generate_options po = { .sampling = vkllm_sampling_greedy(), .max_tokens = 30, .on_token = collect,
                                  .user = c2 };
    vkllm_status ps = vkllm_generate(a, prompt, n_prompt, &po, NULL);
    po.sampling.frequency_penalty = -2.0f;
    po.sampling.presence_penalty = -2.0f;
    po.user = c1;
    if (ps == VKLLM_OK) ps = vkllm_generate(a, prompt, n_prompt, &po, NULL);
    size_t distinct[2] = { 0, 0 };
    for (int w = 0; w < 2; w++) {
        const collected *c = w ? c1 : c2;
        for (size_t i = 0; i < c->n_ids; i++) {
            size_t k = 0;
            while (k < i && c->ids[k] != c->ids[i]) k++;
            distinct[w] += k == i;
        }
    }
    EXPECT(ps == VKLLM_OK && c1->n_ids == 30 && distinct[1] * 3 <= c1->n_ids && distinct[1] < distinct[0],
           "negative penalties: the greedy answer repeats itself (%zu distinct of %zu tokens, %zu without)",
           distinct[1], c1->n_ids, distinct[0]);
    memset(c3, 0, sizeof *c3);
    po.sampling.frequency_penalty = 2.0f;
    po.sampling.presence_penalty = 2.0f;
    po.user = c3;
    ps = vkllm_generate(a, prompt, n_prompt, &po, NULL);
    size_t distinct_pos = 0;
    for (size_t i = 0; i < c3->n_ids; i++) {
        size_t k = 0;
        while (k < i && c3->ids[k] != c3->ids[i]) k++;
        distinct_pos += k == i;
    }
    EXPECT(ps == VKLLM_OK && c3->n_ids == 30 && distinct_pos > distinct[0],
           "positive penalties: fewer repeats (%zu distinct of %zu tokens, %zu without)", distinct_pos, c3->n_ids,
           distinct[0]);
    const char *eot = vkllm_chat_end_of_turn(m, NULL), *eot_ml = vkllm_chat_end_of_turn(m, "chatml");
    EXPECT(eot && !strcmp(eot, "### User:") && eot_ml && !strcmp(eot_ml, "<|im_end|>") &&
               !vkllm_chat_end_of_turn(m, "bogus"),
           "vkllm_chat_end_of_turn: \"### User:\" (the model's, solar), \"<|im_end|>\" (chatml), NULL (unknown)");
    po.sampling.presence_penalty = 2.5f;
    ps = vkllm_generate(a, prompt, n_prompt, &po, NULL);
    EXPECT(ps == VKLLM_ERR_INVALID_ARG && strstr(vkllm_session_error(a), "presence_penalty 2.5"),
           "a presence_penalty of 2.5 is refused: %s", vkllm_session_error(a));

    /* a stop string from the middle of the expected text */
    if (want_text && strlen(want_text) > 12) {
        char stop[5];
        memcpy(stop, want_text + strlen(want_text) / 2, 4);
        stop[4] = '\0';
        const char *stops[1] = { stop };
        collected *c = calloc(1, sizeof *c);
        vkllm_generate_options g2 = go;
        g2.user = c;
        g2.stop = stops;
        g2.n_stop = 1;
        s = vkllm_generate(a, prompt, n_prompt, &g2, &st);
        size_t cut = (size_t)(strstr(want_text, stop) - want_text);
        EXPECT(s == VKLLM_OK && st.reason == VKLLM_STOP_STRING && c->len == cut && memcmp(c->text, want_text, cut) == 0,
               "stop string \"%s\" cuts the text at byte %zu (got %zu)", stop, cut, c->len);
        EXPECT(st.n_reused == n_prompt - 1, "the prompt came from the cache (%u of %zu reused)", st.n_reused, n_prompt);
        free(c);
    }

    /* chat: the second turn reuses the first; a fresh session agrees */
    collected *t1 = calloc(1, sizeof *t1), *t2 = calloc(1, sizeof *t2), *f2 = calloc(1, sizeof *f2);
    vkllm_message msgs[4] = { { VKLLM_ROLE_SYSTEM, "Be brief." }, { VKLLM_ROLE_USER, "first question" } };
    vkllm_generate_options gc = { .sampling = vkllm_sampling_greedy(), .max_tokens = 12, .on_token = collect, .user = t1 };
    vkllm_session *b = new_session(m, 256);
    s = b ? vkllm_chat(b, NULL, msgs, 2, &gc, &st) : VKLLM_ERR_INVALID_ARG;
    EXPECT(s == VKLLM_OK, "chat turn 1: %u prompt tokens, \"%.30s\"", st.n_prompt, t1->text);
    msgs[2] = (vkllm_message){ VKLLM_ROLE_ASSISTANT, t1->text };
    msgs[3] = (vkllm_message){ VKLLM_ROLE_USER, "second one" };
    gc.user = t2;
    s = b ? vkllm_chat(b, NULL, msgs, 4, &gc, &st) : s;
    EXPECT(s == VKLLM_OK && st.n_reused > 10, "chat turn 2 reuses %u cached tokens, evaluates %u", st.n_reused, st.n_prompt);
    vkllm_session *fresh = new_session(m, 256);
    gc.user = f2;
    s = fresh ? vkllm_chat(fresh, NULL, msgs, 4, &gc, &st) : s;
    EXPECT(s == VKLLM_OK && st.n_reused == 0 && t2->n_ids == f2->n_ids && memcmp(t2->ids, f2->ids, t2->n_ids * 4) == 0,
           "turn 2 on the cache == turn 2 from scratch");

    /* two sessions interleaved == each alone */
    collected *x = calloc(1, sizeof *x);
    vkllm_generate_options gx = { .sampling = vkllm_sampling_greedy(), .max_tokens = 1, .on_token = collect, .user = x };
    int32_t cur[64];
    memcpy(cur, prompt, n_prompt * 4);
    size_t n_cur = n_prompt;
    for (int i = 0; i < 6 && n_cur < 64; i++) { /* a: one token at a time; b: unrelated chats in between */
        vkllm_generate(a, cur, n_cur, &gx, NULL);
        cur[n_cur++] = x->ids[x->n_ids - 1];
        vkllm_chat(b, NULL, msgs, 2, &gc, NULL);
    }
    EXPECT(x->n_ids == 6 && memcmp(x->ids, want, (n_want < 6 ? n_want : 6) * 4) == 0,
           "session a unaffected by session b on the same model");

    /* a context too small */
    vkllm_session *small = new_session(m, (uint32_t)n_prompt + 3);
    collected *y = calloc(1, sizeof *y);
    vkllm_generate_options gy = { .sampling = vkllm_sampling_greedy(), .on_token = collect, .user = y };
    s = small ? vkllm_generate(small, prompt, n_prompt, &gy, &st) : VKLLM_ERR_INVALID_ARG;
    EXPECT(s == VKLLM_OK && (st.reason == VKLLM_STOP_CONTEXT_FULL || st.reason == VKLLM_STOP_EOS) && st.n_generated <= 4,
           "a full context stops generation (reason %d after %u tokens)", st.reason, st.n_generated);
    int32_t many[300] = { 1 };
    s = small ? vkllm_generate(small, many, 300, &gy, &st) : s;
    EXPECT(s == VKLLM_ERR_OUT_OF_MEMORY && strstr(vkllm_session_error(small), "context full"),
           "a prompt longer than the context is refused: %s", small ? vkllm_session_error(small) : "");

    /* what the load's tuning did: a report, truncated safely */
    char tb[8];
    size_t n_tune = vkllm_model_tuning(m, NULL, 0);
    EXPECT(n_tune > sizeof tb && vkllm_model_tuning(m, tb, sizeof tb) == n_tune && strlen(tb) == sizeof tb - 1,
           "vkllm_model_tuning: %zu bytes, truncated safely", n_tune);
    EXPECT(vkllm_model_tuning(NULL, tb, sizeof tb) == 0 && tb[0] == 0, "vkllm_model_tuning(NULL) writes nothing");

    const char *first;
    uint32_t n_val = vkllm_model_validation_messages(m, &first);
    EXPECT(n_val == 0, "no validation messages (%u; first: %s)", n_val, first);
    vkllm_session_free(small);
    vkllm_session_free(fresh);
    vkllm_session_free(b);
    vkllm_session_free(a);
    free(x), free(y), free(t1), free(t2), free(f2), free(c1), free(c2), free(c3), free(got);
    vkllm_free(want_text);
    vkllm_free(prompt);
    ref_llama_destroy(ref);
    model_close(md);
    vkllm_model_free(m);
    (void)dir;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        printf("usage: test_generate SCRATCH_DIR VKLLM VKLLM_EMBED\n");
        return 2;
    }
    char cmd[1200], gguf[1100], hf[1100], err[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", argv[1]);
    if (system(cmd) != 0) return 2;
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", argv[1]);
    snprintf(hf, sizeof hf, "%s/tiny-hf", argv[1]);
    gen_params p;
    gen_preset("tiny", &p);
    p.n_vocab = 600;
    p.seed = 77;
    if (gen_write_gguf(&p, gguf, err, sizeof err) != VKLLM_OK || gen_write_hf(&p, hf, err, sizeof err) != VKLLM_OK) {
        printf("FAIL generate: %s\n", err);
        return 1;
    }
    check_model(gguf, argv[1], argv[2], argv[3]);
    check_model(hf, argv[1], argv[2], argv[3]);
    printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
