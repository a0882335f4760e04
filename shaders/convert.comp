#version 450
// dst[dst_offset + i] = src[src_offset + i] for i < n, offsets in elements.
//   default:        src fp32, dst fp16, rounded to nearest even
//   -DSRC_F16:      src fp16, dst fp32 (exact)
// src and dst may not alias.
// The conversion works on the bits in integer arithmetic, so it is exact and
// identical on every device: for float16_t(x) / packHalf2x16 Vulkan only
// promises one of the two neighbouring halves ("the rounding mode is not
// defined"; RTE needs the RoundingModeRTE execution mode, i.e.
// shaderRoundingModeRTEFloat16, which not every device offers), and it lets
// denormals be flushed. No fp16 arithmetic is used; fp16 elements are moved
// with 16-bit storage (uint16_t) or as packed 32-bit words.
// Each invocation handles 8 consecutive elements: with 16-byte accesses (one
// for the 8 halves, two for the 8 floats) when both offsets are multiples of
// 8 and all 8 are in range, else one element at a time. (lavapipe pays per
// access per lane, nearly whatever its width: 16-byte fp16 loads ran 1.8x
// faster than 8-byte ones.) Workgroups past 65535 spill into y.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_CONVERT
#include "push.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;

#ifdef SRC_F16
layout(std430, binding = 0) readonly buffer Src { uint16_t src[]; };
layout(std430, binding = 0) readonly buffer Src8 { uvec4 src8[]; };     // 8 halves
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };       // fp32 bits
layout(std430, binding = 1) writeonly buffer Dst4 { uvec4 dst4[]; };

// fp16 bits (low 16) -> fp32 bits, exact.
uint cvt(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint em = h & 0x7fffu;
    if (em >= 0x7c00u) return sign | 0x7f800000u | ((em & 0x3ffu) << 13); // inf, nan (payload kept)
    if (em >= 0x0400u) return sign | ((em << 13) + 0x38000000u);          // normal: rebias 15 -> 127
    if (em == 0u) return sign;                                              // +-0
    int msb = findMSB(em);                                                   // subnormal em * 2^-24
    return sign | (uint(msb + 103) << 23) | ((em << (23 - msb)) & 0x7fffffu);
}

uvec4 cvt4(uvec2 h)
{
    return uvec4(cvt(h.x & 0xffffu), cvt(h.x >> 16), cvt(h.y & 0xffffu), cvt(h.y >> 16));
}
#define LOAD(k) uint(src[k])
#define STORE(k, v) dst[k] = (v)
#else
layout(std430, binding = 0) readonly buffer Src { uint src[]; };        // fp32 bits
layout(std430, binding = 0) readonly buffer Src4 { uvec4 src4[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint16_t dst[]; };
layout(std430, binding = 1) writeonly buffer Dst8 { uvec4 dst8[]; };    // 8 halves

// fp32 bits -> fp16 bits, round to nearest even (common.glsl).
uint cvt(uint x) { return f32_bits_to_f16(x); }

uvec2 cvt4(uvec4 x)
{
    return uvec2(cvt(x.x) | (cvt(x.y) << 16), cvt(x.z) | (cvt(x.w) << 16));
}
#define LOAD(k) src[k]
#define STORE(k, v) dst[k] = uint16_t(v)
#endif

void main()
{
    const uint q = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    const uint n8 = pc.n / 8;
    if (q < n8 && pc.src_offset % 8 == 0 && pc.dst_offset % 8 == 0) {
#ifdef SRC_F16
        const uvec4 h = src8[pc.src_offset / 8 + q];
        const uint d = pc.dst_offset / 4 + 2 * q;
        dst4[d] = cvt4(h.xy);
        dst4[d + 1] = cvt4(h.zw);
#else
        const uint s = pc.src_offset / 4 + 2 * q;
        dst8[pc.dst_offset / 8 + q] = uvec4(cvt4(src4[s]), cvt4(src4[s + 1]));
#endif
    } else if (q <= n8) { // misaligned offsets, or the last 1..7 elements
        for (uint i = 8 * q; i < 8 * q + 8 && i < pc.n; i++) STORE(pc.dst_offset + i, cvt(LOAD(pc.src_offset + i)));
    }
}
