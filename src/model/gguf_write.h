/* GGUF v3 writer: metadata and tensor infos built in memory, then the file
 * written front to back (header, infos, padding, tensor data each aligned),
 * into a temporary file beside the target that is renamed over it only when
 * every byte has been written and synced. No partial output is ever left
 * under the target's name: a write error (full disk, ...) or an abandoned
 * writer removes the temporary file. No Vulkan here.
 *
 * Use: gguf_writer_init; add key/values (gguf_w_*) and tensor infos
 * (gguf_w_tensor) in file order; gguf_writer_open; for each tensor in order
 * gguf_writer_write its n_bytes then gguf_writer_pad; gguf_writer_commit;
 * gguf_writer_free in every case (it removes an uncommitted file).
 * Values are written little-endian (the writer assumes a little-endian host,
 * as the readers do).
 */
#ifndef VKLLM_MODEL_GGUF_WRITE_H
#define VKLLM_MODEL_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/model.h"
#include "vkllm.h"

typedef struct gguf_wbuf {
    uint8_t *p;
    size_t n, cap;
} gguf_wbuf;

typedef struct gguf_writer {
    uint32_t alignment;  /* of the data section and each tensor */
    gguf_wbuf kv;        /* key/value records */
    uint64_t n_kv;
    gguf_wbuf info;      /* tensor info records */
    uint64_t n_tensors;
    uint64_t data_bytes; /* data section size so far, padded */
    int oom;             /* a buffer could not grow: open fails */
    /* output */
    int fd;              /* -1 when not open */
    char *path, *tmp_path; /* tmp_path: NULL unless a file of ours exists that commit has not renamed */
    int overwrite;
    uint64_t pos, size;  /* bytes written / the file's size when complete */
    uint8_t *buf;        /* write buffer */
    size_t buf_n;
    int err_no;          /* first write error */
} gguf_writer;

/* An empty writer; alignment 0 means 32 (a power of two otherwise). */
void gguf_writer_init(gguf_writer *w, uint32_t alignment);

/* Key/values, appended in call order. Strings are copied (len bytes). */
void gguf_w_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_w_f32(gguf_writer *w, const char *key, float v);
void gguf_w_bool(gguf_writer *w, const char *key, int v);
void gguf_w_str(gguf_writer *w, const char *key, const char *s, size_t len);
void gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *s, const uint32_t *lens, uint64_t n);
void gguf_w_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_w_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* A whole key/value record (key, type, value) copied byte for byte from
 * another GGUF file. */
void gguf_w_raw_kv(gguf_writer *w, const void *record, size_t n);

/* A Llama model's general.* and llama.* keys, in the order and with the key
 * types llama.cpp's convert_hf_to_gguf.py writes them: architecture, type,
 * name, the hparams, file_type, vocab_size, rope.dimension_count, then
 * general.alignment when `alignment` is neither 0 nor 32, and
 * quantization_version 2. key_length / value_length (= head_dim) only when
 * `head_dim_keys`. The tokenizer keys are the caller's. */
void gguf_w_llama_meta(gguf_writer *w, const model_hparams *hp, const char *name, uint32_t file_type,
                       int head_dim_keys, uint32_t alignment);

/* Appends a tensor info: ne innermost first (ne[0] = row length), ggml
 * `type`, n_bytes of data; its offset is the data written so far, aligned. */
void gguf_w_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                   uint64_t n_bytes);

/* Bytes the finished file will have (header, infos, padding, data). */
uint64_t gguf_writer_file_size(const gguf_writer *w);

/* Creates "PATH.tmp-XXXXXX" beside `path` and writes the header and the
 * tensor infos. An existing `path` is refused (VKLLM_ERR_INVALID_ARG)
 * unless `overwrite`. Errors: VKLLM_ERR_IO (the folder is missing or not
 * writable, ...), VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status gguf_writer_open(gguf_writer *w, const char *path, int overwrite, char *err, size_t err_len);

/* Writes n bytes of tensor data. Errors are remembered and reported (by
 * this call and by commit) as VKLLM_ERR_IO naming the file and the cause. */
vkllm_status gguf_writer_write(gguf_writer *w, const void *p, size_t n, char *err, size_t err_len);
/* Zero padding to the alignment, after each tensor's data. */
vkllm_status gguf_writer_pad(gguf_writer *w, char *err, size_t err_len);

/* Flushes, checks that exactly the announced bytes were written, syncs,
 * and renames the temporary file to the path (refusing, without overwrite,
 * a path that appeared meanwhile). On any error the temporary file is
 * removed. */
vkllm_status gguf_writer_commit(gguf_writer *w, char *err, size_t err_len);

/* Frees the buffers; an opened but uncommitted file is closed and removed. */
void gguf_writer_free(gguf_writer *w);

#endif
