/* Malformed safetensors files and Hugging Face folders: each gets its own
 * error naming the file and the field / tensor.
 *   1. hand-made safetensors headers (lengths, JSON, dtypes, shapes, offsets);
 *   2. a generated model.safetensors truncated at its boundaries and at random;
 *   3. folders: bad config.json (missing field, wrong type, unsupported
 *      features), missing / wrong tensors, I8 and F64 weights, index.json
 *      naming a missing shard or a shard without the tensor, bad paths.
 * usage: test_model_hf_bad SCRATCH_DIR */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model_util.h"
#include "util/rng.h"

static const char *g_scratch;

/* ---------------------------------------------------------------- single files */

/* writes u64 len + header (len = strlen, or forced_len if nonzero) + data_len zero bytes */
static char *write_st(const char *header, uint64_t forced_len, size_t data_len)
{
    char *path = tu_path(g_scratch, "bad.safetensors");
    size_t hl = strlen(header);
    uint64_t len = forced_len ? forced_len : hl;
    uint8_t *b = calloc(1, 8 + hl + data_len);
    memcpy(b, &len, 8);
    memcpy(b + 8, header, hl);
    tu_write(path, b, 8 + hl + data_len);
    free(b);
    return path;
}

static void st_case(const char *what, const char *header, size_t data_len, const char *want)
{
    char *path = write_st(header, 0, data_len);
    char err[512] = "";
    st_file *f = NULL;
    tu_expect(what, st_open(path, &f, err, sizeof err), err, VKLLM_ERR_FORMAT, "bad.safetensors: ", want, NULL);
    st_close(f);
    free(path);
}

static void single_files(void)
{
    char *path = tu_path(g_scratch, "bad.safetensors");
    char err[512];
    st_file *f = NULL;
    tu_write(path, "abcde", 5);
    tu_expect("5 bytes", st_open(path, &f, err, sizeof err), err, VKLLM_ERR_FORMAT, "bad.safetensors: truncated",
              "too short", NULL);
    free(path);
    path = write_st("{}", 1000, 10);
    tu_expect("header past EOF", st_open(path, &f, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "truncated: header length 1000 runs past the end", NULL);
    free(path);
    path = write_st("{}", 1ull << 62, 10);
    tu_expect("header 2^62", st_open(path, &f, err, sizeof err), err, VKLLM_ERR_FORMAT, "header length 4611686018427387904",
              NULL);
    free(path);

    const char *T = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    st_case("not JSON", "{\"w\":{\"dtype\":", 0, "header is not valid JSON");
    st_case("not an object", "[1, 2]", 0, "header does not start with '{'");
    st_case("entry not object", "{\"w\": 5}", 0, "header: tensor 'w' is not a JSON object");
    st_case("no dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w': dtype is missing");
    st_case("dtype number", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is not a string");
    st_case("unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
            "tensor 'w': unknown dtype 'Q4'");
    st_case("shape string", "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape is not an array");
    st_case("shape -1", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8,
            "tensor 'w': shape[0] is not a non-negative integer");
    st_case("shape 1.5", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2, 1.5],\"data_offsets\":[0,8]}}", 8, "shape[1]");
    st_case("shape 9 dims", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 8,
            "shape has 9 dimensions (at most 8)");
    st_case("shape overflow",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8,
            "tensor 'w': shape overflows");
    st_case("bytes overflow", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,8]}}", 8,
            "byte size of shape overflows");
    st_case("no offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets is missing");
    st_case("one offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
            "data_offsets must be [begin, end]");
    st_case("begin > end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
            "tensor 'w': data_offsets [8, 0] are reversed (begin after end)");
    st_case("past EOF", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
            "tensor 'w': data_offsets [0, 8] outside the data (4 bytes): truncated");
    st_case("huge offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[9007199254740000,9007199254740008]}}",
            8, "outside the data");
    st_case("size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
            "data_offsets span 4 bytes but F32 shape needs 8");
    st_case("overlap",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            "data of tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap");
    /* an empty tensor between two that share bytes must not hide them */
    st_case("overlap hidden by an empty tensor",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]},"
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[32,32]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[32,48]}}", 64,
            "data of tensors 'a' (data_offsets [0, 64]) and 'b' (data_offsets [32, 48]) overlap");
    st_case("overlap behind two empty tensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]},"
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
            "\"f\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[60,60]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[60,64]}}", 64,
            "data of tensors 'a' (data_offsets [0, 64]) and 'b' (data_offsets [60, 64]) overlap");
    {   /* empty tensors inside or between others share no byte: accepted */
        char *ok = write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]},"
                            "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[32,32]},"
                            "\"f\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[64,64]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[64,80]}}", 0, 80);
        st_file *g = NULL;
        CHECK(st_open(ok, &g, err, sizeof err) == VKLLM_OK && g->n_tensors == 4, "empty tensors inside others: %s", err);
        st_close(g);
        free(ok);
    }
    /* sub-byte dtypes: named as unsupported where the elements leave a partial byte */
    path = write_st("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 0, 2);
    tu_expect("F4 x3", st_open(path, &f, err, sizeof err), err, VKLLM_ERR_UNSUPPORTED,
              "bad.safetensors: header: tensor 'w': dtype F4 packs 4-bit elements", "sub-byte dtypes are not supported",
              NULL);
    st_close(f);
    free(path);
    path = write_st("{\"w\":{\"dtype\":\"F6_E2M3\",\"shape\":[2, 3],\"data_offsets\":[0,5]}}", 0, 5);
    tu_expect("F6 x6", st_open(path, &f, err, sizeof err), err, VKLLM_ERR_UNSUPPORTED, "dtype F6_E2M3 packs 6-bit",
              NULL);
    st_close(f);
    free(path);
    path = write_st("{\"w\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 0, 2);
    f = NULL;
    CHECK(st_open(path, &f, err, sizeof err) == VKLLM_OK && f->tensors[0].dtype == DTYPE_OTHER &&
              f->tensors[0].n_bytes == 2, "F4 x4 fills whole bytes: kept as another dtype: %s", err);
    st_close(f);
    free(path);
    st_case("duplicate",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
            "tensor 'a' appears twice");
    char buf[256];
    snprintf(buf, sizeof buf, "%s}  xx", T);
    st_case("trailing bytes", buf, 8, "header has bytes after the JSON object");
    st_case("metadata not object", "{\"__metadata__\": 5}", 0, "__metadata__ is not an object");

    /* valid: I8 is read (a model refuses it later, naming the tensor), padding spaces are fine */
    path = write_st("{\"__metadata__\":{\"format\":\"pt\"},\"q\":{\"dtype\":\"I8\",\"shape\":[2,3],\"data_offsets\":[0,6]},"
                    "\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[6,12]}}      ", 0, 12);
    CHECK(st_open(path, &f, err, sizeof err) == VKLLM_OK && f->n_tensors == 2 && st_find(f, "q") &&
              st_find(f, "q")->dtype == DTYPE_OTHER && !strcmp(st_find(f, "q")->dtype_name, "I8") &&
              st_find(f, "w")->dtype == DTYPE_BF16 && st_find(f, "w")->file_offset == f->data_offset + 6 &&
              !st_find(f, "x"),
          "valid file: %s", err);
    st_close(f);
    free(path);
}

/* cuts a generated model.safetensors: header-length, header and data boundaries */
static void truncations(const char *good)
{
    st_file *f = NULL;
    char err[512];
    if (st_open(good, &f, err, sizeof err)) {
        CHECK(0, "open: %s", err);
        return;
    }
    char *path = tu_path(g_scratch, "bad.safetensors");
    typedef struct { uint64_t len; const char *want; } cut_t;
    cut_t cuts[64];
    size_t n = 0;
    cuts[n++] = (cut_t){ 0, "too short" };
    cuts[n++] = (cut_t){ 7, "too short" };
    cuts[n++] = (cut_t){ 8, "header length" };
    cuts[n++] = (cut_t){ f->data_offset - 1, "header length" };
    static char names[8][160];
    /* the header lists tensors in data order: a cut inside one names it */
    const st_tensor *order[3] = { st_find(f, "model.embed_tokens.weight"),
                                  st_find(f, "model.layers.0.self_attn.q_proj.weight"), st_find(f, "lm_head.weight") };
    for (int i = 0; i < 3; i++) {
        if (!order[i]) continue;
        snprintf(names[i], sizeof names[i], "tensor '%s': data_offsets", order[i]->name);
        cuts[n++] = (cut_t){ order[i]->file_offset + order[i]->n_bytes - 1, names[i] };
    }
    for (size_t i = 0; i < n; i++) {
        tu_write(path, f->map.data, (size_t)cuts[i].len);
        st_file *c = NULL;
        char what[64];
        snprintf(what, sizeof what, "cut at %llu", (unsigned long long)cuts[i].len);
        tu_expect(what, st_open(path, &c, err, sizeof err), err, VKLLM_ERR_FORMAT, "bad.safetensors",
                  "truncated", cuts[i].want, NULL);
        st_close(c);
    }
    rng r = { 777 };
    for (int i = 0; i < 200; i++) {
        uint64_t len = rng_next(&r) % f->map.size;
        tu_write(path, f->map.data, (size_t)len);
        st_file *c = NULL;
        CHECK(st_open(path, &c, err, sizeof err) == VKLLM_ERR_FORMAT && strstr(err, "bad.safetensors") &&
                  strstr(err, "truncated"), "cut at %llu: %s", (unsigned long long)len, err);
        st_close(c);
    }
    free(path);
    st_close(f);
}

/* ---------------------------------------------------------------- folders */

static cJSON *load_json(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    size_t n = 0;
    char *text = (char *)tu_read(p, &n);
    cJSON *j = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    free(p);
    return j;
}

static void save_json(const char *dir, const char *name, cJSON *j)
{
    char *p = tu_path(dir, name), *text = cJSON_Print(j);
    tu_write(p, text, strlen(text));
    free(text);
    free(p);
    cJSON_Delete(j);
}

/* Rewrites dir/file's safetensors header through edit(); the data stays. */
static void edit_st(const char *dir, const char *file, void (*edit)(cJSON *h))
{
    char *p = tu_path(dir, file);
    size_t n;
    uint8_t *b = tu_read(p, &n);
    uint64_t hl;
    memcpy(&hl, b, 8);
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)hl);
    edit(h);
    char *text = cJSON_PrintUnformatted(h);
    uint64_t nl = strlen(text);
    uint8_t *o = malloc(8 + nl + (n - 8 - hl));
    memcpy(o, &nl, 8);
    memcpy(o + 8, text, nl);
    memcpy(o + 8 + nl, b + 8 + hl, n - 8 - hl);
    tu_write(p, o, 8 + nl + (n - 8 - hl));
    free(o);
    free(text);
    cJSON_Delete(h);
    free(b);
    free(p);
}

static void set_shape(cJSON *e, uint64_t a, uint64_t b)
{
    cJSON *s = cJSON_CreateArray();
    cJSON_AddItemToArray(s, cJSON_CreateNumber((double)a));
    if (b) cJSON_AddItemToArray(s, cJSON_CreateNumber((double)b));
    cJSON_ReplaceItemInObject(e, "shape", s);
}
static void q_to_i8(cJSON *h) /* F16 [64][64] -> I8 [128][64]: same bytes */
{
    cJSON *e = cJSON_GetObjectItem(h, "model.layers.0.self_attn.q_proj.weight");
    cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString("I8"));
    set_shape(e, 128, 64);
}
static void norm_to_f64(cJSON *h) /* F16 [64] -> F64 [16] */
{
    cJSON *e = cJSON_GetObjectItem(h, "model.norm.weight");
    cJSON_ReplaceItemInObject(e, "dtype", cJSON_CreateString("F64"));
    set_shape(e, 16, 0);
}
static void k_transposed(cJSON *h) { set_shape(cJSON_GetObjectItem(h, "model.layers.1.self_attn.k_proj.weight"), 64, 32); }
static void drop_lm_head(cJSON *h) { cJSON_DeleteItemFromObject(h, "lm_head.weight"); }
static void drop_embed(cJSON *h) { cJSON_DeleteItemFromObject(h, "model.embed_tokens.weight"); }

/* copies folder `src` to scratch/case, lets setup() spoil it, expects the error */
static void folder_case(const char *what, const char *src, void (*setup)(const char *dir), vkllm_status want,
                        const char *s1, const char *s2)
{
    char *dir = tu_path(g_scratch, "case");
    tu_copy_dir(src, dir);
    setup(dir);
    char err[512] = "";
    model *m = NULL;
    tu_expect(what, model_open(dir, &m, err, sizeof err), err, want, s1, s2, NULL);
    CHECK(!m, "%s: model returned", what);
    model_close(m);
    free(dir);
}

#define CONFIG_EDIT(fn, body)                      \
    static void fn(const char *dir)                \
    {                                              \
        cJSON *c = load_json(dir, "config.json"); \
        body;                                      \
        save_json(dir, "config.json", c);          \
    }
CONFIG_EDIT(no_hidden, cJSON_DeleteItemFromObject(c, "hidden_size"))
CONFIG_EDIT(hidden_string, cJSON_ReplaceItemInObject(c, "hidden_size", cJSON_CreateString("64")))
CONFIG_EDIT(layers_frac, cJSON_ReplaceItemInObject(c, "num_hidden_layers", cJSON_CreateNumber(1.5)))
CONFIG_EDIT(heads_neg, cJSON_ReplaceItemInObject(c, "num_attention_heads", cJSON_CreateNumber(-4)))
CONFIG_EDIT(tie_string, cJSON_ReplaceItemInObject(c, "tie_word_embeddings", cJSON_CreateString("yes")))
CONFIG_EDIT(eps_string, cJSON_ReplaceItemInObject(c, "rms_norm_eps", cJSON_CreateString("1e-5")))
CONFIG_EDIT(gpt2, cJSON *a = cJSON_CreateArray(); cJSON_AddItemToArray(a, cJSON_CreateString("GPT2LMHeadModel"));
            cJSON_ReplaceItemInObject(c, "architectures", a))
CONFIG_EDIT(archs_num, cJSON_ReplaceItemInObject(c, "architectures", cJSON_CreateNumber(1)))
CONFIG_EDIT(linear_rope, cJSON_ReplaceItemInObject(c, "rope_scaling", cJSON_Parse("{\"type\":\"linear\",\"factor\":2}")))
CONFIG_EDIT(yarn_params, cJSON_AddItemToObject(c, "rope_parameters",
                                               cJSON_Parse("{\"rope_theta\":10000,\"rope_type\":\"yarn\"}")))
CONFIG_EDIT(params_no_theta, cJSON_AddItemToObject(c, "rope_parameters", cJSON_Parse("{\"rope_type\":\"default\"}")))
CONFIG_EDIT(gelu, cJSON_ReplaceItemInObject(c, "hidden_act", cJSON_CreateString("gelu")))
CONFIG_EDIT(bias, cJSON_ReplaceItemInObject(c, "attention_bias", cJSON_CreateTrue()))
CONFIG_EDIT(kv3, cJSON_ReplaceItemInObject(c, "num_key_value_heads", cJSON_CreateNumber(3)))
CONFIG_EDIT(vocab1000, cJSON_ReplaceItemInObject(c, "vocab_size", cJSON_CreateNumber(1000)))
CONFIG_EDIT(eps_huge, cJSON_ReplaceItemInObject(c, "rms_norm_eps", cJSON_CreateNumber(1e300)))
CONFIG_EDIT(tied_on, cJSON_ReplaceItemInObject(c, "tie_word_embeddings", cJSON_CreateTrue()))

static void rm_file(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    unlink(p);
    free(p);
}
static void write_file(const char *dir, const char *name, const char *text)
{
    char *p = tu_path(dir, name);
    tu_write(p, text, strlen(text));
    free(p);
}
static void no_config(const char *dir) { rm_file(dir, "config.json"); }
static void config_garbage(const char *dir) { write_file(dir, "config.json", "{\"hidden_size\": 64,"); }
static void config_array(const char *dir) { write_file(dir, "config.json", "[1, 2]"); }
static void no_weights(const char *dir) { rm_file(dir, "model.safetensors"); }
static void st_i8(const char *dir) { edit_st(dir, "model.safetensors", q_to_i8); }
static void st_f64(const char *dir) { edit_st(dir, "model.safetensors", norm_to_f64); }
static void st_k_shape(const char *dir) { edit_st(dir, "model.safetensors", k_transposed); }
static void st_no_lm_head(const char *dir) { edit_st(dir, "model.safetensors", drop_lm_head); }
static void st_garbage(const char *dir)
{
    char *p = tu_path(dir, "model.safetensors");
    tu_write(p, "\x05\0\0\0\0\0\0\0{\"a\":", 13);
    free(p);
}

/* sharded folder (3 shards) */
static void shard_missing(const char *dir) { rm_file(dir, "model-00002-of-00003.safetensors"); }
static void shard_empty_header(const char *dir) { edit_st(dir, "model-00001-of-00003.safetensors", drop_embed); }
#define INDEX_EDIT(fn, body)                                            \
    static void fn(const char *dir)                                     \
    {                                                                   \
        cJSON *x = load_json(dir, "model.safetensors.index.json");     \
        cJSON *wm = cJSON_GetObjectItem(x, "weight_map");               \
        (void)wm;                                                       \
        body;                                                           \
        save_json(dir, "model.safetensors.index.json", x);             \
    }
INDEX_EDIT(wm_drop, cJSON_DeleteItemFromObject(wm, "model.layers.1.mlp.down_proj.weight"))
INDEX_EDIT(wm_wrong_shard, cJSON_ReplaceItemInObject(wm, "lm_head.weight",
                                                     cJSON_CreateString("model-00001-of-00003.safetensors")))
INDEX_EDIT(wm_escape, cJSON_ReplaceItemInObject(wm, "model.norm.weight", cJSON_CreateString("../model.safetensors")))
INDEX_EDIT(wm_number, cJSON_ReplaceItemInObject(wm, "model.norm.weight", cJSON_CreateNumber(3)))
INDEX_EDIT(wm_not_object, cJSON_ReplaceItemInObject(x, "weight_map", cJSON_CreateArray()))
INDEX_EDIT(wm_ghost, cJSON_ReplaceItemInObject(wm, "model.norm.weight", cJSON_CreateString("model-ghost.safetensors")))
/* weight_map entries: more than the model's tensors plus MODEL_MAX_EXTRA_TENSORS */
static void wm_entries(cJSON *wm, int n, int n_names)
{
    for (int i = 0; i < n; i++) {
        char name[64], shard[64];
        snprintf(name, sizeof name, "junk.%d", i);
        snprintf(shard, sizeof shard, "junk-%05d.safetensors", n_names ? i % n_names : 0);
        cJSON_AddItemToObject(wm, name, cJSON_CreateString(shard));
    }
}
INDEX_EDIT(wm_too_many, wm_entries(wm, MODEL_MAX_EXTRA_TENSORS + 1, 1))
INDEX_EDIT(wm_shard_names, wm_entries(wm, 4096 - 3, 4096 - 3)) /* 4096 shards in all */
INDEX_EDIT(wm_shard_names_over, wm_entries(wm, 4096 - 2, 4096 - 2))
static void add_junk(cJSON *h)
{
    for (int i = 0; i <= MODEL_MAX_EXTRA_TENSORS; i++) {
        char name[32];
        snprintf(name, sizeof name, "junk.%d", i);
        cJSON_AddItemToObject(h, name, cJSON_Parse("{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]}"));
    }
}
static void st_junk(const char *dir) { edit_st(dir, "model.safetensors", add_junk); }
static void index_garbage(const char *dir) { write_file(dir, "model.safetensors.index.json", "{\"weight_map\": {"); }

static void folders(const char *hf, const char *hfs)
{
    const vkllm_status F = VKLLM_ERR_FORMAT, U = VKLLM_ERR_UNSUPPORTED;
    folder_case("no hidden_size", hf, no_hidden, F, "case/config.json: 'hidden_size' is missing", NULL);
    folder_case("hidden_size string", hf, hidden_string, F,
                "config.json: 'hidden_size' must be a non-negative integer, not a string", NULL);
    folder_case("layers 1.5", hf, layers_frac, F, "'num_hidden_layers' must be a non-negative integer below 2^32, not 1.5",
                NULL);
    folder_case("heads -4", hf, heads_neg, F, "'num_attention_heads' must be a non-negative integer", NULL);
    folder_case("tie string", hf, tie_string, F, "'tie_word_embeddings' must be true or false, not a string", NULL);
    folder_case("eps string", hf, eps_string, F, "'rms_norm_eps' must be a number, not a string", NULL);
    folder_case("gpt2", hf, gpt2, U, "architecture 'GPT2LMHeadModel' is not supported", NULL);
    folder_case("architectures 1", hf, archs_num, F, "'architectures' must be a list of strings", NULL);
    folder_case("linear rope", hf, linear_rope, U, "rope_scaling type 'linear' is not supported", NULL);
    folder_case("yarn", hf, yarn_params, U, "rope_parameters type 'yarn' is not supported", NULL);
    folder_case("params without theta", hf, params_no_theta, F, "config.json: 'rope_theta' is missing", NULL);
    folder_case("gelu", hf, gelu, U, "hidden_act 'gelu' is not supported", NULL);
    folder_case("bias", hf, bias, U, "'attention_bias' is true", NULL);
    folder_case("kv 3", hf, kv3, F, "case: hparam n_head_kv = 3 does not divide n_head = 4", NULL);
    folder_case("vocab 1000", hf, vocab1000, F,
                "model.safetensors: tensor 'model.embed_tokens.weight' has shape [512, 64], expected [1000, 64]", NULL);
    folder_case("no config", hf, no_config, VKLLM_ERR_IO, "case: no config.json", NULL);
    folder_case("config garbage", hf, config_garbage, F, "config.json: not valid JSON", NULL);
    folder_case("config array", hf, config_array, F, "config.json: the top level is not a JSON object", NULL);
    folder_case("no weights", hf, no_weights, VKLLM_ERR_IO, "case: no model.safetensors or model.safetensors.index.json",
                NULL);
    folder_case("I8 weight", hf, st_i8, U,
                "model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' has type I8", NULL);
    folder_case("F64 norm", hf, st_f64, U, "tensor 'model.norm.weight' has type F64", NULL);
    folder_case("k shape", hf, st_k_shape, F,
                "tensor 'model.layers.1.self_attn.k_proj.weight' has shape [64, 32], expected [32, 64]", NULL);
    folder_case("no lm_head", hf, st_no_lm_head, F, "tensor 'lm_head.weight' (output.weight) is missing", NULL);
    folder_case("bad safetensors", hf, st_garbage, F, "model.safetensors: header is not valid JSON", NULL);

    folder_case("missing shard", hfs, shard_missing, VKLLM_ERR_IO,
                "model.safetensors.index.json names shard 'model-00002-of-00003.safetensors'", "cannot open");
    folder_case("ghost shard", hfs, wm_ghost, VKLLM_ERR_IO, "names shard 'model-ghost.safetensors'", "cannot open");
    folder_case("shard lacks tensor", hfs, shard_empty_header, F,
                "model-00001-of-00003.safetensors: tensor 'model.embed_tokens.weight' (token_embd.weight) is missing, "
                "though model.safetensors.index.json lists it", NULL);
    folder_case("weight_map lacks tensor", hfs, wm_drop, F,
                "index.json: tensor 'model.layers.1.mlp.down_proj.weight' (blk.1.ffn_down.weight) is missing from "
                "weight_map", NULL);
    folder_case("wrong shard", hfs, wm_wrong_shard, F, "tensor 'lm_head.weight' (output.weight) is missing, though", NULL);
    folder_case("escaping shard name", hfs, wm_escape, F, "'../model.safetensors' is not a file in the folder", NULL);
    folder_case("shard name number", hfs, wm_number, F, "weight_map['model.norm.weight'] must be a file name string",
                NULL);
    folder_case("weight_map array", hfs, wm_not_object, F, "'weight_map' must be an object", NULL);
    folder_case("index garbage", hfs, index_garbage, F, "model.safetensors.index.json: not valid JSON", NULL);
    folder_case("rms_norm_eps 1e300", hf, eps_huge, F, "config.json: 'rms_norm_eps' = 1e+300 is outside the range",
                NULL);
    char want[160];
    snprintf(want, sizeof want, "weight_map lists %d tensors; a 2-layer llama model uses 21 and at most %d extra",
             2 + 9 * 2 + 1 + MODEL_MAX_EXTRA_TENSORS + 1, MODEL_MAX_EXTRA_TENSORS);
    folder_case("weight_map too long", hfs, wm_too_many, F, "index.json", want);
    folder_case("4096 shard names", hfs, wm_shard_names, VKLLM_ERR_IO, "names shard 'junk-00000.safetensors'",
                "cannot open");
    folder_case("4097 shard names", hfs, wm_shard_names_over, F, "index.json: more than 4096 shards", NULL);
    snprintf(want, sizeof want, "%d of them unused by this 2-layer llama model", MODEL_MAX_EXTRA_TENSORS + 1);
    folder_case("junk tensors", hf, st_junk, F, "case/model.safetensors", want);

    /* tie_word_embeddings true with lm_head present: the embeddings are used (HF semantics) */
    char *dir = tu_path(g_scratch, "case"), err[512];
    tu_copy_dir(hf, dir);
    tied_on(dir);
    model *m = NULL;
    CHECK(model_open(dir, &m, err, sizeof err) == VKLLM_OK && m->tied_embeddings && m->output == m->tok_embd &&
              m->n_tensors == 2 + 9 * 2, "tied with lm_head: %s", err);
    model_close(m);
    /* paths that are not models */
    char *st = tu_path(hf, "model.safetensors"), *nothing = tu_path(hf, "nothing"), *cfg = tu_path(hf, "config.json");
    tu_expect("safetensors path", model_open(st, &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG,
              "a .safetensors file alone is not a model", NULL);
    tu_expect("no such path", model_open(nothing, &m, err, sizeof err), err, VKLLM_ERR_IO, "nothing: cannot open", NULL);
    char *tok = tu_path(hf, "tokenizer.json");
    tu_expect("json as gguf", model_open(tok, &m, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "tokenizer.json: not a GGUF file", NULL);
    tu_expect("empty path", model_open("", &m, err, sizeof err), err, VKLLM_ERR_INVALID_ARG, "empty path", NULL);
    tu_expect("NULL out", model_open(cfg, NULL, err, sizeof err), err, VKLLM_ERR_INVALID_ARG, "out is NULL", NULL);
    free(tok);
    free(st);
    free(nothing);
    free(cfg);
    free(dir);
}

int main(int argc, char **argv)
{
    g_scratch = argc > 1 ? argv[1] : "tmp-hf-bad";
    if (!tu_scratch(g_scratch)) {
        printf("FAIL cannot create %s\n", g_scratch);
        return 1;
    }
    char err[512];
    char *hf = tu_path(g_scratch, "hf"), *hfs = tu_path(g_scratch, "hfs");
    gen_params p;
    gen_preset("tiny", &p); /* 2 layers, 64 wide, 4/2 heads (head_dim 16), ff 96, vocab 512, f16 */
    CHECK(gen_write_hf(&p, hf, err, sizeof err) == VKLLM_OK, "gen: %s", err);
    p.n_shards = 3;
    CHECK(gen_write_hf(&p, hfs, err, sizeof err) == VKLLM_OK, "gen: %s", err);
    single_files();
    char *good = tu_path(hf, "model.safetensors");
    truncations(good);
    free(good);
    folders(hf, hfs);
    free(hf);
    free(hfs);
    tu_rmtree(g_scratch);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
