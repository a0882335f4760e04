#include "matmul.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/quant.h"
#include "profile.h"
#include "rmsnorm.h"
#include "push.h"
#include "util/half.h"

/* The kernels bind w, x and y at the same slots, so one binding array serves all */
_Static_assert(MATMUL_BIND_W == MATVEC_BIND_W && MATMUL_BIND_X == MATVEC_BIND_X && MATMUL_BIND_Y == MATVEC_BIND_Y,
               "matmul and matvec binding slots differ");

/* Shared memory of the tiled kernel: x and w slices as vec4 rows of
 * bk / 4 + 1 (one of padding), see shaders/matmul.comp. */
#define MATMUL_SHARED_BYTES(c) (16ull * ((c)->bk / 4 + 1) * ((c)->bm + (c)->bn))

/* ------------------------------------------------------------ configuration */

/* Rows a subgroup takes at once on CPU devices (r), by columns M: each x
 * load serves r rows, but the r * nm sums (and the nm columns of x) live
 * in registers, which llvmpipe spills past a few dozen. Measured for
 * decode batches (fp16, texel reads, CPU time per dispatch, 2026-12; N x K
 * 2048 x 768, 768 x 2048, 768 x 768, 256 x 768, 32000 x 768):
 *   M 1: r 16 best (r 8 / 4 within 10%);
 *   M 2..4: r 8 best, r 16 1.3-1.9x slower (768 x 768 M 4: 472 vs 676 us);
 *   M 5..8: r 4 best, r 8 1.3-1.5x slower, r 2 1.1-1.3x;
 *   M 64 (prefill, nm 8): r 32 20.7 ms, r 4 17.3 ms: r 32 kept there
 *   (prefill is not what this table was measured for).
 * Quantized weights decode each row's block into 32 floats before the nm
 * dots (matvec.comp), so the registers go to those and r 16 stays best
 * (Q4_K 2048 x 768 M 4: r 16 2.3 ms, r 8 2.5, r 4 3.0). */
static uint32_t cpu_rows_at_once(uint32_t M, bool quant)
{
    if (M > MATMUL_MAX_NM) return 32;
    if (M == 1 || quant) return 16;
    return M <= 4 ? 8 : 4;
}

/* Measured on lavapipe (llvmpipe 22.3, 2 threads, subgroup 8; GPU time,
 * best of 3, check_matmul_with on each configuration). llvmpipe loads a
 * storage buffer lane by lane (a loop with a bounds check per component)
 * but fetches a texel buffer with vector gathers, so on CPU devices the
 * weights and x are read as uvec4 texels, and kernels that load least per
 * multiply-add win:
 *   matvec 14336 x 4096: storage buffers 3.9 GB/s (r 8); texel w 5.4;
 *     texel w and x 7.3 (wg 32, r 8), 8.1 (wg 8, r 16).
 *   M = 64, N 2048, K 768: tiled (16 invocations, 32x32x64 tiles) 5.0
 *     GFLOP/s; texel matvec nm 8: r 8 8.7, r 16 9.5, r 32 11.6 (and
 *     13.0 at N 768, K 2048); a kernel with one weight row per invocation
 *     (x loads the same in all lanes) 2.2, dropped.
 * GPU values are the usual shape of such kernels, not measured yet: more,
 * smaller workgroups (r = 2) to keep every multiprocessor streaming, and
 * shared-memory tiles for prefill. */
static matmul_config pick(const ops_profile *p, uint32_t M, uint32_t N, uint32_t K)
{
    (void)N;
    (void)K;
    const uint32_t sg = p->subgroup_size;
    if (p->family == OPS_FAMILY_CPU) {
        /* one subgroup per workgroup; r rows x nm columns of x per subgroup */
        matmul_config c = { .kind = MATMUL_MATVEC, .wg = sg, .texel = p->texel_reads };
        c.nm = M < MATMUL_MAX_NM ? M : MATMUL_MAX_NM;
        c.r = cpu_rows_at_once(M, false);
        /* decode: four passes of r rows per workgroup (fewer workgroups
         * to launch; 32000 x 256 5.1 -> 4.2 ms, 14336 x 4096 unchanged) */
        c.rows = M <= MATMUL_MAX_NM ? 4 * c.r : c.r;
        return c;
    }
    if (M > MATMUL_MAX_NM && K % 8 == 0 && p->coopmat)
        return (matmul_config){ .kind = MATMUL_COOPMAT, .wg = 128, .bk = p->coopmat_bk };
    if (M <= MATMUL_MAX_NM) {
        /* 4 subgroups, each on r rows at a time; all M columns of x in the
         * same workgroup, so each weight is read once. */
        matmul_config c = { .kind = MATMUL_MATVEC, .wg = 4 * sg, .r = 2, .nm = M, .texel = p->texel_reads };
        if (c.wg > p->max_workgroup_invocations) c.wg = sg;
        c.rows = (c.wg / sg) * c.r;
        return c;
    }
    return M <= 32 ? (matmul_config){ .wg = 128, .bm = 32, .bn = 64, .bk = 16, .tm = 2, .tn = 8 }
                   : (matmul_config){ .wg = 128, .bm = 64, .bn = 64, .bk = 16, .tm = 4, .tn = 8 };
}

matmul_config matmul_pick_for(const vkllm_device_info *info, uint32_t M, uint32_t N, uint32_t K)
{
    ops_profile p = ops_profile_for(info);
    return pick(&p, M, N, K);
}

matmul_config matmul_pick_default(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K)
{
    return pick(ops_profile_of(ctx), M, N, K);
}

/* A decode configuration matmul_tune measured on this context for (glu,
 * N, K), over *c; false (c untouched) if none. */
static bool apply_tuned(const ops_profile *p, bool glu, uint32_t N, uint32_t K, matmul_config *c)
{
    const ops_matvec_choice *t = ops_profile_matvec(p, glu, N, K);
    if (!t) return false;
    *c = (matmul_config){ .kind = MATMUL_MATVEC, .wg = t->wg, .rows = t->rows, .r = t->r, .nm = 1, .texel = t->texel };
    return true;
}

void matmul_set_tuned(gpu_ctx *ctx, bool glu, uint32_t N, uint32_t K, const matmul_config *c)
{
    ops_profile_set_matvec(ops_profile_of(ctx), &(ops_matvec_choice){ .glu = glu, .N = N, .K = K, .wg = c->wg,
                                                                      .rows = c->rows, .r = c->r, .texel = c->texel });
}

/* The tensor-core kernel variants, by k slice: 0 is matmul_coopmat.comp,
 * the others matmul_coopmat_prefetch.comp. matmul_verify_coopmat records
 * in the profile which passed (a mask over these) and which is in use. */
static const uint32_t coopmat_bk[OPS_COOPMAT_VARIANTS] = { 0, 16, 32, 64 };

matmul_config matmul_pick(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K)
{
    const ops_profile *p = ops_profile_of(ctx);
    matmul_config c = pick(p, M, N, K);
    if (M == 1) apply_tuned(p, false, N, K, &c);
    return c;
}

uint32_t matmul_coopmat_variants(gpu_ctx *ctx, matmul_config *out)
{
    const ops_profile *p = ops_profile_of(ctx);
    uint32_t n = 0;
    if (!p->coopmat || !p->coopmat_checked) return 0;
    for (uint32_t i = 0; i < OPS_COOPMAT_VARIANTS; i++)
        if (p->coopmat_passed >> i & 1) out[n++] = (matmul_config){ .kind = MATMUL_COOPMAT, .wg = 128, .bk = coopmat_bk[i] };
    return n;
}

void matmul_use_coopmat(gpu_ctx *ctx, uint32_t bk)
{
    ops_profile_of(ctx)->coopmat_bk = bk;
}

static vkllm_status check_config(gpu_ctx *ctx, const matmul_config *c)
{
    const vkllm_device_info *info = gpu_info(ctx);
    const ops_profile *p = ops_profile_of(ctx);
    if (c->wg == 0 || c->wg > info->max_workgroup_invocations)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matmul: workgroup of %u invocations (device allows 1..%u)", c->wg,
                        info->max_workgroup_invocations);
    if (c->kind == MATMUL_COOPMAT) {
        if (!p->coopmat || c->wg != 128 || !gpu_shader_available(c->bk ? "matmul_coopmat_prefetch" : "matmul_coopmat"))
            return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "matmul: tensor-core kernel not available on this device");
        if (c->bk != 0 && c->bk != 16 && c->bk != 32 && c->bk != 64)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matmul: tensor-core k slice %u (0, 16, 32 or 64)", c->bk);
        return VKLLM_OK;
    }
    if (c->kind == MATMUL_MATVEC) {
        if (c->rows == 0 || c->r == 0 || c->nm == 0 || c->r * c->nm > 256)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matvec: rows %u, r %u, nm %u (need rows, r, nm >= 1, r * nm <= 256)",
                            c->rows, c->r, c->nm);
        return VKLLM_OK;
    }
    if (!c->tm || !c->tn || !c->bm || !c->bn || c->bm % c->tm || c->bn % c->tn || c->bk == 0 || c->bk % 8 ||
        (c->bm / c->tm) * (c->bn / c->tn) != c->wg || c->tm * c->tn > 64)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG,
                        "matmul: tile %ux%ux%u with %ux%u blocks does not fit a workgroup of %u", c->bm, c->bn, c->bk,
                        c->tm, c->tn, c->wg);
    uint64_t shared = MATMUL_SHARED_BYTES(c);
    if (shared > info->max_shared_memory)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "matmul: tiles need %llu bytes of shared memory, device has %u",
                        (unsigned long long)shared, info->max_shared_memory);
    return VKLLM_OK;
}

/* ------------------------------------------------------------ op */

/* op_matmul_with; with w2 (not NULL) the fused SwiGLU form
 * y = silu(w x) * (w2 x) of the matrix-vector kernel, with norm (not NULL)
 * its fused RMSNorm of x. */
void op_weight_variant(char *out, size_t len, const char *kernel, uint32_t qtype, const char *suffix)
{
    const quant_type *qt = quant_type_of(qtype);
    char t[16] = "";
    for (size_t i = 0; qt && qt->name[i] && i + 1 < sizeof t; i++)
        t[i] = (char)(qt->name[i] >= 'A' && qt->name[i] <= 'Z' ? qt->name[i] + 32 : qt->name[i]);
    snprintf(out, len, "%s_%s%s", kernel, t, suffix);
}

uint64_t op_weight_row_bytes(uint32_t qtype, uint32_t K)
{
    if (!qtype) return 2ull * K;
    const quant_type *t = quant_type_of(qtype);
    return t ? quant_bytes(t, K) : 0;
}

/* bytes of a weight tensor: fp16 exactly, blocks padded to whole texels */
static uint64_t weight_bytes(uint32_t qtype, uint32_t N, uint32_t K)
{
    uint64_t b = op_weight_row_bytes(qtype, K) * N;
    return qtype ? (b + 15) / 16 * 16 : b;
}

vkllm_status op_weight_create(gpu_ctx *ctx, uint32_t qtype, uint32_t N, uint32_t K, gpu_tensor **out)
{
    *out = NULL;
    uint64_t row = op_weight_row_bytes(qtype, K);
    if (!row || !N)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "weights of type %u with rows of %u: not a whole number of blocks",
                        qtype, K);
    /* chunks of whole rows that are whole texels too: the least common
     * multiple of the row and 16 bytes */
    uint64_t granule = row;
    while (qtype && granule % 16) granule += row;
    vkllm_status s = gpu_tensor_create(ctx, weight_bytes(qtype, N, K), granule, out);
    if (s == VKLLM_OK) gpu_tensor_set_format(*out, qtype);
    return s;
}

/* The tiled kernel's tiles on quantized weights: k slices of one 32-weight
 * unit (each of the first bn * bk / 32 invocations decodes one unit per
 * slice), the fp16 kernel's tile and register blocks otherwise. */
static matmul_config quant_tile(gpu_ctx *ctx, uint32_t M)
{
    const matmul_config big = { .wg = 128, .bm = 64, .bn = 64, .bk = 32, .tm = 4, .tn = 8 };
    /* 64-row tiles of x need 18 KiB; Vulkan promises 16 */
    if (M <= 32 || MATMUL_SHARED_BYTES(&big) > gpu_info(ctx)->max_shared_memory)
        return (matmul_config){ .wg = 128, .bm = 32, .bn = 64, .bk = 32, .tm = 2, .tn = 8 };
    return big;
}

/* Quantized weights. Below the profile's quant_prefill_m the matrix-vector
 * kernel (NM columns of x per workgroup; more only re-read the same weights
 * from cache); from it, the prefill path: the matrix decoded into the
 * context's fp16 scratch and the fp16 kernels (quant_dequant), or the
 * tensor-core or tiled kernels decoding weight tiles into shared memory. A
 * fused norm needs the matrix-vector kernel (or the scratch's fp16 one). */
static matmul_config pick_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t M, uint32_t N, uint32_t K, bool norm)
{
    const ops_profile *p = ops_profile_of(ctx);
    char name[64];
    if (M >= p->quant_prefill_m && p->quant_dequant) return (matmul_config){ .kind = MATMUL_DEQUANT, .wg = 64 };
    if (M >= p->quant_prefill_m && !norm) {
        op_weight_variant(name, sizeof name, "matmul_coopmat", qtype, "");
        if (p->coopmat && p->coopmat_quant && gpu_shader_available(name))
            return (matmul_config){ .kind = MATMUL_COOPMAT, .wg = 128 };
        return quant_tile(ctx, M);
    }
    matmul_config c = matmul_pick(ctx, M, N, K);
    if (c.kind != MATMUL_MATVEC) c = pick(p, M < MATMUL_MAX_NM ? M : MATMUL_MAX_NM, 1, 32);
    if (p->family == OPS_FAMILY_CPU && c.kind == MATMUL_MATVEC && M > 1 && M <= MATMUL_MAX_NM) {
        c.r = cpu_rows_at_once(M, true); /* as pick's decode rows, quantized */
        c.rows = 4 * c.r;
        /* at most 4 columns per workgroup (M 5..8: two groups of columns,
         * each decoding the weights): 8 columns' x and sums beside the 32
         * decoded weights spill llvmpipe's registers. small Q4_K_M, 8
         * sequences decoding together: 18.8 aggregate t/s with 8 columns,
         * 44.3 with 4, 26.6 through the fp16 scratch (docs/PERFORMANCE.md) */
        if (c.nm > 4) c.nm = 4;
    }
    return c;
}

matmul_config matmul_pick_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t M, uint32_t N, uint32_t K, bool norm)
{
    return qtype ? pick_quant(ctx, qtype, M, N, K, norm) : matmul_pick(ctx, M, N, K);
}

/* The context's scratch for MATMUL_DEQUANT: fp16 rows of one weight at a
 * time, as many as fit (a matrix larger than it is decoded and multiplied
 * in pieces of rows) */
#define MATMUL_SCRATCH_BYTES (32ull << 20)

static vkllm_status matmul_record(gpu_rec *rec, const matmul_config *cfg_in, gpu_tensor *w, gpu_tensor *w2,
                                  const matmul_norm *norm, gpu_binding x, gpu_binding y, uint32_t M, uint32_t N,
                                  uint32_t K)
{
    if (gpu_rec_status(rec)) return gpu_rec_status(rec);
    gpu_ctx *ctx = gpu_rec_ctx(rec);
    const uint32_t qtype = gpu_tensor_format(w);
    const quant_type *qt = qtype ? quant_type_of(qtype) : NULL;
    const uint64_t row_bytes = op_weight_row_bytes(qtype, K);
    /* MATMUL_DEQUANT: the fp16 kernel of the context's choice reads the
     * weight decoded into the scratch (wk), a piece of rows at a time */
    const bool deq = cfg_in->kind == MATMUL_DEQUANT;
    matmul_config inner = { 0 };
    gpu_tensor *wk = w;
    if (deq) {
        if (!qt || w2)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: decoding into the scratch needs quantized weights%s",
                                w2 ? " and no second weight" : "");
        inner = pick(ops_profile_of(ctx), M, N, K);
        inner.acc = cfg_in->acc;
        uint64_t sb = gpu_max_chunk_bytes(ctx) < MATMUL_SCRATCH_BYTES ? gpu_max_chunk_bytes(ctx) : MATMUL_SCRATCH_BYTES;
        if (gpu_rec_note(rec, gpu_scratch(ctx, sb / 16 * 16, &wk))) return gpu_rec_status(rec);
        if (gpu_tensor_bytes(wk) < 2ull * K)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: a row of K %u does not fit the scratch", K);
    }
    const matmul_config *cfg = deq ? &inner : cfg_in;
    const quant_type *kq = deq ? NULL : qt; /* the block type the kernel reads (NULL: fp16) */
    char qname[64]; /* a quantized variant's name, for the pipeline description */
    if (M == 0 || N == 0 || K == 0)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: empty shape M %u N %u K %u", M, N, K);
    if ((uint64_t)M * N > UINT32_MAX || (uint64_t)M * K > UINT32_MAX)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: M %u x N %u / K %u exceeds 32-bit indexing", M, N, K);
    if ((qtype && !qt) || !row_bytes || gpu_tensor_bytes(w) != weight_bytes(qtype, N, K))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: w has %llu bytes, %s [%u][%u] needs %llu",
                            (unsigned long long)gpu_tensor_bytes(w), qt ? qt->name : qtype ? "an unknown type" : "fp16",
                            N, K, (unsigned long long)weight_bytes(qtype, N, K));
    if (w2 && gpu_tensor_format(w2) != qtype)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul glu: w_gate and w_up have different types");
    if (gpu_binding_bytes(x) < 4ull * M * K || gpu_binding_bytes(y) < 4ull * M * N)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: x (%llu bytes) or y (%llu bytes) too small for M %u N %u K %u",
                        (unsigned long long)gpu_binding_bytes(x), (unsigned long long)gpu_binding_bytes(y), M, N, K);
    if (gpu_rec_note(rec, check_config(ctx, cfg))) return gpu_rec_status(rec);
    if (kq && cfg->kind == MATMUL_TILED && cfg->bk % 32)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: tiles of quantized weights need bk %% 32 == 0 (bk %u)",
                            cfg->bk);
    if (kq && cfg->kind == MATMUL_COOPMAT) {
        op_weight_variant(qname, sizeof qname, "matmul_coopmat", qtype, "");
        if (!gpu_shader_available(qname))
            return gpu_rec_fail(rec, VKLLM_ERR_UNSUPPORTED, "matmul: no tensor-core kernel for %s weights", qt->name);
    }
    if (w2) {
        bool same = gpu_tensor_bytes(w2) == gpu_tensor_bytes(w) && gpu_tensor_n_chunks(w2) == gpu_tensor_n_chunks(w);
        for (uint32_t c = 0; same && c < gpu_tensor_n_chunks(w); c++)
            same = gpu_tensor_chunk_bytes(w2, c) == gpu_tensor_chunk_bytes(w, c);
        if (!same || cfg->kind != MATMUL_MATVEC || K % 8 || cfg->acc)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                            "matmul glu: needs the matrix-vector kernel, K %% 8 == 0 and two weights chunked alike");
    }
    if (norm && (cfg->kind != MATMUL_MATVEC || K % 8 || gpu_binding_bytes(norm->w) < 4ull * K))
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                        "matmul norm: needs the matrix-vector kernel, K %% 8 == 0 and a weight of K %u floats", K);
    if (cfg->kind == MATMUL_MATVEC && (M + cfg->nm - 1) / cfg->nm > 65535)
        return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: M %u needs more than 65535 workgroups", M);

    const bool vec8 = K % 8 == 0; /* rows start on 16-byte boundaries: uvec4 loads (blocks: always) */
    bool texel = cfg->texel && vec8;
    for (uint32_t c = 0; texel && c < gpu_tensor_n_chunks(wk); c++)
        texel = gpu_tensor_chunk_bytes(wk, c) / 16 <= gpu_max_texels(ctx); /* else storage-buffer loads */
    /* x as texels too: a whole single-chunk tensor */
    texel = texel && !x.offset && !x.range && gpu_tensor_bytes(x.t) / 16 <= gpu_max_texels(ctx);
    /* and the norm's weight */
    texel = texel && (!norm || (!norm->w.offset && !norm->w.range && gpu_tensor_bytes(norm->w.t) / 16 <= gpu_max_texels(ctx)));
    gpu_pipeline_desc d = { .n_buffers = MATMUL_N_BINDINGS, .push_bytes = sizeof(matmul_push) };
    if (cfg->kind == MATMUL_COOPMAT) {
        if (!vec8) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: the tensor-core kernel needs K %% 8 == 0 (K %u)", K);
        /* bk 0: the plain kernel; else the pipelined one with k slices of bk */
        d.shader = cfg->bk ? "matmul_coopmat_prefetch" : "matmul_coopmat";
        d.n_spec = cfg->bk ? MATMUL_N_SPEC_TC : MATMUL_N_SPEC; /* only ACC and TC_BK are used */
        d.spec[MATMUL_SPEC_ACC] = cfg->acc != 0;
        if (cfg->bk) d.spec[MATMUL_SPEC_TC_BK] = cfg->bk;
        if (kq) { /* blocks: "matmul_coopmat_<type>" (the plain kernel, k slices of 32; named above) */
            d.shader = qname;
            d.n_spec = MATMUL_N_SPEC;
        }
    } else if (cfg->kind == MATMUL_MATVEC) {
        /* the variant: SwiGLU's two weights or one; uvec4 loads (K % 8 == 0)
         * through texel fetches or storage buffers, or scalar loads */
        static const char *const variant[2][3] = {
            /* [glu][scalar, vec8, vec8 + texel] */
            { "matvec_scalar", "matvec", "matvec_texel" },
            { NULL, "matvec_glu", "matvec_glu_texel" }, /* glu needs K % 8 == 0 (checked above) */
        };
        d.shader = variant[w2 != NULL][vec8 + texel];
        if (kq) { /* blocks: "matvec[_glu]_<type>[_texel]" */
            op_weight_variant(qname, sizeof qname, w2 ? "matvec_glu" : "matvec", qtype, texel ? "_texel" : "");
            d.shader = qname;
        }
        /* the scalar kernel binds w, x, y only; the others also w2 and the
         * norm's weight (unused ones get x) */
        if (vec8) d.n_buffers = MATVEC_N_BINDINGS;
        else d.n_buffers = MATVEC_N_BINDINGS_SCALAR;
        if (texel) {
            d.texel_mask = BINDING_BIT(MATVEC_BIND_W) | BINDING_BIT(MATVEC_BIND_X) | BINDING_BIT(MATVEC_BIND_NORM);
            if (w2) d.texel_mask |= BINDING_BIT(MATVEC_BIND_W2);
        }
        d.n_spec = MATVEC_N_SPEC;
        d.spec[MATVEC_SPEC_WG] = cfg->wg;
        d.spec[MATVEC_SPEC_ROWS] = cfg->rows;
        d.spec[MATVEC_SPEC_R] = cfg->r;
        d.spec[MATVEC_SPEC_NM] = cfg->nm;
        d.spec[MATVEC_SPEC_ACC] = cfg->acc != 0;
        d.spec[MATVEC_SPEC_NORM] = norm != NULL;
    } else {
        d.shader = vec8 ? "matmul" : "matmul_scalar";
        if (kq) { /* blocks: "matmul_<type>" */
            op_weight_variant(qname, sizeof qname, "matmul", qtype, "");
            d.shader = qname;
        }
        d.n_spec = MATMUL_N_SPEC;
        d.spec[MATMUL_SPEC_WG] = cfg->wg;
        d.spec[MATMUL_SPEC_BM] = cfg->bm;
        d.spec[MATMUL_SPEC_BN] = cfg->bn;
        d.spec[MATMUL_SPEC_BK] = cfg->bk;
        d.spec[MATMUL_SPEC_TM] = cfg->tm;
        d.spec[MATMUL_SPEC_TN] = cfg->tn;
        d.spec[MATMUL_SPEC_ACC] = cfg->acc != 0;
    }
    /* the label in timings: the kernel, and what is fused into it */
    static const char *const kind_label[] = { [MATMUL_TILED] = "matmul", [MATMUL_MATVEC] = "matvec",
                                              [MATMUL_COOPMAT] = "matmul_coopmat", [MATMUL_DEQUANT] = "matmul" };
    static const char *const fused_label[2][2] = { /* [glu][norm] */
        { NULL, "matvec+norm" }, { "matvec_glu", "matvec_glu+norm" },
    };
    const char *label = w2 || norm ? fused_label[w2 != NULL][norm != NULL] : kind_label[cfg->kind];
    gpu_pipeline *p = gpu_rec_pipeline(rec, &d);
    /* MATMUL_DEQUANT: the decoder, blocks -> fp16 rows of the scratch */
    gpu_pipeline *dp = NULL;
    bool dtexel = false;
    if (deq) {
        dtexel = ops_profile_of(ctx)->texel_reads;
        for (uint32_t c = 0; dtexel && c < gpu_tensor_n_chunks(w); c++)
            dtexel = gpu_tensor_chunk_bytes(w, c) / 16 <= gpu_max_texels(ctx);
        op_weight_variant(qname, sizeof qname, "dequant", qtype, dtexel ? "_texel" : "");
        gpu_pipeline_desc dd = { .shader = qname, .n_buffers = DEQUANT_N_BINDINGS, .push_bytes = sizeof(dequant_push),
                                 .n_spec = DEQUANT_N_SPEC, .spec = { [DEQUANT_SPEC_WG] = 64 },
                                 .texel_mask = dtexel ? BINDING_BIT(DEQUANT_BIND_W) : 0 };
        dp = gpu_rec_pipeline(rec, &dd);
    }
    /* rows of the scratch: whole texels of fp16 rows */
    const uint64_t piece = deq ? gpu_tensor_bytes(wk) / (2ull * K) : UINT32_MAX;

    for (uint32_t c = 0; c < gpu_tensor_n_chunks(w); c++) {
        uint64_t off = gpu_tensor_chunk_offset(w, c), bytes = gpu_tensor_chunk_bytes(w, c);
        if (qt && c + 1 == gpu_tensor_n_chunks(w)) bytes -= bytes % row_bytes; /* the padding */
        if (off % row_bytes || bytes % row_bytes)
            return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG,
                            "matmul: chunk %u of w splits a row of %llu bytes (create w with granule K*2)", c,
                            (unsigned long long)row_bytes);
        const uint32_t chunk_rows = (uint32_t)(bytes / row_bytes);
        for (uint32_t r0 = 0; r0 < chunk_rows; r0 += (uint32_t)piece) {
            matmul_push pc = {
                .K = K, .M = M, .n_rows = chunk_rows - r0 < piece ? chunk_rows - r0 : (uint32_t)piece,
                .row_offset = (uint32_t)(off / row_bytes) + r0, .y_stride = N, .eps = norm ? norm->eps : 0.0f,
            };
            if (deq) {
                dequant_push dpc = { .K = K, .n_rows = pc.n_rows, .row_begin = r0 };
                uint64_t dg = ((uint64_t)pc.n_rows * (K / 32) + 63) / 64;
                uint32_t dgx = dg < 65535 ? (uint32_t)dg : 65535;
                gpu_binding db[DEQUANT_N_BINDINGS] = { [DEQUANT_BIND_W] = gpu_bind_chunk(w, c),
                                                       [DEQUANT_BIND_OUT] = gpu_bind(wk) };
                gpu_barrier(rec); /* earlier reads of the scratch (other matmuls, pieces) -> overwritten here */
                gpu_dispatch(rec, dp, db, DEQUANT_N_BINDINGS, &dpc, dgx, (uint32_t)((dg + dgx - 1) / dgx), 1, "dequant");
                gpu_barrier(rec); /* the decoded rows -> read by the fp16 kernel below */
            }
            /* workgroups: matvec, one per `rows` rows (z: m); tiled, one per
             * tile. Counts past 65535 spill into y; the shaders skip the extra. */
            uint64_t groups = cfg->kind == MATMUL_MATVEC    ? (pc.n_rows + cfg->rows - 1) / cfg->rows
                              : cfg->kind == MATMUL_COOPMAT ? (uint64_t)((pc.n_rows + 63) / 64) * ((M + 63) / 64)
                                                            : (uint64_t)((pc.n_rows + cfg->bn - 1) / cfg->bn) * ((M + cfg->bm - 1) / cfg->bm);
            uint32_t gx = groups < 65535 ? (uint32_t)groups : 65535;
            uint64_t gy = (groups + gx - 1) / gx;
            if (gy > 65535) return gpu_rec_fail(rec, VKLLM_ERR_INVALID_ARG, "matmul: %llu workgroups", (unsigned long long)groups);
            gpu_binding b[MATVEC_N_BINDINGS] = { /* MATMUL_BIND_W, X, Y are the same slots */
                [MATVEC_BIND_W] = deq ? gpu_bind(wk) : gpu_bind_chunk(w, c), [MATVEC_BIND_X] = x, [MATVEC_BIND_Y] = y,
                [MATVEC_BIND_W2] = w2 ? gpu_bind_chunk(w2, c) : x, [MATVEC_BIND_NORM] = norm ? norm->w : x,
            };
            uint32_t gz = cfg->kind == MATMUL_MATVEC ? (M + cfg->nm - 1) / cfg->nm : 1;
            gpu_dispatch(rec, p, b, d.n_buffers, &pc, gx, (uint32_t)gy, gz, label);
        }
    }
    return gpu_rec_status(rec);
}

vkllm_status op_matmul_with(gpu_rec *rec, const matmul_config *cfg, gpu_tensor *w, gpu_binding x, gpu_binding y,
                            uint32_t M, uint32_t N, uint32_t K)
{
    return matmul_record(rec, cfg, w, NULL, NULL, x, y, M, N, K);
}

matmul_config matmul_glu_config(matmul_config c)
{
    if (c.r > 1) {
        c.rows = c.rows / c.r * (c.r / 2);
        c.r /= 2;
    }
    return c;
}

matmul_config matmul_pick_glu(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K)
{
    const ops_profile *p = ops_profile_of(ctx);
    matmul_config c = matmul_glu_config(pick(p, M, N, K));
    if (M == 1) apply_tuned(p, true, N, K, &c);
    return c;
}

bool matmul_glu_fusable(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K)
{
    /* GPUs save a dispatch, a barrier and the round trip of gate and up
     * (not measured yet): the profile's fuse_glu */
    return K % 8 == 0 && ops_profile_of(ctx)->fuse_glu && matmul_pick(ctx, M, N, K).kind == MATMUL_MATVEC;
}

bool matmul_glu_fusable_for(gpu_ctx *ctx, gpu_tensor *w_gate, gpu_tensor *w_up, uint32_t M, uint32_t N, uint32_t K)
{
    if (matmul_glu_fusable(ctx, M, N, K)) return true;
    /* CPU devices fuse fp16 decode (M <= MATMUL_MAX_NM): each x load then
     * serves both weights. lavapipe, small, process CPU time per step
     * (2026-12, alternating runs): 71.9 -> 65.2 ms alone, 137.5 -> 124.2 ms
     * at 4 sequences (an earlier A/B of one sequence alone was inside the
     * VM's noise). Not for quantized weights there (Q4_K_M at 4 sequences
     * 165 -> 190 ms: two decoded blocks per unit spill), nor prefill (not
     * re-measured). */
    return ops_profile_of(ctx)->family == OPS_FAMILY_CPU && gpu_tensor_format(w_gate) == 0 &&
           gpu_tensor_format(w_up) == 0 && M <= MATMUL_MAX_NM &&
           K % 8 == 0 && matmul_pick(ctx, M, N, K).kind == MATMUL_MATVEC;
}

vkllm_status op_matmul_glu(gpu_rec *rec, gpu_tensor *w_gate, gpu_tensor *w_up, const matmul_norm *norm, gpu_binding x,
                           gpu_binding y, uint32_t M, uint32_t N, uint32_t K)
{
    matmul_config c = matmul_pick_glu(gpu_rec_ctx(rec), M, N, K);
    return matmul_record(rec, &c, w_gate, w_up, norm, x, y, M, N, K);
}

vkllm_status op_matmul_glu_with(gpu_rec *rec, const matmul_config *cfg, gpu_tensor *w_gate, gpu_tensor *w_up,
                                gpu_binding x, gpu_binding y, uint32_t M, uint32_t N, uint32_t K)
{
    return matmul_record(rec, cfg, w_gate, w_up, NULL, x, y, M, N, K);
}

bool matmul_norm_fusable(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K)
{
    return K % 8 == 0 && ops_profile_of(ctx)->fuse_norm && matmul_pick(ctx, M, N, K).kind == MATMUL_MATVEC;
}

vkllm_status op_matmul_norm(gpu_rec *rec, gpu_tensor *w, const matmul_norm *norm, gpu_binding x, gpu_binding y,
                            uint32_t M, uint32_t N, uint32_t K)
{
    matmul_config c = matmul_pick_quant(gpu_rec_ctx(rec), gpu_tensor_format(w), M, N, K, true);
    return matmul_record(rec, &c, w, NULL, norm, x, y, M, N, K);
}

vkllm_status op_matmul(gpu_rec *rec, gpu_tensor *w, gpu_binding x, gpu_binding y, uint32_t M, uint32_t N, uint32_t K)
{
    matmul_config c = matmul_pick_quant(gpu_rec_ctx(rec), gpu_tensor_format(w), M, N, K, false);
    return op_matmul_with(rec, &c, w, x, y, M, N, K);
}

vkllm_status op_matmul_acc(gpu_rec *rec, gpu_tensor *w, gpu_binding x, gpu_binding y, uint32_t M, uint32_t N,
                           uint32_t K)
{
    matmul_config c = matmul_pick_quant(gpu_rec_ctx(rec), gpu_tensor_format(w), M, N, K, false);
    c.acc = 1;
    return op_matmul_with(rec, &c, w, x, y, M, N, K);
}

/* ------------------------------------------------------------ reference */

/* y[m][n] = sum_k w[n][k] x[m][k] in double; scale[m][n] = sum_k |w[n][k] x[m][k]|
 * when scale is not NULL (the size of the rounding error fp32 sums make). */
static void ref_matmul_scaled(const uint16_t *w, const float *x, float *y, double *scale, uint32_t M, uint32_t N,
                              uint32_t K)
{
    float *row = malloc((size_t)K * sizeof *row); /* w[n] as float, converted once per row */
    for (uint32_t n = 0; n < N; n++) {
        if (row)
            for (uint32_t k = 0; k < K; k++) row[k] = half_to_float(w[(size_t)n * K + k]);
        for (uint32_t m = 0; m < M; m++) {
            const float *xm = x + (size_t)m * K;
            double sum = 0, abs_sum = 0;
            for (uint32_t k = 0; k < K; k++) {
                double p = (double)(row ? row[k] : half_to_float(w[(size_t)n * K + k])) * xm[k];
                sum += p;
                abs_sum += fabs(p);
            }
            y[(size_t)m * N + n] = (float)sum;
            if (scale) scale[(size_t)m * N + n] = abs_sum;
        }
    }
    free(row);
}

void ref_matmul(const uint16_t *w, const float *x, float *y, uint32_t M, uint32_t N, uint32_t K)
{
    ref_matmul_scaled(w, x, y, NULL, M, N, K);
}

/* ------------------------------------------------------------ check */

/* Tolerance, per element: |gpu - ref| <= MATMUL_ATOL + MATMUL_RTOL * sum_k |w x|.
 * The fp16 weights are exact inputs (rounded once, here, before both sides
 * see them) and the products w*x are exact in double; only the GPU's fp32
 * arithmetic rounds: each product (u = 2^-24 relative) and each partial sum,
 * in an order that depends on the kernel. The worst case is ~K*u*sum|w x|,
 * but it needs every rounding to go the same way; with random-signed terms
 * the partial sums stay ~sqrt(k) terms large and the roundings cancel like
 * a random walk, so the error is a few u * sum|w x| whatever the order
 * (measured: <= ~4 u on lavapipe over all tested shapes). 64 u leaves margin
 * and still catches a kernel that drops one term: one of K terms is
 * ~1/K of sum|w x|, 7e-5 at K = 14336, against 64 u = 3.8e-6. */
#define MATMUL_RTOL (64.0 / 16777216.0)
#define MATMUL_ATOL 1e-12 /* only keeps the bound positive where sum |w x| is 0 */
/* The tensor-core kernel: x enters as hi + lo halves (about 22 bits, an
 * error of ~2^-22 |x| per element), and tensor cores need not round their
 * fp32 sums as IEEE does: 2^-16 of sum |w x|, still under the 1/K share of
 * one dropped term (7e-5 at K = 14336). */
#define MATMUL_RTOL_TC (1.0 / 65536.0)

/* The check's tensors: w (and SwiGLU's w2), x, the norm's weight, y. */
enum { MM_W, MM_W2, MM_X, MM_NORM, MM_Y, MM_N };

typedef struct matmul_args {
    matmul_config c;
    bool glu, norm;
    float eps;
    uint32_t M, N, K;
} matmul_args;

static void record_matmul(gpu_rec *rec, const check_buf *b, const void *arg)
{
    const matmul_args *a = arg;
    const matmul_norm mn = { gpu_bind(b[MM_NORM].t), a->eps };
    matmul_record(rec, &a->c, b[MM_W].t, a->glu ? b[MM_W2].t : NULL, a->norm ? &mn : NULL, gpu_bind(b[MM_X].t),
                  gpu_bind(b[MM_Y].t), a->M, a->N, a->K);
}

vkllm_status check_matmul_with(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K,
                               uint64_t seed, vkllm_check_result *out)
{
    matmul_args a = { .c = cfg ? *cfg : matmul_pick(ctx, M, N, K), .M = M, .N = N, .K = K };
    static const char *const kernel[] = { [MATMUL_TILED] = "matmul", [MATMUL_MATVEC] = "matvec",
                                          [MATMUL_COOPMAT] = "matmul_tc" };
    check_begin(out, kernel[a.c.kind], "M %u N %u K %u%s", M, N, K, a.c.acc ? " y+=" : "");
    if (a.c.kind == MATMUL_COOPMAT && a.c.bk) /* the pipelined variant: its k slice in the name */
        snprintf(out->kernel, sizeof out->kernel, "matmul_tc_bk%u", a.c.bk);
    const size_t nw = (size_t)N * K, nx = (size_t)M * K, ny = (size_t)M * N;
    check_host h = { 0 };
    uint16_t *w = check_alloc(&h, nw * sizeof *w);
    float *x = check_alloc(&h, nx * sizeof *x), *want = check_alloc(&h, ny * sizeof *want),
          *got = check_alloc(&h, ny * sizeof *got);
    double *scale = check_alloc(&h, ny * sizeof *scale);
    float *y0 = a.c.acc ? check_alloc(&h, ny * sizeof *y0) : NULL;
    vkllm_status s = check_host_status(ctx, &h, "check_matmul");
    if (s == VKLLM_OK) {
        rng r = { seed };
        check_fill_f16(&r, w, nw, -1.0f, 1.0f);
        check_fill_f32(&r, x, nx, -1.0f, 1.0f);
        ref_matmul_scaled(w, x, want, scale, M, N, K);
        if (a.c.acc) { /* y starts random; want y0 + x w^T, one more rounding (of |y0 + ...|) */
            check_fill_f32(&r, y0, ny, -4.0f, 4.0f);
            for (size_t i = 0; i < ny; i++) {
                want[i] = (float)((double)y0[i] + want[i]);
                scale[i] += fabs(y0[i]);
            }
        }
        /* accumulating: y is also an input, restored after the warm-up instead of poisoned */
        check_buf b[MM_N] = {
            [MM_W] = { .host = w, .bytes = nw * 2, .granule = 2ull * K }, /* chunks hold whole rows */
            [MM_W2] = { .bytes = 4 },
            [MM_X] = { .host = x, .bytes = nx * 4 },
            [MM_NORM] = { .bytes = 4 },
            [MM_Y] = { .host = y0, .bytes = ny * 4, .got = got, .in_out = a.c.acc != 0 },
        };
        s = check_drive(ctx, b, MM_N, record_matmul, &a, out);
    }
    if (s == VKLLM_OK)
        check_compare(got, want, scale, ny, MATMUL_ATOL, a.c.kind == MATMUL_COOPMAT ? MATMUL_RTOL_TC : MATMUL_RTOL, "y", out);
    check_host_free(&h);
    return s;
}

int matmul_verify_coopmat(gpu_ctx *ctx)
{
    ops_profile *p = ops_profile_of(ctx);
    if (p->coopmat_checked) return p->coopmat_passed != 0; /* checked already on this context */
    if (!p->coopmat) return 0;
    /* awkward edges (partial 64x64 tiles, K not a multiple of 16 or of the
     * slice), a block of 128 tokens, and the accumulating form; four
     * variants, so the shapes stay small (the reference runs on the host) */
    static const uint32_t shapes[][4] = { { 70, 130, 264, 0 }, { 9, 1000, 8, 0 }, { 128, 512, 1032, 0 }, { 33, 65, 136, 1 } };
    uint32_t mask = 0, bk = 0;
    for (uint32_t v = 0; v < OPS_COOPMAT_VARIANTS; v++) {
        bool ok = true;
        for (unsigned i = 0; ok && i < sizeof shapes / sizeof shapes[0]; i++) {
            matmul_config c = { .kind = MATMUL_COOPMAT, .wg = 128, .bk = coopmat_bk[v], .acc = shapes[i][3] };
            vkllm_check_result r;
            vkllm_status s = check_matmul_with(ctx, &c, shapes[i][0], shapes[i][1], shapes[i][2], 0x7c + i, &r);
            ok = s == VKLLM_OK && r.passed; /* else wrong, or the driver would not even build it */
        }
        if (ok && !mask) bk = coopmat_bk[v]; /* the first that passed, until timings choose */
        if (ok) mask |= 1u << v;
    }
    /* the quantized-weight kernels (matmul_coopmat.comp's QTYPE variants):
     * blocks of 32 and of 256, partial tiles, y += */
    bool q_ok = mask != 0;
    static const uint32_t qtypes[] = { QTYPE_Q8_0, QTYPE_Q4_K, QTYPE_Q6_K };
    for (unsigned i = 0; q_ok && i < sizeof qtypes / sizeof qtypes[0]; i++) {
        const matmul_config c = { .kind = MATMUL_COOPMAT, .wg = 128 };
        vkllm_check_result r;
        vkllm_status s = check_matmul_quant_with(ctx, &c, qtypes[i], 70, 130, 512, false, false, i == 1, 0x90 + i, &r);
        q_ok = s == VKLLM_OK && r.passed;
    }
    p->coopmat_quant = q_ok;
    p->coopmat_checked = true;
    p->coopmat_passed = mask;
    p->coopmat_bk = bk;
    p->coopmat = mask != 0; /* none passed: the shared-memory kernel takes over */
    return mask != 0;
}

vkllm_status check_matmul(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K, uint64_t seed, vkllm_check_result *out)
{
    return check_matmul_with(ctx, NULL, M, N, K, seed, out);
}

static double silu_d(double g) { return g / (1.0 + exp(-g)); }

/* The fused forms against the reference: y = w rmsnorm(x) (glu false, norm
 * true) or silu(w_gate x') * (w_up x') with x' = x or rmsnorm(x). */
static vkllm_status check_fused(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K, bool glu,
                                bool norm, uint64_t seed, vkllm_check_result *out)
{
    matmul_args a = { .glu = glu, .norm = norm, .eps = 1e-5f, .M = M, .N = N, .K = K };
    if (cfg) a.c = *cfg;
    else if (glu) a.c = matmul_pick_glu(ctx, M, N, K);
    else a.c = matmul_pick(ctx, M, N, K);
    static const char *const kernel[2][2] = { /* [glu][norm] */
        { "matvec", "matvec+norm" }, { "matvec_glu", "matvec_glu+norm" },
    };
    check_begin(out, kernel[glu][norm], "M %u N %u K %u", M, N, K);
    const size_t nw = (size_t)N * K, nx = (size_t)M * K, ny = (size_t)M * N;
    check_host h = { 0 };
    uint16_t *wg = check_alloc(&h, nw * 2), *wu = check_alloc(&h, nw * 2);
    float *x = check_alloc(&h, nx * 4), *xn = check_alloc(&h, nx * 4), *nw_ = check_alloc(&h, (size_t)K * 4),
          *g = check_alloc(&h, ny * 4), *u = check_alloc(&h, ny * 4), *want = check_alloc(&h, ny * 4),
          *got = check_alloc(&h, ny * 4);
    double *sg = check_alloc(&h, ny * sizeof *sg), *su = check_alloc(&h, ny * sizeof *su),
           *bound = check_alloc(&h, ny * sizeof *bound);
    vkllm_status s = check_host_status(ctx, &h, "check_matmul_fused");
    if (s != VKLLM_OK) goto done;
    rng r = { seed };
    check_fill_f16(&r, wg, nw, -1.0f, 1.0f);
    check_fill_f16(&r, wu, nw, -1.0f, 1.0f);
    check_fill_f32(&r, nw_, K, -1.5f, 1.5f);
    for (uint32_t m = 0; m < M; m++) /* each row its own scale, so the norm has something to undo */
        check_fill_f32(&r, x + (size_t)m * K, K, -0.25f - m % 5, 0.25f + m % 5);
    if (norm)
        ref_rmsnorm(x, nw_, xn, M, K, a.eps);
    else
        memcpy(xn, x, nx * 4);
    /* the product's sums err by MATMUL_RTOL of sum |w x'|; the norm adds a
     * few ulp per term (x * g, 1 / rms, the scaling), inside that margin */
    ref_matmul_scaled(wg, xn, g, sg, M, N, K);
    if (glu) {
        ref_matmul_scaled(wu, xn, u, su, M, N, K);
        /* y = silu(g) u: the sums' errors (MATMUL_RTOL of sum |w x| each) move it
         * by at most |silu'(g)| |u| e_g + |silu(g)| e_u with |silu'| < 1.1, plus
         * the fp32 silu and product (8 ulp of the result) */
        for (size_t i = 0; i < ny; i++) {
            double sv = silu_d(g[i]);
            want[i] = (float)(sv * u[i]);
            bound[i] = MATMUL_RTOL * (1.1 * fabs(u[i]) * sg[i] + fabs(sv) * su[i]) + 8 * ldexp(1, -24) * fabs(want[i]);
        }
    } else {
        for (size_t i = 0; i < ny; i++) {
            want[i] = g[i];
            bound[i] = MATMUL_ATOL + MATMUL_RTOL * sg[i];
        }
    }
    check_buf b[MM_N] = {
        [MM_W] = { .host = wg, .bytes = nw * 2, .granule = 2ull * K },
        [MM_W2] = { .host = glu ? wu : NULL, .bytes = glu ? nw * 2 : 4, .granule = glu ? 2ull * K : 0 },
        [MM_X] = { .host = x, .bytes = nx * 4 },
        [MM_NORM] = { .host = nw_, .bytes = (size_t)K * 4 },
        [MM_Y] = { .got = got, .bytes = ny * 4 },
    };
    s = check_drive(ctx, b, MM_N, record_matmul, &a, out);
    if (s == VKLLM_OK) check_compare(got, want, bound, ny, 1e-30, 1.0, "y", out);
done:
    check_host_free(&h);
    return s;
}

vkllm_status check_matmul_glu(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K, bool norm,
                              uint64_t seed, vkllm_check_result *out)
{
    return check_fused(ctx, cfg, M, N, K, true, norm, seed, out);
}

vkllm_status check_matmul_norm(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K,
                               uint64_t seed, vkllm_check_result *out)
{
    return check_fused(ctx, cfg, M, N, K, false, true, seed, out);
}
