/* matmul_tune: decode configurations measured on the device. Every
 * candidate, this device's and a GPU's, must compute the right thing; the
 * choice must be what matmul_pick returns afterwards (for M = 1 only); a
 * stored choice must be what the kernels then run. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "ops/check.h"
#include "ops/matmul.h"

static gpu_tensor *random_weight(gpu_ctx *ctx, rng *r, uint32_t N, uint32_t K)
{
    uint16_t *w = malloc((size_t)N * K * 2);
    gpu_tensor *t = NULL;
    if (w) {
        check_fill_f16(r, w, (uint64_t)N * K, -1.0f, 1.0f);
        check_tensor_from(ctx, w, (uint64_t)N * K * 2, 2ull * K, &t);
    }
    free(w);
    return t;
}

static int same(const matmul_config *a, const matmul_config *b)
{
    return a->kind == b->kind && a->wg == b->wg && a->rows == b->rows && a->r == b->r && a->nm == b->nm &&
           a->texel == b->texel;
}

#define EXPECT_PRINT_OK 1
#include "expect.h"

int main(void)
{
    uint64_t seed = harness_seed();
    rng r = { seed };
    gpu_ctx *ctx = harness_ctx();
    int failures = 0;

    /* a plain shape (3 weights), SwiGLU's pair (2 + 2), K not a multiple of 8 */
    gpu_tensor *a[3], *g[2], *u[2], *c[2];
    for (int i = 0; i < 3; i++) a[i] = random_weight(ctx, &r, 300, 256);
    for (int i = 0; i < 2; i++) g[i] = random_weight(ctx, &r, 200, 64), u[i] = random_weight(ctx, &r, 200, 64);
    for (int i = 0; i < 2; i++) c[i] = random_weight(ctx, &r, 70, 129);
    matmul_tune_shape shapes[] = {
        { .N = 300, .K = 256, .w = a, .n = 3 },
        { .N = 200, .K = 64, .glu = true, .w = g, .w2 = u, .n = 2 },
        { .N = 70, .K = 129, .w = c, .n = 2 },
    };
    const uint32_t n_shapes = sizeof shapes / sizeof shapes[0];
    matmul_tune_result res[3];
    vkllm_status s = matmul_tune(ctx, shapes, n_shapes, res);
    if (s == VKLLM_ERR_UNSUPPORTED) {
        printf("skip tune       %s\n", gpu_error(ctx));
    } else {
        EXPECT(s == VKLLM_OK, "%s", s == VKLLM_OK ? "matmul_tune ran" : gpu_error(ctx));
        for (uint32_t i = 0; s == VKLLM_OK && i < n_shapes; i++) {
            const matmul_tune_result *t = &res[i];
            matmul_config now = t->glu ? matmul_pick_glu(ctx, 1, t->N, t->K) : matmul_pick(ctx, 1, t->N, t->K);
            char what[160];
            snprintf(what, sizeof what, "%u x %u%s: %u candidates, %u/%u/%u %.2f GB/s -> %u/%u/%u %.2f GB/s", t->N,
                     t->K, t->glu ? " glu" : "", t->n_tried, t->def.wg, t->def.rows, t->def.r, t->def_gbps, t->best.wg,
                     t->best.rows, t->best.r, t->best_gbps);
            EXPECT(t->n_tried >= 2 && t->best_gbps >= t->def_gbps && t->def_gbps > 0 &&
                                   t->best.kind == MATMUL_MATVEC && same(&now, &t->best), "%s", what);
        }
        /* what the kernels now run, checked against the reference */
        vkllm_check_result cr;
        failures += harness_report(ctx, check_matmul(ctx, 1, 300, 256, seed + 1, &cr), &cr);
        failures += harness_report(ctx, check_matmul_norm(ctx, NULL, 1, 300, 256, seed + 2, &cr), &cr);
        failures += harness_report(ctx, check_matmul_glu(ctx, NULL, 1, 200, 64, true, seed + 3, &cr), &cr);
        failures += harness_report(ctx, check_matmul(ctx, 1, 70, 129, seed + 4, &cr), &cr);
    }
    /* batches keep the device's defaults */
    matmul_config b = matmul_pick(ctx, 2, 300, 256), d = matmul_pick_for(gpu_info(ctx), 2, 300, 256);
    EXPECT(same(&b, &d), "%s", "M = 2 keeps the default configuration");

    /* a stored choice is what runs: an unusual one, 3 rows per pass */
    matmul_config odd = matmul_pick_for(gpu_info(ctx), 1, 300, 256);
    odd.r = 3;
    odd.rows = 3 * (odd.wg / (gpu_info(ctx)->subgroup_size ? gpu_info(ctx)->subgroup_size : 32)) * 2;
    matmul_set_tuned(ctx, false, 300, 256, &odd);
    matmul_config now = matmul_pick(ctx, 1, 300, 256);
    EXPECT(same(&now, &odd), "%s", "matmul_set_tuned's configuration is picked");
    vkllm_check_result cr;
    failures += harness_report(ctx, check_matmul(ctx, 1, 300, 256, seed + 5, &cr), &cr);
    failures += harness_report(ctx, check_matmul_norm(ctx, NULL, 1, 300, 256, seed + 6, &cr), &cr);

    /* every candidate a discrete GPU (subgroup 32) and this device would
     * time, plain and SwiGLU with a norm, on an awkward shape */
    vkllm_device_info gpu = *gpu_info(ctx);
    gpu.type = VKLLM_DEVICE_DISCRETE;
    gpu.subgroup_size = 32;
    const vkllm_device_info *infos[2] = { &gpu, gpu_info(ctx) };
    for (int k = 0; k < 2; k++) {
        matmul_config def = matmul_pick_for(infos[k], 1, 300, 256), cand[MATMUL_TUNE_CANDIDATES];
        uint32_t n = matmul_tune_candidates(infos[k], &def, cand);
        int bad = 0;
        for (uint32_t i = 0; i < n; i++) {
            vkllm_check_result r1, r2;
            vkllm_status s1 = check_matmul_with(ctx, &cand[i], 1, 300, 256, seed + 10 + i, &r1);
            vkllm_status s2 = check_matmul_glu(ctx, &cand[i], 1, 100, 264, true, seed + 60 + i, &r2);
            if (s1 != VKLLM_OK || !r1.passed || s2 != VKLLM_OK || !r2.passed) {
                bad++;
                printf("FAIL tune       candidate wg %u rows %u r %u: %s %s\n", cand[i].wg, cand[i].rows, cand[i].r,
                       s1 != VKLLM_OK || s2 != VKLLM_OK ? gpu_error(ctx) : r1.detail, r2.detail);
            }
        }
        char what[96];
        snprintf(what, sizeof what, "%s: all %u candidates correct (plain and SwiGLU + norm)",
                 k ? "this device" : "a discrete GPU", n);
        EXPECT(!bad && n >= 2, "%s", what);
    }

    /* bad input: a shape without weights */
    matmul_tune_shape empty = { .N = 8, .K = 8 };
    EXPECT(matmul_tune(ctx, &empty, 1, res) == VKLLM_ERR_INVALID_ARG, "%s", "a shape without weights is refused");

    for (int i = 0; i < 3; i++) gpu_tensor_destroy(ctx, a[i]);
    for (int i = 0; i < 2; i++) gpu_tensor_destroy(ctx, g[i]), gpu_tensor_destroy(ctx, u[i]), gpu_tensor_destroy(ctx, c[i]);
    return harness_finish(ctx, failures);
}
