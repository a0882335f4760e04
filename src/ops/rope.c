#include "rope.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "push.h"

#define ROPE_WG 64

/* v = hi + lo with hi holding at most 12 significant bits. */
static void split12(double v, float *hi, float *lo)
{
    int e;
    double m = frexp(v, &e); /* v = m * 2^e, 0.5 <= |m| < 1 */
    double h = ldexp(nearbyint(ldexp(m, 12)), e - 12);
    *hi = (float)h;
    *lo = (float)(v - h);
}

vkllm_status op_rope(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding y, uint32_t n_tok, uint32_t n_head,
                     uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing)
{
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    if (n_rot % 2 || n_rot > head_dim || n_rot > 8192 || pairing > ROPE_ROTATE_HALF || !(theta_base > 0) ||
        (uint64_t)n_tok * n_head * head_dim > UINT32_MAX)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                        "rope: bad shape (n_tok %u, n_head %u, head_dim %u, n_rot %u, theta_base %g, pairing %u)",
                        n_tok, n_head, head_dim, n_rot, theta_base, pairing);
    gpu_pipeline *p;
    gpu_pipeline_desc d = {
        .shader = "rope", .n_buffers = 3, .push_bytes = sizeof(rope_push),
        .n_spec = 1, .spec = { ROPE_WG },
    };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &p);
    if (s != VKLLM_OK) return s;
    rope_push pc = { .n_tok = n_tok, .n_head = n_head, .head_dim = head_dim, .n_rot = n_rot, .pairing = pairing };
    split12(n_rot ? 2.0 * log2((double)theta_base) / n_rot : 0.0, &pc.step_hi, &pc.step_lo);
    gpu_binding b[3] = { x, pos, y };
    /* one invocation per pair or copied dim; groups past 65535 spill into y */
    uint64_t items = (uint64_t)n_tok * n_head * (n_rot / 2 + (head_dim - n_rot));
    uint64_t groups = (items + ROPE_WG - 1) / ROPE_WG;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    uint32_t gy = gx ? (uint32_t)((groups + gx - 1) / gx) : 0;
    return gpu_dispatch(rec, p, b, 3, &pc, gx, gy, 1, "rope");
}

/* The dims of pair i within a head. */
static void pair_dims(uint32_t i, uint32_t n_rot, uint32_t pairing, uint32_t *d0, uint32_t *d1)
{
    *d0 = pairing == ROPE_ADJACENT ? 2 * i : i;
    *d1 = pairing == ROPE_ADJACENT ? 2 * i + 1 : i + n_rot / 2;
}

void ref_rope(const float *x, const int32_t *pos, float *y, uint32_t n_tok, uint32_t n_head, uint32_t head_dim,
              uint32_t n_rot, float theta_base, uint32_t pairing)
{
    for (uint32_t t = 0; t < n_tok; t++)
        for (uint32_t h = 0; h < n_head; h++) {
            const float *xh = x + ((size_t)t * n_head + h) * head_dim;
            float *yh = y + ((size_t)t * n_head + h) * head_dim;
            for (uint32_t i = 0; i < n_rot / 2; i++) {
                double angle = pos[t] * pow(theta_base, -2.0 * i / n_rot);
                double c = cos(angle), s = sin(angle);
                uint32_t d0, d1;
                pair_dims(i, n_rot, pairing, &d0, &d1);
                yh[d0] = (float)(xh[d0] * c - xh[d1] * s);
                yh[d1] = (float)(xh[d0] * s + xh[d1] * c);
            }
            for (uint32_t d = n_rot; d < head_dim; d++) yh[d] = xh[d];
        }
}

/* Allowed error of each output, in `bound` (u = 2^-24, a = the exact angle):
 *   rotated pair (x0, x1):  (|x0| + |x1|) * u * (13 |a| + 7)
 * The angle the GPU uses is off by <= u * (12.4 |a| + 2):
 *   freq = 2^-(i*step): exp2 on [0, 1) within 5 ulp (GLSL's bound; 1 ulp
 *   <= 2u relative) = 10u, its argument rounded 0.35u; angle = fl(pos *
 *   freq) u; k * P1 inexact once k >= 2^16, u |a|; reduced angle's
 *   roundings 2u absolute. A rotation off by da moves the output by
 *   <= |(x0, x1)| da <= (|x0| + |x1|) da.
 * sin/cos polynomials: 2u (measured 1.25u over every float in range).
 * Output products and sum 2u, the reference's rounding to fp32 u.
 * Copied dims must be exact. */
static void rope_bounds(const float *x, const int32_t *pos, double *bound, const rope_case *c)
{
    const double u = ldexp(1, -24);
    for (uint32_t t = 0; t < c->n_tok; t++)
        for (uint32_t h = 0; h < c->n_head; h++) {
            size_t base = ((size_t)t * c->n_head + h) * c->head_dim;
            for (uint32_t i = 0; i < c->n_rot / 2; i++) {
                double a = fabs(pos[t] * pow(c->theta_base, -2.0 * i / c->n_rot));
                uint32_t d0, d1;
                pair_dims(i, c->n_rot, c->pairing, &d0, &d1);
                double b = (fabs(x[base + d0]) + fabs(x[base + d1])) * u * (13 * a + 7);
                bound[base + d0] = bound[base + d1] = b;
            }
            for (uint32_t d = c->n_rot; d < c->head_dim; d++) bound[base + d] = 0;
        }
}

static void make_positions(rng *r, const rope_case *c, uint32_t round, int32_t *pos)
{
    for (uint32_t t = 0; t < c->n_tok; t++)
        pos[t] = c->pos_rand ? (int32_t)rng_below(r, c->pos_rand) : c->pos0 + (int32_t)(round * c->n_tok + t);
}

vkllm_status check_rope(gpu_ctx *ctx, const rope_case *c, uint64_t seed, vkllm_check_result *out)
{
    /* e.g. "64x32x128 r128 adj t10000 p<32768 ip": tokens x heads x head_dim, rotated dims,
     * pairing, theta, positions from pos0 (p100) or random (p<N), in place */
    check_begin(out, "rope", "%ux%ux%u r%u %s t%g p%s%d%s", c->n_tok, c->n_head, c->head_dim, c->n_rot,
                c->pairing == ROPE_ADJACENT ? "adj" : "half", c->theta_base, c->pos_rand ? "<" : "",
                c->pos_rand ? (int)c->pos_rand : c->pos0, c->in_place ? " ip" : "");
    size_t n = (size_t)c->n_tok * c->n_head * c->head_dim;
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    double *bound = malloc(n * sizeof *bound);
    int32_t *pos = malloc(c->n_tok * sizeof *pos);
    gpu_tensor *tx = NULL, *tp = NULL, *ty = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (!x || !want || !got || !bound || !pos) goto done;
    rng r = { seed };
    check_fill_f32(&r, x, n, -1.0f, 1.0f);

    s = check_tensor_from(ctx, x, n * 4, 0, &tx);
    if (s == VKLLM_OK) s = check_tensor_from(ctx, NULL, c->n_tok * 4, 0, &tp);
    if (s == VKLLM_OK && !c->in_place) s = check_tensor_from(ctx, NULL, n * 4, 0, &ty);
    gpu_tensor *result = c->in_place ? tx : ty;
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 4, &rec);
    if (s == VKLLM_OK)
        s = op_rope(rec, gpu_bind(tx), gpu_bind(tp), gpu_bind(result), c->n_tok, c->n_head, c->head_dim, c->n_rot,
                    c->theta_base, c->pairing);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    /* round 0: the given positions; round 1: new ones uploaded, same recording replayed */
    vkllm_check_result first = *out;
    for (uint32_t round = 0; round < 2 && s == VKLLM_OK; round++) {
        make_positions(&r, c, round, pos);
        ref_rope(x, pos, want, c->n_tok, c->n_head, c->head_dim, c->n_rot, c->theta_base, c->pairing);
        rope_bounds(x, pos, bound, c);
        s = gpu_upload(ctx, tp, 0, pos, c->n_tok * 4);
        if (s == VKLLM_OK && c->in_place) { /* the input is the output: restore it before each run */
            if (round == 0) s = gpu_rec_submit(rec); /* warm-up (shader compiled at first dispatch) */
            if (s == VKLLM_OK) s = gpu_upload(ctx, tx, 0, x, n * 4);
            if (s == VKLLM_OK) s = gpu_rec_submit(rec);
            if (s == VKLLM_OK && round == 0) out->gpu_us = gpu_rec_total_us(rec);
        } else if (s == VKLLM_OK && round == 0) {
            s = check_run(ctx, rec, &ty, 1, out);
        } else if (s == VKLLM_OK) {
            s = gpu_fill(ctx, ty, CHECK_POISON);
            if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        }
        if (s == VKLLM_OK) s = gpu_download(ctx, result, 0, got, n * 4);
        if (s != VKLLM_OK) break;
        check_compare(got, want, bound, n, 0.0, 1.0, round ? "y (replayed, new pos)" : "y", out);
        if (round == 0) {
            first = *out;
        } else {
            if (!first.passed) memcpy(out->detail, first.detail, sizeof out->detail);
            out->passed = out->passed && first.passed;
            out->max_err = fmax(out->max_err, first.max_err);
            out->ratio = fmax(out->ratio, first.ratio);
        }
    }
done:
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, tx);
    gpu_tensor_destroy(ctx, tp);
    gpu_tensor_destroy(ctx, ty);
    free(x);
    free(want);
    free(got);
    free(bound);
    free(pos);
    return s;
}
