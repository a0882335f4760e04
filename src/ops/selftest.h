/* Every kernel checked once against its CPU reference (vkllm selftest). */
#ifndef VKLLM_OPS_SELFTEST_H
#define VKLLM_OPS_SELFTEST_H

#include "gpu/gpu.h"

/* Runs the kernel checks on `ctx`, calling cb for each. full_size adds
 * SOLAR-10.7B-sized shapes. Sets *n_failed. Stops early if cb returns
 * non-zero. Returns the first error that kept a check from running. */
vkllm_status selftest_run(gpu_ctx *ctx, bool full_size, uint64_t seed, vkllm_check_cb cb, void *user,
                          uint32_t *n_failed);

#endif
