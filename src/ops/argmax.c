#include "argmax.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "push.h"

#define ARGMAX_WG 256 /* invocations per workgroup (a power of two); one workgroup per row */

vkllm_status op_argmax(gpu_rec *rec, gpu_binding x, gpu_binding out, uint32_t n_rows, uint32_t n)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n_rows == 0) return VKLLM_OK;
    if (n == 0) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "argmax: empty rows");
    if (gpu_binding_bytes(x) < (uint64_t)n_rows * n * 4 || gpu_binding_bytes(out) < (uint64_t)n_rows * 4)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "argmax: binding too small for %u rows of %u", n_rows, n);
    gpu_pipeline_desc d = {
        .shader = "argmax", .n_buffers = ARGMAX_N_BINDINGS, .push_bytes = sizeof(argmax_push),
        .n_spec = ARGMAX_N_SPEC, .spec = { [ARGMAX_SPEC_WG] = ARGMAX_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    argmax_push pc = { .n_rows = n_rows, .n = n };
    gpu_binding b[ARGMAX_N_BINDINGS] = { [ARGMAX_BIND_X] = x, [ARGMAX_BIND_OUT] = out };
    uint32_t gx = n_rows < 65535 ? n_rows : 65535;
    return gpu_dispatch(rec, p, b, ARGMAX_N_BINDINGS, &pc, gx, (n_rows + gx - 1) / gx, 1, "argmax");
}

void ref_argmax(const float *x, int32_t *out, uint32_t n_rows, uint32_t n)
{
    for (uint32_t r = 0; r < n_rows; r++) {
        int32_t best = -1;
        for (uint32_t i = 0; i < n; i++) {
            float v = x[(size_t)r * n + i];
            if (isnan(v)) continue;
            if (best < 0 || v > x[(size_t)r * n + (uint32_t)best]) best = (int32_t)i;
        }
        out[r] = best;
    }
}

static void record_argmax(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const uint32_t *shape = arg; /* n_rows, n */
    op_argmax(rec, gpu_bind(b[0].t), gpu_bind(b[1].t), shape[0], shape[1]);
}

vkllm_status check_argmax(gpu_ctx *ctx, uint32_t n_rows, uint32_t n, uint64_t seed, vkllm_check_result *out)
{
    check_begin(out, "argmax", "%u x %u", n_rows, n);
    if (n == 0) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_argmax: empty rows");
    check_host h = { 0 };
    float *x = check_alloc(&h, (size_t)n_rows * n * 4);
    int32_t *want = check_alloc(&h, (size_t)n_rows * 4), *got = check_alloc(&h, (size_t)n_rows * 4);
    vkllm_status s = check_host_status(ctx, &h, "check_argmax");
    if (s != VKLLM_OK) goto done;
    rng r = { seed };
    check_fill_f32(&r, x, (uint64_t)n_rows * n, -30.0f, 30.0f);
    for (uint32_t row = 0; row < n_rows; row++) {
        float *xr = x + (size_t)row * n;
        switch (row % 5) {
        case 1: /* the maximum two or three times: the first must win */
            for (int k = 0; k < 3; k++) xr[rng_below(&r, n)] = 31.0f;
            break;
        case 2: /* NaNs (never win) and an infinity (wins) */
            for (int k = 0; k < 4; k++) xr[rng_below(&r, n)] = NAN;
            xr[rng_below(&r, n)] = INFINITY;
            break;
        case 3: /* all -inf but NaNs: the first -inf wins */
            for (uint32_t i = 0; i < n; i++) xr[i] = i % 3 ? -INFINITY : NAN;
            break;
        case 4: /* no number at all */
            if (row == 4)
                for (uint32_t i = 0; i < n; i++) xr[i] = NAN;
            break;
        }
    }
    ref_argmax(x, want, n_rows, n);
    check_buf b[2] = { { .host = x, .bytes = (uint64_t)n_rows * n * 4 }, { .got = got, .bytes = (uint64_t)n_rows * 4 } };
    s = check_drive(ctx, b, 2, record_argmax, (const uint32_t[2]){ n_rows, n }, out);
    if (s != VKLLM_OK) goto done;
    out->passed = 1;
    for (uint32_t row = 0; row < n_rows && out->passed; row++)
        if (got[row] != want[row]) {
            out->passed = 0;
            out->max_err = 1;
            out->ratio = INFINITY;
            snprintf(out->detail, sizeof out->detail, "row %u: index %d, want %d", row, got[row], want[row]);
        }
done:
    check_host_free(&h);
    return s;
}
