#include "attention.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "profile.h"
#include "push.h"
#include "util/half.h"

#define ATTENTION_MAX_HEAD_DIM 256
#define ATTENTION_COMBINE_WG 64 /* the merge's invocations per workgroup, one output element each */

/* ------------------------------------------------------------ op */

static uint32_t pow2_ceil(uint32_t x)
{
    uint32_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

/* The kernel's launch shape: the tuning with every field decided, plus the
 * spec constants that follow from it. */
typedef struct attention_plan {
    attention_tuning t;
    uint32_t chunks_per_lane; /* VEC-element chunks of a head each lane owns, at most */
    uint32_t wg;              /* invocations per workgroup: n_split of the largest subgroups */
    uint32_t n_sg;            /* the most subgroups a workgroup can hold (of the smallest size) */
    uint32_t d_max;           /* >= head_dim: row length in the shared combine */
} attention_plan;

static uint32_t plan_shared_bytes(const attention_plan *p)
{
    if (p->n_sg == 1) return 0;
    return 4 * p->n_sg * p->t.rows * (p->d_max + 2);
}

static vkllm_status plan(gpu_ctx *ctx, uint32_t n_q, uint32_t group, uint32_t head_dim,
                         const attention_tuning *want, attention_plan *p)
{
    const vkllm_device_info *info = gpu_info(ctx);
    const ops_profile *prof = ops_profile_of(ctx);
    uint32_t sg_min = info->subgroup_min ? info->subgroup_min : 1;
    uint32_t sg_max = info->subgroup_max > sg_min ? info->subgroup_max : sg_min;
    attention_tuning t = want ? *want : (attention_tuning){ 0 };

    /* CPUs: 8-wide loads, which the texel path needs, even when some
     * lanes of a subgroup then have no chunk of a short head */
    if (t.vec == 0 && prof->texel_reads && head_dim % 8 == 0) t.vec = 8;
    if (t.vec == 0) {
        /* the widest load that still gives every lane of a subgroup a chunk */
        static const uint32_t widths[] = { 8, 4, 2 };
        for (unsigned i = 0; i < 3 && !t.vec; i++)
            if (head_dim % widths[i] == 0 && head_dim / widths[i] >= sg_max) t.vec = widths[i];
        for (unsigned i = 0; i < 3 && !t.vec; i++)
            if (head_dim % widths[i] == 0) t.vec = widths[i];
    }
    if ((t.vec != 8 && t.vec != 4 && t.vec != 2) || head_dim % t.vec)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "attention: load width %u does not divide head_dim %u", t.vec,
                        head_dim);
    p->chunks_per_lane = (head_dim / t.vec + sg_min - 1) / sg_min;
    uint32_t floats_per_row = p->chunks_per_lane * t.vec; /* per lane, for q and again for the accumulator */

    bool rows_chosen = t.rows == 0;
    if (rows_chosen) {
        /* share each K/V load among the GQA heads of a query (and among
         * queries in prefill), within about 128 + 128 floats per lane */
        t.rows = pow2_ceil(n_q * group < 8 ? n_q * group : 8);
        while (t.rows > 1 && t.rows * floats_per_row > 128) t.rows /= 2;
    }
    if (t.rows != 1 && t.rows != 2 && t.rows != 4 && t.rows != 8)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "attention: rows per tile %u is not 1, 2, 4 or 8", t.rows);

    bool split_chosen = t.n_split == 0;
    /* CPUs (lavapipe): one subgroup per workgroup, no shared memory, no
     * barrier. GPUs: as many key slices as fit, since decode has only
     * n_kv_head * (tiles) workgroups (8 for SOLAR) to fill the device with
     * (unmeasured on GPUs so far). */
    if (split_chosen) t.n_split = prof->attn_subgroup_splits;
    if (t.n_split < 1 || t.n_split > 16)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "attention: %u key splits, want 1 .. 16", t.n_split);
    p->t = t;
    p->d_max = p->chunks_per_lane * t.vec * sg_min;
    for (;;) {
        p->wg = p->t.n_split * sg_max;
        p->n_sg = p->wg / sg_min;
        bool fits = plan_shared_bytes(p) <= info->max_shared_memory && p->wg <= info->max_workgroup_invocations;
        if (fits) break;
        if (split_chosen && p->t.n_split > 1) {
            p->t.n_split /= 2;
            continue;
        }
        if (rows_chosen && p->t.rows > 1) {
            p->t.rows /= 2;
            continue;
        }
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED,
                        "attention: %u key splits of %u rows need %u invocations and %u bytes of shared memory; "
                        "the device has %u and %u",
                        p->t.n_split, p->t.rows, p->wg, plan_shared_bytes(p), info->max_workgroup_invocations,
                        info->max_shared_memory);
    }
    if (p->n_sg == 1) p->d_max = 1; /* no shared combine */
    return VKLLM_OK;
}

/* The op's choice of key ranges: on GPUs, when the rows give fewer than
 * ~128 workgroups, enough ranges of at least 256 keys to reach that (at
 * most 64); CPUs have few threads and keep whole rows. */
static uint32_t auto_splits(gpu_ctx *ctx, uint32_t n_q, uint32_t n_head, uint32_t n_kv_head, uint32_t n_ctx)
{
    const uint32_t max_ranges = ops_profile_of(ctx)->attn_max_ranges;
    if (max_ranges <= 1) return 1;
    uint32_t wgs = n_kv_head * ((n_q * (n_head / n_kv_head) + 7) / 8); /* at most 8 rows a tile */
    uint32_t want = wgs >= 128 ? 1 : (128 + wgs - 1) / wgs;
    uint32_t by_keys = n_ctx / 256 ? n_ctx / 256 : 1;
    uint32_t sp = want < by_keys ? want : by_keys;
    return sp > max_ranges ? max_ranges : sp;
}

static uint64_t scratch_bytes_for(uint32_t n_q, uint32_t n_head, uint32_t head_dim, uint32_t splits)
{
    return splits > 1 ? 4ull * n_q * n_head * splits * (head_dim + 2) : 0;
}

uint64_t attention_scratch_bytes(gpu_ctx *ctx, uint32_t n_q, uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim,
                                 uint32_t n_ctx)
{
    if (n_kv_head == 0 || n_head % n_kv_head) return 0;
    return scratch_bytes_for(n_q, n_head, head_dim, auto_splits(ctx, n_q, n_head, n_kv_head, n_ctx));
}

vkllm_status op_attention_tuned(gpu_rec *rec, gpu_binding q, gpu_binding k, gpu_binding v, gpu_binding pos,
                                gpu_binding out, gpu_binding scratch, uint32_t n_q, uint32_t n_head,
                                uint32_t n_kv_head, uint32_t head_dim, uint32_t n_ctx, float scale,
                                const attention_tuning *tune)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    if (n_kv_head == 0 || n_head == 0 || n_head % n_kv_head)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "attention: %u heads are not a multiple of %u kv heads", n_head,
                        n_kv_head);
    if (head_dim == 0 || head_dim % 2 || head_dim > ATTENTION_MAX_HEAD_DIM)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "attention: head_dim %u is not even and <= %u", head_dim,
                        ATTENTION_MAX_HEAD_DIM);
    if (n_q == 0) return VKLLM_OK;
    if (n_ctx == 0) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "attention: empty cache (n_ctx 0)");
    uint64_t qo_bytes = (uint64_t)n_q * n_head * head_dim * 4;
    uint64_t kv_bytes = (uint64_t)n_ctx * n_kv_head * head_dim * 2;
    const char *small = gpu_binding_bytes(q) < qo_bytes          ? "q"
                        : gpu_binding_bytes(out) < qo_bytes      ? "out"
                        : gpu_binding_bytes(k) < kv_bytes        ? "k"
                        : gpu_binding_bytes(v) < kv_bytes        ? "v"
                        : gpu_binding_bytes(pos) < 4 * (uint64_t)n_q ? "pos"
                                                             : NULL;
    if (small)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                        "attention: binding %s is smaller than %u queries x %u heads over a %u-position cache need",
                        small, n_q, n_head, n_ctx);

    const uint32_t group = n_head / n_kv_head;
    attention_plan pl = { 0 };
    if (gpu_rec_note(rec, plan(ctx, n_q, group, head_dim, tune, &pl))) return gpu_rec_status(rec);
    /* K/V as texels: whole single chunks within the device's texel limit */
    uint32_t want_texel = tune && tune->texel ? tune->texel : ops_profile_of(ctx)->texel_reads ? 1 : 2;
    bool texel = want_texel == 1 && pl.t.vec == 8 && !k.offset && !k.range && !v.offset && !v.range &&
                 gpu_tensor_chunk_bytes(k.t, k.chunk) / 16 <= gpu_max_texels(ctx) &&
                 gpu_tensor_chunk_bytes(v.t, v.chunk) / 16 <= gpu_max_texels(ctx);
    /* key ranges across workgroups: forced by the tuning, else the op's choice
     * when the scratch binding holds it */
    uint32_t tiles = (n_q * group + pl.t.rows - 1) / pl.t.rows;
    uint32_t splits = tune && tune->splits ? tune->splits : auto_splits(ctx, n_q, n_head, n_kv_head, n_ctx);
    if (splits > 256) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "attention: %u key ranges (max 256)", splits);
    if (splits > 1 && (gpu_binding_bytes(scratch) < scratch_bytes_for(n_q, n_head, head_dim, splits) || tiles > 65535)) {
        if (tune && tune->splits)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "attention: %u key ranges need %llu bytes of scratch", splits,
                            (unsigned long long)scratch_bytes_for(n_q, n_head, head_dim, splits));
        splits = 1;
    }
    /* the variant: the load width (texel fetches only with 8-wide loads) */
    static const char *const variant[][2] = {
        [2] = { "attention_vec2", NULL }, [4] = { "attention_vec4", NULL }, [8] = { "attention_vec8", "attention_vec8_texel" },
    };
    gpu_pipeline_desc d = {
        .shader = variant[pl.t.vec][texel], .n_buffers = ATTENTION_N_BINDINGS,
        .push_bytes = sizeof(attention_push), .n_spec = ATTENTION_N_SPEC,
        .spec = {
            [ATTENTION_SPEC_WG] = pl.wg, [ATTENTION_SPEC_ROWS] = pl.t.rows, [ATTENTION_SPEC_CPL] = pl.chunks_per_lane,
            [ATTENTION_SPEC_NSG] = pl.n_sg, [ATTENTION_SPEC_D_MAX] = pl.d_max, [ATTENTION_SPEC_SPLITS] = splits,
        },
        .texel_mask = texel ? BINDING_BIT(ATTENTION_BIND_K) | BINDING_BIT(ATTENTION_BIND_V) : 0,
    };
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    attention_push pc = {
        .n_q = n_q, .n_head = n_head, .n_kv_head = n_kv_head, .head_dim = head_dim, .n_ctx = n_ctx, .scale = scale,
    };
    /* the partials go to scratch; without splits the binding is unused (out stands in) */
    gpu_binding b[ATTENTION_N_BINDINGS] = {
        [ATTENTION_BIND_Q] = q, [ATTENTION_BIND_K] = k, [ATTENTION_BIND_V] = v, [ATTENTION_BIND_OUT] = out,
        [ATTENTION_BIND_POS] = pos, [ATTENTION_BIND_PART] = splits > 1 ? scratch : out,
    };
    if (splits > 1) {
        /* workgroup (tile of rows, kv head, key range), then the merge */
        gpu_dispatch(rec, p, b, ATTENTION_N_BINDINGS, &pc, tiles, n_kv_head, splits, "attention");
        gpu_barrier(rec); /* partials written -> the merge reads them */
        gpu_pipeline_desc dm = {
            .shader = "attention_combine", .n_buffers = ATTENTION_COMBINE_N_BINDINGS,
            .push_bytes = sizeof(attention_combine_push), .n_spec = ATTENTION_COMBINE_N_SPEC,
            .spec = { [ATTENTION_COMBINE_SPEC_WG] = ATTENTION_COMBINE_WG },
        };
        gpu_pipeline *pm = gpu_rec_pipeline(rec, &dm);
        attention_combine_push pcm = { .n_rows = n_q * n_head, .head_dim = head_dim, .splits = splits };
        gpu_binding bm[ATTENTION_COMBINE_N_BINDINGS] = {
            [ATTENTION_COMBINE_BIND_PART] = scratch, [ATTENTION_COMBINE_BIND_OUT] = out,
        };
        uint64_t groups = ((uint64_t)n_q * n_head * head_dim + ATTENTION_COMBINE_WG - 1) / ATTENTION_COMBINE_WG;
        uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
        return gpu_dispatch(rec, pm, bm, ATTENTION_COMBINE_N_BINDINGS, &pcm, gx, (uint32_t)((groups + gx - 1) / gx), 1, "attention_combine");
    }
    /* workgroup (tile of rows, kv head); tiles past 65535 spill into z */
    uint32_t gx = tiles < 65535 ? tiles : 65535;
    return gpu_dispatch(rec, p, b, ATTENTION_N_BINDINGS, &pc, gx, n_kv_head, (tiles + gx - 1) / gx, "attention");
}

vkllm_status op_attention(gpu_rec *rec, gpu_binding q, gpu_binding k, gpu_binding v, gpu_binding pos,
                          gpu_binding out, gpu_binding scratch, uint32_t n_q, uint32_t n_head, uint32_t n_kv_head,
                          uint32_t head_dim, uint32_t n_ctx, float scale)
{
    return op_attention_tuned(rec, q, k, v, pos, out, scratch, n_q, n_head, n_kv_head, head_dim, n_ctx, scale, NULL);
}

/* ------------------------------------------------------------ reference */

/* The reference, and optionally for each output element the convex
 * combination of |v| with the same weights (abs_v, the scale of the
 * element's rounding error) and for each row the largest |term sum| of a
 * score, scale * sum_d |q_d k_d| (s_abs, the scale of a score's error). */
static void ref_core(const float *q, const uint16_t *k, const uint16_t *v, float *out, double *abs_v, double *s_abs,
                     uint32_t n_q, uint32_t n_head, uint32_t n_kv_head, uint32_t head_dim, uint32_t pos0, float scale)
{
    const uint32_t group = n_head / n_kv_head;
    const uint32_t n_keys_max = pos0 + n_q;
    double *p = malloc(n_keys_max * sizeof *p);
    double *acc = malloc(head_dim * 2 * sizeof *acc);
    if (!p || !acc) goto done;
    for (uint32_t i = 0; i < n_q; i++) {
        const uint32_t n_keys = pos0 + i + 1;
        for (uint32_t h = 0; h < n_head; h++) {
            const float *qr = q + ((size_t)i * n_head + h) * head_dim;
            const uint32_t g = h / group;
            double mx = -INFINITY, smax = 0;
            for (uint32_t j = 0; j < n_keys; j++) {
                const uint16_t *kr = k + ((size_t)j * n_kv_head + g) * head_dim;
                double dot = 0, mag = 0;
                for (uint32_t d = 0; d < head_dim; d++) {
                    double t = (double)qr[d] * half_to_float(kr[d]);
                    dot += t;
                    mag += fabs(t);
                }
                p[j] = dot * scale;
                if (p[j] > mx) mx = p[j];
                if (mag * fabs(scale) > smax) smax = mag * fabs(scale);
            }
            double sum = 0;
            for (uint32_t j = 0; j < n_keys; j++) sum += p[j] = exp(p[j] - mx);
            for (uint32_t d = 0; d < 2 * head_dim; d++) acc[d] = 0;
            for (uint32_t j = 0; j < n_keys; j++) {
                const uint16_t *vr = v + ((size_t)j * n_kv_head + g) * head_dim;
                for (uint32_t d = 0; d < head_dim; d++) {
                    double x = half_to_float(vr[d]);
                    acc[d] += p[j] * x;
                    acc[head_dim + d] += p[j] * fabs(x);
                }
            }
            const size_t o = ((size_t)i * n_head + h) * head_dim;
            for (uint32_t d = 0; d < head_dim; d++) {
                out[o + d] = (float)(acc[d] / sum);
                if (abs_v) abs_v[o + d] = acc[head_dim + d] / sum;
            }
            if (s_abs) s_abs[(size_t)i * n_head + h] = smax;
        }
    }
done:
    free(p);
    free(acc);
}

void ref_attention(const float *q, const uint16_t *k, const uint16_t *v, float *out, uint32_t n_q, uint32_t n_head,
                   uint32_t n_kv_head, uint32_t head_dim, uint32_t pos0, float scale)
{
    ref_core(q, k, v, out, NULL, NULL, n_q, n_head, n_kv_head, head_dim, pos0, scale);
}

/* ------------------------------------------------------------ check */

/* Tolerance. Each output element is a convex combination of fp16 V values
 * (exact in fp32), so its error is relative to A = sum_j p_j |v_j[d]| (the
 * same combination of |v|), not to the output, which may cancel to ~0:
 *   |gpu - ref| <= 1e-6 + A * 2^-24 * (64 + 16 sqrt(n_keys) + 64 S)
 * with S = max_j scale * sum_d |q_d k_jd| for the row. The terms:
 *   - exp2 in fp32 (Vulkan allows 3 + 2|x| ulp; weights with |x| > ~30 are
 *     below 2^-30) and the rescales when the running max moves: 64 ulp;
 *   - the fp32 running sums over n_keys terms, numerator and denominator:
 *     rounding errors of random sign grow like sqrt(n_keys); 16 sqrt(n)
 *     ulp is several times the expected size (the worst case, 2 n ulp, is
 *     never approached and would hide a missing key at n = 4096);
 *   - a score's absolute error, at most (terms summed in one order) * ulp
 *     * S: each lane sums head_dim / subgroup size products, then a
 *     subgroup tree; 64 ulp * S covers head_dim 256 on 8-wide subgroups.
 *     A score error e moves the weight by a factor exp(e), hence times A.
 * The 1e-6 absolute floor covers A ~ 0 (outputs near zero with tiny v).
 * With the default q_max = 8 and head_dim 128, S ~ 23, so the bound is
 * about 1e-4 * A: a key dropped or added at context n moves the output by
 * ~|v - out| / n, which this catches up to n in the thousands. */
static void attention_bounds(double *scale, const double *abs_v, const double *s_abs, uint32_t n_q, uint32_t n_head,
                             uint32_t head_dim, uint32_t pos0)
{
    for (uint32_t i = 0; i < n_q; i++)
        for (uint32_t h = 0; h < n_head; h++) {
            const size_t row = (size_t)i * n_head + h;
            double ulps = 64 + 16 * sqrt((double)(pos0 + i + 1)) + 64 * s_abs[row];
            for (uint32_t d = 0; d < head_dim; d++) scale[row * head_dim + d] = abs_v[row * head_dim + d] * ulps;
        }
}

enum { AT_Q, AT_K, AT_V, AT_POS, AT_OUT, AT_SCRATCH, AT_N };

static void record_attention(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const attention_check *c = arg;
    op_attention_tuned(rec, gpu_bind(b[AT_Q].t), gpu_bind(b[AT_K].t), gpu_bind(b[AT_V].t), gpu_bind(b[AT_POS].t),
                       gpu_bind(b[AT_OUT].t), gpu_bind(b[AT_SCRATCH].t), c->n_q, c->n_head, c->n_kv_head, c->head_dim,
                       c->n_ctx, c->scale, &c->tune);
}

vkllm_status check_attention(gpu_ctx *ctx, const attention_check *shape, uint64_t seed, vkllm_check_result *out)
{
    attention_check c = *shape;
    if (!c.n_ctx) c.n_ctx = c.pos0 + c.n_q;
    if (c.scale == 0) c.scale = 1.0f / sqrtf((float)c.head_dim);
    if (c.q_max == 0) c.q_max = 8;
    const bool tuned = c.tune.vec || c.tune.rows || c.tune.n_split || c.tune.splits;
    check_begin(out, "attention", "q%u h%u/%u d%u pos%u ctx%u%s", c.n_q, c.n_head, c.n_kv_head, c.head_dim, c.pos0,
                c.n_ctx, tuned ? " tuned" : c.tune.texel == 2 ? " ssbo" : "");
    if (c.n_ctx < c.pos0 + c.n_q || c.n_kv_head == 0 || c.n_head % c.n_kv_head || c.head_dim == 0)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "check_attention: inconsistent shape");
    const size_t n_qo = (size_t)c.n_q * c.n_head * c.head_dim;
    const size_t n_kv = (size_t)c.n_ctx * c.n_kv_head * c.head_dim;
    const size_t n_kv_used = (size_t)(c.pos0 + c.n_q) * c.n_kv_head * c.head_dim;
    check_host h = { 0 };
    float *q = check_alloc(&h, n_qo * sizeof *q), *want = check_alloc(&h, n_qo * sizeof *want),
          *got = check_alloc(&h, n_qo * sizeof *got);
    uint16_t *k = check_alloc(&h, n_kv * sizeof *k), *v = check_alloc(&h, n_kv * sizeof *v);
    double *abs_v = check_alloc(&h, n_qo * sizeof *abs_v), *bound = check_alloc(&h, n_qo * sizeof *bound);
    double *s_abs = check_alloc(&h, (size_t)c.n_q * c.n_head * sizeof *s_abs);
    int32_t *pos = check_alloc(&h, c.n_q * sizeof *pos);
    vkllm_status s = check_host_status(ctx, &h, "check_attention");
    if (s == VKLLM_OK) {
        rng r = { seed };
        check_fill_f32(&r, q, n_qo, -c.q_max, c.q_max);
        check_fill_f16(&r, k, n_kv_used, -1.0f, 1.0f);
        check_fill_f16(&r, v, n_kv_used, -1.0f, 1.0f);
        for (size_t x = n_kv_used; x < n_kv; x++) k[x] = v[x] = 0x7e00; /* NaN: cache positions no query may see */
        ref_core(q, k, v, want, abs_v, s_abs, c.n_q, c.n_head, c.n_kv_head, c.head_dim, c.pos0, c.scale);
        attention_bounds(bound, abs_v, s_abs, c.n_q, c.n_head, c.head_dim, c.pos0);
        for (uint32_t i = 0; i < c.n_q; i++) pos[i] = (int32_t)(c.pos0 + i);
        uint32_t splits = c.tune.splits ? c.tune.splits : 64; /* room for the op's choice */
        check_buf b[AT_N] = {
            [AT_Q] = { .host = q, .bytes = n_qo * 4 },
            [AT_K] = { .host = k, .bytes = n_kv * 2 },
            [AT_V] = { .host = v, .bytes = n_kv * 2 },
            [AT_POS] = { .host = pos, .bytes = c.n_q * 4 },
            [AT_OUT] = { .got = got, .bytes = n_qo * 4 },
            [AT_SCRATCH] = { .bytes = 4ull * c.n_q * c.n_head * splits * (c.head_dim + 2) },
        };
        s = check_drive(ctx, b, AT_N, record_attention, &c, out);
    }
    if (s == VKLLM_OK) check_compare(got, want, bound, n_qo, 1e-6, 0x1p-24, "out", out);
    check_host_free(&h);
    return s;
}
