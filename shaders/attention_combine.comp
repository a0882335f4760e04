#version 450
// Second pass of split attention (flash-decoding): merges the partial
// results of the SPLITS key ranges of each (query, head) row:
//   out[d] = sum_s 2^(m_s - M) acc_s[d] / sum_s 2^(m_s - M) l_s,  M = max_s m_s
// part: fp32 [n_rows][splits][2 + head_dim] as attention.comp writes it
// (m in base-2 score units, l, then the unnormalised accumulator); an empty
// range has m = -3e38 and l = 0 and weighs nothing. out: fp32
// [n_rows][head_dim]. One invocation per output element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_ATTENTION_COMBINE
#include "push.h"

layout(local_size_x_id = ATTENTION_COMBINE_SPEC_WG) in;
layout(constant_id = ATTENTION_COMBINE_SPEC_WG) const uint WG = 64;

layout(std430, binding = ATTENTION_COMBINE_BIND_PART) readonly buffer Part { float part[]; };
layout(std430, binding = ATTENTION_COMBINE_BIND_OUT) writeonly buffer O { float o[]; };

void main()
{
    const uint idx = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    if (idx >= pc.n_rows * pc.head_dim) return;
    const uint row = idx / pc.head_dim, d = idx % pc.head_dim;
    const uint len = pc.head_dim + 2, base = row * pc.splits * len;
    float big = -3.0e38;
    for (uint s = 0; s < pc.splits; s++) big = max(big, part[base + s * len]);
    float sum = 0.0, a = 0.0;
    for (uint s = 0; s < pc.splits; s++) {
        const float w = exp2(part[base + s * len] - big);
        sum += w * part[base + s * len + 1];
        a += w * part[base + s * len + 2 + d];
    }
    o[row * pc.head_dim + d] = a / sum;
}
