/* vkllm_quantize's work: plan each tensor's type, write the metadata, and
 * convert the rows on all cores into a GGUF (see quantize_model.h). */
#include "model/quantize_model.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/plat.h"

#include "model/model.h"
#include "model/quant.h"
#include "util/bf16.h"
#include "util/errf.h"
#include "util/half.h"

enum { T_F32 = 0, T_F16 = 1, T_BF16 = 30 };
#define CHUNK_BYTES (8u << 20) /* output bytes converted per round of the threads */
#define MAX_THREADS 256

/* ---------------------------------------------------------------- types */

/* conversions without quantizing: (name, ggml type, general.file_type) */
static const struct { const char *name; uint32_t type, file_type; } plain_types[] = {
    { "f32", T_F32, 0 }, { "f16", T_F16, 1 }, { "bf16", T_BF16, 32 },
};
#define N_PLAIN (sizeof plain_types / sizeof plain_types[0])

const char *const *vkllm_quantize_types(void)
{
    static const char *const names[] = { "q2_k",   "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s",
                                         "q5_k_m", "q6_k",   "q4_0",   "q4_1",   "q5_0",   "q5_1",   "q8_0",
                                         "iq4_nl", "iq4_xs", "f32",    "f16",    "bf16",   NULL };
    return names;
}

static int is_plain(uint32_t t) { return t == T_F32 || t == T_F16 || t == T_BF16; }

static const char *type_name(uint32_t t)
{
    const char *n = ggml_type_name(t);
    return n ? n : "unknown";
}

/* bytes of one row of `cols` weights of type t; 0: not a whole number of blocks / unknown type */
static uint64_t row_bytes(uint32_t t, uint64_t cols)
{
    if (t == T_F32) return 4 * cols;
    if (t == T_F16 || t == T_BF16) return 2 * cols;
    const quant_type *q = quant_type_of(t);
    return q ? quant_bytes(q, cols) : 0;
}

/* ---------------------------------------------------------------- the plan */

typedef struct qm_tensor {
    char name[GGUF_MAX_NAME_LEN + 1];
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* innermost first */
    uint64_t rows, cols;        /* cols = ne[0], rows = the other dims' product */
    uint32_t src_type;          /* ggml type id */
    const uint8_t *data;        /* into the source's mapping */
    uint64_t src_bytes;
    uint32_t perm_heads;        /* HF q/k: heads whose rows are permuted to GGUF's layout; 0: none */
    uint32_t type;              /* ggml type of the output */
    uint64_t bytes;
} qm_tensor;

typedef struct qm_source {
    model *m;            /* F32/F16/BF16 sources (checked by model_open) */
    gguf_file *g;        /* a quantized GGUF (allow_requantize), opened directly */
    const gguf_file *meta; /* the GGUF whose key/values are copied; NULL: HF */
    uint32_t n_layer, n_head, n_head_kv;
    size_t n;
    qm_tensor *t;
} qm_source;

static void source_close(qm_source *s)
{
    model_close(s->m);
    gguf_close(s->g);
    free(s->t);
    memset(s, 0, sizeof *s);
}

static int is_quantized(uint32_t t) { return !is_plain(t); }

/* A GGUF source's first quantized tensor, or NULL. */
static const gguf_tensor *first_quantized(const gguf_file *g)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (is_quantized(g->tensors[i].type)) return &g->tensors[i];
    return NULL;
}

static vkllm_status add_gguf_tensors(qm_source *s, const gguf_file *g, char *err, size_t err_len)
{
    s->t = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *s->t);
    if (!s->t) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *gt = &g->tensors[i];
        qm_tensor *t = &s->t[s->n++];
        if (gt->name.len > GGUF_MAX_NAME_LEN)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor %" PRIu64 ": name too long", g->map.path, i);
        memcpy(t->name, gt->name.s, gt->name.len);
        t->n_dims = gt->n_dims;
        t->rows = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            t->ne[d] = d < gt->n_dims ? gt->ne[d] : 1;
            if (d) t->rows *= t->ne[d];
        }
        t->cols = t->ne[0];
        t->src_type = gt->type;
        t->data = gt->data;
        t->src_bytes = gt->n_bytes;
        uint64_t rb = row_bytes(gt->type, t->cols);
        if (!rb && is_quantized(gt->type))
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: tensor '%s' has type %s, which vkllm cannot dequantize (it reads F32, F16, BF16, Q4_0, "
                        "Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS)", g->map.path, t->name,
                        type_name(gt->type));
        if (!rb || rb * t->rows != gt->n_bytes)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: tensor '%s': %" PRIu64 " bytes do not fit its shape and "
                        "type %s", g->map.path, t->name, gt->n_bytes, type_name(gt->type));
    }
    return VKLLM_OK;
}

static vkllm_status add_model_tensors(qm_source *s, const model *m, char *err, size_t err_len)
{
    s->t = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *s->t);
    if (!s->t) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *mt = &m->tensors[i];
        qm_tensor *t = &s->t[s->n++];
        snprintf(t->name, sizeof t->name, "%s", mt->name);
        t->n_dims = mt->n_dims;
        t->ne[0] = mt->cols, t->ne[1] = mt->n_dims == 2 ? mt->rows : 1, t->ne[2] = t->ne[3] = 1;
        t->rows = mt->rows, t->cols = mt->cols;
        t->src_type = mt->dtype == DTYPE_F32 ? T_F32 : mt->dtype == DTYPE_F16 ? T_F16 : T_BF16;
        t->data = mt->data;
        t->src_bytes = mt->n_bytes;
        if (m->rope_pairing == ROPE_ROTATE_HALF) {
            uint32_t layer;
            int role = quant_tensor_role(t->name, &layer);
            t->perm_heads = role == QROLE_ATTN_Q ? m->hp.n_head : role == QROLE_ATTN_K ? m->hp.n_head_kv : 0;
        }
    }
    return VKLLM_OK;
}

static int is_dir(const char *p) { return plat_path_kind(p) == PLAT_DIR; }

static int starts_gguf(const char *p)
{
    FILE *f = fopen(p, "rb");
    char magic[4] = { 0 };
    size_t n = f ? fread(magic, 1, 4, f) : 0;
    if (f) fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

static vkllm_status source_open(qm_source *s, const char *in, int allow_requantize, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    vkllm_status st;
    if (!is_dir(in) && starts_gguf(in)) {
        if ((st = gguf_open(in, &s->g, err, err_len))) return st;
        const gguf_tensor *q = first_quantized(s->g);
        if (q && !allow_requantize)
            return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s is already quantized (tensor '%.*s' is %s); quantizing it again loses quality: start from "
                        "the F16/BF16/F32 model, or allow requantizing (vkllm quantize --allow-requantize)", in,
                        (int)(q->name.len > 64 ? 64 : q->name.len), q->name.s, type_name(q->type));
        if (q) { /* model_open refuses block types: read the hparams the schemes need here */
            gguf_str a;
            if ((st = gguf_get_str(s->g, "general.architecture", &a, err, err_len))) return st;
            if (!gguf_str_eq(a, "llama"))
                return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "%s: general.architecture '%.*s' is not supported "
                            "(only llama)", in, (int)(a.len > 32 ? 32 : a.len), a.s);
            if ((st = gguf_get_u32(s->g, "llama.block_count", &s->n_layer, err, err_len)) ||
                (st = gguf_get_u32(s->g, "llama.attention.head_count", &s->n_head, err, err_len)))
                return st;
            s->n_head_kv = s->n_head;
            if (gguf_find(s->g, "llama.attention.head_count_kv") &&
                (st = gguf_get_u32(s->g, "llama.attention.head_count_kv", &s->n_head_kv, err, err_len)))
                return st;
            s->meta = s->g;
            return add_gguf_tensors(s, s->g, err, err_len);
        }
        gguf_close(s->g);
        s->g = NULL;
    }
    if ((st = model_open(in, &s->m, err, err_len))) return st;
    s->n_layer = s->m->hp.n_layer, s->n_head = s->m->hp.n_head, s->n_head_kv = s->m->hp.n_head_kv;
    if (s->m->gguf) {
        s->meta = s->m->gguf;
        return add_gguf_tensors(s, s->m->gguf, err, err_len);
    }
    return add_model_tensors(s, s->m, err, err_len);
}

/* The output type of every tensor. */
static void plan(qm_source *s, const quant_scheme *qs, uint32_t plain)
{
    int tied = 1;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, "output.weight") == 0) tied = 0;
    for (size_t i = 0; i < s->n; i++) {
        qm_tensor *t = &s->t[i];
        uint32_t layer;
        if (t->n_dims == 1) t->type = T_F32; /* norms */
        else if (quant_tensor_role(t->name, &layer) < 0) t->type = t->src_type; /* a tensor vkllm does not know: as it is */
        else if (!qs) t->type = plain;
        else {
            quant_scheme_tensor(qs, t->name, t->cols, tied, s->n_layer, s->n_head, s->n_head_kv, &t->type);
            if (!t->type) t->type = T_F16; /* rows not a multiple of 32: llama-quantize keeps F16 too */
        }
        t->bytes = row_bytes(t->type, t->cols) * t->rows;
    }
}

/* ---------------------------------------------------------------- metadata */

/* llama-quantize's way: every key/value copied in order, byte for byte, but
 * general.quantization_version and general.file_type (re)set at the end */
static void write_gguf_meta(gguf_writer *w, const gguf_file *g, uint32_t file_type)
{
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        uint64_t end = i + 1 < g->n_kv ? g->kv[i + 1].offset : g->tensor_info_offset;
        if (!gguf_str_eq(kv->key, "general.file_type") && !gguf_str_eq(kv->key, "general.quantization_version"))
            gguf_w_raw_kv(w, g->map.data + kv->offset, (size_t)(end - kv->offset));
    }
    gguf_w_u32(w, "general.quantization_version", 2);
    gguf_w_u32(w, "general.file_type", file_type);
}

/* the keys and key types convert_hf_to_gguf.py writes for a Llama model */
static void write_hf_meta(gguf_writer *w, const model *m, const qm_vocab *v, uint32_t file_type)
{
    const model_hparams *hp = &m->hp;
    char name[256];
    snprintf(name, sizeof name, "%s", m->dir ? m->dir : "model");
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/') name[--n] = 0;
    const char *base = path_basename(name);
    gguf_w_llama_meta(w, hp, base, file_type, hp->head_dim != hp->n_embd / hp->n_head || hp->n_embd % hp->n_head, 0);
    qm_vocab_write(w, v);
}

/* ---------------------------------------------------------------- rows */

typedef struct qm_job {
    const qm_tensor *t;
    uint64_t r0, r1;        /* rows of this round */
    uint8_t *out;           /* [(r1 - r0) * dst_row] */
    uint64_t src_row, dst_row;
    atomic_uint_fast64_t next; /* the next row to take */
    atomic_int bad;            /* a row held NaN/Inf: bad_row + 1 of the first seen */
    atomic_uint_fast64_t bad_row;
    quant_search search;
} qm_job;

typedef struct qm_worker {
    qm_job *job;
    float *row; /* [max cols] */
    pthread_t thread;
    int started;
} qm_worker;

/* GGUF row r of an HF q/k matrix is HF row src_row(r) (convert_hf_to_gguf's
 * reshape(n_head, 2, hd/2, cols).swapaxes(1, 2)) */
static uint64_t src_row_of(const qm_tensor *t, uint64_t r)
{
    if (!t->perm_heads) return r;
    uint64_t hd = t->rows / t->perm_heads;
    uint64_t h = r / hd, w = r % hd, i = w / 2, j = w % 2;
    return h * hd + j * (hd / 2) + i;
}

/* returns 1 when every value is finite */
static int decode_row(uint32_t type, const uint8_t *src, float *out, uint64_t n)
{
    if (type == T_F16) return quant_f16_to_f32(src, out, n); /* its check is free */
    if (type == T_F32) {
        memcpy(out, src, n * 4);
    } else if (type == T_BF16) {
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = bf16_to_float(h);
        }
    } else {
        const quant_type *q = quant_type_of(type);
        quant_dequantize(q, src, out, n / q->block);
    }
    return quant_all_finite(out, n);
}

static void encode_row(uint32_t type, quant_search search, const float *in, uint8_t *dst, uint64_t n)
{
    if (type == T_F32) {
        memcpy(dst, in, n * 4);
    } else if (type == T_F16 || type == T_BF16) {
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = type == T_F16 ? float_to_half(in[i]) : float_to_bf16(in[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
    } else {
        const quant_type *q = quant_type_of(type);
        quant_quantize_as(q, search, in, dst, n / q->block);
    }
}

static void *work(void *arg)
{
    qm_worker *wk = arg;
    qm_job *j = wk->job;
    const qm_tensor *t = j->t;
    for (;;) {
        uint64_t r = atomic_fetch_add(&j->next, 1);
        if (r >= j->r1 || atomic_load(&j->bad)) break;
        const uint8_t *src = t->data + src_row_of(t, r) * j->src_row;
        uint8_t *dst = j->out + (r - j->r0) * j->dst_row;
        if (t->src_type == t->type) {
            memcpy(dst, src, j->dst_row);
            continue;
        }
        int finite = decode_row(t->src_type, src, wk->row, t->cols);
        if (!is_plain(t->type)) {
            if (!finite) {
                int expect = 0;
                if (atomic_compare_exchange_strong(&j->bad, &expect, 1)) atomic_store(&j->bad_row, r);
                break;
            }
        }
        encode_row(t->type, j->search, wk->row, dst, t->cols);
    }
    return NULL;
}

/* Starts the threads on one round (rows r0..r1 into out); small rounds run here at once. */
static void round_start(qm_job *j, qm_worker *wk, uint32_t n_threads, const qm_tensor *t, uint64_t r0, uint64_t r1,
                        uint8_t *out)
{
    j->t = t;
    j->r0 = r0, j->r1 = r1;
    j->out = out;
    j->src_row = row_bytes(t->src_type, t->cols);
    j->dst_row = row_bytes(t->type, t->cols);
    atomic_store(&j->next, r0);
    int small = (r1 - r0) * t->cols < (1u << 16) || n_threads == 1;
    for (uint32_t i = 0; i < n_threads; i++) {
        wk[i].job = j;
        wk[i].started = !small && pthread_create(&wk[i].thread, NULL, work, &wk[i]) == 0;
    }
    if (small) work(&wk[0]);
}

static void round_join(qm_worker *wk, uint32_t n_threads)
{
    int any_failed = 0;
    for (uint32_t i = 0; i < n_threads; i++) {
        if (wk[i].started) pthread_join(wk[i].thread, NULL);
        else any_failed = 1;
        wk[i].started = 0;
    }
    if (any_failed) work(&wk[0]); /* rows no thread took (a thread could not start, or the round was small) */
}

typedef struct qm_pending {
    uint8_t *buf; /* NULL: nothing waiting to be written */
    uint64_t bytes;
} qm_pending;

static vkllm_status convert(gguf_writer *w, const qm_source *s, uint32_t n_threads, const vkllm_quantize_options *o,
                            quant_search search, uint64_t total, char *err, size_t err_len)
{
    uint64_t max_cols = 1, max_row = 1;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].cols > max_cols) max_cols = s->t[i].cols;
        uint64_t rb = row_bytes(s->t[i].type, s->t[i].cols);
        if (rb > max_row) max_row = rb;
    }
    size_t buf_bytes = max_row > CHUNK_BYTES ? (size_t)max_row : CHUNK_BYTES;
    qm_worker *wk = calloc(n_threads, sizeof *wk);
    float *rows = malloc((size_t)n_threads * max_cols * sizeof *rows);
    uint8_t *buf[2] = { malloc(buf_bytes), malloc(buf_bytes) };
    qm_job *job = calloc(1, sizeof *job);
    vkllm_status st = VKLLM_OK;
    if (!wk || !rows || !buf[0] || !buf[1] || !job) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory for the conversion buffers");
        goto done;
    }
    for (uint32_t i = 0; i < n_threads; i++) wk[i].row = rows + (size_t)i * max_cols;
    job->search = search;
    uint64_t done_bytes = 0;
    int cur = 0;
    for (size_t i = 0; i < s->n && !st; i++) {
        const qm_tensor *t = &s->t[i];
        uint64_t dst_row = row_bytes(t->type, t->cols);
        if (!dst_row) continue; /* no data (a zero-length dimension) */
        uint64_t per_round = buf_bytes / dst_row;
        qm_pending prev = { 0 };
        for (uint64_t r0 = 0; r0 < t->rows || prev.buf; r0 += per_round) {
            uint64_t r1 = r0 + per_round < t->rows ? r0 + per_round : t->rows;
            int more = r0 < t->rows;
            /* the threads convert this round into one buffer while the previous round is written from the other */
            if (more) round_start(job, wk, n_threads, t, r0, r1, buf[cur]);
            if (prev.buf) {
                st = gguf_writer_write(w, prev.buf, (size_t)prev.bytes, err, err_len);
                done_bytes += prev.bytes;
                if (!st && o->progress && o->progress(done_bytes, total, o->user))
                    st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "quantizing cancelled; nothing was written");
            }
            if (more) round_join(wk, n_threads);
            if (more && atomic_load(&job->bad) && !st)
                st = errf(VKLLM_ERR_FORMAT, err, err_len,
                          "tensor '%s' row %" PRIu64 " holds NaN or Inf; refusing to quantize a broken model", t->name,
                          (uint64_t)atomic_load(&job->bad_row));
            if (st) break;
            prev = more ? (qm_pending){ buf[cur], (r1 - r0) * dst_row } : (qm_pending){ 0 };
            cur ^= 1;
        }
        if (!st) st = gguf_writer_pad(w, err, err_len);
    }
done:
    free(job);
    free(buf[0]);
    free(buf[1]);
    free(rows);
    free(wk);
    return st;
}

/* ---------------------------------------------------------------- entry */

vkllm_status quantize_model(const char *in, const char *out, const vkllm_quantize_options *opt,
                            vkllm_quantize_stats *stats, char *err, size_t err_len)
{
    const quant_scheme *qs = quant_scheme_find(opt->type);
    uint32_t plain = 0, file_type = 0;
    int found_plain = 0;
    for (size_t i = 0; !qs && i < N_PLAIN; i++) {
        const char *a = plain_types[i].name, *b = opt->type;
        while (*a && (*b | 0x20) == *a) a++, b++;
        if (!*a && !*b) plain = plain_types[i].type, file_type = plain_types[i].file_type, found_plain = 1;
    }
    if (!qs && !found_plain) {
        char list[512];
        size_t o = 0;
        for (const char *const *n = vkllm_quantize_types(); *n && o < sizeof list; n++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", *n);
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "unknown quantization type '%s' (known: %s)", opt->type, list);
    }
    quant_search search = QUANT_SEARCH_EXACT;
    if (opt->search && !quant_search_parse(opt->search, &search))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "unknown scale search '%s' (valid: exact, fast)", opt->search);
    if (qs) file_type = qs->file_type;
    if (!opt->dry_run) { /* before reading the whole source: an output we must not replace */
        if (!opt->overwrite && plat_path_exists(out))
            return errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                        "%s already exists; refusing to replace it (ask to overwrite: vkllm quantize --force)", out);
    }
    qm_source s;
    gguf_writer w;
    qm_vocab v = { 0 };
    gguf_writer_init(&w, 0);
    vkllm_status st = source_open(&s, in, opt->allow_requantize, err, err_len);
    if (st) goto done;
    plan(&s, qs, plain);
    if (s.meta) {
        gguf_writer_init(&w, s.meta->alignment);
        write_gguf_meta(&w, s.meta, file_type);
    } else {
        if ((st = qm_vocab_from_hf(s.m->dir, s.m->hp.n_vocab, &v, err, err_len))) goto done;
        write_hf_meta(&w, s.m, &v, file_type);
    }
    uint64_t src_bytes = 0, total = 0, n_quant = 0;
    for (size_t i = 0; i < s.n; i++) {
        gguf_w_tensor(&w, s.t[i].name, s.t[i].n_dims, s.t[i].ne, s.t[i].type, s.t[i].bytes);
        src_bytes += s.t[i].src_bytes;
        total += s.t[i].bytes;
        n_quant += !is_plain(s.t[i].type);
    }
    uint32_t n_threads = opt->n_threads ? opt->n_threads : plat_cpu_count();
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    for (size_t i = 0; i < s.n && opt->on_tensor; i++) {
        const qm_tensor *t = &s.t[i];
        vkllm_quantize_tensor q = { t->name, t->n_dims, { t->ne[0], t->ne[1], t->ne[2], t->ne[3] },
                                    type_name(t->src_type), type_name(t->type), t->src_bytes, t->bytes,
                                    (uint32_t)i, (uint32_t)s.n };
        if (opt->on_tensor(&q, opt->user)) {
            st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "quantizing cancelled; nothing was written");
            goto done;
        }
    }
    if (stats)
        *stats = (vkllm_quantize_stats){ s.n, n_quant, src_bytes, gguf_writer_file_size(&w), n_threads, file_type };
    if (opt->dry_run) goto done;
    if ((st = gguf_writer_open(&w, out, opt->overwrite, err, err_len))) goto done;
    if ((st = convert(&w, &s, n_threads, opt, search, total, err, err_len))) goto done;
    st = gguf_writer_commit(&w, err, err_len);
done:
    gguf_writer_free(&w); /* removes the temporary file unless committed */
    qm_vocab_free(&v);
    source_close(&s);
    if (st && stats) memset(stats, 0, sizeof *stats);
    return st;
}
