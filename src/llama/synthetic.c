/* Synthetic models: the shapes of well-known models with seeded random
 * weights written directly on the device (no file, no upload), so
 * `vkllm bench --synthetic solar-10.7b --type q4_k_m` answers "how fast on
 * my GPU?" without a download: fp16 values, or random blocks of a ggml
 * type with sane scales (op_fill_blocks), per tensor as llama-quantize's
 * mixes assign them (src/model/quant_scheme.c). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quant.h"

#include "llama_internal.h"
#include "ops/matmul.h"
#include "ops/fill_random.h"

typedef struct preset {
    const char *name;
    model_hparams hp;
} preset;

/* n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx_train, n_rot, rope_theta, rms_eps */
static const preset presets[] = {
    { "solar-10.7b", { 48, 4096, 14336, 32, 8, 128, 32000, 4096, 128, 10000.0f, 1e-5f } },
    { "llama-2-7b", { 32, 4096, 11008, 32, 32, 128, 32000, 4096, 128, 10000.0f, 1e-5f } },
    { "mistral-7b", { 32, 4096, 14336, 32, 8, 128, 32000, 32768, 128, 10000.0f, 1e-5f } },
    { "tinyllama-1.1b", { 22, 2048, 5632, 32, 4, 64, 32000, 2048, 64, 10000.0f, 1e-5f } },
    /* the shapes llama.cpp's Vulkan backend was measured on with lavapipe (see docs/PERFORMANCE.md) */
    { "small", { 12, 768, 2048, 12, 4, 64, 32000, 2048, 64, 10000.0f, 1e-5f } },
    { "tiny", { 4, 256, 768, 8, 4, 32, 32000, 2048, 32, 10000.0f, 1e-5f } },
};

int llama_preset(const char *name, model_hparams *hp)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) {
            *hp = presets[i].hp;
            return 1;
        }
    return 0;
}

const char *llama_preset_names(void) { return "solar-10.7b, llama-2-7b, mistral-7b, tinyllama-1.1b, small, tiny"; }

/* What --type names: a llama-quantize scheme (mix), else one block type
 * for every matrix, else f16 */
typedef struct synth_type {
    const quant_scheme *scheme;
    uint32_t pure; /* block type of every matrix; 0 with no scheme: fp16 */
} synth_type;

static int synth_type_parse(const char *name, synth_type *t)
{
    *t = (synth_type){ 0 };
    if (!name || !strcmp(name, "f16") || !strcmp(name, "F16")) return 1;
    if ((t->scheme = quant_scheme_find(name))) return 1;
    for (uint32_t id = 1; id < 64; id++) {
        const quant_type *q = quant_type_of(id);
        if (!q) continue;
        const char *a = q->name, *b = name;
        while (*a && toupper((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) {
            t->pure = id;
            return 1;
        }
    }
    return 0;
}

/* the weight type of a matrix (0: fp16) */
static uint32_t synth_matrix_type(const synth_type *t, const model_hparams *hp, quant_role role, uint32_t layer,
                                  uint64_t cols)
{
    if (t->scheme) return quant_scheme_type(t->scheme, role, layer, hp->n_layer, cols, hp->n_head, hp->n_head_kv);
    return t->pure;
}

const char *llama_synthetic_types(void)
{
    return "f16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, and llama-quantize's "
           "mixes q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m";
}

/* A random matrix [rows][cols] whose weights have the spread of uniform
 * +-scale values: fp16 uniform in +-scale, or random blocks of its type with
 * the same root mean square (scale / sqrt 3). scale = sqrt(3 / cols) gives
 * a product with a unit-variance vector unit variance (activations stay
 * sane through the layers, like a trained model's). Creating it and filling
 * it fail into the recording (see gpu.h). */
static void random_matrix(gpu_rec *rec, uint32_t qtype, uint64_t rows, uint64_t cols, uint32_t seed, float scale,
                          gpu_tensor **out)
{
    if (qtype) {
        if (gpu_rec_note(rec, op_weight_create(gpu_rec_ctx(rec), qtype, (uint32_t)rows, (uint32_t)cols, out))) return;
        op_fill_blocks(rec, *out, qtype, rows * op_weight_row_bytes(qtype, (uint32_t)cols), seed,
                       scale / sqrtf(3.0f));
        return;
    }
    gpu_rec_note(rec, gpu_tensor_create(gpu_rec_ctx(rec), rows * cols * 2, cols * 2, out));
    op_fill_random(rec, *out, rows * cols, seed, scale);
}

static uint64_t matrix_bytes(uint32_t qtype, uint64_t rows, uint64_t cols)
{
    return qtype ? (rows * op_weight_row_bytes(qtype, (uint32_t)cols) + 15) / 16 * 16 : rows * cols * 2;
}

/* The device bytes of the weights synthetic_weights makes, and of the
 * embedding table's rows: the matrices as typed, fp32 norms. */
static uint64_t synth_bytes(const model_hparams *hp, const synth_type *t, bool tied, uint64_t *embd_bytes)
{
    const uint64_t E = hp->n_embd, F = hp->n_ff, q_dim = (uint64_t)hp->n_head * hp->head_dim,
                   kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    *embd_bytes = matrix_bytes(synth_matrix_type(t, hp, tied ? QROLE_OUTPUT : QROLE_TOKEN_EMBD, 0, E), hp->n_vocab, E);
    uint64_t b = *embd_bytes + 4 * E;
    if (!tied) b += matrix_bytes(synth_matrix_type(t, hp, QROLE_OUTPUT, 0, E), hp->n_vocab, E);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        b += 8 * E;
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_ATTN_Q, l, E), q_dim, E);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_ATTN_K, l, E), kv_dim, E);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_ATTN_V, l, E), kv_dim, E);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_ATTN_OUTPUT, l, q_dim), E, q_dim);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_FFN_GATE, l, E), F, E);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_FFN_UP, l, E), F, E);
        b += matrix_bytes(synth_matrix_type(t, hp, QROLE_FFN_DOWN, l, F), E, F);
    }
    return b;
}

vkllm_status llama_synthetic_bytes(const model_hparams *hp, const char *type, bool tied, uint64_t *bytes,
                                   uint64_t *embd_bytes)
{
    synth_type t;
    if (!synth_type_parse(type, &t)) return VKLLM_ERR_INVALID_ARG;
    uint64_t e;
    *bytes = synth_bytes(hp, &t, tied, &e);
    if (embd_bytes) *embd_bytes = e;
    return VKLLM_OK;
}

static void ones(gpu_rec *rec, uint32_t n, gpu_tensor **out)
{
    if (gpu_rec_note(rec, gpu_tensor_create(gpu_rec_ctx(rec), (uint64_t)n * 4, 0, out))) return;
    gpu_rec_fill(rec, gpu_bind(*out), (uint64_t)n * 4, 0x3f800000u); /* 1.0f */
}

vkllm_status llama_weights_synthetic(gpu_ctx *ctx, const model_hparams *hp, const char *type, bool tied,
                                     uint32_t seed, llama_weights **out)
{
    *out = NULL;
    synth_type ty;
    if (!synth_type_parse(type, &ty))
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "unknown weight type '%s' for a synthetic model; known: %s", type,
                        llama_synthetic_types());
    llama_weights *w = calloc(1, sizeof *w);
    if (w) w->layers = calloc(hp->n_layer, sizeof *w->layers);
    if (!w || !w->layers) {
        llama_weights_free(w);
        return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    matmul_verify_coopmat(ctx); /* tensor cores for prefill only if they match the reference here */
    w->ctx = ctx;
    w->hp = *hp;
    w->tied = tied;
    w->pairing = ROPE_ADJACENT;
    const uint64_t E = hp->n_embd, F = hp->n_ff, q_dim = (uint64_t)hp->n_head * hp->head_dim,
                   kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    const float sE = sqrtf(3.0f / (float)E), sF = sqrtf(3.0f / (float)F), sQ = sqrtf(3.0f / (float)q_dim);
    /* one recording for the embeddings and the output, then one per layer
     * (keeps the descriptor sets per recording small) */
    uint32_t k = seed * 1000;
    vkllm_status s = VKLLM_OK;
    for (uint32_t l = 0; l <= hp->n_layer && s == VKLLM_OK; l++) {
        gpu_rec *rec = NULL;
        s = gpu_rec_begin(ctx, 0, &rec);
        if (s == VKLLM_OK && l == 0) {
            random_matrix(rec, synth_matrix_type(&ty, hp, tied ? QROLE_OUTPUT : QROLE_TOKEN_EMBD, 0, E), hp->n_vocab,
                          E, k++, 1.0f, &w->tok_embd);
            if (!tied) random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_OUTPUT, 0, E), hp->n_vocab, E, k++, sE, &w->output);
            ones(rec, hp->n_embd, &w->output_norm);
        } else if (s == VKLLM_OK) {
            llama_layer *L = &w->layers[l - 1];
            ones(rec, hp->n_embd, &L->attn_norm);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_ATTN_Q, l - 1, E), q_dim, E, k++, sE, &L->wq);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_ATTN_K, l - 1, E), kv_dim, E, k++, sE, &L->wk);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_ATTN_V, l - 1, E), kv_dim, E, k++, sE, &L->wv);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_ATTN_OUTPUT, l - 1, q_dim), E, q_dim, k++, sQ, &L->wo);
            ones(rec, hp->n_embd, &L->ffn_norm);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_FFN_GATE, l - 1, E), F, E, k++, sE, &L->w_gate);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_FFN_UP, l - 1, E), F, E, k++, sE, &L->w_up);
            random_matrix(rec, synth_matrix_type(&ty, hp, QROLE_FFN_DOWN, l - 1, F), E, F, k++, sF, &L->w_down);
        }
        if (s == VKLLM_OK) s = gpu_rec_end(rec);
        if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        gpu_rec_destroy(rec);
    }
    if (s != VKLLM_OK) {
        llama_weights_free(w);
        return s;
    }
    uint64_t embd_bytes;
    w->bytes = synth_bytes(hp, &ty, tied, &embd_bytes);
    llama_weights_tune(w); /* the decode kernels measured on these weights */
    *out = w;
    return VKLLM_OK;
}
