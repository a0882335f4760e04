/* Private to src/api*.c: the structs behind the public handles. */
#ifndef VKLLM_API_INTERNAL_H
#define VKLLM_API_INTERNAL_H

#include <stdio.h>

#include "gpu/gpu.h"
#include "llama/llama.h"
#include "model/model.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "vkllm.h"

struct vkllm_tokenizer { /* a tokenizer handle: loaded on its own, or a model's view */
    tokenizer *tok;
};

struct vkllm_model {
    gpu_ctx *ctx;
    llama_weights *w;
    vkllm_model_info info;
    tokenizer *tok;           /* NULL when the files have none (tok_err says why) */
    struct vkllm_tokenizer tok_view; /* what vkllm_model_tokenizer hands out */
    char tok_err[512];
    chat_template_id tmpl;    /* the model's, or CHAT_TEMPLATE_DEFAULT */
    int tmpl_recognised;
};

struct vkllm_session {
    vkllm_model *m;
    llama_session *s;
    int32_t *tokens;          /* [n_ctx]: the ids in the cache, positions 0 .. pos - 1 */
    char err[1024];
};

struct vkllm_batch {
    vkllm_model *m;
    llama_batch *b;
    llama_batch_seq *seqs;    /* [max_seqs]: a step's, for llama_batch_eval */
    char err[1024];
};

/* Copies msg into the caller's error buffer (if any). */
static inline void api_set_err(char *err, size_t len, const char *msg)
{
    if (err && len) snprintf(err, len, "%s", msg);
}

/* Reads the model's tokenizer and chat template (api_text.c); failures are
 * recorded in m->tok_err, not returned: a model runs by token id without one. */
void api_model_text_init(vkllm_model *m, const model *md);

/* vkllm_chat_render, also telling which template it used (api_text.c). */
vkllm_status api_chat_render(const vkllm_model *m, const char *name, const vkllm_message *msgs, size_t n,
                             int add_generation_prompt, char **out, chat_template_id *used, char *err, size_t err_len);

#endif
