#include "convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "push.h"
#include "util/half.h"

#define CONVERT_WG 128 /* invocations per workgroup; 8 elements each */

vkllm_status op_convert_wg(gpu_rec *rec, bool src_f16, gpu_binding src, gpu_binding dst, uint32_t n,
                           uint32_t src_offset, uint32_t dst_offset, uint32_t wg)
{
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    const char *name = src_f16 ? "convert_f16_f32" : "convert_f32_f16";
    if (n == 0) return VKLLM_OK;
    if (!src.t || !dst.t) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: missing tensor", name);
    uint64_t src_bytes = ((uint64_t)src_offset + n) * (src_f16 ? 2 : 4);
    uint64_t dst_bytes = ((uint64_t)dst_offset + n) * (src_f16 ? 4 : 2);
    if (gpu_binding_bytes(src) < src_bytes || gpu_binding_bytes(dst) < dst_bytes)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: %u elements at offsets %u -> %u exceed a binding", name, n,
                        src_offset, dst_offset);
    if (wg == 0) wg = CONVERT_WG;
    gpu_pipeline *p;
    gpu_pipeline_desc d = {
        .shader = name, .n_buffers = 2, .push_bytes = sizeof(convert_push),
        .n_spec = 1, .spec = { wg },
    };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &p);
    if (s != VKLLM_OK) return s;
    convert_push pc = { .n = n, .src_offset = src_offset, .dst_offset = dst_offset };
    gpu_binding b[2] = { src, dst };
    /* one invocation per 8 elements, plus one for a 1..7-element tail;
     * workgroups past 65535 (Vulkan's minimum maxComputeWorkGroupCount) spill into y */
    uint64_t groups = ((uint64_t)n / 8 + (n % 8 != 0) + wg - 1) / wg;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    return gpu_dispatch(rec, p, b, 2, &pc, gx, (uint32_t)((groups + gx - 1) / gx), 1, name);
}

vkllm_status op_convert_f32_f16(gpu_rec *rec, gpu_binding src, gpu_binding dst, uint32_t n, uint32_t src_offset,
                                uint32_t dst_offset)
{
    return op_convert_wg(rec, false, src, dst, n, src_offset, dst_offset, 0);
}

vkllm_status op_convert_f16_f32(gpu_rec *rec, gpu_binding src, gpu_binding dst, uint32_t n, uint32_t src_offset,
                                uint32_t dst_offset)
{
    return op_convert_wg(rec, true, src, dst, n, src_offset, dst_offset, 0);
}

void ref_convert_f32_f16(const float *src, uint16_t *dst, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}

void ref_convert_f16_f32(const uint16_t *src, float *dst, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

/* ------------------------------------------------------------ check */

/* fp32 sources: typical values, fp16 values and exact midpoints between
 * neighbouring fp16 values (ties), random exponents around the fp16 range
 * (subnormals, rounding, overflow) and raw random bits (NaNs, fp32
 * denormals, huge); the first elements are named edge cases. */
static void fill_src_f32(rng *r, float *x, uint64_t n)
{
    static const float edge[] = {
        0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 65519.996f, 65520.0f /* tie -> inf */, -65520.0f, 65536.0f, 1e6f,
        INFINITY, -INFINITY, NAN, -NAN,
        0x1p-24f /* smallest subnormal */, 0x1p-25f /* tie -> 0 */, -0x1p-25f /* tie -> -0 */,
        0x1.8p-24f /* 3 * 2^-25: tie -> 2^-23 */, 0x1.4p-23f /* 5 * 2^-25: tie -> 2^-23 */,
        0x1p-14f /* smallest normal */, 0x1.ffcp-15f /* largest subnormal + half an ulp: tie -> 2^-14 */,
        1e-8f /* -> 0 */, 1e-40f /* fp32 denormal -> 0 */, -1e-45f,
        0x1.002p0f /* 1 + 2^-11: tie -> 1 */, 0x1.006p0f /* 1 + 3 * 2^-11: tie -> 1 + 2^-9 */,
        3.4028235e38f,
    };
    uint64_t i = 0;
    for (; i < n && i < sizeof edge / sizeof edge[0]; i++) x[i] = edge[i];
    for (; i < n; i++) {
        uint32_t bits;
        switch (rng_below(r, 4)) {
        case 0: x[i] = rng_uniform(r, -3.0f, 3.0f); break;
        case 1: { /* an fp16 value, or the exact midpoint to the next one up in magnitude */
            uint16_t h = (uint16_t)rng_below(r, 0x7bff); /* finite, below the largest */
            h |= (uint16_t)(rng_below(r, 2) << 15);
            double v = half_to_float(h);
            if (rng_below(r, 2)) v = (v + half_to_float((uint16_t)(h + 1))) / 2; /* exact in fp32 */
            x[i] = (float)v;
            break;
        }
        case 2: /* exponent 2^-27 .. 2^17, random sign and mantissa */
            bits = (uint32_t)rng_next(r);
            bits = (bits & 0x807fffffu) | ((100u + rng_below(r, 45)) << 23);
            memcpy(&x[i], &bits, 4);
            break;
        default:
            bits = (uint32_t)rng_next(r);
            memcpy(&x[i], &bits, 4);
            break;
        }
    }
}

vkllm_status check_convert(gpu_ctx *ctx, bool src_f16, uint32_t n, uint32_t src_offset, uint32_t dst_offset,
                           uint32_t wg, uint64_t seed, vkllm_check_result *out)
{
    const char *name = src_f16 ? "cvt16->32" : "cvt32->16";
    if (wg) check_begin(out, name, "%u at %u -> %u (wg %u)", n, src_offset, dst_offset, wg);
    else check_begin(out, name, "%u at %u -> %u", n, src_offset, dst_offset);
    const uint32_t src_size = src_f16 ? 2 : 4, dst_size = src_f16 ? 4 : 2;
    /* a few spare elements after the range in both, so over-reads and
     * over-writes have somewhere to go */
    const uint64_t n_src = (uint64_t)src_offset + n + 3, n_dst = (uint64_t)dst_offset + n + 5;
    void *src = malloc(n_src * src_size), *want = malloc(n_dst * dst_size), *got = malloc(n_dst * dst_size);
    gpu_tensor *ts = NULL, *td = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (!src || !want || !got) goto done;
    rng r = { seed };
    if (src_f16) {
        uint16_t *h = src;
        for (uint64_t i = 0; i < n_src; i++) h[i] = (uint16_t)rng_next(&r);
        if (n >= 65536) /* every half, from a random start */
            for (uint64_t i = 0, k = rng_next(&r); i < n; i++) h[src_offset + i] = (uint16_t)(i + k);
    } else {
        check_fill_f32(&r, src, src_offset, -1.0f, 1.0f);
        fill_src_f32(&r, (float *)src + src_offset, n_src - src_offset);
    }
    /* want: the poison everywhere (it is a 32-bit pattern, so fp16 elements
     * alternate between its halves), the converted range in the middle */
    for (uint64_t i = 0; i < n_dst; i++) {
        if (src_f16) {
            uint32_t p = CHECK_POISON;
            memcpy((uint8_t *)want + 4 * i, &p, 4);
        } else {
            uint16_t p = (uint16_t)(i % 2 ? CHECK_POISON >> 16 : CHECK_POISON & 0xffff);
            memcpy((uint8_t *)want + 2 * i, &p, 2);
        }
    }
    if (src_f16) ref_convert_f16_f32((const uint16_t *)src + src_offset, (float *)want + dst_offset, n);
    else ref_convert_f32_f16((const float *)src + src_offset, (uint16_t *)want + dst_offset, n);

    s = check_tensor_from(ctx, src, n_src * src_size, 0, &ts);
    if (s == VKLLM_OK) s = check_tensor_from(ctx, NULL, n_dst * dst_size, 0, &td);
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 1, &rec);
    if (s == VKLLM_OK) s = op_convert_wg(rec, src_f16, gpu_bind(ts), gpu_bind(td), n, src_offset, dst_offset, wg);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    if (s == VKLLM_OK) s = check_run(ctx, rec, &td, 1, out);
    if (s == VKLLM_OK) s = gpu_download(ctx, td, 0, got, n_dst * dst_size);
    if (s == VKLLM_OK) compare_bits(got, want, n_dst, dst_size, "dst", out);
done:
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, ts);
    gpu_tensor_destroy(ctx, td);
    free(src);
    free(want);
    free(got);
    return s;
}
