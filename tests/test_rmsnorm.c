/* RMSNorm against the CPU reference: SOLAR's hidden size and awkward ones. */
#include "harness.h"
#include "ops/rmsnorm.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t shapes[][2] = { /* rows, cols */
        { 1, 1 }, { 1, 4096 }, { 3, 7 }, { 5, 127 }, { 2, 129 }, { 17, 1000 }, { 64, 4096 }, { 1, 14336 }, { 9, 5120 },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_rmsnorm(ctx, shapes[i][0], shapes[i][1], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
