/* GGUF v2/v3 reader: see gguf.h. Every read goes through rd_need(), which
 * checks the bytes are there before anything is used. */
#include "model/gguf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- type tables */

static const char *const gguf_type_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};
/* bytes of a scalar value; 0 for string and array (variable) */
static const uint8_t gguf_type_size[GGUF_TYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *gguf_type_name(uint32_t t) { return t < GGUF_TYPE_COUNT ? gguf_type_names[t] : "unknown"; }

/* ggml types: name, elements per block, bytes per block (ggml.c's type_traits) */
typedef struct ggml_type_info { const char *name; uint32_t blck, bytes; } ggml_type_info;
static const ggml_type_info ggml_types[] = {
    [0] = { "F32", 1, 4 },         [1] = { "F16", 1, 2 },         [2] = { "Q4_0", 32, 18 },
    [3] = { "Q4_1", 32, 20 },      [6] = { "Q5_0", 32, 22 },      [7] = { "Q5_1", 32, 24 },
    [8] = { "Q8_0", 32, 34 },      [9] = { "Q8_1", 32, 36 },      [10] = { "Q2_K", 256, 84 },
    [11] = { "Q3_K", 256, 110 },   [12] = { "Q4_K", 256, 144 },   [13] = { "Q5_K", 256, 176 },
    [14] = { "Q6_K", 256, 210 },   [15] = { "Q8_K", 256, 292 },   [16] = { "IQ2_XXS", 256, 66 },
    [17] = { "IQ2_XS", 256, 74 },  [18] = { "IQ3_XXS", 256, 98 }, [19] = { "IQ1_S", 256, 50 },
    [20] = { "IQ4_NL", 32, 18 },   [21] = { "IQ3_S", 256, 110 },  [22] = { "IQ2_S", 256, 82 },
    [23] = { "IQ4_XS", 256, 136 }, [24] = { "I8", 1, 1 },         [25] = { "I16", 1, 2 },
    [26] = { "I32", 1, 4 },        [27] = { "I64", 1, 8 },        [28] = { "F64", 1, 8 },
    [29] = { "IQ1_M", 256, 56 },   [30] = { "BF16", 1, 2 },       [34] = { "TQ1_0", 256, 54 },
    [35] = { "TQ2_0", 256, 66 },   [39] = { "MXFP4", 32, 17 },
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

const char *ggml_type_name(uint32_t t) { return t < N_GGML_TYPES ? ggml_types[t].name : NULL; }

int gguf_str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.s, c, n) == 0;
}

/* ---------------------------------------------------------------- the cursor */

typedef struct rd {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
    char *err;
    size_t err_len;
    char ctx[200]; /* what is being read, for messages: "metadata #3 'llama.block_count'" */
} rd;

/* Checks n more bytes are in the file; `what` and `suffix` name the field. */
static vkllm_status rd_need2(rd *r, uint64_t n, const char *what, const char *suffix)
{
    if (n <= r->size - r->pos) return VKLLM_OK;
    return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                      "%s: truncated: %s%s%s%s at offset %" PRIu64 " needs %" PRIu64
                      " bytes but the file ends at %" PRIu64,
                      r->path, r->ctx, *r->ctx ? " " : "", what, suffix, r->pos, n, r->size);
}

static vkllm_status rd_need(rd *r, uint64_t n, const char *what) { return rd_need2(r, n, what, ""); }

static uint32_t ld_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t ld_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static vkllm_status rd_u32(rd *r, uint32_t *v, const char *what)
{
    vkllm_status st = rd_need(r, 4, what);
    if (st) return st;
    *v = ld_u32(r->p + r->pos);
    r->pos += 4;
    return VKLLM_OK;
}

static vkllm_status rd_u64(rd *r, uint64_t *v, const char *what)
{
    vkllm_status st = rd_need(r, 8, what);
    if (st) return st;
    *v = ld_u64(r->p + r->pos);
    r->pos += 8;
    return VKLLM_OK;
}

/* A string: u64 length, then the bytes; max_len bounds it (0: the file does). */
static vkllm_status rd_str(rd *r, gguf_str *s, uint64_t max_len, const char *what)
{
    vkllm_status st = rd_need2(r, 8, what, " length");
    if (st) return st;
    uint64_t len = ld_u64(r->p + r->pos);
    r->pos += 8;
    if (max_len && len > max_len)
        return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                          "%s: %s%s%s length %" PRIu64 " at offset %" PRIu64 " exceeds the limit %" PRIu64,
                          r->path, r->ctx, *r->ctx ? " " : "", what, len, r->pos - 8, max_len);
    if ((st = rd_need2(r, len, what, " bytes"))) return st;
    s->s = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += len;
    return VKLLM_OK;
}

/* Fails fast when `count` items of at least `min_bytes` each cannot fit. */
static vkllm_status rd_count_fits(rd *r, uint64_t count, uint64_t min_bytes, const char *what)
{
    if (count <= (r->size - r->pos) / min_bytes) return VKLLM_OK;
    return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                      "%s: truncated or corrupt: %s%s%s %" PRIu64 " is impossible with %" PRIu64
                      " bytes left at offset %" PRIu64 " (room for %" PRIu64 ")",
                      r->path, r->ctx, *r->ctx ? " " : "", what, count, r->size - r->pos, r->pos,
                      (r->size - r->pos) / min_bytes);
}

/* ---------------------------------------------------------------- values */

#define MAX_ARRAY_DEPTH 4

/* Skips over (and checks) one value of `type`. Arrays recurse up to MAX_ARRAY_DEPTH. */
static vkllm_status skip_value(rd *r, uint32_t type, int depth)
{
    vkllm_status st;
    if (type >= GGUF_TYPE_COUNT)
        return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                          "%s: %s has unknown value type %" PRIu32 " at offset %" PRIu64 " (valid: 0..12)",
                          r->path, r->ctx, type, r->pos - 4);
    if (type == GGUF_TYPE_STRING) {
        gguf_str s;
        return rd_str(r, &s, 0, "string");
    }
    if (type != GGUF_TYPE_ARRAY) {
        if ((st = rd_need(r, gguf_type_size[type], gguf_type_names[type]))) return st;
        r->pos += gguf_type_size[type];
        return VKLLM_OK;
    }
    if (depth >= MAX_ARRAY_DEPTH)
        return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                          "%s: %s: arrays nested deeper than %d at offset %" PRIu64, r->path, r->ctx,
                          MAX_ARRAY_DEPTH, r->pos);
    uint32_t et;
    uint64_t n;
    if ((st = rd_u32(r, &et, "array element type"))) return st;
    if (et >= GGUF_TYPE_COUNT)
        return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                          "%s: %s has unknown array element type %" PRIu32 " at offset %" PRIu64
                          " (valid: 0..12)", r->path, r->ctx, et, r->pos - 4);
    if ((st = rd_u64(r, &n, "array length"))) return st;
    if (et == GGUF_TYPE_STRING || et == GGUF_TYPE_ARRAY) {
        /* each element takes at least 8 (string) or 12 (array) bytes */
        if ((st = rd_count_fits(r, n, et == GGUF_TYPE_STRING ? 8 : 12, "array length"))) return st;
        for (uint64_t i = 0; i < n; i++)
            if ((st = skip_value(r, et, depth + 1))) return st;
        return VKLLM_OK;
    }
    if ((st = rd_count_fits(r, n, gguf_type_size[et], "array length"))) return st;
    r->pos += n * gguf_type_size[et];
    return VKLLM_OK;
}

/* Reads integer value i of kv (scalar: i = 0) as a sign + magnitude pair. */
static int kv_int_at(const gguf_kv *kv, uint64_t i, int64_t *sv, uint64_t *uv, int *is_signed)
{
    gguf_type t = kv->type == GGUF_TYPE_ARRAY ? kv->elem_type : kv->type;
    if (t >= GGUF_TYPE_COUNT || !gguf_type_size[t] || t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64 ||
        t == GGUF_TYPE_BOOL)
        return 0;
    const uint8_t *p = kv->value + i * gguf_type_size[t];
    *is_signed = 0;
    switch (t) {
    case GGUF_TYPE_UINT8: *uv = p[0]; break;
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); *uv = v; break; }
    case GGUF_TYPE_UINT32: *uv = ld_u32(p); break;
    case GGUF_TYPE_UINT64: *uv = ld_u64(p); break;
    case GGUF_TYPE_INT8: *sv = (int8_t)p[0]; *is_signed = 1; break;
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); *sv = v; *is_signed = 1; break; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); *sv = v; *is_signed = 1; break; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); *sv = v; *is_signed = 1; break; }
    default: return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- open */

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static int cmp_str(gguf_str a, gguf_str b)
{
    int c = memcmp(a.s, b.s, a.len < b.len ? a.len : b.len);
    return c ? c : cmp_u64(a.len, b.len);
}

static int cmp_kv_key(const void *a, const void *b)
{
    return cmp_str((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b)
{
    return cmp_str((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}
static int cmp_tensor_offset(const void *a, const void *b)
{
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    int c = cmp_u64(x->offset, y->offset);
    return c ? c : cmp_u64(x->n_bytes, y->n_bytes);
}

/* Grows *arr (of elem bytes each) so that index `n` fits; capacity doubles. */
static int grow(void **arr, uint64_t *cap, uint64_t n, size_t elem)
{
    if (n < *cap) return 1;
    uint64_t c = *cap ? *cap * 2 : 64;
    if (c > SIZE_MAX / elem) return 0;
    void *p = realloc(*arr, (size_t)(c * elem));
    if (!p) return 0;
    memset((char *)p + *cap * elem, 0, (size_t)((c - *cap) * elem));
    *arr = p;
    *cap = c;
    return 1;
}

static vkllm_status parse_kvs(gguf_file *g, rd *r, uint64_t n_kv)
{
    vkllm_status st;
    uint64_t cap = 0;
    if ((st = rd_count_fits(r, n_kv, 8 + 1 + 4 + 1, "metadata_kv_count"))) return st;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&g->kv, &cap, i, sizeof(gguf_kv)))
            return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
        gguf_kv *kv = &g->kv[i];
        kv->offset = r->pos;
        snprintf(r->ctx, sizeof r->ctx, "metadata #%" PRIu64, i);
        if ((st = rd_str(r, &kv->key, GGUF_MAX_KEY_LEN, "key"))) return st;
        if (kv->key.len == 0)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: metadata #%" PRIu64
                              " has an empty key (offset %" PRIu64 ")", r->path, i, kv->offset);
        g->n_kv = i + 1;
        snprintf(r->ctx, sizeof r->ctx, "metadata #%" PRIu64 " '%.*s'", i,
                 (int)(kv->key.len > 100 ? 100 : kv->key.len), kv->key.s);
        uint32_t type;
        if ((st = rd_u32(r, &type, "value type"))) return st;
        uint64_t start = r->pos;
        if ((st = skip_value(r, type, 0))) return st;
        kv->type = (gguf_type)type;
        kv->n = 1;
        if (type == GGUF_TYPE_STRING) {
            kv->str.len = ld_u64(r->p + start);
            kv->str.s = (const char *)r->p + start + 8;
            kv->value = r->p + start + 8;
        } else if (type == GGUF_TYPE_ARRAY) {
            kv->elem_type = (gguf_type)ld_u32(r->p + start);
            kv->n = ld_u64(r->p + start + 4);
            kv->value = r->p + start + 12;
            if (kv->elem_type == GGUF_TYPE_STRING) {
                /* skip_value walked and checked every string: index them (n*8 bytes exist) */
                kv->strs = malloc(kv->n ? (size_t)kv->n * sizeof(gguf_str) : 1);
                if (!kv->strs)
                    return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
                const uint8_t *p = kv->value;
                for (uint64_t j = 0; j < kv->n; j++) {
                    kv->strs[j].len = ld_u64(p);
                    kv->strs[j].s = (const char *)p + 8;
                    p += 8 + kv->strs[j].len;
                }
            }
        } else {
            kv->value = r->p + start;
        }
    }
    /* the key index, sorted: duplicate keys would make look-ups ambiguous */
    if (!n_kv) return VKLLM_OK;
    g->kv_by_key = malloc((size_t)n_kv * sizeof *g->kv_by_key);
    if (!g->kv_by_key) return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < n_kv; i++) g->kv_by_key[i] = &g->kv[i];
    qsort(g->kv_by_key, (size_t)n_kv, sizeof *g->kv_by_key, cmp_kv_key);
    for (uint64_t i = 1; i < n_kv; i++) {
        const gguf_kv *k = g->kv_by_key[i];
        if (cmp_str(g->kv_by_key[i - 1]->key, k->key) == 0)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: metadata key '%.*s' appears twice", r->path,
                        (int)(k->key.len > 100 ? 100 : k->key.len), k->key.s);
    }
    return VKLLM_OK;
}

static vkllm_status parse_tensor_infos(gguf_file *g, rd *r, uint64_t n_tensors)
{
    vkllm_status st;
    uint64_t cap = 0;
    /* name length 8 + >= 1 byte, n_dims 4, >= one dim 8, type 4, offset 8 */
    if ((st = rd_count_fits(r, n_tensors, 8 + 1 + 4 + 8 + 4 + 8, "tensor_count"))) return st;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->tensors, &cap, i, sizeof(gguf_tensor)))
            return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
        gguf_tensor *t = &g->tensors[i];
        t->info_offset = r->pos;
        snprintf(r->ctx, sizeof r->ctx, "tensor info #%" PRIu64, i);
        if ((st = rd_str(r, &t->name, GGUF_MAX_NAME_LEN, "name"))) return st;
        if (t->name.len == 0)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: tensor info #%" PRIu64 " has an empty name", r->path, i);
        g->n_tensors = i + 1;
        snprintf(r->ctx, sizeof r->ctx, "tensor info #%" PRIu64 " '%.*s'", i, (int)t->name.len, t->name.s);
        if ((st = rd_u32(r, &t->n_dims, "n_dims"))) return st;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: %s: n_dims %" PRIu32 " (must be 1..%d)",
                              r->path, r->ctx, t->n_dims, GGUF_MAX_DIMS);
        uint64_t n_elem = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if ((st = rd_u64(r, &t->ne[d], "dimension"))) return st;
            if (t->ne[d] > (uint64_t)INT64_MAX || __builtin_mul_overflow(n_elem, t->ne[d], &n_elem) ||
                n_elem > (uint64_t)INT64_MAX)
                return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                                  "%s: %s: dimensions overflow (ne[%" PRIu32 "] = %" PRIu64 ")", r->path,
                                  r->ctx, d, t->ne[d]);
        }
        if ((st = rd_u32(r, &t->type, "type"))) return st;
        const char *tn = ggml_type_name(t->type);
        if (!tn)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: %s: unknown ggml type %" PRIu32 " (a newer llama.cpp format?)", r->path,
                              r->ctx, t->type);
        const ggml_type_info *ti = &ggml_types[t->type];
        if (t->ne[0] % ti->blck)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: %s: row length %" PRIu64 " is not a multiple of the %s block size %" PRIu32,
                              r->path, r->ctx, t->ne[0], tn, ti->blck);
        if (__builtin_mul_overflow(n_elem / ti->blck, (uint64_t)ti->bytes, &t->n_bytes))
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: %s: byte size overflows", r->path,
                              r->ctx);
        if ((st = rd_u64(r, &t->offset, "offset"))) return st;
    }
    return VKLLM_OK;
}

/* Data section: alignment, bounds, no overlaps, unique names. */
static vkllm_status check_data(gguf_file *g, rd *r)
{
    r->ctx[0] = 0;
    const gguf_kv *al = gguf_find(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (al) {
        if (al->type != GGUF_TYPE_UINT32)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: general.alignment is %s, must be uint32",
                              r->path, gguf_type_name(al->type));
        uint32_t a = ld_u32(al->value);
        if (a == 0 || (a & (a - 1)))
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: general.alignment %" PRIu32 " is not a power of two", r->path, a);
        g->alignment = a;
    }
    uint64_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    g->data_offset = r->pos + pad; /* pos <= size < 2^63, no overflow */
    uint64_t data_size = g->data_offset <= r->size ? r->size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: tensor '%.*s': data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                              r->path, (int)t->name.len, t->name.s, t->offset, g->alignment);
        if (g->data_offset > r->size || t->offset > data_size || t->n_bytes > data_size - t->offset)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                              "%s: truncated: data of tensor '%.*s' (%" PRIu64 " bytes at data offset %" PRIu64
                              "; the data section starts at file offset %" PRIu64 ") runs past the end of the file (%"
                              PRIu64 " bytes)", r->path, (int)t->name.len, t->name.s, t->n_bytes, t->offset,
                              g->data_offset, r->size);
        t->data = r->p + g->data_offset + t->offset;
    }
    /* the name index: sorted by name, for duplicates and gguf_find_tensor */
    if (!g->n_tensors) return VKLLM_OK;
    g->by_name = malloc((size_t)g->n_tensors * sizeof *g->by_name);
    if (!g->by_name) return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
    for (uint64_t i = 0; i < g->n_tensors; i++) g->by_name[i] = &g->tensors[i];
    qsort(g->by_name, (size_t)g->n_tensors, sizeof *g->by_name, cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (cmp_str(g->by_name[i - 1]->name, g->by_name[i]->name) == 0)
            return errf(VKLLM_ERR_FORMAT, r->err, r->err_len, "%s: tensor name '%.*s' appears twice", r->path,
                        (int)g->by_name[i]->name.len, g->by_name[i]->name.s);
    /* No two tensors may share a byte. Tensors of 0 bytes share none, so they
     * are left out; the others, by offset, must each start at or after the
     * end of every one before it (the furthest-reaching one is kept). */
    const gguf_tensor **idx = malloc((size_t)g->n_tensors * sizeof *idx);
    if (!idx) return errf(VKLLM_ERR_OUT_OF_MEMORY, r->err, r->err_len, "%s: out of memory", r->path);
    size_t n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].n_bytes) idx[n++] = &g->tensors[i];
    qsort(idx, n, sizeof *idx, cmp_tensor_offset);
    vkllm_status st = VKLLM_OK;
    const gguf_tensor *reach = n ? idx[0] : NULL; /* the tensor ending furthest so far */
    for (size_t i = 1; i < n && !st; i++) {
        const gguf_tensor *a = reach, *b = idx[i];
        if (a->offset + a->n_bytes > b->offset) /* both within the file: no overflow */
            st = errf(VKLLM_ERR_FORMAT, r->err, r->err_len,
                      "%s: data of tensors '%.*s' (offset %" PRIu64 ", %" PRIu64 " bytes) and '%.*s' (offset %"
                      PRIu64 ", %" PRIu64 " bytes) overlap", r->path, (int)a->name.len, a->name.s, a->offset,
                      a->n_bytes, (int)b->name.len, b->name.s, b->offset, b->n_bytes);
        else if (b->offset + b->n_bytes > a->offset + a->n_bytes)
            reach = b;
    }
    free(idx);
    return st;
}

vkllm_status gguf_open(const char *path, gguf_file **out, char *err, size_t err_len)
{
    *out = NULL;
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    vkllm_status st = mfile_open(&g->map, path, err, err_len);
    if (st) goto fail;
    rd r = { .p = g->map.data, .size = g->map.size, .path = path, .err = err, .err_len = err_len };
    if ((st = rd_need(&r, 4, "magic"))) goto fail;
    if (memcmp(r.p, "GGUF", 4) != 0) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len,
                        "%s: not a GGUF file (magic is %02x %02x %02x %02x, expected \"GGUF\")", path, r.p[0],
                        r.p[1], r.p[2], r.p[3]);
        goto fail;
    }
    r.pos = 4;
    if ((st = rd_u32(&r, &g->version, "version"))) goto fail;
    if (g->version == 1) {
        st = errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: GGUF version 1 is not supported (only 2 and 3); convert the model again with a "
                        "current llama.cpp", path);
        goto fail;
    }
    if ((g->version & 0xffff) == 0 && (g->version >> 24) >= 1 && (g->version >> 24) <= 3) {
        st = errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: big-endian GGUF (version field %08" PRIx32 ") is not supported", path, g->version);
        goto fail;
    }
    if (g->version != 2 && g->version != 3) {
        st = errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "%s: GGUF version %" PRIu32 " is not supported (only 2 and 3)", path, g->version);
        goto fail;
    }
    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(&r, &n_tensors, "tensor_count"))) goto fail;
    if ((st = rd_u64(&r, &n_kv, "metadata_kv_count"))) goto fail;
    g->kv_offset = r.pos;
    if ((st = parse_kvs(g, &r, n_kv))) goto fail;
    g->tensor_info_offset = r.pos;
    r.ctx[0] = 0;
    if ((st = parse_tensor_infos(g, &r, n_tensors))) goto fail;
    if ((st = check_data(g, &r))) goto fail;
    *out = g;
    return VKLLM_OK;
fail:
    gguf_close(g);
    return st;
}

void gguf_close(gguf_file *g)
{
    if (!g) return;
    for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].strs);
    free(g->kv);
    free(g->kv_by_key);
    free(g->tensors);
    free(g->by_name);
    mfile_close(&g->map);
    free(g);
}

/* ---------------------------------------------------------------- lookups */

static int cmp_key_kv(const void *key, const void *e)
{
    return cmp_str(*(const gguf_str *)key, (*(const gguf_kv *const *)e)->key);
}
static int cmp_key_tensor(const void *key, const void *e)
{
    return cmp_str(*(const gguf_str *)key, (*(const gguf_tensor *const *)e)->name);
}

const gguf_kv *gguf_find(const gguf_file *g, const char *key)
{
    if (!g->kv_by_key) return NULL; /* no keys */
    gguf_str k = { key, strlen(key) };
    gguf_kv *const *e = bsearch(&k, g->kv_by_key, (size_t)g->n_kv, sizeof *g->kv_by_key, cmp_key_kv);
    return e ? *e : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name)
{
    if (!g->by_name) return NULL; /* no tensors */
    gguf_str k = { name, strlen(name) };
    gguf_tensor *const *e = bsearch(&k, g->by_name, (size_t)g->n_tensors, sizeof *g->by_name, cmp_key_tensor);
    return e ? *e : NULL;
}

static vkllm_status get_kv(const gguf_file *g, const char *key, const gguf_kv **kv, char *err, size_t err_len)
{
    *kv = gguf_find(g, key);
    if (!*kv) return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key '%s' is missing", g->map.path, key);
    return VKLLM_OK;
}

static vkllm_status wrong_type(const gguf_file *g, const gguf_kv *kv, const char *key, const char *want, char *err,
                               size_t err_len)
{
    if (kv->type == GGUF_TYPE_ARRAY)
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key '%s' is an array of %s, expected %s",
                          g->map.path, key, gguf_type_name(kv->elem_type), want);
    return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key '%s' is %s, expected %s", g->map.path, key,
                      gguf_type_name(kv->type), want);
}

/* integer value i of kv, range-checked into [lo, hi] */
static int kv_int_in(const gguf_kv *kv, uint64_t i, int64_t lo, uint64_t hi, int64_t *s_out, uint64_t *u_out)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    int is_signed;
    if (!kv_int_at(kv, i, &sv, &uv, &is_signed)) return 0;
    if (is_signed) {
        if (sv < lo || (sv >= 0 && (uint64_t)sv > hi)) return 0;
        *s_out = sv;
        *u_out = (uint64_t)sv;
    } else {
        if (uv > hi) return 0;
        *s_out = (int64_t)uv; /* callers with hi > INT64_MAX use u_out */
        *u_out = uv;
    }
    return 1;
}

static vkllm_status get_int(const gguf_file *g, const char *key, int64_t lo, uint64_t hi, const char *want,
                            int64_t *s, uint64_t *u, char *err, size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    if (kv->type == GGUF_TYPE_ARRAY || !kv_int_in(kv, 0, lo, hi, s, u)) return wrong_type(g, kv, key, want, err, err_len);
    return VKLLM_OK;
}

vkllm_status gguf_get_u32(const gguf_file *g, const char *key, uint32_t *out, char *err, size_t err_len)
{
    int64_t s;
    uint64_t u;
    vkllm_status st = get_int(g, key, 0, UINT32_MAX, "an unsigned integer below 2^32", &s, &u, err, err_len);
    if (!st) *out = (uint32_t)u;
    return st;
}

vkllm_status gguf_get_i32(const gguf_file *g, const char *key, int32_t *out, char *err, size_t err_len)
{
    int64_t s;
    uint64_t u;
    vkllm_status st = get_int(g, key, INT32_MIN, INT32_MAX, "a 32-bit integer", &s, &u, err, err_len);
    if (!st) *out = (int32_t)s;
    return st;
}

vkllm_status gguf_get_u64(const gguf_file *g, const char *key, uint64_t *out, char *err, size_t err_len)
{
    int64_t s;
    uint64_t u;
    vkllm_status st = get_int(g, key, 0, UINT64_MAX, "an unsigned integer", &s, &u, err, err_len);
    if (!st) *out = u;
    return st;
}

static int kv_float_at(const gguf_kv *kv, uint64_t i, double *out)
{
    gguf_type t = kv->type == GGUF_TYPE_ARRAY ? kv->elem_type : kv->type;
    if (t == GGUF_TYPE_FLOAT32) {
        float f;
        memcpy(&f, kv->value + 4 * i, 4);
        *out = f;
        return 1;
    }
    if (t == GGUF_TYPE_FLOAT64) {
        memcpy(out, kv->value + 8 * i, 8);
        return 1;
    }
    return 0;
}

vkllm_status gguf_get_f32(const gguf_file *g, const char *key, float *out, char *err, size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    double d;
    if (kv->type == GGUF_TYPE_ARRAY || !kv_float_at(kv, 0, &d)) return wrong_type(g, kv, key, "float32", err, err_len);
    if (isfinite(d) && d != 0 && (!isfinite((float)d) || (float)d == 0)) /* a float64 value float32 cannot hold */
        return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key '%s' = %g is outside the range of float32",
                    g->map.path, key, d);
    *out = (float)d;
    return VKLLM_OK;
}

vkllm_status gguf_get_bool(const gguf_file *g, const char *key, int *out, char *err, size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(g, kv, key, "bool", err, err_len);
    *out = kv->value[0] != 0;
    return VKLLM_OK;
}

vkllm_status gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, char *err, size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(g, kv, key, "string", err, err_len);
    *out = kv->str;
    return VKLLM_OK;
}

vkllm_status gguf_get_arr_str(const gguf_file *g, const char *key, const gguf_str **items, uint64_t *n,
                              char *err, size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    if (kv->type != GGUF_TYPE_ARRAY || kv->elem_type != GGUF_TYPE_STRING)
        return wrong_type(g, kv, key, "an array of string", err, err_len);
    *items = kv->strs;
    *n = kv->n;
    return VKLLM_OK;
}

vkllm_status gguf_get_arr_f32(const gguf_file *g, const char *key, float **out, uint64_t *n, char *err,
                              size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    if (kv->type != GGUF_TYPE_ARRAY || (kv->elem_type != GGUF_TYPE_FLOAT32 && kv->elem_type != GGUF_TYPE_FLOAT64))
        return wrong_type(g, kv, key, "an array of float32", err, err_len);
    /* kv->n elements of >= 4 bytes are in the file: the allocation is bounded by it */
    float *v = malloc(kv->n ? (size_t)kv->n * sizeof *v : 1);
    if (!v) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", g->map.path);
    for (uint64_t i = 0; i < kv->n; i++) {
        double d;
        kv_float_at(kv, i, &d);
        v[i] = (float)d;
    }
    *out = v;
    *n = kv->n;
    return VKLLM_OK;
}

vkllm_status gguf_get_arr_i32(const gguf_file *g, const char *key, int32_t **out, uint64_t *n, char *err,
                              size_t err_len)
{
    const gguf_kv *kv;
    vkllm_status st = get_kv(g, key, &kv, err, err_len);
    if (st) return st;
    gguf_type et = kv->elem_type;
    if (kv->type != GGUF_TYPE_ARRAY || et >= GGUF_TYPE_COUNT || !gguf_type_size[et] || et == GGUF_TYPE_BOOL ||
        et == GGUF_TYPE_FLOAT32 || et == GGUF_TYPE_FLOAT64)
        return wrong_type(g, kv, key, "an array of int32", err, err_len);
    int32_t *v = malloc(kv->n ? (size_t)kv->n * sizeof *v : 1);
    if (!v) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "%s: out of memory", g->map.path);
    for (uint64_t i = 0; i < kv->n; i++) {
        int64_t s;
        uint64_t u;
        if (!kv_int_in(kv, i, INT32_MIN, INT32_MAX, &s, &u)) {
            free(v);
            return errf(VKLLM_ERR_FORMAT, err, err_len, "%s: metadata key '%s': element %" PRIu64
                              " does not fit int32", g->map.path, key, i);
        }
        v[i] = (int32_t)s;
    }
    *out = v;
    *n = kv->n;
    return VKLLM_OK;
}
