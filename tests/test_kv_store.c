/* K/V cache writes against the CPU reference, bit for bit: SOLAR's kv row
 * (8 heads x 128) in decode and prefill, other rows, positions outside the
 * cache (skipped), and untouched rows that must keep their contents. */
#include "harness.h"
#include "ops/kv_store.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t shapes[][4] = { /* n_tok, n_bad, row, n_ctx */
        { 1, 0, 1024, 4096 }, { 1, 3, 1024, 64 }, { 64, 0, 1024, 512 }, { 100, 5, 1024, 100 },
        { 7, 2, 128, 9 }, { 3, 1, 2, 5 }, { 13, 0, 64 * 3, 40 }, { 33, 4, 130, 33 }, { 1, 1, 256, 1 },
    };
    int failures = 0;
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        vkllm_check_result r;
        vkllm_status s = check_kv_store(ctx, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return harness_finish(ctx, failures);
}
