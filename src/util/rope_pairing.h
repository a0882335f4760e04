/* Which dimensions of a head RoPE rotates together. The model readers say
 * which layout a file's q/k weight rows use (src/model/model.h); the RoPE
 * kernel takes the same value as its `pairing` parameter (src/ops/rope.h). */
#ifndef VKLLM_UTIL_ROPE_PAIRING_H
#define VKLLM_UTIL_ROPE_PAIRING_H

typedef enum rope_pairing {
    ROPE_ADJACENT = 0,    /* (2i, 2i + 1): GGUF, llama.cpp-permuted q/k rows */
    ROPE_ROTATE_HALF = 1, /* (i, i + n_rot / 2): Hugging Face q/k rows */
} rope_pairing;

#endif
