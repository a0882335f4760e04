/* Loading a tokenizer: from GGUF metadata (tokenizer.ggml.*) or a Hugging
 * Face tokenizer.json (+ tokenizer_config.json). See tokenizer.h. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/plat.h"

#include "model/json_file.h"
#include "model/mfile.h"
#include "text/tokenizer_internal.h"

#define META "\xe2\x96\x81" /* U+2581 '▁' */
#define JSON_MAX_BYTES (64u << 20)

/* Copies the pieces into one NUL-separated blob. texts[i] / lens[i]. */
static vkllm_status fill_blob(tokenizer *t, const char *const *texts, const uint32_t *lens, const char *path,
                              const char *field, char *err, size_t err_len)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        if (lens[i] > TOK_MAX_PIECE_BYTES)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %s: piece %u is %u bytes long (at most %u allowed)",
                            path, field, i, lens[i], TOK_MAX_PIECE_BYTES);
        total += lens[i] + 1u;
    }
    t->blob = malloc(total ? total : 1);
    if (!t->blob) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory for the pieces", path);
    uint32_t o = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        t->off[i] = o;
        t->len[i] = lens[i];
        if (lens[i]) memcpy(t->blob + o, texts[i], lens[i]);
        t->blob[o + lens[i]] = 0;
        o += lens[i] + 1;
    }
    return VKLLM_OK;
}

/* ---------------------------------------------------------------- GGUF */

/* An optional token-id key: absent -> def; -1 / 0xFFFFFFFF -> -1 (none); else must be < n. */
static vkllm_status gguf_id(const gguf_file *g, const char *key, int32_t def, uint32_t n, int32_t *out, char *err,
                            size_t err_len)
{
    *out = def < (int64_t)n ? def : -1;
    if (!gguf_find(g, key)) return VKLLM_OK;
    int32_t i = 0;
    uint64_t u = 0;
    if (gguf_get_i32(g, key, &i, NULL, 0) == VKLLM_OK) {
        u = i < 0 ? UINT32_MAX : (uint64_t)i;
    } else {
        vkllm_status st = gguf_get_u64(g, key, &u, err, err_len);
        if (st) return st;
    }
    if (u == UINT32_MAX || u == UINT64_MAX) {
        *out = -1;
        return VKLLM_OK;
    }
    if (u >= n)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %s is %" PRIu64 ", outside the %u tokens of tokenizer.ggml.tokens",
                        g->map.path, key, u, n);
    *out = (int32_t)u;
    return VKLLM_OK;
}

static vkllm_status gguf_flag(const gguf_file *g, const char *key, bool def, bool *out, char *err, size_t err_len)
{
    *out = def;
    if (!gguf_find(g, key)) return VKLLM_OK;
    int b = 0;
    vkllm_status st = gguf_get_bool(g, key, &b, err, err_len);
    if (!st) *out = b != 0;
    return st;
}

static const char *gguf_model_kind(gguf_str m)
{
    return gguf_str_eq(m, "gpt2") ? "byte-level BPE" : gguf_str_eq(m, "bert") ? "WordPiece"
         : gguf_str_eq(m, "t5") ? "SentencePiece Unigram" : gguf_str_eq(m, "rwkv") ? "RWKV"
         : gguf_str_eq(m, "no_vocab") ? "no vocabulary" : "unknown kind";
}

vkllm_status tok_load_gguf(const gguf_file *g, tokenizer **out, char *err, size_t err_len)
{
    if (!g || !out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_load_gguf: NULL argument");
    *out = NULL;
    const char *path = g->map.path;
    if (!gguf_find(g, "tokenizer.ggml.model"))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key 'tokenizer.ggml.model' is missing (no tokenizer)",
                        path);
    gguf_str model;
    vkllm_status st = gguf_get_str(g, "tokenizer.ggml.model", &model, err, err_len);
    if (st) return st;
    if (!gguf_str_eq(model, "llama"))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: tokenizer.ggml.model is \"%.*s\" (%s); only \"llama\" (SentencePiece BPE) is supported",
                        path, (int)(model.len > 64 ? 64 : model.len), model.s, gguf_model_kind(model));

    const gguf_str *tokens = NULL;
    uint64_t n = 0;
    if ((st = gguf_get_arr_str(g, "tokenizer.ggml.tokens", &tokens, &n, err, err_len))) return st;
    if (n == 0 || n > TOK_MAX_VOCAB)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tokenizer.ggml.tokens has %" PRIu64 " entries (1..%u allowed)",
                        path, n, TOK_MAX_VOCAB);

    float *scores = NULL;
    int32_t *types = NULL;
    const char **texts = NULL;
    uint32_t *lens = NULL;
    tokenizer *t = NULL;
    uint64_t ns = 0, nt = 0;
    if (gguf_find(g, "tokenizer.ggml.scores")) {
        if ((st = gguf_get_arr_f32(g, "tokenizer.ggml.scores", &scores, &ns, err, err_len))) goto fail;
        if (ns != n) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: tokenizer.ggml.scores has %" PRIu64 " entries but tokenizer.ggml.tokens has %" PRIu64,
                          path, ns, n);
            goto fail;
        }
    }
    if (gguf_find(g, "tokenizer.ggml.token_type")) {
        if ((st = gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &nt, err, err_len))) goto fail;
        if (nt != n) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: tokenizer.ggml.token_type has %" PRIu64 " entries but tokenizer.ggml.tokens has %" PRIu64,
                          path, nt, n);
            goto fail;
        }
    }
    t = tok_alloc((uint32_t)n);
    texts = malloc(n * sizeof *texts);
    lens = malloc(n * sizeof *lens);
    if (!t || !texts || !lens) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory for %" PRIu64 " tokens", path, n);
        goto fail;
    }
    for (uint64_t i = 0; i < n; i++) {
        texts[i] = tokens[i].s;
        lens[i] = tokens[i].len > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens[i].len;
        if (scores) {
            if (isnan(scores[i])) {
                st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tokenizer.ggml.scores[%" PRIu64 "] is NaN", path, i);
                goto fail;
            }
            t->score[i] = scores[i];
        }
        int32_t ty = types ? types[i] : TOK_TYPE_NORMAL;
        if (ty < 0 || ty > TOK_TYPE_BYTE) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tokenizer.ggml.token_type[%" PRIu64 "] is %" PRId32
                          " (0..6 allowed)", path, i, ty);
            goto fail;
        }
        t->type[i] = (uint8_t)(ty == 0 ? TOK_TYPE_NORMAL : ty); /* 0: llama.cpp's "undefined" */
    }
    if ((st = fill_blob(t, texts, lens, path, "tokenizer.ggml.tokens", err, err_len))) goto fail;
    if ((st = gguf_id(g, "tokenizer.ggml.bos_token_id", 1, t->n_vocab, &t->bos, err, err_len)) ||
        (st = gguf_id(g, "tokenizer.ggml.eos_token_id", 2, t->n_vocab, &t->eos, err, err_len)) ||
        (st = gguf_id(g, "tokenizer.ggml.unknown_token_id", 0, t->n_vocab, &t->unk, err, err_len)))
        goto fail;
    bool space_prefix = true;
    if ((st = gguf_flag(g, "tokenizer.ggml.add_bos_token", true, &t->add_bos, err, err_len)) ||
        (st = gguf_flag(g, "tokenizer.ggml.add_eos_token", false, &t->add_eos, err, err_len)) ||
        (st = gguf_flag(g, "tokenizer.ggml.add_space_prefix", true, &space_prefix, err, err_len)))
        goto fail;
    t->mode = TOK_MERGE_SCORE;
    t->prefix = space_prefix ? TOK_PREFIX_EVERY : TOK_PREFIX_NONE;
    t->space_to_meta = true;
    t->byte_fallback = true;
    t->strip_space = space_prefix;
    if (!tok_index(t)) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory indexing the tokens", path);
        goto fail;
    }
    *out = t;
    t = NULL;
fail:
    free(scores);
    free(types);
    free(texts);
    free(lens);
    tok_free(t);
    return st;
}

/* ---------------------------------------------------------------- HF JSON */

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *j = get(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

static bool is_true(const cJSON *o, const char *key) { return cJSON_IsTrue(get(o, key)); }

/* A JSON number that is an integer in [0, TOK_MAX_VOCAB). */
static bool json_id(const cJSON *j, int32_t *id)
{
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v < TOK_MAX_VOCAB) || v != floor(v)) return false;
    *id = (int32_t)v;
    return true;
}

/* normalizer: null, Prepend("▁"), Replace(" " -> "▁"), or a Sequence of them. */
static vkllm_status hf_normalizer(tokenizer *t, const cJSON *n, const char *path, char *err, size_t err_len)
{
    if (!n || cJSON_IsNull(n)) return VKLLM_OK;
    const char *type = get_str(n, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = get(n, "normalizers"), *x;
        if (!cJSON_IsArray(list))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: normalizer.normalizers is not an array", path);
        cJSON_ArrayForEach(x, list) {
            vkllm_status st = hf_normalizer(t, x, path, err, err_len);
            if (st) return st;
        }
        return VKLLM_OK;
    }
    if (type && strcmp(type, "Prepend") == 0) {
        const char *p = get_str(n, "prepend");
        if (!p || strcmp(p, META) != 0)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: normalizer Prepend of \"%s\" (only \"" META "\")",
                            path, p ? p : "(none)");
        t->prefix = TOK_PREFIX_EVERY;
        return VKLLM_OK;
    }
    if (type && strcmp(type, "Replace") == 0) {
        const char *from = get_str(get(n, "pattern"), "String"), *to = get_str(n, "content");
        if (!from || !to || strcmp(from, " ") != 0 || strcmp(to, META) != 0)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                            "%s: normalizer Replace other than \" \" -> \"" META "\" is not supported", path);
        t->space_to_meta = true;
        return VKLLM_OK;
    }
    return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                    "%s: normalizer type \"%s\" is not supported (SentencePiece BPE uses Prepend and Replace)", path,
                    type ? type : "(none)");
}

/* pre_tokenizer: null or Metaspace("▁"). */
static vkllm_status hf_pre_tokenizer(tokenizer *t, const cJSON *p, const char *path, char *err, size_t err_len)
{
    if (!p || cJSON_IsNull(p)) return VKLLM_OK;
    const char *type = get_str(p, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = get(p, "pretokenizers"), *x;
        if (!cJSON_IsArray(list))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: pre_tokenizer.pretokenizers is not an array", path);
        cJSON_ArrayForEach(x, list) {
            vkllm_status st = hf_pre_tokenizer(t, x, path, err, err_len);
            if (st) return st;
        }
        return VKLLM_OK;
    }
    if (type && strcmp(type, "Metaspace") == 0) {
        const char *r = get_str(p, "replacement"), *scheme = get_str(p, "prepend_scheme");
        if (!r || strcmp(r, META) != 0)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: pre_tokenizer Metaspace replacement \"%s\" (only \""
                            META "\")", path, r ? r : "(none)");
        t->space_to_meta = true;
        tok_prefix pre = TOK_PREFIX_META_ALWAYS;
        if (scheme && strcmp(scheme, "first") == 0) pre = TOK_PREFIX_META_FIRST;
        else if (scheme && strcmp(scheme, "never") == 0) pre = TOK_PREFIX_NONE;
        else if (!scheme && cJSON_IsFalse(get(p, "add_prefix_space"))) pre = TOK_PREFIX_NONE;
        else if (scheme && strcmp(scheme, "always") != 0)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: pre_tokenizer Metaspace prepend_scheme \"%s\"", path,
                            scheme);
        if (t->prefix != TOK_PREFIX_EVERY) t->prefix = pre; /* a Prepend normalizer already put '▁' everywhere */
        const cJSON *split = get(p, "split");
        t->split_meta = !split || cJSON_IsTrue(split); /* tokenizers' default: split */
        return VKLLM_OK;
    }
    if (type && strcmp(type, "ByteLevel") == 0)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: pre_tokenizer ByteLevel: byte-level BPE (GPT-2 / Llama-3 style) is not supported, only "
                        "SentencePiece BPE", path);
    return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: pre_tokenizer type \"%s\" is not supported", path,
                    type ? type : "(none)");
}

/* Does the decoder drop the first space (Strip start >= 1, or Metaspace with a prefix)? */
static bool hf_decoder_strips(const cJSON *d)
{
    const char *type = get_str(d, "type");
    if (!type) return false;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *x;
        cJSON_ArrayForEach(x, get(d, "decoders")) if (hf_decoder_strips(x)) return true;
        return false;
    }
    if (strcmp(type, "Strip") == 0) {
        const cJSON *start = get(d, "start");
        const char *c = get_str(d, "content");
        return cJSON_IsNumber(start) && start->valuedouble >= 1 && c && strcmp(c, " ") == 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *scheme = get_str(d, "prepend_scheme");
        return scheme ? strcmp(scheme, "never") != 0 : !cJSON_IsFalse(get(d, "add_prefix_space"));
    }
    return false;
}

/* The id of a special token named by a TemplateProcessing entry, or -1. */
static int32_t template_special(const tokenizer *t, const cJSON *post, const cJSON *entry)
{
    const char *name = get_str(get(entry, "SpecialToken"), "id");
    if (!name) return -1;
    const cJSON *ids = get(get(get(post, "special_tokens"), name), "ids");
    int32_t id;
    if (cJSON_GetArraySize(ids) == 1 && json_id(cJSON_GetArrayItem(ids, 0), &id) && (uint32_t)id < t->n_vocab) return id;
    return tok_find(t, name, strlen(name));
}

/* tokenizer_config.json's bos_token / eos_token: a string, {"content": ...} or null. */
static vkllm_status config_token(const tokenizer *t, const cJSON *cfg, const char *key, const char *path, int32_t *id,
                                 char *err, size_t err_len)
{
    const cJSON *j = get(cfg, key);
    if (!j) return VKLLM_OK;
    if (cJSON_IsNull(j)) {
        *id = -1;
        return VKLLM_OK;
    }
    const char *s = cJSON_IsString(j) ? j->valuestring : get_str(j, "content");
    if (!s) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %s is neither a string nor {\"content\": ...}", path, key);
    int32_t found = tok_find(t, s, strlen(s));
    if (found < 0)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %s \"%s\" is not in the vocabulary", path, key, s);
    *id = found;
    return VKLLM_OK;
}

static vkllm_status config_flag(const cJSON *cfg, const char *key, const char *path, bool *out, char *err,
                                size_t err_len)
{
    const cJSON *j = get(cfg, key);
    if (!j || cJSON_IsNull(j)) return VKLLM_OK;
    if (!cJSON_IsBool(j)) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %s is not true or false", path, key);
    *out = cJSON_IsTrue(j);
    return VKLLM_OK;
}

/* "a b" or ["a", "b"] -> the two piece ids; FORMAT error naming the merge otherwise. */
static vkllm_status hf_merge(tokenizer *t, const cJSON *m, size_t i, const char *path, char *buf, size_t buf_len,
                             int32_t *a, int32_t *b, int32_t *ab, char *err, size_t err_len)
{
    const char *l = NULL, *r = NULL;
    size_t ll = 0, rl = 0;
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        if (sp && !strchr(sp + 1, ' ')) l = m->valuestring, ll = (size_t)(sp - l), r = sp + 1, rl = strlen(r);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        l = cJSON_GetArrayItem(m, 0)->valuestring, ll = strlen(l);
        r = cJSON_GetArrayItem(m, 1)->valuestring, rl = strlen(r);
    }
    if (!l) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                            path, i);
    *a = tok_find(t, l, ll);
    *b = tok_find(t, r, rl);
    if (ll + rl > buf_len) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges[%zu] is too long", path, i);
    memcpy(buf, l, ll);
    memcpy(buf + ll, r, rl);
    *ab = tok_find(t, buf, ll + rl);
    if (*a < 0 || *b < 0 || *ab < 0)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges[%zu] (\"%.*s\" + \"%.*s\"): \"%.*s\" is not in "
                        "model.vocab", path, i, (int)(ll > 64 ? 64 : ll), l, (int)(rl > 64 ? 64 : rl), r,
                        (int)(*a < 0 ? (ll > 64 ? 64 : ll) : *b < 0 ? (rl > 64 ? 64 : rl) : (ll + rl > 64 ? 64 : ll + rl)),
                        *a < 0 ? l : *b < 0 ? r : buf);
    return VKLLM_OK;
}

static bool is_byte_piece(const char *s, size_t n)
{
    return n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && strchr("0123456789ABCDEFabcdef", s[3]) && s[3] &&
           strchr("0123456789ABCDEFabcdef", s[4]) && s[4];
}

/* tokenizer.json (+ config, may be NULL) -> *out. */
static vkllm_status hf_build(const cJSON *tj, const char *path, const cJSON *cfg, const char *cfg_path,
                             tokenizer **out, char *err, size_t err_len)
{
    const cJSON *model = get(tj, "model");
    if (!cJSON_IsObject(model))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: 'model' is missing or not an object", path);
    const char *mtype = get_str(model, "type");
    if (mtype && strcmp(mtype, "BPE") != 0)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: model.type is \"%s\"; only \"BPE\" (SentencePiece BPE) is supported", path, mtype);
    const cJSON *vocab = get(model, "vocab"), *merges = get(model, "merges");
    if (!cJSON_IsObject(vocab))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab is missing or not an object", path);
    if (!cJSON_IsArray(merges))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges is missing or not an array", path);
    const char *csp = get_str(model, "continuing_subword_prefix"), *eow = get_str(model, "end_of_word_suffix");
    if ((csp && *csp) || (eow && *eow))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: model.continuing_subword_prefix / end_of_word_suffix are not supported", path);
    if (is_true(model, "ignore_merges"))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: model.ignore_merges is not supported", path);
    const cJSON *added = get(tj, "added_tokens"), *x;
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: added_tokens is not an array", path);

    /* ids: 0 .. max, each exactly one piece; so no id can reach the number of
     * entries, and the tables below are sized by entries, not by a claimed id */
    uint64_t n_entries = 0;
    cJSON_ArrayForEach(x, vocab) n_entries++;
    cJSON_ArrayForEach(x, added) n_entries++;
    int32_t max_id = -1, id;
    cJSON_ArrayForEach(x, vocab) {
        if (!json_id(x, &id))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab[\"%.64s\"] is not an id in [0, %u)", path,
                            x->string, TOK_MAX_VOCAB);
        if ((uint64_t)id >= n_entries)
            return errf(VKLLM_ERR_FORMAT, err, err_len,
                        "%s: model.vocab[\"%.64s\"] is id %" PRId32 ", but model.vocab and added_tokens hold only %"
                        PRIu64 " pieces (ids must run 0..%" PRIu64 " with none missing)", path, x->string, id,
                        n_entries, n_entries - 1);
        if (id > max_id) max_id = id;
    }
    cJSON_ArrayForEach(x, added) {
        if (!json_id(get(x, "id"), &id) || !get_str(x, "content"))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: an added_tokens entry lacks a valid id or content", path);
        if ((uint64_t)id >= n_entries)
            return errf(VKLLM_ERR_FORMAT, err, err_len,
                        "%s: added_tokens entry \"%.64s\" is id %" PRId32 ", but model.vocab and added_tokens hold "
                        "only %" PRIu64 " pieces (ids must run 0..%" PRIu64 " with none missing)", path,
                        get_str(x, "content"), id, n_entries, n_entries - 1);
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab is empty", path);

    vkllm_status st = VKLLM_OK;
    uint32_t n = (uint32_t)max_id + 1;
    tokenizer *t = tok_alloc(n);
    const char **texts = calloc(n, sizeof *texts);
    uint32_t *lens = calloc(n, sizeof *lens);
    char *buf = malloc(2 * TOK_MAX_PIECE_BYTES + 2);
    if (!t || !texts || !lens || !buf ||
        (cJSON_IsArray(added) && !(t->strip = calloc(n, 1)))) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory for %u pieces", path, n);
        goto fail;
    }
    cJSON_ArrayForEach(x, vocab) {
        json_id(x, &id);
        if (texts[id]) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab: \"%.64s\" and \"%.64s\" both have id %" PRId32,
                          path, texts[id], x->string, id);
            goto fail;
        }
        texts[id] = x->string;
        lens[id] = (uint32_t)strlen(x->string);
        t->type[id] = is_byte_piece(x->string, lens[id]) ? TOK_TYPE_BYTE : TOK_TYPE_NORMAL;
    }
    cJSON_ArrayForEach(x, added) {
        json_id(get(x, "id"), &id);
        const char *c = get_str(x, "content");
        if (texts[id] && strcmp(texts[id], c) != 0) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: added_tokens: id %" PRId32 " is \"%.64s\" but model.vocab "
                          "has \"%.64s\" there", path, id, c, texts[id]);
            goto fail;
        }
        texts[id] = c;
        lens[id] = (uint32_t)strlen(c);
        t->type[id] = is_true(x, "special") ? TOK_TYPE_CONTROL : TOK_TYPE_USER_DEFINED;
        t->strip[id] = (uint8_t)((is_true(x, "lstrip") ? 1 : 0) | (is_true(x, "rstrip") ? 2 : 0));
    }
    for (uint32_t i = 0; i < n; i++)
        if (!texts[i]) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab: no piece has id %u (ids must be 0..%u)", path,
                          i, n - 1);
            goto fail;
        }
    if ((st = fill_blob(t, texts, lens, path, "model.vocab", err, err_len))) goto fail;

    t->mode = TOK_MERGE_RANK;
    t->byte_fallback = is_true(model, "byte_fallback");
    t->fuse_unk = is_true(model, "fuse_unk");
    if ((st = hf_normalizer(t, get(tj, "normalizer"), path, err, err_len)) ||
        (st = hf_pre_tokenizer(t, get(tj, "pre_tokenizer"), path, err, err_len)))
        goto fail;
    const cJSON *dec = get(tj, "decoder");
    t->strip_space = dec && !cJSON_IsNull(dec) ? hf_decoder_strips(dec) : t->prefix != TOK_PREFIX_NONE;
    if (!tok_index(t)) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory indexing the pieces", path);
        goto fail;
    }
    const char *unk = get_str(model, "unk_token");
    if (unk) { /* (after indexing: only added_tokens are matched literally, as in HF) */
        if ((t->unk = tok_find(t, unk, strlen(unk))) < 0) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.unk_token \"%.64s\" is not in model.vocab", path, unk);
            goto fail;
        }
        t->type[t->unk] = TOK_TYPE_UNKNOWN;
    }

    /* merges: rule i joins (a, b) into ab, rank i; the table grows with the
     * rules checked so far (never sized from the array's claimed length) */
    size_t i = 0;
    cJSON_ArrayForEach(x, merges) {
        int32_t a = -1, b = -1, ab = -1;
        if (i >= TOK_MAX_VOCAB * 4ull) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges has more than %llu rules, too many", path,
                      TOK_MAX_VOCAB * 4ull);
            goto fail;
        }
        if ((st = hf_merge(t, x, i, path, buf, 2 * TOK_MAX_PIECE_BYTES + 2, &a, &b, &ab, err, err_len))) goto fail;
        if (!tok_pair_add(&t->merges, a, b, (int32_t)i, ab)) {
            st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory for %zu merges", path, i + 1);
            goto fail;
        }
        i++;
    }

    /* BOS/EOS: tokenizer_config.json, else the post-processor's template, else <s> / </s> */
    t->bos = tok_find(t, "<s>", 3);
    t->eos = tok_find(t, "</s>", 4);
    const cJSON *post = get(tj, "post_processor");
    const char *ptype = get_str(post, "type");
    if (ptype && strcmp(ptype, "TemplateProcessing") == 0) {
        const cJSON *single = get(post, "single");
        int ns = cJSON_GetArraySize(single);
        int32_t first = ns ? template_special(t, post, cJSON_GetArrayItem(single, 0)) : -1;
        int32_t last = ns > 1 ? template_special(t, post, cJSON_GetArrayItem(single, ns - 1)) : -1;
        if (first >= 0) t->bos = first, t->add_bos = true;
        if (last >= 0) t->eos = last, t->add_eos = true;
    }
    if (cfg) {
        if ((st = config_flag(cfg, "add_bos_token", cfg_path, &t->add_bos, err, err_len)) ||
            (st = config_flag(cfg, "add_eos_token", cfg_path, &t->add_eos, err, err_len)) ||
            (st = config_token(t, cfg, "bos_token", cfg_path, &t->bos, err, err_len)) ||
            (st = config_token(t, cfg, "eos_token", cfg_path, &t->eos, err, err_len)))
            goto fail;
    }
    *out = t;
    t = NULL;
fail:
    free(texts);
    free(lens);
    free(buf);
    tok_free(t);
    return st;
}

static bool is_dir(const char *path) { return plat_path_kind(path) == PLAT_DIR; }

static bool is_file(const char *path) { return plat_path_kind(path) == PLAT_FILE; }

vkllm_status tok_load_hf(const char *path, tokenizer **out, char *err, size_t err_len)
{
    if (!path || !out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_load_hf: NULL argument");
    *out = NULL;
    char *json_path = NULL, *cfg_path = NULL, *dir = NULL;
    cJSON *tj = NULL, *cfg = NULL;
    vkllm_status st = VKLLM_OK;
    if (is_dir(path)) {
        json_path = path_join(path, "tokenizer.json");
        cfg_path = path_join(path, "tokenizer_config.json");
    } else {
        json_path = strdup(path);
        dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            if (slash) slash[1] = 0;
            else strcpy(dir, ".");
            cfg_path = path_join(dir, "tokenizer_config.json");
        }
    }
    if (!json_path || !cfg_path) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", path);
        goto done;
    }
    if (is_dir(path) && !is_file(json_path)) {
        st = errf(VKLLM_ERR_IO, err, err_len, "%s: no tokenizer.json in this folder (a SentencePiece tokenizer.model "
                      "alone is not supported)", path);
        goto done;
    }
    if ((st = json_file_read(json_path, JSON_MAX_BYTES, JSON_MAX_VALUES, &tj, err, err_len))) goto done;
    if (is_file(cfg_path) && (st = json_file_read(cfg_path, JSON_MAX_BYTES, JSON_MAX_VALUES, &cfg, err, err_len)))
        goto done;
    st = hf_build(tj, json_path, cfg, cfg_path, out, err, err_len);
done:
    cJSON_Delete(tj);
    cJSON_Delete(cfg);
    free(json_path);
    free(cfg_path);
    free(dir);
    return st;
}

vkllm_status tok_load_path(const char *path, tokenizer **out, char *err, size_t err_len)
{
    if (!path || !out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_load_path: NULL argument");
    *out = NULL;
    if (is_dir(path)) return tok_load_hf(path, out, err, err_len);
    FILE *f = fopen(path, "rb");
    if (!f) return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot open", path);
    char magic[4] = { 0 };
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
        gguf_file *g = NULL;
        vkllm_status st = gguf_open(path, &g, err, err_len);
        if (!st) st = tok_load_gguf(g, out, err, err_len);
        gguf_close(g);
        return st;
    }
    return tok_load_hf(path, out, err, err_len);
}
