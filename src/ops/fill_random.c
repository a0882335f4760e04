#include "fill_random.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "model/quant.h"
#include "push.h"
#include "util/half.h"

#define FILL_WG 256 /* invocations per workgroup; two elements each */

vkllm_status op_fill_random(gpu_rec *rec, gpu_tensor *t, uint64_t n, uint32_t seed, float scale)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n * 2 > gpu_tensor_bytes(t) || n >= (1ull << 32))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "fill_random: %llu elements exceed the tensor or 2^32",
                        (unsigned long long)n);
    gpu_pipeline_desc d = {
        .shader = "fill_random", .n_buffers = FILL_RANDOM_N_BINDINGS, .push_bytes = sizeof(fill_random_push),
        .n_spec = FILL_RANDOM_N_SPEC, .spec = { [FILL_RANDOM_SPEC_WG] = FILL_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    for (uint32_t c = 0; c < gpu_tensor_n_chunks(t); c++) {
        uint64_t first = gpu_tensor_chunk_offset(t, c) / 2;
        if (first >= n) break;
        if (gpu_tensor_chunk_offset(t, c) % 2)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "fill_random: chunk %u starts inside an element", c);
        uint64_t count = gpu_tensor_chunk_bytes(t, c) / 2;
        if (count > n - first) count = n - first;
        fill_random_push pc = { .n = (uint32_t)count, .offset = (uint32_t)first, .seed = seed, .scale = scale };
        gpu_binding b[FILL_RANDOM_N_BINDINGS] = { [FILL_RANDOM_BIND_DST] = gpu_bind_chunk(t, c) };
        uint64_t groups = ((count + 1) / 2 + FILL_WG - 1) / FILL_WG;
        uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
        gpu_dispatch(rec, p, b, FILL_RANDOM_N_BINDINGS, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "fill_random");
    }
    return gpu_rec_status(rec);
}

static uint32_t hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint16_t ref_fill_random(uint64_t i, uint32_t seed, float scale)
{
    uint32_t h = hash((uint32_t)i * 0x9e3779b9u ^ hash(seed));
    float u = (float)(h >> 8) * (1.0f / 8388608.0f) - 1.0f;
    return float_to_half(u * scale);
}

typedef struct fill_random_args {
    uint64_t n;
    uint32_t seed;
    float scale;
} fill_random_args;

static void record_fill_random(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const fill_random_args *a = arg;
    op_fill_random(rec, b[0].t, a->n, a->seed, a->scale);
}

vkllm_status check_fill_random(gpu_ctx *ctx, uint64_t n, uint32_t seed, float scale, vkllm_check_result *out)
{
    check_begin(out, "fill_random", "%llu x fp16, scale %g", (unsigned long long)n, scale);
    check_host h = { 0 };
    uint16_t *want = check_alloc(&h, n * 2 + 2), *got = check_alloc(&h, n * 2 + 2);
    vkllm_status s = check_host_status(ctx, &h, "check_fill_random");
    if (s == VKLLM_OK) {
        for (uint64_t i = 0; i < n; i++) want[i] = ref_fill_random(i, seed, scale);
        want[n] = 0x7e00; /* the element after the end keeps its poison (a half NaN) */
        check_buf b[1] = { { .bytes = n * 2 + 2, .granule = 2, .got = got, .poison = 0x7e007e00u } };
        s = check_drive(ctx, b, 1, record_fill_random, &(fill_random_args){ n, seed, scale }, out);
    }
    if (s == VKLLM_OK) compare_bits(got, want, n + 1, 2, "dst", out);
    check_host_free(&h);
    return s;
}

/* ------------------------------------------------------------ quantized blocks */

/* Where each block type keeps its fp16 scales (d, and dmin or m; -1: none),
 * and the second field's value per unit of d that makes the weights' mean
 * about zero on random codes: Q4_1/Q5_1 w = c d + m, c uniform in 0..15 or
 * 0..31 (m = -7.5 d, -15.5 d); Q2_K/Q4_K/Q5_K w = d sc c - dmin mn with sc
 * and mn alike (dmin = mean(c) d). */
static void block_fields(uint32_t qtype, int *d, int *m, float *ratio)
{
    *m = -1;
    *ratio = 0;
    switch (qtype) {
    case QTYPE_Q2_K: *d = 80, *m = 82, *ratio = 1.5f; break;
    case QTYPE_Q3_K: *d = 108; break;
    case QTYPE_Q6_K: *d = 208; break;
    case QTYPE_Q4_1: *d = 0, *m = 2, *ratio = -7.5f; break;
    case QTYPE_Q5_1: *d = 0, *m = 2, *ratio = -15.5f; break;
    case QTYPE_Q4_K: *d = 0, *m = 2, *ratio = 7.5f; break;
    case QTYPE_Q5_K: *d = 0, *m = 2, *ratio = 15.5f; break;
    default: *d = 0; break; /* Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS */
    }
}

uint8_t ref_fill_blocks(uint64_t g, const fill_blocks_push *pc)
{
    uint32_t r = hash((uint32_t)(g >> 2) * 0x9e3779b9u ^ hash(pc->seed)), o = (uint32_t)(g % pc->block_bytes);
    uint32_t byte = (r >> (8 * (g & 3))) & 0xff;
    if (o - pc->d_off < 2u) byte = (pc->dm >> (8 * (o - pc->d_off))) & 0xff;
    else if (o - pc->m_off < 2u) byte = (pc->dm >> (16 + 8 * (o - pc->m_off))) & 0xff;
    return g >= pc->n_bytes ? 0 : (uint8_t)byte;
}

/* The fields for blocks of t whose weights have root mean square rms: the
 * random codes' rms with d = 1 measured on 64 blocks (the reference
 * dequantizer), then d (and dmin or m with it) scaled to give rms. */
static fill_blocks_push blocks_push(const quant_type *t, uint32_t seed, float rms, uint64_t n_bytes)
{
    int od, om;
    float ratio;
    block_fields(t->id, &od, &om, &ratio);
    fill_blocks_push pc = { .n_bytes = (uint32_t)n_bytes, .seed = seed, .block_bytes = t->block_bytes,
                            .d_off = (uint32_t)od, .m_off = om < 0 ? 0xffffffffu : (uint32_t)om,
                            .dm = 0x3c00u | (uint32_t)float_to_half(ratio) << 16 };
    enum { N_CAL = 64 };
    uint8_t blocks[N_CAL * 210];
    float w[N_CAL * 256];
    fill_blocks_push cal = pc;
    cal.n_bytes = N_CAL * t->block_bytes;
    for (uint32_t i = 0; i < cal.n_bytes; i++) blocks[i] = ref_fill_blocks(i, &cal);
    quant_dequantize(t, blocks, w, N_CAL);
    double ss = 0;
    for (uint32_t i = 0; i < N_CAL * t->block; i++) ss += (double)w[i] * w[i];
    const float d = rms / (float)sqrt(ss / (N_CAL * t->block));
    pc.dm = (uint32_t)float_to_half(d) | (uint32_t)float_to_half(ratio * d) << 16;
    return pc;
}

vkllm_status op_fill_blocks(gpu_rec *rec, gpu_tensor *t, uint32_t qtype, uint64_t n_bytes, uint32_t seed, float rms)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    const quant_type *qt = quant_type_of(qtype);
    if (!qt || n_bytes > gpu_tensor_bytes(t) || gpu_tensor_bytes(t) >= (1ull << 32) || n_bytes % qt->block_bytes)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                            "fill_blocks: %llu bytes of type %u: not whole blocks, past the tensor or over 4 GiB",
                            (unsigned long long)n_bytes, qtype);
    gpu_pipeline_desc d = {
        .shader = "fill_blocks", .n_buffers = FILL_BLOCKS_N_BINDINGS, .push_bytes = sizeof(fill_blocks_push),
        .n_spec = FILL_BLOCKS_N_SPEC, .spec = { [FILL_BLOCKS_SPEC_WG] = FILL_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    fill_blocks_push pc = blocks_push(qt, seed, rms, n_bytes);
    for (uint32_t c = 0; c < gpu_tensor_n_chunks(t); c++) {
        const uint64_t off = gpu_tensor_chunk_offset(t, c), bytes = gpu_tensor_chunk_bytes(t, c);
        if (off % 4 || bytes % 4)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "fill_blocks: chunk %u is not whole words", c);
        pc.offset = (uint32_t)off;
        pc.n_words = (uint32_t)(bytes / 4);
        gpu_binding b[FILL_BLOCKS_N_BINDINGS] = { [FILL_BLOCKS_BIND_DST] = gpu_bind_chunk(t, c) };
        uint64_t groups = (pc.n_words + FILL_WG - 1) / FILL_WG;
        uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
        gpu_dispatch(rec, p, b, FILL_BLOCKS_N_BINDINGS, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "fill_blocks");
    }
    return gpu_rec_status(rec);
}

typedef struct fill_blocks_args {
    uint32_t qtype, seed;
    uint64_t n_bytes;
} fill_blocks_args;

static void record_fill_blocks(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const fill_blocks_args *a = arg;
    op_fill_blocks(rec, b[0].t, a->qtype, a->n_bytes, a->seed, 0.02f);
}

vkllm_status check_fill_blocks(gpu_ctx *ctx, uint32_t qtype, uint32_t rows, uint32_t cols, uint32_t seed,
                               vkllm_check_result *out)
{
    const quant_type *t = quant_type_of(qtype);
    check_begin(out, "fill_blocks", "%s %u x %u", t ? t->name : "?", rows, cols);
    if (!t || cols % t->block)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_fill_blocks: type %u with rows of %u", qtype, cols);
    const uint64_t row = quant_bytes(t, cols), n_bytes = row * rows, bytes = (n_bytes + 15) / 16 * 16;
    uint64_t gran = row;
    while (gran % 16) gran += row;
    check_host h = { 0 };
    uint8_t *want = check_alloc(&h, bytes), *got = check_alloc(&h, bytes);
    float *wf = check_alloc(&h, (size_t)rows * cols * 4);
    vkllm_status s = check_host_status(ctx, &h, "check_fill_blocks");
    if (s == VKLLM_OK) {
        fill_blocks_push pc = blocks_push(t, seed, 0.02f, n_bytes);
        for (uint64_t i = 0; i < bytes; i++) want[i] = ref_fill_blocks(i, &pc);
        check_buf b[1] = { { .bytes = bytes, .granule = gran, .got = got } };
        fill_blocks_args a = { qtype, seed, n_bytes };
        s = check_drive(ctx, b, 1, record_fill_blocks, &a, out);
    }
    if (s == VKLLM_OK) compare_bits(got, want, bytes / 4, 4, "dst", out); /* as words */
    if (s == VKLLM_OK && out->passed) {
        /* the weights these blocks stand for: finite, with about the asked rms */
        quant_dequantize(t, want, wf, n_bytes / t->block_bytes);
        double ss = 0;
        uint64_t n = (uint64_t)rows * cols, bad = 0;
        for (uint64_t i = 0; i < n; i++) {
            if (!isfinite(wf[i])) bad++;
            ss += (double)wf[i] * wf[i];
        }
        const double rms = sqrt(ss / (double)n);
        if (bad || rms < 0.01 || rms > 0.04) {
            out->passed = 0;
            snprintf(out->detail, sizeof out->detail, "%llu non-finite weights, rms %.4g (want about 0.02)",
                     (unsigned long long)bad, rms);
        }
    }
    check_host_free(&h);
    return s;
}
