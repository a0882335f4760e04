/* The quantizer (src/model/quantize.c):
 *  1. against llama-quantize: each weight matrix of the fixture model
 *     fx256-f16.gguf quantized by us to each type has an RMS error
 *     (dequantize(quantize(W)) - W) within 5 % of llama-quantize's own on
 *     the same weights (its fx256-TYPE.dequant-f32.gguf);
 *  2. bounds from the formats on random data: blocks of 32 round each
 *     weight to within half a step of the stored scale; every type keeps
 *     zero blocks zero and constant blocks close, never gives a non-finite
 *     value, and its RMS error stays under a per-type fraction of the data's.
 * argv[1]: the fixture folder. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/quant.h"
#include "util/half.h"
#include "util/rng.h"

static int failures;
#include "expect.h"

/* standard normal (Box-Muller) */
static float normal(rng *r)
{
    float u = rng_uniform(r, 1e-7f, 1.0f), v = rng_uniform(r, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static double rms_diff(const float *a, const float *b, uint64_t n)
{
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

/* quantize (with search s) + dequantize n weights (a whole number of blocks) */
static float *round_trip_as(const quant_type *t, quant_search s, const float *x, uint64_t n)
{
    uint8_t *q = malloc(quant_bytes(t, n));
    float *y = malloc(n * sizeof *y);
    if (!q || !y) abort();
    quant_quantize_as(t, s, x, q, n / t->block);
    for (uint64_t i = 0; i < n; i++) y[i] = NAN;
    quant_dequantize(t, q, y, n / t->block);
    free(q);
    return y;
}

static const struct { const char *file; uint32_t type; double rms_frac; } types[] = {
    /* rms_frac: bound on RMS(error) / RMS(data) for the Gaussian data with
     * outliers of bounds(): about 1.25x what the reference algorithms reach */
    { "Q8_0", QTYPE_Q8_0, 0.0125 }, { "Q4_0", QTYPE_Q4_0, 0.19 },   { "Q4_1", QTYPE_Q4_1, 0.13 },
    { "Q5_0", QTYPE_Q5_0, 0.10 },   { "Q5_1", QTYPE_Q5_1, 0.065 },  { "Q2_K", QTYPE_Q2_K, 0.45 },
    { "Q3_K", QTYPE_Q3_K, 0.26 },   { "Q4_K", QTYPE_Q4_K, 0.12 },   { "Q5_K", QTYPE_Q5_K, 0.065 },
    { "Q6_K", QTYPE_Q6_K, 0.036 },  { "IQ4_NL", QTYPE_IQ4_NL, 0.15 }, { "IQ4_XS", QTYPE_IQ4_XS, 0.14 },
};
#define N_TYPES (sizeof types / sizeof types[0])
/* the fast search's RMS error against the exact one's, per tensor: at most
 * this much larger (measured: <= 1.009 on the fixture's and Gaussian,
 * Laplace and Student-t weights) */
#define FAST_VS_EXACT 1.02
static quant_search search; /* of round_trip: the part of the test running */
static float *round_trip(const quant_type *t, const float *x, uint64_t n) { return round_trip_as(t, search, x, n); }
/* types whose blocks come from a search (the rest: the same either way) */
static int searched(uint32_t type)
{
    return type == QTYPE_Q2_K || type == QTYPE_Q3_K || type == QTYPE_Q4_K || type == QTYPE_Q5_K ||
           type == QTYPE_Q6_K || type == QTYPE_IQ4_NL || type == QTYPE_IQ4_XS;
}

/* 1: our error against llama-quantize's on the fixture weights, with either search */
static void against_llama(const char *dir, unsigned ti)
{
    const quant_type *t = quant_type_of(types[ti].type);
    char path[1024], err[512];
    gguf_file *src = NULL, *ref = NULL, *qf = NULL;
    snprintf(path, sizeof path, "%s/fx256-f16.gguf", dir);
    vkllm_status st = gguf_open(path, &src, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/fx256-%s.dequant-f32.gguf", dir, types[ti].file);
    if (!st) st = gguf_open(path, &ref, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/fx256-%s.gguf", dir, types[ti].file);
    if (!st) st = gguf_open(path, &qf, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    double worst = 0, worst_fast = 0;
    int n_cmp = 0;
    for (uint64_t i = 0; !st && i < src->n_tensors; i++) {
        const gguf_tensor *ts = &src->tensors[i];
        if (ts->type != GGML_TYPE_F16) continue;
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)ts->name.len, ts->name.s);
        const gguf_tensor *tr = gguf_find_tensor(ref, name), *tq = gguf_find_tensor(qf, name);
        CHECK(tr && tq && tq->type == t->id, "%s: %s missing or of another type", types[ti].file, name);
        if (!tr || !tq || tq->type != t->id) continue;
        uint64_t n = ts->n_bytes / 2;
        float *x = malloc(n * sizeof *x);
        if (!x) abort();
        for (uint64_t k = 0; k < n; k++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)ts->data + 2 * k, 2);
            x[k] = half_to_float(h);
        }
        float *y = round_trip_as(t, QUANT_SEARCH_EXACT, x, n), *yf = round_trip_as(t, QUANT_SEARCH_FAST, x, n);
        double ours = rms_diff(y, x, n), theirs = rms_diff(tr->data, x, n), fast = rms_diff(yf, x, n);
        CHECK(ours <= theirs * 1.05, "%s: %s: our RMS error %.6g, llama-quantize's %.6g (%.2f%%)", types[ti].file,
              name, ours, theirs, 100 * (ours / theirs - 1));
        CHECK(fast <= theirs * 1.05 && fast <= ours * FAST_VS_EXACT,
              "%s: %s: the fast search's RMS error %.6g, exact %.6g, llama-quantize's %.6g", types[ti].file, name,
              fast, ours, theirs);
        CHECK(!searched(t->id) || memcmp(y, yf, n * sizeof *y) != 0, "%s: %s: the fast search gave the exact blocks",
              types[ti].file, name);
        if (ours / theirs > worst) worst = ours / theirs;
        if (fast / theirs > worst_fast) worst_fast = fast / theirs;
        n_cmp++;
        free(x);
        free(y);
        free(yf);
    }
    CHECK(n_cmp > 0, "%s: no tensor compared", types[ti].file);
    printf("%-7s %d tensors: our RMS error / llama-quantize's <= %.4f (fast search: %.4f)\n", types[ti].file, n_cmp,
           worst, worst_fast);
    gguf_close(src);
    gguf_close(ref);
    gguf_close(qf);
}

/* 2: the formats' own bounds on random data */
static void bounds(unsigned ti, rng *r)
{
    const quant_type *t = quant_type_of(types[ti].type);
    enum { N = 256 * 40 };
    static float x[N];
    /* Gaussian data in bands of 1024 at scales 1e-2 .. 3e2 (scales stay
     * normal fp16 numbers), every 97th value an 8x outlier */
    for (int i = 0; i < N; i++) {
        float scale = powf(10.0f, (float)(i / 1024) * 0.5f - 2.0f);
        x[i] = scale * normal(r) * (i % 97 == 0 ? 8.0f : 1.0f);
    }
    float *y = round_trip(t, x, N);
    int nonfinite = 0;
    double worst_frac = 0;
    for (int i = 0; i < N; i++) nonfinite += !isfinite(y[i]);
    CHECK(nonfinite == 0, "%s: %d non-finite values", t->name, nonfinite);
    for (int s = 0; s < N; s += 1024) { /* per scale band */
        double e = rms_diff(y + s, x + s, 1024), d = 0;
        for (int i = s; i < s + 1024; i++) d += (double)x[i] * x[i];
        d = sqrt(d / 1024);
        if (e / d > worst_frac) worst_frac = e / d;
    }
    CHECK(worst_frac <= types[ti].rms_frac, "%s: RMS error %.4f of the data's, bound %.2f", t->name, worst_frac,
          types[ti].rms_frac);
    /* blocks of 32: each weight within half a step of the stored scale (plus
     * fp16 rounding of the scale and minimum), or, where it lies beyond the
     * last code (Q4_0/Q5_0 reach -8d but only +7d), within one step */
    if (t->block == 32 && t->id != QTYPE_IQ4_NL) {
        uint8_t *q = malloc(quant_bytes(t, N));
        if (!q) abort();
        quant_quantize_as(t, search, x, q, N / 32);
        int bad = 0, has_min = t->id == QTYPE_Q4_1 || t->id == QTYPE_Q5_1;
        int half = t->id == QTYPE_Q8_0 ? 0 : t->id == QTYPE_Q4_0 ? 8 : 16;
        int top = t->id == QTYPE_Q8_0 ? 127 : t->id == QTYPE_Q4_0 || t->id == QTYPE_Q4_1 ? 15 : 31;
        for (int blk = 0; blk < N / 32; blk++) {
            const uint8_t *b = q + (size_t)blk * t->block_bytes;
            float d = half_to_float((uint16_t)(b[0] | b[1] << 8));
            float m = has_min ? half_to_float((uint16_t)(b[2] | b[3] << 8)) : 0;
            float lo = has_min ? m : -(float)half * d, hi = has_min ? m + (float)top * d : (float)(top - half) * d;
            if (t->id == QTYPE_Q8_0) lo = -127 * d;
            if (lo > hi) { float tmp = lo; lo = hi; hi = tmp; }
            for (int e = 0; e < 32; e++) {
                float xv = x[32 * blk + e], err = fabsf(y[32 * blk + e] - xv);
                float steps = xv >= lo && xv <= hi ? 0.5f : 1.0f;
                if (err > steps * fabsf(d) * 1.002f + 1e-3f * fabsf(xv) + 1e-12f) bad++;
            }
        }
        CHECK(bad == 0, "%s: %d weights further than half a step from their value", t->name, bad);
        free(q);
    }
    free(y);
    /* tiny and huge weights (subnormal fp16 scales, near fp16's top): finite */
    for (int i = 0; i < N; i++) x[i] = (i < N / 2 ? 1e-7f : 3000.0f) * normal(r);
    y = round_trip(t, x, N);
    nonfinite = 0;
    for (int i = 0; i < N; i++) nonfinite += !isfinite(y[i]);
    CHECK(nonfinite == 0, "%s: %d non-finite values from tiny or huge weights", t->name, nonfinite);
    free(y);
    /* a zero block stays zero; a constant block stays close */
    float z[256] = { 0 }, c[256];
    for (int i = 0; i < 256; i++) c[i] = 0.37f;
    float *yz = round_trip(t, z, 256), *yc = round_trip(t, c, 256);
    int zbad = 0, cbad = 0;
    for (int i = 0; i < 256; i++) {
        zbad += yz[i] != 0;
        cbad += !(fabsf(yc[i] - 0.37f) <= 0.37f * 0.06f);
    }
    CHECK(zbad == 0, "%s: %d values of a zero block not zero", t->name, zbad);
    CHECK(cbad == 0, "%s: %d values of a constant block off by > 6%%", t->name, cbad);
    free(yz);
    free(yc);
    printf("%-7s random data (%s search): RMS error <= %.4f of the data's\n", t->name,
           search == QUANT_SEARCH_FAST ? "fast" : "exact", worst_frac);
}

/* 3. every build of the quantizer (quantize_blocks.h: portable, and AVX2
 * where this CPU has it, which quant_quantize takes) gives the same bytes,
 * on data that reaches their odd corners: zeros, constants, subnormal-small
 * and fp16-huge weights, groups of tiny weights with one huge one (Q3_K's
 * rounding leaves the vector range there), Gaussian bands; and block
 * counts that leave the wide builds partly filled. The same for fp16 -> fp32
 * on every half value. */
static void builds_agree(rng *r)
{
    enum { NB = 61 }; /* blocks of 256: odd, so the wide builds' last batch is partial */
    static float x[256 * NB];
    for (int i = 0; i < 256 * NB; i++) {
        int blk = i / 256;
        float u = rng_uniform(r, -0.5f, 0.5f);
        switch (blk % 7) {
        case 0: x[i] = 0; break;
        case 1: x[i] = 0.37f; break;
        case 2: x[i] = u * 1e-7f; break;
        case 3: x[i] = u * 60000; break;
        case 4: x[i] = i % 41 == 0 ? 65504 * u : 6e-8f * u; break;
        default: x[i] = normal(r) * powf(10.0f, (float)(blk % 9) - 4); break;
        }
    }
    const quant_build *bs[8];
    unsigned n_builds = quant_builds(bs, 8);
    const quant_build *ref = bs[n_builds - 1];
    CHECK(n_builds >= 1 && strcmp(ref->name, "portable") == 0, "the last build is the portable one (%s)", ref->name);
    for (int fast = 0; fast < 2; fast++)
    for (unsigned bi = 0; bi + 1 < n_builds; bi++)
        for (unsigned ti = 0; ti < N_TYPES; ti++) {
            const quant_type *t = quant_type_of(types[ti].type);
            for (uint64_t nb = 1; nb <= 256 * NB / t->block; nb += nb < 20 ? 1 : 97) {
                size_t bytes = (size_t)quant_bytes(t, nb * t->block);
                uint8_t *a = malloc(bytes), *b = malloc(bytes);
                if (!a || !b) abort();
                memset(a, 0x55, bytes);
                memset(b, 0xAA, bytes);
                bs[bi]->quantize(t, fast, x + 256 * NB - nb * t->block, a, nb);
                ref->quantize(t, fast, x + 256 * NB - nb * t->block, b, nb);
                int same = memcmp(a, b, bytes) == 0;
                free(a);
                free(b);
                CHECK(same, "%s: %" PRIu64 " blocks (%s search): the %s and portable builds differ", t->name, nb,
                      fast ? "fast" : "exact", bs[bi]->name);
                if (!same) break;
            }
        }
    static uint16_t h[65536 + 7];
    static float fa[65536 + 7];
    for (uint32_t i = 0; i < 65536 + 7; i++) h[i] = (uint16_t)(i * 40503u);
    int bad = 0;
    for (unsigned bi = 0; bi < n_builds; bi++) {
        bs[bi]->f16_to_f32(h, fa, 65536 + 7);
        for (uint32_t i = 0; i < 65536 + 7; i++) {
            float want = half_to_float(h[i]);
            bad += memcmp(&fa[i], &want, 4) != 0;
        }
    }
    CHECK(bad == 0, "fp16 -> fp32: %d values differ from half_to_float", bad);
    /* its answer to "all finite?": a finite run, then one Inf or NaN at each place of it */
    for (unsigned bi = 0; bi < n_builds; bi++) {
        enum { NF = 77 };
        uint16_t f[NF];
        for (int i = 0; i < NF; i++) f[i] = (uint16_t)((i * 977u) % 0x7c00u) | (uint16_t)(i % 2 << 15); /* finite */
        int wrong = bs[bi]->f16_to_f32(f, fa, NF) != 1;
        for (int at = 0; at < NF; at++) {
            uint16_t keep = f[at];
            f[at] = at % 3 == 0 ? 0x7c00 : at % 3 == 1 ? 0xfe01 : 0x7d00; /* Inf, NaN, signalling NaN */
            wrong += bs[bi]->f16_to_f32(f, fa, NF) != 0;
            f[at] = keep;
        }
        CHECK(wrong == 0, "fp16 -> fp32 (%s): %d wrong answers to 'all finite'", bs[bi]->name, wrong);
    }
    printf("quantizer builds agree:");
    for (unsigned bi = 0; bi < n_builds; bi++) printf(" %s", bs[bi]->name);
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_quantize FIXTURE_DIR\n");
        return 2;
    }
    rng r = { 12345 };
    for (unsigned i = 0; i < N_TYPES; i++) {
        CHECK(quant_type_of(types[i].type) != NULL, "type %s", types[i].file);
        if (!quant_type_of(types[i].type)) continue;
        against_llama(argv[1], i);
        search = QUANT_SEARCH_EXACT;
        bounds(i, &r);
        search = QUANT_SEARCH_FAST;
        bounds(i, &r);
    }
    builds_agree(&r);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures != 0;
}
