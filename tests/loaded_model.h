/* A model file opened, its weights on the device and one session: the
 * forward-pass tests' fixture (test_llama, test_quant_load). Include after
 * expect.h: a failure is an EXPECT of the including test. */
#ifndef VKLLM_TEST_LOADED_MODEL_H
#define VKLLM_TEST_LOADED_MODEL_H

#include <string.h>

#include "gpu/gpu.h"
#include "llama/llama.h"
#include "model/model.h"

typedef struct loaded {
    model *m;
    llama_weights *w;
    llama_session *s;
} loaded;

/* Opens path (planned for quantize on load to `quant` when not NULL), loads
 * its weights and makes a session; 0 (and a failure) when any step fails. */
static inline int load_model(gpu_ctx *ctx, const char *path, const char *quant, uint32_t n_ctx, uint32_t n_batch,
                             loaded *out)
{
    char err[512];
    memset(out, 0, sizeof *out);
    if (model_open(path, &out->m, err, sizeof err) != VKLLM_OK ||
        (quant && model_plan_quant(out->m, quant, err, sizeof err) != VKLLM_OK)) {
        EXPECT(0, "open %s (%s): %s", path, quant ? quant : "as is", err);
        return 0;
    }
    llama_session_opts o = { .n_ctx = n_ctx, .n_batch = n_batch };
    if (llama_weights_load(ctx, out->m, NULL, NULL, &out->w) != VKLLM_OK ||
        llama_session_create(out->w, &o, &out->s) != VKLLM_OK) {
        EXPECT(0, "load %s (%s): %s", path, quant ? quant : "as is", gpu_error(ctx));
        return 0;
    }
    return 1;
}

static inline void unload(loaded *l)
{
    llama_session_free(l->s);
    llama_weights_free(l->w);
    model_close(l->m);
}

#endif
