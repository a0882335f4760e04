/* The device profile: every choice the ops make that depends on the device,
 * in one typed struct, computed once per context (ops_profile_of) from the
 * device's description and completed at load by the measurements that
 * choose kernels (matmul_tune, matmul_verify_coopmat). An op reads its
 * choices here, never the device type. `vkllm devices --json` and
 * `vkllm bench --profile` print it (ops_profile_json).
 *
 * VKLLM_AS_GPU=1 (a testing aid) gives a CPU device (lavapipe) the GPU
 * family's profile, so every GPU choice runs against the references
 * without a GPU; the device itself is still reported as what it is. */
#ifndef VKLLM_OPS_PROFILE_H
#define VKLLM_OPS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"

/* Whose measured choices a device gets. */
typedef enum ops_family {
    OPS_FAMILY_CPU, /* CPU devices (lavapipe): texel-buffer reads, one subgroup per workgroup */
    OPS_FAMILY_GPU, /* GPUs: storage buffers with wide loads, many subgroups, tiled prefill */
} ops_family;

/* A decode (M = 1) matrix-vector configuration tuned at load for one
 * weight shape (plain or SwiGLU's gate/up pair). */
typedef struct ops_matvec_choice {
    bool glu;
    uint32_t N, K;
    uint32_t wg, rows, r; /* matmul_config's fields of the same names */
    uint32_t texel;
} ops_matvec_choice;

#define OPS_PROFILE_MAX_MATVEC 32
#define OPS_COOPMAT_VARIANTS 4 /* tensor-core kernels by k slice: 0 (plain), 16, 32, 64 (pipelined) */

typedef struct ops_profile {
    ops_family family;
    bool as_gpu; /* VKLLM_AS_GPU=1 gave this CPU device the GPU family */
    /* the device limits the choices are made within (copied from its info) */
    uint32_t subgroup_size, max_workgroup_invocations;
    /* reads */
    bool texel_reads;    /* weights, x and K/V through uniform texel buffers (else storage buffers) */
    /* kernels and fusions */
    bool matvec_prefill; /* prefill blocks on the matrix-vector kernel too (else tiled matrix-matrix) */
    bool fuse_norm;      /* RMSNorm folded into the matrix-vector projections after it */
    bool fuse_glu;       /* SwiGLU's gate, up and silu * up in one matrix-vector pass */
    /* prefill on quantized weights */
    uint32_t quant_prefill_m; /* from this M, quantized weights leave the matrix-vector kernel for: */
    bool quant_dequant;  /* the matrix decoded into fp16 scratch, then the fp16 kernel (MATMUL_DEQUANT);
                            else the tiled / tensor-core kernels decode tiles into shared memory */
    /* quantize on load: blocks made on the device (shaders/quantize.comp) for
       the types it has a kernel for, else by the CPU's threads
       (VKLLM_QUANTIZE_ON=cpu|device overrides) */
    bool quantize_on_device;
    /* attention split */
    uint32_t attn_subgroup_splits; /* subgroups of a workgroup sharing its keys (1: one subgroup) */
    uint32_t attn_max_ranges;      /* key ranges across workgroups, merged after (1: whole rows) */
    /* load-time measurements */
    bool tune_at_load;   /* decode kernels timed on the model's weights at load (VKLLM_TUNE overrides) */
    uint32_t n_matvec;   /* decode shapes tuned */
    ops_matvec_choice matvec[OPS_PROFILE_MAX_MATVEC];
    /* tensor cores (VK_NV_cooperative_matrix) for prefill */
    bool coopmat;          /* offered and built, and (once checked) at least one variant passed */
    bool coopmat_checked;  /* matmul_verify_coopmat ran on this context */
    uint32_t coopmat_passed; /* bit v: variant v passed its check */
    uint32_t coopmat_bk;   /* the k slice of the variant in use */
    bool coopmat_quant;    /* the quantized-weight tensor-core kernels passed their check too */
} ops_profile;

/* The profile a device described by `info` starts with: its family from
 * info->type (no VKLLM_AS_GPU), nothing tuned. */
ops_profile ops_profile_for(const vkllm_device_info *info);
/* The profile a context on that device starts with: ops_profile_for with
 * VKLLM_AS_GPU=1 applied. */
ops_profile ops_profile_start(const vkllm_device_info *info);
/* The context's profile, made on first use (VKLLM_AS_GPU applied); the
 * context owns it. The load-time measurements write their results here. */
ops_profile *ops_profile_of(gpu_ctx *ctx);
/* The profile as one JSON object into buf (snprintf-style: returns the
 * length it needs, writes at most len bytes, NUL-terminated). */
size_t ops_profile_json(const ops_profile *p, char *buf, size_t len);

/* The tuned decode configuration for (glu, N, K), or NULL. */
const ops_matvec_choice *ops_profile_matvec(const ops_profile *p, bool glu, uint32_t N, uint32_t K);
/* Stores (replaces) one; false when the table is full. */
bool ops_profile_set_matvec(ops_profile *p, const ops_matvec_choice *c);

#endif
