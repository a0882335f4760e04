#version 450
// Residual add: out[i] = a[i] + b[i]; a, b, out: fp32 [n]. out may alias a
// (in place): element i is read and written by the same invocation only.
// Each invocation handles 4 consecutive elements: one vec4 load per input
// where all 4 are in range, else a scalar tail. (More vec4s per invocation
// did not help on lavapipe: it pays per access, not per invocation.)
// Workgroups past 65535 spill into y (the op sizes the grid).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_ELEMENTWISE
#include "push.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;

// Two views of each buffer at the same binding: scalar for the tail, vec4 for the body.
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer Out { float outv[]; };
layout(std430, binding = 2) writeonly buffer Out4 { vec4 out4[]; };

void main()
{
    const uint q = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    const uint n4 = pc.n / 4;
    if (q < n4) {
        out4[q] = a4[q] + b4[q];
    } else if (q == n4) { // the last 0..3 elements
        for (uint i = 4 * n4; i < pc.n; i++) outv[i] = a[i] + b[i];
    }
}
