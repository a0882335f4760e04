/* The decode kernels tuned on the model's own weights after upload
 * (matmul_tune): one entry per distinct weight shape of the forward pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_internal.h"
#include "ops/profile.h"
#include "util/bufprintf.h"

#define TUNE_TENSORS 16 /* weights per shape: 16 x 8 MB (SOLAR's k/v) > a GPU's L2 */

typedef struct tune_list {
    matmul_tune_shape shape;
    gpu_tensor *w[TUNE_TENSORS], *w2[TUNE_TENSORS];
} tune_list;

/* Adds weight w (and w2, SwiGLU's up) to the list of its shape. */
static void add(tune_list *lists, uint32_t *n_lists, bool glu, uint32_t N, uint32_t K, gpu_tensor *w, gpu_tensor *w2)
{
    uint32_t i = 0;
    while (i < *n_lists && !(lists[i].shape.glu == glu && lists[i].shape.N == N && lists[i].shape.K == K)) i++;
    if (i == *n_lists) {
        if (i == LLAMA_TUNE_MAX) return;
        lists[i].shape = (matmul_tune_shape){ .N = N, .K = K, .glu = glu };
        ++*n_lists;
    }
    tune_list *l = &lists[i];
    if (l->shape.n < TUNE_TENSORS) {
        l->w[l->shape.n] = w;
        l->w2[l->shape.n++] = w2;
    }
}

void llama_weights_tune(llama_weights *w)
{
    gpu_ctx *ctx = w->ctx;
    const char *env = getenv("VKLLM_TUNE");
    const bool at_load = ops_profile_of(ctx)->tune_at_load; /* GPUs; CPU devices only on request */
    w->n_tune = 0;
    if (env && !strcmp(env, "0")) {
        snprintf(w->tune_note, sizeof w->tune_note, "not tuned (VKLLM_TUNE=0): default configurations");
        return;
    }
    if (!at_load && !(env && !strcmp(env, "1"))) {
        snprintf(w->tune_note, sizeof w->tune_note,
                 "not tuned on a CPU device (VKLLM_TUNE=1 to tune): configurations measured on lavapipe");
        return;
    }
    const model_hparams *hp = &w->hp;
    const uint32_t E = hp->n_embd, F = hp->n_ff, q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    tune_list *lists = calloc(LLAMA_TUNE_MAX, sizeof *lists);
    if (!lists) {
        snprintf(w->tune_note, sizeof w->tune_note, "not tuned: out of host memory");
        return;
    }
    uint32_t n = 0;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const llama_layer *L = &w->layers[l];
        add(lists, &n, false, q_dim, E, L->wq, NULL);
        add(lists, &n, false, E, q_dim, L->wo, NULL);
        add(lists, &n, false, kv_dim, E, L->wk, NULL);
        add(lists, &n, false, kv_dim, E, L->wv, NULL);
        if (matmul_glu_fusable_for(ctx, L->w_gate, L->w_up, 1, F, E)) { /* as the forward pass decodes */
            add(lists, &n, true, F, E, L->w_gate, L->w_up);
        } else {
            add(lists, &n, false, F, E, L->w_gate, NULL);
            add(lists, &n, false, F, E, L->w_up, NULL);
        }
        add(lists, &n, false, E, F, L->w_down, NULL);
    }
    add(lists, &n, false, hp->n_vocab, E, w->output ? w->output : w->tok_embd, NULL);
    matmul_tune_shape shapes[LLAMA_TUNE_MAX];
    for (uint32_t i = 0; i < n; i++) {
        shapes[i] = lists[i].shape;
        shapes[i].w = lists[i].w;
        shapes[i].w2 = lists[i].shape.glu ? lists[i].w2 : NULL;
    }
    vkllm_status s = matmul_tune(ctx, shapes, n, w->tune);
    free(lists);
    if (s != VKLLM_OK) { /* what was measured before the failure stays in use; the rest default */
        snprintf(w->tune_note, sizeof w->tune_note, "tuning stopped: %s", gpu_error(ctx));
        return;
    }
    w->n_tune = n;
    snprintf(w->tune_note, sizeof w->tune_note, "decode kernels tuned at load on this device's weights");

    /* prefill on tensor cores: the verified variants over a block's q, gate
     * and down projections of the first layers */
    gpu_tensor *wq[4], *wg[4], *wd[4];
    const uint32_t nl = hp->n_layer < 4 ? hp->n_layer : 4;
    for (uint32_t l = 0; l < nl; l++) wq[l] = w->layers[l].wq, wg[l] = w->layers[l].w_gate, wd[l] = w->layers[l].w_down;
    const matmul_tune_shape pre[] = { { .N = q_dim, .K = E, .w = wq, .n = nl },
                                      { .N = F, .K = E, .w = wg, .n = nl },
                                      { .N = E, .K = F, .w = wd, .n = nl } };
    s = matmul_tune_coopmat(ctx, pre, 3, LLAMA_DEFAULT_BATCH, &w->tc);
    if (s != VKLLM_OK) {
        w->tc.n = 0;
        snprintf(w->tune_note, sizeof w->tune_note, "decode kernels tuned; tensor-core timing stopped: %s",
                 gpu_error(ctx));
    }
}

size_t llama_weights_tuning(const llama_weights *w, char *buf, size_t len)
{
    size_t used = 0;
#define OUT(...) buf_printf(buf, len, &used, __VA_ARGS__)
    OUT("%s\n", w->tune_note);
    if (w->tc.n) {
        OUT("prefill on tensor cores (checked variants; TFLOPS over %u-token blocks of q, gate, down):", LLAMA_DEFAULT_BATCH);
        for (uint32_t i = 0; i < w->tc.n; i++) {
            if (w->tc.bk[i]) OUT(" pipelined bk %u", w->tc.bk[i]);
            else OUT(" plain");
            if (w->tc.tflops[i] > 0) OUT(" %.1f", w->tc.tflops[i]);
            OUT("%s%s", i == w->tc.chosen ? " (in use)" : "", i + 1 < w->tc.n ? "," : "\n");
        }
    }
    if (w->n_tune) {
        OUT("\n| matvec | candidates | default wg/rows/r | GB/s | chosen wg/rows/r | GB/s |\n");
        OUT("|---|---:|---|---:|---|---:|\n");
    }
    for (uint32_t i = 0; i < w->n_tune; i++) {
        const matmul_tune_result *r = &w->tune[i];
        if (!r->n_tried) continue; /* not a matrix-vector shape */
        OUT("| %u x %u%s | %u | %u/%u/%u | %.1f | %u/%u/%u | %.1f |\n", r->N, r->K, r->glu ? " (gate+up)" : "",
            r->n_tried, r->def.wg, r->def.rows, r->def.r, r->def_gbps, r->best.wg, r->best.rows, r->best.r,
            r->best_gbps);
    }
#undef OUT
    return used;
}
