/* Argmax against the CPU reference, exactly: SOLAR's vocabulary and awkward
 * row lengths, ties (first index wins), NaN and infinities. */
#include "harness.h"
#include "ops/argmax.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t shapes[][2] = { /* n_rows, n */
        { 1, 32000 }, { 5, 32000 }, { 7, 1 }, { 10, 3 }, { 6, 255 }, { 5, 257 }, { 12, 32001 }, { 3, 100003 },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_argmax(ctx, shapes[i][0], shapes[i][1], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
