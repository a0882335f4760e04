/* Malformed or unsupported tokenizer files: each gets a clear error naming
 * the file and the field; nothing crashes. Also small hand-made vocabularies
 * without byte pieces (<unk> fallback, fuse_unk, no <unk> at all), HF added
 * tokens with lstrip/rstrip, and the Metaspace pre-tokenizer.
 * usage: test_tokenizer_bad DATA_DIR SCRATCH_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "model/json_file.h"
#include "model_util.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"
#include "util/rng.h"
#include "vkllm.h"

#define META "\xe2\x96\x81"

static const char *scratch;

/* ---------------------------------------------------------------- tokenizer.json cases */

/* Writes `json` as SCRATCH/<dir>/tokenizer.json (and cfg as tokenizer_config.json
 * when non-NULL), loads the folder, checks the status and message parts. */
static tokenizer *hf_case(const char *what, const char *json, const char *cfg, vkllm_status want, const char *s1,
                          const char *s2)
{
    static int n;
    char name[32], err[512] = "";
    snprintf(name, sizeof name, "hf%d", n++);
    char *dir = tu_path(scratch, name), *tj = tu_path(dir, "tokenizer.json"), *tc = tu_path(dir, "tokenizer_config.json");
    mkdir(dir, 0755);
    tu_write(tj, json, strlen(json));
    if (cfg) tu_write(tc, cfg, strlen(cfg));
    tokenizer *t = NULL;
    vkllm_status st = tok_load_path(dir, &t, err, sizeof err);
    tu_expect(what, st, err, want, st ? name : "", s1 ? s1 : "", s2 ? s2 : "", NULL); /* the path is in the message */
    CHECK(st != VKLLM_OK || t, "%s: no tokenizer returned", what);
    if (st == VKLLM_OK && want != VKLLM_OK) {
        tok_free(t);
        t = NULL;
    }
    if (st) printf("  %-34s -> %s\n", what, err);
    free(dir);
    free(tj);
    free(tc);
    return t;
}

/* A small valid BPE tokenizer.json with the pieces below; %s slots: extra model
 * fields, vocab additions, merges, normalizer, pre_tokenizer, added tokens. */
static char *hf_json(const char *model_extra, const char *vocab_extra, const char *merges, const char *normalizer,
                     const char *pre, const char *added)
{
    static const char fmt[] =
        "{\"version\":\"1.0\",\"added_tokens\":[%s],"
        "\"normalizer\":%s,\"pre_tokenizer\":%s,\"post_processor\":null,"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"" META "\"},"
        "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
        "\"start\":1,\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":false%s,"
        "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"" META "\":3,\"a\":4,\"b\":5,\"" META "a\":6,\"ab\":7,"
        "\"" META "ab\":8%s},\"merges\":[%s]}}";
    size_t n = sizeof fmt + strlen(model_extra) + strlen(vocab_extra) + strlen(merges) + strlen(normalizer) +
               strlen(pre) + strlen(added);
    char *s = malloc(n);
    snprintf(s, n, fmt, added, normalizer, pre, model_extra, vocab_extra, merges);
    return s;
}

#define NORM "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"" META "\"}," \
             "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"" META "\"}]}"
#define MERGES "\"" META " a\",\"a b\",\"" META "a b\""
#define ADDED "{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,\"content\":\"<s>\",\"special\":true}," \
              "{\"id\":2,\"content\":\"</s>\",\"special\":true}"

static void expect_enc(const tokenizer *t, const char *what, const char *text, unsigned flags, const int32_t *want,
                       size_t n_want)
{
    char err[256];
    int32_t *ids = NULL;
    size_t n = 0;
    vkllm_status st = tok_encode(t, text, strlen(text), flags, &ids, &n, err, sizeof err);
    int ok = st == VKLLM_OK && n == n_want && (!n || memcmp(ids, want, n * sizeof *ids) == 0);
    CHECK(ok, "%s: \"%s\" (%s)", what, text, st ? err : "wrong ids");
    if (!ok) {
        for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    free(ids);
}

static void hf_cases(void)
{
    char *j;
    tokenizer *t;

    /* a valid one first: no byte pieces, so unknown characters fuse into one <unk> */
    j = hf_json("", "", MERGES, NORM, "null", ADDED);
    t = hf_case("valid small vocab", j, NULL, VKLLM_OK, NULL, NULL);
    if (t) {
        expect_enc(t, "small", "ab a", 0, (int32_t[]){ 8, 6 }, 2);
        expect_enc(t, "small bos", "ab", TOK_ENCODE_BOS | TOK_ENCODE_EOS, (int32_t[]){ 1, 8, 2 }, 3);
        expect_enc(t, "fused unk", "axyzb", 0, (int32_t[]){ 6, 0, 5 }, 3);
        expect_enc(t, "special", "a</s>", TOK_ENCODE_SPECIAL, (int32_t[]){ 6, 2 }, 2);
        CHECK(!tok_add_bos(t) && !tok_add_eos(t) && tok_bos(t) == 1 && tok_eos(t) == 2, "no post-processor: no BOS");
    }
    tok_free(t);
    free(j);

    /* the same with tokenizer_config.json */
    j = hf_json("", "", MERGES, NORM, "null", ADDED);
    t = hf_case("config", j, "{\"add_bos_token\":true,\"add_eos_token\":true,\"bos_token\":{\"content\":\"</s>\"},"
                "\"eos_token\":\"<s>\"}", VKLLM_OK, NULL, NULL);
    if (t) CHECK(tok_add_bos(t) && tok_add_eos(t) && tok_bos(t) == 2 && tok_eos(t) == 1, "config bos/eos");
    tok_free(t);
    hf_case("config bos not in vocab", j, "{\"bos_token\":\"<bos>\"}", VKLLM_ERR_FORMAT, "tokenizer_config.json",
            "bos_token \"<bos>\" is not in the vocabulary");
    hf_case("config add_bos not a bool", j, "{\"add_bos_token\":\"yes\"}", VKLLM_ERR_FORMAT, "tokenizer_config.json",
            "add_bos_token is not true or false");
    hf_case("config not JSON", j, "{\"add_bos_token\":", VKLLM_ERR_FORMAT, "tokenizer_config.json", "not valid JSON");
    free(j);

    /* Metaspace pre-tokenizer, prepend_scheme first, split: no ▁ after a special token, no merge across words */
    j = hf_json("", "", MERGES, "null",
                "{\"type\":\"Metaspace\",\"replacement\":\"" META "\",\"prepend_scheme\":\"first\",\"split\":true}",
                ADDED);
    t = hf_case("metaspace", j, NULL, VKLLM_OK, NULL, NULL);
    if (t) {
        expect_enc(t, "metaspace first", "ab<s>ab", TOK_ENCODE_SPECIAL, (int32_t[]){ 8, 1, 7 }, 3);
        expect_enc(t, "metaspace leading space", " a", 0, (int32_t[]){ 6 }, 1);
    }
    tok_free(t);
    free(j);

    /* added tokens with lstrip / rstrip swallow the spaces around them */
    j = hf_json("", "", MERGES, NORM, "null",
                ADDED ",{\"id\":9,\"content\":\"[X]\",\"special\":false,\"lstrip\":true,\"rstrip\":true}");
    t = hf_case("lstrip/rstrip", j, NULL, VKLLM_OK, NULL, NULL);
    if (t) {
        expect_enc(t, "strip around [X]", "a  [X]  b", 0, (int32_t[]){ 6, 9, 3, 5 }, 4);
        CHECK(tok_piece_type(t, 9) == TOK_TYPE_USER_DEFINED, "[X] user-defined");
    }
    tok_free(t);
    free(j);

    /* no <unk> and no byte pieces: an unknown character is an error, not a crash */
    j = hf_json("", "", MERGES, NORM, "null", ADDED);
    char *k = strstr(j, "\"unk_token\":\"<unk>\"");
    memcpy(k, "\"unk_token\":null   ", 19);
    t = hf_case("no unk", j, NULL, VKLLM_OK, NULL, NULL);
    if (t) {
        char err[256];
        int32_t *ids = NULL;
        size_t n = 0;
        tu_expect("unknown char without unk", tok_encode(t, "z", 1, 0, &ids, &n, err, sizeof err), err,
                  VKLLM_ERR_UNSUPPORTED, "cannot express", NULL);
        CHECK(ids == NULL, "ids left set");
    }
    tok_free(t);
    free(j);

    /* the errors */
    hf_case("not JSON", "{\"model\": [", NULL, VKLLM_ERR_FORMAT, "tokenizer.json", "not valid JSON");
    hf_case("empty file", "", NULL, VKLLM_ERR_FORMAT, "tokenizer.json", "not valid JSON");
    {
        /* more values than any real tokenizer.json has: refused before cJSON
         * builds its tree (about 80 bytes a value) */
        size_t n = JSON_MAX_VALUES + 1;
        const char *head = "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[", *tail = "0]}}";
        char *big = malloc(strlen(head) + 2 * n + strlen(tail) + 1);
        CHECK(big, "out of memory");
        char *w = big + strlen(strcpy(big, head));
        for (size_t i = 0; i < n; i++, w += 2) memcpy(w, "0,", 2);
        strcpy(w, tail);
        hf_case("too many values", big, NULL, VKLLM_ERR_FORMAT, "tokenizer.json", "JSON values, more than");
        /* the count skips strings (escaped quotes too), counts the rest */
        static const struct { const char *s; size_t want; } counts[] = {
            { "{}", 2 }, { "{\"a\":1}", 2 }, { "{\"a,[{\":[1,2,3]}", 5 },
            { "{\"a\\\",[\":{\"b\":[\"\\\\\"]}}", 4 },
        };
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
            size_t got = json_count_values(counts[i].s, strlen(counts[i].s));
            EXPECT(got == counts[i].want, "json_count_values(%s) = %zu, want %zu", counts[i].s, got, counts[i].want);
        }
        free(big);
    }
    hf_case("top level array", "[]", NULL, VKLLM_ERR_FORMAT, "tokenizer.json", "top level is not a JSON object");
    hf_case("no model", "{}", NULL, VKLLM_ERR_FORMAT, "tokenizer.json", "'model' is missing");
    hf_case("unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", NULL, VKLLM_ERR_UNSUPPORTED, "tokenizer.json",
            "model.type is \"Unigram\"");
    hf_case("wordpiece", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", NULL, VKLLM_ERR_UNSUPPORTED,
            "tokenizer.json", "only \"BPE\"");
    hf_case("no vocab", "{\"model\":{\"type\":\"BPE\",\"merges\":[]}}", NULL, VKLLM_ERR_FORMAT, "tokenizer.json",
            "model.vocab is missing");
    hf_case("no merges", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", NULL, VKLLM_ERR_FORMAT, "tokenizer.json",
            "model.merges is missing");
    hf_case("empty vocab", "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", NULL, VKLLM_ERR_FORMAT,
            "tokenizer.json", "model.vocab is empty");

    static const struct { const char *what, *model_extra, *vocab_extra, *merges, *norm, *pre, *added, *s1, *s2;
                          vkllm_status st; } cases[] = {
        { "negative id", "", ",\"x\":-1", MERGES, NORM, "null", ADDED, "model.vocab[\"x\"]", "not an id", VKLLM_ERR_FORMAT },
        { "fractional id", "", ",\"x\":9.5", MERGES, NORM, "null", ADDED, "model.vocab[\"x\"]", "not an id", VKLLM_ERR_FORMAT },
        { "huge id", "", ",\"x\":1e12", MERGES, NORM, "null", ADDED, "model.vocab[\"x\"]", "not an id", VKLLM_ERR_FORMAT },
        { "string id", "", ",\"x\":\"9\"", MERGES, NORM, "null", ADDED, "model.vocab[\"x\"]", "not an id", VKLLM_ERR_FORMAT },
        { "id gap", "", ",\"x\":10", MERGES, NORM, "null", ADDED, "no piece has id 9", NULL, VKLLM_ERR_FORMAT },
        { "duplicate id", "", ",\"x\":4", MERGES, NORM, "null", ADDED, "both have id 4", NULL, VKLLM_ERR_FORMAT },
        { "merge of a missing piece", "", "", "\"a q\"", NORM, "null", ADDED, "model.merges[0]", "\"q\" is not in model.vocab",
          VKLLM_ERR_FORMAT },
        { "merge result missing", "", "", MERGES ",\"b a\"", NORM, "null", ADDED, "model.merges[3]",
          "\"ba\" is not in model.vocab", VKLLM_ERR_FORMAT },
        { "merge not a string", "", "", MERGES ",7", NORM, "null", ADDED, "model.merges[3] is neither", NULL,
          VKLLM_ERR_FORMAT },
        { "merge with 3 parts", "", "", "\"a b c\"", NORM, "null", ADDED, "model.merges[0] is neither", NULL,
          VKLLM_ERR_FORMAT },
        { "normalizer NFKC", "", "", MERGES, "{\"type\":\"NFKC\"}", "null", ADDED, "normalizer type \"NFKC\"", NULL,
          VKLLM_ERR_UNSUPPORTED },
        { "byte-level", "", "", MERGES, "null", "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", ADDED,
          "ByteLevel", "byte-level BPE", VKLLM_ERR_UNSUPPORTED },
        { "pre_tokenizer Whitespace", "", "", MERGES, "null", "{\"type\":\"Whitespace\"}", ADDED,
          "pre_tokenizer type \"Whitespace\"", NULL, VKLLM_ERR_UNSUPPORTED },
        { "continuing_subword_prefix", ",\"continuing_subword_prefix\":\"##\"", "", MERGES, NORM, "null", ADDED,
          "continuing_subword_prefix", NULL, VKLLM_ERR_UNSUPPORTED },
        { "added token conflicts", "", "", MERGES, NORM, "null", ADDED ",{\"id\":4,\"content\":\"zz\",\"special\":true}",
          "added_tokens: id 4 is \"zz\"", NULL, VKLLM_ERR_FORMAT },
        { "added token without id", "", "", MERGES, NORM, "null", "{\"content\":\"zz\"}", "added_tokens entry", NULL,
          VKLLM_ERR_FORMAT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = hf_json(cases[i].model_extra, cases[i].vocab_extra, cases[i].merges, cases[i].norm, cases[i].pre,
                    cases[i].added);
        hf_case(cases[i].what, j, NULL, cases[i].st, cases[i].s1, cases[i].s2);
        free(j);
    }
    /* unk_token not in the vocabulary */
    j = hf_json("", "", MERGES, NORM, "null", ADDED);
    k = strstr(j, "\"unk_token\":\"<unk>\"");
    memcpy(k, "\"unk_token\":\"<unq>\"", 19);
    hf_case("unk not in vocab", j, NULL, VKLLM_ERR_FORMAT, "model.unk_token \"<unq>\"", NULL);
    free(j);

    /* paths */
    char err[512];
    tokenizer *x = NULL;
    char *empty = tu_path(scratch, "empty-folder"), *missing = tu_path(scratch, "no-such-file.json");
    mkdir(empty, 0755);
    tu_expect("folder without tokenizer.json", tok_load_path(empty, &x, err, sizeof err), err, VKLLM_ERR_IO,
              "empty-folder", "no tokenizer.json", NULL);
    tu_expect("missing file", tok_load_path(missing, &x, err, sizeof err), err, VKLLM_ERR_IO, "no-such-file.json",
              NULL);
    tu_expect("missing file (hf)", tok_load_hf(missing, &x, err, sizeof err), err, VKLLM_ERR_IO, "no-such-file.json",
              NULL);
    CHECK(x == NULL, "tokenizer returned on failure");
    free(empty);
    free(missing);
}

/* ---------------------------------------------------------------- hostile sizes */

/* Tables are sized by the entries a file holds and checks, never by a count
 * or an id it claims. */
static void claimed_sizes(void)
{
    /* one piece claiming the last id: refused before any per-id table exists
     * (it used to calloc ~400 MB for 2^24 pieces first) */
    const char *big_id = "{\"model\":{\"vocab\":{\"a\":16777215},\"merges\":[]}}";
    hf_case("one piece, id 2^24 - 1", big_id, NULL, VKLLM_ERR_FORMAT,
            "model.vocab[\"a\"] is id 16777215, but model.vocab and added_tokens hold only 1 pieces", "0..0");
    char *j = hf_json("", "", MERGES, NORM, "null", ADDED ",{\"id\":9000000,\"content\":\"zz\",\"special\":true}");
    hf_case("added token id 9000000", j, NULL, VKLLM_ERR_FORMAT,
            "added_tokens entry \"zz\" is id 9000000, but model.vocab and added_tokens hold only 13 pieces", NULL);
    free(j);

    /* 60,000 merges that are 3 rules repeated: the table holds 3 rules (it
     * used to be reserved from the array's length: 131072 slots) */
    size_t n_rep = 20000, cap = n_rep * (sizeof MERGES + 1) + 1, o = 0;
    char *merges = malloc(cap);
    for (size_t i = 0; i < n_rep; i++) o += (size_t)snprintf(merges + o, cap - o, "%s" MERGES, i ? "," : "");
    j = hf_json("", "", merges, NORM, "null", ADDED);
    tokenizer *t = hf_case("60000 merges, 3 distinct", j, NULL, VKLLM_OK, NULL, NULL);
    if (t) {
        CHECK(t->merges.n == 3 && t->merges.mask + 1 == 16, "merge table: %u rules in %u slots", t->merges.n,
              t->merges.mask + 1);
        expect_enc(t, "repeated merges", "ab a", 0, (int32_t[]){ 8, 6 }, 2);
    }
    tok_free(t);
    free(j);
    free(merges);
}

/* Special tokens found by the trie against a plain leftmost-longest scan:
 * random specials over a few bytes (sharing prefixes, user-defined and
 * control), random texts; the expected ids are the naive scan's segments
 * each encoded alone (no specials inside), with the specials between. */
static void specials_vs_naive(void)
{
    rng r = { 4242 };
    static const char alpha[] = "<xy>";
    enum { N_SPECIAL = 40 };
    char sp[N_SPECIAL][8];
    int user[N_SPECIAL];
    char added[N_SPECIAL * 80 + 400], vocab[N_SPECIAL * 24];
    size_t ao = (size_t)snprintf(added, sizeof added, "%s", ADDED), vo = 0;
    for (int i = 0; i < N_SPECIAL; i++) {
        int len = 1 + (int)rng_below(&r, 5);
        for (int k = 0; k < len; k++) sp[i][k] = alpha[rng_below(&r, 4)];
        sp[i][len] = 0;
        for (int k = 0; k < i; k++)
            if (!strcmp(sp[k], sp[i])) sp[i][0] = 0; /* no duplicates */
        if (!sp[i][0]) snprintf(sp[i], sizeof sp[i], "<%c%c%c>", 'x' + (i & 1), 'x' + ((i >> 1) & 1), 'y');
        for (int k = 0; k < i; k++)
            if (!strcmp(sp[k], sp[i])) snprintf(sp[i], sizeof sp[i], "y%dx", i);
        user[i] = (int)rng_below(&r, 2);
        vo += (size_t)snprintf(vocab + vo, sizeof vocab - vo, ",\"%s\":%d", sp[i], 9 + i);
        ao += (size_t)snprintf(added + ao, sizeof added - ao, ",{\"id\":%d,\"content\":\"%s\",\"special\":%s}", 9 + i,
                               sp[i], user[i] ? "false" : "true");
    }
    char *j = hf_json("", vocab, MERGES, NORM, "null", added);
    tokenizer *t = hf_case("40 specials", j, NULL, VKLLM_OK, NULL, NULL);
    free(j);
    if (!t) return;
    int bad = 0;
    for (int it = 0; it < 3000 && bad < 5; it++) {
        char text[48];
        int len = (int)rng_below(&r, 40);
        for (int k = 0; k < len; k++) text[k] = "ab <xy>"[rng_below(&r, 7)];
        text[len] = 0;
        unsigned flags = rng_below(&r, 2) ? TOK_ENCODE_SPECIAL : 0;
        int32_t want[200];
        size_t nw = 0;
        int seg = 0;
        for (int p = 0; p <= len;) {
            int best = -1, best_len = 0;
            for (int i = 0; p < len && i < N_SPECIAL; i++) {
                int l = (int)strlen(sp[i]);
                if ((user[i] || (flags & TOK_ENCODE_SPECIAL)) && l > best_len && l <= len - p &&
                    !memcmp(text + p, sp[i], (size_t)l))
                    best = i, best_len = l;
            }
            if (best < 0 && p < len) {
                p++;
                continue;
            }
            if (p > seg) { /* the segment before, alone */
                int32_t *ids = NULL;
                size_t n = 0;
                char err[128];
                if (tok_encode(t, text + seg, (size_t)(p - seg), 0, &ids, &n, err, sizeof err) == VKLLM_OK)
                    for (size_t k = 0; k < n && nw < 200; k++) want[nw++] = ids[k];
                free(ids);
            }
            if (best < 0) break;
            want[nw++] = 9 + best;
            p += best_len;
            seg = p;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        char err[128];
        vkllm_status st = tok_encode(t, text, (size_t)len, flags, &ids, &n, err, sizeof err);
        if (st || n != nw || (n && memcmp(ids, want, n * sizeof *ids))) {
            bad++;
            CHECK(0, "specials: \"%s\" (flags %u): %zu ids, the naive scan gives %zu", text, flags, n, nw);
        }
        free(ids);
    }
    tok_free(t);
}

/* vkllm_detokenize gives the length: a <0x00> piece is a U+0000 inside the text */
static void detokenize_nul(const char *data_dir)
{
    char *p = tu_path(data_dir, "ggml-vocab-llama-spm.gguf"), err[256];
    vkllm_tokenizer *t = NULL;
    CHECK(vkllm_tokenizer_load(p, &t, err, sizeof err) == VKLLM_OK, "load: %s", err);
    free(p);
    if (!t) return;
    int32_t ids[3] = { -1, -1, -1 };
    for (int32_t i = 0; i < (int32_t)vkllm_tokenizer_n_vocab(t) && i < 600; i++) {
        const char *piece = vkllm_token_piece(t, i);
        if (!strcmp(piece, "<0x41>")) ids[0] = ids[2] = i;
        if (!strcmp(piece, "<0x00>")) ids[1] = i;
    }
    char *text = NULL;
    size_t len = 99;
    CHECK(ids[0] >= 0 && ids[1] >= 0 && vkllm_detokenize(t, ids, 3, &text, &len, err, sizeof err) == VKLLM_OK &&
              len == 3 && !memcmp(text, "A\0A", 4), "\"A\\0A\": %zu bytes", len);
    vkllm_free(text);
    text = NULL;
    CHECK(vkllm_detokenize(t, ids, 1, &text, NULL, err, sizeof err) == VKLLM_OK && !strcmp(text, "A"), "len NULL");
    vkllm_free(text);
    int32_t bad = 1 << 20;
    len = 99;
    CHECK(vkllm_detokenize(t, &bad, 1, &text, &len, err, sizeof err) == VKLLM_ERR_INVALID_ARG && len == 0,
          "bad id: %s", err);
    vkllm_tokenizer_free(t);
}

/* ---------------------------------------------------------------- GGUF cases */

typedef struct gb { uint8_t *p; size_t n, cap; uint64_t n_kv; } gb;
static void b_put(gb *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u32(gb *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(gb *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(gb *b, const char *s) { b_u64(b, strlen(s)), b_put(b, s, strlen(s)); }
static void kv_str(gb *b, const char *k, const char *v) { b_str(b, k), b_u32(b, GGUF_TYPE_STRING), b_str(b, v), b->n_kv++; }
static void kv_u32(gb *b, const char *k, uint32_t v) { b_str(b, k), b_u32(b, GGUF_TYPE_UINT32), b_u32(b, v), b->n_kv++; }
static void kv_bool(gb *b, const char *k, int v)
{
    uint8_t x = (uint8_t)v;
    b_str(b, k), b_u32(b, GGUF_TYPE_BOOL), b_put(b, &x, 1), b->n_kv++;
}
static void kv_tokens(gb *b, const char *const *t, uint64_t n)
{
    b_str(b, "tokenizer.ggml.tokens"), b_u32(b, GGUF_TYPE_ARRAY), b_u32(b, GGUF_TYPE_STRING), b_u64(b, n);
    for (uint64_t i = 0; i < n; i++) b_str(b, t[i]);
    b->n_kv++;
}
static void kv_f32s(gb *b, const char *k, const float *v, uint64_t n)
{
    b_str(b, k), b_u32(b, GGUF_TYPE_ARRAY), b_u32(b, GGUF_TYPE_FLOAT32), b_u64(b, n), b_put(b, v, n * 4), b->n_kv++;
}
static void kv_i32s(gb *b, const char *k, const int32_t *v, uint64_t n)
{
    b_str(b, k), b_u32(b, GGUF_TYPE_ARRAY), b_u32(b, GGUF_TYPE_INT32), b_u64(b, n), b_put(b, v, n * 4), b->n_kv++;
}

/* what the GGUF cases vary */
typedef struct gcase {
    const char *model;   /* NULL: no tokenizer.ggml.model */
    uint32_t n_tokens, n_scores, n_types; /* 0: key absent */
    float bad_score;     /* written at score 5 when non-zero */
    int32_t bad_type;    /* written at type 5 when non-zero */
    uint32_t bos;        /* 0: key absent */
    int add_bos;         /* -1: key absent */
} gcase;

static const char *const g_tokens[9] = { "<unk>", "<s>", "</s>", META, "a", "b", META "a", "ab", META "ab" };
static const float g_scores[9] = { 0, 0, 0, -1, -2, -3, -4, -5, -6 };
static const int32_t g_types[9] = { 2, 3, 3, 1, 1, 1, 1, 1, 1 };

static tokenizer *gguf_case(const char *what, gcase c, vkllm_status want, const char *s1, const char *s2)
{
    gb b = { 0 };
    if (c.model) kv_str(&b, "tokenizer.ggml.model", c.model);
    if (c.n_tokens) kv_tokens(&b, g_tokens, c.n_tokens);
    float sc[9];
    int32_t ty[9];
    memcpy(sc, g_scores, sizeof sc);
    memcpy(ty, g_types, sizeof ty);
    if (c.bad_score != 0) sc[5] = c.bad_score;
    if (c.bad_type) ty[5] = c.bad_type;
    if (c.n_scores) kv_f32s(&b, "tokenizer.ggml.scores", sc, c.n_scores);
    if (c.n_types) kv_i32s(&b, "tokenizer.ggml.token_type", ty, c.n_types);
    if (c.bos) kv_u32(&b, "tokenizer.ggml.bos_token_id", c.bos);
    if (c.add_bos >= 0) kv_bool(&b, "tokenizer.ggml.add_bos_token", c.add_bos);
    gb f = { 0 };
    b_put(&f, "GGUF", 4), b_u32(&f, 3), b_u64(&f, 0), b_u64(&f, b.n_kv);
    b_put(&f, b.p, b.n);
    char *path = tu_path(scratch, "tok.gguf"), err[512] = "";
    tu_write(path, f.p, f.n);
    tokenizer *t = NULL;
    vkllm_status st = tok_load_path(path, &t, err, sizeof err);
    tu_expect(what, st, err, want, st ? "tok.gguf" : "", s1 ? s1 : "", s2 ? s2 : "", NULL);
    if (st) printf("  %-34s -> %s\n", what, err);
    if (st == VKLLM_OK && want != VKLLM_OK) {
        tok_free(t);
        t = NULL;
    }
    free(path);
    free(b.p);
    free(f.p);
    return t;
}

static void gguf_cases(void)
{
    const gcase ok = { "llama", 9, 9, 9, 0, 0, 0, -1 };
    tokenizer *t = gguf_case("valid small GGUF", ok, VKLLM_OK, NULL, NULL);
    if (t) {
        /* no byte pieces: an unknown character is one <unk> each (no fusing in SentencePiece) */
        expect_enc(t, "gguf small", "ab a", 0, (int32_t[]){ 8, 6 }, 2);
        expect_enc(t, "gguf unk", "axyb", TOK_ENCODE_BOS, (int32_t[]){ 1, 6, 0, 0, 5 }, 5);
        CHECK(tok_add_bos(t) && tok_bos(t) == 1 && tok_eos(t) == 2 && tok_unk(t) == 0, "gguf defaults");
    }
    tok_free(t);
    gcase c = ok;
    c.n_scores = c.n_types = 0, c.add_bos = 0;
    t = gguf_case("no scores / types", c, VKLLM_OK, NULL, NULL);
    if (t) CHECK(!tok_add_bos(t), "add_bos false");
    tok_free(t);

    c = ok, c.model = "gpt2";
    gguf_case("gpt2 model", c, VKLLM_ERR_UNSUPPORTED, "tokenizer.ggml.model is \"gpt2\"", "byte-level BPE");
    c = ok, c.model = "bert";
    gguf_case("bert model", c, VKLLM_ERR_UNSUPPORTED, "\"bert\" (WordPiece)", "only \"llama\"");
    c = ok, c.model = NULL;
    gguf_case("no tokenizer.ggml.model", c, VKLLM_ERR_FORMAT, "'tokenizer.ggml.model' is missing", NULL);
    c = ok, c.n_tokens = 0;
    gguf_case("no tokens", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.tokens", NULL);
    c = ok, c.n_scores = 8;
    gguf_case("scores count", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.scores has 8 entries but tokenizer.ggml.tokens has 9",
              NULL);
    c = ok, c.n_types = 7;
    gguf_case("types count", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.token_type has 7 entries", NULL);
    c = ok, c.bad_score = NAN;
    gguf_case("NaN score", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.scores[5] is NaN", NULL);
    c = ok, c.bad_type = 9;
    gguf_case("bad token type", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.token_type[5] is 9", NULL);
    c = ok, c.bos = 99;
    gguf_case("bos out of range", c, VKLLM_ERR_FORMAT, "tokenizer.ggml.bos_token_id is 99", "9 tokens");

    /* a GGUF magic on a broken file goes through the GGUF reader's checks */
    char *path = tu_path(scratch, "cut.gguf"), err[512];
    tu_write(path, "GGUF\3\0\0\0", 8);
    tokenizer *x = NULL;
    tu_expect("truncated GGUF", tok_load_path(path, &x, err, sizeof err), err, VKLLM_ERR_FORMAT, "cut.gguf", "truncated",
              NULL);
    free(path);
}

/* ---------------------------------------------------------------- API misuse */

static void misuse(const char *data_dir)
{
    char *p = tu_path(data_dir, "ggml-vocab-llama-spm.gguf"), err[256];
    tokenizer *t = NULL;
    CHECK(tok_load_path(p, &t, err, sizeof err) == VKLLM_OK, "load: %s", err);
    free(p);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    tu_expect("encode NULL text", tok_encode(t, NULL, 3, 0, &ids, &n, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "NULL", NULL);
    CHECK(tok_encode(t, NULL, 0, 0, &ids, &n, err, sizeof err) == VKLLM_OK && n == 0 && ids, "encode NULL, 0");
    free(ids);
    char *s = NULL;
    int32_t bad[2] = { 5, 32000 };
    tu_expect("decode bad id", tok_decode(t, bad, 2, 0, &s, NULL, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "id 32000 at position 1", NULL);
    CHECK(s == NULL, "text set on failure");
    tok_decoder d;
    tok_decoder_init(&d, t, 0);
    char small[4];
    size_t k = 99;
    CHECK(tok_decoder_next(&d, 5, small, sizeof small, &k) == VKLLM_ERR_INVALID_ARG && k == 0, "small buffer refused");
    char big[256];
    CHECK(tok_decoder_next(&d, -1, big, sizeof big, &k) == VKLLM_ERR_INVALID_ARG, "negative id refused");
    tok_free(t);
    tok_free(NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    scratch = argv[2];
    if (!tu_scratch(scratch)) {
        printf("FAIL cannot create %s\n", scratch);
        return 1;
    }
    hf_cases();
    claimed_sizes();
    specials_vs_naive();
    detokenize_nul(argv[1]);
    gguf_cases();
    misuse(argv[1]);
    tu_rmtree(scratch);
    printf("%s (%d failures)\n", tu_failures ? "FAILED" : "ok", tu_failures);
    return tu_failures != 0;
}
