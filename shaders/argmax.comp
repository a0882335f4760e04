#version 450
// Greedy decoding on the GPU: out[r] = the first index of the largest
// x[r][i], i < n, so a greedy step reads back 4 bytes instead of the logits.
// NaN never wins; a row with no number in it gives -1. One workgroup per
// row: each invocation scans a strided slice, then a shared-memory tree
// keeps (value, index) pairs, preferring the larger value, then the smaller
// index (which makes the result independent of the scan order).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_ARGMAX
#include "push.h"

layout(local_size_x_id = ARGMAX_SPEC_WG) in;
layout(constant_id = ARGMAX_SPEC_WG) const uint WG = 256; // a power of two

layout(std430, binding = ARGMAX_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = ARGMAX_BIND_OUT) writeonly buffer Out { int outv[]; };

shared float sh_v[WG];
shared int sh_i[WG];

// true if (v, i) beats (bv, bi); index -1 means "nothing yet"
bool beats(float v, int i, float bv, int bi)
{
    if (i < 0) return false;
    if (bi < 0) return true;
    return v > bv || (v == bv && i < bi);
}

void main()
{
    const uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= pc.n_rows) return; // uniform per workgroup
    const uint base = r * pc.n;
    float bv = 0.0;
    int bi = -1;
    for (uint i = gl_LocalInvocationID.x; i < pc.n; i += WG) {
        const float v = x[base + i];
        if (!isnan(v) && beats(v, int(i), bv, bi)) {
            bv = v;
            bi = int(i);
        }
    }
    sh_v[gl_LocalInvocationID.x] = bv;
    sh_i[gl_LocalInvocationID.x] = bi;
    for (uint half_n = WG / 2; half_n > 0; half_n /= 2) {
        barrier(); // the previous level's pairs are written
        if (gl_LocalInvocationID.x < half_n) {
            const uint o = gl_LocalInvocationID.x + half_n;
            if (beats(sh_v[o], sh_i[o], sh_v[gl_LocalInvocationID.x], sh_i[gl_LocalInvocationID.x])) {
                sh_v[gl_LocalInvocationID.x] = sh_v[o];
                sh_i[gl_LocalInvocationID.x] = sh_i[o];
            }
        }
    }
    if (gl_LocalInvocationID.x == 0) outv[r] = sh_i[0];
}
