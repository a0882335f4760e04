/* Embedding lookup against the CPU reference, bit for bit: small tables split
 * into many chunks (ids on both sides of every boundary), odd widths (scalar
 * path), ids out of range (rows left untouched), a grid past 65535
 * workgroups, and SOLAR's 32000 x 4096 table (262 MB: two chunks under
 * lavapipe's 128 MiB buffer range). */
#include "harness.h"
#include "ops/get_rows.h"

typedef struct shape {
    uint32_t n_rows, n_cols, n_ids, n_bad, wg;
} shape;

static int run(gpu_ctx *ctx, const shape *sh, unsigned n, uint64_t seed)
{
    int failures = 0;
    for (unsigned i = 0; i < n; i++) {
        vkllm_check_result r;
        vkllm_status s = check_get_rows(ctx, sh[i].n_rows, sh[i].n_cols, sh[i].n_ids, sh[i].n_bad, sh[i].wg,
                                        seed + i, &r);
        failures += harness_report(ctx, s, &r);
    }
    return failures;
}

int main(void)
{
    uint64_t seed = harness_seed();
    /* chunks of at most 64 KiB: tables split cheaply; ids and out (bound as
     * one chunk) stay under 64 KiB */
    static const shape small[] = {
        { 1, 1, 1, 0, 0 },        { 3, 5, 4, 0, 0 },       { 5000, 7, 33, 0, 0 },  { 300, 129, 20, 0, 0 },
        { 1000, 100, 50, 0, 0 },  { 1000, 104, 50, 0, 0 }, { 200, 1024, 15, 0, 0 }, { 1000, 100, 40, 6, 0 },
        { 1000, 104, 40, 6, 0 },  { 5000, 7, 40, 5, 0 },
    };
    gpu_ctx *ctx = harness_ctx_chunked(64 << 10);
    int rc = harness_finish(ctx, run(ctx, small, sizeof small / sizeof small[0], seed));

    static const shape full[] = {
        /* wg 1: 71680 and 70000 workgroups -> a 65535 x 2 grid, 16-byte and scalar paths */
        { 64, 4096, 140, 0, 1 }, { 5000, 7, 80000, 0, 1 },
        { 32000, 4096, 100, 3, 0 },
    };
    ctx = harness_ctx();
    rc |= harness_finish(ctx, run(ctx, full, sizeof full / sizeof full[0], seed + 100));
    return rc;
}
