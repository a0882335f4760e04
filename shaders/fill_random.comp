#version 450
// Fills fp16 storage with seeded uniform random values, for synthetic
// models (`vkllm bench --synthetic`) that need no file and no upload:
//   dst[i] = half(scale * (2 u - 1)), u = (hash(seed, offset + i) >> 8) * 2^-24
// The hash is integer arithmetic and the float steps are exact or correctly
// rounded, so src/ops/fill_random.c reproduces every bit on the CPU.
// Each invocation writes two elements (one word); an odd last element is
// written alone. Workgroups past 65535 spill into y.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_FILL_RANDOM
#include "push.h"

layout(local_size_x_id = FILL_RANDOM_SPEC_WG) in;
layout(constant_id = FILL_RANDOM_SPEC_WG) const uint WG = 256;

layout(std430, binding = FILL_RANDOM_BIND_DST) writeonly buffer Dst { uint16_t dst[]; };
layout(std430, binding = FILL_RANDOM_BIND_DST) writeonly buffer Dst2 { uint dst2[]; };

// lowbias32 (Chris Wellons' integer hash), over the seed-mixed index
uint hash(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint value(uint i)
{
    const uint h = hash((pc.offset + i) * 0x9e3779b9u ^ hash(pc.seed));
    const float u = float(h >> 8) * (1.0 / 8388608.0) - 1.0; // [-1, 1), exact
    return f32_bits_to_f16(floatBitsToUint(u * pc.scale));
}

void main()
{
    const uint w = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    const uint i = 2 * w;
    if (i + 1 < pc.n) dst2[w] = value(i) | (value(i + 1) << 16);
    else if (i < pc.n) dst[i] = uint16_t(value(i));
}
