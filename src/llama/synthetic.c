/* Synthetic models: the shapes of well-known models with seeded random
 * fp16 weights written directly on the device (no file, no upload), so
 * `vkllm bench --synthetic solar-10.7b` answers "how fast on my GPU?"
 * without a download. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* A random matrix [rows][cols]: uniform in +-sqrt(3 / cols), so a product
 * with a unit-variance vector has unit variance (activations stay sane
 * through the layers, like a trained model's). Creating it and filling it
 * fail into the recording (see gpu.h). */
static void random_matrix(gpu_rec *rec, uint64_t rows, uint64_t cols, uint32_t seed, float scale, gpu_tensor **out)
{
    gpu_rec_note(rec, gpu_tensor_create(gpu_rec_ctx(rec), rows * cols * 2, cols * 2, out));
    op_fill_random(rec, *out, rows * cols, seed, scale);
}

static void ones(gpu_rec *rec, uint32_t n, gpu_tensor **out)
{
    if (gpu_rec_note(rec, gpu_tensor_create(gpu_rec_ctx(rec), (uint64_t)n * 4, 0, out))) return;
    gpu_rec_fill(rec, gpu_bind(*out), (uint64_t)n * 4, 0x3f800000u); /* 1.0f */
}

vkllm_status llama_weights_synthetic(gpu_ctx *ctx, const model_hparams *hp, bool tied, uint32_t seed,
                                     llama_weights **out)
{
    *out = NULL;
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
            random_matrix(rec, hp->n_vocab, E, k++, 1.0f, &w->tok_embd);
            if (!tied) random_matrix(rec, hp->n_vocab, E, k++, sE, &w->output);
            ones(rec, hp->n_embd, &w->output_norm);
        } else if (s == VKLLM_OK) {
            llama_layer *L = &w->layers[l - 1];
            ones(rec, hp->n_embd, &L->attn_norm);
            random_matrix(rec, q_dim, E, k++, sE, &L->wq);
            random_matrix(rec, kv_dim, E, k++, sE, &L->wk);
            random_matrix(rec, kv_dim, E, k++, sE, &L->wv);
            random_matrix(rec, E, q_dim, k++, sQ, &L->wo);
            ones(rec, hp->n_embd, &L->ffn_norm);
            random_matrix(rec, F, E, k++, sE, &L->w_gate);
            random_matrix(rec, F, E, k++, sE, &L->w_up);
            random_matrix(rec, E, F, k++, sF, &L->w_down);
        }
        if (s == VKLLM_OK) s = gpu_rec_end(rec);
        if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        gpu_rec_destroy(rec);
    }
    if (s != VKLLM_OK) {
        llama_weights_free(w);
        return s;
    }
    w->bytes = llama_mem_needed(hp, tied, 0, 0, 0).weights;
    llama_weights_tune(w); /* the decode kernels measured on these weights */
    *out = w;
    return VKLLM_OK;
}
