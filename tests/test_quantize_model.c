/* vkllm_quantize end to end on generated models (CPU only):
 *  - GGUF and HF sources (GQA, tied embeddings, the real SOLAR/Mistral
 *    tokenizer.json), several schemes: the output passes gguf_open's checks,
 *    every tensor has the type quant_scheme_type gives it, and each row
 *    holds exactly our quantizer's blocks of the source row in GGUF order
 *    (so HF q/k rows permuted): dequantize(file) == dequantize(quantize(row));
 *  - metadata: a GGUF source's key/values copied byte for byte, an HF
 *    source's llama.* keys with the converter's types, general.file_type and
 *    quantization_version; an "f16" conversion of an HF folder is the very
 *    file the generator writes as GGUF (tensor data byte for byte);
 *  - the output's tokenizer encodes text to the source's ids (merges as
 *    "a b" strings or ["a", "b"] pairs), the chat template survives; a
 *    byte-level BPE tokenizer.json is refused;
 *  - llama-quantize's q4_k_m of the fixture: same tensor types, sizes and
 *    file size;
 *  - refusals: unknown type, quantized source without allow_requantize
 *    (and requantizing with it), an existing output, a missing folder, a
 *    write error mid-file (RLIMIT_FSIZE: works as root too), NaN weights,
 *    a cancel: clear errors and no file left behind.
 * argv[1]: scratch folder; argv[2]: tests/data; argv[3]: the quant fixtures. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "gen_internal.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/quant.h"
#include "model_util.h"
#include "text/tokenizer.h"
#include "util/bf16.h"
#include "util/half.h"

static const char *scratch, *data_dir, *fx_dir;

/* ---------------------------------------------------------------- expectations */

/* the test's own reading of a tensor name */
static int role_of(const char *name, uint32_t *layer)
{
    *layer = 0;
    if (!strcmp(name, "token_embd.weight")) return QROLE_TOKEN_EMBD;
    if (!strcmp(name, "output.weight")) return QROLE_OUTPUT;
    const char *p = strstr(name, "blk.") == name ? name + 4 : NULL;
    if (!p) return -1;
    *layer = (uint32_t)strtoul(p, NULL, 10);
    p = strchr(p, '.');
    if (!p) return -1;
    static const char *const names[] = { "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down" };
    static const quant_role roles[] = { QROLE_ATTN_Q,   QROLE_ATTN_K, QROLE_ATTN_V,  QROLE_ATTN_OUTPUT,
                                        QROLE_FFN_GATE, QROLE_FFN_UP, QROLE_FFN_DOWN };
    for (int i = 0; i < 7; i++) {
        char full[32];
        snprintf(full, sizeof full, ".%s.weight", names[i]);
        if (!strcmp(p, full)) return (int)roles[i];
    }
    return -1;
}

typedef struct shape { uint32_t n_layer, n_head, n_head_kv; int tied; } shape;

/* the type the output must hold: norms F32, matrices the scheme's (F16 where none fits) */
static uint32_t expected_type(const char *scheme, const char *name, uint32_t n_dims, uint64_t cols, const shape *s)
{
    if (n_dims == 1) return 0;
    if (!strcmp(scheme, "f16")) return 1;
    uint32_t layer;
    int role = role_of(name, &layer);
    if (role == QROLE_TOKEN_EMBD && s->tied) role = QROLE_OUTPUT;
    uint32_t t = quant_scheme_type(quant_scheme_find(scheme), (quant_role)role, layer, s->n_layer, cols, s->n_head,
                                   s->n_head_kv);
    return t ? t : 1;
}

static uint64_t type_row_bytes(uint32_t t, uint64_t cols)
{
    if (t == 0) return 4 * cols;
    if (t == 1 || t == 30) return 2 * cols;
    return quant_bytes(quant_type_of(t), cols);
}

static void decode(uint32_t t, const uint8_t *src, float *out, uint64_t n)
{
    for (uint64_t i = 0; t <= 1 || t == 30 ? i < n : 0; i++) {
        if (t == 0) {
            memcpy(&out[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = t == 1 ? half_to_float(h) : bf16_to_float(h);
        }
    }
    if (t > 1 && t != 30) quant_dequantize(quant_type_of(t), src, out, n / quant_type_of(t)->block);
}

/* Where the source rows come from: a GGUF file, or the generator's HF weights. */
typedef struct source {
    const gguf_file *g;   /* GGUF source */
    const gen_params *p;  /* HF source (weights from the generator, HF layout) */
    gen_tensor *gt;
    size_t n_gt;
} source;

/* source row of GGUF row r of `name` into out[cols]; 0 if the source lacks it */
static int source_row(const source *s, const char *name, uint64_t r, uint64_t cols, float *out)
{
    if (s->g) {
        const gguf_tensor *t = gguf_find_tensor(s->g, name);
        if (!t) return 0;
        decode(t->type, (const uint8_t *)t->data + r * type_row_bytes(t->type, cols), out, cols);
        return 1;
    }
    for (size_t i = 0; i < s->n_gt; i++)
        if (!strcmp(s->gt[i].canon, name)) {
            char err[256];
            return gen_weight_row(s->p, name, gen_gguf_src_row(&s->gt[i], r), out, cols, err, sizeof err) == VKLLM_OK;
        }
    return 0;
}

/* Every tensor of `out`: its type, its size, and each row against the source. */
static void check_tensors(const char *what, const char *out, const char *scheme, const shape *sh, const source *src,
                          size_t want_tensors)
{
    gguf_file *g = NULL;
    char err[512];
    vkllm_status st = gguf_open(out, &g, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: the output fails gguf_open: %s", what, err);
    if (st) return;
    CHECK(g->n_tensors == want_tensors, "%s: %" PRIu64 " tensors, want %zu", what, g->n_tensors, want_tensors);
    CHECK(g->version == 3 && g->alignment == 32, "%s: version %u alignment %u", what, g->version, g->alignment);
    uint32_t ft = 0;
    CHECK(gguf_get_u32(g, "general.file_type", &ft, err, sizeof err) == VKLLM_OK &&
              ft == (quant_scheme_find(scheme) ? quant_scheme_find(scheme)->file_type : 1),
          "%s: general.file_type %u", what, ft);
    const gguf_kv *qv = gguf_find(g, "general.quantization_version");
    uint32_t qv_val = 0;
    if (qv && qv->type == GGUF_TYPE_UINT32) memcpy(&qv_val, qv->value, 4);
    CHECK(qv && qv->type == GGUF_TYPE_UINT32 && qv_val == 2, "%s: general.quantization_version", what);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.s);
        uint64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        uint32_t want = expected_type(scheme, name, t->n_dims, cols, sh);
        CHECK(t->type == want, "%s: %s is %s, want %s", what, name, ggml_type_name(t->type), ggml_type_name(want));
        if (t->type != want) continue;
        uint64_t rb = type_row_bytes(want, cols);
        CHECK(rb && t->n_bytes == rb * rows, "%s: %s: %" PRIu64 " bytes", what, name, t->n_bytes);
        if (!rb || t->n_bytes != rb * rows) continue;
        float *x = malloc(cols * 4), *got = malloc(cols * 4), *ref = malloc(cols * 4);
        uint8_t *blocks = malloc(rb);
        if (!x || !got || !ref || !blocks) abort();
        uint64_t bad = 0, bad_bytes = 0;
        for (uint64_t r = 0; r < rows; r++) {
            if (!source_row(src, name, r, cols, x)) {
                bad = rows;
                break;
            }
            const uint8_t *row = (const uint8_t *)t->data + r * rb;
            decode(want, row, got, cols);
            if (want > 1 && want != 30) { /* the quantizer's blocks of the source row */
                const quant_type *qt = quant_type_of(want);
                quant_quantize(qt, x, blocks, cols / qt->block);
                quant_dequantize(qt, blocks, ref, cols / qt->block);
                bad_bytes += memcmp(blocks, row, rb) != 0;
            } else {
                memcpy(ref, x, cols * 4);
            }
            for (uint64_t c = 0; c < cols; c++) bad += memcmp(&got[c], &ref[c], 4) != 0;
        }
        CHECK(bad == 0 && bad_bytes == 0, "%s: %s (%s): %" PRIu64 " values / %" PRIu64 " rows differ from "
              "dequantize(quantize(source row))", what, name, ggml_type_name(want), bad, bad_bytes);
        free(x), free(got), free(ref), free(blocks);
    }
    gguf_close(g);
}

/* ---------------------------------------------------------------- tokenizer */

static char **texts;
static size_t n_texts;

static void load_texts(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/solar-mistral/cases.json", data_dir);
    size_t n = 0;
    uint8_t *buf = tu_read(path, &n);
    cJSON *j = buf ? cJSON_ParseWithLength((const char *)buf, n) : NULL;
    CHECK(j != NULL, "cannot read %s", path);
    snprintf(path, sizeof path, "%s/ggml-vocab-llama-spm.gguf.inp", data_dir);
    size_t ni = 0;
    uint8_t *inp = tu_read(path, &ni);
    CHECK(inp != NULL, "cannot read %s", path);
    texts = calloc(256, sizeof *texts);
    const cJSON *x;
    cJSON_ArrayForEach(x, j) {
        const cJSON *t = cJSON_GetObjectItem(x, "text");
        if (cJSON_IsString(t) && n_texts < 200) texts[n_texts++] = strdup(t->valuestring);
    }
    if (inp) { /* strings separated by lines "__ggml_vocab_test__" */
        char *s = realloc(inp, ni + 1);
        s[ni] = 0;
        const char *sep = "\n__ggml_vocab_test__\n";
        for (char *p = s, *e; n_texts < 255 && p && *p; p = e ? e + strlen(sep) : NULL) {
            e = strstr(p, sep);
            texts[n_texts++] = e ? strndup(p, (size_t)(e - p)) : strdup(p);
        }
        free(s);
    }
    texts[n_texts++] = strdup("<s>### User:\nHello</s>\n\n### Assistant:\n");
    cJSON_Delete(j);
    free(buf);
}

/* Both tokenizers give the same ids for every text, with and without BOS and specials. */
static void check_tokenizer(const char *what, const char *src, const char *out)
{
    tokenizer *a = NULL, *b = NULL;
    char err[512];
    vkllm_status st = tok_load_path(src, &a, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: source tokenizer: %s", what, err);
    if (!st) {
        st = tok_load_path(out, &b, err, sizeof err);
        CHECK(st == VKLLM_OK, "%s: the output's tokenizer: %s", what, err);
    }
    if (st) goto done;
    CHECK(tok_n_vocab(a) == tok_n_vocab(b) && tok_bos(a) == tok_bos(b) && tok_eos(a) == tok_eos(b) &&
              tok_unk(a) == tok_unk(b) && tok_add_bos(a) == tok_add_bos(b) && tok_add_eos(a) == tok_add_eos(b),
          "%s: vocab %u/%u, bos %d/%d, eos %d/%d, unk %d/%d, add_bos %d/%d", what, tok_n_vocab(a), tok_n_vocab(b),
          tok_bos(a), tok_bos(b), tok_eos(a), tok_eos(b), tok_unk(a), tok_unk(b), tok_add_bos(a), tok_add_bos(b));
    int diff = 0;
    for (size_t i = 0; i < n_texts; i++)
        for (unsigned flags = 0; flags < 8; flags += 4) {
            int32_t *ia = NULL, *ib = NULL;
            size_t na = 0, nb = 0;
            tok_encode(a, texts[i], strlen(texts[i]), flags | TOK_ENCODE_BOS, &ia, &na, err, sizeof err);
            tok_encode(b, texts[i], strlen(texts[i]), flags | TOK_ENCODE_BOS, &ib, &nb, err, sizeof err);
            int same = ia && ib && na == nb && !memcmp(ia, ib, na * sizeof *ia);
            if (!same && diff++ < 3)
                CHECK(0, "%s: \"%.40s\" (flags %u): %zu ids vs %zu from the source", what, texts[i], flags, nb, na);
            free(ia), free(ib);
        }
    CHECK(diff == 0, "%s: %d of %zu encodings differ", what, diff, 2 * n_texts);
done:
    tok_free(a);
    tok_free(b);
}

static void check_template(const char *what, const char *out)
{
    gguf_file *g = NULL;
    char err[512];
    gguf_str s = { 0 };
    if (gguf_open(out, &g, err, sizeof err) == VKLLM_OK) {
        vkllm_status st = gguf_get_str(g, "tokenizer.chat_template", &s, err, sizeof err);
        CHECK(st == VKLLM_OK && gguf_str_eq(s, gen_chat_template), "%s: tokenizer.chat_template lost: %s", what,
              st ? err : "differs");
    }
    gguf_close(g);
}

/* ---------------------------------------------------------------- helpers */

static vkllm_status quantize(const char *in, const char *out, const char *type, int overwrite, char *err, size_t len)
{
    vkllm_quantize_options o = { .type = type, .overwrite = overwrite, .n_threads = 3 };
    return vkllm_quantize(in, out, &o, NULL, err, len);
}

/* files in the scratch folder whose name holds ".tmp-" (left-over partial outputs) */
static int leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void params_k(gen_params *p)
{
    gen_preset("tiny", p); /* rows of 256 and 512: whole super-blocks */
    p->n_layer = 2, p->n_embd = 256, p->n_ff = 256, p->n_head = 4, p->n_head_kv = 2, p->n_vocab = 320, p->seed = 11;
}

/* ---------------------------------------------------------------- cases */

static void test_gguf_source(void)
{
    gen_params p;
    params_k(&p);
    char *src = tu_path(scratch, "k.gguf"), *out = tu_path(scratch, "k-out.gguf"), err[512];
    vkllm_status st = gen_write_gguf(&p, src, err, sizeof err);
    CHECK(st == VKLLM_OK, "gen: %s", err);
    gguf_file *g = NULL;
    if (st || gguf_open(src, &g, err, sizeof err)) return;
    shape sh = { p.n_layer, p.n_head, p.n_head_kv, 0 };
    source s = { .g = g };
    static const char *const schemes[] = { "q4_k_m", "q8_0", "q3_k_m", "iq4_xs", "q5_1" };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "gguf %s", schemes[i]);
        st = quantize(src, out, schemes[i], 1, err, sizeof err);
        CHECK(st == VKLLM_OK, "%s: %s", what, err);
        if (st) continue;
        check_tensors(what, out, schemes[i], &sh, &s, g->n_tensors);
        if (i == 0) { /* metadata round trip and the tokenizer */
            gguf_file *o = NULL;
            if (gguf_open(out, &o, err, sizeof err) == VKLLM_OK) {
                for (uint64_t k = 0; k < g->n_kv; k++) {
                    const gguf_kv *a = &g->kv[k];
                    char key[128];
                    snprintf(key, sizeof key, "%.*s", (int)a->key.len, a->key.s);
                    const gguf_kv *b = gguf_find(o, key);
                    uint64_t la = (k + 1 < g->n_kv ? g->kv[k + 1].offset : g->tensor_info_offset) - a->offset;
                    CHECK(b != NULL, "%s: key %s lost", what, key);
                    if (!b || !strcmp(key, "general.file_type")) continue;
                    size_t ib = (size_t)(b - o->kv);
                    uint64_t lb = (ib + 1 < o->n_kv ? o->kv[ib + 1].offset : o->tensor_info_offset) - b->offset;
                    CHECK(la == lb && !memcmp(g->map.data + a->offset, o->map.data + b->offset, la),
                          "%s: key %s changed", what, key);
                }
                CHECK(o->n_kv == g->n_kv, "%s: %" PRIu64 " keys, source %" PRIu64, what, o->n_kv, g->n_kv);
            }
            gguf_close(o);
            check_tokenizer(what, src, out);
            check_template(what, out);
        }
    }
    /* the same bytes whatever the thread count */
    char *out1 = tu_path(scratch, "k-1thread.gguf");
    vkllm_quantize_options o1 = { .type = "q4_k_m", .n_threads = 1 };
    st = vkllm_quantize(src, out1, &o1, NULL, err, sizeof err);
    CHECK(st == VKLLM_OK, "1 thread: %s", err);
    st = quantize(src, out, "q4_k_m", 1, err, sizeof err);
    size_t n1 = 0, n3 = 0;
    uint8_t *b1 = tu_read(out1, &n1), *b3 = tu_read(out, &n3);
    CHECK(b1 && b3 && n1 == n3 && !memcmp(b1, b3, n1), "1 and 3 threads give different files");
    free(b1), free(b3);
    gguf_close(g);
    free(out1);
    free(src);
    free(out);
}

static void test_hf_source(void)
{
    gen_params p;
    params_k(&p);
    p.n_shards = 2;
    char *dir = tu_path(scratch, "k-hf"), *out = tu_path(scratch, "k-hf-out.gguf"), err[512];
    vkllm_status st = gen_write_hf(&p, dir, err, sizeof err);
    CHECK(st == VKLLM_OK, "gen hf: %s", err);
    if (st) return;
    source s = { .p = &p };
    s.gt = gen_tensor_list(&p, &s.n_gt);
    shape sh = { p.n_layer, p.n_head, p.n_head_kv, 0 };
    static const char *const schemes[] = { "q4_k_m", "q2_k", "iq4_nl", "f16" };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "hf %s", schemes[i]);
        st = quantize(dir, out, schemes[i], 1, err, sizeof err);
        CHECK(st == VKLLM_OK, "%s: %s", what, err);
        if (st) continue;
        check_tensors(what, out, schemes[i], &sh, &s, s.n_gt);
        if (i == 0) {
            check_tokenizer(what, dir, out);
            check_template(what, out);
        }
    }
    /* "f16": the generator's own GGUF of the same weights (llama.cpp's converter layout), tensor for tensor,
     * and the hparams keys with the converter's types */
    char *ref = tu_path(scratch, "k-ref.gguf");
    st = gen_write_gguf(&p, ref, err, sizeof err);
    gguf_file *a = NULL, *b = NULL;
    if (!st && !gguf_open(ref, &a, err, sizeof err) && !gguf_open(out, &b, err, sizeof err)) {
        CHECK(a->n_tensors == b->n_tensors, "hf f16: tensor count");
        for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++)
            CHECK(a->tensors[i].n_bytes == b->tensors[i].n_bytes &&
                      a->tensors[i].type == b->tensors[i].type &&
                      !memcmp(a->tensors[i].data, b->tensors[i].data, a->tensors[i].n_bytes),
                  "hf f16: tensor %" PRIu64 " (%.*s) differs from the generator's GGUF", i,
                  (int)a->tensors[i].name.len, a->tensors[i].name.s);
        static const char *const u32_keys[] = { "llama.block_count", "llama.context_length",
                                                "llama.embedding_length", "llama.feed_forward_length",
                                                "llama.attention.head_count", "llama.attention.head_count_kv",
                                                "llama.vocab_size", "llama.rope.dimension_count",
                                                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id" };
        for (size_t k = 0; k < sizeof u32_keys / sizeof u32_keys[0]; k++) {
            const gguf_kv *x = gguf_find(a, u32_keys[k]), *y = gguf_find(b, u32_keys[k]);
            CHECK(x && y && y->type == GGUF_TYPE_UINT32 && !memcmp(x->value, y->value, 4), "hf: key %s", u32_keys[k]);
        }
        static const char *const f32_keys[] = { "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon" };
        for (size_t k = 0; k < 2; k++) {
            const gguf_kv *x = gguf_find(a, f32_keys[k]), *y = gguf_find(b, f32_keys[k]);
            CHECK(x && y && y->type == GGUF_TYPE_FLOAT32 && !memcmp(x->value, y->value, 4), "hf: key %s", f32_keys[k]);
        }
        gguf_str arch = { 0 };
        CHECK(gguf_get_str(b, "general.architecture", &arch, err, sizeof err) == VKLLM_OK &&
                  gguf_str_eq(arch, "llama"), "hf: general.architecture");
        /* and the model reader takes it as a GGUF model of the same shape */
        model *m = NULL;
        st = model_open(out, &m, err, sizeof err);
        CHECK(st == VKLLM_OK && m->hp.n_layer == p.n_layer && m->hp.n_head_kv == p.n_head_kv &&
                  m->rope_pairing == ROPE_ADJACENT, "hf f16: model_open: %s", st ? err : "hparams differ");
        model_close(m);
    }
    gguf_close(a);
    gguf_close(b);
    free(s.gt);
    free(ref);
    free(dir);
    free(out);
}

/* tied embeddings, GQA, rows of 64 (fallback types), SOLAR's real 32000-piece tokenizer */
static void test_hf_solar_tokenizer(void)
{
    gen_params p;
    gen_preset("tiny", &p);
    p.n_vocab = 32000, p.tied = 1, p.seed = 5;
    char *dir = tu_path(scratch, "solar-hf"), *out = tu_path(scratch, "solar-out.gguf"), err[512];
    vkllm_status st = gen_write_hf(&p, dir, err, sizeof err);
    CHECK(st == VKLLM_OK, "gen hf: %s", err);
    if (st) return;
    char from[1024], *to = tu_path(dir, "tokenizer.json");
    snprintf(from, sizeof from, "%s/solar-mistral/tokenizer.json", data_dir);
    CHECK(tu_copy(from, to), "copy %s", from);
    st = quantize(dir, out, "q4_k_m", 0, err, sizeof err);
    CHECK(st == VKLLM_OK, "solar q4_k_m: %s", err);
    if (!st) {
        source s = { .p = &p };
        s.gt = gen_tensor_list(&p, &s.n_gt);
        shape sh = { p.n_layer, p.n_head, p.n_head_kv, 1 };
        check_tensors("solar tied q4_k_m", out, "q4_k_m", &sh, &s, s.n_gt);
        free(s.gt);
        check_tokenizer("solar tokenizer", dir, out);
        check_template("solar", out);
        gguf_file *g = NULL;
        if (!gguf_open(out, &g, err, sizeof err)) {
            CHECK(!gguf_find_tensor(g, "output.weight"), "tied: an output.weight was written");
            const gguf_tensor *e = gguf_find_tensor(g, "token_embd.weight");
            CHECK(e && e->type == QTYPE_Q8_0, "tied: token_embd has the output's type (Q6_K -> Q8_0 for rows of 64)");
        }
        gguf_close(g);
    }
    /* the newer tokenizer.json form: merges as ["a", "b"] pairs; and a byte-level BPE one refused */
    size_t n = 0;
    uint8_t *text = tu_read(to, &n);
    cJSON *tj = text ? cJSON_ParseWithLength((const char *)text, n) : NULL;
    cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "merges"), *m;
    CHECK(cJSON_IsArray(merges), "solar tokenizer.json has merges");
    cJSON_ArrayForEach(m, merges) {
        char *sp = cJSON_IsString(m) ? strchr(m->valuestring, ' ') : NULL;
        if (!sp) continue;
        *sp = 0;
        const char *pair[2] = { m->valuestring, sp + 1 };
        cJSON *arr = cJSON_CreateStringArray(pair, 2);
        cJSON_ReplaceItemViaPointer(merges, m, arr);
        m = arr;
    }
    char *js = cJSON_PrintUnformatted(tj);
    CHECK(js && tu_write(to, js, strlen(js)), "write %s", to);
    free(js);
    st = quantize(dir, out, "q8_0", 1, err, sizeof err);
    CHECK(st == VKLLM_OK, "solar, merges as pairs: %s", err);
    if (!st) check_tokenizer("solar tokenizer, merges as pairs", dir, out);
    cJSON_ReplaceItemInObject(tj, "pre_tokenizer", cJSON_Parse("{\"type\": \"ByteLevel\", \"add_prefix_space\": false}"));
    js = cJSON_PrintUnformatted(tj);
    CHECK(js && tu_write(to, js, strlen(js)), "write %s", to);
    free(js);
    st = quantize(dir, out, "q8_0", 1, err, sizeof err);
    tu_expect("byte-level BPE", st, err, VKLLM_ERR_UNSUPPORTED, "tokenizer.json", "byte-level BPE", NULL);
    cJSON_Delete(tj);
    free(text);
    free(to);
    free(dir);
    free(out);
}

/* llama-quantize's q4_k_m of the fixture: the same type and size per tensor, the same file size */
static void test_fixture(void)
{
    char src[1024], ref[1024], err[512];
    snprintf(src, sizeof src, "%s/fx256-f16.gguf", fx_dir);
    snprintf(ref, sizeof ref, "%s/fx256-Q4_K_M.gguf", fx_dir);
    char *out = tu_path(scratch, "fx256-q4_k_m.gguf");
    vkllm_status st = quantize(src, out, "Q4_K_M", 0, err, sizeof err);
    CHECK(st == VKLLM_OK, "fixture: %s", err);
    gguf_file *a = NULL, *b = NULL;
    if (!st && !gguf_open(ref, &a, err, sizeof err) && !gguf_open(out, &b, err, sizeof err)) {
        CHECK(a->n_tensors == b->n_tensors && a->n_kv == b->n_kv, "fixture: %" PRIu64 "/%" PRIu64 " tensors, %" PRIu64
              "/%" PRIu64 " keys", b->n_tensors, a->n_tensors, b->n_kv, a->n_kv);
        for (uint64_t i = 0; i < a->n_tensors; i++) {
            const gguf_tensor *x = &a->tensors[i];
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)x->name.len, x->name.s);
            const gguf_tensor *y = gguf_find_tensor(b, name);
            CHECK(y && y->type == x->type && y->n_bytes == x->n_bytes, "fixture: %s: ours %s %" PRIu64
                  " bytes, llama-quantize's %s %" PRIu64, name, y ? ggml_type_name(y->type) : "missing",
                  y ? y->n_bytes : 0, ggml_type_name(x->type), x->n_bytes);
        }
        CHECK(a->map.size == b->map.size, "fixture: file %" PRIu64 " bytes, llama-quantize's %" PRIu64, b->map.size,
              a->map.size);
    }
    gguf_close(a);
    gguf_close(b);
    free(out);
}

static int cancel_cb(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total, (void)user;
    return 1;
}

static void test_refusals(void)
{
    char src[1024], quantized[1024], err[512];
    snprintf(src, sizeof src, "%s/fx256-f16.gguf", fx_dir);
    snprintf(quantized, sizeof quantized, "%s/fx256-Q4_K_M.gguf", fx_dir);
    char *out = tu_path(scratch, "bad-out.gguf");
    vkllm_status st;

    st = quantize(src, out, "q4_k_x", 0, err, sizeof err);
    tu_expect("unknown type", st, err, VKLLM_ERR_INVALID_ARG, "unknown quantization type 'q4_k_x'", "q4_k_m", NULL);
    CHECK(!exists(out), "unknown type: an output was written");

    st = quantize(quantized, out, "q8_0", 0, err, sizeof err);
    tu_expect("quantized source", st, err, VKLLM_ERR_UNSUPPORTED, "already quantized", "Q4_K", "--allow-requantize",
              NULL);
    CHECK(!exists(out), "quantized source: an output was written");

    /* requantizing when allowed: each row is our blocks of the dequantized source row */
    vkllm_quantize_options o = { .type = "q8_0", .allow_requantize = 1 };
    st = vkllm_quantize(quantized, out, &o, NULL, err, sizeof err);
    CHECK(st == VKLLM_OK, "requantize: %s", err);
    gguf_file *g = NULL;
    if (!st && !gguf_open(quantized, &g, err, sizeof err)) {
        shape sh = { 1, 4, 2, 0 };
        source s = { .g = g };
        check_tensors("requantize q4_k_m -> q8_0", out, "q8_0", &sh, &s, g->n_tensors);
    }
    gguf_close(g);

    /* an existing output: refused and untouched; replaced with overwrite */
    size_t n0 = 0, n1 = 0;
    uint8_t *before = tu_read(out, &n0);
    st = quantize(src, out, "q4_0", 0, err, sizeof err);
    tu_expect("existing output", st, err, VKLLM_ERR_INVALID_ARG, "already exists", "--force", NULL);
    uint8_t *after = tu_read(out, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "existing output: it was changed");
    free(before), free(after);
    st = quantize(src, out, "q4_0", 1, err, sizeof err);
    CHECK(st == VKLLM_OK, "overwrite: %s", err);

    /* a folder that does not exist */
    char *missing = tu_path(scratch, "no-such-dir/out.gguf");
    st = quantize(src, missing, "q4_0", 0, err, sizeof err);
    tu_expect("missing folder", st, err, VKLLM_ERR_IO, "no-such-dir/out.gguf", "cannot create", NULL);
    free(missing);

    /* a full disk: the file-size limit makes a write fail part way (as ENOSPC would; root is not exempt) */
    char *full = tu_path(scratch, "full.gguf");
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = { 200 * 1024, old.rlim_max };
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    st = quantize(src, full, "q8_0", 0, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    tu_expect("write error", st, err, VKLLM_ERR_IO, "full.gguf", "write failed", "removed", NULL);
    CHECK(!exists(full), "write error: the output exists");
    CHECK(leftovers(scratch) == 0, "write error: a partial file was left behind");
    free(full);

    /* a folder we may not write into (not testable as root, who may write anywhere) */
    if (geteuid() != 0) {
        char *ro = tu_path(scratch, "ro");
        char *ro_out = tu_path(ro, "out.gguf");
        mkdir(ro, 0555);
        st = quantize(src, ro_out, "q4_0", 0, err, sizeof err);
        tu_expect("read-only folder", st, err, VKLLM_ERR_IO, "cannot create", NULL);
        chmod(ro, 0755);
        free(ro_out);
        free(ro);
    }

    /* NaN weights are refused, nothing left behind */
    size_t n = 0;
    uint8_t *bytes = tu_read(src, &n);
    gguf_file *f = NULL;
    char *nan_src = tu_path(scratch, "nan.gguf"), *nan_out = tu_path(scratch, "nan-out.gguf");
    if (bytes && !gguf_open(src, &f, err, sizeof err)) {
        const gguf_tensor *t = gguf_find_tensor(f, "blk.0.ffn_up.weight");
        uint16_t h = 0x7e00; /* fp16 NaN */
        size_t off = (size_t)((const uint8_t *)t->data - f->map.data) + 2 * 256 * 3 + 10;
        memcpy(bytes + off, &h, 2);
        CHECK(tu_write(nan_src, bytes, n), "write %s", nan_src);
        st = quantize(nan_src, nan_out, "q4_k_m", 0, err, sizeof err);
        tu_expect("NaN weights", st, err, VKLLM_ERR_FORMAT, "blk.0.ffn_up.weight", "row 3", "NaN", NULL);
        CHECK(!exists(nan_out) && leftovers(scratch) == 0, "NaN weights: output left behind");
    }
    gguf_close(f);
    free(bytes);

    /* a cancel from the progress callback */
    char *cancelled = tu_path(scratch, "cancelled.gguf");
    vkllm_quantize_options oc = { .type = "q4_k_m", .progress = cancel_cb };
    st = vkllm_quantize(src, cancelled, &oc, NULL, err, sizeof err);
    tu_expect("cancel", st, err, VKLLM_ERR_INVALID_ARG, "cancelled", NULL);
    CHECK(!exists(cancelled) && leftovers(scratch) == 0, "cancel: output left behind");

    /* a dry run writes nothing and reports the size the file would have */
    vkllm_quantize_options od = { .type = "q4_k_m", .dry_run = 1 };
    vkllm_quantize_stats stats;
    st = vkllm_quantize(src, cancelled, &od, &stats, err, sizeof err);
    CHECK(st == VKLLM_OK && !exists(cancelled) && stats.out_bytes == 443424 && stats.n_tensors == 12 &&
              stats.n_quantized == 9 && stats.file_type == 15,
          "dry run: %s, %" PRIu64 " bytes, %" PRIu64 " tensors", st ? err : "ok", stats.out_bytes, stats.n_tensors);

    free(cancelled);
    free(nan_src), free(nan_out);
    free(out);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s SCRATCH TESTS_DATA QUANT_FIXTURES\n", argv[0]);
        return 2;
    }
    scratch = argv[1], data_dir = argv[2], fx_dir = argv[3];
    if (!tu_scratch(scratch)) {
        fprintf(stderr, "cannot create %s\n", scratch);
        return 1;
    }
    static const struct { const char *name; void (*fn)(void); } cases[] = {
        { "gguf source", test_gguf_source }, { "hf source", test_hf_source },
        { "hf solar tokenizer", test_hf_solar_tokenizer }, { "llama-quantize fixture", test_fixture },
        { "refusals", test_refusals },
    };
    load_texts();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        cases[i].fn();
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        printf("%-24s %.2f s CPU\n", cases[i].name, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    for (size_t i = 0; i < n_texts; i++) free(texts[i]);
    free(texts);
    if (tu_failures) {
        printf("%d failure(s)\n", tu_failures);
        return 1;
    }
    tu_rmtree(scratch);
    printf("all quantize_model checks passed\n");
    return 0;
}
