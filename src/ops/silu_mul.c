#include "silu_mul.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "push.h"

#define SILU_MUL_WG 128 /* invocations per workgroup; 4 elements each */

vkllm_status op_silu_mul_wg(gpu_rec *rec, gpu_binding gate, gpu_binding up, gpu_binding out, uint32_t n, uint32_t wg)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n == 0) return VKLLM_OK;
    if (!gate.t || !up.t || !out.t) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "silu_mul: missing tensor");
    uint64_t bytes = (uint64_t)n * 4;
    if (gpu_binding_bytes(gate) < bytes || gpu_binding_bytes(up) < bytes || gpu_binding_bytes(out) < bytes)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "silu_mul: %u elements exceed a binding", n);
    if (wg == 0) wg = SILU_MUL_WG;
    gpu_pipeline_desc d = {
        .shader = "silu_mul", .n_buffers = SILU_MUL_N_BINDINGS, .push_bytes = sizeof(silu_mul_push),
        .n_spec = SILU_MUL_N_SPEC, .spec = { [SILU_MUL_SPEC_WG] = wg },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    silu_mul_push pc = { .n = n };
    gpu_binding b[SILU_MUL_N_BINDINGS] = { [SILU_MUL_BIND_GATE] = gate, [SILU_MUL_BIND_UP] = up, [SILU_MUL_BIND_OUT] = out };
    /* one invocation per 4 elements, plus one for a 1..3-element tail;
     * workgroups past 65535 (Vulkan's minimum maxComputeWorkGroupCount) spill into y */
    uint64_t groups = ((uint64_t)n / 4 + (n % 4 != 0) + wg - 1) / wg;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    return gpu_dispatch(rec, p, b, SILU_MUL_N_BINDINGS, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, "silu_mul");
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
enum { SM_GATE, SM_UP, SM_OUT, SM_N };

typedef struct silu_mul_args {
    uint32_t n, wg;
    bool in_place;
} silu_mul_args;

static void record_silu_mul(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const silu_mul_args *a = arg;
    gpu_binding out = gpu_bind(b[a->in_place ? SM_GATE : SM_OUT].t);
    op_silu_mul_wg(rec, gpu_bind(b[SM_GATE].t), gpu_bind(b[SM_UP].t), out, a->n, a->wg);
}

vkllm_status check_silu_mul(gpu_ctx *ctx, uint32_t n, uint32_t wg, bool in_place, uint64_t seed,
                            vkllm_check_result *out)
{
    const char *how = in_place ? ", in place" : "";
    if (wg) check_begin(out, "silu_mul", "%u%s (wg %u)", n, how, wg);
    else check_begin(out, "silu_mul", "%u%s", n, how);
    check_host h = { 0 };
    float *gate = check_alloc(&h, (size_t)n * 4), *up = check_alloc(&h, (size_t)n * 4);
    float *want = check_alloc(&h, (size_t)n * 4), *got = check_alloc(&h, (size_t)n * 4);
    double *scale = check_alloc(&h, (size_t)n * sizeof *scale);
    vkllm_status s = check_host_status(ctx, &h, "check_silu_mul");
    if (s == VKLLM_OK) {
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
        /* in place: the output is gate (restored after the warm-up, not poisoned;
         * poisoning is covered by the out-of-place runs) */
        check_buf b[SM_N] = {
            [SM_GATE] = { .host = gate, .bytes = (uint64_t)n * 4, .got = in_place ? got : NULL, .in_out = in_place },
            [SM_UP] = { .host = up, .bytes = (uint64_t)n * 4 },
            [SM_OUT] = { .got = in_place ? NULL : got, .bytes = in_place ? 4 : (uint64_t)n * 4 },
        };
        const silu_mul_args a = { n, wg, in_place };
        s = check_drive(ctx, b, SM_N, record_silu_mul, &a, out);
    }
    if (s == VKLLM_OK) check_compare(got, want, scale, n, 1e-35, 0x1p-23, "out", out);
    check_host_free(&h);
    return s;
}
