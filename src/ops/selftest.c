#include "selftest.h"

#include <stdio.h>
#include <string.h>

#include "add.h"
#include "convert.h"
#include "get_rows.h"
#include "rmsnorm.h"
#include "silu_mul.h"

/* Reports one finished check; returns non-zero to stop. */
static int report(vkllm_status s, gpu_ctx *ctx, vkllm_check_result *r, vkllm_check_cb cb, void *user,
                  uint32_t *n_failed, vkllm_status *first_err)
{
    if (s != VKLLM_OK) {
        r->passed = 0;
        snprintf(r->detail, sizeof r->detail, "%s", gpu_error(ctx));
        if (*first_err == VKLLM_OK) *first_err = s;
    }
    if (!r->passed) (*n_failed)++;
    return cb ? cb(r, user) : 0;
}

#define RUN(call)                                                                 \
    do {                                                                          \
        vkllm_check_result r_;                                                    \
        memset(&r_, 0, sizeof r_);                                                \
        vkllm_status s_ = (call);                                                 \
        if (report(s_, ctx, &r_, cb, user, n_failed, &first_err)) return first_err; \
    } while (0)
#define R (&r_)

vkllm_status selftest_run(gpu_ctx *ctx, bool full_size, uint64_t seed, vkllm_check_cb cb, void *user,
                          uint32_t *n_failed)
{
    vkllm_status first_err = VKLLM_OK;
    *n_failed = 0;
    /* SOLAR-10.7B: hidden 4096, FFN 14336, vocab 32000, 32/8 heads of 128 */
    RUN(check_rmsnorm(ctx, 7, 4096, seed, R));
    if (full_size) RUN(check_rmsnorm(ctx, 64, 4096, seed + 1, R));
    RUN(check_silu_mul(ctx, 14336, 0, false, seed + 2, R));
    RUN(check_add(ctx, 4096, 0, false, seed + 3, R));
    RUN(check_get_rows(ctx, 512, 4096, 8, 0, 0, seed + 4, R));
    if (full_size) RUN(check_get_rows(ctx, 32000, 4096, 64, 0, 0, seed + 5, R));
    /* one K/V row (8 heads x 128) into and out of an fp16 cache at position 37 */
    RUN(check_convert(ctx, false, 1024, 0, 1024 * 37, 0, seed + 6, R));
    RUN(check_convert(ctx, true, 1024, 1024 * 37, 0, 0, seed + 7, R));
    return first_err;
}
