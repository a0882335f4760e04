/* Softmax against the CPU reference: rows from 1 to 32001 wide, scales,
 * causal masks, inputs large enough to overflow exp without the max. Every
 * case runs in both kernel variants (one workgroup per row, rows per
 * subgroup), whatever op_softmax would pick on this device, and once as
 * op_softmax picks. */
#include "harness.h"
#include "ops/softmax.h"

#define ATT 0.08838834764831845f /* 1/sqrt(128): SOLAR's attention scale */

int main(void)
{
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    static const softmax_case cases[] = {
        /* n_rows, n_cols, scale, causal, pos0, amp, in_place (variant: set below) */
        { 1, 1, 1.0f, false, 0, 4, false, 0 },
        { 64, 1, 1.0f, false, 0, 4, false, 0 },
        { 5, 3, 1.0f, false, 0, 4, false, 0 },
        { 33, 127, 0.5f, false, 0, 4, false, 0 },
        { 1, 4096, 1.0f, false, 0, 8, false, 0 },
        { 64, 4096, ATT, false, 0, 8, false, 0 },
        { 1, 32000, 1.0f, false, 0, 10, false, 0 },
        { 3, 32001, 1.0f, false, 0, 10, false, 0 },
        { 2, 32000, -1.0f, false, 0, 10, false, 0 },
        { 4, 300, 0.0f, false, 0, 10, false, 0 }, /* uniform */
        /* stability: scale * x up to +-80 and beyond overflows exp without the max */
        { 8, 4096, 1.0f, false, 0, 80, false, 0 },
        { 2, 32000, 2.0f, false, 0, 80, false, 0 },
        { 16, 100, 1000.0f, false, 0, 80, false, 0 },
        /* causal blocks: prefill from 0, and a later block against its cache */
        { 64, 64, ATT, true, 0, 8, false, 0 },
        { 17, 200, ATT, true, 0, 8, false, 0 },
        { 64, 4096, ATT, true, 4032, 8, false, 0 },
        { 7, 1000, ATT, true, 500, 8, false, 0 },
        { 3, 5, 1.0f, true, 0, 4, false, 0 },
        /* in place */
        { 5, 32001, 1.0f, false, 0, 10, true, 0 },
        { 64, 64, ATT, true, 0, 8, true, 0 },
        /* many short rows: workgroups past one dimension's 65535 (skipped for
         * the one-workgroup-per-row variant on CPU devices, see below) */
        { 600000, 3, 1.0f, false, 0, 4, false, 0 },
    };
    int failures = 0;
    static const uint32_t variants[] = { SOFTMAX_AUTO, SOFTMAX_WORKGROUP_ROWS, SOFTMAX_SUBGROUP_ROWS };
    for (unsigned v = 0; v < sizeof variants / sizeof variants[0]; v++)
        for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            softmax_case c = cases[i];
            c.variant = variants[v];
            /* one workgroup per row costs ~35 µs a workgroup on lavapipe: 21 s here */
            if (c.n_rows > 65535 && c.variant == SOFTMAX_WORKGROUP_ROWS &&
                gpu_info(ctx)->type == VKLLM_DEVICE_CPU)
                continue;
            vkllm_check_result r;
            vkllm_status s = check_softmax(ctx, &c, seed + i, &r);
            failures += harness_report(ctx, s, &r);
        }
    return harness_finish(ctx, failures);
}
