/* GGUF (llama.cpp's model file format) reader, versions 2 and 3.
 *
 * gguf_open maps the file and checks all of it before returning: header,
 * every metadata key/value (all 13 value types, arrays of any type incl.
 * nested arrays), every tensor info (name, dims, ggml type, offset) and that
 * each tensor's data lies inside the file, aligned, sharing no byte with
 * another (tensors of 0 bytes share none, wherever they sit).
 * Every count, length and offset is checked against the bytes left in the
 * file before it is used, so a forged count fails at once without a large
 * allocation (memory grows only with entries actually present).
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor_count,
 * u64 metadata_kv_count, the key/values (string key, u32 type, value), the
 * tensor infos (string name, u32 n_dims, u64 ne[n_dims] innermost first,
 * u32 ggml type, u64 offset relative to the data section), padding to
 * general.alignment (default 32), the data section.
 *
 * Strings (gguf_str) point into the mapping and are NOT NUL-terminated; they
 * live as long as the gguf_file. Everything here is read-only after open.
 */
#ifndef VKLLM_MODEL_GGUF_H
#define VKLLM_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "model/mfile.h"
#include "vkllm.h"

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

/* ggml tensor type ids used by the model loader (the full table is in gguf.c) */
enum {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_BF16 = 30,
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_KEY_LEN 65535 /* spec limit */
#define GGUF_MAX_NAME_LEN 255  /* tensor names; llama.cpp itself allows 63 */

typedef struct gguf_str {
    const char *s; /* into the mapping, not NUL-terminated */
    uint64_t len;  /* bytes */
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    gguf_type type;
    gguf_type elem_type;  /* ARRAY: type of the elements */
    uint64_t n;           /* ARRAY: element count; otherwise 1 */
    const uint8_t *value; /* scalar value / first array element, into the mapping (unaligned) */
    gguf_str str;         /* STRING: the value */
    gguf_str *strs;       /* ARRAY of STRING: n entries, owned by the gguf_file; else NULL */
    uint64_t offset;      /* file offset of this key/value record */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;            /* 1..4 */
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] = row length (innermost); unused dims are 1 */
    uint32_t type;              /* ggml type id */
    uint64_t offset;            /* bytes from the start of the data section */
    uint64_t n_bytes;
    const void *data;           /* into the mapping; aligned to `alignment` from the file start */
    uint64_t info_offset;       /* file offset of this tensor's info record */
} gguf_tensor;

typedef struct gguf_file {
    mfile map;              /* map.path: the path opened */
    uint32_t version;       /* 2 or 3 */
    uint64_t n_kv;
    gguf_kv *kv;            /* [n_kv], file order */
    gguf_kv **kv_by_key;    /* [n_kv] sorted by key (gguf_find) */
    uint64_t n_tensors;
    gguf_tensor *tensors;   /* [n_tensors], file order */
    gguf_tensor **by_name;  /* [n_tensors] sorted by name (gguf_find_tensor) */
    uint32_t alignment;     /* general.alignment or 32 */
    uint64_t kv_offset;     /* file offset of the first key/value (24) */
    uint64_t tensor_info_offset; /* file offset of the first tensor info */
    uint64_t data_offset;   /* file offset of the data section (may equal/exceed the size when no tensors) */
} gguf_file;

/* Opens and fully checks `path`. On success *out owns the mapping; free with
 * gguf_close. Errors (message names the file and the field):
 * VKLLM_ERR_IO, VKLLM_ERR_FORMAT (malformed / truncated),
 * VKLLM_ERR_UNSUPPORTED (GGUF v1, big-endian, unknown version),
 * VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status gguf_open(const char *path, gguf_file **out, char *err, size_t err_len);

/* Frees everything; accepts NULL. */
void gguf_close(gguf_file *g);

/* The key/value named `key`, or NULL. A binary search: O(log n_kv). */
const gguf_kv *gguf_find(const gguf_file *g, const char *key);

/* The tensor named `name`, or NULL. A binary search: O(log n_tensors). */
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Typed getters. Missing key or wrong type: VKLLM_ERR_FORMAT naming the file,
 * the key and the type found. Integer getters accept any integer type whose
 * value fits; gguf_get_f32 accepts FLOAT32 and FLOAT64. */
vkllm_status gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, char *err, size_t err_len);
vkllm_status gguf_get_i32(const gguf_file *g, const char *key, int32_t *out, char *err, size_t err_len);
vkllm_status gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out, char *err, size_t err_len);
vkllm_status gguf_get_f32(const gguf_file *g, const char *key, float *out, char *err, size_t err_len);
vkllm_status gguf_get_bool(const gguf_file *g, const char *key, int *out, char *err, size_t err_len);
vkllm_status gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, char *err, size_t err_len);

/* Array getters. gguf_get_arr_str returns the file's own index (valid while g
 * is open). The f32/i32 ones return a malloc'd copy the caller frees; element
 * types: FLOAT32/FLOAT64 for f32, any integer type whose values fit for i32.
 * An empty array gives *n == 0 and a non-NULL pointer. */
vkllm_status gguf_get_arr_str(const gguf_file *g, const char *key, const gguf_str **items, uint64_t *n,
                              char *err, size_t err_len);
vkllm_status gguf_get_arr_f32(const gguf_file *g, const char *key, float **out, uint64_t *n,
                              char *err, size_t err_len);
vkllm_status gguf_get_arr_i32(const gguf_file *g, const char *key, int32_t **out, uint64_t *n,
                              char *err, size_t err_len);

/* 1 if s equals the NUL-terminated c. */
int gguf_str_eq(gguf_str s, const char *c);

const char *gguf_type_name(uint32_t t);  /* "uint32", ..., "unknown" */
const char *ggml_type_name(uint32_t t);  /* "F16", "Q4_K", ..., NULL when unknown */

#endif
