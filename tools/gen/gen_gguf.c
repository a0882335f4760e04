/* Generator: GGUF v3 output, laid out as llama.cpp's convert_hf_to_gguf.py
 * writes a Llama model: header, metadata, tensor infos, padding to the
 * alignment, tensor data each aligned. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"
#include "model/quant.h"

/* GGUF value types and ggml tensor types used here */
enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 };
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30 };
/* llama.cpp's LlamaFileType */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_BF16 = 32 };

/* a growable in-memory buffer for the header part */
typedef struct mbuf { uint8_t *p; size_t n, cap; int oom; uint64_t n_kv; } mbuf;

static void mb_put(mbuf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void mb_u32(mbuf *b, uint32_t v) { mb_put(b, &v, 4); }
static void mb_u64(mbuf *b, uint64_t v) { mb_put(b, &v, 8); }
static void mb_str(mbuf *b, const char *s)
{
    mb_u64(b, strlen(s));
    mb_put(b, s, strlen(s));
}
static void kv_head(mbuf *b, const char *key, uint32_t type)
{
    mb_str(b, key);
    mb_u32(b, type);
    b->n_kv++;
}
static void kv_u32(mbuf *b, const char *key, uint32_t v) { kv_head(b, key, T_U32), mb_u32(b, v); }
static void kv_f32(mbuf *b, const char *key, float v) { kv_head(b, key, T_F32), mb_put(b, &v, 4); }
static void kv_str(mbuf *b, const char *key, const char *v) { kv_head(b, key, T_STR), mb_str(b, v); }
static void kv_bool(mbuf *b, const char *key, int v)
{
    uint8_t x = v != 0;
    kv_head(b, key, T_BOOL), mb_put(b, &x, 1);
}
static void kv_arr(mbuf *b, const char *key, uint32_t elem, uint64_t n)
{
    kv_head(b, key, T_ARR);
    mb_u32(b, elem);
    mb_u64(b, n);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* the GGUF dtype of a tensor: 1-D norms are F32, like the converter writes them */
static tensor_dtype gguf_dtype(const gen_params *p, const gen_tensor *t)
{
    return t->n_dims == 1 ? DTYPE_F32 : p->dtype;
}

static void write_metadata(mbuf *b, const gen_params *p, const gen_vocab *v)
{
    uint32_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "general.type", "model");
    kv_str(b, "general.name", p->name ? p->name : "vkllm-test");
    kv_u32(b, "llama.block_count", p->n_layer);
    kv_u32(b, "llama.context_length", p->n_ctx);
    kv_u32(b, "llama.embedding_length", p->n_embd);
    kv_u32(b, "llama.feed_forward_length", p->n_ff);
    kv_u32(b, "llama.attention.head_count", p->n_head);
    kv_u32(b, "llama.attention.head_count_kv", p->n_head_kv);
    kv_f32(b, "llama.rope.freq_base", (float)p->rope_theta);
    kv_f32(b, "llama.attention.layer_norm_rms_epsilon", (float)p->rms_eps);
    if (p->head_dim) {
        kv_u32(b, "llama.attention.key_length", hd);
        kv_u32(b, "llama.attention.value_length", hd);
    }
    const quant_scheme *qs = p->quant ? quant_scheme_find(p->quant) : NULL;
    kv_u32(b, "general.file_type", qs ? qs->file_type
                                 : p->dtype == DTYPE_F32 ? FTYPE_ALL_F32
                                 : p->dtype == DTYPE_F16 ? FTYPE_MOSTLY_F16 : FTYPE_MOSTLY_BF16);
    kv_u32(b, "llama.vocab_size", p->n_vocab);
    kv_u32(b, "llama.rope.dimension_count", hd);
    if (p->alignment && p->alignment != 32) kv_u32(b, "general.alignment", p->alignment);
    kv_u32(b, "general.quantization_version", 2);
    /* tokenizer (llama.cpp's SentencePiece "llama" vocab) */
    kv_str(b, "tokenizer.ggml.model", "llama");
    kv_str(b, "tokenizer.ggml.pre", "default");
    kv_arr(b, "tokenizer.ggml.tokens", T_STR, v->n);
    for (uint32_t i = 0; i < v->n; i++) mb_str(b, v->pieces[i]);
    kv_arr(b, "tokenizer.ggml.scores", T_F32, v->n);
    mb_put(b, v->scores, (size_t)v->n * 4);
    kv_arr(b, "tokenizer.ggml.token_type", T_I32, v->n);
    mb_put(b, v->types, (size_t)v->n * 4);
    kv_u32(b, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(b, "tokenizer.ggml.eos_token_id", 2);
    kv_u32(b, "tokenizer.ggml.unknown_token_id", 0);
    kv_bool(b, "tokenizer.ggml.add_bos_token", 1);
    kv_bool(b, "tokenizer.ggml.add_eos_token", 0);
    kv_str(b, "tokenizer.chat_template", gen_chat_template);
}

vkllm_status gen_write_gguf(const gen_params *p, const char *path, char *err, size_t err_len)
{
    vkllm_status st = gen_check(p, err, err_len);
    if (st) return st;
    uint64_t align = p->alignment ? p->alignment : 32;
    size_t n_t = 0;
    gen_tensor *t = gen_tensor_list(p, &n_t);
    gen_vocab v = { 0 };
    mbuf kv = { 0 }, info = { 0 };
    float *row = NULL;
    uint8_t *bytes = NULL;
    gen_out o = { 0 };
    if (!t) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if ((st = gen_vocab_build(p->n_vocab, &v, err, err_len))) goto done;
    write_metadata(&kv, p, &v);
    /* tensor infos: dims innermost first, offsets aligned and relative to the data section */
    uint64_t off = 0, max_cols = 0;
    for (size_t i = 0; i < n_t; i++) {
        tensor_dtype dt = gguf_dtype(p, &t[i]);
        mb_str(&info, t[i].canon);
        mb_u32(&info, t[i].n_dims);
        mb_u64(&info, t[i].cols);
        if (t[i].n_dims == 2) mb_u64(&info, t[i].rows);
        const quant_type *qt = t[i].qtype ? quant_type_of(t[i].qtype) : NULL;
        mb_u32(&info, qt ? qt->id : dt == DTYPE_F32 ? GGML_F32 : dt == DTYPE_F16 ? GGML_F16 : GGML_BF16);
        mb_u64(&info, off);
        off = align_up(off + (qt ? t[i].rows * quant_bytes(qt, t[i].cols) : t[i].rows * t[i].cols * dtype_size(dt)),
                       align);
        if (t[i].cols > max_cols) max_cols = t[i].cols;
    }
    row = malloc((size_t)max_cols * sizeof *row);
    bytes = malloc((size_t)max_cols * 4);
    if (kv.oom || info.oom || !row || !bytes) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        goto done;
    }
    if ((st = gen_out_open(&o, path, err, err_len))) goto done;
    gen_out_write(&o, "GGUF", 4);
    uint32_t version = 3;
    uint64_t n_tensors = n_t;
    gen_out_write(&o, &version, 4);
    gen_out_write(&o, &n_tensors, 8);
    gen_out_write(&o, &kv.n_kv, 8);
    gen_out_write(&o, kv.p, kv.n);
    gen_out_write(&o, info.p, info.n);
    gen_out_zeros(&o, align_up(o.pos, align) - o.pos);
    uint64_t data_start = o.pos;
    for (size_t i = 0; i < n_t && !o.err_no; i++) {
        for (uint64_t r = 0; r < t[i].rows; r++)
            gen_out_write(&o, bytes, gen_row_bytes(p, &t[i], gen_gguf_src_row(&t[i], r), row, bytes));
        gen_out_zeros(&o, align_up(o.pos - data_start, align) - (o.pos - data_start));
    }
    st = gen_out_close(&o, err, err_len);
done:
    if (o.f) gen_out_close(&o, NULL, 0);
    free(row);
    free(bytes);
    free(kv.p);
    free(info.p);
    gen_vocab_free(&v);
    free(t);
    return st;
}
