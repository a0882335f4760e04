/* safetensors reader: see safetensors.h. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/json_file.h"

/* dtype name -> bits per element (the safetensors spec's list) */
static const struct { const char *name; uint32_t bits; tensor_dtype dtype; } st_dtypes[] = {
    { "F32", 32, DTYPE_F32 },     { "F16", 16, DTYPE_F16 },     { "BF16", 16, DTYPE_BF16 },
    { "F64", 64, DTYPE_OTHER },   { "I64", 64, DTYPE_OTHER },   { "U64", 64, DTYPE_OTHER },
    { "I32", 32, DTYPE_OTHER },   { "U32", 32, DTYPE_OTHER },   { "I16", 16, DTYPE_OTHER },
    { "U16", 16, DTYPE_OTHER },   { "I8", 8, DTYPE_OTHER },     { "U8", 8, DTYPE_OTHER },
    { "BOOL", 8, DTYPE_OTHER },   { "F8_E4M3", 8, DTYPE_OTHER }, { "F8_E5M2", 8, DTYPE_OTHER },
    { "F8_E8M0", 8, DTYPE_OTHER }, { "F6_E2M3", 6, DTYPE_OTHER }, { "F6_E3M2", 6, DTYPE_OTHER },
    { "F4", 4, DTYPE_OTHER },
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->file_offset < y->file_offset ? -1 : x->file_offset > y->file_offset;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* One header entry `j` named t->name into t. */
static vkllm_status parse_entry(const st_file *f, const cJSON *j, st_tensor *t, char *err, size_t err_len)
{
    const char *path = f->map.path;
    if (!cJSON_IsObject(j))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s' is not a JSON object", path,
                          t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(dt))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': dtype %s", path, t->name,
                          dt ? "is not a string" : "is missing");
    uint32_t bits = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (strcmp(dt->valuestring, st_dtypes[i].name) == 0) {
            bits = st_dtypes[i].bits;
            t->dtype = st_dtypes[i].dtype;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", st_dtypes[i].name);
        }
    }
    if (!bits)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': unknown dtype '%.32s'", path,
                          t->name, dt->valuestring);
    if (!cJSON_IsArray(shape))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': shape %s", path, t->name,
                          shape ? "is not an array" : "is missing");
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': shape has %d dimensions (at most %d)",
                          path, t->name, nd, ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t n_elem = 1;
    for (int d = 0; d < nd; d++) {
        if (!json_u64(cJSON_GetArrayItem(shape, d), &t->shape[d]))
            return errf(VKLLM_ERR_FORMAT, err, err_len,
                              "%s: header: tensor '%s': shape[%d] is not a non-negative integer", path, t->name, d);
        if (__builtin_mul_overflow(n_elem, t->shape[d], &n_elem))
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': shape overflows", path,
                              t->name);
    }
    uint64_t n_bits;
    if (__builtin_mul_overflow(n_elem, (uint64_t)bits, &n_bits))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s': byte size of shape overflows",
                          path, t->name);
    if (n_bits % 8) /* only sub-byte dtypes can leave a partial byte */
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                    "%s: header: tensor '%s': dtype %s packs %" PRIu32 "-bit elements; %" PRIu64 " of them do not fill "
                    "whole bytes, and sub-byte dtypes are not supported", path, t->name, t->dtype_name, bits, n_elem);
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_u64(cJSON_GetArrayItem(offs, 0), &begin) ||
        !json_u64(cJSON_GetArrayItem(offs, 1), &end))
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: header: tensor '%s': data_offsets %s", path, t->name,
                          offs ? "must be [begin, end], two non-negative integers" : "is missing");
    uint64_t data_size = f->map.size - f->data_offset;
    if (begin > end)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                    "%s: header: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] are reversed (begin after end)",
                    path, t->name, begin, end);
    if (end > data_size)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: header: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] outside the data (%" PRIu64
                          " bytes): truncated or corrupt", path, t->name, begin, end, data_size);
    if (end - begin != n_bits / 8)
        return errf(VKLLM_ERR_FORMAT, err, err_len,
                          "%s: header: tensor '%s': data_offsets span %" PRIu64 " bytes but %s shape needs %" PRIu64,
                          path, t->name, end - begin, t->dtype_name, n_bits / 8);
    t->n_bytes = n_bits / 8;
    t->file_offset = f->data_offset + begin;
    t->data = f->map.data + t->file_offset;
    return VKLLM_OK;
}

static vkllm_status parse_header(st_file *f, const cJSON *root, char *err, size_t err_len)
{
    const char *path = f->map.path;
    if (!cJSON_IsObject(root))
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header is not a JSON object", path);
    size_t n = 0;
    for (const cJSON *j = root->child; j; j = j->next) n++;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", path);
    for (const cJSON *j = root->child; j; j = j->next) {
        if (strcmp(j->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(j))
                return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: __metadata__ is not an object", path);
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(j->string);
        if (!t->name) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", path);
        f->n_tensors++;
        vkllm_status st = parse_entry(f, j, t, err, err_len);
        if (st) return st;
    }
    if (f->n_tensors < 2) return VKLLM_OK;
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_name);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header: tensor '%s' appears twice", path,
                              f->tensors[i].name);
    /* No two tensors may share a byte. Tensors of 0 bytes share none, so they
     * are left out; the others, by offset, must each start at or after the
     * end of every one before it (the furthest-reaching one is kept). */
    const st_tensor **idx = malloc(f->n_tensors * sizeof *idx);
    if (!idx) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", path);
    size_t n_data = 0;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].n_bytes) idx[n_data++] = &f->tensors[i];
    qsort(idx, n_data, sizeof *idx, cmp_offset);
    vkllm_status st = VKLLM_OK;
    const st_tensor *reach = n_data ? idx[0] : NULL; /* the tensor ending furthest so far */
    for (size_t i = 1; i < n_data && !st; i++) {
        const st_tensor *a = reach, *b = idx[i];
        if (a->file_offset + a->n_bytes > b->file_offset) /* both within the file: no overflow */
            st = errf(VKLLM_ERR_FORMAT, err, err_len,
                      "%s: header: data of tensors '%s' (data_offsets [%" PRIu64 ", %" PRIu64 "]) and '%s' "
                      "(data_offsets [%" PRIu64 ", %" PRIu64 "]) overlap", path, a->name,
                      a->file_offset - f->data_offset, a->file_offset - f->data_offset + a->n_bytes, b->name,
                      b->file_offset - f->data_offset, b->file_offset - f->data_offset + b->n_bytes);
        else if (b->file_offset + b->n_bytes > a->file_offset + a->n_bytes)
            reach = b;
    }
    free(idx);
    return st;
}

vkllm_status st_open(const char *path, st_file **out, char *err, size_t err_len)
{
    *out = NULL;
    cJSON *root = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    vkllm_status st = mfile_open(&f->map, path, err, err_len);
    if (st) goto fail;
    if (f->map.size < 8) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len,
                        "%s: truncated: %" PRIu64 " bytes, too short for the 8-byte header length", path, f->map.size);
        goto fail;
    }
    memcpy(&f->header_len, f->map.data, 8);
    if (f->header_len > f->map.size - 8) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len,
                        "%s: truncated: header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)",
                        path, f->header_len, f->map.size);
        goto fail;
    }
    if (f->header_len > ST_MAX_HEADER_BYTES || f->header_len < 2) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header length %" PRIu64 " is not in 2..%llu", path,
                        f->header_len, ST_MAX_HEADER_BYTES);
        goto fail;
    }
    f->data_offset = 8 + f->header_len;
    const char *h = (const char *)f->map.data + 8;
    if (h[0] != '{') {
        st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header does not start with '{' (not a safetensors file?)",
                        path);
        goto fail;
    }
    size_t values = json_count_values(h, (size_t)f->header_len);
    if (values > JSON_MAX_VALUES) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header has about %zu JSON values, more than the %u allowed", path,
                  values, JSON_MAX_VALUES);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(h, (size_t)f->header_len, &end, 0);
    if (!root) {
        /* on failure cJSON points `end` at the error */
        long pos = end && end >= h && end <= h + f->header_len ? (long)(end - h) : -1;
        st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header is not valid JSON (error near byte %ld of %" PRIu64 ")",
                        path, pos, f->header_len);
        goto fail;
    }
    for (const char *p = end; p && p < h + f->header_len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: header has bytes after the JSON object (byte %ld)",
                            path, (long)(p - h));
            goto fail;
        }
    }
    if ((st = parse_header(f, root, err, err_len))) goto fail;
    cJSON_Delete(root);
    *out = f;
    return VKLLM_OK;
fail:
    cJSON_Delete(root);
    st_close(f);
    return st;
}

void st_close(st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    mfile_close(&f->map);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    st_tensor key = { .name = (char *)name };
    return f->n_tensors ? bsearch(&key, f->tensors, f->n_tensors, sizeof key, cmp_name) : NULL;
}
