#include "elementwise.h"

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
