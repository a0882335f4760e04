#include "rmsnorm.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "push.h"

#define RMSNORM_WG 128

vkllm_status op_rmsnorm(gpu_rec *rec, gpu_binding x, gpu_binding w, gpu_binding y, uint32_t n_rows,
                        uint32_t n_cols, float eps)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    const uint64_t bytes = 4ull * n_rows * n_cols;
    if (n_cols == 0 || gpu_binding_bytes(x) < bytes || gpu_binding_bytes(y) < bytes ||
        gpu_binding_bytes(w) < 4ull * n_cols)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "rmsnorm: a binding is too small for %u rows of %u", n_rows,
                            n_cols);
    gpu_pipeline_desc d = {
        .shader = "rmsnorm", .n_buffers = RMSNORM_N_BINDINGS, .push_bytes = sizeof(rmsnorm_push),
        .n_spec = RMSNORM_N_SPEC, .spec = { [RMSNORM_SPEC_WG] = RMSNORM_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    rmsnorm_push pc = { .n_cols = n_cols, .n_rows = n_rows, .eps = eps };
    gpu_binding b[RMSNORM_N_BINDINGS] = { [RMSNORM_BIND_X] = x, [RMSNORM_BIND_W] = w, [RMSNORM_BIND_Y] = y };
    /* one workgroup per row; rows past 65535 spill into y */
    uint32_t gx = n_rows < 65535 ? n_rows : 65535;
    return gpu_dispatch(rec, p, b, RMSNORM_N_BINDINGS, &pc, gx, (n_rows + gx - 1) / gx, 1, "rmsnorm");
}

void ref_rmsnorm(const float *x, const float *w, float *y, uint32_t n_rows, uint32_t n_cols, float eps)
{
    for (uint32_t r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n_cols;
        double ss = 0;
        for (uint32_t c = 0; c < n_cols; c++) ss += (double)xr[c] * xr[c];
        double inv = 1.0 / sqrt(ss / n_cols + eps);
        for (uint32_t c = 0; c < n_cols; c++) y[(size_t)r * n_cols + c] = (float)(xr[c] * inv * w[c]);
    }
}

/* ------------------------------------------------------------ check */

enum { RN_X, RN_W, RN_Y, RN_N };

typedef struct rmsnorm_args {
    uint32_t n_rows, n_cols;
    float eps;
} rmsnorm_args;

static void record_rmsnorm(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const rmsnorm_args *a = arg;
    op_rmsnorm(rec, gpu_bind(b[RN_X].t), gpu_bind(b[RN_W].t), gpu_bind(b[RN_Y].t), a->n_rows, a->n_cols, a->eps);
}

/* Tolerance: fp32 sum of squares over n_cols terms and an inversesqrt;
 * relative error a few ulps * log(n): 1e-5 relative + 1e-6 absolute. */
vkllm_status check_rmsnorm(gpu_ctx *ctx, uint32_t n_rows, uint32_t n_cols, uint64_t seed, vkllm_check_result *out)
{
    check_begin(out, "rmsnorm", "%u x %u", n_rows, n_cols);
    const size_t n = (size_t)n_rows * n_cols;
    check_host h = { 0 };
    float *x = check_alloc(&h, n * 4), *w = check_alloc(&h, n_cols * 4), *want = check_alloc(&h, n * 4),
          *got = check_alloc(&h, n * 4);
    vkllm_status s = check_host_status(ctx, &h, "check_rmsnorm");
    if (s == VKLLM_OK) {
        rng r = { seed };
        check_fill_f32(&r, x, n, -2.0f, 2.0f);
        check_fill_f32(&r, w, n_cols, -1.5f, 1.5f);
        const rmsnorm_args a = { n_rows, n_cols, 1e-5f };
        ref_rmsnorm(x, w, want, n_rows, n_cols, a.eps);
        check_buf b[RN_N] = {
            [RN_X] = { .host = x, .bytes = n * 4 },
            [RN_W] = { .host = w, .bytes = n_cols * 4 },
            [RN_Y] = { .got = got, .bytes = n * 4 },
        };
        s = check_drive(ctx, b, RN_N, record_rmsnorm, &a, out);
    }
    if (s == VKLLM_OK) check_compare(got, want, NULL, n, 1e-6, 1e-5, "y", out);
    check_host_free(&h);
    return s;
}
