/* An HF tokenizer.json / tokenizer_config.json as GGUF tokenizer.ggml.* keys
 * (llama.cpp's "llama" SentencePiece vocabulary); see quantize_model.h. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/plat.h"

#include "model/json_file.h"
#include "model/mfile.h"
#include "model/quantize_model.h"

#define META "\xe2\x96\x81" /* U+2581 '▁' */
#define JSON_MAX_BYTES (64u << 20)

/* tokenizer.ggml.token_type values */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *j = get(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* a token named in tokenizer_config.json: "<s>" or {"content": "<s>", ...} */
static const char *config_token(const cJSON *cfg, const char *key)
{
    const cJSON *j = get(cfg, key);
    if (cJSON_IsString(j)) return j->valuestring;
    return cJSON_IsObject(j) ? get_str(j, "content") : NULL;
}

/* ---------------------------------------------------------------- piece -> id */

typedef struct piece_map {
    int32_t *slot; /* id or -1 */
    uint32_t mask;
    const qm_vocab *v;
} piece_map;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static int map_init(piece_map *m, const qm_vocab *v)
{
    uint32_t cap = 1024;
    while (cap < 2 * v->n) cap *= 2;
    m->slot = malloc((size_t)cap * sizeof *m->slot);
    if (!m->slot) return 0;
    memset(m->slot, 0xff, (size_t)cap * sizeof *m->slot);
    m->mask = cap - 1;
    m->v = v;
    for (uint32_t i = 0; i < v->n; i++) {
        if (!v->pieces[i]) continue;
        uint32_t h = (uint32_t)hash(v->pieces[i], v->lens[i]) & m->mask;
        while (m->slot[h] >= 0) h = (h + 1) & m->mask;
        m->slot[h] = (int32_t)i;
    }
    return 1;
}

static int32_t map_find(const piece_map *m, const char *s, size_t n)
{
    uint32_t h = (uint32_t)hash(s, n) & m->mask;
    for (; m->slot[h] >= 0; h = (h + 1) & m->mask) {
        int32_t id = m->slot[h];
        if (m->v->lens[id] == n && memcmp(m->v->pieces[id], s, n) == 0) return id;
    }
    return -1;
}

/* ---------------------------------------------------------------- building */

static int is_byte_piece(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    return strlen(s) == 6 && memcmp(s, "<0x", 3) == 0 && strchr(hex, s[3]) && strchr(hex, s[4]) && s[5] == '>' &&
           s[3] && s[4];
}

static vkllm_status set_piece(qm_vocab *v, uint32_t id, const char *s, const char *path, char *err, size_t err_len)
{
    if (id >= v->n)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                    "%s: token id %" PRIu32 " (\"%.40s\") is outside the model's %" PRIu32
                    " embedding rows (config.json vocab_size)", path, id, s, v->n);
    if (v->pieces[id] && strcmp(v->pieces[id], s) != 0)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: token id %" PRIu32 " is both \"%.40s\" and \"%.40s\"", path,
                    id, v->pieces[id], s);
    if (!v->pieces[id]) {
        if (!(v->pieces[id] = strdup(s))) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        v->lens[id] = (uint32_t)strlen(s);
    }
    return VKLLM_OK;
}

/* "a b" or ["a", "b"] -> the merged piece's text in buf; 0 if malformed */
static int merge_text(const cJSON *m, char *buf, size_t cap)
{
    const char *a = NULL, *b = NULL;
    size_t la = 0;
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        if (!sp) return 0;
        a = m->valuestring, la = (size_t)(sp - a), b = sp + 1;
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        a = cJSON_GetArrayItem(m, 0)->valuestring, la = strlen(a), b = cJSON_GetArrayItem(m, 1)->valuestring;
    } else {
        return 0;
    }
    size_t lb = strlen(b);
    if (la + lb + 1 > cap) return 0;
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb + 1);
    return 1;
}

/* what the tokenizer does before merging: a '▁' prefix (Prepend normalizer, Metaspace pre-tokenizer) */
static int wants_space_prefix(const cJSON *tj)
{
    int prefix = 0;
    const cJSON *n = get(tj, "normalizer"), *x;
    const char *nt = get_str(n, "type");
    if (nt && strcmp(nt, "Sequence") == 0) {
        cJSON_ArrayForEach(x, get(n, "normalizers")) {
            const char *t = get_str(x, "type");
            if (t && strcmp(t, "Prepend") == 0) prefix = 1;
        }
    } else if (nt && strcmp(nt, "Prepend") == 0) {
        prefix = 1;
    }
    const cJSON *p = get(tj, "pre_tokenizer");
    const char *pt = get_str(p, "type");
    const cJSON *list = pt && strcmp(pt, "Sequence") == 0 ? get(p, "pretokenizers") : NULL;
    for (const cJSON *y = list ? list->child : p; y; y = list ? y->next : NULL) {
        const char *t = get_str(y, "type");
        if (t && strcmp(t, "Metaspace") == 0) {
            const char *scheme = get_str(y, "prepend_scheme");
            if (scheme ? strcmp(scheme, "never") != 0 : !cJSON_IsFalse(get(y, "add_prefix_space"))) prefix = 1;
        }
        if (!list) break;
    }
    return prefix;
}

static vkllm_status check_kind(const cJSON *tj, const char *path, char *err, size_t err_len)
{
    const cJSON *model = get(tj, "model");
    const char *type = get_str(model, "type");
    if (!cJSON_IsObject(model))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: \"model\" is missing or not an object", path);
    if (!type || strcmp(type, "BPE") != 0)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                    "%s: model type \"%s\": only SentencePiece BPE vocabularies (Llama-2, Mistral, SOLAR) convert to "
                    "GGUF's \"llama\" tokenizer", path, type ? type : "(none)");
    const cJSON *p = get(tj, "pre_tokenizer");
    char *s = p ? cJSON_PrintUnformatted(p) : NULL;
    int byte_level = s && strstr(s, "\"ByteLevel\"");
    free(s);
    if (byte_level)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                    "%s: a byte-level BPE vocabulary (GPT-2 / Llama-3 style) cannot be written as GGUF's \"llama\" "
                    "tokenizer; only SentencePiece BPE is supported", path);
    if (!cJSON_IsObject(get(model, "vocab")))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab is missing or not an object", path);
    if (!cJSON_IsArray(get(model, "merges")))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges is missing or not an array", path);
    return VKLLM_OK;
}

static vkllm_status read_template(const char *dir, const cJSON *cfg, qm_vocab *v, char *err, size_t err_len)
{
    const cJSON *ct = get(cfg, "chat_template"), *x;
    const char *tmpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
    if (cJSON_IsArray(ct)) /* [{"name": "default", "template": ...}, ...] */
        cJSON_ArrayForEach(x, ct) {
            const char *name = get_str(x, "name");
            if (name && strcmp(name, "default") == 0) tmpl = get_str(x, "template");
        }
    if (tmpl) {
        v->chat_template = strdup(tmpl);
        return v->chat_template ? VKLLM_OK : errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    }
    char *p = path_join(dir, "chat_template.jinja"); /* transformers >= 4.43 keeps it in its own file */
    if (!p) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    vkllm_status st = VKLLM_OK;
    if (plat_path_kind(p) == PLAT_FILE) {
        mfile f = { 0 };
        st = mfile_open(&f, p, err, err_len);
        if (!st && f.size > JSON_MAX_BYTES)
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %" PRIu64 " bytes is too long for a template", p, f.size);
        if (!st && !(v->chat_template = calloc(1, (size_t)f.size + 1)))
            st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        if (!st && f.size) memcpy(v->chat_template, f.data, (size_t)f.size);
        mfile_close(&f);
    }
    free(p);
    return st;
}

vkllm_status qm_vocab_from_hf(const char *dir, uint32_t n_vocab, qm_vocab *v, char *err, size_t err_len)
{
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->pad = -1;
    char *tj_path = path_join(dir, "tokenizer.json"), *cfg_path = path_join(dir, "tokenizer_config.json");
    cJSON *tj = NULL, *cfg = NULL;
    piece_map map = { 0 };
    char *buf = NULL;
    vkllm_status st = VKLLM_OK;
    if (!tj_path || !cfg_path) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if (plat_path_kind(tj_path) == PLAT_MISSING) {
        st = errf(VKLLM_ERR_IO, err, err_len,
                  "%s: no tokenizer.json in the model folder; the GGUF needs the vocabulary (a SentencePiece "
                  "tokenizer.model alone is not supported)", dir);
        goto done;
    }
    if ((st = json_file_read(tj_path, JSON_MAX_BYTES, JSON_MAX_VALUES, &tj, err, err_len))) goto done;
    if (plat_path_kind(cfg_path) != PLAT_MISSING &&
        (st = json_file_read(cfg_path, JSON_MAX_BYTES, JSON_MAX_VALUES, &cfg, err, err_len)))
        goto done;
    if ((st = check_kind(tj, tj_path, err, err_len))) goto done;

    v->n = n_vocab;
    v->pieces = calloc(n_vocab, sizeof *v->pieces);
    v->lens = calloc(n_vocab, sizeof *v->lens);
    v->scores = calloc(n_vocab, sizeof *v->scores);
    v->types = calloc(n_vocab, sizeof *v->types);
    if (!v->pieces || !v->lens || !v->scores || !v->types) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory for %" PRIu32 " tokens", n_vocab);
        goto done;
    }
    const cJSON *model = get(tj, "model"), *x;
    cJSON_ArrayForEach(x, get(model, "vocab")) {
        double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
        if (!(d >= 0 && d < 4294967296.0) || d != (double)(uint32_t)d) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.vocab[\"%.40s\"] is not a token id", tj_path,
                      x->string);
            goto done;
        }
        if ((st = set_piece(v, (uint32_t)d, x->string, tj_path, err, err_len))) goto done;
        v->types[(uint32_t)d] = is_byte_piece(x->string) ? TT_BYTE : TT_NORMAL;
    }
    const char *unk = get_str(model, "unk_token");
    cJSON_ArrayForEach(x, get(tj, "added_tokens")) {
        const cJSON *id = get(x, "id");
        const char *content = get_str(x, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !content) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: an added_tokens entry lacks id or content", tj_path);
            goto done;
        }
        uint32_t i = id->valuedouble >= 4294967295.0 ? UINT32_MAX : (uint32_t)id->valuedouble;
        if ((st = set_piece(v, i, content, tj_path, err, err_len))) goto done;
        v->types[i] = cJSON_IsTrue(get(x, "special")) ? TT_CONTROL : TT_USER_DEFINED;
    }
    /* ids the tokenizer does not name: padding rows of the embedding */
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->pieces[i]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%" PRIu32 "]", i);
        if ((st = set_piece(v, i, pad, tj_path, err, err_len))) goto done;
        v->types[i] = TT_UNUSED;
    }
    if (!map_init(&map, v)) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if (cfg && config_token(cfg, "unk_token")) unk = config_token(cfg, "unk_token");
    if (unk && (v->unk = map_find(&map, unk, strlen(unk))) >= 0) v->types[v->unk] = TT_UNKNOWN;

    /* scores from the merge ranks */
    const cJSON *merges = get(model, "merges");
    int n_merges = cJSON_GetArraySize(merges);
    for (uint32_t i = 0; i < v->n; i++) v->scores[i] = 1; /* 1: not reached by a merge yet */
    size_t cap = 1 << 16;
    if (!(buf = malloc(cap))) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    int rank = 0;
    cJSON_ArrayForEach(x, merges) {
        if (!merge_text(x, buf, cap)) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges[%d] is not \"a b\" or [\"a\", \"b\"]", tj_path,
                      rank);
            goto done;
        }
        int32_t id = map_find(&map, buf, strlen(buf));
        if (id < 0) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: model.merges[%d] makes \"%.40s\", which is not in the vocab",
                      tj_path, rank, buf);
            goto done;
        }
        if (v->scores[id] > 0) v->scores[id] = -(float)(rank + 1);
        rank++;
    }
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->scores[i] <= 0) continue;
        int special = v->types[i] == TT_BYTE || v->types[i] == TT_CONTROL || v->types[i] == TT_UNKNOWN;
        v->scores[i] = special ? 0.0f : -(float)(1 + (uint64_t)n_merges + i);
    }

    /* BOS / EOS: tokenizer_config.json, else the post-processor's template, else <s> / </s> */
    v->bos = map_find(&map, "<s>", 3);
    v->eos = map_find(&map, "</s>", 4);
    const cJSON *post = get(tj, "post_processor");
    const char *ptype = get_str(post, "type");
    if (ptype && strcmp(ptype, "TemplateProcessing") == 0) {
        const cJSON *single = get(post, "single");
        int ns = cJSON_GetArraySize(single);
        const char *first = ns ? get_str(get(cJSON_GetArrayItem(single, 0), "SpecialToken"), "id") : NULL;
        const char *last = ns > 1 ? get_str(get(cJSON_GetArrayItem(single, ns - 1), "SpecialToken"), "id") : NULL;
        if (first && map_find(&map, first, strlen(first)) >= 0) v->bos = map_find(&map, first, strlen(first)),
                                                                v->add_bos = 1;
        if (last && map_find(&map, last, strlen(last)) >= 0) v->eos = map_find(&map, last, strlen(last)), v->add_eos = 1;
    }
    if (cfg) {
        const char *b = config_token(cfg, "bos_token"), *e = config_token(cfg, "eos_token");
        const char *p = config_token(cfg, "pad_token");
        if (b) v->bos = map_find(&map, b, strlen(b));
        if (e) v->eos = map_find(&map, e, strlen(e));
        if (p) v->pad = map_find(&map, p, strlen(p));
        if (cJSON_IsBool(get(cfg, "add_bos_token"))) v->add_bos = cJSON_IsTrue(get(cfg, "add_bos_token"));
        if (cJSON_IsBool(get(cfg, "add_eos_token"))) v->add_eos = cJSON_IsTrue(get(cfg, "add_eos_token"));
    }
    v->add_space_prefix = wants_space_prefix(tj);
    st = read_template(dir, cfg, v, err, err_len);
done:
    if (st) qm_vocab_free(v);
    free(map.slot);
    free(buf);
    cJSON_Delete(tj);
    cJSON_Delete(cfg);
    free(tj_path);
    free(cfg_path);
    return st;
}

void qm_vocab_free(qm_vocab *v)
{
    if (!v) return;
    for (uint32_t i = 0; v->pieces && i < v->n; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->lens);
    free(v->scores);
    free(v->types);
    free(v->chat_template);
    memset(v, 0, sizeof *v);
}

void qm_vocab_write(gguf_writer *w, const qm_vocab *v)
{
    gguf_w_str(w, "tokenizer.ggml.model", "llama", 5);
    gguf_w_str(w, "tokenizer.ggml.pre", "default", 7);
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->pieces, v->lens, v->n);
    gguf_w_arr_f32(w, "tokenizer.ggml.scores", v->scores, v->n);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", v->types, v->n);
    if (v->bos >= 0) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->unk >= 0) gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    if (v->pad >= 0) gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    gguf_w_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    gguf_w_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    if (v->chat_template) gguf_w_str(w, "tokenizer.chat_template", v->chat_template, strlen(v->chat_template));
}
