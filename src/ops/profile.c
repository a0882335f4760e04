#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bufprintf.h"

/* The families' choices, as measured (see matmul.c, attention.c and
 * docs/PERFORMANCE.md): on lavapipe texel fetches beat storage-buffer loads
 * 2-3x, the matrix-vector kernel beats the tiled one even for prefill
 * blocks, the fused SwiGLU kernel did not measure faster, and one subgroup
 * per workgroup with whole rows of keys keeps its few threads busy. GPUs
 * get the usual shape of such kernels (not all measured yet). */
/* M from which CPU devices take the quantized prefill path (measured on
 * lavapipe, docs/PERFORMANCE.md: the fp16 scratch from M 9; at M 8, a
 * step of 8 batched sequences, two groups of 4 columns in the
 * matrix-vector kernel are 1.6x faster) */
#define QUANT_PREFILL_M_CPU 9
/* whether CPU devices quantize on load with the shader: no, lavapipe runs
 * it on the same cores, slower than the CPU quantizer's vector builds
 * (q4_k_m 7.2 s vs 3.7 s for a 0.67 B model, q8_0 a tie; docs/PERFORMANCE.md) */
#define QUANTIZE_ON_DEVICE_CPU false

static ops_profile profile_of_family(const vkllm_device_info *info, ops_family family)
{
    const bool cpu = family == OPS_FAMILY_CPU;
    ops_profile p = {
        .family = family,
        .subgroup_size = info->subgroup_size ? info->subgroup_size : 32,
        .max_workgroup_invocations = info->max_workgroup_invocations,
        .texel_reads = cpu,
        .matvec_prefill = cpu,
        .fuse_norm = true,
        .fuse_glu = !cpu,
        .attn_subgroup_splits = cpu ? 1 : 16,
        .attn_max_ranges = cpu ? 1 : 64,
        .tune_at_load = !cpu,
        .coopmat = info->coopmat_nv && info->subgroup_size == 32 && gpu_shader_available("matmul_coopmat"),
        /* quantized prefill (docs/PERFORMANCE.md, "Quantized prefill"): on
         * lavapipe decoding the matrix once into fp16 and running the fp16
         * matrix-vector kernel beats decoding tiles in the tiled kernel;
         * GPUs decode tiles into shared memory (not measured yet) */
        .quant_prefill_m = QUANT_PREFILL_M_CPU,
        .quant_dequant = cpu,
    };
    if (!cpu) p.quant_prefill_m = 9; /* where fp16 leaves the matrix-vector kernel (MATMUL_MAX_NM + 1) */
    /* VKLLM_QUANT_PREFILL (a measuring aid): matvec, tiles or dequant for every device */
    const char *qp = getenv("VKLLM_QUANT_PREFILL");
    if (qp && !strcmp(qp, "matvec")) p.quant_prefill_m = UINT32_MAX;
    if (qp && (!strcmp(qp, "tiles") || !strcmp(qp, "dequant"))) p.quant_dequant = !strcmp(qp, "dequant");
    /* quantize on load (docs/PERFORMANCE.md, "Quantize on load"): GPUs on
     * the device; CPU devices as measured faster on lavapipe */
    p.quantize_on_device = !cpu || QUANTIZE_ON_DEVICE_CPU;
    const char *qo = getenv("VKLLM_QUANTIZE_ON"); /* a measuring aid: cpu or device for every device */
    if (qo && (!strcmp(qo, "cpu") || !strcmp(qo, "device"))) p.quantize_on_device = !strcmp(qo, "device");
    const char *qm = getenv("VKLLM_QUANT_PREFILL_M"); /* and from which M */
    if (qm && atoi(qm) >= 1 && !(qp && !strcmp(qp, "matvec"))) p.quant_prefill_m = (uint32_t)atoi(qm);
    return p;
}

ops_profile ops_profile_for(const vkllm_device_info *info)
{
    return profile_of_family(info, info->type == VKLLM_DEVICE_CPU ? OPS_FAMILY_CPU : OPS_FAMILY_GPU);
}

ops_profile ops_profile_start(const vkllm_device_info *info)
{
    const char *as_gpu = getenv("VKLLM_AS_GPU");
    const bool force = as_gpu && !strcmp(as_gpu, "1") && info->type == VKLLM_DEVICE_CPU;
    ops_profile p = force ? profile_of_family(info, OPS_FAMILY_GPU) : ops_profile_for(info);
    p.as_gpu = force;
    return p;
}

ops_profile *ops_profile_of(gpu_ctx *ctx)
{
    ops_profile *p = gpu_ops_profile(ctx);
    if (p) return p;
    ops_profile made = ops_profile_start(gpu_info(ctx));
    p = malloc(sizeof *p);
    if (!p) { /* out of host memory: a profile for this call, rebuilt (untuned) on the next */
        static _Thread_local ops_profile fallback;
        fallback = made;
        return &fallback;
    }
    *p = made;
    gpu_set_ops_profile(ctx, p);
    return p;
}

const ops_matvec_choice *ops_profile_matvec(const ops_profile *p, bool glu, uint32_t N, uint32_t K)
{
    for (uint32_t i = 0; i < p->n_matvec; i++)
        if (p->matvec[i].glu == glu && p->matvec[i].N == N && p->matvec[i].K == K) return &p->matvec[i];
    return NULL;
}

bool ops_profile_set_matvec(ops_profile *p, const ops_matvec_choice *c)
{
    ops_matvec_choice *slot = (ops_matvec_choice *)ops_profile_matvec(p, c->glu, c->N, c->K);
    if (!slot) {
        if (p->n_matvec == OPS_PROFILE_MAX_MATVEC) return false;
        slot = &p->matvec[p->n_matvec++];
    }
    *slot = *c;
    return true;
}

size_t ops_profile_json(const ops_profile *p, char *buf, size_t len)
{
    size_t used = 0;
#define OUT(...) buf_printf(buf, len, &used, __VA_ARGS__)
#define B(x) ((x) ? "true" : "false")
    OUT("{\"family\": \"%s\", \"as_gpu\": %s, \"reads\": \"%s\", \"prefill\": \"%s\"",
        p->family == OPS_FAMILY_CPU ? "cpu" : "gpu", B(p->as_gpu), p->texel_reads ? "texel" : "storage",
        p->coopmat ? "tensor cores" : p->matvec_prefill ? "matvec" : "tiled");
    OUT(", \"fuse_norm\": %s, \"fuse_glu\": %s, \"attention_subgroup_splits\": %u, \"attention_max_ranges\": %u",
        B(p->fuse_norm), B(p->fuse_glu), p->attn_subgroup_splits, p->attn_max_ranges);
    OUT(", \"quant_prefill\": {\"from_m\": %u, \"path\": \"%s\"}", p->quant_prefill_m,
        p->quant_prefill_m == UINT32_MAX ? "matvec" : p->quant_dequant ? "dequant" : "tiles");
    OUT(", \"quantize_on\": \"%s\"", p->quantize_on_device ? "device" : "cpu");
    OUT(", \"tune_at_load\": %s, \"tensor_cores\": {\"usable\": %s, \"checked\": %s, \"passed\": [", B(p->tune_at_load),
        B(p->coopmat), B(p->coopmat_checked));
    static const uint32_t bk[OPS_COOPMAT_VARIANTS] = { 0, 16, 32, 64 };
    for (uint32_t v = 0, n = 0; v < OPS_COOPMAT_VARIANTS; v++)
        if (p->coopmat_passed >> v & 1) OUT("%s%u", n++ ? ", " : "", bk[v]);
    OUT("], \"bk_in_use\": %u, \"quantized\": %s}, \"matvec_tuned\": [", p->coopmat_bk, B(p->coopmat_quant));
    for (uint32_t i = 0; i < p->n_matvec; i++) {
        const ops_matvec_choice *c = &p->matvec[i];
        OUT("%s{\"N\": %u, \"K\": %u, \"glu\": %s, \"wg\": %u, \"rows\": %u, \"r\": %u, \"texel\": %s}", i ? ", " : "",
            c->N, c->K, B(c->glu), c->wg, c->rows, c->r, B(c->texel));
    }
    OUT("]}");
#undef B
#undef OUT
    if (buf && len && used >= len) buf[len - 1] = 0;
    return used;
}
