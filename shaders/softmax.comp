#version 450
// Row softmax of scale * x, causal mask optional:
//   x: fp32 [n_rows][n_cols] -> y: fp32 [n_rows][n_cols], y may be x
//   y[r][c] = 2^(t_c - m) / sum_c' 2^(t_c' - m), t_c = x[r][c] * scale * log2(e),
//   m = max_c t_c over the live columns; masked columns (causal, c > pos0 + r) = 0.
// Three passes over the row (max, sum, write), each invocation always on the
// same live columns, so in place is safe and the sum adds exactly the values
// that are then written. Two variants (spec constant 1):
//   SUBGROUP_ROWS = 0: one workgroup per row, subgroup reductions then one
//     partial per subgroup in shared memory (long rows);
//   SUBGROUP_ROWS = 1: each subgroup owns whole rows, rows_per_wg rows per
//     workgroup; subgroup reductions only, no shared memory, no barrier
//     (short rows, and devices where barriers are expensive).
// No infinities anywhere: Vulkan only guarantees them with
// SignedZeroInfNanPreserve, which not every device offers.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_SOFTMAX
#include "push.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint SUBGROUP_ROWS = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

// one slot per subgroup (at most WG subgroups); separate arrays so the max
// and the sum of one row need no barrier between reading one and writing the other
shared float part_max[WG];
shared float part_sum[WG];

const float NO_MAX = -3.0e38; // below any t; exp2(t - NO_MAX) is never taken

float row_max(float v)
{
    v = subgroupMax(v);
    if (SUBGROUP_ROWS != 0) return v;
    if (subgroupElect()) part_max[gl_SubgroupID] = v;
    barrier(); // subgroup maxima written -> read by every invocation
    float m = part_max[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) m = max(m, part_max[i]);
    return m;
}

float row_sum(float v)
{
    v = subgroupAdd(v);
    if (SUBGROUP_ROWS != 0) return v;
    if (subgroupElect()) part_sum[gl_SubgroupID] = v;
    barrier(); // subgroup sums written -> read by every invocation
    float s = part_sum[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) s += part_sum[i];
    return s;
}

// The row's columns c = lane, lane + n_lanes, ... belong to this invocation.
void softmax_row(uint row, uint lane, uint n_lanes)
{
    const uint base = row * pc.n_cols;
    const float k = pc.scale_log2e;
    // columns >= n_live are masked; column 0 never is
    const uint n_live = pc.causal != 0 ? min(pc.n_cols, pc.pos0 + row + 1) : pc.n_cols;

    float m = NO_MAX;
    for (uint c = lane; c < n_live; c += n_lanes) m = max(m, x[base + c] * k);
    m = row_max(m);

    float s = 0.0;
    for (uint c = lane; c < n_live; c += n_lanes) s += exp2(x[base + c] * k - m);
    const float inv = 1.0 / row_sum(s); // >= 1 term equal to 2^0: no division by 0

    for (uint c = lane; c < n_live; c += n_lanes) y[base + c] = exp2(x[base + c] * k - m) * inv;
    // masked columns are never read, so any invocation may zero them
    for (uint c = n_live + lane; c < pc.n_cols; c += n_lanes) y[base + c] = 0.0;
}

void main()
{
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (SUBGROUP_ROWS != 0) {
        // lanes counted, not taken from gl_SubgroupSize: a subgroup may hold
        // fewer invocations than that (partial, or larger than WG)
        const uint n_lanes = subgroupAdd(1u), lane = subgroupExclusiveAdd(1u);
        // rows_per_wg assumes the device's usual subgroup size; any other
        // size is still correct (subgroups loop or idle), only slower
        for (uint i = gl_SubgroupID; i < pc.rows_per_wg; i += gl_NumSubgroups) {
            const uint row = wg * pc.rows_per_wg + i;
            if (row >= pc.n_rows) break; // uniform per subgroup
            softmax_row(row, lane, n_lanes);
        }
    } else {
        if (wg >= pc.n_rows) return; // uniform per workgroup
        softmax_row(wg, gl_LocalInvocationID.x, WG);
    }
}
