/* The quantizer: fp32 weights into ggml's blocks (see quant.h for the
 * layouts). The algorithms are the formats' reference ones, so our files are
 * as good as llama-quantize's (no importance matrix):
 *   - blocks of 32: the scale from the extreme value (Q8_0, Q4_0, Q5_0) or
 *     from min and max (Q4_1, Q5_1);
 *   - K-quants: per sub-block a least-squares search over candidate scales
 *     (fit_scale_min_lanes for the types with a minimum,
 *     fit_scale_signed_lanes / fit_scale_signed_iter_lanes for the symmetric
 *     ones),
 *     then the sub-block scales themselves quantized against the block's
 *     largest, and every weight re-rounded with the scales as they will be
 *     read back;
 *   - IQ4: a search over scales for the non-uniform table.
 * One deliberate difference from llama.cpp: Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 round
 * the weights against the scale (and minimum) as stored in fp16, not the
 * unrounded fp32 one, since those are the values a reader multiplies by.
 * The packers are the inverse of quant.c's element formulas; test_quantize
 * checks the round trip and the error against llama-quantize's files.
 *
 * Speed: the block code (quantize_blocks.h) is built more than once:
 * portable with 4 groups per vector, and on x86 with AVX2 and 8
 * (quantize_avx2.c) and AVX-512 and 16 (quantize_avx512.c); quant_quantize
 * takes the widest the CPU runs. All give the same bytes (test_quantize
 * compares them). */

#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "model/quant.h"

/* the builds (quantize_blocks.h with QZ_QUANTIZE / QZ_F16 these names) */
void quant_quantize_portable(const quant_type *t, int fast, const float *src, void *dst, uint64_t n_blocks);
int quant_f16_to_f32_portable(const void *src, float *dst, uint64_t n);
void quant_quantize_avx2(const quant_type *t, int fast, const float *src, void *dst, uint64_t n_blocks);
int quant_f16_to_f32_avx2(const void *src, float *dst, uint64_t n);
void quant_quantize_avx512(const quant_type *t, int fast, const float *src, void *dst, uint64_t n_blocks);
int quant_f16_to_f32_avx512(const void *src, float *dst, uint64_t n);

#define QZ_LANES 4
#define QZ_QUANTIZE quant_quantize_portable
#define QZ_F16 quant_f16_to_f32_portable
#include "model/quantize_blocks.h"

static const quant_build builds[] = { /* fastest first */
#if VKLLM_QUANTIZE_AVX512
    { "avx512", quant_quantize_avx512, quant_f16_to_f32_avx512 },
#endif
#if VKLLM_QUANTIZE_AVX2
    { "avx2", quant_quantize_avx2, quant_f16_to_f32_avx2 },
#endif
    { "portable", quant_quantize_portable, quant_f16_to_f32_portable },
};

#if VKLLM_QUANTIZE_AVX2 || VKLLM_QUANTIZE_AVX512
#include <cpuid.h>
static int has_f16c(void) /* CPUID 1, ECX bit 29 (every AVX2 CPU so far; both builds use it) */
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

/* whether this CPU (and its OS) runs build b: the instruction sets its file is compiled with */
static int runs(const quant_build *b)
{
#if VKLLM_QUANTIZE_AVX512
    if (b->quantize == quant_quantize_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && has_f16c();
#endif
#if VKLLM_QUANTIZE_AVX2
    if (b->quantize == quant_quantize_avx2) return __builtin_cpu_supports("avx2") && has_f16c();
#endif
    return b->quantize == quant_quantize_portable;
}

unsigned quant_builds(const quant_build **out, unsigned max)
{
    unsigned n = 0;
    for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++)
        if (n < max && runs(&builds[i])) out[n++] = &builds[i];
    return n;
}

/* the fastest build this CPU runs, found once (CPUID is slow: a VM exit in a virtual machine) */
static const quant_build *best(void)
{
    static _Atomic(const quant_build *) chosen;
    const quant_build *b = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!b) {
        b = &builds[sizeof builds / sizeof builds[0] - 1];
        quant_builds(&b, 1);
        atomic_store_explicit(&chosen, b, memory_order_relaxed); /* any thread finds the same one */
    }
    return b;
}

void quant_quantize(const quant_type *t, const float *src, void *dst, uint64_t n_blocks)
{
    best()->quantize(t, 0, src, dst, n_blocks);
}

void quant_quantize_as(const quant_type *t, quant_search search, const float *src, void *dst, uint64_t n_blocks)
{
    best()->quantize(t, search == QUANT_SEARCH_FAST, src, dst, n_blocks);
}

int quant_f16_to_f32(const void *src, float *dst, uint64_t n) { return best()->f16_to_f32(src, dst, n); }

int quant_all_finite(const float *x, uint64_t n)
{
    /* the largest magnitude's bits, 16 at a time (a reduction -O2 leaves scalar when written as a loop of isfinite) */
    typedef uint32_t v4u __attribute__((vector_size(16)));
    v4u m[4] = { { 0 } };
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            v4u u;
            memcpy(&u, x + i + 4 * k, sizeof u);
            u &= 0x7fffffffu;
            v4u gt = (v4u)(u > m[k]);
            m[k] = (u & gt) | (m[k] & ~gt);
        }
    uint32_t top = 0;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++) top = m[k][j] > top ? m[k][j] : top;
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        u &= 0x7fffffffu;
        top = u > top ? u : top;
    }
    return top < 0x7f800000u; /* below the exponent of Inf and NaN */
}

int quant_type_searched(uint32_t type)
{
    return type == QTYPE_Q2_K || type == QTYPE_Q3_K || type == QTYPE_Q4_K || type == QTYPE_Q5_K ||
           type == QTYPE_Q6_K || type == QTYPE_IQ4_NL || type == QTYPE_IQ4_XS;
}

int quant_search_parse(const char *name, quant_search *out)
{
    if (name && !strcasecmp(name, "exact")) *out = QUANT_SEARCH_EXACT;
    else if (name && !strcasecmp(name, "fast")) *out = QUANT_SEARCH_FAST;
    else return 0;
    return 1;
}
