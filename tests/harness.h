/* A plain test harness: one executable per op, many shapes each. */
#ifndef VKLLM_TEST_HARNESS_H
#define VKLLM_TEST_HARNESS_H

#include "gpu/gpu.h"

/* Context on $VKLLM_DEVICE (or the best device) with the validation layer
 * on. Exits the test with a message if it can't be created. */
gpu_ctx *harness_ctx(void);
/* The same with tensors split into chunks of at most max_chunk_bytes, so
 * small shapes exercise the splitting that big tensors need. */
gpu_ctx *harness_ctx_chunked(uint64_t max_chunk_bytes);

/* Prints one check's line; returns 1 if it failed (error or mismatch). */
int harness_report(gpu_ctx *ctx, vkllm_status s, const vkllm_check_result *r);

/* A seed for this run: $VKLLM_TEST_SEED, else fresh from the clock. Printed,
 * so a failing run can be repeated. */
uint64_t harness_seed(void);

/* Fails on validation messages, destroys the context, returns the exit code. */
int harness_finish(gpu_ctx *ctx, int failures);

#endif
