/* Weights on the device: what a model needs, the fit check, and the upload
 * (F16 straight from the mapped file, BF16 / F32 converted to fp16 through a
 * bounded host buffer, matrices planned for quantize on load quantized by
 * weights_quant.c's threads on the way, or by its shader on the device). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_internal.h"
#include "ops/matmul.h"
#include "util/bf16.h"
#include "util/half.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define CONVERT_BYTES (4u << 20) /* host buffer for converted rows */

/* ------------------------------------------------------------ memory plan */

static uint64_t mat_bytes(uint64_t rows, uint64_t cols) { return rows * cols * 2; }

/* device bytes of one matrix: its blocks padded to whole words (the kernels
 * read 32-bit words), or fp16 */
uint64_t llama_matrix_device_bytes(const model_tensor *t)
{
    if (t->load_qtype) return (t->load_bytes + 15) / 16 * 16;
    return t->dtype == DTYPE_QUANT ? (t->n_bytes + 15) / 16 * 16 : t->rows * t->cols * 2;
}

uint64_t llama_weight_bytes(const model *m)
{
    uint64_t b = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        b += t->n_dims == 2 ? llama_matrix_device_bytes(t) : 4 * t->rows * t->cols;
    }
    return b;
}

llama_mem llama_mem_needed(const model_hparams *hp, bool tied, uint64_t weight_bytes, uint32_t n_ctx,
                           uint32_t n_batch)
{
    llama_mem m = { 0 };
    const uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim, kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t per_layer = mat_bytes(q_dim, hp->n_embd) * 2 + mat_bytes(kv_dim, hp->n_embd) * 2 +
                         mat_bytes(hp->n_ff, hp->n_embd) * 3 + 2 * 4 * (uint64_t)hp->n_embd;
    m.weights = per_layer * hp->n_layer + mat_bytes(hp->n_vocab, hp->n_embd) * (tied ? 1 : 2) + 4 * (uint64_t)hp->n_embd;
    if (weight_bytes) m.weights = weight_bytes;
    m.kv_cache = 2ull * hp->n_layer * n_ctx * kv_dim * 2;
    m.activations = llama_act_bytes(hp, n_batch);
    m.total = m.weights + m.kv_cache + m.activations;
    return m;
}

vkllm_status llama_check_fits(gpu_ctx *ctx, const model_hparams *hp, bool tied, uint64_t weight_bytes, uint32_t n_ctx,
                              uint32_t n_batch)
{
    const vkllm_device_info *info = gpu_info(ctx);
    llama_mem m = llama_mem_needed(hp, tied, weight_bytes, n_ctx, n_batch);
    const uint64_t avail = gpu_mem_free(ctx); /* the budget where the driver reports one */
    if (m.total <= avail) return VKLLM_OK;
    uint64_t kv_per_pos = n_ctx ? m.kv_cache / n_ctx : 0;
    const char *hint = "use another device (`vkllm devices` lists them)";
    char ctx_hint[160] = "";
    if (m.weights + m.activations < avail && kv_per_pos) {
        uint64_t fit = (avail - m.weights - m.activations) / kv_per_pos;
        snprintf(ctx_hint, sizeof ctx_hint, "a context of at most %llu positions (--ctx) fits; or ",
                 (unsigned long long)fit);
    }
    return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY,
                    "the model needs %.1f GiB (weights %.1f GiB, KV cache %.1f GiB for %u positions, "
                    "activations %.2f GiB) but device %s has %.1f GiB%s; %s%s",
                    m.total / GIB, m.weights / GIB, m.kv_cache / GIB, n_ctx, m.activations / GIB, info->name,
                    avail / GIB, avail < info->device_local_bytes ? " free" : "", ctx_hint, hint);
}

/* "1.5 GiB" or "12.3 MiB" */
static const char *size_str(uint64_t b, char *buf, size_t len)
{
    if (b >= (1ull << 30)) snprintf(buf, len, "%.2f GiB", b / GIB);
    else snprintf(buf, len, "%.1f MiB", b / (GIB / 1024));
    return buf;
}

vkllm_status llama_check_session_fits(gpu_ctx *ctx, const model_hparams *hp, uint32_t n_ctx, uint32_t n_batch)
{
    llama_mem m = llama_mem_needed(hp, false, 1, n_ctx, n_batch);
    const uint64_t need = m.kv_cache + m.activations, avail = gpu_mem_free(ctx);
    if (need <= avail) return VKLLM_OK;
    uint64_t kv_per_pos = n_ctx ? m.kv_cache / n_ctx : 0;
    char ctx_hint[160] = "";
    if (m.activations < avail && kv_per_pos)
        snprintf(ctx_hint, sizeof ctx_hint, "a context of at most %llu positions fits; or ",
                 (unsigned long long)((avail - m.activations) / kv_per_pos));
    char b[5][32];
    return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY,
                    "a session of %u positions needs %s (KV cache %s, activations %s) but device %s has %s free "
                    "(%s in use by this model and its sessions%s); %sfree other sessions",
                    n_ctx, size_str(need, b[0], 32), size_str(m.kv_cache, b[1], 32), size_str(m.activations, b[2], 32),
                    gpu_info(ctx)->name, size_str(avail, b[3], 32), size_str(gpu_mem_used(ctx), b[4], 32),
                    gpu_mem_limit(ctx) ? ", VKLLM_MEMORY_LIMIT set" : "", ctx_hint);
}

/* ------------------------------------------------------------ upload */

typedef struct upload {
    gpu_ctx *ctx;
    uint16_t *buf; /* CONVERT_BYTES of fp16 */
    uint64_t done, total;
    llama_progress_cb progress;
    void *user;
    qstream *qs; /* the planned matrices being quantized on the CPU (quantize on load); NULL: none */
    qdevice *qd; /* the same on the device; NULL: none */
} upload;

static vkllm_status report(upload *u, uint64_t bytes)
{
    u->done += bytes;
    if (u->progress && u->progress(u->done, u->total, u->user))
        return gpu_fail(u->ctx, VKLLM_ERR_INVALID_ARG, "loading cancelled");
    return VKLLM_OK;
}

/* Elements [i0, i0 + n) of a file tensor as fp16 into dst. */
static void to_f16(const model_tensor *t, uint64_t i0, uint64_t n, uint16_t *dst)
{
    const uint8_t *src = t->data;
    for (uint64_t i = 0; i < n; i++) {
        if (t->dtype == DTYPE_BF16) {
            uint16_t b;
            memcpy(&b, src + 2 * (i0 + i), 2);
            dst[i] = float_to_half(bf16_to_float(b));
        } else { /* F32 */
            float f;
            memcpy(&f, src + 4 * (i0 + i), 4);
            dst[i] = float_to_half(f);
        }
    }
}

/* The device's message for tensor t, prefixed with its name. */
static vkllm_status named_fail(upload *u, const model_tensor *t, vkllm_status s)
{
    char why[512];
    snprintf(why, sizeof why, "%s", gpu_error(u->ctx));
    return gpu_fail(u->ctx, s, "%s: %s", t->name, why);
}

/* The padding of a block tensor past its `used` bytes (to whole texels):
 * zeros, so every word the kernels read is defined. */
static vkllm_status upload_padding(upload *u, gpu_tensor *out, uint64_t used)
{
    static const uint8_t zeros[16];
    uint64_t pad = gpu_tensor_bytes(out) - used;
    if (!pad) return VKLLM_OK;
    vkllm_status s = gpu_upload(u->ctx, out, used, zeros, pad);
    return s == VKLLM_OK ? report(u, pad) : s;
}

/* A quantized matrix: its blocks as the file has them (nothing is
 * dequantized), in a tensor op_weight_create makes for its type. */
static vkllm_status upload_blocks(upload *u, const model_tensor *t, gpu_tensor **out)
{
    vkllm_status s = op_weight_create(u->ctx, t->qtype, (uint32_t)t->rows, (uint32_t)t->cols, out);
    if (s != VKLLM_OK) return named_fail(u, t, s);
    const uint64_t step = 64ull << 20;
    for (uint64_t i = 0; i < t->n_bytes && s == VKLLM_OK; i += step) {
        uint64_t k = t->n_bytes - i < step ? t->n_bytes - i : step;
        s = gpu_upload(u->ctx, *out, i, (const uint8_t *)t->data + i, k);
        if (s == VKLLM_OK) s = report(u, k);
    }
    return s == VKLLM_OK ? upload_padding(u, *out, t->n_bytes) : s;
}

/* A matrix planned for quantize on load: its blocks as qstream's threads
 * make them, chunk by chunk, uploaded while they make the next ones. */
static vkllm_status report_to(void *u, uint64_t bytes) { return report(u, bytes); }

static vkllm_status upload_quantizing(upload *u, const model_tensor *t, gpu_tensor **out)
{
    vkllm_status s = op_weight_create(u->ctx, t->load_qtype, (uint32_t)t->rows, (uint32_t)t->cols, out);
    if (s != VKLLM_OK) return named_fail(u, t, s);
    if (u->qd && qdevice_takes(u->ctx, t)) { /* made on the device, from its source rows */
        s = qdevice_upload(u->qd, t, *out, report_to, u);
        return s == VKLLM_OK ? upload_padding(u, *out, t->load_bytes) : s;
    }
    for (uint64_t done = 0; done < t->load_bytes && s == VKLLM_OK;) {
        const void *data;
        uint64_t bytes, offset;
        if (!qstream_next(u->qs, t, &data, &bytes, &offset)) {
            const model_tensor *bt;
            uint64_t row;
            if (qstream_bad_row(u->qs, &bt, &row))
                return gpu_fail(u->ctx, VKLLM_ERR_FORMAT, "tensor '%s' row %llu holds NaN or Inf; refusing to "
                                "quantize a broken model", bt->name, (unsigned long long)row);
            return gpu_fail(u->ctx, VKLLM_ERR_INVALID_ARG, "%s: quantized out of order (a bug in vkllm)", t->name);
        }
        s = gpu_upload(u->ctx, *out, offset, data, bytes);
        qstream_release(u->qs);
        done += bytes;
        if (s == VKLLM_OK) s = report(u, bytes);
    }
    return s == VKLLM_OK ? upload_padding(u, *out, t->load_bytes) : s;
}

/* A matrix [rows][cols] as an fp16 device tensor whose chunks hold whole rows
 * (or, quantized, its blocks). */
static vkllm_status upload_matrix(upload *u, const model_tensor *t, gpu_tensor **out)
{
    if (t->load_qtype) return upload_quantizing(u, t, out);
    if (t->dtype == DTYPE_QUANT) return upload_blocks(u, t, out);
    const uint64_t n = t->rows * t->cols, bytes = n * 2;
    vkllm_status s = gpu_tensor_create(u->ctx, bytes, t->cols * 2, out);
    if (s != VKLLM_OK) return named_fail(u, t, s);
    const uint64_t step = t->dtype == DTYPE_F16 ? 64ull << 20 : CONVERT_BYTES / 2; /* elements per piece */
    for (uint64_t i = 0; i < n && s == VKLLM_OK; i += step) {
        uint64_t k = n - i < step ? n - i : step;
        if (t->dtype == DTYPE_F16) {
            s = gpu_upload(u->ctx, *out, i * 2, (const uint8_t *)t->data + i * 2, k * 2);
        } else {
            to_f16(t, i, k, u->buf);
            s = gpu_upload(u->ctx, *out, i * 2, u->buf, k * 2);
        }
        if (s == VKLLM_OK) s = report(u, k * 2);
    }
    return s;
}

/* A vector (norm weight) as an fp32 device tensor. */
static vkllm_status upload_vector(upload *u, const model_tensor *t, gpu_tensor **out)
{
    const uint64_t n = t->rows * t->cols;
    float *f = malloc(n * sizeof *f);
    if (!f) return gpu_fail(u->ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    const uint8_t *src = t->data;
    for (uint64_t i = 0; i < n; i++) {
        if (t->dtype == DTYPE_F32) {
            memcpy(&f[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            f[i] = t->dtype == DTYPE_F16 ? half_to_float(h) : bf16_to_float(h);
        }
    }
    vkllm_status s = gpu_tensor_create(u->ctx, n * 4, 0, out);
    if (s == VKLLM_OK) s = gpu_upload(u->ctx, *out, 0, f, n * 4);
    if (s == VKLLM_OK) s = report(u, n * 4);
    free(f);
    return s;
}

vkllm_status llama_weights_load(gpu_ctx *ctx, const model *m, llama_progress_cb progress, void *user,
                                llama_weights **out)
{
    *out = NULL;
    const model_hparams *hp = &m->hp;
    llama_weights *w = calloc(1, sizeof *w);
    upload u = { .ctx = ctx, .progress = progress, .user = user };
    if (w) w->layers = calloc(hp->n_layer, sizeof *w->layers);
    if (w) u.buf = malloc(CONVERT_BYTES);
    if (!w || !w->layers || !u.buf) {
        free(u.buf);
        llama_weights_free(w);
        return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    matmul_verify_coopmat(ctx); /* tensor cores for prefill only if they match the reference here */
    w->ctx = ctx;
    w->hp = *hp;
    w->tied = m->tied_embeddings;
    w->pairing = m->rope_pairing;
    u.total = llama_weight_bytes(m);

    /* quantize on load: the planned matrices in the order the uploads below take them */
    const model_tensor **planned = malloc((3 + 7 * (size_t)hp->n_layer) * sizeof *planned);
    size_t n_planned = 0;
    if (!planned) {
        free(u.buf);
        llama_weights_free(w);
        return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    /* (those the device quantizes are not: they go by qdevice) */
    const model_tensor *first[] = { m->tok_embd, w->tied ? NULL : m->output };
    size_t n_device = 0;
    for (size_t i = 0; i < 2; i++)
        if (first[i] && first[i]->load_qtype) {
            if (qdevice_takes(ctx, first[i])) n_device++;
            else planned[n_planned++] = first[i];
        }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const model_layer *ml = &m->layers[l];
        const model_tensor *ts[] = { ml->wq, ml->wk, ml->wv, ml->wo, ml->w_gate, ml->w_up, ml->w_down };
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->load_qtype) {
                if (qdevice_takes(ctx, ts[i])) n_device++;
                else planned[n_planned++] = ts[i];
            }
    }
    vkllm_status s = VKLLM_OK;
    if (n_planned && qstream_start(planned, n_planned, 0, &u.qs) != VKLLM_OK)
        s = gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory for the quantizing buffers");
    if (s == VKLLM_OK && n_device) s = qdevice_start(ctx, &u.qd);

    if (s == VKLLM_OK) s = upload_matrix(&u, m->tok_embd, &w->tok_embd);
    if (s == VKLLM_OK) s = upload_vector(&u, m->output_norm, &w->output_norm);
    if (s == VKLLM_OK && !w->tied) s = upload_matrix(&u, m->output, &w->output);
    for (uint32_t l = 0; l < hp->n_layer && s == VKLLM_OK; l++) {
        const model_layer *ml = &m->layers[l];
        llama_layer *L = &w->layers[l];
        s = upload_vector(&u, ml->attn_norm, &L->attn_norm);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->wq, &L->wq);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->wk, &L->wk);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->wv, &L->wv);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->wo, &L->wo);
        if (s == VKLLM_OK) s = upload_vector(&u, ml->ffn_norm, &L->ffn_norm);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->w_gate, &L->w_gate);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->w_up, &L->w_up);
        if (s == VKLLM_OK) s = upload_matrix(&u, ml->w_down, &L->w_down);
    }
    qstream_stop(u.qs);
    qdevice_stop(u.qd);
    free(planned);
    free(u.buf);
    if (s != VKLLM_OK) {
        llama_weights_free(w);
        return s;
    }
    w->bytes = u.done;
    llama_weights_tune(w); /* the decode kernels measured on these weights */
    *out = w;
    return VKLLM_OK;
}

void llama_weights_free(llama_weights *w)
{
    if (!w) return;
    gpu_ctx *ctx = w->ctx;
    if (w->layers)
        for (uint32_t l = 0; l < w->hp.n_layer; l++) {
            llama_layer *L = &w->layers[l];
            gpu_tensor *ts[] = { L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->ffn_norm, L->w_gate, L->w_up, L->w_down };
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) gpu_tensor_destroy(ctx, ts[i]);
        }
    gpu_tensor_destroy(ctx, w->tok_embd);
    gpu_tensor_destroy(ctx, w->output_norm);
    gpu_tensor_destroy(ctx, w->output);
    free(w->layers);
    free(w);
}

const model_hparams *llama_weights_hparams(const llama_weights *w) { return &w->hp; }
uint64_t llama_weights_bytes(const llama_weights *w) { return w->bytes; }
