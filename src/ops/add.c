#include "add.h"

#include <float.h>
#include <stdlib.h>

#include "check.h"
#include "elementwise.h"

vkllm_status op_add_wg(gpu_rec *rec, gpu_binding a, gpu_binding b, gpu_binding out, uint32_t n, uint32_t wg)
{
    return elementwise_dispatch(rec, "add", a, b, out, n, wg);
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

    s = elementwise_check_run(ctx, "add", a, b, n, wg, in_place, got, out);
    if (s == VKLLM_OK) check_compare(got, want, NULL, n, FLT_MIN, FLT_EPSILON, "out", out);
done:
    free(a);
    free(b);
    free(want);
    free(got);
    return s;
}
