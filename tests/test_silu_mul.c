/* silu(gate) * up against the CPU reference: SOLAR's FFN size and awkward
 * ones, and a grid past 65535 workgroups. */
#include "harness.h"
#include "ops/silu_mul.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t shapes[][3] = { /* n, workgroup size (0: default), in place (over gate) */
        { 1, 0, 0 }, { 3, 0, 0 }, { 7, 0, 0 }, { 1000, 0, 0 }, { 4096, 0, 0 }, { 4097, 0, 0 }, { 14336, 0, 0 },
        { 14336 * 64, 0, 0 },
        /* wg 1: 229376 and 75001 workgroups -> a 65535 x 4 and 65535 x 2 grid */
        { 14336 * 64, 1, 0 }, { 300001, 1, 0 }, { 4099, 64, 0 },
        { 7, 0, 1 }, { 14336, 0, 1 }, { 14339, 0, 1 }, { 300001, 1, 1 },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_silu_mul(ctx, shapes[i][0], shapes[i][1], shapes[i][2], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
