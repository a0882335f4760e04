/* The public model and session API (include/vkllm.h): wiring over
 * src/model (the files), src/gpu (the device) and src/llama (the forward pass). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "llama/llama.h"
#include "model/model.h"
#include "model/quant.h"
#include "ops/profile.h"
#include "util/errf.h"
#include "api_internal.h"
#include "vkllm.h"


/* The hparams part of a model's description. */
static void info_set_hparams(vkllm_model_info *info, const model_hparams *hp)
{
    info->n_layer = hp->n_layer;
    info->n_embd = hp->n_embd;
    info->n_ff = hp->n_ff;
    info->n_head = hp->n_head;
    info->n_head_kv = hp->n_head_kv;
    info->head_dim = hp->head_dim;
    info->n_vocab = hp->n_vocab;
    info->n_ctx_train = hp->n_ctx_train;
    info->n_rot = hp->n_rot;
    info->rope_theta = hp->rope_theta;
    info->rms_eps = hp->rms_eps;
}

/* "token_embd F16, attn_norm F32, ...": each tensor kind (the canonical
 * name without "blk.N." and ".weight") with the types its tensors have. */
static void fill_tensor_types(const model *m, char *out, size_t len)
{
    enum { MAX_KINDS = 24 };
    struct { char name[MODEL_TENSOR_NAME_MAX]; unsigned types; } kinds[MAX_KINDS];
    size_t n_kinds = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensors[i].name;
        if (strncmp(name, "blk.", 4) == 0) { /* past "blk.N." */
            size_t j = 4;
            while (name[j] && name[j] != '.') j++;
            if (name[j]) name += j + 1;
        }
        size_t nl = strlen(name);
        if (nl > 7 && strcmp(name + nl - 7, ".weight") == 0) nl -= 7;
        size_t k = 0;
        while (k < n_kinds && (strlen(kinds[k].name) != nl || strncmp(kinds[k].name, name, nl) != 0)) k++;
        if (k == n_kinds) {
            if (n_kinds == MAX_KINDS) continue;
            snprintf(kinds[k].name, sizeof kinds[k].name, "%.*s", (int)nl, name);
            kinds[k].types = 0;
            n_kinds++;
        }
        /* bits 0..4: the dtypes; 8 + id: a block type */
        const model_tensor *t = &m->tensors[i];
        uint32_t qt = t->load_qtype ? t->load_qtype : t->dtype == DTYPE_QUANT ? t->qtype : 0;
        kinds[k].types |= qt ? 1u << (8 + qt) : 1u << t->dtype;
    }
    size_t at = 0;
    out[0] = '\0';
    for (size_t k = 0; k < n_kinds && at < len; k++) {
        at += (size_t)snprintf(out + at, len - at, "%s%s ", k ? ", " : "", kinds[k].name);
        for (int d = DTYPE_F32, first = 1; d < 32 && at < len; d++)
            if (d != DTYPE_QUANT && (kinds[k].types & (1u << d))) {
                const char *tn = d < 8 ? dtype_name((tensor_dtype)d) : quant_type_of((uint32_t)d - 8)->name;
                at += (size_t)snprintf(out + at, len - at, "%s%s", first ? "" : "/", tn);
                first = 0;
            }
    }
}

static void fill_info(const model *m, vkllm_model_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->format, sizeof info->format, "%s", m->format == MODEL_FORMAT_GGUF ? "gguf" : "hf");
    snprintf(info->architecture, sizeof info->architecture, "%s", m->architecture);
    info_set_hparams(info, &m->hp);
    info->tied_embeddings = m->tied_embeddings;
    info->rope_pairing = (int)m->rope_pairing;
    info->n_tensors = m->n_tensors;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        info->n_params += t->rows * t->cols;
        info->file_bytes += t->n_bytes;
        if (t->dtype == DTYPE_F32) info->n_tensors_f32++;
        if (t->dtype == DTYPE_F16) info->n_tensors_f16++;
        if (t->dtype == DTYPE_BF16) info->n_tensors_bf16++;
    }
    fill_tensor_types(m, info->tensor_types, sizeof info->tensor_types);
    /* the type of most matrix weights (as loaded: quantize on load's where
     * planned): dtypes below 8, block types 8 + id */
    uint64_t n_of[8 + 64] = { 0 };
    for (size_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        unsigned k = t->load_qtype ? 8 + t->load_qtype : t->dtype == DTYPE_QUANT ? 8 + t->qtype : (unsigned)t->dtype;
        if (t->n_dims == 2 && k < 8 + 64) n_of[k] += t->rows * t->cols;
    }
    unsigned best = 0;
    for (unsigned k = 1; k < 8 + 64; k++)
        if (n_of[k] > n_of[best]) best = k;
    if (n_of[best])
        snprintf(info->weight_type, sizeof info->weight_type, "%s",
                 best < 8 ? dtype_name((tensor_dtype)best) : quant_type_of(best - 8)->name);
    info->device_weight_bytes = llama_weight_bytes(m);
    info->decode_bytes_per_token = info->device_weight_bytes;
    if (!m->tied_embeddings) { /* the embedding table: one row per token */
        const model_tensor *e = m->tok_embd;
        uint64_t eb = llama_matrix_device_bytes(e);
        info->decode_bytes_per_token -= eb - eb / e->rows;
    }
}

static model_hparams hparams_of(const vkllm_model_info *info)
{
    return (model_hparams){
        .n_layer = info->n_layer, .n_embd = info->n_embd, .n_ff = info->n_ff, .n_head = info->n_head,
        .n_head_kv = info->n_head_kv, .head_dim = info->head_dim, .n_vocab = info->n_vocab,
        .n_ctx_train = info->n_ctx_train, .n_rot = info->n_rot, .rope_theta = info->rope_theta,
        .rms_eps = info->rms_eps,
    };
}


vkllm_status vkllm_model_inspect(const char *path, vkllm_model_info *info, char *err, size_t err_len)
{
    return vkllm_model_inspect_quant(path, NULL, info, err, err_len);
}

vkllm_status vkllm_model_inspect_quant(const char *path, const char *quant, vkllm_model_info *info, char *err,
                                       size_t err_len)
{
    if (!path || !info) {
        api_set_err(err, err_len, "vkllm_model_inspect: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    model *m;
    vkllm_status s = model_open(path, &m, err, err_len);
    if (s != VKLLM_OK) return s;
    if (quant && (s = model_plan_quant(m, quant, err, err_len)) != VKLLM_OK) {
        model_close(m);
        return s;
    }
    fill_info(m, info);
    model_close(m);
    return VKLLM_OK;
}

vkllm_memory vkllm_model_memory(const vkllm_model_info *info, uint32_t n_ctx, uint32_t n_batch)
{
    model_hparams hp = hparams_of(info);
    uint32_t ctx = llama_default_n_ctx(&hp, n_ctx);
    llama_mem m = llama_mem_needed(&hp, info->tied_embeddings != 0, info->device_weight_bytes, ctx,
                                   n_batch ? n_batch : LLAMA_DEFAULT_BATCH);
    return (vkllm_memory){ m.weights, m.kv_cache, m.activations, m.total, ctx };
}

vkllm_status vkllm_device_choose(const char *device, vkllm_device_info *out, char *err, size_t err_len)
{
    gpu_opts o = { .device = device };
    gpu_ctx *ctx;
    vkllm_status s = gpu_ctx_create(&o, &ctx, err, err_len);
    if (s != VKLLM_OK) return s;
    *out = *gpu_info(ctx);
    gpu_ctx_destroy(ctx);
    return VKLLM_OK;
}

typedef struct progress_fwd {
    vkllm_progress_cb cb;
    void *user;
} progress_fwd;

static int forward_progress(uint64_t done, uint64_t total, void *user)
{
    progress_fwd *p = user;
    return p->cb ? p->cb(done, total, p->user) : 0;
}

vkllm_status vkllm_model_load(const char *path, const vkllm_load_options *opts, vkllm_model **out, char *err,
                              size_t err_len)
{
    if (!path || !out) {
        api_set_err(err, err_len, "vkllm_model_load: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    vkllm_load_options o = opts ? *opts : (vkllm_load_options){ 0 };
    quant_search search = QUANT_SEARCH_EXACT;
    if (o.quant_search && !o.quant)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "quant_search '%s' without quant: it chooses how quantize "
                    "on load searches scales; give a quantization type too, or leave it NULL", o.quant_search);
    if (o.quant_search && !quant_search_parse(o.quant_search, &search))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "unknown quant_search '%s' (valid: exact, fast)",
                    o.quant_search);
    model *m;
    vkllm_status s = model_open(path, &m, err, err_len);
    if (s != VKLLM_OK) return s;
    if (o.quant && (s = model_plan_quant(m, o.quant, err, err_len)) != VKLLM_OK) {
        model_close(m);
        return s;
    }
    vkllm_model *vm = calloc(1, sizeof *vm);
    if (!vm) {
        model_close(m);
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    fill_info(m, &vm->info);
    gpu_opts go = { .device = o.device, .validate = o.validate != 0 };
    s = gpu_ctx_create(&go, &vm->ctx, err, err_len);
    if (s == VKLLM_OK && o.quant) { /* the default search: exact where the device quantizes, fast on the CPU */
        if (!o.quant_search) search = ops_profile_of(vm->ctx)->quantize_on_device ? QUANT_SEARCH_EXACT : QUANT_SEARCH_FAST;
        model_plan_search(m, search);
        int searched = 0; /* (Q8_0 and friends have no search to name) */
        for (size_t i = 0; i < m->n_tensors; i++) searched |= quant_type_searched(m->tensors[i].load_qtype);
        if (searched)
            snprintf(vm->info.quant_search, sizeof vm->info.quant_search, "%s",
                     search == QUANT_SEARCH_FAST ? "fast" : "exact");
    }
    if (s == VKLLM_OK) {
        s = llama_check_fits(vm->ctx, &m->hp, m->tied_embeddings != 0, llama_weight_bytes(m), llama_default_n_ctx(&m->hp, o.n_ctx),
                             LLAMA_DEFAULT_BATCH);
        progress_fwd pf = { o.progress, o.progress_user };
        if (s == VKLLM_OK) s = llama_weights_load(vm->ctx, m, forward_progress, &pf, &vm->w);
        if (s != VKLLM_OK) api_set_err(err, err_len, gpu_error(vm->ctx));
    }
    if (s == VKLLM_OK) api_model_text_init(vm, m);
    model_close(m); /* the weights live on the device now */
    if (s != VKLLM_OK) {
        vkllm_model_free(vm);
        return s;
    }
    *out = vm;
    return VKLLM_OK;
}

vkllm_status vkllm_model_synthetic(const char *shape, const vkllm_load_options *opts, vkllm_model **out, char *err,
                                   size_t err_len)
{
    if (!shape || !out) {
        api_set_err(err, err_len, "vkllm_model_synthetic: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    model_hparams hp;
    if (!llama_preset(shape, &hp)) {
        if (err && err_len)
            snprintf(err, err_len, "unknown synthetic model '%s'; known: %s", shape, llama_preset_names());
        return VKLLM_ERR_INVALID_ARG;
    }
    vkllm_load_options o = opts ? *opts : (vkllm_load_options){ 0 };
    vkllm_model *vm = calloc(1, sizeof *vm);
    if (!vm) {
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    vkllm_model_info *info = &vm->info;
    snprintf(info->format, sizeof info->format, "synthetic");
    snprintf(info->architecture, sizeof info->architecture, "%s", shape);
    info_set_hparams(info, &hp);
    info->n_tensors = 3 + 9ull * hp.n_layer;
    info->n_tensors_f16 = info->n_tensors;
    const uint64_t q_dim = (uint64_t)hp.n_head * hp.head_dim, kv_dim = (uint64_t)hp.n_head_kv * hp.head_dim;
    info->n_params = 2ull * hp.n_vocab * hp.n_embd + hp.n_embd +
                     hp.n_layer * (2 * q_dim * hp.n_embd + 2 * kv_dim * hp.n_embd + 3ull * hp.n_ff * hp.n_embd +
                                   2ull * hp.n_embd);
    uint64_t bytes = 0, embd_bytes = 0;
    if (llama_synthetic_bytes(&hp, o.synthetic_type, false, &bytes, &embd_bytes) != VKLLM_OK) {
        if (err && err_len)
            snprintf(err, err_len, "unknown weight type '%s' for a synthetic model; known: %s", o.synthetic_type,
                     llama_synthetic_types());
        vkllm_model_free(vm);
        return VKLLM_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i + 1 < sizeof info->weight_type && o.synthetic_type && o.synthetic_type[i]; i++)
        info->weight_type[i] = (char)toupper((unsigned char)o.synthetic_type[i]);
    if (!info->weight_type[0]) snprintf(info->weight_type, sizeof info->weight_type, "F16");
    gpu_opts go = { .device = o.device, .validate = o.validate != 0 };
    vkllm_status s = gpu_ctx_create(&go, &vm->ctx, err, err_len);
    if (s == VKLLM_OK) {
        s = llama_check_fits(vm->ctx, &hp, false, bytes, llama_default_n_ctx(&hp, o.n_ctx), LLAMA_DEFAULT_BATCH);
        if (s == VKLLM_OK) s = llama_weights_synthetic(vm->ctx, &hp, o.synthetic_type, false, 1, &vm->w);
        if (s != VKLLM_OK) api_set_err(err, err_len, gpu_error(vm->ctx));
    }
    if (s != VKLLM_OK) {
        vkllm_model_free(vm);
        return s;
    }
    info->file_bytes = llama_weights_bytes(vm->w);
    info->device_weight_bytes = info->file_bytes;
    info->decode_bytes_per_token = info->file_bytes - (embd_bytes - embd_bytes / hp.n_vocab); /* untied: one row */
    snprintf(vm->tok_err, sizeof vm->tok_err, "a synthetic model has no tokenizer");
    vm->tmpl = CHAT_TEMPLATE_DEFAULT;
    *out = vm;
    return VKLLM_OK;
}

void vkllm_model_free(vkllm_model *m)
{
    if (!m) return;
    tok_free(m->tok);
    llama_weights_free(m->w);
    gpu_ctx_destroy(m->ctx);
    free(m);
}

const vkllm_model_info *vkllm_model_get_info(const vkllm_model *m) { return &m->info; }
const vkllm_device_info *vkllm_model_device(const vkllm_model *m) { return gpu_info(m->ctx); }

uint32_t vkllm_model_validation_messages(const vkllm_model *m, const char **first)
{
    if (first) *first = gpu_validation_first(m->ctx);
    return gpu_validation_count(m->ctx);
}

vkllm_status vkllm_session_create(vkllm_model *m, const vkllm_session_options *opts, vkllm_session **out, char *err,
                                  size_t err_len)
{
    if (!m || !out) {
        api_set_err(err, err_len, "vkllm_session_create: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    vkllm_session_options o = opts ? *opts : (vkllm_session_options){ 0 };
    vkllm_session *vs = calloc(1, sizeof *vs);
    if (!vs) {
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    vs->m = m;
    llama_session_opts lo = { .n_ctx = o.n_ctx, .n_batch = o.n_batch, .max_timed = o.max_timed };
    vkllm_status s = llama_session_create(m->w, &lo, &vs->s);
    if (s != VKLLM_OK) {
        api_set_err(err, err_len, gpu_error(m->ctx));
        free(vs);
        return s;
    }
    vs->tokens = malloc((size_t)llama_session_n_ctx(vs->s) * sizeof *vs->tokens);
    if (!vs->tokens) {
        api_set_err(err, err_len, "out of host memory");
        vkllm_session_free(vs);
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    *out = vs;
    return VKLLM_OK;
}

void vkllm_session_free(vkllm_session *s)
{
    if (!s) return;
    llama_session_free(s->s);
    free(s->tokens);
    free(s);
}

vkllm_status vkllm_session_eval(vkllm_session *s, const int32_t *tokens, uint32_t n, vkllm_logits mode,
                                float *logits, int32_t *argmax)
{
    if (mode != VKLLM_LOGITS_LAST && mode != VKLLM_LOGITS_ALL && mode != VKLLM_LOGITS_ARGMAX) {
        snprintf(s->err, sizeof s->err, "vkllm_session_eval: unknown logits mode %d", (int)mode);
        return VKLLM_ERR_INVALID_ARG;
    }
    uint32_t pos = llama_session_pos(s->s);
    vkllm_status st = llama_eval(s->s, tokens, n, (llama_out)mode, logits, argmax);
    if (st != VKLLM_OK) snprintf(s->err, sizeof s->err, "%s", llama_session_error(s->s));
    /* whatever blocks ran are in the cache, also on a failure part-way */
    uint32_t done = llama_session_pos(s->s) - pos;
    memcpy(s->tokens + pos, tokens, (size_t)done * sizeof *tokens);
    return st;
}

/* ------------------------------------------------------------ batch */

vkllm_status vkllm_batch_create(vkllm_model *m, uint32_t max_rows, uint32_t max_seqs, vkllm_batch **out, char *err,
                                size_t err_len)
{
    if (!m || !out) {
        api_set_err(err, err_len, "vkllm_batch_create: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    vkllm_batch *b = calloc(1, sizeof *b);
    if (b) b->seqs = calloc(max_seqs ? max_seqs : 1, sizeof *b->seqs);
    if (!b || !b->seqs) {
        free(b);
        api_set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    b->m = m;
    vkllm_status s = llama_batch_create(m->w, max_rows, max_seqs, &b->b);
    if (s != VKLLM_OK) {
        api_set_err(err, err_len, gpu_error(m->ctx));
        vkllm_batch_free(b);
        return s;
    }
    *out = b;
    return VKLLM_OK;
}

void vkllm_batch_free(vkllm_batch *b)
{
    if (!b) return;
    llama_batch_free(b->b);
    free(b->seqs);
    free(b);
}

uint32_t vkllm_batch_max_rows(const vkllm_batch *b) { return b ? llama_batch_max_rows(b->b) : 0; }
uint32_t vkllm_batch_max_seqs(const vkllm_batch *b) { return b ? llama_batch_max_seqs(b->b) : 0; }
const char *vkllm_batch_error(const vkllm_batch *b) { return b ? b->err : ""; }

vkllm_status vkllm_batch_eval(vkllm_batch *b, vkllm_batch_seq *seqs, uint32_t n_seq)
{
    if (!b) return VKLLM_ERR_INVALID_ARG;
    const uint32_t max = llama_batch_max_seqs(b->b);
    if (!seqs || n_seq == 0 || n_seq > max) {
        snprintf(b->err, sizeof b->err, "vkllm_batch_eval: %u sequences; give 1 .. %u (the batch's max_seqs)", n_seq,
                 max);
        return VKLLM_ERR_INVALID_ARG;
    }
    for (uint32_t j = 0; j < n_seq; j++) {
        const vkllm_batch_seq *q = &seqs[j];
        if (!q->session || q->session->m != b->m) {
            snprintf(b->err, sizeof b->err,
                     "vkllm_batch_eval: sequence %u has %s; every session must be on the batch's model", j,
                     q->session ? "a session of another model" : "no session");
            return VKLLM_ERR_INVALID_ARG;
        }
        if (q->mode != VKLLM_LOGITS_LAST && q->mode != VKLLM_LOGITS_ARGMAX && q->mode != VKLLM_LOGITS_NONE) {
            snprintf(b->err, sizeof b->err,
                     "vkllm_batch_eval: sequence %u asks for logits mode %d; a batch gives LAST, ARGMAX or NONE", j,
                     (int)q->mode);
            return VKLLM_ERR_INVALID_ARG;
        }
        b->seqs[j] = (llama_batch_seq){ q->session->s, q->tokens, q->n, (llama_out)q->mode, q->logits, -1 };
    }
    vkllm_status st = llama_batch_eval(b->b, b->seqs, n_seq);
    if (st != VKLLM_OK) {
        snprintf(b->err, sizeof b->err, "%s", llama_batch_error(b->b));
        return st;
    }
    for (uint32_t j = 0; j < n_seq; j++) {
        vkllm_session *s = seqs[j].session;
        uint32_t end = llama_session_pos(s->s);
        memcpy(s->tokens + end - seqs[j].n, seqs[j].tokens, (size_t)seqs[j].n * sizeof *seqs[j].tokens);
        seqs[j].argmax = b->seqs[j].argmax;
    }
    return VKLLM_OK;
}

uint32_t vkllm_session_pos(const vkllm_session *s) { return llama_session_pos(s->s); }
uint32_t vkllm_session_n_ctx(const vkllm_session *s) { return llama_session_n_ctx(s->s); }

vkllm_status vkllm_session_rewind(vkllm_session *s, uint32_t pos)
{
    vkllm_status st = llama_rewind(s->s, pos);
    if (st != VKLLM_OK) snprintf(s->err, sizeof s->err, "%s", llama_session_error(s->s));
    return st;
}

const char *vkllm_session_error(const vkllm_session *s) { return s->err; }

uint32_t vkllm_session_profile(const vkllm_session *s, vkllm_profile_entry *out, uint32_t max)
{
    const char **steps = malloc(max * sizeof *steps), **kernels = malloc(max * sizeof *kernels);
    double *us = malloc(max * sizeof *us);
    uint32_t n = steps && kernels && us ? llama_profile(s->s, steps, kernels, us, max) : 0;
    for (uint32_t i = 0; i < n; i++) out[i] = (vkllm_profile_entry){ steps[i], kernels[i], us[i] };
    free(steps);
    free(kernels);
    free(us);
    return n;
}
