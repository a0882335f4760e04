/* fp32 <-> fp16 against half.h, bit for bit, with the untouched rest of dst
 * checked too: K/V rows written into a cache at a position, misaligned
 * offsets (scalar path), edge values, and a grid past 65535 workgroups. */
#include "harness.h"
#include "ops/convert.h"

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const uint32_t shapes[][4] = { /* n, src offset, dst offset, workgroup size (0: default) */
        { 1, 0, 0, 0 }, { 3, 0, 0, 0 }, { 7, 1, 3, 0 }, { 1000, 0, 0, 0 }, { 4096, 0, 0, 0 }, { 4097, 0, 0, 0 },
        { 14336, 0, 0, 0 }, { 14336 * 64, 0, 0, 0 }, /* >= 65536: every half, f16 -> f32 */
        { 1024, 0, 1024 * 37, 0 }, { 1024, 1024 * 37, 0, 0 }, /* one K/V row (8 heads x 128) at position 37 */
        { 1024, 2048, 1024 * 4095, 0 },                       /* ... at SOLAR's last position */
        { 1029, 8, 16, 0 },                                      /* 16-byte path at offsets, 5-element tail */
        { 1000, 5, 3, 0 }, { 1025, 4, 6, 0 }, { 1026, 2, 8, 0 }, { 1024, 4, 4, 0 }, /* not 8-aligned: scalar */
        /* wg 1: 114688 and 75001 workgroups -> a 65535 x 2 grid, 16-byte and scalar paths */
        { 14336 * 64, 0, 0, 1 }, { 600001, 1, 2, 1 },
    };
    int failures = 0;
    for (int dir = 0; dir < 2; dir++)
        for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            vkllm_check_result r;
            vkllm_status s = check_convert(ctx, dir == 1, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3],
                                           seed + 100 * dir + i, &r);
            failures += harness_report(ctx, s, &r);
        }
    return harness_finish(ctx, failures);
}
