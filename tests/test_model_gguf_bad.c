/* Malformed GGUF files: each gets its own error, naming the file and the
 * field, and nothing crashes, hangs or allocates by a forged count.
 *   1. hand-built files with forged counts, lengths, offsets, types, dims;
 *   2. a generated model truncated at every section boundary (header fields,
 *      each key/value part, each tensor-info part, each tensor's data) and at
 *      many random lengths;
 *   3. a generated model patched into a bad model: quantized / unknown types,
 *      missing tensor, wrong hparams (shape mismatch, bad ratios, missing key,
 *      wrong key type, bad ranges, other architecture).
 * usage: test_model_gguf_bad SCRATCH_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model_util.h"
#include "util/rng.h"

static char *g_path; /* the file every case writes */

/* ---------------------------------------------------------------- a byte builder */

typedef struct gb { uint8_t p[4096]; size_t n; } gb;
static void b_put(gb *b, const void *p, size_t n)
{
    if (b->n + n <= sizeof b->p) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u32(gb *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(gb *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(gb *b, const char *s) { b_u64(b, strlen(s)), b_put(b, s, strlen(s)); }
static void b_head(gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    b_put(b, "GGUF", 4), b_u32(b, version), b_u64(b, n_tensors), b_u64(b, n_kv);
}
static void b_pad(gb *b, size_t a)
{
    while (b->n % a) b_put(b, "", 1);
}
/* a tensor info: name, dims (innermost first), ggml type, offset */
static void b_tensor(gb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off)
{
    b_str(b, name), b_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) b_u64(b, ne[i]);
    b_u32(b, type), b_u64(b, off);
}

static void expect_open(const char *what, const gb *b, vkllm_status want, const char *s1, const char *s2)
{
    char err[512] = "";
    tu_write(g_path, b->p, b->n);
    gguf_file *g = NULL;
    vkllm_status st = gguf_open(g_path, &g, err, sizeof err);
    tu_expect(what, st, err, want, "bad.gguf", s1, s2, NULL);
    CHECK(st != VKLLM_OK || g, "%s: no file returned", what);
    gguf_close(g);
}

static void forged(void)
{
    gb b;
    const uint64_t one[1] = { 4 };

    b.n = 0;
    expect_open("empty file", &b, VKLLM_ERR_FORMAT, "truncated", "magic");
    b_head(&b, 3, 0, 0), b.p[0] = 'X';
    expect_open("bad magic", &b, VKLLM_ERR_FORMAT, "not a GGUF file", NULL);
    b_head(&b, 1, 0, 0);
    expect_open("version 1", &b, VKLLM_ERR_UNSUPPORTED, "GGUF version 1 is not supported", NULL);
    b_head(&b, 0x03000000, 0, 0);
    expect_open("big-endian", &b, VKLLM_ERR_UNSUPPORTED, "big-endian", NULL);
    b_head(&b, 4, 0, 0);
    expect_open("version 4", &b, VKLLM_ERR_UNSUPPORTED, "version 4 is not supported", NULL);
    b_head(&b, 3, 0, 0), b.n = 12;
    expect_open("header cut", &b, VKLLM_ERR_FORMAT, "truncated", "tensor_count");

    b_head(&b, 3, 1ull << 60, 0);
    expect_open("2^60 tensors", &b, VKLLM_ERR_FORMAT, "tensor_count 1152921504606846976 is impossible", NULL);
    b_head(&b, 3, 0, 1ull << 62);
    expect_open("2^62 kvs", &b, VKLLM_ERR_FORMAT, "metadata_kv_count 4611686018427387904 is impossible", NULL);

    b_head(&b, 3, 0, 1), b_u64(&b, 1000), b_put(&b, "abcde", 5), b_put(&b, "0123456789", 10);
    expect_open("key past EOF", &b, VKLLM_ERR_FORMAT, "truncated: metadata #0 key bytes", "needs 1000 bytes");
    b_head(&b, 3, 0, 1), b_u64(&b, 70000), b_put(&b, "abcdefghijklmnopqrstuvwxyz", 26);
    expect_open("key too long", &b, VKLLM_ERR_FORMAT, "metadata #0 key length 70000", "exceeds the limit 65535");
    b_head(&b, 3, 0, 1), b_u64(&b, 0), b_u32(&b, 4), b_u32(&b, 7);
    expect_open("empty key", &b, VKLLM_ERR_FORMAT, "metadata #0 has an empty key", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 8), b_u64(&b, 1ull << 40), b_put(&b, "xyz", 3);
    expect_open("string past EOF", &b, VKLLM_ERR_FORMAT, "truncated: metadata #0 'a' string bytes", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 0), b_u64(&b, 1ull << 62);
    expect_open("2^62 u8 array", &b, VKLLM_ERR_FORMAT, "metadata #0 'a' array length 4611686018427387904 is impossible",
                NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 8), b_u64(&b, 1ull << 60);
    expect_open("2^60 string array", &b, VKLLM_ERR_FORMAT, "'a' array length 1152921504606846976 is impossible", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 10), b_u64(&b, 1ull << 61);
    expect_open("2^61 u64 array", &b, VKLLM_ERR_FORMAT, "is impossible", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9);
    for (int i = 0; i < 6; i++) b_u32(&b, 9), b_u64(&b, 1);
    b_u32(&b, 0), b_u64(&b, 0);
    expect_open("nested 7 deep", &b, VKLLM_ERR_FORMAT, "metadata #0 'a'", "nested deeper than 4");
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 9), b_u64(&b, 2);
    b_u32(&b, 8), b_u64(&b, 1), b_str(&b, "x"); /* 2 nested arrays claimed, 1 present */
    expect_open("nested array cut", &b, VKLLM_ERR_FORMAT, "metadata #0 'a' array length 2 is impossible", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 9), b_u64(&b, 2);
    b_u32(&b, 8), b_u64(&b, 1), b_str(&b, "x"), b_u32(&b, 8), b_u64(&b, 1), b_u64(&b, 5), b_put(&b, "ab", 2);
    expect_open("nested string cut", &b, VKLLM_ERR_FORMAT, "truncated: metadata #0 'a' string bytes", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 13), b_u32(&b, 0);
    expect_open("value type 13", &b, VKLLM_ERR_FORMAT, "metadata #0 'a' has unknown value type 13", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "a"), b_u32(&b, 9), b_u32(&b, 42), b_u64(&b, 1);
    expect_open("array type 42", &b, VKLLM_ERR_FORMAT, "unknown array element type 42", NULL);
    b_head(&b, 3, 0, 2), b_str(&b, "k"), b_u32(&b, 4), b_u32(&b, 1), b_str(&b, "k"), b_u32(&b, 4), b_u32(&b, 2);
    expect_open("duplicate key", &b, VKLLM_ERR_FORMAT, "metadata key 'k' appears twice", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "general.alignment"), b_u32(&b, 4), b_u32(&b, 48);
    expect_open("alignment 48", &b, VKLLM_ERR_FORMAT, "general.alignment 48 is not a power of two", NULL);
    b_head(&b, 3, 0, 1), b_str(&b, "general.alignment"), b_u32(&b, 8), b_str(&b, "32");
    expect_open("alignment string", &b, VKLLM_ERR_FORMAT, "general.alignment is string, must be uint32", NULL);

    /* tensor infos (no metadata) */
    const uint64_t dims5[5] = { 1, 1, 1, 1, 1 }, big3[3] = { 1ull << 32, 1ull << 32, 1ull << 32 };
    const uint64_t huge1[1] = { 1ull << 63 }, q64[1] = { 64 }, f16x[1] = { 16 };
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 5, dims5, 0, 0);
    expect_open("n_dims 5", &b, VKLLM_ERR_FORMAT, "tensor info #0 'w': n_dims 5 (must be 1..4)", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 0, dims5, 0, 0), b_put(&b, "0123456789abcdef", 16);
    expect_open("n_dims 0", &b, VKLLM_ERR_FORMAT, "n_dims 0", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 3, big3, 0, 0);
    expect_open("dims overflow", &b, VKLLM_ERR_FORMAT, "tensor info #0 'w': dimensions overflow", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, huge1, 0, 0), b_put(&b, "0123456789abcdef", 16);
    expect_open("dim 2^63", &b, VKLLM_ERR_FORMAT, "dimensions overflow", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, one, 99, 0), b_put(&b, "0123456789abcdef", 16);
    expect_open("ggml type 99", &b, VKLLM_ERR_FORMAT, "tensor info #0 'w': unknown ggml type 99", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, q64, 12, 0), b_put(&b, "0123456789abcdef", 16);
    expect_open("Q4_K row 64", &b, VKLLM_ERR_FORMAT, "row length 64 is not a multiple of the Q4_K block size 256",
                NULL);
    b_head(&b, 3, 1, 0), b_u64(&b, 300), b_put(&b, "0123456789abcdef0123456789abcdef", 32);
    expect_open("name 300", &b, VKLLM_ERR_FORMAT, "tensor info #0 name length 300", "exceeds the limit 255");
    b_head(&b, 3, 1, 0), b_tensor(&b, "", 1, one, 0, 0), b_put(&b, "0123456789abcdef", 16);
    expect_open("empty name", &b, VKLLM_ERR_FORMAT, "tensor info #0 has an empty name", NULL);
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, one, 0, 1ull << 40), b_pad(&b, 32), b_put(&b, "0123456789abcdef", 16);
    expect_open("offset past EOF", &b, VKLLM_ERR_FORMAT, "truncated: data of tensor 'w'", "runs past the end");
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, one, 0, 0ull - 32), b_pad(&b, 32), b_put(&b, "0123456789abcdef", 16);
    expect_open("offset 2^64-32", &b, VKLLM_ERR_FORMAT, "data of tensor 'w'", "runs past the end");
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, one, 0, 0);
    expect_open("no data section", &b, VKLLM_ERR_FORMAT, "data of tensor 'w'", "runs past the end");
    b_head(&b, 3, 1, 0), b_tensor(&b, "w", 1, one, 0, 16), b_pad(&b, 32), b_put(&b, "0123456789abcdef0123456789abcdef", 32);
    expect_open("misaligned", &b, VKLLM_ERR_FORMAT, "tensor 'w': data offset 16 is not a multiple of the alignment 32",
                NULL);
    b_head(&b, 3, 2, 0), b_tensor(&b, "a", 1, f16x, 0, 0), b_tensor(&b, "b", 1, f16x, 0, 32), b_pad(&b, 32);
    for (int i = 0; i < 16; i++) b_u64(&b, 0);
    expect_open("overlap", &b, VKLLM_ERR_FORMAT, "data of tensors 'a'", "and 'b' (offset 32, 64 bytes) overlap");
    /* an empty tensor between two that share bytes must not hide them (it shares none itself) */
    const uint64_t e16[1] = { 16 }, e4[1] = { 4 }, e0[1] = { 0 };
    b_head(&b, 3, 3, 0), b_tensor(&b, "token_embd.weight", 1, e16, 0, 0), b_tensor(&b, "e", 1, e0, 0, 32);
    b_tensor(&b, "blk.0.attn_q.weight", 1, e4, 0, 32), b_pad(&b, 32);
    for (int i = 0; i < 8; i++) b_u64(&b, 0);
    expect_open("overlap hidden by an empty tensor", &b, VKLLM_ERR_FORMAT, "data of tensors 'token_embd.weight'",
                "and 'blk.0.attn_q.weight' (offset 32, 16 bytes) overlap");
    b_head(&b, 3, 4, 0), b_tensor(&b, "a", 1, e16, 0, 0), b_tensor(&b, "e", 1, e0, 0, 0), b_tensor(&b, "f", 1, e0, 0, 32);
    b_tensor(&b, "c", 1, e4, 0, 32), b_pad(&b, 32);
    for (int i = 0; i < 8; i++) b_u64(&b, 0);
    expect_open("overlap behind two empty tensors", &b, VKLLM_ERR_FORMAT, "data of tensors 'a'", "and 'c'");
    {   /* empty tensors inside or between others share no byte: accepted */
        b_head(&b, 3, 4, 0), b_tensor(&b, "a", 1, e16, 0, 0), b_tensor(&b, "e", 1, e0, 0, 32);
        b_tensor(&b, "f", 1, e0, 0, 64), b_tensor(&b, "c", 1, e4, 0, 64), b_pad(&b, 32);
        for (int i = 0; i < 12; i++) b_u64(&b, 0);
        tu_write(g_path, b.p, b.n);
        gguf_file *g = NULL;
        char e[256] = "";
        CHECK(gguf_open(g_path, &g, e, sizeof e) == VKLLM_OK, "empty tensors inside others: %s", e);
        gguf_close(g);
    }
    /* a float64 value float32 cannot hold is named with its value, not as inf */
    {
        double big = 1e300;
        b_head(&b, 3, 0, 1), b_str(&b, "x"), b_u32(&b, 12), b_put(&b, &big, 8);
        tu_write(g_path, b.p, b.n);
        gguf_file *g = NULL;
        char e[256] = "";
        float f = 0;
        if (gguf_open(g_path, &g, e, sizeof e) == VKLLM_OK)
            tu_expect("float64 1e300 as float32", gguf_get_f32(g, "x", &f, e, sizeof e), e, VKLLM_ERR_FORMAT,
                      "metadata key 'x' = 1e+300 is outside the range of float32", NULL);
        else
            CHECK(0, "float64 file: %s", e);
        gguf_close(g);
    }
    b_head(&b, 3, 2, 0), b_tensor(&b, "a", 1, one, 0, 0), b_tensor(&b, "a", 1, one, 0, 32), b_pad(&b, 32);
    for (int i = 0; i < 8; i++) b_u64(&b, 0);
    expect_open("duplicate tensor", &b, VKLLM_ERR_FORMAT, "tensor name 'a' appears twice", NULL);
    /* a good one, to show the builder makes valid files */
    b_head(&b, 3, 2, 1), b_str(&b, "general.alignment"), b_u32(&b, 4), b_u32(&b, 16);
    b_tensor(&b, "a", 1, one, 0, 0), b_tensor(&b, "b", 1, one, 1, 16), b_pad(&b, 16);
    for (int i = 0; i < 4; i++) b_u64(&b, 0);
    tu_write(g_path, b.p, b.n);
    gguf_file *g = NULL;
    char err[256];
    CHECK(gguf_open(g_path, &g, err, sizeof err) == VKLLM_OK && g->alignment == 16 && g->n_tensors == 2 &&
              g->tensors[1].n_bytes == 8, "hand-built good file: %s", err);
    gguf_close(g);
    char *nofile = tu_path(g_path, "nothing");
    CHECK(gguf_open(nofile, &g, err, sizeof err) == VKLLM_ERR_IO && strstr(err, "nothing: cannot open"), "%s", err);
    free(nofile);
}

/* ---------------------------------------------------------------- truncation */

static const gguf_file *g_good; /* parse of the good file, for the count checks */

/* Cuts the good file to len bytes: the error names `want`, unless a count
 * check (done before the items are read) already fails for lack of bytes. */
static void cut(const char *what, const uint8_t *bytes, uint64_t len, const char *want)
{
    const gguf_file *g = g_good;
    if (len >= 24 && (len - 24) / 14 < g->n_kv) want = "metadata_kv_count";
    else if (len >= g->tensor_info_offset && (len - g->tensor_info_offset) / 33 < g->n_tensors) want = "tensor_count";
    char err[512] = "", name[400];
    tu_write(g_path, bytes, (size_t)len);
    gguf_file *c = NULL;
    snprintf(name, sizeof name, "%s (cut at %llu)", what, (unsigned long long)len);
    tu_expect(name, gguf_open(g_path, &c, err, sizeof err), err, VKLLM_ERR_FORMAT, "bad.gguf: truncated", want, NULL);
    gguf_close(c);
}

static void truncations(const char *good)
{
    gguf_file *g = NULL;
    char err[512], want[300];
    if (gguf_open(good, &g, err, sizeof err)) {
        CHECK(0, "open %s: %s", good, err);
        return;
    }
    g_good = g;
    const uint8_t *d = g->map.data;
    uint64_t size = g->map.size;
    cut("header", d, 0, "magic");
    cut("header", d, 6, "version");
    cut("header", d, 8, "tensor_count");
    cut("header", d, 20, "metadata_kv_count");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        uint64_t o = kv->offset, kl = kv->key.len;
        char tag[200];
        snprintf(tag, sizeof tag, "metadata #%llu '%.*s'", (unsigned long long)i, (int)kl, kv->key.s);
        snprintf(want, sizeof want, "metadata #%llu key length", (unsigned long long)i);
        cut("kv key", d, o, want);
        snprintf(want, sizeof want, "metadata #%llu key bytes", (unsigned long long)i);
        cut("kv key", d, o + 8 + kl / 2, want);
        snprintf(want, sizeof want, "%s value type", tag);
        cut("kv type", d, o + 8 + kl, want);
        const char *vw = kv->type == GGUF_TYPE_STRING ? "string length"
                       : kv->type == GGUF_TYPE_ARRAY  ? "array element type" : gguf_type_name(kv->type);
        snprintf(want, sizeof want, "%s %s", tag, vw);
        cut("kv value", d, o + 12 + kl, want);
        if (kv->type == GGUF_TYPE_ARRAY && kv->n > 2) {
            /* inside the elements: strings are read one by one, fixed-size ones fail the length check */
            if (kv->elem_type == GGUF_TYPE_STRING) { /* near the end, so the count check passes */
                snprintf(want, sizeof want, "%s string bytes", tag);
                cut("array element", d, (uint64_t)(kv->strs[kv->n - 2].s - (const char *)d) + 1, want);
            } else {
                snprintf(want, sizeof want, "%s array length %llu is impossible", tag, (unsigned long long)kv->n);
                cut("array element", d, (uint64_t)(kv->value - d) + 1, want);
            }
        }
    }
    for (uint64_t j = 0; j < g->n_tensors; j++) {
        const gguf_tensor *t = &g->tensors[j];
        uint64_t o = t->info_offset, nl = t->name.len;
        char tag[200];
        snprintf(tag, sizeof tag, "tensor info #%llu '%.*s'", (unsigned long long)j, (int)nl, t->name.s);
        snprintf(want, sizeof want, "tensor info #%llu name length", (unsigned long long)j);
        cut("info", d, o + 4, want);
        snprintf(want, sizeof want, "%s n_dims", tag);
        cut("info", d, o + 8 + nl, want);
        snprintf(want, sizeof want, "%s dimension", tag);
        cut("info", d, o + 12 + nl + 3, want);
        snprintf(want, sizeof want, "%s type", tag);
        cut("info", d, o + 12 + nl + 8 * t->n_dims, want);
        snprintf(want, sizeof want, "%s offset", tag);
        cut("info", d, o + 16 + nl + 8 * t->n_dims, want);
    }
    for (uint64_t j = 0; j < g->n_tensors; j++) {
        const gguf_tensor *t = &g->tensors[j];
        uint64_t start = g->data_offset + t->offset;
        snprintf(want, sizeof want, "data of tensor '%.*s'", (int)t->name.len, t->name.s);
        if (j == 0 && g->data_offset > g->tensor_info_offset) cut("padding", d, g->data_offset - 1, want);
        cut("data start", d, start, want);
        cut("data end", d, start + t->n_bytes - 1, want);
    }
    /* many random lengths: always a FORMAT error naming the file */
    rng r = { 12345 };
    for (int i = 0; i < 400; i++) {
        uint64_t len = i < 200 ? rng_next(&r) % (g->tensor_info_offset + 64) : rng_next(&r) % size;
        char e2[512];
        tu_write(g_path, d, (size_t)len);
        gguf_file *c = NULL;
        vkllm_status st = gguf_open(g_path, &c, e2, sizeof e2);
        CHECK(st == VKLLM_ERR_FORMAT && strstr(e2, "bad.gguf: truncated"), "cut at %llu: %s", (unsigned long long)len,
              e2);
        gguf_close(c);
    }
    gguf_close(g);
}

/* ---------------------------------------------------------------- bad models */

typedef struct img { uint8_t *b; size_t n; gguf_file *g; } img; /* a copy of the good file + its parse */

static uint64_t kv_value_off(const img *m, const char *key)
{
    const gguf_kv *kv = gguf_find(m->g, key);
    return kv ? (uint64_t)(kv->value - m->g->map.data) : 0;
}

static uint64_t tensor_type_off(const img *m, const char *name)
{
    const gguf_tensor *t = gguf_find_tensor(m->g, name);
    return t ? t->info_offset + 8 + t->name.len + 4 + 8 * t->n_dims : 0;
}

/* patches `len` bytes at `off` of a copy, writes it and opens it as a model */
static void bad_model(const char *what, const img *m, uint64_t off, const void *bytes, size_t len, vkllm_status want,
                      const char *s1, const char *s2)
{
    uint8_t *c = malloc(m->n);
    memcpy(c, m->b, m->n);
    if (off) memcpy(c + off, bytes, len);
    tu_write(g_path, c, m->n);
    free(c);
    char err[512] = "";
    model *md = NULL;
    CHECK(off, "%s: nothing to patch", what);
    tu_expect(what, model_open(g_path, &md, err, sizeof err), err, want, "bad.gguf", s1, s2, NULL);
    model_close(md);
}

/* A patched type that vkllm reads: the model opens and the tensor has it */
static void good_model(const char *what, const img *m, uint64_t off, const uint32_t *type, const char *name)
{
    uint8_t *c = malloc(m->n);
    memcpy(c, m->b, m->n);
    if (off) memcpy(c + off, type, 4);
    tu_write(g_path, c, m->n);
    free(c);
    char err[512] = "";
    model *md = NULL;
    CHECK(off && model_open(g_path, &md, err, sizeof err) == VKLLM_OK, "%s: %s", what, err);
    int found = 0;
    for (size_t i = 0; md && i < md->n_tensors; i++) found += md->tensors[i].dtype == DTYPE_QUANT && md->tensors[i].qtype == *type;
    CHECK(found == 1, "%s: %d tensors of type %s", what, found, name);
    model_close(md);
}

static void patch_u32(const char *what, const img *m, const char *key, uint32_t v, vkllm_status want, const char *s1,
                      const char *s2)
{
    bad_model(what, m, kv_value_off(m, key), &v, 4, want, s1, s2);
}

static void bad_models(const char *good)
{
    img m = { 0 };
    char err[512];
    m.b = tu_read(good, &m.n);
    if (!m.b || gguf_open(good, &m.g, err, sizeof err)) {
        CHECK(0, "read %s", good);
        free(m.b);
        return;
    }
    uint32_t q8 = 8, q4 = 2, q4k = 12, q8_1 = 9, iq2 = 16, i32t = 26, f32v = 6;
    /* block types vkllm reads are accepted (the bytes shrink with the type, so the file stays whole) */
    good_model("Q8_0 embeddings", &m, tensor_type_off(&m, "token_embd.weight"), &q8, "Q8_0");
    good_model("Q4_0 attn_q", &m, tensor_type_off(&m, "blk.0.attn_q.weight"), &q4, "Q4_0");
    /* others are refused, naming the type; a block type on a norm too; rows that are no whole block */
    bad_model("Q8_1 embeddings", &m, tensor_type_off(&m, "token_embd.weight"), &q8_1, 4, VKLLM_ERR_UNSUPPORTED,
              "tensor 'token_embd.weight' has type Q8_1", "which vkllm does not read");
    bad_model("IQ2_XXS attn_q", &m, tensor_type_off(&m, "blk.0.attn_q.weight"), &iq2, 4, VKLLM_ERR_FORMAT,
              "IQ2_XXS", "256");
    bad_model("Q8_0 norm", &m, tensor_type_off(&m, "blk.0.attn_norm.weight"), &q8, 4, VKLLM_ERR_UNSUPPORTED,
              "tensor 'blk.0.attn_norm.weight' has type Q8_0", "norms must be");
    bad_model("Q4_K rows of 64", &m, tensor_type_off(&m, "blk.0.attn_q.weight"), &q4k, 4, VKLLM_ERR_FORMAT,
              "Q4_K", "256");
    bad_model("I32 attn_norm", &m, tensor_type_off(&m, "blk.1.attn_norm.weight"), &i32t, 4, VKLLM_ERR_UNSUPPORTED,
              "tensor 'blk.1.attn_norm.weight' has type I32", NULL);
    const gguf_tensor *up = gguf_find_tensor(m.g, "blk.1.ffn_up.weight");
    bad_model("missing tensor", &m, up ? (uint64_t)(up->name.s - (const char *)m.g->map.data) + 18 : 0, "X", 1,
              VKLLM_ERR_FORMAT, "tensor 'blk.1.ffn_up.weight' is missing", NULL);
    patch_u32("kv heads 1", &m, "llama.attention.head_count_kv", 1, VKLLM_ERR_FORMAT,
              "tensor 'blk.0.attn_k.weight' has shape [32, 64], expected [16, 64]", NULL);
    patch_u32("ff 97", &m, "llama.feed_forward_length", 97, VKLLM_ERR_FORMAT,
              "tensor 'blk.0.ffn_gate.weight' has shape [96, 64], expected [97, 64]", NULL);
    patch_u32("kv heads 3", &m, "llama.attention.head_count_kv", 3, VKLLM_ERR_FORMAT,
              "n_head_kv = 3 does not divide n_head = 4", NULL);
    patch_u32("kv heads 8", &m, "llama.attention.head_count_kv", 8, VKLLM_ERR_FORMAT, "n_head_kv = 8 is out of range",
              NULL);
    patch_u32("heads 6", &m, "llama.attention.head_count", 6, VKLLM_ERR_FORMAT,
              "n_embd = 64 is not a multiple of n_head = 6", NULL);
    patch_u32("layers 0", &m, "llama.block_count", 0, VKLLM_ERR_FORMAT, "n_layer = 0 is out of range", NULL);
    patch_u32("layers 3", &m, "llama.block_count", 3, VKLLM_ERR_FORMAT, "tensor 'blk.2.attn_norm.weight' is missing",
              NULL);
    patch_u32("layers 2^31", &m, "llama.block_count", 1u << 31, VKLLM_ERR_FORMAT, "n_layer = 2147483648 is out of range",
              NULL);
    patch_u32("embd 2^31", &m, "llama.embedding_length", 1u << 31, VKLLM_ERR_FORMAT, "n_embd", "out of range");
    patch_u32("ctx 0", &m, "llama.context_length", 0, VKLLM_ERR_FORMAT, "n_ctx_train = 0", NULL);
    patch_u32("rot 15", &m, "llama.rope.dimension_count", 15, VKLLM_ERR_FORMAT, "n_rot = 15 must be even", NULL);
    patch_u32("vocab 600", &m, "llama.vocab_size", 600, VKLLM_ERR_FORMAT,
              "llama.vocab_size 600 differs from token_embd.weight's 512 rows", NULL);
    float bad_f[3] = { 0.0f, -1.0f, NAN };
    bad_model("eps 0", &m, kv_value_off(&m, "llama.attention.layer_norm_rms_epsilon"), &bad_f[0], 4, VKLLM_ERR_FORMAT,
              "rms_eps = 0 must be in (0, 1)", NULL);
    bad_model("eps nan", &m, kv_value_off(&m, "llama.attention.layer_norm_rms_epsilon"), &bad_f[2], 4, VKLLM_ERR_FORMAT,
              "rms_eps", NULL);
    bad_model("theta -1", &m, kv_value_off(&m, "llama.rope.freq_base"), &bad_f[1], 4, VKLLM_ERR_FORMAT,
              "rope_theta = -1 must be positive", NULL);
    bad_model("block_count as float", &m, kv_value_off(&m, "llama.block_count") - 4, &f32v, 4, VKLLM_ERR_FORMAT,
              "metadata key 'llama.block_count' is float32, expected an unsigned integer", NULL);
    const gguf_kv *bc = gguf_find(m.g, "llama.block_count");
    bad_model("block_count missing", &m, bc ? (uint64_t)(bc->key.s - (const char *)m.g->map.data) + 16 : 0, "X", 1,
              VKLLM_ERR_FORMAT, "metadata key 'llama.block_count' is missing", NULL);
    const gguf_kv *ar = gguf_find(m.g, "general.architecture");
    bad_model("architecture gemma", &m, ar ? (uint64_t)(ar->str.s - (const char *)m.g->map.data) : 0, "gemma", 5,
              VKLLM_ERR_UNSUPPORTED, "general.architecture 'gemma' is not supported", NULL);

    /* no output.weight: tied, like llama.cpp (not an error) */
    const gguf_tensor *out = gguf_find_tensor(m.g, "output.weight");
    uint8_t *c = malloc(m.n);
    memcpy(c, m.b, m.n);
    if (out) c[(const char *)out->name.s - (const char *)m.g->map.data + 3] = 'X';
    tu_write(g_path, c, m.n);
    free(c);
    model *md = NULL;
    CHECK(out && model_open(g_path, &md, err, sizeof err) == VKLLM_OK && md->tied_embeddings && md->output == md->tok_embd,
          "no output.weight -> tied: %s", err);
    model_close(md);
    gguf_close(m.g);
    free(m.b);
}

/* ---------------------------------------------------------------- many tensors */

/* A valid model behind many empty junk tensors: found by name however many
 * there are (a look-up is a binary search), and refused once more of them
 * than MODEL_MAX_EXTRA_TENSORS are not the model's. */
static void extra_tensors(const char *good)
{
    char err[512] = "";
    size_t n = 0;
    uint8_t *b = tu_gguf_with_extra(good, MODEL_MAX_EXTRA_TENSORS, "junk.", 0, 0, &n);
    CHECK(b && tu_write(g_path, b, n), "write %zu junk tensors", (size_t)MODEL_MAX_EXTRA_TENSORS);
    free(b);
    model *m = NULL;
    CHECK(model_open(g_path, &m, err, sizeof err) == VKLLM_OK && m->n_tensors == 2 + 9 * 2 + 1 &&
              m->gguf->n_tensors == m->n_tensors + MODEL_MAX_EXTRA_TENSORS,
          "%d extra tensors are allowed: %s", MODEL_MAX_EXTRA_TENSORS, err);
    if (m) { /* every tensor found by its name */
        const gguf_file *g = m->gguf;
        uint64_t wrong = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            char name[300];
            snprintf(name, sizeof name, "%.*s", (int)g->tensors[i].name.len, g->tensors[i].name.s);
            if (gguf_find_tensor(g, name) != &g->tensors[i]) wrong++;
        }
        CHECK(wrong == 0 && !gguf_find_tensor(g, "junk.99999") && !gguf_find_tensor(g, "") &&
                  !gguf_find_tensor(g, "junk."), "%llu of %llu tensors not found by name", (unsigned long long)wrong,
              (unsigned long long)g->n_tensors);
        for (uint64_t i = 0; i < g->n_kv; i++) {
            char key[300];
            snprintf(key, sizeof key, "%.*s", (int)g->kv[i].key.len, g->kv[i].key.s);
            CHECK(gguf_find(g, key) == &g->kv[i], "key '%s' not found", key);
        }
        CHECK(!gguf_find(g, "general.nothing"), "a missing key found");
    }
    model_close(m);
    b = tu_gguf_with_extra(good, MODEL_MAX_EXTRA_TENSORS + 1, "junk.", 0, 0, &n);
    CHECK(b && tu_write(g_path, b, n), "write junk tensors");
    free(b);
    char want[128];
    snprintf(want, sizeof want, "%d of them unused by this 2-layer llama model (at most %d extra tensors allowed)",
             MODEL_MAX_EXTRA_TENSORS + 1, MODEL_MAX_EXTRA_TENSORS);
    tu_expect("one junk tensor too many", model_open(g_path, &m, err, sizeof err), err, VKLLM_ERR_FORMAT, "bad.gguf",
              want, NULL);
    model_close(m);
    /* a junk tensor with data overlapping the model's */
    b = tu_gguf_with_extra(good, 1, "junk.", 8, 0, &n);
    CHECK(b && tu_write(g_path, b, n), "write junk tensor");
    free(b);
    tu_expect("junk tensor over the model's data", model_open(g_path, &m, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "bad.gguf: data of tensors", "overlap", NULL);
    model_close(m);
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : "tmp-gguf-bad";
    if (!tu_scratch(scratch)) {
        printf("FAIL cannot create %s\n", scratch);
        return 1;
    }
    g_path = tu_path(scratch, "bad.gguf");
    char *good = tu_path(scratch, "good.gguf");
    char err[512];
    gen_params p;
    gen_preset("tiny", &p); /* 2 layers, 64 wide, 4/2 heads, ff 96, vocab 512 */
    CHECK(gen_write_gguf(&p, good, err, sizeof err) == VKLLM_OK, "gen: %s", err);
    forged();
    truncations(good);
    bad_models(good);
    extra_tensors(good);
    free(good);
    free(g_path);
    tu_rmtree(scratch);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
