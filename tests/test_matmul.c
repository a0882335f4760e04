/* Matmul (matrix-vector and tiled) against the CPU reference: SOLAR-10.7B's
 * projection shapes, awkward small ones, and weights split into many chunks. */
#include <stdio.h>

#include "harness.h"
#include "ops/matmul.h"

typedef struct shape { uint32_t M, N, K; } shape;

/* Checks one shape with the configuration matmul_pick_for(info) chooses
 * (info NULL: the context's own device). */
static int run_acc(gpu_ctx *ctx, const vkllm_device_info *info, shape sh, uint64_t seed, uint32_t acc)
{
    vkllm_check_result r;
    matmul_config c = matmul_pick_for(info ? info : gpu_info(ctx), sh.M, sh.N, sh.K);
    c.acc = acc;
    vkllm_status s = check_matmul_with(ctx, &c, sh.M, sh.N, sh.K, seed, &r);
    int failed = harness_report(ctx, s, &r);
    if (s == VKLLM_OK && r.gpu_us > 0 && (uint64_t)sh.N * sh.K >= (1u << 22)) {
        double w_bytes = 2.0 * sh.N * sh.K, flops = 2.0 * sh.M * sh.N * sh.K;
        printf("     %-10s %-32s gpu %9.0f us  %6.2f GB/s of weights  %6.2f GFLOP/s\n", "", r.shape, r.gpu_us,
               w_bytes / r.gpu_us * 1e-3, flops / r.gpu_us * 1e-3);
    }
    return failed;
}

static int run(gpu_ctx *ctx, const vkllm_device_info *info, shape sh, uint64_t seed)
{
    return run_acc(ctx, info, sh, seed, 0);
}

/* Fails on validation messages, then destroys the context. */
static int finish_quietly(gpu_ctx *ctx)
{
    int failed = 0;
    if (gpu_validation_count(ctx)) {
        printf("FAIL validation layer: %u message(s); first: %s\n", gpu_validation_count(ctx),
               gpu_validation_first(ctx));
        failed = 1;
    }
    gpu_ctx_destroy(ctx);
    return failed;
}

/* A weight whose chunks split rows must be refused, not silently misread. */
static int refuses_split_rows(gpu_ctx *ctx)
{
    const uint32_t M = 1, N = 100, K = 129; /* 258-byte rows, 16384-byte chunks */
    gpu_tensor *w = NULL, *x = NULL, *y = NULL;
    gpu_rec *rec = NULL;
    vkllm_status s = gpu_tensor_create(ctx, 2ull * N * K, 0, &w);
    if (s == VKLLM_OK) s = gpu_tensor_create(ctx, 4ull * M * K, 0, &x);
    if (s == VKLLM_OK) s = gpu_tensor_create(ctx, 4ull * M * N, 0, &y);
    if (s == VKLLM_OK) s = gpu_rec_begin(ctx, 0, &rec);
    if (s == VKLLM_OK) s = op_matmul(rec, w, gpu_bind(x), gpu_bind(y), M, N, K);
    int failed = s != VKLLM_ERR_INVALID_ARG;
    printf("%-4s %-10s %-32s %s\n", failed ? "FAIL" : "ok", "matmul", "w chunks split rows",
           failed ? "not refused" : gpu_error(ctx));
    gpu_rec_destroy(rec);
    gpu_tensor_destroy(ctx, w);
    gpu_tensor_destroy(ctx, x);
    gpu_tensor_destroy(ctx, y);
    return failed;
}

int main(void)
{
    uint64_t seed = harness_seed();
    int failures = 0;

    /* ---- the device's own configurations and chunk limit */
    static const shape shapes[] = {
        /* SOLAR-10.7B decode (M = 1): q/o, k/v, gate/up, down, output
         * (32000 x 4096 fp16 is 262 MB > 128 MiB: two chunks on lavapipe) */
        { 1, 4096, 4096 }, { 1, 1024, 4096 }, { 1, 14336, 4096 }, { 1, 4096, 14336 }, { 1, 32000, 4096 },
        /* SOLAR batches: small (matrix-vector, NM = M) and prefill (tiled) */
        { 7, 4096, 4096 }, { 5, 32000, 4096 }, { 64, 1024, 4096 }, { 16, 4096, 14336 },
        /* awkward decode: K odd / not a multiple of 8 (scalar variant), N
         * not a multiple of the rows per workgroup */
        { 1, 1, 1 }, { 1, 3, 7 }, { 1, 7, 129 }, { 1, 31, 1000 }, { 1, 33, 257 }, { 1, 65, 8 }, { 1, 127, 33 },
        { 1, 129, 64 }, { 1, 257, 127 }, { 1, 1000, 1000 }, { 1, 1, 4096 }, { 1, 3, 14336 },
        /* awkward batches: M, N not multiples of the tile, K of the k slice;
         * M = 8 | 9 is where the op switches kernels */
        { 2, 1, 1 }, { 3, 7, 1 }, { 7, 31, 65 }, { 8, 129, 1000 }, { 9, 129, 1000 }, { 31, 33, 129 },
        { 33, 65, 7 }, { 65, 127, 257 }, { 127, 129, 31 }, { 129, 257, 64 }, { 257, 1000, 33 }, { 7, 33, 1000 },
        { 65, 129, 256 }, { 33, 1000, 8 }, { 1000, 3, 127 }, { 17, 7, 4096 },
    };
    gpu_ctx *ctx = harness_ctx();
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) failures += run(ctx, NULL, shapes[i], seed + i);

    /* ---- the configurations a discrete GPU with 32-wide subgroups gets
     * (wider workgroups, other tiles), checked here for correctness */
    vkllm_device_info gpu = *gpu_info(ctx);
    gpu.type = VKLLM_DEVICE_DISCRETE;
    gpu.subgroup_size = 32;
    printf("configurations of a discrete GPU, subgroup 32:\n");
    static const shape gpu_shapes[] = {
        { 1, 1000, 1000 }, { 1, 33, 257 }, { 4, 129, 1000 }, { 3, 65, 127 }, { 17, 257, 1000 },
        { 31, 65, 7 }, { 33, 129, 64 }, { 65, 257, 1000 }, { 100, 127, 129 }, { 9, 1024, 4096 },
    };
    for (unsigned i = 0; i < sizeof gpu_shapes / sizeof gpu_shapes[0]; i++)
        failures += run(ctx, &gpu, gpu_shapes[i], seed + 50 + i);
    /* the tensor-core kernel: refused where the device has none; the
     * load-time check keeps it off there */
    {
        matmul_config tc = { .kind = MATMUL_COOPMAT, .wg = 128 };
        vkllm_check_result r;
        const int had = gpu_info(ctx)->coopmat_nv;
        vkllm_status s = check_matmul_with(ctx, &tc, 70, 130, 264, seed, &r);
        int on = matmul_verify_coopmat(ctx);
        if (had) { /* a failure here is a failure of the kernel on this GPU */
            matmul_config v[4];
            uint32_t n_ok = matmul_coopmat_variants(ctx, v);
            printf("     tensor cores: %s (%u of 4 variants passed the load-time check)\n",
                   on ? "in use" : "failed their check, not used", n_ok);
            failures += harness_report(ctx, s, &r);
            /* the pipelined variants: partial tiles and slices, a real shape, y += */
            static const uint32_t bks[] = { 16, 32, 64 }, tc_shapes[][4] = {
                { 70, 130, 264, 0 }, { 9, 1000, 8, 0 }, { 128, 1024, 4096, 0 }, { 33, 65, 136, 1 }, { 300, 200, 1000, 0 } };
            for (unsigned b = 0; b < 3; b++)
                for (unsigned i = 0; i < sizeof tc_shapes / sizeof tc_shapes[0]; i++) {
                    matmul_config pc = { .kind = MATMUL_COOPMAT, .wg = 128, .bk = bks[b], .acc = tc_shapes[i][3] };
                    failures += harness_report(
                        ctx, check_matmul_with(ctx, &pc, tc_shapes[i][0], tc_shapes[i][1], tc_shapes[i][2], seed + 40 + i, &r), &r);
                }
        } else if (s != VKLLM_ERR_UNSUPPORTED || on ||
                   check_matmul_with(ctx, &(matmul_config){ .kind = MATMUL_COOPMAT, .wg = 128, .bk = 32 }, 70, 130,
                                     264, seed, &r) != VKLLM_ERR_UNSUPPORTED) {
            printf("FAIL tensor-core kernel not refused on a device without it\n");
            failures++;
        } else {
            printf("ok   tensor-core kernel refused without tensor cores: %s\n", gpu_error(ctx));
        }
    }
    /* silu(w_gate x) * (w_up x) in one pass (SwiGLU), where this device's
     * choice is the matrix-vector kernel: SOLAR's FFN decode and odd shapes */
    static const shape glu[] = { { 1, 14336, 4096 }, { 1, 2048, 768 }, { 5, 100, 64 }, { 8, 33, 16 }, { 2, 7, 8 } };
    for (unsigned i = 0; i < sizeof glu / sizeof glu[0]; i++) {
        vkllm_check_result r;
        if (matmul_pick(ctx, glu[i].M, glu[i].N, glu[i].K).kind != MATMUL_MATVEC) continue;
        failures += harness_report(ctx, check_matmul_glu(ctx, NULL, glu[i].M, glu[i].N, glu[i].K, false, seed + 90 + i, &r), &r);
    }
    /* RMSNorm folded into the matrix-vector kernel (alone and with SwiGLU),
     * this device's configuration and a GPU's (storage buffers, 4 subgroups):
     * SOLAR's q and gate/up decode, rows of x at different scales, odd N, M */
    static const shape normed[] = { { 1, 4096, 4096 }, { 1, 14336, 4096 }, { 3, 100, 64 }, { 8, 33, 264 },
                                    { 1, 7, 8 }, { 64, 300, 256 } };
    for (unsigned i = 0; i < sizeof normed / sizeof normed[0]; i++) {
        shape sh = normed[i];
        for (int as_gpu = 0; as_gpu < 2; as_gpu++) {
            matmul_config c = matmul_pick_for(as_gpu ? &gpu : gpu_info(ctx), sh.M, sh.N, sh.K);
            if (c.kind != MATMUL_MATVEC) continue;
            vkllm_check_result r;
            uint64_t sd = seed + 200 + 4 * i + 2 * as_gpu;
            failures += harness_report(ctx, check_matmul_norm(ctx, &c, sh.M, sh.N, sh.K, sd, &r), &r);
            matmul_config gc = matmul_glu_config(c);
            failures += harness_report(ctx, check_matmul_glu(ctx, &gc, sh.M, sh.N, sh.K, true, sd + 1, &r), &r);
        }
    }
    /* y += x w^T (the fused residual add), both kernels, this device's and a GPU's configurations */
    static const shape acc_shapes[] = { { 1, 1000, 1000 }, { 3, 65, 127 }, { 33, 129, 64 }, { 65, 257, 1000 }, { 1, 4096, 14336 } };
    for (unsigned i = 0; i < sizeof acc_shapes / sizeof acc_shapes[0]; i++) {
        failures += run_acc(ctx, &gpu, acc_shapes[i], seed + 70 + i, 1);
        failures += run_acc(ctx, NULL, acc_shapes[i], seed + 80 + i, 1);
    }
    failures += finish_quietly(ctx);

    /* ---- weights split into many small chunks of whole rows: one dispatch
     * per chunk, each writing its rows at row_offset (x and y stay within
     * one chunk) */
    static const shape chunked[] = {
        { 1, 1000, 129 }, { 1, 257, 1000 }, { 1, 65, 2048 }, { 3, 257, 1000 }, { 4, 1000, 129 },
        { 9, 400, 33 }, { 12, 300, 64 },
    };
    ctx = harness_ctx_chunked(16384);
    for (unsigned i = 0; i < sizeof chunked / sizeof chunked[0]; i++)
        failures += run(ctx, NULL, chunked[i], seed + 100 + i);
    /* silu(w_gate x) * (w_up x) in one pass, weights in many chunks */
    static const shape glu_chunked[] = { { 1, 1000, 64 }, { 3, 300, 256 }, { 8, 65, 256 } };
    for (unsigned i = 0; i < sizeof glu_chunked / sizeof glu_chunked[0]; i++) {
        vkllm_check_result r;
        shape sh = glu_chunked[i];
        if (matmul_pick(ctx, sh.M, sh.N, sh.K).kind != MATMUL_MATVEC) continue;
        failures += harness_report(ctx, check_matmul_glu(ctx, NULL, sh.M, sh.N, sh.K, i == 1, seed + 120 + i, &r), &r);
    }
    failures += refuses_split_rows(ctx);
    return harness_finish(ctx, failures);
}
