/* Shared between model.c (common checks, GGUF) and hf.c (Hugging Face folders). */
#ifndef VKLLM_MODEL_INTERNAL_H
#define VKLLM_MODEL_INTERNAL_H

#include "model/model.h"

/* A tensor as a source file stores it, before it becomes a table entry. */
typedef struct raw_tensor {
    tensor_dtype dtype;
    uint32_t qtype;           /* DTYPE_QUANT: the ggml block type id */
    const char *dtype_name;   /* the file's name for its type ("Q4_K", "I8") */
    uint32_t n_dims;
    uint64_t shape[8];        /* outermost first: [rows, cols] */
    const void *data;
    uint64_t n_bytes;
    const char *file;
    uint64_t file_offset;
} raw_tensor;

/* Finds the tensor with canonical name `canon` in a source. Returns VKLLM_OK
 * and sets *found (0 when absent), or an error (e.g. a shard listed in the
 * index lacks it). `src_name` receives the name in the file's own scheme,
 * for messages. */
typedef vkllm_status (*tensor_lookup_fn)(void *ctx, const char *canon, raw_tensor *out, int *found,
                                         char *src_name, size_t src_name_len, char *err, size_t err_len);

/* Checks m->hp (head_dim_given: the file stated head_dim explicitly), then
 * builds the canonical table through `lookup`, checking each tensor's
 * presence, dtype and shape. `where` names the source in messages. */
vkllm_status model_build(model *m, int head_dim_given, tensor_lookup_fn lookup, void *ctx, const char *where,
                         char *err, size_t err_len);

/* Refuses a source holding more than MODEL_MAX_EXTRA_TENSORS tensors beyond
 * the n_used the model takes; `what` names where they are listed. */
vkllm_status model_check_extra(const model *m, uint64_t n_listed, const char *what, char *err, size_t err_len);

/* Checks hp and fills in what follows from it (head_dim unless given, n_rot). */
vkllm_status model_check_hparams(model_hparams *hp, int head_dim_given, const char *where, char *err, size_t err_len);

/* Fills m from the HF folder `dir`. */
vkllm_status hf_load(model *m, const char *dir, char *err, size_t err_len);

#endif
