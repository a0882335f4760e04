/* Private to src/api*.c: the structs behind the public handles. */
#ifndef VKLLM_API_INTERNAL_H
#define VKLLM_API_INTERNAL_H

#include "gpu/gpu.h"
#include "llama/llama.h"
#include "vkllm.h"

struct vkllm_model {
    gpu_ctx *ctx;
    llama_weights *w;
    vkllm_model_info info;
};

struct vkllm_session {
    vkllm_model *m;
    llama_session *s;
    char err[1024];
};

#endif
