/* GGUF v3 writer; see gguf_write.h. */
#include "model/gguf_write.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/errf.h"
#include "util/plat.h"

#define WBUF_BYTES (4u << 20)

/* ---------------------------------------------------------------- building */

static void put(gguf_writer *w, gguf_wbuf *b, const void *p, size_t n)
{
    if (w->oom || !n) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            w->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_u32(gguf_writer *w, gguf_wbuf *b, uint32_t v) { put(w, b, &v, 4); }
static void put_u64(gguf_writer *w, gguf_wbuf *b, uint64_t v) { put(w, b, &v, 8); }
static void put_str(gguf_writer *w, gguf_wbuf *b, const char *s, size_t len)
{
    put_u64(w, b, len);
    put(w, b, s, len);
}

static void kv_head(gguf_writer *w, const char *key, gguf_type type)
{
    put_str(w, &w->kv, key, strlen(key));
    put_u32(w, &w->kv, type);
    w->n_kv++;
}

void gguf_writer_init(gguf_writer *w, uint32_t alignment)
{
    memset(w, 0, sizeof *w);
    w->alignment = alignment ? alignment : GGUF_DEFAULT_ALIGNMENT;
    w->fd = -1;
}

void gguf_w_u32(gguf_writer *w, const char *key, uint32_t v)
{
    kv_head(w, key, GGUF_TYPE_UINT32);
    put_u32(w, &w->kv, v);
}

void gguf_w_f32(gguf_writer *w, const char *key, float v)
{
    kv_head(w, key, GGUF_TYPE_FLOAT32);
    put(w, &w->kv, &v, 4);
}

void gguf_w_bool(gguf_writer *w, const char *key, int v)
{
    uint8_t b = v != 0;
    kv_head(w, key, GGUF_TYPE_BOOL);
    put(w, &w->kv, &b, 1);
}

void gguf_w_str(gguf_writer *w, const char *key, const char *s, size_t len)
{
    kv_head(w, key, GGUF_TYPE_STRING);
    put_str(w, &w->kv, s, len);
}

static void arr_head(gguf_writer *w, const char *key, gguf_type elem, uint64_t n)
{
    kv_head(w, key, GGUF_TYPE_ARRAY);
    put_u32(w, &w->kv, elem);
    put_u64(w, &w->kv, n);
}

void gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *s, const uint32_t *lens, uint64_t n)
{
    arr_head(w, key, GGUF_TYPE_STRING, n);
    for (uint64_t i = 0; i < n; i++) put_str(w, &w->kv, s[i], lens[i]);
}

void gguf_w_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    arr_head(w, key, GGUF_TYPE_FLOAT32, n);
    put(w, &w->kv, v, (size_t)n * 4);
}

void gguf_w_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    arr_head(w, key, GGUF_TYPE_INT32, n);
    put(w, &w->kv, v, (size_t)n * 4);
}

void gguf_w_raw_kv(gguf_writer *w, const void *record, size_t n)
{
    put(w, &w->kv, record, n);
    w->n_kv++;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

void gguf_w_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                   uint64_t n_bytes)
{
    put_str(w, &w->info, name, strlen(name));
    put_u32(w, &w->info, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(w, &w->info, ne[i]);
    put_u32(w, &w->info, type);
    put_u64(w, &w->info, w->data_bytes);
    w->data_bytes = align_up(w->data_bytes + n_bytes, w->alignment);
    w->n_tensors++;
}

static uint64_t header_bytes(const gguf_writer *w) { return 24 + w->kv.n + w->info.n; }

void gguf_w_llama_meta(gguf_writer *w, const model_hparams *hp, const char *name, uint32_t file_type,
                       int head_dim_keys, uint32_t alignment)
{
    gguf_w_str(w, "general.architecture", "llama", 5);
    gguf_w_str(w, "general.type", "model", 5);
    gguf_w_str(w, "general.name", name, strlen(name));
    gguf_w_u32(w, "llama.block_count", hp->n_layer);
    gguf_w_u32(w, "llama.context_length", hp->n_ctx_train);
    gguf_w_u32(w, "llama.embedding_length", hp->n_embd);
    gguf_w_u32(w, "llama.feed_forward_length", hp->n_ff);
    gguf_w_u32(w, "llama.attention.head_count", hp->n_head);
    gguf_w_u32(w, "llama.attention.head_count_kv", hp->n_head_kv);
    gguf_w_f32(w, "llama.rope.freq_base", hp->rope_theta);
    gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", hp->rms_eps);
    if (head_dim_keys) {
        gguf_w_u32(w, "llama.attention.key_length", hp->head_dim);
        gguf_w_u32(w, "llama.attention.value_length", hp->head_dim);
    }
    gguf_w_u32(w, "general.file_type", file_type);
    gguf_w_u32(w, "llama.vocab_size", hp->n_vocab);
    gguf_w_u32(w, "llama.rope.dimension_count", hp->n_rot);
    if (alignment && alignment != 32) gguf_w_u32(w, "general.alignment", alignment);
    gguf_w_u32(w, "general.quantization_version", 2);
}

uint64_t gguf_writer_file_size(const gguf_writer *w)
{
    return align_up(header_bytes(w), w->alignment) + w->data_bytes;
}

/* ---------------------------------------------------------------- output */

static void out_flush(gguf_writer *w)
{
    if (w->buf_n && !w->err_no) w->err_no = plat_write_all(w->fd, w->buf, w->buf_n);
    w->buf_n = 0;
}

static void out_put(gguf_writer *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n && !w->err_no) {
        size_t k = WBUF_BYTES - w->buf_n < n ? WBUF_BYTES - w->buf_n : n;
        memcpy(w->buf + w->buf_n, s, k);
        w->buf_n += k, s += k, n -= k, w->pos += k;
        if (w->buf_n == WBUF_BYTES) out_flush(w);
    }
}

static void out_zeros(gguf_writer *w, uint64_t n)
{
    static const uint8_t z[64];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        out_put(w, z, k);
        n -= k;
    }
}

static vkllm_status write_error(gguf_writer *w, char *err, size_t err_len)
{
    return errf(VKLLM_ERR_IO, err, err_len, "%s: write failed: %s (the partial file is removed)", w->path,
                strerror(w->err_no));
}

static void remove_tmp(gguf_writer *w)
{
    plat_close(w->fd);
    w->fd = -1;
    if (w->tmp_path) remove(w->tmp_path);
}

vkllm_status gguf_writer_open(gguf_writer *w, const char *path, int overwrite, char *err, size_t err_len)
{
    if (!path || !*path) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "no output path given");
    if (!overwrite && plat_path_exists(path))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                    "%s already exists; refusing to replace it (ask to overwrite: vkllm quantize --force)", path);
    if (overwrite && plat_path_kind(path) == PLAT_DIR)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "%s is a folder, not a file name", path);
    size_t n = strlen(path) + 16;
    w->overwrite = overwrite;
    w->path = strdup(path);
    w->tmp_path = malloc(n);
    w->buf = malloc(WBUF_BYTES);
    if (w->oom || !w->path || !w->tmp_path || !w->buf)
        return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory writing %s", path);
    /* a name nobody else holds; plat_create_new (O_EXCL) makes the claim */
    uint64_t seed = plat_process_id() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)w;
    int e = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(w->tmp_path, n, "%s.tmp-%06" PRIx64, path, (seed >> 40) & 0xffffff);
        e = plat_create_new(w->tmp_path, &w->fd);
        if (e != EEXIST) break;
    }
    if (e) {
        free(w->tmp_path);
        w->tmp_path = NULL;
        return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot create the output file: %s", path, strerror(e));
    }
    w->size = gguf_writer_file_size(w);
    uint32_t version = 3;
    out_put(w, "GGUF", 4);
    out_put(w, &version, 4);
    out_put(w, &w->n_tensors, 8);
    out_put(w, &w->n_kv, 8);
    out_put(w, w->kv.p, w->kv.n);
    out_put(w, w->info.p, w->info.n);
    out_zeros(w, align_up(w->pos, w->alignment) - w->pos);
    if (w->err_no) {
        vkllm_status st = write_error(w, err, err_len);
        remove_tmp(w);
        return st;
    }
    return VKLLM_OK;
}

vkllm_status gguf_writer_write(gguf_writer *w, const void *p, size_t n, char *err, size_t err_len)
{
    if (w->fd < 0) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "gguf_writer_write: the file is not open");
    out_put(w, p, n);
    return w->err_no ? write_error(w, err, err_len) : VKLLM_OK;
}

vkllm_status gguf_writer_pad(gguf_writer *w, char *err, size_t err_len)
{
    if (w->fd < 0) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "gguf_writer_pad: the file is not open");
    out_zeros(w, align_up(w->pos, w->alignment) - w->pos);
    return w->err_no ? write_error(w, err, err_len) : VKLLM_OK;
}

vkllm_status gguf_writer_commit(gguf_writer *w, char *err, size_t err_len)
{
    if (w->fd < 0) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "gguf_writer_commit: the file is not open");
    vkllm_status st = VKLLM_OK;
    out_flush(w);
    if (!w->err_no) w->err_no = plat_sync_close(w->fd);
    else plat_close(w->fd);
    w->fd = -1;
    if (w->err_no) {
        st = write_error(w, err, err_len);
    } else if (w->pos != w->size) {
        st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "%s: %" PRIu64 " bytes written but the header announces %" PRIu64
                  " (a bug in the writer's caller)", w->path, w->pos, w->size);
    } else if (!w->overwrite) {
        /* link fails if the path appeared meanwhile: never replace what we were told to keep */
        int le = plat_link_new(w->tmp_path, w->path);
        if (le == 0) {
            remove(w->tmp_path);
        } else if (le == EEXIST) {
            st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "%s appeared while writing; refusing to replace it", w->path);
        } else { /* a file system without hard links */
            if (plat_path_exists(w->path))
                st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "%s appeared while writing; refusing to replace it",
                          w->path);
            else if (rename(w->tmp_path, w->path) != 0)
                st = errf(VKLLM_ERR_IO, err, err_len, "%s: cannot rename %s to it: %s", w->path, w->tmp_path,
                          strerror(errno));
        }
    } else if (rename(w->tmp_path, w->path) != 0) {
        int e = errno;
        st = errf(VKLLM_ERR_IO, err, err_len, "%s: cannot rename %s to it: %s", w->path, w->tmp_path, strerror(e));
    }
    if (st) remove(w->tmp_path);
    free(w->tmp_path);
    w->tmp_path = NULL; /* renamed or removed: nothing left to clean up */
    return st;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w) return;
    if (w->tmp_path) remove_tmp(w); /* opened and not committed */
    free(w->tmp_path);
    free(w->path);
    free(w->buf);
    free(w->kv.p);
    free(w->info.p);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}
