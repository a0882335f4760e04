#include "add.h"

#include <float.h>
#include <stdlib.h>

#include "check.h"
#include "push.h"

#define ADD_WG 128 /* invocations per workgroup; 4 elements each */

vkllm_status op_add_wg(gpu_rec *rec, gpu_binding a, gpu_binding b, gpu_binding out, uint32_t n, uint32_t wg)
{
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    if (n == 0) return VKLLM_OK;
    if (!a.t || !b.t || !out.t) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "add: missing tensor");
    uint64_t bytes = (uint64_t)n * 4;
    if (gpu_binding_bytes(a) < bytes || gpu_binding_bytes(b) < bytes || gpu_binding_bytes(out) < bytes)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "add: %u elements exceed a binding", n);
    if (wg == 0) wg = ADD_WG;
    gpu_pipeline *p;
    gpu_pipeline_desc d = {
        .shader = "add", .n_buffers = 3, .push_bytes = sizeof(elementwise_push),
        .n_spec = 1, .spec = { wg },
    };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &p);
    if (s != VKLLM_OK) return s;
    elementwise_push pc = { .n = n };
    gpu_binding bb[3] = { a, b, out };
    /* one invocation per 4 elements, plus one for a 1..3-element tail;
     * workgroups past 65535 (Vulkan's minimum maxComputeWorkGroupCount) spill into y */
    uint64_t groups = ((uint64_t)n / 4 + (n % 4 != 0) + wg - 1) / wg;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    return gpu_dispatch(rec, p, bb, 3, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "add");
}

vkllm_status op_add(gpu_rec *rec, gpu_binding a, gpu_binding b, gpu_binding out, uint32_t n)
{
    return op_add_wg(rec, a, b, out, n, 0);
}

void ref_add(const float *a, const float *b, float *out, uint32_t n)
{
    /* exact in double for these inputs, then one rounding (to nearest even) */
    for (uint32_t i = 0; i < n; i++) out[i] = (float)((double)a[i] + (double)b[i]);
}

/* Tolerance: Vulkan makes OpFAdd correctly rounded, but which of the two
 * neighbouring floats an inexact sum becomes is the implementation's choice
 * ("the rounding mode is not defined") and denormals may be flushed: 1 ulp,
 * i.e. rtol 2^-23, plus FLT_MIN absolute. lavapipe rounds to nearest even,
 * so it matches the reference exactly (max err 0). */
vkllm_status check_add(gpu_ctx *ctx, uint32_t n, uint32_t wg, bool in_place, uint64_t seed, vkllm_check_result *out)
{
    const char *how = in_place ? ", in place" : "";
    if (wg) check_begin(out, "add", "%u%s (wg %u)", n, how, wg);
    else check_begin(out, "add", "%u%s", n, how);
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    gpu_tensor *ta = NULL, *tb = NULL, *to = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (!a || !b || !want || !got) goto done;
    rng r = { seed };
    check_fill_f32(&r, a, n, -4.0f, 4.0f);
    check_fill_f32(&r, b, n, -4.0f, 4.0f);
    for (uint32_t i = 0; i < n; i++) { /* cancellations: exact zero, and a few ulps left */
        uint32_t k = rng_below(&r, 16);
        if (k == 0) b[i] = -a[i];
        if (k == 1) b[i] = -a[i] * (1.0f + 3 * FLT_EPSILON);
    }
    ref_add(a, b, want, n);

    s = check_tensor_from(ctx, a, (uint64_t)n * 4, 0, &ta);
    if (s == VKLLM_OK) s = check_tensor_from(ctx, b, (uint64_t)n * 4, 0, &tb);
    if (s == VKLLM_OK && !in_place) s = check_tensor_from(ctx, NULL, (uint64_t)n * 4, 0, &to);
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 1, &rec);
    if (s == VKLLM_OK) s = op_add_wg(rec, gpu_bind(ta), gpu_bind(tb), gpu_bind(in_place ? ta : to), n, wg);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    if (in_place) {
        /* the output is the input: it can't be poisoned, and each run changes
         * it, so run once; poisoning is covered by the out-of-place runs */
        if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        if (s == VKLLM_OK) out->gpu_us = gpu_rec_total_us(rec);
    } else if (s == VKLLM_OK) {
        s = check_run(ctx, rec, &to, 1, out);
    }
    if (s == VKLLM_OK) s = gpu_download(ctx, in_place ? ta : to, 0, got, (uint64_t)n * 4);
    if (s == VKLLM_OK) check_compare(got, want, NULL, n, FLT_MIN, FLT_EPSILON, "out", out);
done:
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, ta);
    gpu_tensor_destroy(ctx, tb);
    gpu_tensor_destroy(ctx, to);
    free(a);
    free(b);
    free(want);
    free(got);
    return s;
}
