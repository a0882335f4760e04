/* Element types of the weights vkllm reads from model files. */
#ifndef VKLLM_MODEL_DTYPE_H
#define VKLLM_MODEL_DTYPE_H

#include <stdint.h>

typedef enum tensor_dtype {
    DTYPE_F32 = 0,
    DTYPE_F16 = 1,
    DTYPE_BF16 = 2,
    DTYPE_OTHER = 3, /* present in a file but not usable as a weight (integer, unsupported blocks, ...) */
    DTYPE_QUANT = 4, /* one of ggml's block types vkllm reads (model/quant.h); the type id is beside it */
} tensor_dtype;

/* Bytes per element; 0 for DTYPE_OTHER and DTYPE_QUANT (see quant_bytes). */
static inline uint32_t dtype_size(tensor_dtype t)
{
    return t == DTYPE_F32 ? 4 : (t == DTYPE_F16 || t == DTYPE_BF16) ? 2 : 0;
}

static inline const char *dtype_name(tensor_dtype t)
{
    return t == DTYPE_F32 ? "F32" : t == DTYPE_F16 ? "F16" : t == DTYPE_BF16 ? "BF16" : t == DTYPE_QUANT ? "quantized" : "other";
}

#endif
