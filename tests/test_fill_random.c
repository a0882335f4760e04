/* Random fp16 fill against the CPU reference, bit for bit: odd and even
 * lengths, tensors split into many chunks (values must not depend on the
 * split), a grid past 65535 workgroups, several seeds and scales; and random
 * quantized blocks of every type, byte for byte, with sane scales. */
#include "harness.h"
#include "ops/fill_random.h"

int main(void)
{
    uint64_t seed = harness_seed();
    static const struct { uint64_t n; float scale; } cases[] = {
        { 1, 1.0f }, { 2, 0.5f }, { 7, 1.0f }, { 1000, 0.03125f }, { 4096 * 3 + 1, 0.02f },
        { 40000001, 0.015625f }, { 12289, 3e-5f }, { 99, 70000.0f },
    };
    /* once with the device's chunks (40000001 elements: a 78k-workgroup grid),
     * once with 24 KiB chunks (the same tensors in up to 3256 pieces) */
    int failures = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        gpu_ctx *ctx = chunked ? harness_ctx_chunked(4096 * 6) : harness_ctx();
        int f = 0;
        for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            vkllm_check_result r;
            vkllm_status s = check_fill_random(ctx, cases[i].n, (uint32_t)(seed + i), cases[i].scale, &r);
            f += harness_report(ctx, s, &r);
        }
        /* random quantized blocks (synthetic models of a quantized type):
         * every block type, rows whose blocks straddle words and chunks */
        static const uint32_t qtypes[] = { 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 20, 23 };
        for (unsigned i = 0; i < sizeof qtypes / sizeof qtypes[0]; i++) {
            vkllm_check_result r;
            uint32_t cols = qtypes[i] >= 10 && qtypes[i] != 20 ? 512 : 96;
            vkllm_status s = check_fill_blocks(ctx, qtypes[i], 37 + 300 * chunked, cols, (uint32_t)(seed + i), &r);
            f += harness_report(ctx, s, &r);
        }
        failures += harness_finish(ctx, f);
    }
    return failures != 0;
}
