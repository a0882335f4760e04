/* Row softmax of scale * x with an optional causal mask:
 * y[r][c] = exp(scale x[r][c] - m_r) / sum_c' exp(scale x[r][c'] - m_r) over
 * the live columns, m_r their maximum; with causal, column c of row r is
 * masked (y exactly 0) when c > pos0 + r. */
#ifndef VKLLM_OPS_SOFTMAX_H
#define VKLLM_OPS_SOFTMAX_H

#include <stdbool.h>

#include "gpu/gpu.h"

/* x, y: fp32 [n_rows][n_cols], y may be the same binding as x (in place).
 * Any n_cols >= 1 (32000-wide vocab rows are fine); with causal,
 * pos0 + n_rows must stay below 2^32. */
vkllm_status op_softmax(gpu_rec *rec, gpu_binding x, gpu_binding y, uint32_t n_rows, uint32_t n_cols, float scale,
                        bool causal, uint32_t pos0);

/* CPU reference, double arithmetic. */
void ref_softmax(const float *x, float *y, uint32_t n_rows, uint32_t n_cols, float scale, bool causal, uint32_t pos0);

/* Which kernel variant runs a row (shaders/softmax.comp); op_softmax picks
 * by device and row length, checks may force one. */
enum {
    SOFTMAX_AUTO = 0,
    SOFTMAX_WORKGROUP_ROWS = 1, /* one workgroup per row */
    SOFTMAX_SUBGROUP_ROWS = 2,  /* each subgroup owns whole rows */
};

/* One check: x uniform in [-amp, amp). */
typedef struct softmax_case {
    uint32_t n_rows, n_cols;
    float scale;
    bool causal;
    uint32_t pos0;
    float amp;
    bool in_place; /* y is x (x re-uploaded before each run instead of poisoning y) */
    uint32_t variant; /* SOFTMAX_AUTO or a forced variant */
} softmax_case;

/* Random x, GPU vs reference. */
vkllm_status check_softmax(gpu_ctx *ctx, const softmax_case *c, uint64_t seed, vkllm_check_result *out);

#endif
