/* The public tokenizer and chat-template API (include/vkllm.h): wiring over
 * src/text. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* ------------------------------------------------------------ model text */

/* The template source of an HF folder: tokenizer_config.json's
 * "chat_template", a string or a list of {name, template} (the "default"
 * one, else the first). malloc'd or NULL. */
static char *hf_template_source(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL, *out = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n > 0 && n < (64l << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        cJSON *root = cJSON_Parse(buf);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
        if (cJSON_IsArray(t)) {
            const cJSON *pick = NULL, *it;
            cJSON_ArrayForEach(it, t)
            {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
                if (!pick || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)) pick = it;
            }
            t = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
        }
        if (cJSON_IsString(t)) out = strdup(t->valuestring);
        cJSON_Delete(root);
    }
    free(buf);
    fclose(f);
    return out;
}

/* The model's own chat template (GGUF tokenizer.chat_template or the HF
 * folder's), recognised; CHAT_TEMPLATE_UNKNOWN when missing or unknown. */
static chat_template_id template_of(const model *md)
{
    char *src = NULL;
    if (md->gguf) {
        gguf_str str;
        char ignore[64];
        if (gguf_get_str(md->gguf, "tokenizer.chat_template", &str, ignore, sizeof ignore) == VKLLM_OK &&
            (src = malloc(str.len + 1))) {
            memcpy(src, str.s, str.len);
            src[str.len] = '\0';
        }
    } else {
        src = hf_template_source(md->dir);
    }
    chat_template_id id = chat_template_detect(src);
    free(src);
    return id;
}

void api_model_text_init(vkllm_model *m, const model *md)
{
    vkllm_status s = md->gguf ? tok_load_gguf(md->gguf, &m->tok, m->tok_err, sizeof m->tok_err)
                              : tok_load_hf(md->dir, &m->tok, m->tok_err, sizeof m->tok_err);
    if (s != VKLLM_OK) m->tok = NULL;
    m->tok_view.tok = m->tok;
    m->tmpl = template_of(md);
    m->tmpl_recognised = m->tmpl != CHAT_TEMPLATE_UNKNOWN;
    if (!m->tmpl_recognised) m->tmpl = CHAT_TEMPLATE_DEFAULT;
}

vkllm_status vkllm_model_inspect_chat_template(const char *path, const char **name, int *recognised, char *err,
                                               size_t err_len)
{
    if (!path || !name) {
        api_set_err(err, err_len, "no model path given");
        return VKLLM_ERR_INVALID_ARG;
    }
    model *md;
    vkllm_status s = model_open(path, &md, err, err_len);
    if (s != VKLLM_OK) return s;
    chat_template_id id = template_of(md);
    model_close(md);
    if (recognised) *recognised = id != CHAT_TEMPLATE_UNKNOWN;
    *name = chat_template_name(id == CHAT_TEMPLATE_UNKNOWN ? CHAT_TEMPLATE_DEFAULT : id);
    return VKLLM_OK;
}

const char *vkllm_chat_template_list(size_t i)
{
    chat_template_id id = chat_template_nth(i);
    return id == CHAT_TEMPLATE_UNKNOWN ? NULL : chat_template_name(id);
}

const vkllm_tokenizer *vkllm_model_tokenizer(const vkllm_model *m)
{
    return m->tok ? &m->tok_view : NULL;
}

const char *vkllm_model_tokenizer_error(const vkllm_model *m) { return m->tok ? "" : m->tok_err; }

const char *vkllm_model_chat_template(const vkllm_model *m, int *recognised)
{
    if (recognised) *recognised = m->tmpl_recognised;
    return chat_template_name(m->tmpl);
}

/* ------------------------------------------------------------ tokenizer */

vkllm_status vkllm_tokenizer_load(const char *path, vkllm_tokenizer **out, char *err, size_t err_len)
{
    if (!path || !out) {
        api_set_err(err, err_len, "vkllm_tokenizer_load: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    vkllm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    vkllm_status s = tok_load_path(path, &t->tok, err, err_len);
    if (s != VKLLM_OK) {
        free(t);
        return s;
    }
    *out = t;
    return VKLLM_OK;
}

void vkllm_tokenizer_free(vkllm_tokenizer *t)
{
    if (!t) return;
    tok_free(t->tok);
    free(t);
}

vkllm_status vkllm_tokenize(const vkllm_tokenizer *t, const char *text, size_t len, unsigned flags, int32_t **ids,
                            size_t *n_ids, char *err, size_t err_len)
{
    if (!t || (!text && len) || !ids || !n_ids) {
        api_set_err(err, err_len, "vkllm_tokenize: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    unsigned f = (flags & VKLLM_TOKENIZE_BOS ? TOK_ENCODE_BOS : 0) | (flags & VKLLM_TOKENIZE_SPECIAL ? TOK_ENCODE_SPECIAL : 0);
    return tok_encode(t->tok, text ? text : "", len, f, ids, n_ids, err, err_len);
}

vkllm_status vkllm_detokenize(const vkllm_tokenizer *t, const int32_t *ids, size_t n_ids, char **text, size_t *len,
                              char *err, size_t err_len)
{
    if (len) *len = 0;
    if (!t || (!ids && n_ids) || !text) {
        api_set_err(err, err_len, "vkllm_detokenize: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    return tok_decode(t->tok, ids, n_ids, 0, text, len, err, err_len);
}

const char *vkllm_token_piece(const vkllm_tokenizer *t, int32_t id) { return tok_piece(t->tok, id, NULL); }
uint32_t vkllm_tokenizer_n_vocab(const vkllm_tokenizer *t) { return tok_n_vocab(t->tok); }
int32_t vkllm_token_bos(const vkllm_tokenizer *t) { return tok_bos(t->tok); }
int32_t vkllm_token_eos(const vkllm_tokenizer *t) { return tok_eos(t->tok); }
int vkllm_tokenizer_adds_bos(const vkllm_tokenizer *t) { return tok_add_bos(t->tok); }

void vkllm_free(void *p) { free(p); }

/* ------------------------------------------------------------ chat */

/* The template to use: by name, or the model's. */
static vkllm_status pick_template(const vkllm_model *m, const char *name, chat_template_id *id, char *err,
                                  size_t err_len)
{
    if (!name) {
        *id = m ? m->tmpl : CHAT_TEMPLATE_DEFAULT;
        return VKLLM_OK;
    }
    *id = chat_template_by_name(name);
    if (*id == CHAT_TEMPLATE_UNKNOWN) {
        if (err && err_len)
            snprintf(err, err_len, "unknown chat template '%s'; known: %s", name, chat_template_known_list());
        return VKLLM_ERR_INVALID_ARG;
    }
    return VKLLM_OK;
}

vkllm_status api_chat_render(const vkllm_model *m, const char *name, const vkllm_message *msgs, size_t n,
                             int add_generation_prompt, char **out, chat_template_id *used, char *err, size_t err_len)
{
    chat_template_id id;
    vkllm_status s = pick_template(m, name, &id, err, err_len);
    if (s != VKLLM_OK) return s;
    if (used) *used = id;
    chat_msg *cm = malloc((n ? n : 1) * sizeof *cm);
    if (!cm) {
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)msgs[i].role > VKLLM_ROLE_ASSISTANT) {
            free(cm);
            if (err && err_len) snprintf(err, err_len, "message %zu has an unknown role %d", i, (int)msgs[i].role);
            return VKLLM_ERR_INVALID_ARG;
        }
        cm[i] = (chat_msg){ (chat_role)msgs[i].role, msgs[i].text };
    }
    s = chat_render(id, cm, n, add_generation_prompt != 0, out, err, err_len);
    free(cm);
    return s;
}

vkllm_status vkllm_chat_render(const vkllm_model *m, const char *name, const vkllm_message *msgs, size_t n,
                               int add_generation_prompt, char **out, char *err, size_t err_len)
{
    if ((!msgs && n) || !out) {
        api_set_err(err, err_len, "vkllm_chat_render: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    return api_chat_render(m, name, msgs, n, add_generation_prompt, out, NULL, err, err_len);
}
