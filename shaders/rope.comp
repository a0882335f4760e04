#version 450
// RoPE: rotate the first n_rot dims of every head by position-dependent
// angles, copy the rest. One invocation per rotated pair or copied dim.
// TO_CACHE: write the result as fp16 into a K/V cache row instead (the
// key RoPE and the cache write in one pass; n_rot = 0 stores values), and
// with n_v > 0 also store a block of values into their own cache in the
// same dispatch (invocations past the keys' copy one value each).
//   x: fp32 [n_tok][n_head][head_dim], pos: int32 [n_tok]
//   -> y: fp32 [n_tok][n_head][head_dim]; y may be x (each invocation reads
//   its own elements before writing them, and no one else touches them)
//
// Accuracy does not rest on the driver's sin/cos (GLSL allows 2^-11 absolute
// error on [-pi, pi] and says nothing outside it): the angle is reduced by
// pi/2 with a three-part Cody-Waite split and sin/cos come from minimax
// polynomials on [-pi/4, pi/4] built from IEEE add/mul only. What remains
// is fp32 rounding of the angle itself, which grows with pos * freq.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_ROPE
#include "push.h"

layout(local_size_x_id = ROPE_SPEC_WG) in;
layout(constant_id = ROPE_SPEC_WG) const uint WG = 64;

layout(std430, binding = ROPE_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = ROPE_BIND_POS) readonly buffer P { int pos[]; };
#ifdef TO_CACHE
// The rotated keys (or, with n_rot = 0, the values) go straight into the
// layer's fp16 cache at their token's position: cache [n_ctx][n_head *
// head_dim], rounded to nearest even (common.glsl); a position outside
// [0, n_ctx) is skipped.
layout(std430, binding = ROPE_BIND_Y) writeonly buffer Cache { uint16_t cache[]; };
layout(std430, binding = ROPE_BIND_V) readonly buffer V { float v[]; };
layout(std430, binding = ROPE_BIND_V_CACHE) writeonly buffer VCache { uint16_t v_cache[]; };
#else
layout(std430, binding = ROPE_BIND_Y) writeonly buffer Y { float y[]; };
#endif

// Element e (within the token's row) of token t gets v.
void store(uint t, uint e, float v)
{
#ifdef TO_CACHE
    const int p = pos[t];
    if (p >= 0 && uint(p) < pc.n_ctx)
        cache[uint(p) * pc.n_head * pc.head_dim + e] = uint16_t(f32_bits_to_f16(floatBitsToUint(v)));
#else
    y[t * pc.n_head * pc.head_dim + e] = v;
#endif
}

// pi/2 = P1 + P2 + P3; P1 has 8 significant bits, so k * P1 is exact for
// k < 2^16 (angles below ~1e5) and angle - k * P1 is exact (Sterbenz).
const float P1 = 1.5703125;
const float P2 = 4.837512969970703125e-4;
const float P3 = 7.54978995489188216e-8;
const float TWO_OVER_PI = 0.636619772367581343;

// sin and cos of r in [-pi/4, pi/4] (cephes sinf/cosf kernels): measured
// error <= 7.4e-8 absolute over every float there, with or without fma.
float sin_kernel(float r)
{
    const float z = r * r;
    return ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
}

float cos_kernel(float r)
{
    const float z = r * r;
    return ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
}

// (cos a, sin a) for any fp32 angle a
vec2 cos_sin(float a)
{
    const float k = floor(a * TWO_OVER_PI + 0.5);
    // precise: no reassociation of the compensated subtraction
    precise float r = a - k * P1;
    r = r - k * P2;
    r = r - k * P3;
    const float s = sin_kernel(r), c = cos_kernel(r);
    switch (int(k) & 3) { // quadrant
    case 0: return vec2(c, s);
    case 1: return vec2(-s, c);
    case 2: return vec2(-c, -s);
    default: return vec2(s, -c);
    }
}

// theta_base^(-2i/n_rot) = 2^-(i * step): i * step = n + f with n an integer
// (exact: i * step_hi is exact and so is removing its integer part), so the
// driver's exp2 only sees f in about [0, 1), where GLSL bounds it by 5 ulp.
float freq(uint i)
{
    const float e_hi = float(i) * pc.step_hi;
    const float n = floor(e_hi);
    const float f = (e_hi - n) + float(i) * pc.step_lo;
    return ldexp(exp2(-f), -int(n));
}

void main()
{
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint idx = wg * WG + gl_LocalInvocationID.x;
    const uint half_rot = pc.n_rot / 2;
    const uint per_head = half_rot + (pc.head_dim - pc.n_rot); // pairs + copied dims
    const uint n_head_total = pc.n_tok * pc.n_head;
    if (idx >= n_head_total * per_head) {
#ifdef TO_CACHE
        // past the keys: value e of token t, unrotated into the value cache
        const uint iv = idx - n_head_total * per_head;
        if (iv >= pc.n_tok * pc.n_v) return;
        const uint t = iv / pc.n_v;
        const int p = pos[t];
        if (p >= 0 && uint(p) < pc.n_ctx)
            v_cache[uint(p) * pc.n_v + (iv - t * pc.n_v)] = uint16_t(f32_bits_to_f16(floatBitsToUint(v[iv])));
#endif
        return;
    }
    const uint head = idx / per_head; // token * n_head + head
    const uint j = idx - head * per_head;
    const uint base = head * pc.head_dim;

    const uint t = head / pc.n_head, row_base = base - t * pc.n_head * pc.head_dim;
    if (j >= half_rot) { // past the rotary dims: copy
        const uint d = pc.n_rot + (j - half_rot);
        store(t, row_base + d, x[base + d]);
        return;
    }
    const uint d0 = pc.pairing == 0 ? 2 * j : j;
    const uint d1 = d0 + (pc.pairing == 0 ? 1 : half_rot);
    const float x0 = x[base + d0], x1 = x[base + d1];
    const vec2 cs = cos_sin(float(pos[t]) * freq(j));
    store(t, row_base + d0, x0 * cs.x - x1 * cs.y);
    store(t, row_base + d1, x0 * cs.y + x1 * cs.x);
}
