/* The reference dequantizer (src/model/quant.c) against llama.cpp itself:
 * every quantized tensor of the fixture files ../shared/fixtures/quant/
 * (written by llama-quantize) dequantized by our code must equal, bit for
 * bit, the F32 tensor llama.cpp wrote for it (fx256-TYPE.dequant-f32.gguf).
 * argv[1]: the fixture folder. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/quant.h"

static int failures;
#include "expect.h"

/* distance in units in the last place between two finite floats */
static uint64_t ulp_diff(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return (uint64_t)(la > lb ? la - lb : lb - la);
}

/* Compares every tensor of fx256-<name>.gguf with its dequant-f32 twin.
 * Returns the number of block-typed tensors compared. */
static int check_file(const char *dir, const char *name)
{
    char qpath[1024], fpath[1024], err[512];
    snprintf(qpath, sizeof qpath, "%s/fx256-%s.gguf", dir, name);
    snprintf(fpath, sizeof fpath, "%s/fx256-%s.dequant-f32.gguf", dir, name);
    gguf_file *q = NULL, *f = NULL;
    vkllm_status st = gguf_open(qpath, &q, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    if (st) return 0;
    st = gguf_open(fpath, &f, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    if (st) {
        gguf_close(q);
        return 0;
    }
    CHECK(q->n_tensors == f->n_tensors, "%s: %" PRIu64 " tensors, dequantized file %" PRIu64, name,
          q->n_tensors, f->n_tensors);
    int n_quant = 0;
    uint64_t n_weights = 0, n_diff = 0, worst_ulp = 0;
    for (uint64_t i = 0; i < q->n_tensors; i++) {
        const gguf_tensor *tq = &q->tensors[i];
        char tname[300];
        snprintf(tname, sizeof tname, "%.*s", (int)tq->name.len, tq->name.s);
        const gguf_tensor *tf = gguf_find_tensor(f, tname);
        CHECK(tf != NULL, "%s: %s missing in the dequantized file", name, tname);
        if (!tf) continue;
        CHECK(tf->type == GGML_TYPE_F32, "%s: %s is %s in the dequantized file", name, tname,
              ggml_type_name(tf->type));
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            CHECK(tq->ne[d] == tf->ne[d], "%s: %s dim %d differs", name, tname, d);
            n *= tq->ne[d];
        }
        if (tq->type == GGML_TYPE_F32) { /* norms stay F32: the same bytes */
            CHECK(tq->n_bytes == tf->n_bytes && !memcmp(tq->data, tf->data, tq->n_bytes), "%s: %s F32 differs",
                  name, tname);
            continue;
        }
        const quant_type *t = quant_type_of(tq->type);
        CHECK(t != NULL, "%s: %s has type %s, which the dequantizer lacks", name, tname, ggml_type_name(tq->type));
        if (!t) continue;
        CHECK(tq->ne[0] % t->block == 0 && quant_bytes(t, n) == tq->n_bytes, "%s: %s: %" PRIu64
              " bytes for %" PRIu64 " weights of %s", name, tname, tq->n_bytes, n, t->name);
        float *y = malloc(n * sizeof *y);
        if (!y) abort();
        for (uint64_t k = 0; k < n; k++) y[k] = NAN; /* poison */
        quant_dequantize(t, tq->data, y, n / t->block);
        const float *want = tf->data;
        uint64_t first = UINT64_MAX, diff = 0;
        for (uint64_t k = 0; k < n; k++) {
            if (memcmp(&y[k], &want[k], 4) == 0) continue;
            if (first == UINT64_MAX) first = k;
            diff++;
            uint64_t u = isfinite(y[k]) ? ulp_diff(y[k], want[k]) : UINT64_MAX;
            if (u > worst_ulp) worst_ulp = u;
        }
        CHECK(diff == 0, "%s: %s (%s): %" PRIu64 " of %" PRIu64 " values differ, first [%" PRIu64 "] %.9g want %.9g",
              name, tname, t->name, diff, n, first, diff ? y[first] : 0.0, diff ? want[first] : 0.0);
        n_diff += diff;
        n_weights += n;
        n_quant++;
        free(y);
    }
    printf("%-7s %d block tensors, %" PRIu64 " weights, %" PRIu64 " differ (worst %" PRIu64 " ulp)\n", name,
           n_quant, n_weights, n_diff, worst_ulp);
    gguf_close(q);
    gguf_close(f);
    return n_quant;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_quant_ref FIXTURE_DIR\n");
        return 2;
    }
    static const char *const files[] = { "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",   "Q3_K",
                                         "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "Q4_K_M" };
    for (unsigned i = 0; i < sizeof files / sizeof files[0]; i++)
        CHECK(check_file(argv[1], files[i]) > 0, "%s: no block tensor compared", files[i]);

    /* the table itself */
    CHECK(quant_type_of(0) == NULL && quant_type_of(1) == NULL && quant_type_of(30) == NULL,
          "F32/F16/BF16 are not block types");
    CHECK(quant_type_of(9) == NULL && quant_type_of(15) == NULL, "Q8_1 / Q8_K (activation types) are not weights");
    const quant_type *k4 = quant_type_of(QTYPE_Q4_K);
    CHECK(k4 && quant_bytes(k4, 4096) == 16 * 144 && quant_bytes(k4, 4000) == 0, "Q4_K sizes");
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures != 0;
}
