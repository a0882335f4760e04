#version 450
// SwiGLU's elementwise half: out[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g).
//   gate, up, out: fp32 [n]; out may alias gate or up (element i is read and
//   written by the same invocation only).
// Each invocation handles 4 consecutive elements: one vec4 load per input
// where all 4 are in range, else a scalar tail. (More vec4s per invocation
// did not help on lavapipe: it pays per access, not per invocation.)
// Workgroups past 65535 spill into y (the op sizes the grid).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_SILU_MUL
#include "push.h"

layout(local_size_x_id = SILU_MUL_SPEC_WG) in;
layout(constant_id = SILU_MUL_SPEC_WG) const uint WG = 128;

// Two views of each buffer at the same binding: scalar for the tail, vec4 for the body.
layout(std430, binding = SILU_MUL_BIND_GATE) readonly buffer Gate { float gate[]; };
layout(std430, binding = SILU_MUL_BIND_GATE) readonly buffer Gate4 { vec4 gate4[]; };
layout(std430, binding = SILU_MUL_BIND_UP) readonly buffer Up { float up[]; };
layout(std430, binding = SILU_MUL_BIND_UP) readonly buffer Up4 { vec4 up4[]; };
layout(std430, binding = SILU_MUL_BIND_OUT) writeonly buffer Out { float outv[]; };
layout(std430, binding = SILU_MUL_BIND_OUT) writeonly buffer Out4 { vec4 out4[]; };

// sigmoid through t = exp(-|g|) in (0, 1]: the exponent never overflows and the
// divisor 1 + t stays in [1, 2], where Vulkan's division is accurate (2.5 ulp)
// -- 1 / (1 + exp(-g)) would divide by inf for g << 0, which the spec leaves
// undefined. Large |g| give g (g > 0) or +-0 (g < 0); NaN stays NaN.
vec4 silu(vec4 g)
{
    vec4 t = exp(-abs(g));
    return g * mix(t, vec4(1.0), greaterThanEqual(g, vec4(0.0))) / (1.0 + t);
}

float silu(float g)
{
    float t = exp(-abs(g));
    return g * (g >= 0.0 ? 1.0 : t) / (1.0 + t);
}

void main()
{
    const uint q = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    const uint n4 = pc.n / 4;
    if (q < n4) {
        out4[q] = silu(gate4[q]) * up4[q];
    } else if (q == n4) { // the last 0..3 elements
        for (uint i = 4 * n4; i < pc.n; i++) outv[i] = silu(gate[i]) * up[i];
    }
}
