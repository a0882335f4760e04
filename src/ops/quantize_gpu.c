#include "quantize_gpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/dtype.h"
#include "model/quant.h"
#include "push.h"
#include "util/bf16.h"
#include "util/half.h"

#define QUANTIZE_WG 64 /* invocations per workgroup; one block (or pair) each */

_Static_assert(QUANTIZE_SRC_F32 == DTYPE_F32 && QUANTIZE_SRC_F16 == DTYPE_F16 && QUANTIZE_SRC_BF16 == DTYPE_BF16,
               "the shader's source types are model/dtype.h's");

/* the shader variant of each type (shaders/meson.build) */
static const char *shader_of(uint32_t qtype)
{
    switch (qtype) {
    case QTYPE_Q4_0: return "quantize_q4_0";
    case QTYPE_Q4_1: return "quantize_q4_1";
    case QTYPE_Q5_0: return "quantize_q5_0";
    case QTYPE_Q5_1: return "quantize_q5_1";
    case QTYPE_Q8_0: return "quantize_q8_0";
    case QTYPE_Q2_K: return "quantize_q2_k";
    case QTYPE_Q3_K: return "quantize_q3_k";
    case QTYPE_Q4_K: return "quantize_q4_k";
    case QTYPE_Q5_K: return "quantize_q5_k";
    case QTYPE_Q6_K: return "quantize_q6_k";
    case QTYPE_IQ4_NL: return "quantize_iq4_nl";
    case QTYPE_IQ4_XS: return "quantize_iq4_xs";
    default: return NULL;
    }
}

bool op_quantize_supported(uint32_t qtype)
{
    const char *s = shader_of(qtype);
    return s && gpu_shader_available(s);
}

vkllm_status op_quantize_rows(gpu_rec *rec, uint32_t qtype, uint32_t src_dtype, gpu_binding src, uint64_t src_row,
                              gpu_tensor *dst, gpu_tensor *status, uint64_t row0, uint64_t n_rows, uint64_t cols,
                              uint64_t total_rows)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    const quant_type *qt = quant_type_of(qtype);
    const uint64_t elem = src_dtype <= QUANTIZE_SRC_BF16 ? dtype_size((tensor_dtype)src_dtype) : 0;
    const uint64_t bpr = qt && cols % qt->block == 0 ? cols / qt->block : 0, row_bytes = qt ? bpr * qt->block_bytes : 0;
    const bool pairs = qt && qt->block_bytes % 4;
    if (!op_quantize_supported(qtype) || !elem || !bpr)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "quantize: no device kernel for type %u from dtype %u with rows of %llu",
                            qtype, src_dtype, (unsigned long long)cols);
    if (row0 + n_rows > total_rows || src_row > row0 || (row0 + n_rows - src_row) * cols * elem > gpu_binding_bytes(src) ||
        (row0 + n_rows - src_row) * cols >= (1ull << 32) ||
        total_rows * row_bytes > gpu_tensor_bytes(dst) || total_rows >= (1ull << 32) || src.offset || src.range ||
        gpu_binding_bytes(src) % 16 || gpu_binding_bytes(src) / 16 > gpu_max_texels(gpu_rec_ctx(rec)) ||
        (pairs && (row0 * bpr % 2 || (n_rows * bpr % 2 && row0 + n_rows != total_rows))))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                            "quantize: rows %llu..%llu of %llu x %llu: past the matrix or its tensors, not starting "
                            "and ending on a word, or a src that is not a whole chunk of whole texels within the "
                            "device's texel limit", (unsigned long long)row0, (unsigned long long)(row0 + n_rows),
                            (unsigned long long)total_rows, (unsigned long long)cols);
    gpu_pipeline_desc d = {
        .shader = shader_of(qtype), .n_buffers = QUANTIZE_N_BINDINGS, .push_bytes = sizeof(quantize_push),
        .n_spec = QUANTIZE_N_SPEC, .spec = { [QUANTIZE_SPEC_WG] = QUANTIZE_WG },
        .texel_mask = BINDING_BIT(QUANTIZE_BIND_SRC), /* whole texels: 2-5x faster reads on lavapipe */
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    /* the rows as dst's chunks split them (each chunk holds whole rows) */
    for (uint32_t c = 0; c < gpu_tensor_n_chunks(dst); c++) {
        const uint64_t off = gpu_tensor_chunk_offset(dst, c), bytes = gpu_tensor_chunk_bytes(dst, c);
        if (off % row_bytes)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "quantize: chunk %u of the weight starts inside a row", c);
        uint64_t a = off / row_bytes, b = a + bytes / row_bytes;
        if (b > total_rows) b = total_rows;
        if (a < row0) a = row0;
        if (b > row0 + n_rows) b = row0 + n_rows;
        if (a >= b) continue;
        const uint64_t first = a * row_bytes - off; /* the range's first byte in the chunk: even blocks, so whole words */
        if (first % 4)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "quantize: rows from %llu start inside a word of chunk %u",
                                (unsigned long long)a, c);
        const uint64_t n_blocks = (b - a) * bpr, per = pairs ? 2 : 1, invocations = (n_blocks + per - 1) / per;
        quantize_push pc = { .n_blocks = (uint32_t)n_blocks, .src_elem = (uint32_t)((a - src_row) * cols),
                             .dst_word = (uint32_t)(first / 4), .src_dtype = src_dtype, .row0 = (uint32_t)a,
                             .blocks_per_row = (uint32_t)bpr };
        gpu_binding bind[QUANTIZE_N_BINDINGS] = {
            [QUANTIZE_BIND_SRC] = src, [QUANTIZE_BIND_DST] = gpu_bind_chunk(dst, c),
            [QUANTIZE_BIND_STATUS] = gpu_bind(status),
        };
        const uint64_t groups = (invocations + QUANTIZE_WG - 1) / QUANTIZE_WG;
        const uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
        gpu_dispatch(rec, p, bind, QUANTIZE_N_BINDINGS, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "quantize");
    }
    return gpu_rec_status(rec);
}

/* ------------------------------------------------------------ the check */

/* Row r's weights: a kind by r (every kind in the first rows whatever the
 * seed), values from r. */
static void make_row(rng *g, uint32_t r, uint32_t src_dtype, uint32_t cols, float *f)
{
    const bool f16 = src_dtype == QUANTIZE_SRC_F16;
    const float s = powf(10.0f, rng_uniform(g, -3.0f, 0.5f));
    switch (r % 10) {
    case 0: for (uint32_t c = 0; c < cols; c++) f[c] = rng_uniform(g, -s, s); break;
    case 1: for (uint32_t c = 0; c < cols; c++) f[c] = 0; break;
    case 2: { float v = rng_uniform(g, -s, s); for (uint32_t c = 0; c < cols; c++) f[c] = v; } break;
    case 3: /* outliers */
        for (uint32_t c = 0; c < cols; c++) f[c] = rng_uniform(g, -s, s) * (rng_below(g, 40) == 0 ? 300.0f : 1.0f);
        break;
    case 4: /* tiny: fp16 subnormals (f16), far below them otherwise */
        for (uint32_t c = 0; c < cols; c++) f[c] = rng_uniform(g, -1, 1) * (f16 ? 3e-6f : 1e-12f);
        break;
    case 5: /* huge: near fp16's largest (f16), far beyond otherwise */
        for (uint32_t c = 0; c < cols; c++) f[c] = rng_uniform(g, -1, 1) * (f16 ? 6e4f : 3e8f);
        break;
    case 6: /* one sign, and zero and constant runs of 16 inside a row */
        for (uint32_t c = 0; c < cols; c++)
            f[c] = c / 16 % 3 == 0 ? 0 : c / 16 % 3 == 1 ? 0.5f * s : rng_uniform(g, 0, s);
        break;
    case 7: { /* halves of a power of two whose largest is 127 of it: Q8_0's quants fall on ties */
        const float d = ldexpf(1, -(int)rng_below(g, 12));
        for (uint32_t c = 0; c < cols; c++) f[c] = c % 32 == 0 ? 127 * d : d * (float)((int)rng_below(g, 253) - 126) / 2;
    } break;
    default: /* about normal */
        for (uint32_t c = 0; c < cols; c++)
            f[c] = s * (rng_uniform(g, -1, 1) + rng_uniform(g, -1, 1) + rng_uniform(g, -1, 1));
        break;
    }
}

typedef struct quantize_args {
    uint32_t qtype, dtype;
    uint64_t rows, cols, piece;
} quantize_args;

enum { QB_SRC, QB_DST, QB_STATUS, QB_N };

/* rows per piece: even block counts, unless the piece ends the matrix */
static uint64_t piece_of(const quantize_args *a)
{
    const quant_type *t = quant_type_of(a->qtype);
    uint64_t per = a->piece ? a->piece : a->rows;
    if (t->block_bytes % 4 && a->cols / t->block % 2 && per % 2) per++;
    return per;
}

/* piece by piece as the loader goes, each piece from the src chunk that
 * holds it (src's chunks hold whole pieces) */
static void record_quantize(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const quantize_args *a = arg;
    const uint64_t per = piece_of(a), row_bytes = a->cols * dtype_size((tensor_dtype)a->dtype);
    gpu_tensor *src = b[QB_SRC].t;
    for (uint64_t r = 0; r < a->rows; r += per) {
        uint32_t c = 0;
        while (c + 1 < gpu_tensor_n_chunks(src) && gpu_tensor_chunk_offset(src, c + 1) <= r * row_bytes) c++;
        op_quantize_rows(rec, a->qtype, a->dtype, gpu_bind_chunk(src, c), gpu_tensor_chunk_offset(src, c) / row_bytes,
                         b[QB_DST].t, b[QB_STATUS].t, r, a->rows - r < per ? a->rows - r : per, a->cols, a->rows);
    }
}

vkllm_status check_quantize(gpu_ctx *ctx, uint32_t qtype, uint32_t src_dtype, uint32_t rows, uint32_t cols,
                            uint32_t piece_rows, uint32_t seed, bool exact, vkllm_check_result *out)
{
    const quant_type *t = quant_type_of(qtype);
    check_begin(out, "quantize", "%s %u x %u from %s, pieces of %u rows%s", t ? t->name : "?", rows, cols,
                dtype_name((tensor_dtype)src_dtype), piece_rows ? piece_rows : rows, exact ? "" : " (bounded)");
    if (!t || cols % t->block || src_dtype > QUANTIZE_SRC_BF16 || rows < 1)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_quantize: type %u, dtype %u with rows of %u", qtype,
                        src_dtype, cols);
    const uint64_t elem = dtype_size((tensor_dtype)src_dtype), n = (uint64_t)rows * cols;
    const uint64_t row = quant_bytes(t, cols), n_bytes = row * rows, bytes = (n_bytes + 15) / 16 * 16;
    uint64_t gran = row;
    while (gran % 16) gran += row;
    check_host h = { 0 };
    uint8_t *srcb = check_alloc(&h, n * elem), *want = check_alloc(&h, bytes), *got = check_alloc(&h, bytes);
    float *f = check_alloc(&h, n * 4), *deq = check_alloc(&h, (size_t)cols * 4 * 2);
    uint32_t *status = check_alloc(&h, 16);
    vkllm_status s = check_host_status(ctx, &h, "check_quantize");
    if (s != VKLLM_OK) return s;
    rng g = { seed * 0x9e3779b97f4a7c15ull + qtype * 31 + src_dtype };
    /* one row (not the first ten) gets a NaN or Inf: the status must name it */
    const uint32_t bad = rows > 10 ? 10 + rng_below(&g, rows - 10) : UINT32_MAX;
    for (uint32_t r = 0; r < rows; r++) {
        float *fr = f + (uint64_t)r * cols;
        make_row(&g, r, src_dtype, cols, fr);
        if (r == bad) fr[rng_below(&g, cols)] = rng_below(&g, 2) ? NAN : -INFINITY;
        for (uint32_t c = 0; c < cols; c++) { /* stored as the file would, then widened exactly */
            uint8_t *p = srcb + ((uint64_t)r * cols + c) * elem;
            if (src_dtype == QUANTIZE_SRC_F32) {
                memcpy(p, &fr[c], 4);
            } else {
                uint16_t v = src_dtype == QUANTIZE_SRC_F16 ? float_to_half(fr[c]) : float_to_bf16(fr[c]);
                memcpy(p, &v, 2);
                fr[c] = src_dtype == QUANTIZE_SRC_F16 ? half_to_float(v) : bf16_to_float(v);
            }
        }
        if (r != bad) quant_quantize(t, fr, want + r * row, cols / t->block);
        else memset(want + r * row, 0, row);
    }
    memset(status, 0xff, 16);
    quantize_args a = { qtype, src_dtype, rows, cols, piece_rows };
    check_buf b[QB_N] = {
        [QB_SRC] = { .host = srcb, .bytes = n * elem, .granule = piece_of(&a) * cols * elem },
        [QB_DST] = { .bytes = bytes, .granule = gran, .got = got },
        [QB_STATUS] = { .host = status, .bytes = 16, .got = status, .in_out = true },
    };
    s = check_drive(ctx, b, QB_N, record_quantize, &a, out);
    if (s != VKLLM_OK) goto done;
    if (bad != UINT32_MAX) memset(got + (uint64_t)bad * row, 0, row); /* that row's blocks are not compared */
    /* block by block: the bytes, and the error of the weights they stand for */
    uint64_t n_blocks = n_bytes / t->block_bytes, differ = 0, first = UINT64_MAX;
    double se_got = 0, se_want = 0;
    for (uint64_t i = 0; i < n_blocks; i++) {
        const uint8_t *gb = got + i * t->block_bytes, *wb = want + i * t->block_bytes;
        if (!memcmp(gb, wb, t->block_bytes)) continue;
        if (first == UINT64_MAX) first = i;
        differ++;
        quant_dequantize(t, gb, deq, 1);
        quant_dequantize(t, wb, deq + t->block, 1);
        for (uint32_t e = 0; e < t->block; e++) {
            const double x = f[i * t->block + e];
            se_got += (deq[e] - x) * (deq[e] - x);
            se_want += (deq[t->block + e] - x) * (deq[t->block + e] - x);
        }
    }
    const bool status_ok = status[0] == bad;
    const bool bytes_ok = exact ? differ == 0
                                : differ <= n_blocks / 100 + 1 && isfinite(se_got) && se_got <= se_want * 1.0201 + 1e-30;
    out->max_err = (double)differ;
    out->ratio = differ ? INFINITY : 0;
    out->passed = status_ok && bytes_ok;
    if (!status_ok)
        snprintf(out->detail, sizeof out->detail, "the NaN/Inf row: status says %u, want %d", status[0],
                 bad == UINT32_MAX ? -1 : (int)bad);
    else if (!bytes_ok)
        snprintf(out->detail, sizeof out->detail,
                 "%llu of %llu blocks differ from the CPU's, the first block %llu (row %llu, byte %llu of it)",
                 (unsigned long long)differ, (unsigned long long)n_blocks, (unsigned long long)first,
                 (unsigned long long)(first * t->block_bytes / row), (unsigned long long)(first * t->block_bytes % row));
    else if (differ)
        snprintf(out->detail, sizeof out->detail, "%llu of %llu blocks differ, squared error %.4g vs the CPU's %.4g",
                 (unsigned long long)differ, (unsigned long long)n_blocks, se_got, se_want);
done:
    check_host_free(&h);
    return s;
}
