/* Checks of the kernels that read quantized weights (the QTYPE variants of
 * shaders/matvec.comp and shaders/get_rows.comp) against the CPU reference
 * dequantizer (src/model/quant.c) and a double-precision product, on random
 * blocks: every bit of the codes random, the fp16 scales sane (random sign
 * and size from 2^-12 to 1), so every bit pattern of the quants is met. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "get_rows.h"
#include "matmul.h"
#include "model/quant.h"
#include "util/half.h"

/* byte offsets of each block type's fp16 scale fields (d, and dmin or m) */
static void scale_fields(uint32_t qtype, int *d, int *m)
{
    *m = -1;
    switch (qtype) {
    case QTYPE_Q2_K: *d = 80, *m = 82; break;
    case QTYPE_Q3_K: *d = 108; break;
    case QTYPE_Q6_K: *d = 208; break;
    case QTYPE_Q4_1: case QTYPE_Q5_1: case QTYPE_Q4_K: case QTYPE_Q5_K: *d = 0, *m = 2; break;
    default: *d = 0; break; /* Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS */
    }
}

/* n_blocks random blocks of qtype at b */
static void fill_blocks(rng *r, const quant_type *t, uint8_t *b, uint64_t n_blocks)
{
    int od, om;
    scale_fields(t->id, &od, &om);
    for (uint64_t i = 0; i < n_blocks; i++) {
        uint8_t *blk = b + i * t->block_bytes;
        for (uint32_t j = 0; j < t->block_bytes; j++) blk[j] = (uint8_t)(rng_next(r) >> 56);
        for (int f = 0; f < 2; f++) {
            int o = f ? om : od;
            if (o < 0) continue;
            float v = exp2f(rng_uniform(r, -12.0f, 0.0f)) * (rng_next(r) & 1 ? -1.0f : 1.0f);
            uint16_t h = float_to_half(v);
            blk[o] = (uint8_t)h;
            blk[o + 1] = (uint8_t)(h >> 8);
        }
    }
}

/* a weight tensor's bytes as op_weight_create makes them: blocks, zero padding to 16 */
static uint64_t padded(uint64_t bytes) { return (bytes + 15) / 16 * 16; }

typedef struct qmm_args {
    const matmul_config *cfg; /* NULL: the op's choice */
    uint32_t qtype, M, N, K;
    bool glu, norm, acc;
    float eps;
} qmm_args;

enum { QM_W, QM_W2, QM_X, QM_NORM, QM_Y, QM_N };

/* the driver made plain tensors: tag them with the weight type first */
static void record_qmm(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const qmm_args *a = arg;
    gpu_tensor_set_format(b[QM_W].t, a->qtype);
    gpu_tensor_set_format(b[QM_W2].t, a->qtype);
    const matmul_norm mn = { gpu_bind(b[QM_NORM].t), a->eps };
    gpu_binding x = gpu_bind(b[QM_X].t), y = gpu_bind(b[QM_Y].t);
    if (a->glu) op_matmul_glu(rec, b[QM_W].t, b[QM_W2].t, a->norm ? &mn : NULL, x, y, a->M, a->N, a->K);
    else if (a->norm) op_matmul_norm(rec, b[QM_W].t, &mn, x, y, a->M, a->N, a->K);
    else if (a->cfg) {
        matmul_config c = *a->cfg;
        c.acc = a->acc;
        op_matmul_with(rec, &c, b[QM_W].t, x, y, a->M, a->N, a->K);
    } else if (a->acc) op_matmul_acc(rec, b[QM_W].t, x, y, a->M, a->N, a->K);
    else op_matmul(rec, b[QM_W].t, x, y, a->M, a->N, a->K);
}

static double silu_d(double g) { return g / (1.0 + exp(-g)); }

vkllm_status check_matmul_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t M, uint32_t N, uint32_t K, bool glu, bool norm,
                                bool acc, uint64_t seed, vkllm_check_result *out)
{
    return check_matmul_quant_with(ctx, NULL, qtype, M, N, K, glu, norm, acc, seed, out);
}

vkllm_status check_matmul_quant_with(gpu_ctx *ctx, const matmul_config *cfg, uint32_t qtype, uint32_t M, uint32_t N,
                                     uint32_t K, bool glu, bool norm, bool acc, uint64_t seed, vkllm_check_result *out)
{
    const quant_type *t = quant_type_of(qtype);
    /* the kernel that runs: glu stays on the matrix-vector kernel */
    const uint32_t kind = cfg ? cfg->kind : glu ? MATMUL_MATVEC : matmul_pick_quant(ctx, qtype, M, N, K, norm).kind;
    static const char *const kname[] = { [MATMUL_TILED] = "matmul_q", [MATMUL_MATVEC] = "matvec_q",
                                         [MATMUL_COOPMAT] = "matmul_coopmat_q", [MATMUL_DEQUANT] = "dequant+matmul" };
    check_begin(out, kind < 4 ? kname[kind] : "matmul_q?", "%s M %u N %u K %u%s%s%s", t ? t->name : "?", M, N, K,
                glu ? " glu" : "", norm ? " norm" : "", acc ? " y+=" : "");
    if (!t || K % t->block || (glu && acc) || (cfg && (glu || norm)))
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_matmul_quant: type %u with K %u%s", qtype, K,
                        glu && acc ? " (glu does not accumulate)" : cfg && (glu || norm) ? " (glu, norm: the op's choice only)" : "");
    const uint64_t wbytes = quant_bytes(t, (uint64_t)N * K), nb = (uint64_t)N * K / t->block;
    const size_t nx = (size_t)M * K, ny = (size_t)M * N;
    check_host h = { 0 };
    uint8_t *w = check_alloc(&h, padded(wbytes)), *w2 = check_alloc(&h, padded(wbytes));
    float *wf = check_alloc(&h, (size_t)N * K * 4), *wf2 = check_alloc(&h, (size_t)N * K * 4);
    float *x = check_alloc(&h, nx * 4), *g = check_alloc(&h, (size_t)K * 4), *y0 = check_alloc(&h, ny * 4),
          *want = check_alloc(&h, ny * 4), *got = check_alloc(&h, ny * 4);
    double *scale = check_alloc(&h, ny * sizeof *scale);
    vkllm_status s = check_host_status(ctx, &h, "check_matmul_quant");
    if (s == VKLLM_OK) {
        rng r = { seed };
        memset(w, 0, padded(wbytes));
        memset(w2, 0, padded(wbytes));
        fill_blocks(&r, t, w, nb);
        fill_blocks(&r, t, w2, nb);
        quant_dequantize(t, w, wf, nb);
        quant_dequantize(t, w2, wf2, nb);
        if (kind == MATMUL_DEQUANT) /* the fp16 kernel multiplies the weights rounded to fp16 */
            for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = half_to_float(float_to_half(wf[i]));
        check_fill_f32(&r, x, nx, -1.0f, 1.0f);
        check_fill_f32(&r, g, K, 0.5f, 1.5f);
        check_fill_f32(&r, y0, ny, -4.0f, 4.0f);
        for (uint32_t m = 0; m < M; m++) {
            /* x' = rmsnorm(x) g, as rmsnorm.comp */
            double ss = 0, inv = 1;
            for (uint32_t k = 0; k < K; k++) ss += (double)x[(size_t)m * K + k] * x[(size_t)m * K + k];
            if (norm) inv = 1.0 / sqrt(ss / K + 1e-5);
            for (uint32_t n = 0; n < N; n++) {
                double d1 = 0, d2 = 0, a1 = 0, a2 = 0;
                for (uint32_t k = 0; k < K; k++) {
                    double xv = x[(size_t)m * K + k] * (norm ? inv * g[k] : 1.0);
                    d1 += (double)wf[(size_t)n * K + k] * xv;
                    d2 += (double)wf2[(size_t)n * K + k] * xv;
                    a1 += fabs((double)wf[(size_t)n * K + k] * xv);
                    a2 += fabs((double)wf2[(size_t)n * K + k] * xv);
                }
                size_t i = (size_t)m * N + n;
                if (glu) { /* silu(d1) * d2: the bound carries both sums' errors */
                    want[i] = (float)(silu_d(d1) * d2);
                    scale[i] = a1 * fabs(d2) + fabs(silu_d(d1)) * a2 + fabs((double)want[i]);
                } else {
                    want[i] = (float)(acc ? y0[i] + d1 : d1);
                    scale[i] = a1 + (acc ? fabs(y0[i]) : 0);
                }
            }
        }
        if (kind == MATMUL_COOPMAT) /* w = hi + lo in fp16: lo loses up to 2^-25 absolute (subnormal) */
            for (uint32_t m = 0; m < M; m++) {
                double xs = 0;
                for (uint32_t k = 0; k < K; k++) xs += fabs((double)x[(size_t)m * K + k]);
                for (uint32_t n = 0; n < N; n++) scale[(size_t)m * N + n] += xs * ldexp(1, -25) * 65536.0;
            }
        qmm_args a = { .cfg = cfg, .qtype = qtype, .M = M, .N = N, .K = K, .glu = glu, .norm = norm, .acc = acc, .eps = 1e-5f };
        uint64_t row = quant_bytes(t, K), gran = row;
        while (gran % 16) gran += row;
        check_buf b[QM_N] = {
            [QM_W] = { .host = w, .bytes = padded(wbytes), .granule = gran },
            [QM_W2] = { .host = w2, .bytes = padded(wbytes), .granule = gran },
            [QM_X] = { .host = x, .bytes = nx * 4 },
            [QM_NORM] = { .host = g, .bytes = (uint64_t)K * 4 },
            [QM_Y] = { .host = acc ? y0 : NULL, .bytes = ny * 4, .got = got, .in_out = acc },
        };
        s = check_drive(ctx, b, QM_N, record_qmm, &a, out);
    }
    /* fp32 accumulation of K products in a different order than the
     * reference's double sum; the norm adds a rounding of 1/rms */
    if (s == VKLLM_OK)
        check_compare(got, want, scale, ny, 1e-6, kind == MATMUL_COOPMAT ? 1.0 / 65536 : 2e-6 + (norm ? 1e-6 : 0), "y", out);
    check_host_free(&h);
    return s;
}

typedef struct qgr_args {
    uint32_t qtype, n_ids, n_rows, n_cols;
} qgr_args;

static void record_qgr(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const qgr_args *a = arg;
    gpu_tensor_set_format(b[0].t, a->qtype);
    op_get_rows(rec, b[0].t, gpu_bind(b[1].t), gpu_bind(b[2].t), a->n_ids, a->n_rows, a->n_cols);
}

vkllm_status check_get_rows_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t n_rows, uint32_t n_cols, uint32_t n_ids,
                                  uint64_t seed, vkllm_check_result *out)
{
    const quant_type *t = quant_type_of(qtype);
    check_begin(out, "get_rows_q", "%s %u x %u, %u ids", t ? t->name : "?", n_rows, n_cols, n_ids);
    if (!t || n_cols % t->block)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_get_rows_quant: type %u with rows of %u", qtype, n_cols);
    const uint64_t row = quant_bytes(t, n_cols), bytes = row * n_rows;
    check_host h = { 0 };
    uint8_t *table = check_alloc(&h, padded(bytes));
    float *rowf = check_alloc(&h, (size_t)n_cols * 4), *want = check_alloc(&h, (size_t)n_ids * n_cols * 4),
          *got = check_alloc(&h, (size_t)n_ids * n_cols * 4);
    int32_t *ids = check_alloc(&h, (size_t)n_ids * 4);
    vkllm_status s = check_host_status(ctx, &h, "check_get_rows_quant");
    if (s == VKLLM_OK) {
        rng r = { seed };
        memset(table, 0, padded(bytes));
        fill_blocks(&r, t, table, bytes / t->block_bytes);
        for (uint32_t i = 0; i < n_ids; i++) {
            ids[i] = (int32_t)rng_below(&r, n_rows);
            quant_dequantize(t, table + (uint64_t)ids[i] * row, want + (size_t)i * n_cols, n_cols / t->block);
        }
        uint64_t gran = row;
        while (gran % 16) gran += row;
        qgr_args a = { qtype, n_ids, n_rows, n_cols };
        check_buf b[3] = {
            { .host = table, .bytes = padded(bytes), .granule = gran },
            { .host = ids, .bytes = (uint64_t)n_ids * 4 },
            { .bytes = (uint64_t)n_ids * n_cols * 4, .got = got },
        };
        s = check_drive(ctx, b, 3, record_qgr, &a, out);
    }
    if (s == VKLLM_OK) compare_bits(got, want, (uint64_t)n_ids * n_cols, 4, "out", out); /* exact: the same fp32 products */
    check_host_free(&h);
    (void)rowf;
    return s;
}
