#include "rope.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "push.h"
#include "util/half.h"

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

/* op_rope and op_rope_to_cache: n_ctx 0 writes fp32 y, else the fp16 cache
 * (and, n_v > 0, the values v [n_tok][n_v] into v_cache [n_ctx][n_v]). */
static vkllm_status rope_dispatch(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding y, gpu_binding v,
                                  gpu_binding v_cache, uint32_t n_v, uint32_t n_tok, uint32_t n_head,
                                  uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing,
                                  uint32_t n_ctx)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    if (n_rot % 2 || n_rot > head_dim || n_rot > 8192 || pairing > ROPE_ROTATE_HALF || !(theta_base > 0) ||
        (uint64_t)n_tok * n_head * head_dim > UINT32_MAX || (uint64_t)n_tok * n_v > UINT32_MAX / 2)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                        "rope: bad shape (n_tok %u, n_head %u, head_dim %u, n_rot %u, theta_base %g, pairing %u)",
                        n_tok, n_head, head_dim, n_rot, theta_base, pairing);
    const uint64_t row = (uint64_t)n_head * head_dim;
    if (n_ctx && (gpu_binding_bytes(y) < n_ctx * row * 2 || (uint64_t)n_ctx * row > UINT32_MAX))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "rope: a cache of %u positions x %llu does not fit its binding",
                        n_ctx, (unsigned long long)row);
    if (n_v && (gpu_binding_bytes(v_cache) < (uint64_t)n_ctx * n_v * 2 || (uint64_t)n_ctx * n_v > UINT32_MAX ||
                gpu_binding_bytes(v) < (uint64_t)n_tok * n_v * 4))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                        "rope: %u tokens of %u values into a cache of %u positions do not fit their bindings", n_tok,
                        n_v, n_ctx);
    if (gpu_binding_bytes(x) < n_tok * row * 4 || gpu_binding_bytes(pos) < 4ull * n_tok ||
        (!n_ctx && gpu_binding_bytes(y) < n_tok * row * 4))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "rope: a binding is too small for %u tokens of %llu", n_tok,
                        (unsigned long long)row);
    const uint32_t n_b = n_ctx ? ROPE_TO_CACHE_N_BINDINGS : ROPE_N_BINDINGS;
    gpu_pipeline_desc d = {
        .shader = n_ctx ? "rope_to_cache" : "rope", .n_buffers = n_b, .push_bytes = sizeof(rope_push),
        .n_spec = ROPE_N_SPEC, .spec = { [ROPE_SPEC_WG] = ROPE_WG },
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    rope_push pc = {
        .n_tok = n_tok, .n_head = n_head, .head_dim = head_dim, .n_rot = n_rot, .pairing = pairing, .n_ctx = n_ctx,
        .n_v = n_v,
    };
    split12(n_rot ? 2.0 * log2((double)theta_base) / n_rot : 0.0, &pc.step_hi, &pc.step_lo);
    /* without values, x and the key cache stand in for their bindings (never touched) */
    gpu_binding b[ROPE_TO_CACHE_N_BINDINGS] = {
        [ROPE_BIND_X] = x, [ROPE_BIND_POS] = pos, [ROPE_BIND_Y] = y,
        [ROPE_BIND_V] = n_v ? v : x, [ROPE_BIND_V_CACHE] = n_v ? v_cache : y,
    };
    /* one invocation per pair or copied dim (and per value); groups past 65535 spill into y */
    uint64_t items = (uint64_t)n_tok * n_head * (n_rot / 2 + (head_dim - n_rot)) + (uint64_t)n_tok * n_v;
    uint64_t groups = (items + ROPE_WG - 1) / ROPE_WG;
    uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
    uint32_t gy = gx ? (uint32_t)((groups + gx - 1) / gx) : 0;
    return gpu_dispatch(rec, p, b, n_b, &pc, gx, gy, 1, n_ctx ? "rope_to_cache" : "rope");
}

vkllm_status op_rope(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding y, uint32_t n_tok, uint32_t n_head,
                     uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing)
{
    return rope_dispatch(rec, x, pos, y, x, y, 0, n_tok, n_head, head_dim, n_rot, theta_base, pairing, 0);
}

vkllm_status op_rope_to_cache(gpu_rec *rec, gpu_binding x, gpu_binding pos, gpu_binding cache, uint32_t n_tok,
                              uint32_t n_head, uint32_t head_dim, uint32_t n_rot, float theta_base, uint32_t pairing,
                              uint32_t n_ctx)
{
    if (n_ctx == 0) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "rope_to_cache: empty cache");
    return rope_dispatch(rec, x, pos, cache, x, cache, 0, n_tok, n_head, head_dim, n_rot, theta_base, pairing, n_ctx);
}

vkllm_status op_rope_kv_to_cache(gpu_rec *rec, gpu_binding k, gpu_binding v, gpu_binding pos, gpu_binding k_cache,
                                 gpu_binding v_cache, uint32_t n_tok, uint32_t n_head, uint32_t head_dim,
                                 uint32_t n_rot, float theta_base, uint32_t pairing, uint32_t n_ctx)
{
    if (n_ctx == 0) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "rope_kv_to_cache: empty cache");
    return rope_dispatch(rec, k, pos, k_cache, v, v_cache, n_head * head_dim, n_tok, n_head, head_dim, n_rot,
                         theta_base, pairing, n_ctx);
}

/* The values' cache write (ref_kv_store's loop). */
static void ref_kv_store_rows(const float *src, const int32_t *pos, uint16_t *cache, uint32_t n_tok, uint32_t row,
                              uint32_t n_ctx)
{
    for (uint32_t t = 0; t < n_tok; t++) {
        if (pos[t] < 0 || (uint32_t)pos[t] >= n_ctx) continue;
        for (uint32_t e = 0; e < row; e++) cache[(size_t)pos[t] * row + e] = float_to_half(src[(size_t)t * row + e]);
    }
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

enum { RP_X, RP_POS, RP_Y, RP_N, RP_V = RP_N, RP_VC, RP_N_KV };

typedef struct rope_args {
    const rope_case *c;
    uint32_t n_ctx; /* rope_to_cache: the cache's positions; 0: op_rope */
    bool values;    /* rope_kv_to_cache: values too */
} rope_args;

static void record_rope(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const rope_args *a = arg;
    const rope_case *c = a->c;
    /* op_rope in place writes over x; rope_to_cache writes the cache */
    gpu_binding x = gpu_bind(b[RP_X].t), pos = gpu_bind(b[RP_POS].t);
    gpu_binding y = gpu_bind(b[c->in_place && !a->n_ctx ? RP_X : RP_Y].t);
    if (a->n_ctx && a->values)
        op_rope_kv_to_cache(rec, x, gpu_bind(b[RP_V].t), pos, y, gpu_bind(b[RP_VC].t), c->n_tok, c->n_head, c->head_dim,
                            c->n_rot, c->theta_base, c->pairing, a->n_ctx);
    else if (a->n_ctx)
        op_rope_to_cache(rec, x, pos, y, c->n_tok, c->n_head, c->head_dim, c->n_rot, c->theta_base, c->pairing, a->n_ctx);
    else
        op_rope(rec, x, pos, y, c->n_tok, c->n_head, c->head_dim, c->n_rot, c->theta_base, c->pairing);
}

vkllm_status check_rope(gpu_ctx *ctx, const rope_case *c, uint64_t seed, vkllm_check_result *out)
{
    /* e.g. "64x32x128 r128 adj t10000 p<32768 ip": tokens x heads x head_dim, rotated dims,
     * pairing, theta, positions from pos0 (p100) or random (p<N), in place */
    check_begin(out, "rope", "%ux%ux%u r%u %s t%g p%s%d%s", c->n_tok, c->n_head, c->head_dim, c->n_rot,
                c->pairing == ROPE_ADJACENT ? "adj" : "half", c->theta_base, c->pos_rand ? "<" : "",
                c->pos_rand ? (int)c->pos_rand : c->pos0, c->in_place ? " ip" : "");
    const size_t n = (size_t)c->n_tok * c->n_head * c->head_dim;
    check_host h = { 0 };
    float *x = check_alloc(&h, n * sizeof *x), *want = check_alloc(&h, n * sizeof *want), *got = check_alloc(&h, n * sizeof *got);
    double *bound = check_alloc(&h, n * sizeof *bound);
    int32_t *pos = check_alloc(&h, c->n_tok * sizeof *pos);
    check_driver d = { 0 };
    vkllm_status s = check_host_status(ctx, &h, "check_rope");
    if (s != VKLLM_OK) goto done;
    rng r = { seed };
    check_fill_f32(&r, x, n, -1.0f, 1.0f);
    /* in place: the output is x (restored from the host before each run) */
    check_buf b[RP_N] = {
        [RP_X] = { .host = x, .bytes = n * 4, .got = c->in_place ? got : NULL, .in_out = c->in_place },
        [RP_POS] = { .host = pos, .bytes = c->n_tok * 4 },
        [RP_Y] = { .got = c->in_place ? NULL : got, .bytes = c->in_place ? 4 : n * 4 },
    };
    s = check_prepare(&d, ctx, b, RP_N, record_rope, &(rope_args){ c, 0, false });
    /* round 0: the given positions; round 1: new ones uploaded, same recording replayed */
    vkllm_check_result first = *out;
    for (uint32_t round = 0; round < 2 && s == VKLLM_OK; round++) {
        make_positions(&r, c, round, pos);
        ref_rope(x, pos, want, c->n_tok, c->n_head, c->head_dim, c->n_rot, c->theta_base, c->pairing);
        rope_bounds(x, pos, bound, c);
        s = check_execute(&d, out);
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
    check_release(&d);
    check_host_free(&h);
    return s;
}

static vkllm_status check_to_cache(gpu_ctx *ctx, const rope_case *c, uint32_t n_ctx, bool values, uint64_t seed,
                                   vkllm_check_result *out)
{
    check_begin(out, "rope>cache", "%ux%ux%u r%u %s t%g into %u%s", c->n_tok, c->n_head, c->head_dim, c->n_rot,
                c->pairing == ROPE_ADJACENT ? "adj" : "half", c->theta_base, n_ctx, values ? " +v" : "");
    if (c->n_tok > n_ctx + 1)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_rope_to_cache: %u tokens into %u positions", c->n_tok, n_ctx);
    const size_t row = (size_t)c->n_head * c->head_dim, n = c->n_tok * row, n_cache = (size_t)n_ctx * row;
    check_host h = { 0 };
    float *x = check_alloc(&h, n * sizeof *x), *want = check_alloc(&h, n * sizeof *want), *got = check_alloc(&h, n * sizeof *got);
    double *bound = check_alloc(&h, n * sizeof *bound);
    int32_t *pos = check_alloc(&h, c->n_tok * sizeof *pos);
    uint16_t *cache = check_alloc(&h, n_cache * 2), *after = check_alloc(&h, n_cache * 2);
    uint32_t *perm = check_alloc(&h, n_ctx * sizeof *perm);
    /* values (op_rope_kv_to_cache): their cache is written as ref_kv_store says */
    float *v = values ? check_alloc(&h, n * sizeof *v) : NULL;
    uint16_t *v_cache = values ? check_alloc(&h, n_cache * 2) : NULL, *v_want = values ? check_alloc(&h, n_cache * 2) : NULL,
             *v_after = values ? check_alloc(&h, n_cache * 2) : NULL;
    vkllm_status s = check_host_status(ctx, &h, "check_rope_to_cache");
    if (s != VKLLM_OK) goto done;
    rng r = { seed };
    check_fill_f32(&r, x, n, -1.0f, 1.0f);
    for (size_t i = 0; i < n_cache; i++) cache[i] = (uint16_t)rng_next(&r);
    /* distinct random positions; the last token (when there are more tokens
     * than positions) lies outside the cache and must be skipped */
    for (uint32_t i = 0; i < n_ctx; i++) perm[i] = i;
    for (uint32_t t = 0; t < c->n_tok; t++) {
        if (t == n_ctx) {
            pos[t] = (int32_t)(n_ctx + rng_below(&r, 100));
            continue;
        }
        uint32_t j = t + rng_below(&r, n_ctx - t), tmp = perm[t];
        perm[t] = perm[j];
        perm[j] = tmp;
        pos[t] = (int32_t)perm[t];
    }
    ref_rope(x, pos, want, c->n_tok, c->n_head, c->head_dim, c->n_rot, c->theta_base, c->pairing);
    rope_bounds(x, pos, bound, c);
    if (values) {
        check_fill_f32(&r, v, n, -70000.0f, 70000.0f); /* past fp16's range too: inf */
        for (size_t i = 0; i < n; i += 5) v[i] *= 1e-6f; /* and small ones: subnormal halves */
        for (size_t i = 0; i < n_cache; i++) v_cache[i] = (uint16_t)rng_next(&r);
        memcpy(v_want, v_cache, n_cache * 2);
        ref_kv_store_rows(v, pos, v_want, c->n_tok, (uint32_t)row, n_ctx);
    }
    /* the caches are in-out buffers: the untouched rows are part of the result */
    check_buf b[RP_N_KV] = {
        [RP_X] = { .host = x, .bytes = n * 4 },
        [RP_POS] = { .host = pos, .bytes = c->n_tok * 4 },
        [RP_Y] = { .host = cache, .bytes = n_cache * 2, .got = after, .in_out = true },
        [RP_V] = { .host = v, .bytes = n * 4 },
        [RP_VC] = { .host = v_cache, .bytes = n_cache * 2, .got = v_after, .in_out = true },
    };
    s = check_drive(ctx, b, values ? RP_N_KV : RP_N, record_rope, &(rope_args){ c, n_ctx, values }, out);
    if (s != VKLLM_OK) goto done;
    if (values && memcmp(v_want, v_after, n_cache * 2) != 0) { /* values: bit for bit, every row */
        size_t i = 0;
        while (v_want[i] == v_after[i]) i++;
        out->passed = 0;
        out->ratio = INFINITY;
        snprintf(out->detail, sizeof out->detail, "value cache element %zu (position %zu): got %04x, want %04x", i,
                 i / row, v_after[i], v_want[i]);
        goto done;
    }
    /* every row no token wrote keeps its bits */
    for (uint32_t t = 0; t < c->n_tok && t < n_ctx; t++) /* mark written rows in the original */
        memcpy(cache + (size_t)pos[t] * row, after + (size_t)pos[t] * row, row * 2);
    if (memcmp(cache, after, n_cache * 2) != 0) {
        out->passed = 0;
        out->ratio = INFINITY;
        snprintf(out->detail, sizeof out->detail, "a cache row no token owns was written");
        goto done;
    }
    /* written rows: the rotation's bound, plus fp16 rounding: half an ulp,
     * at most 2^-11 of the rounded value, allowed as 2^-10 of the exact one
     * (a value just under a power of two rounds up into the next binade);
     * 2^-24 absolute for subnormal halves */
    for (uint32_t t = 0; t < c->n_tok; t++)
        for (size_t e = 0; e < row; e++) {
            size_t i = t * row + e;
            got[i] = t < n_ctx ? half_to_float(after[(size_t)pos[t] * row + e]) : want[i];
            bound[i] += ldexp(1, -10) * (fabs(want[i]) + bound[i]) + ldexp(1, -24);
        }
    check_compare(got, want, bound, n, 0.0, 1.0, "cache", out);
done:
    check_host_free(&h);
    return s;
}

vkllm_status check_rope_to_cache(gpu_ctx *ctx, const rope_case *c, uint32_t n_ctx, uint64_t seed,
                                 vkllm_check_result *out)
{
    return check_to_cache(ctx, c, n_ctx, false, seed, out);
}

vkllm_status check_rope_kv_to_cache(gpu_ctx *ctx, const rope_case *c, uint32_t n_ctx, uint64_t seed,
                                    vkllm_check_result *out)
{
    return check_to_cache(ctx, c, n_ctx, true, seed, out);
}
