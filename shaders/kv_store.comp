#version 450
// Writes a block of keys or values into a layer's fp16 cache at the tokens'
// positions: cache[pos[t]][c] = half(src[t][c]); src fp32 [n_tok][row],
// pos int32 [n_tok] (from a device buffer, so one recorded decode step
// serves every position), cache fp16 [n_ctx][row], row even. A position
// outside [0, n_ctx) is skipped: nothing past the cache is ever written.
// Each invocation converts two elements (one 32-bit word of the cache),
// rounding to nearest even in integer arithmetic (common.glsl).
// Grid: x over the row's words, y over tokens.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_KV_STORE
#include "push.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;

layout(std430, binding = 0) readonly buffer Src { vec2 src[]; };
layout(std430, binding = 1) readonly buffer Pos { int pos[]; };
layout(std430, binding = 2) writeonly buffer Cache { uint cache[]; }; // 2 halves per word

void main()
{
    const uint w = gl_GlobalInvocationID.x; // word within the row
    const uint t = gl_WorkGroupID.y;
    const uint words = pc.row / 2;
    if (w >= words || t >= pc.n_tok) return;
    const int p = pos[t];
    if (p < 0 || uint(p) >= pc.n_ctx) return;
    const vec2 x = src[t * words + w];
    cache[uint(p) * words + w] = f32_bits_to_f16(floatBitsToUint(x.x)) | (f32_bits_to_f16(floatBitsToUint(x.y)) << 16);
}
