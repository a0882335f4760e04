/* The tokenizer against reference ids and against itself:
 *   - Mistral/SOLAR tokenizer.json + cases.json (ids from an independent
 *     implementation that agrees with HF tokenizers),
 *   - Llama-2 GGUF vocab + llama.cpp's .inp/.out (ids from HF),
 *   - our own edge cases on both vocabularies, checked for consistency
 *     (decode(encode(x)) == x, streaming == whole decode, known ids),
 *   - random strings against a naive O(n^2) BPE written here (both merge
 *     rules), so the heap and the stale-pair logic are checked,
 *   - the test-model generator's vocabulary in both formats: same ids.
 * usage: test_tokenizer DATA_DIR SCRATCH_DIR */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "model_util.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"
#include "util/rng.h"

static const char *data_dir;

static char *data_path(const char *name) { return tu_path(data_dir, name); }

static tokenizer *load(const char *path)
{
    char err[512];
    tokenizer *t = NULL;
    vkllm_status st = tok_load_path(path, &t, err, sizeof err);
    if (st) {
        printf("FAIL loading %s: %s: %s\n", path, vkllm_status_name(st), err);
        tu_failures++;
        return NULL;
    }
    return t;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    printf("    %s:", label);
    for (size_t i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* Encodes text and compares with want[n_want]. Returns 1 on match. */
static int expect_ids(const tokenizer *t, const char *what, const char *text, size_t len, unsigned flags,
                      const int32_t *want, size_t n_want)
{
    char err[256];
    int32_t *ids = NULL;
    size_t n = 0;
    vkllm_status st = tok_encode(t, text, len, flags, &ids, &n, err, sizeof err);
    int ok = st == VKLLM_OK && n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        tu_failures++;
        printf("FAIL %s: \"%.*s\"%s%s\n", what, (int)(len > 80 ? 80 : len), text, st ? " error: " : "", st ? err : "");
        print_ids("got ", ids, n);
        print_ids("want", want, n_want);
    }
    free(ids);
    return ok;
}

/* Decodes ids whole and one at a time (checking each chunk is valid UTF-8
 * when `valid`), compares with text if non-NULL. */
static void expect_decode(const tokenizer *t, const char *what, const int32_t *ids, size_t n, unsigned flags,
                          const char *text, size_t len, int valid)
{
    char err[256], *whole = NULL;
    size_t whole_len = 0;
    vkllm_status st = tok_decode(t, ids, n, flags, &whole, &whole_len, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: decode: %s", what, err);
    if (st) return;
    if (text)
        CHECK(whole_len == len && memcmp(whole, text, len) == 0, "%s: decoded \"%s\" want \"%.*s\"", what, whole,
              (int)len, text);
    size_t cap = tok_decode_bound(t), got_len = 0;
    char *chunk = malloc(cap), *got = malloc(whole_len + cap + 1);
    tok_decoder d;
    tok_decoder_init(&d, t, flags);
    for (size_t i = 0; i <= n && chunk && got; i++) {
        size_t k = 0;
        st = i < n ? tok_decoder_next(&d, ids[i], chunk, cap, &k) : tok_decoder_flush(&d, chunk, cap, &k);
        CHECK(st == VKLLM_OK, "%s: decoder_next", what);
        if (valid)
            for (size_t o = 0; o < k;) {
                uint32_t cl = tok_utf8_len((const uint8_t *)chunk + o, k - o);
                CHECK(cl, "%s: chunk %zu is not complete UTF-8 at byte %zu", what, i, o);
                o += cl ? cl : 1;
            }
        if (got_len + k <= whole_len) memcpy(got + got_len, chunk, k);
        got_len += k;
    }
    CHECK(got && got_len == whole_len && memcmp(got, whole, whole_len) == 0, "%s: streaming decode differs", what);
    free(chunk);
    free(got);
    free(whole);
}

static void round_trip(const tokenizer *t, const char *what, const char *text, size_t len)
{
    char err[256];
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tok_encode(t, text, len, TOK_ENCODE_BOS, &ids, &n, err, sizeof err) == VKLLM_OK, "%s: %s", what, err);
    expect_decode(t, what, ids, n, 0, text, len, 1);
    free(ids);
}

/* ---------------------------------------------------------------- fixtures */

static int parse_ids(const char *s, int32_t *ids, size_t cap)
{
    int n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        if ((size_t)n < cap) ids[n] = (int32_t)v;
        n++;
        s = end;
    }
    return n;
}

static void test_llama_inp_out(const tokenizer *t)
{
    char *inp_path = data_path("ggml-vocab-llama-spm.gguf.inp"), *out_path = data_path("ggml-vocab-llama-spm.gguf.out");
    size_t ni = 0, no = 0;
    char *inp = (char *)tu_read(inp_path, &ni), *out = (char *)tu_read(out_path, &no);
    CHECK(inp && out, "reading %s / %s", inp_path, out_path);
    if (inp && out) {
        inp = realloc(inp, ni + 1), inp[ni] = 0;
        out = realloc(out, no + 1), out[no] = 0;
        static const char sep[] = "\n__ggml_vocab_test__\n";
        char *p = inp, *line = out;
        int cases = 0, pass = 0;
        static int32_t want[4096];
        for (char *q; (q = strstr(p, sep)); p = q + strlen(sep)) {
            char *nl = strchr(line, '\n');
            if (!nl) break;
            *nl = 0;
            int nw = parse_ids(line, want, 4096);
            line = nl + 1;
            cases++;
            pass += expect_ids(t, "llama-spm", p, (size_t)(q - p), TOK_ENCODE_SPECIAL, want, (size_t)nw);
            expect_decode(t, "llama-spm decode", want, (size_t)nw, 0, p, (size_t)(q - p), 1);
        }
        printf("llama-spm GGUF: %d/%d of llama.cpp's cases match\n", pass, cases);
        CHECK(cases == 46, "%d cases in the .inp", cases);
    }
    free(inp);
    free(out);
    free(inp_path);
    free(out_path);
}

static void test_mistral_cases(const tokenizer *t)
{
    char *path = data_path("solar-mistral/cases.json");
    size_t n = 0;
    char *s = (char *)tu_read(path, &n);
    cJSON *j = s ? cJSON_ParseWithLength(s, n) : NULL;
    CHECK(cJSON_IsArray(j), "parsing %s", path);
    int cases = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
        const cJSON *ids = cJSON_GetObjectItem(c, "ids"), *x;
        int32_t want[4096];
        size_t nw = 0;
        cJSON_ArrayForEach(x, ids) if (nw < 4096) want[nw++] = (int32_t)x->valuedouble;
        if (!text) continue;
        cases++;
        pass += expect_ids(t, "solar-mistral", text, strlen(text), TOK_ENCODE_SPECIAL, want, nw);
        expect_decode(t, "solar-mistral decode", want, nw, 0, text, strlen(text), 1);
    }
    printf("solar-mistral tokenizer.json: %d/%d cases match\n", pass, cases);
    CHECK(cases == 56, "%d cases", cases);
    cJSON_Delete(j);
    free(s);
    free(path);
}

/* ---------------------------------------------------------------- own cases */

static int32_t one(const tokenizer *t, const char *piece) { return tok_find(t, piece, strlen(piece)); }

static void test_edge_cases(const tokenizer *t, const char *name)
{
    char what[128];
    int32_t sp = one(t, "\xe2\x96\x81"); /* '▁' alone */
    CHECK(sp > 0 && tok_bos(t) == 1 && tok_eos(t) == 2 && tok_unk(t) == 0 && tok_add_bos(t) && !tok_add_eos(t),
          "%s: ids of ▁ / bos / eos / unk / defaults", name);
    CHECK(tok_n_vocab(t) == 32000, "%s: n_vocab %u", name, tok_n_vocab(t));
    size_t pl = 0;
    CHECK(strcmp(tok_piece(t, 1, &pl), "<s>") == 0 && pl == 3 && tok_piece(t, 32000, NULL) == NULL &&
              tok_piece(t, -1, NULL) == NULL && tok_piece_type(t, 1) == TOK_TYPE_CONTROL &&
              tok_piece_type(t, 3) == TOK_TYPE_BYTE && tok_piece_type(t, 0) == TOK_TYPE_UNKNOWN,
          "%s: tok_piece", name);

    /* empty text: nothing, or just BOS / EOS */
    int32_t be[2] = { 1, 2 };
    expect_ids(t, "empty", "", 0, 0, NULL, 0);
    expect_ids(t, "empty+bos+eos", "", 0, TOK_ENCODE_BOS | TOK_ENCODE_EOS, be, 2);

    /* invalid UTF-8: each invalid byte goes to its byte piece */
    int32_t ff[3] = { sp, 3 + 0xFF, 3 + 0xFE };
    expect_ids(t, "\\xff\\xfe", "\xff\xfe", 2, 0, ff, 3);
    int32_t cont[2] = { sp, 3 + 0x80 };
    expect_ids(t, "lone continuation byte", "\x80", 1, 0, cont, 2);
    /* a truncated 3-byte character followed by ASCII: the 'a' is kept apart */
    char buf[64];
    int32_t *ids = NULL;
    size_t n = 0;
    char err[256];
    CHECK(tok_encode(t, "\xe2\x96" "a", 3, 0, &ids, &n, err, sizeof err) == VKLLM_OK && n == 4 && ids[0] == sp &&
              ids[1] == 3 + 0xE2 && ids[2] == 3 + 0x96 && ids[3] == one(t, "a"),
          "%s: truncated character", name);
    free(ids);
    /* decoding invalid bytes: one U+FFFD per byte, SentencePiece style */
    int32_t bad[2] = { 3 + 0xFF, 3 + 0xFE };
    expect_decode(t, "decode \\xff\\xfe", bad, 2, 0, "\xef\xbf\xbd\xef\xbf\xbd", 6, 1);
    int32_t cut[3] = { 3 + 0xE2, 3 + 0x96, one(t, "\xe2\x96\x81" "a") };
    expect_decode(t, "decode cut character", cut, 3, 0, "\xef\xbf\xbd\xef\xbf\xbd a", 8, 1);
    int32_t tail[1] = { 3 + 0xC3 };
    expect_decode(t, "decode unfinished at the end", tail, 1, 0, "\xef\xbf\xbd", 3, 1);
    int32_t e_acute[3] = { 1, 3 + 0xC3, 3 + 0xA9 };
    expect_decode(t, "decode é from bytes after BOS", e_acute, 3, 0, "\xc3\xa9", 2, 1);
    expect_decode(t, "decode with specials", e_acute, 3, TOK_DECODE_SPECIAL, "<s>\xc3\xa9", 5, 1);
    /* bytes around a skipped control token still join */
    int32_t split_ctl[3] = { 3 + 0xC3, 2, 3 + 0xA9 };
    expect_decode(t, "decode bytes around </s>", split_ctl, 3, 0, "\xc3\xa9", 2, 1);
    /* leading-space rule: only the first space of the text goes */
    int32_t spaces[3] = { sp, sp, one(t, "\xe2\x96\x81" "a") };
    expect_decode(t, "decode ▁ ▁ ▁a", spaces, 3, 0, "  a", 3, 1);
    int32_t rendered[2] = { 1, one(t, "\xe2\x96\x81" "a") };
    expect_decode(t, "decode <s> ▁a rendered", rendered, 2, TOK_DECODE_SPECIAL, "<s> a", 5, 1);

    /* "<s>" in the text: a control token with TOK_ENCODE_SPECIAL, plain text without */
    int32_t *a = NULL, *b = NULL, *ab = NULL;
    size_t na = 0, nb = 0, nab = 0;
    tok_encode(t, "a", 1, 0, &a, &na, err, sizeof err);
    tok_encode(t, "b", 1, 0, &b, &nb, err, sizeof err);
    int32_t want[16];
    size_t nw = 0;
    for (size_t i = 0; i < na && nw < 16; i++) want[nw++] = a[i];
    want[nw++] = 1;
    for (size_t i = 0; i < nb && nw < 16; i++) want[nw++] = b[i];
    snprintf(what, sizeof what, "%s: a<s>b", name);
    expect_ids(t, what, "a<s>b", 5, TOK_ENCODE_SPECIAL, want, nw);
    CHECK(tok_encode(t, "a<s>b", 5, 0, &ab, &nab, err, sizeof err) == VKLLM_OK && nab > 3, "%s: a<s>b as text", name);
    for (size_t i = 0; i < nab; i++) CHECK(ab[i] != 1, "%s: <s> matched without TOK_ENCODE_SPECIAL", name);
    expect_decode(t, "a<s>b as text", ab, nab, 0, "a<s>b", 5, 1);
    free(a);
    free(b);
    free(ab);
    int32_t only[1] = { 1 };
    expect_ids(t, "only <s>", "<s>", 3, TOK_ENCODE_SPECIAL, only, 1);
    int32_t unk_eos[2] = { 0, 2 };
    expect_ids(t, "<unk></s>", "<unk></s>", 9, TOK_ENCODE_SPECIAL, unk_eos, 2);

    /* round trips (valid UTF-8, no special tokens) */
    static const char *const texts[] = {
        " ", "   ", "a  b   c    d", "\n", "\t\t", "line one\nline two\r\n\ttabbed", "0123456789 3.14159 -42",
        "emoji \xf0\x9f\xa6\x99\xf0\x9f\x9a\x80 and \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f",
        "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95\xef\xbc\x8c\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "   leading and trailing   ", "a\x01" "b\x7f" "c", "\xf4\x8f\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        snprintf(what, sizeof what, "%s: round trip %zu", name, i);
        round_trip(t, what, texts[i], strlen(texts[i]));
    }
    /* a literal '▁' in the text is the same as a space (SentencePiece cannot tell them apart) */
    int32_t *m1 = NULL, *m2 = NULL;
    size_t n1 = 0, n2 = 0;
    tok_encode(t, "x\xe2\x96\x81y \xe2\x96\x81", 9, 0, &m1, &n1, err, sizeof err);
    tok_encode(t, "x y  ", 5, 0, &m2, &n2, err, sizeof err);
    CHECK(m1 && m2 && n1 == n2 && memcmp(m1, m2, n1 * sizeof *m1) == 0, "%s: literal ▁ differs from a space", name);
    free(m1);
    free(m2);
    /* known ids (the same on both vocabularies: bytes and the lone ▁) */
    int32_t nl[2] = { sp, 3 + '\n' };
    expect_ids(t, "newline", "\n", 1, 0, nl, 2);
    int32_t nul[2] = { sp, 3 };
    expect_ids(t, "NUL byte", "\0", 1, 0, nul, 2);
    (void)buf;
}

/* ---------------------------------------------------------------- naive oracle */

/* Plain O(n^2) BPE, written from the rules, not the library: symbols are
 * strings; repeatedly merge the best adjacent pair (GGUF: highest score of the
 * concatenation; HF: lowest merge rank), leftmost on ties. */
typedef struct naive_merge { char *key; int rank; } naive_merge; /* key: "a b" */

static int cmp_merge(const void *a, const void *b)
{
    return strcmp(((const naive_merge *)a)->key, ((const naive_merge *)b)->key);
}

/* dst = a sep b (sep 0: none); 0 when it does not fit in cap */
static int join(char *dst, size_t cap, const char *a, char sep, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), ls = sep ? 1 : 0;
    if (la + ls + lb + 1 > cap) return 0;
    memcpy(dst, a, la);
    if (sep) dst[la] = sep;
    memcpy(dst + la + ls, b, lb + 1);
    return 1;
}

static int naive_rank(const naive_merge *m, size_t n, const char *a, const char *b)
{
    char key[256];
    if (!join(key, sizeof key, a, ' ', b)) return -1;
    naive_merge k = { key, 0 };
    const naive_merge *f = bsearch(&k, m, n, sizeof *m, cmp_merge);
    return f ? f->rank : -1;
}

static size_t naive_encode(const tokenizer *t, const naive_merge *m, size_t nm, const char *text, int32_t *out)
{
    char norm[4096], sym[1024][64];
    size_t ns = 0, o = 0, n_out = 0;
    if (!*text) return 0;
    o = (size_t)snprintf(norm, sizeof norm, "\xe2\x96\x81");
    for (const char *p = text; *p; p++) o += (size_t)snprintf(norm + o, sizeof norm - o, "%s", *p == ' ' ? "\xe2\x96\x81" : (char[2]){ *p, 0 });
    for (size_t i = 0; i < o;) {
        uint32_t cl = tok_utf8_len((const uint8_t *)norm + i, o - i);
        if (!cl) cl = 1;
        memcpy(sym[ns], norm + i, cl);
        sym[ns++][cl] = 0;
        i += cl;
    }
    if (m) /* HF: characters that are no piece become byte symbols before merging */
        for (size_t i = 0; i < ns; i++)
            if (tok_find(t, sym[i], strlen(sym[i])) < 0) {
                size_t l = strlen(sym[i]);
                memmove(sym[i + l], sym[i + 1], (ns - i - 1) * sizeof sym[0]);
                char c[4];
                memcpy(c, sym[i], l);
                for (size_t k = 0; k < l; k++) snprintf(sym[i + k], 64, "<0x%02X>", (uint8_t)c[k]);
                ns += l - 1;
                i += l - 1;
            }
    for (;;) {
        int best = -1;
        double best_key = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            double key;
            if (m) {
                int r = naive_rank(m, nm, sym[i], sym[i + 1]);
                if (r < 0) continue;
                key = r;
            } else {
                char cat[128];
                if (!join(cat, sizeof cat, sym[i], 0, sym[i + 1])) continue;
                int32_t id = tok_find(t, cat, strlen(cat));
                if (id < 0 || tok_piece_type(t, id) != TOK_TYPE_NORMAL) continue;
                key = -t->score[id];
            }
            if (best < 0 || key < best_key) best = (int)i, best_key = key;
        }
        if (best < 0) break;
        char cat[128];
        join(cat, sizeof cat, sym[best], 0, sym[best + 1]);
        if (strlen(cat) >= sizeof sym[0]) break; /* (pieces are shorter) */
        memcpy(sym[best], cat, strlen(cat) + 1);
        memmove(sym[best + 1], sym[best + 2], (ns - best - 2) * sizeof sym[0]);
        ns--;
    }
    for (size_t i = 0; i < ns; i++) {
        int32_t id = tok_find(t, sym[i], strlen(sym[i]));
        if (id >= 0 && (m || tok_piece_type(t, id) == TOK_TYPE_NORMAL)) out[n_out++] = id;
        else
            for (const char *p = sym[i]; *p; p++) out[n_out++] = 3 + (uint8_t)*p;
    }
    return n_out;
}

static naive_merge *read_merges(const char *path, size_t *n)
{
    size_t len = 0;
    char *s = (char *)tu_read(path, &len);
    cJSON *j = s ? cJSON_ParseWithLength(s, len) : NULL;
    const cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "merges"), *x;
    naive_merge *m = calloc((size_t)cJSON_GetArraySize(merges) + 1, sizeof *m);
    *n = 0;
    cJSON_ArrayForEach(x, merges) {
        m[*n].key = strdup(x->valuestring);
        m[*n].rank = (int)*n;
        ++*n;
    }
    qsort(m, *n, sizeof *m, cmp_merge);
    cJSON_Delete(j);
    free(s);
    return m;
}

static void test_against_naive(const tokenizer *t, const naive_merge *m, size_t nm, const char *name, uint64_t seed)
{
    static const char *const frag[] = {
        "a", "e", "t", "th", "the", "he", "in", "ing", "tion", " ", "  ", "   ", "\n", "\t", "é", "ü", "ß",
        "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\xa6\x99", "\xe1\x9e\x80", "1", "23", "0", ".", ",", "!", "'s", "x", "q",
        "Hello", "world", "\xe2\x96\x81", "ab", "ba", "aaa", "zz", "\xd0\xbd\xd0\xb5", "k", "\xce\xb1",
    };
    const size_t n_frag = sizeof frag / sizeof frag[0];
    rng r;
    r.s = seed;
    int fails = 0;
    for (int it = 0; it < 400 && fails < 5; it++) {
        char text[512];
        size_t o = 0;
        int nf = (int)(rng_below(&r, (uint32_t)24));
        for (int k = 0; k < nf; k++) o += (size_t)snprintf(text + o, sizeof text - o, "%s", frag[rng_below(&r, (uint32_t)n_frag)]);
        text[o] = 0;
        int32_t want[2048];
        size_t nw = naive_encode(t, m, nm, text, want);
        char what[64];
        snprintf(what, sizeof what, "%s vs naive BPE", name);
        if (!expect_ids(t, what, text, o, 0, want, nw)) fails++;
    }
}

/* ---------------------------------------------------------------- generator vocab */

static void test_gen_vocab(const char *scratch)
{
    gen_params p;
    gen_preset("tiny", &p);
    char err[512];
    char *gg = tu_path(scratch, "tiny.gguf"), *hf = tu_path(scratch, "tiny-hf"), *hfj = tu_path(hf, "tokenizer.json");
    CHECK(gen_write_gguf(&p, gg, err, sizeof err) == VKLLM_OK, "gen gguf: %s", err);
    CHECK(gen_write_hf(&p, hf, err, sizeof err) == VKLLM_OK, "gen hf: %s", err);
    tokenizer *a = load(gg), *b = load(hf), *c = load(hfj);
    if (a && b && c) {
        CHECK(tok_n_vocab(a) == p.n_vocab && tok_n_vocab(b) == p.n_vocab && tok_n_vocab(c) == p.n_vocab, "gen n_vocab");
        CHECK(tok_bos(a) == 1 && tok_bos(b) == 1 && tok_eos(a) == 2 && tok_eos(b) == 2 && tok_add_bos(a) &&
                  tok_add_bos(b) && !tok_add_eos(a) && !tok_add_eos(b),
              "gen bos/eos");
        rng r;
        r.s = 7;
        for (int it = 0; it < 300; it++) {
            char text[256];
            int n = (int)(rng_below(&r, (uint32_t)60));
            for (int k = 0; k < n; k++) {
                uint32_t x = rng_below(&r, (uint32_t)40);
                text[k] = x < 26 ? (char)('a' + x) : x < 34 ? ' ' : x < 36 ? 'Z' : x < 38 ? '\n' : '<';
            }
            text[n] = 0;
            int32_t *ia = NULL, *ib = NULL;
            size_t na = 0, nb = 0;
            tok_encode(a, text, (size_t)n, TOK_ENCODE_BOS | TOK_ENCODE_SPECIAL, &ia, &na, err, sizeof err);
            tok_encode(b, text, (size_t)n, TOK_ENCODE_BOS | TOK_ENCODE_SPECIAL, &ib, &nb, err, sizeof err);
            int same = ia && ib && na == nb && memcmp(ia, ib, na * sizeof *ia) == 0;
            CHECK(same, "gen vocab: GGUF and tokenizer.json disagree on \"%s\"", text);
            if (!same) {
                print_ids("gguf", ia, na);
                print_ids("hf  ", ib, nb);
            }
            if (ia) expect_decode(a, "gen round trip", ia, na, 0, text, (size_t)n, 1);
            free(ia);
            free(ib);
        }
        /* a word the vocabulary holds whole becomes one piece */
        int32_t want[3] = { 1, tok_find(a, "\xe2\x96\x81" "q", 4), tok_find(a, "z", 1) };
        CHECK(want[1] > 0 && want[2] > 0, "gen pieces ▁q, z");
        expect_ids(a, "gen ▁q z", "qz", 2, TOK_ENCODE_BOS, want, 3);
        expect_ids(b, "gen ▁q z (hf)", "qz", 2, TOK_ENCODE_BOS, want, 3);
    }
    tok_free(a);
    tok_free(b);
    tok_free(c);
    free(gg);
    free(hf);
    free(hfj);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    if (!tu_scratch(argv[2])) {
        printf("FAIL cannot create %s\n", argv[2]);
        return 1;
    }
    uint64_t seed = getenv("VKLLM_TEST_SEED") ? strtoull(getenv("VKLLM_TEST_SEED"), NULL, 0) : 12345;
    printf("seed %llu\n", (unsigned long long)seed);

    char *gguf = data_path("ggml-vocab-llama-spm.gguf"), *mistral = data_path("solar-mistral"),
         *mistral_json = data_path("solar-mistral/tokenizer.json");
    tokenizer *llama = load(gguf), *mist = load(mistral);
    if (llama) {
        test_llama_inp_out(llama);
        test_edge_cases(llama, "llama-spm");
        test_against_naive(llama, NULL, 0, "llama-spm", seed);
    }
    if (mist) {
        test_mistral_cases(mist);
        test_edge_cases(mist, "solar-mistral");
        size_t nm = 0;
        naive_merge *m = read_merges(mistral_json, &nm);
        CHECK(nm == 58980, "%zu merges", nm);
        test_against_naive(mist, m, nm, "solar-mistral", seed);
        for (size_t i = 0; i < nm; i++) free(m[i].key);
        free(m);
    }
    test_gen_vocab(argv[2]);
    tok_free(llama);
    tok_free(mist);
    free(gguf);
    free(mistral);
    free(mistral_json);
    tu_rmtree(argv[2]);
    printf("%s (%d failures)\n", tu_failures ? "FAILED" : "ok", tu_failures);
    return tu_failures != 0;
}
