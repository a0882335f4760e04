/* Generator: Hugging Face folder output (config.json, safetensors shards and
 * index, tokenizer.json, tokenizer_config.json). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen_internal.h"

static const char *torch_dtype(tensor_dtype d)
{
    return d == DTYPE_F32 ? "float32" : d == DTYPE_F16 ? "float16" : "bfloat16";
}

static const char *st_dtype(tensor_dtype d) { return d == DTYPE_F32 ? "F32" : d == DTYPE_F16 ? "F16" : "BF16"; }

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (s) snprintf(s, a + b + 2, "%s/%s", dir, name);
    return s;
}

/* Prints j unformatted into dir/name and frees j. */
static vkllm_status write_json(const char *dir, const char *name, cJSON *j, int pretty, char *err, size_t err_len)
{
    char *text = j ? (pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j)) : NULL;
    char *path = join(dir, name);
    vkllm_status st = text && path ? gen_write_text(path, text, err, err_len)
                                   : errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    free(text);
    free(path);
    cJSON_Delete(j);
    return st;
}

static cJSON *config_json(const gen_params *p)
{
    uint32_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddBoolToObject(c, "attention_bias", 0);
    cJSON_AddNumberToObject(c, "bos_token_id", 1);
    cJSON_AddNumberToObject(c, "eos_token_id", 2);
    if (p->config_new_style) cJSON_AddStringToObject(c, "dtype", torch_dtype(p->dtype));
    if (p->config_new_style || p->head_dim) cJSON_AddNumberToObject(c, "head_dim", hd);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "hidden_size", p->n_embd);
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    cJSON_AddNumberToObject(c, "intermediate_size", p->n_ff);
    cJSON_AddNumberToObject(c, "max_position_embeddings", p->n_ctx);
    cJSON_AddStringToObject(c, "model_type", "llama");
    cJSON_AddNumberToObject(c, "num_attention_heads", p->n_head);
    cJSON_AddNumberToObject(c, "num_hidden_layers", p->n_layer);
    cJSON_AddNumberToObject(c, "num_key_value_heads", p->n_head_kv);
    cJSON_AddNumberToObject(c, "pretraining_tp", 1);
    cJSON_AddNumberToObject(c, "rms_norm_eps", p->rms_eps);
    if (p->config_new_style) {
        cJSON *rp = cJSON_AddObjectToObject(c, "rope_parameters");
        cJSON_AddNumberToObject(rp, "rope_theta", p->rope_theta);
        cJSON_AddStringToObject(rp, "rope_type", "default");
    } else {
        cJSON_AddNullToObject(c, "rope_scaling");
        cJSON_AddNumberToObject(c, "rope_theta", p->rope_theta);
    }
    cJSON_AddBoolToObject(c, "tie_word_embeddings", p->tied);
    if (!p->config_new_style) cJSON_AddStringToObject(c, "torch_dtype", torch_dtype(p->dtype));
    cJSON_AddStringToObject(c, "transformers_version", p->config_new_style ? "5.0.0" : "4.35.0");
    cJSON_AddBoolToObject(c, "use_cache", 1);
    cJSON_AddNumberToObject(c, "vocab_size", p->n_vocab);
    return c;
}

static cJSON *special_token(int id, const char *content)
{
    cJSON *t = cJSON_CreateObject();
    if (id >= 0) cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

/* tokenizer.json: the shape of Llama/Mistral's (SentencePiece BPE, byte fallback) */
static cJSON *tokenizer_json(const gen_vocab *v)
{
    cJSON *t = cJSON_Parse(
        "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]},"
        "\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\","
        "\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
        "\"pair\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
        "{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":1}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
        "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},"
        "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
        "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}}");
    if (!t) return NULL;
    cJSON *added = cJSON_CreateArray();
    for (int i = 0; i < 3; i++) cJSON_AddItemToArray(added, special_token(i, v->pieces[i]));
    cJSON_AddItemToObject(t, "added_tokens", added);
    cJSON *m = cJSON_AddObjectToObject(t, "model");
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    cJSON_AddStringToObject(m, "unk_token", "<unk>");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddBoolToObject(m, "fuse_unk", 1);
    cJSON_AddBoolToObject(m, "byte_fallback", 1);
    cJSON *vocab = cJSON_AddObjectToObject(m, "vocab");
    cJSON *merges = cJSON_AddArrayToObject(m, "merges");
    for (uint32_t i = 0; i < v->n; i++) {
        cJSON_AddItemToObject(vocab, v->pieces[i], cJSON_CreateNumber(i));
        if (v->merge_left[i] == UINT32_MAX) continue;
        const char *l = v->pieces[v->merge_left[i]];
        size_t ll = strlen(l);
        char buf[160];
        snprintf(buf, sizeof buf, "%s %s", l, v->pieces[i] + ll);
        cJSON_AddItemToArray(merges, cJSON_CreateString(buf));
    }
    return t;
}

static cJSON *tokenizer_config_json(const gen_params *p)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddBoolToObject(c, "add_bos_token", 1);
    cJSON_AddBoolToObject(c, "add_eos_token", 0);
    cJSON *dec = cJSON_AddObjectToObject(c, "added_tokens_decoder");
    static const char *const sp[3] = { "<unk>", "<s>", "</s>" };
    for (int i = 0; i < 3; i++) {
        char k[4];
        snprintf(k, sizeof k, "%d", i);
        cJSON_AddItemToObject(dec, k, special_token(-1, sp[i]));
    }
    cJSON_AddStringToObject(c, "bos_token", "<s>");
    cJSON_AddStringToObject(c, "chat_template", gen_chat_template);
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", 0);
    cJSON_AddStringToObject(c, "eos_token", "</s>");
    cJSON_AddBoolToObject(c, "legacy", 1);
    cJSON_AddNumberToObject(c, "model_max_length", p->n_ctx);
    cJSON_AddNullToObject(c, "pad_token");
    cJSON_AddStringToObject(c, "tokenizer_class", "LlamaTokenizer");
    cJSON_AddStringToObject(c, "unk_token", "<unk>");
    return c;
}

/* One safetensors file holding tensors [first, last). */
static vkllm_status write_shard(const gen_params *p, const gen_tensor *t, size_t first, size_t last, const char *path,
                                float *row, uint8_t *bytes, char *err, size_t err_len)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0, esz = dtype_size(p->dtype);
    for (size_t i = first; i < last; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].hf);
        cJSON_AddStringToObject(e, "dtype", st_dtype(p->dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        if (t[i].n_dims == 2) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].rows));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].cols));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        uint64_t size = t[i].rows * t[i].cols * esz;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + size)));
        off += size;
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    uint64_t n = strlen(text), padded = (n + 7) / 8 * 8; /* the reference writer pads with spaces to 8 */
    gen_out o;
    vkllm_status st = gen_out_open(&o, path, err, err_len);
    if (st) {
        free(text);
        return st;
    }
    gen_out_write(&o, &padded, 8);
    gen_out_write(&o, text, n);
    gen_out_write(&o, "        ", padded - n);
    free(text);
    for (size_t i = first; i < last && !o.err_no; i++) {
        for (uint64_t r = 0; r < t[i].rows; r++) {
            gen_row(p, &t[i], r, row);
            gen_out_write(&o, bytes, gen_encode(p->dtype, row, t[i].cols, bytes));
        }
    }
    return gen_out_close(&o, err, err_len);
}

vkllm_status gen_write_hf(const gen_params *p, const char *dir, char *err, size_t err_len)
{
    vkllm_status st = gen_check(p, err, err_len);
    if (!st && p->quant)
        st = errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                  "quantized models (%s) are written as GGUF only: use --gguf, or an f16/bf16/f32 dtype", p->quant);
    if (st) return st;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot create: %s", dir, strerror(errno));
    size_t n_t = 0;
    gen_tensor *t = gen_tensor_list(p, &n_t);
    gen_vocab v = { 0 };
    float *row = NULL;
    uint8_t *bytes = NULL;
    char *single = join(dir, "model.safetensors"), *index = join(dir, "model.safetensors.index.json");
    uint32_t n_sh = p->n_shards > 1 ? p->n_shards : 1;
    if (!t || !single || !index) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if (n_sh > n_t) {
        st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "%" PRIu32 " shards for %zu tensors", n_sh, n_t);
        goto done;
    }
    unlink(n_sh > 1 ? single : index); /* leave no file that would win over the one written */
    if ((st = write_json(dir, "config.json", config_json(p), 1, err, err_len))) goto done;
    if ((st = gen_vocab_build(p->n_vocab, &v, err, err_len))) goto done;
    if ((st = write_json(dir, "tokenizer.json", tokenizer_json(&v), 0, err, err_len))) goto done;
    if ((st = write_json(dir, "tokenizer_config.json", tokenizer_config_json(p), 1, err, err_len))) goto done;
    uint64_t max_cols = 0, total = 0;
    for (size_t i = 0; i < n_t; i++) {
        if (t[i].cols > max_cols) max_cols = t[i].cols;
        total += t[i].rows * t[i].cols * dtype_size(p->dtype);
    }
    row = malloc((size_t)max_cols * sizeof *row);
    bytes = malloc((size_t)max_cols * 4);
    if (!row || !bytes) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if (n_sh == 1) {
        st = write_shard(p, t, 0, n_t, single, row, bytes, err, err_len);
        goto done;
    }
    /* shards of about equal bytes, tensors in order, none empty */
    cJSON *idx = cJSON_CreateObject();
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(idx, "metadata"), "total_size", (double)total);
    cJSON *wm = cJSON_AddObjectToObject(idx, "weight_map");
    size_t first = 0;
    uint64_t done_bytes = 0;
    for (uint32_t s = 0; s < n_sh && !st; s++) {
        size_t last = first + 1;
        done_bytes += t[first].rows * t[first].cols * dtype_size(p->dtype);
        while (last < n_t && n_t - last > n_sh - 1 - s &&
               (s == n_sh - 1 || done_bytes < total / n_sh * (s + 1))) {
            done_bytes += t[last].rows * t[last].cols * dtype_size(p->dtype);
            last++;
        }
        char name[64];
        snprintf(name, sizeof name, "model-%05" PRIu32 "-of-%05" PRIu32 ".safetensors", s + 1, n_sh);
        for (size_t i = first; i < last; i++) cJSON_AddStringToObject(wm, t[i].hf, name);
        char *path = join(dir, name);
        st = path ? write_shard(p, t, first, last, path, row, bytes, err, err_len)
                  : errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        free(path);
        first = last;
    }
    if (st) {
        cJSON_Delete(idx);
        goto done;
    }
    st = write_json(dir, "model.safetensors.index.json", idx, 1, err, err_len);
done:
    free(row);
    free(bytes);
    free(single);
    free(index);
    gen_vocab_free(&v);
    free(t);
    return st;
}
