/* Model description: opening by path, the hparams checks and canonical tensor
 * table shared by both formats, and the GGUF source. HF folders: hf.c. */
#include "model/model.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/plat.h"

#include "model/model_internal.h"
#include "model/quant.h"

/* ---------------------------------------------------------------- hparams */

static vkllm_status check_range(const char *where, const char *name, uint64_t v, uint64_t lo, uint64_t hi,
                                char *err, size_t err_len)
{
    if (v >= lo && v <= hi) return VKLLM_OK;
    return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam %s = %" PRIu64 " is out of range (%" PRIu64
                      "..%" PRIu64 ")", where, name, v, lo, hi);
}

vkllm_status model_check_hparams(model_hparams *hp, int head_dim_given, const char *where, char *err,
                                 size_t err_len)
{
    vkllm_status st;
    if ((st = check_range(where, "n_layer", hp->n_layer, 1, MODEL_MAX_LAYERS, err, err_len)) ||
        (st = check_range(where, "n_embd", hp->n_embd, 1, MODEL_MAX_EMBD, err, err_len)) ||
        (st = check_range(where, "n_ff", hp->n_ff, 1, MODEL_MAX_FF, err, err_len)) ||
        (st = check_range(where, "n_head", hp->n_head, 1, MODEL_MAX_HEADS, err, err_len)) ||
        (st = check_range(where, "n_head_kv", hp->n_head_kv, 1, hp->n_head, err, err_len)) ||
        (st = check_range(where, "n_vocab", hp->n_vocab, 1, MODEL_MAX_VOCAB, err, err_len)) ||
        (st = check_range(where, "n_ctx_train", hp->n_ctx_train, 1, MODEL_MAX_CTX, err, err_len)))
        return st;
    if (hp->n_head % hp->n_head_kv)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam n_head_kv = %" PRIu32
                          " does not divide n_head = %" PRIu32, where, hp->n_head_kv, hp->n_head);
    if (!head_dim_given) {
        if (hp->n_embd % hp->n_head)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam n_embd = %" PRIu32
                              " is not a multiple of n_head = %" PRIu32, where, hp->n_embd, hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if ((st = check_range(where, "head_dim", hp->head_dim, 2, MODEL_MAX_HEAD_DIM, err, err_len))) return st;
    if (hp->head_dim % 2)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam head_dim = %" PRIu32 " is odd", where,
                          hp->head_dim);
    if (hp->n_rot == 0) hp->n_rot = hp->head_dim;
    if (hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam n_rot = %" PRIu32
                          " must be even and at most head_dim = %" PRIu32, where, hp->n_rot, hp->head_dim);
    if (!isfinite(hp->rope_theta) || hp->rope_theta <= 0)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam rope_theta = %g must be positive", where,
                          (double)hp->rope_theta);
    if (!isfinite(hp->rms_eps) || hp->rms_eps <= 0 || hp->rms_eps >= 1)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: hparam rms_eps = %g must be in (0, 1)", where,
                          (double)hp->rms_eps);
    return VKLLM_OK;
}

/* ---------------------------------------------------------------- the table */

enum { T_ATTN_NORM, T_Q, T_K, T_V, T_O, T_FFN_NORM, T_GATE, T_UP, T_DOWN, N_LAYER_TENSORS };
static const char *const layer_tensor_names[N_LAYER_TENSORS] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
};

static void fmt_shape(char *buf, size_t len, uint32_t n, const uint64_t *d)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < n && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? ", " : "", d[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Looks up `canon`, checks dtype and shape (n_dims 1: {cols}; 2: {rows, cols}), appends it. */
static vkllm_status add_tensor(model *m, const char *canon, uint32_t n_dims, uint64_t rows, uint64_t cols,
                               tensor_lookup_fn lookup, void *ctx, const char *where, int *found, char *err,
                               size_t err_len)
{
    raw_tensor r;
    memset(&r, 0, sizeof r);
    char src[128];
    snprintf(src, sizeof src, "%s", canon);
    int f = 0;
    vkllm_status st = lookup(ctx, canon, &r, &f, src, sizeof src, err, err_len);
    if (st) return st;
    if (found) *found = f;
    if (!f) {
        if (found) return VKLLM_OK; /* optional: the caller decides */
        if (strcmp(src, canon) == 0)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s' is missing", where, canon);
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s' (%s) is missing", where, src, canon);
    }
    if (r.dtype == DTYPE_OTHER)
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                          "%s: tensor '%s' has type %s, which vkllm does not read (weights: F32, F16, BF16, "
                          "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL, IQ4_XS)", r.file, src, r.dtype_name);
    const quant_type *qt = r.dtype == DTYPE_QUANT ? quant_type_of(r.qtype) : NULL;
    if (r.dtype == DTYPE_QUANT && (!qt || n_dims != 2))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: tensor '%s' has type %s; vkllm reads block types "
                    "only for matrices, norms must be F32, F16 or BF16", r.file, src, r.dtype_name);
    uint64_t want[2] = { rows, cols };
    const uint64_t *w = n_dims == 2 ? want : want + 1;
    int ok = r.n_dims == n_dims;
    for (uint32_t i = 0; ok && i < n_dims; i++) ok = r.shape[i] == w[i];
    if (!ok) {
        char got_s[160], want_s[64];
        fmt_shape(got_s, sizeof got_s, r.n_dims, r.shape);
        fmt_shape(want_s, sizeof want_s, n_dims, w);
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: tensor '%s' has shape %s, expected %s from the hparams", r.file, src, got_s, want_s);
    }
    if (qt && cols % qt->block)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s' has type %s, whose blocks hold %" PRIu32
                    " weights, but rows of %" PRIu64 " weights", r.file, src, qt->name, qt->block, cols);
    uint64_t want_bytes = qt ? rows * quant_bytes(qt, cols) : rows * cols * dtype_size(r.dtype);
    if (r.n_bytes != want_bytes)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s' (%s): %" PRIu64 " bytes, its shape needs %" PRIu64,
                          r.file, src, r.dtype_name, r.n_bytes, want_bytes);
    model_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", canon);
    t->dtype = r.dtype;
    t->qtype = qt ? qt->id : 0;
    t->n_dims = n_dims;
    t->rows = rows;
    t->cols = cols;
    t->n_bytes = r.n_bytes;
    t->data = r.data;
    t->file = r.file;
    t->file_offset = r.file_offset;
    return VKLLM_OK;
}

vkllm_status model_build(model *m, int head_dim_given, tensor_lookup_fn lookup, void *ctx, const char *where,
                         char *err, size_t err_len)
{
    model_hparams *hp = &m->hp;
    vkllm_status st = model_check_hparams(hp, head_dim_given, where, err, err_len);
    if (st) return st;
    size_t cap = 3 + (size_t)N_LAYER_TENSORS * hp->n_layer;
    m->tensors = calloc(cap, sizeof *m->tensors);
    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    if (!m->tensors || !m->layers) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    uint64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    uint64_t Q = (uint64_t)hp->n_head * hp->head_dim, KV = (uint64_t)hp->n_head_kv * hp->head_dim;
    if ((st = add_tensor(m, "token_embd.weight", 2, V, E, lookup, ctx, where, NULL, err, err_len))) return st;
    size_t i_embd = m->n_tensors - 1;
    const struct { uint32_t n_dims; uint64_t rows, cols; } shapes[N_LAYER_TENSORS] = {
        [T_ATTN_NORM] = { 1, 1, E }, [T_Q] = { 2, Q, E },    [T_K] = { 2, KV, E },
        [T_V] = { 2, KV, E },        [T_O] = { 2, E, Q },    [T_FFN_NORM] = { 1, 1, E },
        [T_GATE] = { 2, F, E },      [T_UP] = { 2, F, E },   [T_DOWN] = { 2, E, F },
    };
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        for (int k = 0; k < N_LAYER_TENSORS; k++) {
            char name[MODEL_TENSOR_NAME_MAX];
            snprintf(name, sizeof name, "blk.%" PRIu32 ".%s.weight", l, layer_tensor_names[k]);
            if ((st = add_tensor(m, name, shapes[k].n_dims, shapes[k].rows, shapes[k].cols, lookup, ctx, where,
                                 NULL, err, err_len)))
                return st;
        }
    }
    if ((st = add_tensor(m, "output_norm.weight", 1, 1, E, lookup, ctx, where, NULL, err, err_len))) return st;
    size_t i_out = m->n_tensors;
    if (!m->tied_embeddings) {
        int found = 0;
        /* GGUF: no output.weight means tied (llama.cpp's rule); HF: the config decided */
        int *opt = m->format == MODEL_FORMAT_GGUF ? &found : NULL;
        if ((st = add_tensor(m, "output.weight", 2, V, E, lookup, ctx, where, opt, err, err_len))) return st;
        if (opt && !found) m->tied_embeddings = 1;
    }
    /* the table is complete: link the named pointers */
    m->tok_embd = &m->tensors[i_embd];
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const model_tensor *t = &m->tensors[i_embd + 1 + (size_t)l * N_LAYER_TENSORS];
        m->layers[l] = (model_layer){ &t[T_ATTN_NORM], &t[T_Q], &t[T_K], &t[T_V], &t[T_O],
                                      &t[T_FFN_NORM], &t[T_GATE], &t[T_UP], &t[T_DOWN] };
    }
    m->output_norm = &m->tensors[i_out - 1];
    m->output = m->tied_embeddings ? m->tok_embd : &m->tensors[i_out];
    return VKLLM_OK;
}

vkllm_status model_check_extra(const model *m, uint64_t n_listed, const char *what, char *err, size_t err_len)
{
    uint64_t used = m->n_tensors;
    if (n_listed <= used || n_listed - used <= MODEL_MAX_EXTRA_TENSORS) return VKLLM_OK;
    return errf(VKLLM_ERR_FORMAT, err, err_len,
                "%s: %" PRIu64 " tensors, %" PRIu64 " of them unused by this %" PRIu32 "-layer llama model (at most %d "
                "extra tensors allowed): a corrupt or padded file?", what, n_listed, n_listed - used, m->hp.n_layer,
                MODEL_MAX_EXTRA_TENSORS);
}

const model_tensor *model_find(const model *m, const char *name)
{
    if (m->tied_embeddings && strcmp(name, "output.weight") == 0) return m->tok_embd;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------- GGUF source */

static vkllm_status gguf_lookup(void *ctx, const char *canon, raw_tensor *out, int *found, char *src_name,
                                size_t src_name_len, char *err, size_t err_len)
{
    (void)src_name;
    (void)src_name_len;
    (void)err;
    (void)err_len;
    const gguf_file *g = ctx;
    const gguf_tensor *t = gguf_find_tensor(g, canon);
    *found = t != NULL;
    if (!t) return VKLLM_OK;
    out->dtype = t->type == GGML_TYPE_F32 ? DTYPE_F32 : t->type == GGML_TYPE_F16 ? DTYPE_F16
               : t->type == GGML_TYPE_BF16 ? DTYPE_BF16 : quant_type_of(t->type) ? DTYPE_QUANT : DTYPE_OTHER;
    out->qtype = out->dtype == DTYPE_QUANT ? t->type : 0;
    out->dtype_name = ggml_type_name(t->type);
    out->n_dims = t->n_dims;
    for (uint32_t i = 0; i < t->n_dims; i++) out->shape[i] = t->ne[t->n_dims - 1 - i]; /* outermost first */
    out->data = t->data;
    out->n_bytes = t->n_bytes;
    out->file = g->map.path;
    out->file_offset = g->data_offset + t->offset;
    return VKLLM_OK;
}

/* key "<arch>.<suffix>" as u32; missing -> *out = def (if optional) */
static vkllm_status arch_u32(const gguf_file *g, const char *arch, const char *suffix, int required, uint32_t def,
                             uint32_t *out, int *present, char *err, size_t err_len)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (present) *present = gguf_find(g, key) != NULL;
    if (!required && !gguf_find(g, key)) {
        *out = def;
        return VKLLM_OK;
    }
    return gguf_get_u32(g, key, out, err, err_len);
}

static vkllm_status arch_f32(const gguf_file *g, const char *arch, const char *suffix, int required, float def,
                             float *out, char *err, size_t err_len)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!required && !gguf_find(g, key)) {
        *out = def;
        return VKLLM_OK;
    }
    return gguf_get_f32(g, key, out, err, err_len);
}

static vkllm_status gguf_load(model *m, const char *path, char *err, size_t err_len)
{
    m->format = MODEL_FORMAT_GGUF;
    m->rope_pairing = ROPE_ADJACENT;
    vkllm_status st = gguf_open(path, &m->gguf, err, err_len);
    if (st) return st;
    const gguf_file *g = m->gguf;
    if (g->n_tensors == 0)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: the file has no tensors (a vocabulary-only GGUF?); a model needs its weights, "
                          "starting with token_embd.weight", path);
    gguf_str a;
    if ((st = gguf_get_str(g, "general.architecture", &a, err, err_len))) return st;
    snprintf(m->architecture, sizeof m->architecture, "%.*s", (int)(a.len < 63 ? a.len : 63), a.s);
    if (!gguf_str_eq(a, "llama"))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                          "%s: general.architecture '%s' is not supported (only llama)", path, m->architecture);
    const char *arch = "llama";
    model_hparams *hp = &m->hp;
    uint32_t key_len = 0, value_len = 0;
    int head_dim_given = 0, value_given = 0;
    if ((st = arch_u32(g, arch, "block_count", 1, 0, &hp->n_layer, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "embedding_length", 1, 0, &hp->n_embd, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "feed_forward_length", 1, 0, &hp->n_ff, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "attention.head_count", 1, 0, &hp->n_head, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "attention.head_count_kv", 0, hp->n_head, &hp->n_head_kv, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "attention.key_length", 0, 0, &key_len, &head_dim_given, err, err_len)) ||
        (st = arch_u32(g, arch, "attention.value_length", 0, 0, &value_len, &value_given, err, err_len)) ||
        (st = arch_u32(g, arch, "context_length", 1, 0, &hp->n_ctx_train, NULL, err, err_len)) ||
        (st = arch_u32(g, arch, "rope.dimension_count", 0, 0, &hp->n_rot, NULL, err, err_len)) ||
        (st = arch_f32(g, arch, "rope.freq_base", 0, 10000.0f, &hp->rope_theta, err, err_len)) ||
        (st = arch_f32(g, arch, "attention.layer_norm_rms_epsilon", 1, 0, &hp->rms_eps, err, err_len)))
        return st;
    if (value_given && (!head_dim_given || value_len != key_len))
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                          "%s: llama.attention.value_length %" PRIu32 " differs from key_length %" PRIu32, path,
                          value_len, key_len);
    hp->head_dim = key_len;
    gguf_str scaling;
    if (gguf_find(g, "llama.rope.scaling.type")) {
        if ((st = gguf_get_str(g, "llama.rope.scaling.type", &scaling, err, err_len))) return st;
        if (!gguf_str_eq(scaling, "none"))
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                              "%s: llama.rope.scaling.type '%.*s' is not supported (only none)", path,
                              (int)(scaling.len < 32 ? scaling.len : 32), scaling.s);
    }
    /* vocabulary size: token_embd's rows; the metadata must agree where it says */
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor 'token_embd.weight' is missing", path);
    if (emb->n_dims != 2 || emb->ne[1] > MODEL_MAX_VOCAB)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: tensor 'token_embd.weight' has %" PRIu32 " dims / %" PRIu64 " rows, expected 2 dims "
                          "and at most %u rows", path, emb->n_dims, emb->ne[1], MODEL_MAX_VOCAB);
    hp->n_vocab = (uint32_t)emb->ne[1];
    uint32_t v;
    if (gguf_find(g, "llama.vocab_size")) {
        if ((st = gguf_get_u32(g, "llama.vocab_size", &v, err, err_len))) return st;
        if (v != hp->n_vocab)
            return errf(VKLLM_ERR_FORMAT, err, err_len,
                              "%s: llama.vocab_size %" PRIu32 " differs from token_embd.weight's %" PRIu32 " rows",
                              path, v, hp->n_vocab);
    }
    const gguf_kv *toks = gguf_find(g, "tokenizer.ggml.tokens");
    if (toks && toks->type == GGUF_TYPE_ARRAY && toks->n != hp->n_vocab)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: tokenizer.ggml.tokens has %" PRIu64 " entries but token_embd.weight has %" PRIu32
                          " rows", path, toks->n, hp->n_vocab);
    if ((st = model_build(m, head_dim_given, gguf_lookup, m->gguf, path, err, err_len))) return st;
    return model_check_extra(m, g->n_tensors, path, err, err_len);
}

/* ---------------------------------------------------------------- open / close */

vkllm_status model_open(const char *path, model **out, char *err, size_t err_len)
{
    if (!out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "model_open: out is NULL");
    *out = NULL;
    if (!path || !*path) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "model_open: empty path");
    model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    }
    vkllm_status st;
    size_t n = strlen(path);
    const plat_kind kind = plat_path_kind(path);
    if (kind == PLAT_MISSING) {
        st = errf(VKLLM_ERR_IO, err, err_len, "%s: cannot open: %s", path, strerror(errno));
    } else if (kind == PLAT_DIR) {
        st = hf_load(m, path, err, err_len);
    } else if (strcmp(path_basename(path), "config.json") == 0) {
        char *dir = strdup(path);
        if (!dir) {
            st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
        } else {
            char *slash = strrchr(dir, '/');
            if (slash) *slash = 0;
            st = hf_load(m, slash ? (*dir ? dir : "/") : ".", err, err_len);
            free(dir);
        }
    } else if (n > 12 && strcmp(path + n - 12, ".safetensors") == 0) {
        st = errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                        "%s: a .safetensors file alone is not a model: open the folder holding it and config.json",
                        path);
    } else {
        st = gguf_load(m, path, err, err_len);
    }
    if (st) {
        model_close(m);
        return st;
    }
    *out = m;
    return VKLLM_OK;
}

void model_close(model *m)
{
    if (!m) return;
    gguf_close(m->gguf);
    for (size_t i = 0; i < m->n_shards; i++) st_close(m->shards[i]);
    free(m->shards);
    free(m->tensors);
    free(m->layers);
    free(m->dir);
    free(m->path);
    free(m);
}
