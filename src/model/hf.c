/* Hugging Face folders: config.json -> hparams; model.safetensors or the
 * shards named by model.safetensors.index.json -> tensors under HF names,
 * mapped to canonical names for model_build. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/plat.h"

#include "model/json_file.h"
#include "model/model_internal.h"

#define CONFIG_MAX_BYTES (4u << 20)
#define INDEX_MAX_BYTES (64u << 20)
#define MAX_SHARDS 4096

/* ---------------------------------------------------------------- JSON files */

static const char *json_kind(const cJSON *j)
{
    return cJSON_IsString(j) ? "a string" : cJSON_IsBool(j) ? "a bool" : cJSON_IsArray(j) ? "an array"
         : cJSON_IsObject(j) ? "an object" : cJSON_IsNumber(j) ? "a non-integer number" : "null";
}

/* `key` of `obj` as an integer in [0, UINT32_MAX]; absent or null -> def (if !required), *given = 0 */
static vkllm_status cfg_u32(const cJSON *obj, const char *file, const char *key, int required, uint32_t def,
                            uint32_t *out, int *given, char *err, size_t err_len)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (given) *given = 0;
    if (!j || cJSON_IsNull(j)) {
        if (required) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' is missing", file, key);
        *out = def;
        return VKLLM_OK;
    }
    if (!cJSON_IsNumber(j))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' must be a non-negative integer, not %s", file, key,
                          json_kind(j));
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 4294967295.0) || d != floor(d))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' must be a non-negative integer below 2^32, not %g",
                          file, key, d);
    *out = (uint32_t)d;
    if (given) *given = 1;
    return VKLLM_OK;
}

static vkllm_status cfg_f32(const cJSON *obj, const char *file, const char *key, int required, float def, float *out,
                            char *err, size_t err_len)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' is missing", file, key);
        *out = def;
        return VKLLM_OK;
    }
    if (!cJSON_IsNumber(j))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' must be a number, not %s", file, key, json_kind(j));
    double d = j->valuedouble;
    if (isfinite(d) && d != 0 && (!isfinite((float)d) || (float)d == 0))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' = %g is outside the range of a 32-bit float", file, key,
                    d);
    *out = (float)d;
    return VKLLM_OK;
}

/* optional bool; absent/null -> def */
static vkllm_status cfg_bool(const cJSON *obj, const char *file, const char *key, int def, int *out, char *err,
                             size_t err_len)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return VKLLM_OK;
    }
    if (!cJSON_IsBool(j))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s' must be true or false, not %s", file, key,
                          cJSON_IsNumber(j) ? "a number" : json_kind(j));
    *out = cJSON_IsTrue(j);
    return VKLLM_OK;
}

/* rope_scaling / rope_parameters: only the plain ("default") RoPE is supported */
static vkllm_status check_rope_type(const cJSON *obj, const char *file, const char *what, char *err, size_t err_len)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!t || cJSON_IsNull(t)) return VKLLM_OK;
    if (!cJSON_IsString(t))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: '%s.rope_type' must be a string, not %s", file, what,
                          json_kind(t));
    if (strcmp(t->valuestring, "default") != 0)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: %s type '%.40s' is not supported (only default RoPE)",
                          file, what, t->valuestring);
    return VKLLM_OK;
}

static vkllm_status parse_config(model *m, const cJSON *c, const char *file, int *head_dim_given, char *err,
                                 size_t err_len)
{
    vkllm_status st;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(c, "architectures");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    const char *arch = NULL;
    if (archs && !cJSON_IsNull(archs)) {
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!cJSON_IsString(a0))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: 'architectures' must be a list of strings", file);
        arch = a0->valuestring;
        if (strcmp(arch, "LlamaForCausalLM") != 0 && strcmp(arch, "MistralForCausalLM") != 0)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                              "%s: architecture '%.60s' is not supported (LlamaForCausalLM, MistralForCausalLM)", file,
                              arch);
    } else if (cJSON_IsString(mt) && (!strcmp(mt->valuestring, "llama") || !strcmp(mt->valuestring, "mistral"))) {
        arch = mt->valuestring;
    } else {
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: 'architectures' is missing and 'model_type' is not llama or mistral", file);
    }
    snprintf(m->architecture, sizeof m->architecture, "%s", arch);
    model_hparams *hp = &m->hp;
    int kv_given;
    if ((st = cfg_u32(c, file, "num_hidden_layers", 1, 0, &hp->n_layer, NULL, err, err_len)) ||
        (st = cfg_u32(c, file, "hidden_size", 1, 0, &hp->n_embd, NULL, err, err_len)) ||
        (st = cfg_u32(c, file, "intermediate_size", 1, 0, &hp->n_ff, NULL, err, err_len)) ||
        (st = cfg_u32(c, file, "num_attention_heads", 1, 0, &hp->n_head, NULL, err, err_len)) ||
        (st = cfg_u32(c, file, "num_key_value_heads", 0, 0, &hp->n_head_kv, &kv_given, err, err_len)) ||
        (st = cfg_u32(c, file, "head_dim", 0, 0, &hp->head_dim, head_dim_given, err, err_len)) ||
        (st = cfg_u32(c, file, "vocab_size", 1, 0, &hp->n_vocab, NULL, err, err_len)) ||
        (st = cfg_u32(c, file, "max_position_embeddings", 0, 2048, &hp->n_ctx_train, NULL, err, err_len)) ||
        (st = cfg_f32(c, file, "rms_norm_eps", 0, 1e-6f, &hp->rms_eps, err, err_len)) ||
        (st = cfg_bool(c, file, "tie_word_embeddings", 0, &m->tied_embeddings, err, err_len)))
        return st;
    if (!kv_given) hp->n_head_kv = hp->n_head;
    /* RoPE: old form top-level rope_theta (+ rope_scaling), new form rope_parameters {rope_theta, rope_type} */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(c, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        if (!cJSON_IsObject(rp))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: 'rope_parameters' must be an object, not %s", file,
                              json_kind(rp));
        if ((st = check_rope_type(rp, file, "rope_parameters", err, err_len))) return st;
        if ((st = cfg_f32(rp, file, "rope_theta", 1, 0, &hp->rope_theta, err, err_len))) return st;
    } else if ((st = cfg_f32(c, file, "rope_theta", 0, 10000.0f, &hp->rope_theta, err, err_len))) {
        return st;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: 'rope_scaling' must be an object or null", file);
        if ((st = check_rope_type(rs, file, "rope_scaling", err, err_len))) return st;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: hidden_act %s%.40s%s is not supported (only silu)",
                          file, cJSON_IsString(act) ? "'" : "", cJSON_IsString(act) ? act->valuestring : json_kind(act),
                          cJSON_IsString(act) ? "'" : "");
    static const char *const biases[] = { "attention_bias", "mlp_bias" };
    for (int i = 0; i < 2; i++) {
        int b;
        if ((st = cfg_bool(c, file, biases[i], 0, &b, err, err_len))) return st;
        if (b)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: '%s' is true; biases are not supported", file,
                              biases[i]);
    }
    return VKLLM_OK;
}

/* ---------------------------------------------------------------- tensors */

typedef struct wm_entry { const char *name; uint32_t shard; } wm_entry;

typedef struct hf_src {
    model *m;
    const char *index_path; /* NULL: one model.safetensors */
    size_t n_map;
    wm_entry *map;          /* weight_map sorted by name; names point into the index JSON */
} hf_src;

static int cmp_wm(const void *a, const void *b)
{
    return strcmp(((const wm_entry *)a)->name, ((const wm_entry *)b)->name);
}

/* canonical -> HF name ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight") */
static int hf_name(const char *canon, char *out, size_t len)
{
    static const char *const top[][2] = {
        { "token_embd.weight", "model.embed_tokens.weight" },
        { "output_norm.weight", "model.norm.weight" },
        { "output.weight", "lm_head.weight" },
    };
    static const char *const per_layer[][2] = {
        { "attn_norm", "input_layernorm" },  { "attn_q", "self_attn.q_proj" },    { "attn_k", "self_attn.k_proj" },
        { "attn_v", "self_attn.v_proj" },    { "attn_output", "self_attn.o_proj" },
        { "ffn_norm", "post_attention_layernorm" }, { "ffn_gate", "mlp.gate_proj" }, { "ffn_up", "mlp.up_proj" },
        { "ffn_down", "mlp.down_proj" },
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (strcmp(canon, top[i][0]) == 0) return snprintf(out, len, "%s", top[i][1]) < (int)len;
    unsigned layer;
    char part[32];
    if (sscanf(canon, "blk.%u.%31[a-z_].weight", &layer, part) != 2) return 0;
    for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
        if (strcmp(part, per_layer[i][0]) == 0)
            return snprintf(out, len, "model.layers.%u.%s.weight", layer, per_layer[i][1]) < (int)len;
    return 0;
}

static vkllm_status hf_lookup(void *ctx, const char *canon, raw_tensor *out, int *found, char *src_name,
                              size_t src_name_len, char *err, size_t err_len)
{
    hf_src *s = ctx;
    *found = 0;
    if (!hf_name(canon, src_name, src_name_len))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "no HF name for tensor '%s'", canon);
    const st_file *f = s->m->shards[0];
    if (s->index_path) {
        wm_entry key = { src_name, 0 };
        const wm_entry *e = s->n_map ? bsearch(&key, s->map, s->n_map, sizeof key, cmp_wm) : NULL;
        if (!e)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s' (%s) is missing from weight_map",
                              s->index_path, src_name, canon);
        f = s->m->shards[e->shard];
    }
    const st_tensor *t = st_find(f, src_name);
    if (!t) {
        if (s->index_path)
            return errf(VKLLM_ERR_FORMAT, err, err_len,
                              "%s: tensor '%s' (%s) is missing, though model.safetensors.index.json lists it there",
                              f->map.path, src_name, canon);
        return VKLLM_OK; /* model_build reports it */
    }
    *found = 1;
    out->dtype = t->dtype;
    out->dtype_name = t->dtype_name;
    out->n_dims = t->n_dims;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->data = t->data;
    out->n_bytes = t->n_bytes;
    out->file = f->map.path;
    out->file_offset = t->file_offset;
    return VKLLM_OK;
}

static int file_exists(const char *p) { return plat_path_kind(p) != PLAT_MISSING; }

static vkllm_status open_shard(model *m, const char *name, const char *named_by, char *err, size_t err_len)
{
    char *p = path_join(m->dir, name);
    if (!p) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    st_file *f = NULL;
    char sub[512];
    vkllm_status st = st_open(p, &f, sub, sizeof sub);
    free(p);
    if (st) {
        if (named_by) return errf(st, err, err_len, "%s names shard '%s': %s", named_by, name, sub);
        return errf(st, err, err_len, "%s", sub);
    }
    m->shards[m->n_shards++] = f;
    return VKLLM_OK;
}

/* FNV-1a of a NUL-terminated string */
static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Parses the index into s->map and opens every shard it names. */
static vkllm_status open_index(model *m, hf_src *s, const cJSON *idx, char *err, size_t err_len)
{
    const char *ip = s->index_path;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(wm))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: 'weight_map' %s", ip,
                          wm ? "must be an object" : "is missing");
    size_t n = 0;
    for (const cJSON *e = wm->child; e; e = e->next) n++;
    /* every entry a tensor: the model's (norms and matrices, output) and a few extras */
    uint64_t needed = 3 + (uint64_t)m->hp.n_layer * 9;
    if (n > needed + MODEL_MAX_EXTRA_TENSORS)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                    "%s: weight_map lists %zu tensors; a %" PRIu32 "-layer llama model uses %" PRIu64 " and at most %d "
                    "extra ones are allowed", ip, n, m->hp.n_layer, needed, MODEL_MAX_EXTRA_TENSORS);
    s->map = calloc(n ? n : 1, sizeof *s->map);
    m->shards = calloc(MAX_SHARDS, sizeof *m->shards);
    /* shard names in first-seen order, and a hash table of them: [2 * MAX_SHARDS] slots of name index + 1 */
    const char **names = calloc(MAX_SHARDS, sizeof *names);
    uint32_t *slots = calloc(2 * MAX_SHARDS, sizeof *slots);
    vkllm_status st = VKLLM_OK;
    if (!s->map || !m->shards || !names || !slots) {
        free(names);
        free(slots);
        return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    }
    size_t n_names = 0;
    for (const cJSON *e = wm->child; e && !st; e = e->next) {
        if (!cJSON_IsString(e)) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: weight_map['%.80s'] must be a file name string", ip,
                            e->string);
            break;
        }
        const char *sh = e->valuestring;
        if (!*sh || strchr(sh, '/') || strchr(sh, '\\') || !strcmp(sh, ".") || !strcmp(sh, "..")) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: weight_map['%.80s'] = '%.80s' is not a file in the folder",
                            ip, e->string, sh);
            break;
        }
        uint32_t i = str_hash(sh) & (2 * MAX_SHARDS - 1);
        while (slots[i] && strcmp(names[slots[i] - 1], sh) != 0) i = (i + 1) & (2 * MAX_SHARDS - 1);
        if (!slots[i]) { /* at most half the slots are used: the probe always ends */
            if (n_names == MAX_SHARDS) {
                st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: more than %d shards", ip, MAX_SHARDS);
                break;
            }
            names[n_names++] = sh;
            slots[i] = (uint32_t)n_names;
        }
        s->map[s->n_map++] = (wm_entry){ e->string, slots[i] - 1 };
    }
    free(slots);
    for (size_t k = 0; k < n_names && !st; k++) st = open_shard(m, names[k], ip, err, err_len);
    free(names);
    if (st) return st;
    qsort(s->map, s->n_map, sizeof *s->map, cmp_wm);
    for (size_t i = 1; i < s->n_map; i++)
        if (strcmp(s->map[i - 1].name, s->map[i].name) == 0)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: weight_map lists '%.80s' twice", ip, s->map[i].name);
    return VKLLM_OK;
}

vkllm_status hf_load(model *m, const char *dir, char *err, size_t err_len)
{
    m->format = MODEL_FORMAT_HF;
    m->rope_pairing = ROPE_ROTATE_HALF;
    m->dir = strdup(dir);
    char *cfg_path = path_join(dir, "config.json");
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    cJSON *cfg = NULL, *idx = NULL;
    hf_src s = { .m = m };
    int head_dim_given = 0;
    vkllm_status st;
    if (!m->dir || !cfg_path || !single || !index) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if (!file_exists(cfg_path)) {
        st = errf(VKLLM_ERR_IO, err, err_len, "%s: no config.json: not a GGUF file nor a Hugging Face model "
                        "folder", dir);
        goto done;
    }
    if ((st = json_file_read(cfg_path, CONFIG_MAX_BYTES, JSON_MAX_VALUES, &cfg, err, err_len))) goto done;
    if ((st = parse_config(m, cfg, cfg_path, &head_dim_given, err, err_len))) goto done;
    if (file_exists(single)) { /* transformers prefers the single file too */
        m->shards = calloc(1, sizeof *m->shards);
        if (!m->shards) {
            st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
            goto done;
        }
        if ((st = open_shard(m, "model.safetensors", NULL, err, err_len))) goto done;
    } else if (file_exists(index)) {
        s.index_path = index;
        if ((st = json_file_read(index, INDEX_MAX_BYTES, JSON_MAX_VALUES, &idx, err, err_len))) goto done;
        if ((st = open_index(m, &s, idx, err, err_len))) goto done;
        if (m->n_shards == 0) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: weight_map is empty", index);
            goto done;
        }
    } else {
        st = errf(VKLLM_ERR_IO, err, err_len, "%s: no model.safetensors or model.safetensors.index.json", dir);
        goto done;
    }
    if ((st = model_build(m, head_dim_given, hf_lookup, &s, dir, err, err_len))) goto done;
    {
        uint64_t n_listed = 0;
        for (size_t i = 0; i < m->n_shards; i++) n_listed += m->shards[i]->n_tensors;
        st = model_check_extra(m, n_listed, m->n_shards == 1 ? m->shards[0]->map.path : dir, err, err_len);
    }
done:
    free(s.map);
    cJSON_Delete(idx);
    cJSON_Delete(cfg);
    free(cfg_path);
    free(single);
    free(index);
    return st;
}

vkllm_status model_read_config(const char *config_path, model_hparams *hp, int *tied, char *err, size_t err_len)
{
    model m;
    memset(&m, 0, sizeof m);
    cJSON *cfg = NULL;
    int head_dim_given = 0;
    vkllm_status st = json_file_read(config_path, CONFIG_MAX_BYTES, JSON_MAX_VALUES, &cfg, err, err_len);
    if (!st) st = parse_config(&m, cfg, config_path, &head_dim_given, err, err_len);
    if (!st) st = model_check_hparams(&m.hp, head_dim_given, config_path, err, err_len);
    cJSON_Delete(cfg);
    if (!st) {
        *hp = m.hp;
        if (tied) *tied = m.tied_embeddings;
    }
    return st;
}
