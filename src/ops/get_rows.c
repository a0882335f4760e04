#include "get_rows.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "matmul.h"
#include "model/quant.h"
#include "push.h"
#include "util/half.h"

#define GET_ROWS_WG 128 /* invocations per workgroup; 8 elements each */

vkllm_status op_get_rows_wg(gpu_rec *rec, gpu_tensor *table, gpu_binding ids, gpu_binding out, uint32_t n_ids,
                            uint32_t n_rows, uint32_t n_cols, uint32_t wg)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n_ids == 0) return VKLLM_OK;
    if (!table || !ids.t || !out.t) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "get_rows: missing tensor");
    /* a quantized table (op_weight_create): blocks, padded to 16 bytes */
    const uint32_t qtype = gpu_tensor_format(table);
    const quant_type *qt = qtype ? quant_type_of(qtype) : NULL;
    const uint64_t row_bytes = op_weight_row_bytes(qtype, n_cols), n_out = (uint64_t)n_ids * n_cols;
    const uint64_t want = qt ? (n_rows * row_bytes + 15) / 16 * 16 : n_rows * row_bytes;
    if (n_rows == 0 || n_cols == 0 || (qtype && !qt) || !row_bytes || gpu_tensor_bytes(table) != want)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "get_rows: table of %llu bytes is not %u x %u %s",
                        (unsigned long long)gpu_tensor_bytes(table), n_rows, n_cols, qt ? qt->name : "fp16");
    if (gpu_binding_bytes(ids) < (uint64_t)n_ids * 4 || gpu_binding_bytes(out) < n_out * 4 || n_out > UINT32_MAX)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "get_rows: %u ids x %u columns exceed a binding", n_ids, n_cols);
    if (wg == 0) wg = GET_ROWS_WG;
    char name[32] = "get_rows";
    if (qt) op_weight_variant(name, sizeof name, "get_rows", qtype, ""); /* get_rows_<type> */
    gpu_pipeline_desc d = {
        .shader = name, .n_buffers = GET_ROWS_N_BINDINGS, .push_bytes = sizeof(get_rows_push),
        .n_spec = GET_ROWS_N_SPEC, .spec = { [GET_ROWS_SPEC_WG] = wg },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    /* one invocation per 8 output elements (the shader's two fp16 paths
     * agree on that count), or per 32-weight unit of a block type;
     * workgroups past 65535 spill into y */
    uint64_t groups = ((n_out + (qt ? 31 : 7)) / (qt ? 32 : 8) + wg - 1) / wg;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535, gy = (uint32_t)((groups + gx - 1) / gx);
    for (uint32_t c = 0; c < gpu_tensor_n_chunks(table); c++) {
        uint64_t off = gpu_tensor_chunk_offset(table, c), bytes = gpu_tensor_chunk_bytes(table, c);
        if (qt && c + 1 == gpu_tensor_n_chunks(table)) bytes -= bytes % row_bytes; /* the padding */
        if (off % row_bytes || bytes % row_bytes)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                            "get_rows: chunk %u of the table splits a row; create it with granule n_cols * 2", c);
        get_rows_push pc = {
            .n_cols = n_cols, .n_ids = n_ids,
            .row_begin = (uint32_t)(off / row_bytes), .row_end = (uint32_t)((off + bytes) / row_bytes),
        };
        gpu_binding b[GET_ROWS_N_BINDINGS] = {
            [GET_ROWS_BIND_TABLE] = gpu_bind_chunk(table, c), [GET_ROWS_BIND_IDS] = ids, [GET_ROWS_BIND_OUT] = out,
        };
        gpu_dispatch(rec, p, b, GET_ROWS_N_BINDINGS, &pc, gx, gy, 1, "get_rows");
    }
    return gpu_rec_status(rec);
}

vkllm_status op_get_rows(gpu_rec *rec, gpu_tensor *table, gpu_binding ids, gpu_binding out, uint32_t n_ids,
                         uint32_t n_rows, uint32_t n_cols)
{
    return op_get_rows_wg(rec, table, ids, out, n_ids, n_rows, n_cols, 0);
}

void ref_get_rows(const uint16_t *table, const int32_t *ids, float *out, uint32_t n_ids, uint32_t n_rows,
                  uint32_t n_cols)
{
    for (uint32_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= n_rows) continue;
        const uint16_t *row = table + (size_t)ids[i] * n_cols;
        for (uint32_t c = 0; c < n_cols; c++) out[(size_t)i * n_cols + c] = half_to_float(row[c]);
    }
}

/* Tolerance: none. fp16 -> fp32 is exact and the shader converts the bits
 * (no float conversion that could flush subnormals), so out must equal the
 * reference bit for bit, and rows of bad ids must keep the poison. */
enum { GR_TABLE, GR_IDS, GR_OUT, GR_N };

typedef struct get_rows_args {
    uint32_t n_ids, n_rows, n_cols, wg;
} get_rows_args;

static void record_get_rows(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const get_rows_args *a = arg;
    op_get_rows_wg(rec, b[GR_TABLE].t, gpu_bind(b[GR_IDS].t), gpu_bind(b[GR_OUT].t), a->n_ids, a->n_rows, a->n_cols, a->wg);
}

vkllm_status check_get_rows(gpu_ctx *ctx, uint32_t n_rows, uint32_t n_cols, uint32_t n_ids, uint32_t n_bad,
                            uint32_t wg, uint64_t seed, vkllm_check_result *out)
{
    const uint64_t n_table = (uint64_t)n_rows * n_cols, n_out = (uint64_t)n_ids * n_cols;
    check_begin(out, "get_rows", "%u x %u, %u ids", n_rows, n_cols, n_ids);
    if (n_ids == 0 || n_rows == 0 || n_cols == 0)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_get_rows: empty shape");
    check_host h = { 0 };
    uint16_t *table = check_alloc(&h, n_table * 2);
    int32_t *ids = check_alloc(&h, (size_t)n_ids * 4);
    float *want = check_alloc(&h, n_out * 4), *got = check_alloc(&h, n_out * 4);
    check_driver d = { 0 };
    vkllm_status s = check_host_status(ctx, &h, "check_get_rows");
    check_buf b[GR_N] = {
        [GR_TABLE] = { .host = table, .bytes = n_table * 2, .granule = (uint64_t)n_cols * 2 },
        [GR_IDS] = { .host = ids, .bytes = (uint64_t)n_ids * 4 },
        [GR_OUT] = { .got = got, .bytes = n_out * 4 },
    };
    /* the table's tensor first: the ids aim at its chunk boundaries */
    if (s == VKLLM_OK) s = check_prepare(&d, ctx, b, GR_N, record_get_rows, &(get_rows_args){ n_ids, n_rows, n_cols, wg });
    if (s != VKLLM_OK) goto done;
    gpu_tensor *tt = b[GR_TABLE].t;
    uint32_t n_chunks = gpu_tensor_n_chunks(tt);
    size_t len = strlen(out->shape);
    snprintf(out->shape + len, sizeof out->shape - len, ", %u chunk%s", n_chunks, n_chunks == 1 ? "" : "s");
    if (n_bad) {
        len = strlen(out->shape);
        snprintf(out->shape + len, sizeof out->shape - len, ", %u bad", n_bad);
    }
    if (wg) {
        len = strlen(out->shape);
        snprintf(out->shape + len, sizeof out->shape - len, " (wg %u)", wg);
    }

    rng r = { seed };
    /* random halves, any bits (subnormals, inf, NaN: the copy must be exact
     * for all), 4 per draw: this table can be 131M elements */
    for (uint64_t i = 0; i < n_table; i += 4) {
        uint64_t bits = rng_next(&r);
        for (uint64_t k = i; k < i + 4 && k < n_table; k++, bits >>= 16) table[k] = (uint16_t)bits;
    }
    /* ids: random with repeats; then, at consecutive places from a random
     * start, the first and last rows, a repeat of the first, both sides of
     * every chunk boundary, and the bad ids */
    for (uint32_t i = 0; i < n_ids; i++)
        ids[i] = i && rng_below(&r, 8) == 0 ? ids[rng_below(&r, i)] : (int32_t)rng_below(&r, n_rows);
    uint32_t at = rng_below(&r, n_ids);
#define PUT(v) (ids[at] = (v), at = (at + 1) % n_ids)
    PUT(0);
    PUT((int32_t)n_rows - 1);
    PUT(0);
    for (uint32_t c = 1; c < n_chunks; c++) {
        int32_t first = (int32_t)(gpu_tensor_chunk_offset(tt, c) / ((uint64_t)n_cols * 2));
        PUT(first - 1);
        PUT(first);
    }
    const int32_t bad[] = { -1, INT32_MIN, INT32_MAX, (int32_t)n_rows, -2 };
    for (uint32_t j = 0; j < n_bad; j++) PUT(bad[j % 5]);
#undef PUT
    /* want: poison, overwritten by the reference for the valid ids */
    for (uint64_t i = 0; i < n_out; i++) {
        uint32_t p = CHECK_POISON;
        memcpy(&want[i], &p, 4);
    }
    ref_get_rows(table, ids, want, n_ids, n_rows, n_cols);
    s = check_execute(&d, out);
    if (s == VKLLM_OK) compare_bits(got, want, n_out, 4, "out", out);
done:
    check_release(&d);
    check_host_free(&h);
    return s;
}
