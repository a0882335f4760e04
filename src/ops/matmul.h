/* Matrix multiply with fp16 weights: y[m][n] = sum_k w[n][k] * x[m][k]
 * (y = x w^T, the layout of every Llama projection). M == 1 (decode) and
 * small batches (M <= MATMUL_MAX_NM) run a matrix-vector kernel
 * (shaders/matvec.comp, optionally with the preceding RMSNorm or SwiGLU
 * folded in); larger M (prefill) a tiled matrix-matrix kernel
 * (shaders/matmul.comp), or on NVIDIA a tensor-core one. The decode and
 * tensor-core configurations can be measured on the device at load
 * (matmul_tune.c). */
#ifndef VKLLM_OPS_MATMUL_H
#define VKLLM_OPS_MATMUL_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* Weight matrices [N][K] on the device: fp16 (qtype 0) or one of ggml's
 * block types (qtype a ggml type id of model/quant.h; K a whole number of
 * blocks), rows kept whole in every chunk, the tensor padded to 16 bytes
 * (the kernels read words and texels); the type is the tensor's format tag,
 * which the ops read to pick their variant. Errors: INVALID_ARG (a type or
 * K that does not fit), the GPU layer's. */
vkllm_status op_weight_create(gpu_ctx *ctx, uint32_t qtype, uint32_t N, uint32_t K, gpu_tensor **out);
/* The name of a block type's shader variant, as shaders/meson.build lists
 * them: "<kernel>_<type in lower case><suffix>" ("matvec_glu", Q4_K, "_texel"
 * -> "matvec_glu_q4_k_texel") into out[len]. */
void op_weight_variant(char *out, size_t len, const char *kernel, uint32_t qtype, const char *suffix);
/* Bytes of one row of K weights of qtype (0: fp16); 0 when K is not a whole
 * number of blocks or the type unknown. */
uint64_t op_weight_row_bytes(uint32_t qtype, uint32_t K);

/* w: fp16 [N][K] row-major, N * K * 2 bytes, possibly split into chunks of
 * whole rows (create it with granule K * 2), or made by op_weight_create (any
 * type: quantized weights always run the matrix-vector kernel, for any M);
 * x: fp32 [M][K]; y: fp32 [M][N],
 * row stride N. y may not alias x. Records one dispatch per chunk of w.
 * Errors: VKLLM_ERR_INVALID_ARG when a size is 0, w's size is not N*K*2, a
 * chunk of w splits a row, or a binding is too small for its matrix. */
vkllm_status op_matmul(gpu_rec *rec, gpu_tensor *w, gpu_binding x, gpu_binding y, uint32_t M, uint32_t N,
                       uint32_t K);
/* The same adding into y: y[m][n] += sum_k w[n][k] * x[m][k] (a residual
 * connection without a separate add). */
vkllm_status op_matmul_acc(gpu_rec *rec, gpu_tensor *w, gpu_binding x, gpu_binding y, uint32_t M, uint32_t N,
                           uint32_t K);

/* The kernels (shaders/): */
enum {
    MATMUL_TILED = 0,  /* matmul.comp: shared-memory tiles, register blocks (GPUs, prefill) */
    MATMUL_MATVEC = 1, /* matvec.comp: lanes split k, subgroup reduction (decode; CPUs always) */
    MATMUL_COOPMAT = 2, /* matmul_coopmat(_prefetch).comp: NVIDIA tensor cores, 64x64 tiles (prefill) */
    MATMUL_DEQUANT = 3, /* quantized weights: dequant.comp decodes them into the context's fp16
                           scratch, then the fp16 kernel matmul_pick chooses (prefill, CPU devices) */
};

/* An RMSNorm folded into the matrix-vector kernel: the product reads x as
 * x[m][k] * w[k] / sqrt(mean_k(x[m][.]^2) + eps), what op_rmsnorm would
 * write, without the pass, the barrier and the buffer in between (each
 * workgroup sums x^2 beside its products; shaders/matvec.comp). */
typedef struct matmul_norm {
    gpu_binding w; /* fp32 [K], the norm's weight */
    float eps;
} matmul_norm;

/* y = rmsnorm(x) w^T (norm NULL: op_matmul). A norm needs the matrix-vector
 * kernel and K % 8 == 0 (else INVALID_ARG); matmul_norm_fusable says
 * whether it is that for this shape on this device; otherwise the forward
 * pass runs op_rmsnorm first. */
vkllm_status op_matmul_norm(gpu_rec *rec, gpu_tensor *w, const matmul_norm *norm, gpu_binding x, gpu_binding y,
                            uint32_t M, uint32_t N, uint32_t K);
bool matmul_norm_fusable(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K);

/* SwiGLU's first half in one pass: y[m][n] = silu(sum_k w_gate[n][k] x[m][k])
 * * (sum_k w_up[n][k] x[m][k]); w_gate and w_up alike ([N][K] fp16, the same
 * chunking); norm (NULL: none) as for op_matmul_norm. Only where the
 * device's choice is the matrix-vector kernel and K % 8 == 0 (else
 * INVALID_ARG). matmul_glu_fusable_for says whether the forward pass
 * should use it for these weights (matmul_glu_fusable: the device
 * profile's choice for any weights); otherwise two matmuls and
 * op_silu_mul. */
vkllm_status op_matmul_glu(gpu_rec *rec, gpu_tensor *w_gate, gpu_tensor *w_up, const matmul_norm *norm, gpu_binding x,
                           gpu_binding y, uint32_t M, uint32_t N, uint32_t K);
bool matmul_glu_fusable(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K);
/* The same for these two weights (their type matters on CPU devices). */
bool matmul_glu_fusable_for(gpu_ctx *ctx, gpu_tensor *w_gate, gpu_tensor *w_up, uint32_t M, uint32_t N, uint32_t K);

/* Kernel shape knobs; every value becomes a specialization constant.
 * op_matmul picks them per device and shape (matmul_pick); tuning tools
 * may pass their own to op_matmul_with. */
typedef struct matmul_config {
    uint32_t kind;     /* MATMUL_TILED, MATMUL_MATVEC or MATMUL_COOPMAT */
    uint32_t wg;       /* invocations per workgroup */
    /* matvec */
    uint32_t rows;     /* rows of w per workgroup */
    uint32_t r;        /* rows a subgroup works on at once (shares each x load) */
    uint32_t nm;       /* columns of x per workgroup (shares each weight load) */
    uint32_t texel;    /* 1: read w through a uniform texel buffer (K % 8 == 0 only; CPU devices) */
    uint32_t acc;      /* 1: y += the product instead of y = (the residual add, fused) */
    /* tiled: wg must be (bm / tm) * (bn / tn); tensor cores: bk 0 (plain
     * kernel) or the pipelined kernel's k slice (16, 32, 64) */
    uint32_t bm, bn, bk, tm, tn;
} matmul_config;

/* Batches up to this many columns (M) run the matrix-vector kernel. */
#define MATMUL_MAX_NM 8

/* The configuration op_matmul uses on this context for this shape. */
matmul_config matmul_pick(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K);
/* The configuration op_matmul (norm false) and op_matmul_norm (norm true)
 * use for weights of ggml type qtype (0: fp16, = matmul_pick): for
 * quantized weights at M from the profile's quant_prefill_m, MATMUL_DEQUANT
 * or the tiled / tensor-core kernels that decode weight tiles into shared
 * memory (the QTYPE variants of matmul.comp, matmul_coopmat.comp); below
 * it the matrix-vector kernel. */
matmul_config matmul_pick_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t M, uint32_t N, uint32_t K, bool norm);
/* The same for a device described by `info`, as its profile starts
 * (ops_profile_for: no VKLLM_AS_GPU, nothing tuned; tests use it to run
 * another device type's configuration). */
matmul_config matmul_pick_for(const vkllm_device_info *info, uint32_t M, uint32_t N, uint32_t K);
/* The context's choice before load-time tuning (its profile's family, VKLLM_AS_GPU applied). */
matmul_config matmul_pick_default(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K);

/* op_matmul with an explicit configuration (checked: INVALID_ARG if it is
 * inconsistent or exceeds the device's workgroup / shared-memory limits). */
vkllm_status op_matmul_with(gpu_rec *rec, const matmul_config *cfg, gpu_tensor *w, gpu_binding x, gpu_binding y,
                            uint32_t M, uint32_t N, uint32_t K);

/* The SwiGLU kernel's configuration (two weights: half matmul_pick's rows
 * at a time, or what matmul_tune measured) and op_matmul_glu with an
 * explicit one (no norm). */
matmul_config matmul_pick_glu(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K);
/* A matrix-vector configuration in the SwiGLU kernel's form: two weights,
 * so half the rows at a time (the same number of sums in registers). */
matmul_config matmul_glu_config(matmul_config c);
vkllm_status op_matmul_glu_with(gpu_rec *rec, const matmul_config *cfg, gpu_tensor *w_gate, gpu_tensor *w_up,
                                gpu_binding x, gpu_binding y, uint32_t M, uint32_t N, uint32_t K);

/* Decode (M = 1) configurations measured on the device itself. For each
 * weight shape (N x K, plain or SwiGLU's gate/up pair) candidate matrix-
 * vector configurations (workgroup size, rows per subgroup pass, rows per
 * workgroup) run over the model's own weights, several distinct tensors in
 * a row as in a decode step (so the device's cache does not serve
 * repeats), twice each; the fastest, if it beats the default by more than
 * 3 %, is stored in the context's device profile (matmul_set_tuned;
 * ops/profile.h) and matmul_pick /
 * matmul_pick_glu return it from then on for M = 1. Needs timestamps (else
 * VKLLM_ERR_UNSUPPORTED, defaults kept). */
typedef struct matmul_tune_shape {
    uint32_t N, K;
    bool glu;               /* w[i] gate and w2[i] up of the SwiGLU kernel */
    gpu_tensor *const *w;   /* n weights [N][K] */
    gpu_tensor *const *w2;  /* glu: n up weights; else NULL */
    uint32_t n;
} matmul_tune_shape;
typedef struct matmul_tune_result {
    uint32_t N, K;
    bool glu;
    uint32_t n_tried;       /* candidates measured */
    matmul_config def, best; /* the default; the one in use now */
    double def_gbps, best_gbps; /* weight bytes read / GPU time */
} matmul_tune_result;
vkllm_status matmul_tune(gpu_ctx *ctx, const matmul_tune_shape *shapes, uint32_t n_shapes, matmul_tune_result *results);
/* The tensor-core variants that passed matmul_verify_coopmat, timed over
 * the shapes' weights (plain shapes) with M columns of x, twice each; the
 * fastest is put in use (matmul_use_coopmat). Fewer than two variants:
 * nothing timed, out->n says how many there are. */
typedef struct matmul_tc_result {
    uint32_t n;         /* variants */
    uint32_t bk[4];     /* their k slices (0: the plain kernel) */
    double tflops[4];   /* 2 M N K / GPU time, hi + lo counted once */
    uint32_t chosen;    /* index of the one in use */
} matmul_tc_result;
vkllm_status matmul_tune_coopmat(gpu_ctx *ctx, const matmul_tune_shape *shapes, uint32_t n_shapes, uint32_t M,
                                 matmul_tc_result *out);
/* The candidates it times on a device like `info` for default `def` (kept
 * first): returns their number, at most MATMUL_TUNE_CANDIDATES. */
#define MATMUL_TUNE_CANDIDATES 40
uint32_t matmul_tune_candidates(const vkllm_device_info *info, const matmul_config *def, matmul_config *out);
/* The same for the context's profile (VKLLM_AS_GPU applied). */
uint32_t matmul_tune_candidates_ctx(gpu_ctx *ctx, const matmul_config *def, matmul_config *out);
void matmul_set_tuned(gpu_ctx *ctx, bool glu, uint32_t N, uint32_t K, const matmul_config *c);

/* On a device offering tensor cores (the profile's coopmat) the prefill kernels
 * (matmul_coopmat.comp, bk 0, and the pipelined matmul_coopmat_prefetch.comp
 * with k slices of 16, 32 and 64) are checked once per context against the
 * reference on awkward shapes. Those that fail (a driver bug, or ours) are
 * never used; if all fail the profile stops using tensor cores and the
 * shared-memory kernel takes over (the profile records which passed). The first that passed is used until
 * matmul_use_coopmat picks another (llama_weights_tune times them on the
 * model's weights). Loading a model calls this. Returns 1 if tensor cores
 * stay in use. */
int matmul_verify_coopmat(gpu_ctx *ctx);
/* The variants that passed (configurations, at most 4); 0 before the check
 * or without tensor cores. */
uint32_t matmul_coopmat_variants(gpu_ctx *ctx, matmul_config *out);
/* Prefill uses the variant with k slice bk from now on (one that passed). */
void matmul_use_coopmat(gpu_ctx *ctx, uint32_t bk);

/* The fused forms, GPU vs reference, with a matrix-vector configuration
 * as the kernel runs it (cfg NULL: matmul_pick's, matmul_pick_glu's). check_matmul_glu: random w_gate, w_up and x,
 * against silu(gate) * up in double; with norm, x passes a random norm
 * weight first. check_matmul_norm: random w, x (rows of different scales)
 * and norm weight, against ref_rmsnorm then ref_matmul. */
vkllm_status check_matmul_glu(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K, bool norm,
                              uint64_t seed, vkllm_check_result *out);
vkllm_status check_matmul_norm(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K,
                               uint64_t seed, vkllm_check_result *out);

/* CPU reference, double accumulation; w as fp16 bits [N][K]. */
void ref_matmul(const uint16_t *w, const float *x, float *y, uint32_t M, uint32_t N, uint32_t K);

/* Random w (fp16) and x, GPU vs reference. */
vkllm_status check_matmul(gpu_ctx *ctx, uint32_t M, uint32_t N, uint32_t K, uint64_t seed, vkllm_check_result *out);
/* The same with an explicit configuration (NULL: matmul_pick's); with
 * cfg->acc, y starts random and the check wants y + x w^T. */
vkllm_status check_matmul_with(gpu_ctx *ctx, const matmul_config *cfg, uint32_t M, uint32_t N, uint32_t K,
                               uint64_t seed, vkllm_check_result *out);

/* Checks of the quantized-weight kernels (matmul_q.c) on random blocks of
 * ggml type qtype against the CPU dequantizer and a double product: y = w x
 * (or y += w x, rmsnorm(x) first, or silu(w x) * (w2 x)); get_rows of a
 * quantized table bit for bit. */
vkllm_status check_matmul_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t M, uint32_t N, uint32_t K, bool glu, bool norm,
                                bool acc, uint64_t seed, vkllm_check_result *out);
/* The same with an explicit configuration (cfg NULL: the op's choice;
 * with cfg, glu and norm must be false). MATMUL_DEQUANT's fp16 scratch is
 * checked against the reference's weights rounded to fp16 (what it
 * multiplies), the tensor cores with their tolerance. */
vkllm_status check_matmul_quant_with(gpu_ctx *ctx, const matmul_config *cfg, uint32_t qtype, uint32_t M, uint32_t N,
                                     uint32_t K, bool glu, bool norm, bool acc, uint64_t seed, vkllm_check_result *out);
vkllm_status check_get_rows_quant(gpu_ctx *ctx, uint32_t qtype, uint32_t n_rows, uint32_t n_cols, uint32_t n_ids,
                                  uint64_t seed, vkllm_check_result *out);

#endif
