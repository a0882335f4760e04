#version 450
// RMSNorm with weight: one workgroup per row.
//   x: fp32 [n_rows][n_cols], w: fp32 [n_cols] -> y: fp32 [n_rows][n_cols]
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_RMSNORM
#include "push.h"

layout(local_size_x_id = RMSNORM_SPEC_WG) in;
layout(constant_id = RMSNORM_SPEC_WG) const uint WG = 128;

layout(std430, binding = RMSNORM_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = RMSNORM_BIND_W) readonly buffer W { float w[]; };
layout(std430, binding = RMSNORM_BIND_Y) writeonly buffer Y { float y[]; };

shared float partial[64]; // one per subgroup (WG / subgroup size <= 64)

void main()
{
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.n_rows) return; // uniform per workgroup
    const uint base = row * pc.n_cols;
    float ss = 0.0;
    for (uint c = gl_LocalInvocationID.x; c < pc.n_cols; c += WG) ss += x[base + c] * x[base + c];
    ss = subgroupAdd(ss);
    if (subgroupElect()) partial[gl_SubgroupID] = ss;
    barrier(); // partial sums written -> read by everyone
    float total = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) total += partial[i];
    const float inv = inversesqrt(total / float(pc.n_cols) + pc.eps);
    for (uint c = gl_LocalInvocationID.x; c < pc.n_cols; c += WG) y[base + c] = x[base + c] * inv * w[c];
}
