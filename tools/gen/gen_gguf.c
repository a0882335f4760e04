/* Generator: GGUF v3 output, laid out as llama.cpp's convert_hf_to_gguf.py
 * writes a Llama model: header, metadata, tensor infos, padding to the
 * alignment, tensor data each aligned. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"
#include "model/gguf_write.h"
#include "model/quant.h"

/* ggml tensor types used here */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30 };
/* llama.cpp's LlamaFileType */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_BF16 = 32 };

static void kv_str(gguf_writer *w, const char *key, const char *v) { gguf_w_str(w, key, v, strlen(v)); }

/* the GGUF dtype of a tensor: 1-D norms are F32, like the converter writes them */
static tensor_dtype gguf_dtype(const gen_params *p, const gen_tensor *t)
{
    return t->n_dims == 1 ? DTYPE_F32 : p->dtype;
}

static vkllm_status write_metadata(gguf_writer *b, const gen_params *p, const gen_vocab *v)
{
    uint32_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    const model_hparams hp = { .n_layer = p->n_layer, .n_embd = p->n_embd, .n_ff = p->n_ff, .n_head = p->n_head,
                               .n_head_kv = p->n_head_kv, .head_dim = hd, .n_vocab = p->n_vocab,
                               .n_ctx_train = p->n_ctx, .n_rot = hd, .rope_theta = (float)p->rope_theta,
                               .rms_eps = (float)p->rms_eps };
    const quant_scheme *qs = p->quant ? quant_scheme_find(p->quant) : NULL;
    gguf_w_llama_meta(b, &hp, p->name ? p->name : "vkllm-test",
                      qs ? qs->file_type
                      : p->dtype == DTYPE_F32 ? FTYPE_ALL_F32
                      : p->dtype == DTYPE_F16 ? FTYPE_MOSTLY_F16 : FTYPE_MOSTLY_BF16,
                      p->head_dim != 0, p->alignment);
    /* tokenizer (llama.cpp's SentencePiece "llama" vocab) */
    kv_str(b, "tokenizer.ggml.model", "llama");
    kv_str(b, "tokenizer.ggml.pre", "default");
    uint32_t *lens = malloc((size_t)v->n * sizeof *lens);
    if (!lens) return VKLLM_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < v->n; i++) lens[i] = (uint32_t)strlen(v->pieces[i]);
    gguf_w_arr_str(b, "tokenizer.ggml.tokens", (const char *const *)v->pieces, lens, v->n);
    free(lens);
    gguf_w_arr_f32(b, "tokenizer.ggml.scores", v->scores, v->n);
    gguf_w_arr_i32(b, "tokenizer.ggml.token_type", v->types, v->n);
    gguf_w_u32(b, "tokenizer.ggml.bos_token_id", 1);
    gguf_w_u32(b, "tokenizer.ggml.eos_token_id", 2);
    gguf_w_u32(b, "tokenizer.ggml.unknown_token_id", 0);
    gguf_w_bool(b, "tokenizer.ggml.add_bos_token", 1);
    gguf_w_bool(b, "tokenizer.ggml.add_eos_token", 0);
    kv_str(b, "tokenizer.chat_template", gen_chat_template);
    return VKLLM_OK;
}

vkllm_status gen_write_gguf(const gen_params *p, const char *path, char *err, size_t err_len)
{
    vkllm_status st = gen_check(p, err, err_len);
    if (st) return st;
    size_t n_t = 0;
    gen_tensor *t = gen_tensor_list(p, &n_t);
    gen_vocab v = { 0 };
    gguf_writer w;
    gguf_writer_init(&w, p->alignment);
    float *row = NULL;
    uint8_t *bytes = NULL;
    if (!t) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if ((st = gen_vocab_build(p->n_vocab, &v, err, err_len))) goto done;
    if ((st = write_metadata(&w, p, &v))) {
        st = errf(st, err, err_len, "out of memory");
        goto done;
    }
    /* tensor infos: dims innermost first */
    uint64_t max_cols = 0;
    for (size_t i = 0; i < n_t; i++) {
        tensor_dtype dt = gguf_dtype(p, &t[i]);
        const quant_type *qt = t[i].qtype ? quant_type_of(t[i].qtype) : NULL;
        uint64_t ne[2] = { t[i].cols, t[i].rows };
        uint32_t type = qt ? qt->id : dt == DTYPE_F32 ? GGML_F32 : dt == DTYPE_F16 ? GGML_F16 : GGML_BF16;
        uint64_t n_bytes = qt ? t[i].rows * quant_bytes(qt, t[i].cols) : t[i].rows * t[i].cols * dtype_size(dt);
        gguf_w_tensor(&w, t[i].canon, t[i].n_dims, ne, type, n_bytes);
        if (t[i].cols > max_cols) max_cols = t[i].cols;
    }
    row = malloc((size_t)max_cols * sizeof *row);
    bytes = malloc((size_t)max_cols * 4);
    if (!row || !bytes) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if ((st = gguf_writer_open(&w, path, 1, err, err_len))) goto done;
    for (size_t i = 0; i < n_t && !st; i++) {
        for (uint64_t r = 0; r < t[i].rows && !st; r++)
            st = gguf_writer_write(&w, bytes, gen_row_bytes(p, &t[i], gen_gguf_src_row(&t[i], r), row, bytes), err,
                                   err_len);
        if (!st) st = gguf_writer_pad(&w, err, err_len);
    }
    if (!st) st = gguf_writer_commit(&w, err, err_len);
done:
    gguf_writer_free(&w);
    free(row);
    free(bytes);
    gen_vocab_free(&v);
    free(t);
    return st;
}
