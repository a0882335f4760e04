/* safetensors reader: one file, memory-mapped.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   { "name": {"dtype": "F16", "shape": [rows, cols], "data_offsets": [begin, end]},
 *     "__metadata__": {"k": "v"} }
 * then the data; offsets are relative to the byte after the header.
 *
 * st_open checks the whole header: JSON shape, known dtype, integer shape,
 * data_offsets in bounds, end - begin == product(shape) * dtype size (no
 * overflow), no two tensors sharing a byte (0-byte tensors share none),
 * no duplicate names, begin <= end. Tensors of dtypes
 * vkllm cannot use as weights (I8, F64, F8_*, ...) are kept with
 * dtype == DTYPE_OTHER and their name in dtype_name, so a caller refuses only
 * the tensors it needs (model.c names the tensor and the dtype).
 */
#ifndef VKLLM_MODEL_SAFETENSORS_H
#define VKLLM_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "model/dtype.h"
#include "model/mfile.h"
#include "vkllm.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES 100000000ull /* the reference implementation's limit */

typedef struct st_tensor {
    char *name;                  /* owned, NUL-terminated */
    tensor_dtype dtype;          /* F32/F16/BF16, or DTYPE_OTHER */
    char dtype_name[16];         /* as written in the file: "F16", "I8", ... */
    uint32_t n_dims;             /* 0..ST_MAX_DIMS */
    uint64_t shape[ST_MAX_DIMS]; /* outermost first: a matrix is [rows, cols] */
    uint64_t n_bytes;
    uint64_t file_offset;        /* where the data starts in the file */
    const void *data;            /* into the mapping; may be unaligned */
} st_tensor;

typedef struct st_file {
    mfile map;             /* map.path: the path opened */
    uint64_t header_len;   /* N */
    uint64_t data_offset;  /* 8 + N */
    size_t n_tensors;
    st_tensor *tensors;    /* [n_tensors], sorted by name */
} st_file;

/* Opens and checks `path`; *out is freed with st_close. Errors name the file
 * and the tensor/field: VKLLM_ERR_IO, VKLLM_ERR_FORMAT, VKLLM_ERR_OUT_OF_MEMORY,
 * VKLLM_ERR_UNSUPPORTED (a sub-byte dtype such as F4 whose elements leave a
 * partial byte). */
vkllm_status st_open(const char *path, st_file **out, char *err, size_t err_len);

/* Accepts NULL. */
void st_close(st_file *f);

/* The tensor named `name`, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);

#endif
