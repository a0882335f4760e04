#include "elementwise.h"

#include "check.h"
#include "push.h"

#define ELEMENTWISE_WG 128 /* invocations per workgroup; 4 elements each */

vkllm_status elementwise_dispatch(gpu_rec *rec, const char *name, gpu_binding a, gpu_binding b, gpu_binding out,
                                  uint32_t n, uint32_t wg)
{
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    if (n == 0) return VKLLM_OK;
    if (!a.t || !b.t || !out.t) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: missing tensor", name);
    uint64_t bytes = (uint64_t)n * 4;
    if (gpu_binding_bytes(a) < bytes || gpu_binding_bytes(b) < bytes || gpu_binding_bytes(out) < bytes)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: %u elements exceed a binding", name, n);
    if (wg == 0) wg = ELEMENTWISE_WG;
    gpu_pipeline *p;
    gpu_pipeline_desc d = {
        .shader = name, .n_buffers = 3, .push_bytes = sizeof(elementwise_push), .n_spec = 1, .spec = { wg },
    };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &p);
    if (s != VKLLM_OK) return s;
    elementwise_push pc = { .n = n };
    gpu_binding bb[3] = { a, b, out };
    /* one invocation per 4 elements, plus one for a 1..3-element tail;
     * workgroups past 65535 (Vulkan's minimum maxComputeWorkGroupCount) spill into y */
    uint64_t groups = ((uint64_t)n / 4 + (n % 4 != 0) + wg - 1) / wg;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    return gpu_dispatch(rec, p, bb, 3, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, name);
}

vkllm_status elementwise_check_run(gpu_ctx *ctx, const char *name, const float *a, const float *b, uint32_t n,
                                   uint32_t wg, bool in_place, float *got, vkllm_check_result *out)
{
    gpu_tensor *ta = NULL, *tb = NULL, *to = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = check_tensor_from(ctx, a, (uint64_t)n * 4, 0, &ta);
    if (s == VKLLM_OK) s = check_tensor_from(ctx, b, (uint64_t)n * 4, 0, &tb);
    if (s == VKLLM_OK && !in_place) s = check_tensor_from(ctx, NULL, (uint64_t)n * 4, 0, &to);
    gpu_tensor *res = in_place ? ta : to;
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 1, &rec);
    if (s == VKLLM_OK) s = elementwise_dispatch(rec, name, gpu_bind(ta), gpu_bind(tb), gpu_bind(res), n, wg);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    if (in_place) {
        /* the output is the input: it can't be poisoned, and each run changes
         * it, so run once; poisoning is covered by the out-of-place runs */
        if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        if (s == VKLLM_OK) out->gpu_us = gpu_rec_total_us(rec);
    } else if (s == VKLLM_OK) {
        s = check_run(ctx, rec, &to, 1, out);
    }
    if (s == VKLLM_OK) s = gpu_download(ctx, res, 0, got, (uint64_t)n * 4);
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, ta);
    gpu_tensor_destroy(ctx, tb);
    gpu_tensor_destroy(ctx, to);
    return s;
}
