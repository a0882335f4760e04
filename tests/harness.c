#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

gpu_ctx *harness_ctx(void) { return harness_ctx_chunked(0); }

gpu_ctx *harness_ctx_chunked(uint64_t max_chunk_bytes)
{
    gpu_opts o = { .validate = true, .max_chunk_bytes = max_chunk_bytes };
    const char *v = getenv("VKLLM_VALIDATE");
    if (v && v[0] == '0') o.validate = false; /* explicit opt-out for timing by hand */
    gpu_ctx *ctx;
    char err[1024];
    if (gpu_ctx_create(&o, &ctx, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "cannot create a Vulkan context: %s\n", err);
        exit(1);
    }
    printf("device: %s (validation %s", gpu_info(ctx)->name, gpu_validation_enabled(ctx) ? "on" : "off");
    if (max_chunk_bytes) printf(", chunks <= %llu bytes", (unsigned long long)max_chunk_bytes);
    printf(")\n");
    return ctx;
}

uint64_t harness_seed(void)
{
    const char *s = getenv("VKLLM_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    printf("seed: %llu (set VKLLM_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

int harness_report(gpu_ctx *ctx, vkllm_status s, const vkllm_check_result *r)
{
    if (s != VKLLM_OK) {
        printf("FAIL %-10s %-32s error: %s\n", r->kernel, r->shape, gpu_error(ctx));
        return 1;
    }
    printf("%-4s %-10s %-32s max err %.3e  err/tol %.3f  %s\n", r->passed ? "ok" : "FAIL", r->kernel, r->shape,
           r->max_err, r->ratio, r->detail);
    fflush(stdout);
    return !r->passed;
}

int harness_finish(gpu_ctx *ctx, int failures)
{
    if (gpu_validation_count(ctx)) {
        printf("FAIL validation layer: %u message(s); first: %s\n", gpu_validation_count(ctx),
               gpu_validation_first(ctx));
        failures++;
    }
    gpu_ctx_destroy(ctx);
    printf("%s (%d failure%s)\n", failures ? "FAILED" : "PASSED", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
