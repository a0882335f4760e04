/* A quick fuzz loop: random mutations of a small valid GGUF, safetensors file
 * and config.json, each opened as a model (and the GGUF also read through
 * every metadata getter). Must never crash, hang or leak (run under
 * ASan/UBSan by tools/test.sh); every failure must be a file error with a
 * message naming the file. Mutations aim at the header part, where counts,
 * lengths, offsets and types live: byte and bit flips, "interesting" 64-bit
 * values, digit changes in JSON, truncation.
 * usage: test_model_fuzz SCRATCH_DIR [ITERATIONS] */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "model/model.h"
#include "model_util.h"
#include "util/rng.h"

static int n_ok, n_err;

static void mutate(rng *r, uint8_t *b, size_t *n, size_t hot, int json)
{
    static const uint64_t interesting[] = { 0, 1, 2, 31, 32, 255, 0x7fffffff, 0xffffffff, 1ull << 32, 1ull << 62,
                                            1ull << 63, ~0ull, ~0ull - 31 };
    int k = 1 + (int)rng_below(r, 4);
    for (int i = 0; i < k && *n; i++) {
        size_t lim = hot < *n ? hot : *n;
        size_t pos = rng_below(r, 8) == 0 ? rng_below(r, (uint32_t)*n) : rng_below(r, (uint32_t)lim);
        switch (rng_below(r, json ? 5 : 4)) {
        case 0: b[pos] = (uint8_t)rng_next(r); break;
        case 1: b[pos] ^= (uint8_t)(1u << rng_below(r, 8)); break;
        case 2:
            if (pos + 8 <= *n) {
                uint64_t v = interesting[rng_below(r, sizeof interesting / sizeof interesting[0])];
                memcpy(b + pos, &v, rng_below(r, 2) ? 8 : 4);
            }
            break;
        case 3:
            if (rng_below(r, 4) == 0) *n = rng_below(r, (uint32_t)*n); /* truncate */
            else b[pos] = (uint8_t)"0123456789-.e\"{}[],:"[rng_below(r, 21)];
            break;
        default: /* JSON: change a digit into another */
            for (size_t p = pos; p < lim; p++)
                if (b[p] >= '0' && b[p] <= '9') {
                    b[p] = (uint8_t)('0' + rng_below(r, 10));
                    break;
                }
        }
    }
}

static void outcome(const char *what, vkllm_status st, const char *err, const char *file)
{
    if (st == VKLLM_OK) {
        n_ok++;
        return;
    }
    n_err++;
    CHECK((st == VKLLM_ERR_FORMAT || st == VKLLM_ERR_UNSUPPORTED || st == VKLLM_ERR_IO) && strstr(err, file),
          "%s: %d \"%s\"", what, st, err);
}

/* touches every tensor's first and last byte and every metadata value */
static unsigned walk(const model *m)
{
    unsigned x = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const uint8_t *p = m->tensors[i].data;
        if (m->tensors[i].n_bytes) x += p[0] + p[m->tensors[i].n_bytes - 1];
    }
    return x;
}

static unsigned walk_gguf(const gguf_file *g)
{
    unsigned x = 0;
    char err[256];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        char key[300];
        snprintf(key, sizeof key, "%.*s", (int)(g->kv[i].key.len < 299 ? g->kv[i].key.len : 299), g->kv[i].key.s);
        uint32_t u;
        int32_t s;
        uint64_t u64, n;
        float f, *fa = NULL;
        int32_t *ia = NULL;
        int b;
        gguf_str str;
        const gguf_str *strs;
        if (!gguf_get_u32(g, key, &u, err, sizeof err)) x += u;
        if (!gguf_get_i32(g, key, &s, err, sizeof err)) x += (unsigned)s;
        if (!gguf_get_u64(g, key, &u64, err, sizeof err)) x += (unsigned)u64;
        if (!gguf_get_f32(g, key, &f, err, sizeof err)) x += f > 0;
        if (!gguf_get_bool(g, key, &b, err, sizeof err)) x += (unsigned)b;
        if (!gguf_get_str(g, key, &str, err, sizeof err) && str.len) x += (uint8_t)str.s[str.len - 1];
        if (!gguf_get_arr_str(g, key, &strs, &n, err, sizeof err) && n && strs[n - 1].len)
            x += (uint8_t)strs[n - 1].s[strs[n - 1].len - 1];
        if (!gguf_get_arr_f32(g, key, &fa, &n, err, sizeof err) && n) x += fa[n - 1] > 0;
        if (!gguf_get_arr_i32(g, key, &ia, &n, err, sizeof err) && n) x += (unsigned)ia[n - 1];
        free(fa);
        free(ia);
    }
    return x;
}

/* ---------------------------------------------------------------- layouts */

/* Random tensor layouts, many with empty tensors among the others: a file is
 * accepted exactly when no two tensors share a byte (the oracle compares
 * every pair), and refused as an overlap otherwise. */
typedef struct span { uint64_t begin, bytes; } span;

static int any_overlap(const span *t, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (t[i].bytes && t[j].bytes && t[i].begin < t[j].begin + t[j].bytes && t[j].begin < t[i].begin + t[i].bytes)
                return 1;
    return 0;
}

static void random_spans(rng *r, span *t, int n, uint64_t unit, uint64_t max_units)
{
    for (int i = 0; i < n; i++) {
        t[i].begin = rng_below(r, (uint32_t)max_units) * unit;
        t[i].bytes = rng_below(r, 3) == 0 ? 0 : (1 + rng_below(r, 3)) * unit; /* a third empty */
    }
}

static void layouts(const char *scratch, int iters)
{
    rng r = { 99 };
    char err[512];
    char *gpath = tu_path(scratch, "layout.gguf"), *spath = tu_path(scratch, "layout.safetensors");
    int n_overlap = 0, n_clean = 0;
    for (int it = 0; it < iters; it++) {
        span t[6];
        int n = 2 + (int)rng_below(&r, 5);
        /* GGUF: F32 tensors of 0, 8, 16 or 24 elements at multiples of 32 bytes in a 320-byte data section */
        random_spans(&r, t, n, 32, 7);
        uint8_t b[2048];
        size_t o = 0;
        uint64_t v;
        uint32_t u;
#define PUT(p, len) (memcpy(b + o, (p), (len)), o += (len))
        PUT("GGUF", 4), u = 3, PUT(&u, 4), v = (uint64_t)n, PUT(&v, 8), v = 0, PUT(&v, 8);
        for (int i = 0; i < n; i++) {
            char name[8];
            snprintf(name, sizeof name, "t%d", i);
            v = strlen(name), PUT(&v, 8), PUT(name, strlen(name));
            u = 1, PUT(&u, 4), v = t[i].bytes / 4, PUT(&v, 8), u = 0, PUT(&u, 4), PUT(&t[i].begin, 8);
        }
        while (o % 32) b[o++] = 0;
        memset(b + o, 0, 320), o += 320;
#undef PUT
        tu_write(gpath, b, o);
        int want_overlap = any_overlap(t, n);
        gguf_file *g = NULL;
        vkllm_status st = gguf_open(gpath, &g, err, sizeof err);
        CHECK(want_overlap ? st == VKLLM_ERR_FORMAT && strstr(err, "overlap") : st == VKLLM_OK,
              "gguf layout %d (%d tensors, %s): %s", it, n, want_overlap ? "overlapping" : "clean", st ? err : "accepted");
        gguf_close(g);
        n_overlap += want_overlap, n_clean += !want_overlap;

        /* safetensors: F32 tensors of 0..3 elements at multiples of 4 bytes in 64 bytes of data */
        n = 2 + (int)rng_below(&r, 5);
        random_spans(&r, t, n, 4, 13);
        char h[1024];
        size_t hl = (size_t)snprintf(h, sizeof h, "{");
        for (int i = 0; i < n; i++)
            hl += (size_t)snprintf(h + hl, sizeof h - hl, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[%llu],"
                                   "\"data_offsets\":[%llu,%llu]}", i ? "," : "", i,
                                   (unsigned long long)(t[i].bytes / 4), (unsigned long long)t[i].begin,
                                   (unsigned long long)(t[i].begin + t[i].bytes));
        hl += (size_t)snprintf(h + hl, sizeof h - hl, "}");
        uint64_t hl64 = hl;
        o = 0;
        memcpy(b, &hl64, 8), o = 8;
        memcpy(b + o, h, hl), o += hl;
        memset(b + o, 0, 64), o += 64;
        tu_write(spath, b, o);
        want_overlap = any_overlap(t, n);
        st_file *f = NULL;
        st = st_open(spath, &f, err, sizeof err);
        CHECK(want_overlap ? st == VKLLM_ERR_FORMAT && strstr(err, "overlap") : st == VKLLM_OK,
              "safetensors layout %d (%d tensors, %s): %s", it, n, want_overlap ? "overlapping" : "clean",
              st ? err : "accepted");
        st_close(f);
        n_overlap += want_overlap, n_clean += !want_overlap;
    }
    printf("layouts: %d overlapping, %d clean\n", n_overlap, n_clean);
    CHECK(n_overlap > iters / 4 && n_clean > iters / 4, "the layouts should both overlap and not");
    free(gpath);
    free(spath);
}

/* Adds empty tensors to the safetensors header at the data offsets of others
 * (legal: they share no byte), so the mutations can move them around. */
static uint8_t *with_empty_tensors(const uint8_t *s0, size_t sn, size_t *out_n)
{
    uint64_t hl;
    memcpy(&hl, s0, 8);
    cJSON *h = cJSON_ParseWithLength((const char *)s0 + 8, (size_t)hl);
    int k = 0;
    const cJSON *e;
    char add[4][160];
    cJSON_ArrayForEach(e, h) {
        const cJSON *offs = cJSON_GetObjectItem(e, "data_offsets");
        if (!offs || k == 4) continue;
        double mid = (cJSON_GetArrayItem(offs, 0)->valuedouble + cJSON_GetArrayItem(offs, 1)->valuedouble) / 2;
        mid = (double)((uint64_t)mid & ~1ull);
        snprintf(add[k], sizeof add[k], "{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[%.0f,%.0f]}", mid, mid);
        k++;
    }
    for (int i = 0; i < k; i++) {
        char name[32];
        snprintf(name, sizeof name, "empty.%d", i);
        cJSON_AddItemToObject(h, name, cJSON_Parse(add[i]));
    }
    char *text = cJSON_PrintUnformatted(h);
    uint64_t nl = strlen(text);
    uint8_t *o = malloc(8 + nl + (sn - 8 - hl));
    memcpy(o, &nl, 8);
    memcpy(o + 8, text, nl);
    memcpy(o + 8 + nl, s0 + 8 + hl, sn - 8 - hl);
    *out_n = 8 + nl + (sn - 8 - hl);
    free(text);
    cJSON_Delete(h);
    return o;
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : "tmp-model-fuzz";
    int iters = argc > 3 ? atoi(argv[3]) : 1500;
    if (!tu_scratch(scratch)) {
        printf("FAIL cannot create %s\n", scratch);
        return 1;
    }
    gen_params p;
    gen_preset("tiny", &p);
    p.n_layer = 1, p.n_embd = 32, p.n_ff = 48, p.n_head = 2, p.n_head_kv = 1, p.n_vocab = 260, p.n_shards = 1;
    char err[512];
    char *good = tu_path(scratch, "good.gguf"), *hf = tu_path(scratch, "hf"), *bad = tu_path(scratch, "fuzz.gguf");
    char *st_path = tu_path(hf, "model.safetensors"), *cfg_path = tu_path(hf, "config.json");
    CHECK(gen_write_gguf(&p, good, err, sizeof err) == VKLLM_OK, "%s", err);
    CHECK(gen_write_hf(&p, hf, err, sizeof err) == VKLLM_OK, "%s", err);
    size_t gn, sn, cn;
    uint8_t *s_plain = tu_read(st_path, &sn), *c0 = tu_read(cfg_path, &cn);
    /* the good files hold empty tensors too, among the others' data (legal) */
    uint8_t *s0 = s_plain ? with_empty_tensors(s_plain, sn, &sn) : NULL;
    free(s_plain);
    uint8_t *g0 = tu_gguf_with_extra(good, 3, "empty.", 0, 64, &gn);
    CHECK(g0 && tu_write(good, g0, gn) && s0 && tu_write(st_path, s0, sn), "empty tensors added");
    {
        model *m = NULL;
        CHECK(model_open(good, &m, err, sizeof err) == VKLLM_OK, "good gguf with empty tensors: %s", err);
        model_close(m);
        CHECK(model_open(hf, &m, err, sizeof err) == VKLLM_OK, "good hf with empty tensors: %s", err);
        model_close(m);
    }
    uint8_t *buf = malloc(gn > sn ? gn : sn);
    gguf_file *gf = NULL;
    size_t g_hot = gn, s_hot = sn;
    if (gguf_open(good, &gf, err, sizeof err) == VKLLM_OK) g_hot = (size_t)gf->data_offset + 64;
    gguf_close(gf);
    uint64_t hl = 0;
    memcpy(&hl, s0, 8);
    s_hot = (size_t)hl + 8;
    rng r = { 20261127 };
    unsigned sink = 0;
    for (int it = 0; it < iters; it++) {
        size_t n = gn;
        memcpy(buf, g0, gn);
        mutate(&r, buf, &n, g_hot, 0);
        tu_write(bad, buf, n);
        model *m = NULL;
        vkllm_status st = model_open(bad, &m, err, sizeof err);
        outcome("gguf", st, err, "fuzz.gguf");
        if (m) sink += walk(m);
        model_close(m);
        gguf_file *g = NULL;
        if (gguf_open(bad, &g, err, sizeof err) == VKLLM_OK) sink += walk_gguf(g);
        gguf_close(g);
    }
    for (int it = 0; it < iters; it++) {
        size_t n = sn;
        memcpy(buf, s0, sn);
        mutate(&r, buf, &n, s_hot, 1);
        tu_write(st_path, buf, n);
        model *m = NULL;
        vkllm_status st = model_open(hf, &m, err, sizeof err);
        outcome("safetensors", st, err, "hf");
        if (m) sink += walk(m);
        model_close(m);
    }
    tu_write(st_path, s0, sn);
    uint8_t *cbuf = malloc(cn);
    for (int it = 0; it < iters / 4; it++) {
        size_t n = cn;
        memcpy(cbuf, c0, cn);
        mutate(&r, cbuf, &n, cn, 1);
        tu_write(cfg_path, cbuf, n);
        model *m = NULL;
        vkllm_status st = model_open(hf, &m, err, sizeof err);
        outcome("config", st, err, "hf");
        if (m) sink += walk(m);
        model_close(m);
    }
    layouts(scratch, iters / 3);
    printf("fuzz: %d opened, %d refused (checksum %u)\n", n_ok, n_err, sink);
    CHECK(n_ok > 0 && n_err > 0, "the mutations should both keep and break files");
    free(cbuf);
    free(buf);
    free(g0);
    free(s0);
    free(c0);
    free(good);
    free(hf);
    free(bad);
    free(st_path);
    free(cfg_path);
    tu_rmtree(scratch);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
