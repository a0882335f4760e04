#include "silu_mul.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "elementwise.h"

vkllm_status op_silu_mul_wg(gpu_rec *rec, gpu_binding gate, gpu_binding up, gpu_binding out, uint32_t n, uint32_t wg)
{
    return elementwise_dispatch(rec, "silu_mul", gate, up, out, n, wg);
}

vkllm_status op_silu_mul(gpu_rec *rec, gpu_binding gate, gpu_binding up, gpu_binding out, uint32_t n)
{
    return op_silu_mul_wg(rec, gate, up, out, n, 0);
}

void ref_silu_mul(const float *gate, const float *up, float *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        double g = gate[i];
        double sigmoid = 1.0 / (1.0 + exp(-g)); /* exp(1000) = inf -> 0: fine in IEEE double */
        out[i] = (float)(g * sigmoid * up[i]);
    }
}

/* Tolerance, per element, from Vulkan's precision rules for the shader's
 * g * (g >= 0 ? 1 : t) / (1 + t) * up with t = exp(-|g|):
 *   exp is good to 3 + 2|x| ulp (x = -|g| here); the division to 2.5 ulp;
 *   1 + t and the two multiplies are correctly rounded to either neighbour:
 *   1 ulp each. For g < 0 the result carries t's error in full: 9 + 2|g| ulp
 *   in all. For g >= 0 only t / (1 + t) of it, (3 + 2g) e^-g <= 3 ulp: 9 ulp.
 *   So |got - want| <= 2^-23 |want| (9 + 2|g|) (or 9). lavapipe stays under
 *   0.3 of that bound over g in [-88, 88].
 *   t is denormal for |g| > 87.3 and may be flushed to 0; the result lost is
 *   at most 87.4 * 1.2e-38 * |up| < 2.1e-36: atol 1e-35. */
vkllm_status check_silu_mul(gpu_ctx *ctx, uint32_t n, uint32_t wg, bool in_place, uint64_t seed,
                            vkllm_check_result *out)
{
    const char *how = in_place ? ", in place" : "";
    if (wg) check_begin(out, "silu_mul", "%u%s (wg %u)", n, how, wg);
    else check_begin(out, "silu_mul", "%u%s", n, how);
    float *gate = malloc((size_t)n * 4), *up = malloc((size_t)n * 4);
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
    double *scale = malloc((size_t)n * sizeof *scale);
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (!gate || !up || !want || !got || !scale) goto done;
    rng r = { seed };
    check_fill_f32(&r, gate, n, -8.0f, 8.0f);
    check_fill_f32(&r, up, n, -2.0f, 2.0f);
    /* about one gate in 16 from [-90, 90], one in 16 from the far ends, where
     * a naive sigmoid overflows (not +-inf: silu(-inf) = -inf * 0 is NaN in
     * the reference too) */
    static const float far[] = { 0.0f, -0.0f, 30.0f, -30.0f, 87.0f, -87.5f, -88.0f, 89.0f, -100.0f, 100.0f,
                                 -1000.0f, 1000.0f, -1e30f, 1e30f };
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = rng_below(&r, 16);
        if (k == 0) gate[i] = rng_uniform(&r, -90.0f, 90.0f);
        if (k == 1) gate[i] = far[rng_below(&r, sizeof far / sizeof far[0])];
    }
    ref_silu_mul(gate, up, want, n);
    for (uint32_t i = 0; i < n; i++) scale[i] = fabs((double)want[i]) * (gate[i] < 0 ? 9.0 - 2.0 * gate[i] : 9.0);

    s = elementwise_check_run(ctx, "silu_mul", gate, up, n, wg, in_place, got, out);
    if (s == VKLLM_OK) check_compare(got, want, scale, n, 1e-35, 0x1p-23, "out", out);
done:
    free(gate);
    free(up);
    free(want);
    free(got);
    free(scale);
    return s;
}
