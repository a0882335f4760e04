#include "softmax.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "push.h"

/* How a row is spread over invocations (see shaders/softmax.comp). */
typedef struct softmax_plan {
    uint32_t wg;            /* workgroup size, a power of two */
    uint32_t subgroup_rows; /* 1: each subgroup owns rows; 0: the workgroup owns one row */
    uint32_t rows_per_wg;   /* rows per workgroup */
    uint32_t min_lanes;     /* fewest invocations that may share one row */
    uint32_t max_levels;    /* most fp32 additions across invocations (tolerance) */
} softmax_plan;

/* Rows of up to this many columns per subgroup invocation go to one subgroup. */
#define SOFTMAX_COLS_PER_LANE 4
#define SOFTMAX_ROW_WG 256 /* one-workgroup-per-row variant */
#define SOFTMAX_SG_WG 64   /* subgroup-per-row variant */

static softmax_plan softmax_plan_for(const gpu_ctx *ctx, uint32_t n_cols, uint32_t variant)
{
    const vkllm_device_info *in = gpu_info(ctx);
    uint32_t sg = in->subgroup_size ? in->subgroup_size : 1;
    uint32_t sg_min = in->subgroup_min ? in->subgroup_min : 1;
    uint32_t sg_max = in->subgroup_max > sg ? in->subgroup_max : sg;
    softmax_plan p;
    /* lavapipe runs a workgroup's subgroups one after the other on one CPU
     * thread and barriers are costly there: one workgroup per row gains
     * nothing, so CPU devices always take the subgroup variant */
    if (variant == SOFTMAX_AUTO)
        variant = in->type == VKLLM_DEVICE_CPU || n_cols <= SOFTMAX_COLS_PER_LANE * sg ? SOFTMAX_SUBGROUP_ROWS
                                                                                      : SOFTMAX_WORKGROUP_ROWS;
    if (variant == SOFTMAX_SUBGROUP_ROWS) {
        p.wg = SOFTMAX_SG_WG > sg ? SOFTMAX_SG_WG : sg;
        p.subgroup_rows = 1;
        p.rows_per_wg = p.wg / sg;
        p.min_lanes = sg_min < p.wg ? sg_min : p.wg;
        p.max_levels = sg_max; /* subgroupAdd, in whatever order */
    } else {
        p.wg = SOFTMAX_ROW_WG;
        while (p.wg > in->max_workgroup_invocations) p.wg /= 2;
        p.subgroup_rows = 0;
        p.rows_per_wg = 1;
        p.min_lanes = p.wg;
        p.max_levels = sg_max + p.wg / sg_min; /* subgroupAdd, then one partial per subgroup */
    }
    return p;
}

static vkllm_status softmax_record(gpu_rec *rec, gpu_binding x, gpu_binding y, uint32_t n_rows, uint32_t n_cols,
                                   float scale, bool causal, uint32_t pos0, softmax_plan plan)
{
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    if ((uint64_t)n_rows * n_cols > UINT32_MAX || (causal && (uint64_t)pos0 + n_rows >= UINT32_MAX))
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "softmax: bad shape (%u x %u, pos0 %u)", n_rows, n_cols, pos0);
    gpu_pipeline *p;
    gpu_pipeline_desc d = {
        .shader = "softmax", .n_buffers = 2, .push_bytes = sizeof(softmax_push),
        .n_spec = 2, .spec = { plan.wg, plan.subgroup_rows },
    };
    vkllm_status s = gpu_pipeline_get(ctx, &d, &p);
    if (s != VKLLM_OK) return s;
    softmax_push pc = {
        .n_cols = n_cols, .n_rows = n_rows, .scale_log2e = (float)(scale * 1.4426950408889634),
        .causal = causal, .pos0 = pos0, .rows_per_wg = plan.rows_per_wg,
    };
    gpu_binding b[2] = { x, y };
    /* groups past 65535 spill into y */
    uint32_t groups = n_cols ? (n_rows + plan.rows_per_wg - 1) / plan.rows_per_wg : 0;
    uint32_t gx = groups < 65535 ? groups : 65535;
    uint32_t gy = gx ? (groups + gx - 1) / gx : 0;
    return gpu_dispatch(rec, p, b, 2, &pc, gx, gy, 1, "softmax");
}

vkllm_status op_softmax(gpu_rec *rec, gpu_binding x, gpu_binding y, uint32_t n_rows, uint32_t n_cols, float scale,
                        bool causal, uint32_t pos0)
{
    softmax_plan plan = softmax_plan_for(gpu_rec_ctx(rec), n_cols, SOFTMAX_AUTO);
    return softmax_record(rec, x, y, n_rows, n_cols, scale, causal, pos0, plan);
}

/* Columns [0, n_live) of row r are live, the rest masked. */
static uint32_t live_cols(uint32_t r, uint32_t n_cols, bool causal, uint32_t pos0)
{
    uint64_t n = causal ? (uint64_t)pos0 + r + 1 : n_cols;
    return n < n_cols ? (uint32_t)n : n_cols;
}

void ref_softmax(const float *x, float *y, uint32_t n_rows, uint32_t n_cols, float scale, bool causal, uint32_t pos0)
{
    for (uint32_t r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * n_cols;
        float *yr = y + (size_t)r * n_cols;
        uint32_t n_live = live_cols(r, n_cols, causal, pos0);
        double m = -INFINITY, sum = 0;
        for (uint32_t c = 0; c < n_live; c++) m = fmax(m, (double)scale * xr[c]);
        for (uint32_t c = 0; c < n_live; c++) sum += exp((double)scale * xr[c] - m);
        for (uint32_t c = 0; c < n_live; c++) yr[c] = (float)(exp((double)scale * xr[c] - m) / sum);
        for (uint32_t c = n_live; c < n_cols; c++) yr[c] = 0.0f;
    }
}

/* Allowed error of each output (u = 2^-24; exact values: t_c = scale x_c
 * log2(e), m = max t, d_c = t_c - m, y_c = 2^d_c / S):
 *   y_c (e_c + e_S + 6u) + 2^-125, masked columns exactly 0, where
 *   e_c = ln2 (2u (|t_c| + |m|) + u |d_c|) + 2u (3 + 2 |d_c|)
 *     t_c = fl(x_c fl(scale log2e)) is off by 2u |t_c|, the GPU's m by
 *     2u |m|, t_c - m rounds by u |d_c|: 2^d_c moves by ln2 times that;
 *     exp2 itself within 3 + 2|d| ulp (GLSL's bound; 1 ulp <= 2u relative);
 *   e_S = sum_c y_c e_c + depth u: the terms' own errors, weighted, plus
 *     fp32 summation (worst case, any order) over depth = terms per
 *     invocation + plan.max_levels additions across invocations;
 *   6u: 1/S within 2.5 ulp (Vulkan), the product u, the reference's rounding
 *     to fp32 u... rounded up;
 *   2^-125: results below 2^-126 may flush to zero. */
static void softmax_bounds(const float *x, double *bound, const softmax_case *c, softmax_plan plan)
{
    const double u = ldexp(1, -24), k = c->scale * 1.4426950408889634;
    for (uint32_t r = 0; r < c->n_rows; r++) {
        const float *xr = x + (size_t)r * c->n_cols;
        double *br = bound + (size_t)r * c->n_cols;
        uint32_t n_live = live_cols(r, c->n_cols, c->causal, c->pos0);
        double m = -INFINITY, sum = 0, weighted = 0;
        for (uint32_t i = 0; i < n_live; i++) m = fmax(m, k * xr[i]);
        for (uint32_t i = 0; i < n_live; i++) sum += exp2(k * xr[i] - m);
        for (uint32_t i = 0; i < n_live; i++) {
            double t = k * xr[i], d = fabs(t - m);
            br[i] = log(2) * (2 * u * (fabs(t) + fabs(m)) + u * d) + 2 * u * (3 + 2 * d); /* e_c for now */
            weighted += exp2(t - m) / sum * br[i];
        }
        double depth = (n_live + plan.min_lanes - 1) / plan.min_lanes + plan.max_levels;
        double e_s = weighted + depth * u;
        for (uint32_t i = 0; i < n_live; i++)
            br[i] = exp2(k * xr[i] - m) / sum * (br[i] + e_s + 6 * u) + ldexp(1, -125);
        for (uint32_t i = n_live; i < c->n_cols; i++) br[i] = 0;
    }
}

vkllm_status check_softmax(gpu_ctx *ctx, const softmax_case *c, uint64_t seed, vkllm_check_result *out)
{
    softmax_plan plan = softmax_plan_for(ctx, c->n_cols, c->variant);
    /* e.g. "64x4096 s0.0884 c4032 a8 wg ip": rows x cols, scale, causal from pos0, x in [-a, a),
     * variant (sg: subgroup per row, wg: workgroup per row; capitals: forced), in place */
    char causal[16] = "";
    if (c->causal) snprintf(causal, sizeof causal, " c%u", c->pos0);
    check_begin(out, "softmax", "%ux%u s%.3g%s a%g %s%s", c->n_rows, c->n_cols, c->scale, causal, c->amp,
                plan.subgroup_rows ? (c->variant ? "SG" : "sg") : (c->variant ? "WG" : "wg"), c->in_place ? " ip" : "");
    size_t n = (size_t)c->n_rows * c->n_cols;
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    double *bound = malloc(n * sizeof *bound);
    gpu_tensor *tx = NULL, *ty = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (!x || !want || !got || !bound) goto done;
    rng r = { seed };
    check_fill_f32(&r, x, n, -c->amp, c->amp);
    ref_softmax(x, want, c->n_rows, c->n_cols, c->scale, c->causal, c->pos0);
    softmax_bounds(x, bound, c, plan);

    s = check_tensor_from(ctx, x, n * 4, 0, &tx);
    if (s == VKLLM_OK && !c->in_place) s = check_tensor_from(ctx, NULL, n * 4, 0, &ty);
    gpu_tensor *result = c->in_place ? tx : ty;
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 4, &rec);
    if (s == VKLLM_OK)
        s = softmax_record(rec, gpu_bind(tx), gpu_bind(result), c->n_rows, c->n_cols, c->scale, c->causal, c->pos0,
                           plan);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    if (s == VKLLM_OK && c->in_place) { /* the input is the output: restore it before the timed run */
        s = gpu_rec_submit(rec);
        if (s == VKLLM_OK) s = gpu_upload(ctx, tx, 0, x, n * 4);
        if (s == VKLLM_OK) s = gpu_rec_submit(rec);
        if (s == VKLLM_OK) out->gpu_us = gpu_rec_total_us(rec);
    } else if (s == VKLLM_OK) {
        s = check_run(ctx, rec, &ty, 1, out);
    }
    if (s == VKLLM_OK) s = gpu_download(ctx, result, 0, got, n * 4);
    if (s == VKLLM_OK) check_compare(got, want, bound, n, 0.0, 1.0, "y", out);
done:
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, tx);
    gpu_tensor_destroy(ctx, ty);
    free(x);
    free(want);
    free(got);
    free(bound);
    return s;
}
