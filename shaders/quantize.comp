#version 450
// Quantize on load, on the device: fp32 / fp16 / bf16 rows into ggml blocks
// of type QTYPE (a -D variant per type), by the same algorithms and the same
// float operations in the same order as src/model/quantize.c (the CPU
// quantizer `vkllm quantize` uses), so that where the device's arithmetic is
// IEEE fp32 (+ - * / and sqrt correctly rounded, no fused multiply-adds, no
// denormal flushing: Mesa's lavapipe) every block is bit for bit the CPU's.
// Every float computation is `precise` (SPIR-V NoContraction: no fusing or
// reassociation), nearest-integer rounding is C's lrintf (ties to even,
// including its out-of-range results) and conversions are done in integer
// arithmetic. On a device whose division is only within Vulkan's 2.5 ULP
// (or that flushes fp32 denormals) a candidate scale can round the other
// way: the blocks are then as good, but not always the same bytes
// (tests/test_quantize_gpu.c counts them and bounds the error there).
//
// One invocation makes one block, or two consecutive blocks where a block is
// not a whole number of words (Q8_0 34 bytes, Q4_0 18, Q5_0 22, Q6_K 210,
// Q3_K 110, IQ4_NL 18), so that no two invocations write the same word.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#define PUSH_QUANTIZE
#include "push.h"

layout(local_size_x_id = QUANTIZE_SPEC_WG) in;
layout(constant_id = QUANTIZE_SPEC_WG) const uint WG = 64;

layout(binding = QUANTIZE_BIND_SRC) uniform usamplerBuffer src_tex; // the source rows, 16-byte texels
layout(std430, binding = QUANTIZE_BIND_DST) writeonly buffer Dst { uint dst[]; };
layout(std430, binding = QUANTIZE_BIND_STATUS) buffer Status { uint status[]; };

// ggml type ids (src/model/quant.h)
#define T_Q4_0 2
#define T_Q4_1 3
#define T_Q5_0 6
#define T_Q5_1 7
#define T_Q8_0 8
#define T_Q2_K 10
#define T_Q3_K 11
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_IQ4_NL 20
#define T_IQ4_XS 23

#if QTYPE == T_Q8_0
#define BLOCK 32
#define BLOCK_BYTES 34
#elif QTYPE == T_Q4_0
#define BLOCK 32
#define BLOCK_BYTES 18
#elif QTYPE == T_Q5_0
#define BLOCK 32
#define BLOCK_BYTES 22
#elif QTYPE == T_Q4_1
#define BLOCK 32
#define BLOCK_BYTES 20
#elif QTYPE == T_Q5_1
#define BLOCK 32
#define BLOCK_BYTES 24
#elif QTYPE == T_Q2_K
#define BLOCK 256
#define BLOCK_BYTES 84
#elif QTYPE == T_Q3_K
#define BLOCK 256
#define BLOCK_BYTES 110
#elif QTYPE == T_Q4_K
#define BLOCK 256
#define BLOCK_BYTES 144
#elif QTYPE == T_Q5_K
#define BLOCK 256
#define BLOCK_BYTES 176
#elif QTYPE == T_Q6_K
#define BLOCK 256
#define BLOCK_BYTES 210
#elif QTYPE == T_IQ4_NL
#define BLOCK 32
#define BLOCK_BYTES 18
#elif QTYPE == T_IQ4_XS
#define BLOCK 256
#define BLOCK_BYTES 136
#else
#error "quantize.comp: unknown QTYPE"
#endif
#define PAIR ((BLOCK_BYTES % 4) != 0 ? 2 : 1)
#define OUT_WORDS (PAIR * BLOCK_BYTES / 4)

#define EPS uintBitsToFloat(0x26901d7du) // 1e-15f: a group whose largest |x| is below is all zeros
#define TENTH uintBitsToFloat(0x3dcccccdu) // 0.1f, as C rounds it

float x[BLOCK];         // the block's weights, widened exactly to fp32
uint ob[OUT_WORDS];     // the invocation's output words, built with byte ORs from zero
#if BLOCK == 256
uint L[256];            // quants of the block being made
float w[256];           // the scale searches' weights
#endif

// ------------------------------------------------------------ small helpers

void or8(uint o, uint v) { ob[o >> 2] |= (v & 0xffu) << (8u * (o & 3u)); }
uint get8(uint o) { return (ob[o >> 2] >> (8u * (o & 3u))) & 0xffu; }
void put_f16(uint o, float f)
{
    const uint h = f32_bits_to_f16(floatBitsToUint(f));
    or8(o, h);
    or8(o + 1u, h >> 8);
}
float h2f(uint h) // exact fp16 -> fp32 (src/util/half.h's half_to_float), for finite h
{
    const uint sign = (h & 0x8000u) << 16, mag = h & 0x7fffu;
    // subnormals (and zero): man * 2^-24, exact; normals: the exponent rebiased
    const float sub = float(mag) * uintBitsToFloat(0x33800000u);
    const uint bits = mag < 0x400u ? floatBitsToUint(sub) : (mag << 13) + 0x38000000u;
    return uintBitsToFloat(sign | bits);
}
// the same with inf / NaN (fp16 fields the shader reads back)
float h2f_any(uint h)
{
    return (h & 0x7c00u) == 0x7c00u ? uintBitsToFloat((h & 0x8000u) << 16 | 0x7f800000u | (h & 0x3ffu) << 13) : h2f(h);
}
float f16_round(float f) { return h2f_any(f32_bits_to_f16(floatBitsToUint(f))); }
// the fp16 stored at byte o of the output, as a reader gets it
float got_f16(uint o) { return h2f_any(get8(o) | get8(o + 1u) << 8); }

int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
// (int)lrintf(v) as the CPU computes it (x86-64 / AArch64 with a 64-bit
// long): to nearest, ties to even; NaN and |v| >= 2^63 give LONG_MIN, whose
// low 32 bits are 0; 2^31 <= |v| < 2^63 keep the low 32 bits of the integer
int nearest(float v)
{
    const uint b = floatBitsToUint(v), a = b & 0x7fffffffu;
    const uint k = (a >> 23) - 150u, lo = k < 32u ? ((a & 0x7fffffu) | 0x800000u) << k : 0u;
    const int big = (b >> 31) != 0u ? -int(lo) : int(lo);
    // (selects, not branches: the common case costs no divergence)
    return a >= 0x5f000000u ? 0 /* NaN, inf, |v| >= 2^63 */ : a < 0x4f000000u ? int(roundEven(v)) : big;
}
// (int)floorf(v) as the CPU computes it: out of int's range and NaN give INT_MIN
int floor_int(float v)
{
    const precise float f = floor(v);
    return f >= -2147483648.0 && f < 2147483648.0 ? int(f) : int(0x80000000u);
}
// clampi(nearest(v), lo, hi) as a float, quantize.c's vlevel: adding and
// subtracting 1.5 * 2^23 rounds to the nearest integer, ties to even; NaN
// and |v| >= 2^31 give lo
float vlevel(float v, float lo, float hi)
{
    precise float r = (v + 12582912.0) - 12582912.0;
    r = r < lo ? lo : r;
    r = r > hi ? hi : r;
    return abs(v) < 2147483648.0 ? r : lo;
}

// the element of x[off..off+n) with the largest magnitude (the first of
// equals, keeping its sign); amax = |it|
float extreme(uint off, uint n, out float amax)
{
    precise float m = 0.0, a = 0.0;
    [[unroll]] for (uint i = 0u; i < n; i++)
        if (abs(x[off + i]) > a) {
            a = abs(x[off + i]);
            m = x[off + i];
        }
    amax = a;
    return m;
}

// ------------------------------------------------------------ scale searches

// The searches work on a copy of their group in arrays of the group's size
// (measured faster on lavapipe than indexing the block's; unrolling the
// loops over the group as well made the JIT take seconds per shader).
#if QTYPE == T_Q2_K || QTYPE == T_Q6_K
#define GROUP 16
#elif BLOCK == 256
#define GROUP 32
#endif

#if QTYPE == T_Q2_K || QTYPE == T_Q4_K || QTYPE == T_Q5_K
// quantize.c's fit_scale_min_lanes for one group: x[off..off+GROUP),
// weights w[off..), quants into L[off..); returns the scale, neg_min = -min
float fit_scale_min(uint off, float nmax, float rmin, float rdelta, int nstep, bool mad, out float neg_min)
{
    precise float xs[GROUP], ws[GROUP], lt[GROUP], at[GROUP];
    for (uint i = 0u; i < GROUP; i++) {
        xs[i] = x[off + i];
        ws[i] = w[off + i];
    }
    precise float mn = xs[0], mx = xs[0], sum_w = ws[0], sum_x = ws[0] * xs[0];
    for (uint i = 1u; i < GROUP; i++) {
        mn = xs[i] < mn ? xs[i] : mn;
        mx = xs[i] > mx ? xs[i] : mx;
        sum_w += ws[i];
        sum_x += ws[i] * xs[i];
    }
    mn = mn > 0.0 ? 0.0 : mn;
    const bool live = mx != mn;
    precise float iscale = live ? nmax / (mx - mn) : 0.0;
    precise float scale = live ? 1.0 / iscale : 0.0, best = 0.0;
    for (uint i = 0u; i < GROUP; i++) {
        const precise float l = vlevel(iscale * (xs[i] - mn), 0.0, nmax);
        lt[i] = l;
        const precise float diff = scale * l + mn - xs[i];
        best += ws[i] * (mad ? abs(diff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        precise float sum_l = 0.0, sum_l2 = 0.0, sum_xl = 0.0, err = 0.0;
        iscale = live ? (rmin + rdelta * float(is) + nmax) / (mx - mn) : 0.0;
        for (uint i = 0u; i < GROUP; i++) {
            const precise float l = vlevel(iscale * (xs[i] - mn), 0.0, nmax);
            at[i] = l;
            sum_l += ws[i] * l;
            sum_l2 += ws[i] * (l * l);
            sum_xl += ws[i] * l * xs[i];
        }
        const precise float D = sum_w * sum_l2 - sum_l * sum_l;
        const bool ok = live && D > 0.0;
        const precise float Dd = ok ? D : 1.0;
        precise float s = (sum_w * sum_xl - sum_x * sum_l) / Dd, m = (sum_l2 * sum_x - sum_l * sum_xl) / Dd;
        const bool pos = m > 0.0;
        m = pos ? 0.0 : m;
        s = pos ? sum_xl / (sum_l2 > 0.0 ? sum_l2 : 1.0) : s;
        s = ok ? s : 0.0;
        m = ok ? m : 0.0;
        for (uint i = 0u; i < GROUP; i++) {
            const precise float diff = s * at[i] + m - xs[i];
            err += ws[i] * (mad ? abs(diff) : diff * diff);
        }
        const bool better = ok && err < best;
        for (uint i = 0u; i < GROUP; i++) lt[i] = better ? at[i] : lt[i];
        best = better ? err : best;
        scale = better ? s : scale;
        mn = better ? m : mn;
    }
    for (uint i = 0u; i < GROUP; i++) L[off + i] = live ? uint(lt[i]) : 0u;
    neg_min = -mn;
    return live ? scale : 0.0;
}
#endif

#if QTYPE == T_Q6_K
// quantize.c's fit_scale_signed_lanes for one group: quants L - nmax
float fit_scale_signed(uint off, int nmax)
{
    precise float xs[GROUP], lt[GROUP], at[GROUP];
    for (uint i = 0u; i < GROUP; i++) xs[i] = x[off + i];
    precise float m = 0.0, amax = 0.0; // extreme(): the first of the largest magnitude
    for (uint i = 0u; i < GROUP; i++) {
        const bool gt = abs(xs[i]) > amax;
        amax = gt ? abs(xs[i]) : amax;
        m = gt ? xs[i] : m;
    }
    const bool live = !(amax < EPS);
    precise float best = 0.0, scale = 0.0;
    for (uint i = 0u; i < GROUP; i++) lt[i] = 0.0;
    const float lo = float(-nmax), hi = float(nmax - 1);
    for (int is = 0; is <= 18; is++) {
        const int step = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9; // 0 first, then -9..-1, 1..9
        const precise float iscale = live ? -(float(nmax) + TENTH * float(step)) / m : 0.0;
        precise float sumlx = 0.0, suml2 = 0.0;
        for (uint i = 0u; i < GROUP; i++) {
            const precise float l = vlevel(iscale * xs[i], lo, hi), wi = xs[i] * xs[i];
            at[i] = l;
            sumlx += wi * xs[i] * l;
            suml2 += wi * (l * l);
        }
        const bool has = suml2 > 0.0;
        const bool take = step == 0 || (has && sumlx * sumlx > best * suml2);
        const precise float sc = has ? sumlx / suml2 : 0.0;
        for (uint i = 0u; i < GROUP; i++) lt[i] = take ? at[i] : lt[i];
        scale = take ? sc : scale;
        best = take ? sc * sumlx : best;
    }
    for (uint i = 0u; i < GROUP; i++) L[off + i] = live ? uint(int(lt[i]) + nmax) : 0u;
    return live ? scale : 0.0;
}
#endif

#if QTYPE == T_Q3_K
// quantize.c's fit_scale_signed_iter: as fit_scale_signed, improving the
// rounding one weight at a time (up to five sweeps)
float fit_scale_signed_iter(uint off, uint n, int nmax)
{
    float amax;
    const precise float m = extreme(off, n, amax);
    if (amax < EPS) {
        for (uint i = 0u; i < n; i++) L[off + i] = 0u;
        return 0.0;
    }
    const precise float iscale = -float(nmax) / m;
    precise float sumlx = 0.0, suml2 = 0.0;
    int q[32];
    for (uint i = 0u; i < n; i++) {
        q[i] = clampi(nearest(iscale * x[off + i]), -nmax, nmax - 1);
        const precise float wi = x[off + i] * x[off + i];
        sumlx += wi * x[off + i] * float(q[i]);
        suml2 += wi * float(q[i] * q[i]);
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (uint i = 0u; i < n; i++) {
            const precise float wi = x[off + i] * x[off + i];
            precise float slx = sumlx - wi * x[off + i] * float(q[i]);
            if (slx <= 0.0) continue;
            precise float sl2 = suml2 - wi * float(q[i] * q[i]);
            const int nl = clampi(nearest(x[off + i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == q[i]) continue;
            slx += wi * x[off + i] * float(nl);
            sl2 += wi * float(nl * nl);
            if (sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                q[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (changed == 0) break;
    }
    for (uint i = 0u; i < n; i++) L[off + i] = uint(q[i] + nmax);
    return suml2 > 0.0 ? sumlx / suml2 : 0.0;
}
#endif

// ------------------------------------------------------------ blocks of 32

// 4-bit quant e (0..31) of a 32-weight block whose nibbles start at byte qs
void put_nibble32(uint qs, uint e, int q)
{
    if (e < 16u) or8(qs + e, uint(q) & 0xfu);
    else or8(qs + e - 16u, (uint(q) & 0xfu) << 4);
}

#if QTYPE == T_Q8_0
void quantize_block(uint o)
{
    float amax;
    extreme(0u, 32u, amax);
    const precise float d = f16_round(amax / 127.0), id = d != 0.0 ? 1.0 / d : 0.0;
    put_f16(o, d);
    [[unroll]] for (uint e = 0u; e < 32u; e++) or8(o + 2u + e, uint(clampi(nearest(x[e] * id), -127, 127)));
}
#endif

#if QTYPE == T_Q4_0 || QTYPE == T_Q5_0 || QTYPE == T_Q4_1 || QTYPE == T_Q5_1
#if QTYPE == T_Q4_0 || QTYPE == T_Q4_1
#define BITS 4
#else
#define BITS 5
#endif
void quantize_block(uint o)
{
    const int top = (1 << BITS) - 1;
#if QTYPE == T_Q4_0 || QTYPE == T_Q5_0 // the extreme value maps to -8 / -16
    float amax;
    const float m = extreme(0u, 32u, amax);
    const int half_ = 1 << (BITS - 1);
    const precise float d = f16_round(m / float(-half_)), id = d != 0.0 ? 1.0 / d : 0.0;
    put_f16(o, d);
    const uint qs = o + (BITS == 4 ? 2u : 6u), qh_at = o + 2u;
#else // min and max map to 0 and 15 / 31
    precise float mn = x[0], mx = x[0];
    for (uint e = 1u; e < 32u; e++) {
        if (x[e] < mn) mn = x[e];
        if (x[e] > mx) mx = x[e];
    }
    const precise float d = f16_round((mx - mn) / float(top)), id = d != 0.0 ? 1.0 / d : 0.0, m = f16_round(mn);
    put_f16(o, d);
    put_f16(o + 2u, m);
    const uint qs = o + (BITS == 4 ? 4u : 8u), qh_at = o + 4u;
#endif
    uint qh = 0u;
    for (uint e = 0u; e < 32u; e++) {
#if QTYPE == T_Q4_0 || QTYPE == T_Q5_0
        const precise float v = x[e] * id + float(half_) + 0.5;
#else
        const precise float v = (x[e] - m) * id + 0.5;
#endif
        const int q = clampi(floor_int(v), 0, top);
        put_nibble32(qs, e, q);
        qh |= uint(q >> 4 & 1) << e;
    }
    if (BITS == 5)
        for (uint i = 0u; i < 4u; i++) or8(qh_at + i, qh >> (8u * i));
}
#endif

// ------------------------------------------------------------ IQ4

#if QTYPE == T_IQ4_NL || QTYPE == T_IQ4_XS
const int iq4_table[16] = int[16](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

// quantize.c's iq4_nearest: index of the table value nearest to v (its
// binary search as selects: the index is the last table value <= v, the
// tie goes up; NaN gives 15 as the search does), q = that value
int iq4_nearest_q(float v, out float q)
{
    int lo = 0;
    float tl = float(iq4_table[0]), th = float(iq4_table[1]);
    [[unroll]] for (int k = 1; k < 15; k++) {
        const bool ge = v >= float(iq4_table[k]);
        lo = ge ? k : lo;
        tl = ge ? float(iq4_table[k]) : tl;
        th = ge ? float(iq4_table[k + 1]) : th;
    }
    const precise float below = v - tl, above = th - v;
    const bool up = !(below < above), nan_ = (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u;
    const bool top = nan_ || v >= float(iq4_table[15]), bottom = !top && v <= float(iq4_table[0]);
    q = top ? float(iq4_table[15]) : bottom ? float(iq4_table[0]) : up ? th : tl;
    return top ? 15 : bottom ? 0 : up ? lo + 1 : lo;
}
int iq4_nearest(float v)
{
    float q;
    return iq4_nearest_q(v, q);
}

// quantize.c's iq4_fit: the best scale of the 32 weights x[off..) for the table
float iq4_fit(uint off)
{
    float amax;
    const precise float m = extreme(off, 32u, amax);
    if (amax < EPS) return 0.0;
    precise float best = 0.0, d = 0.0;
    for (int t = -8; t <= 7; t++) { // -8: d = -m / table[0]; then 15 scales around it
        const precise float id = t == -8 ? -float(iq4_table[0]) / m : (float(t) + float(iq4_table[0])) / m;
        precise float sumqx = 0.0, sumq2 = 0.0;
        for (uint j = 0u; j < 32u; j++) {
            float q;
            iq4_nearest_q(id * x[off + j], q);
            const precise float wj = x[off + j] * x[off + j];
            sumqx += wj * q * x[off + j];
            sumq2 += wj * q * q;
        }
        if (t == -8 || (sumq2 > 0.0 && sumqx * sumqx > best * sumq2)) {
            d = sumq2 > 0.0 ? sumqx / sumq2 : 0.0;
            best = d * sumqx;
        }
    }
    return d;
}
#endif

#if QTYPE == T_IQ4_NL
void quantize_block(uint o)
{
    const precise float d = f16_round(iq4_fit(0u)), id = d != 0.0 ? 1.0 / d : 0.0;
    put_f16(o, d);
    for (uint e = 0u; e < 32u; e++) put_nibble32(o + 2u, e, iq4_nearest(id * x[e]));
}
#endif

#if QTYPE == T_IQ4_XS
void quantize_block(uint o)
{
    precise float sc[8];
    precise float amax = 0.0, max_scale = 0.0;
    for (uint i = 0u; i < 8u; i++) {
        sc[i] = iq4_fit(32u * i);
        if (abs(sc[i]) > amax) {
            amax = abs(sc[i]);
            max_scale = sc[i];
        }
    }
    const precise float d = -max_scale / 32.0, id = d != 0.0 ? 1.0 / d : 0.0;
    put_f16(o, d);
    uint sh = 0u;
    for (uint i = 0u; i < 8u; i++) {
        int l = clampi(nearest(id * sc[i]), -32, 31);
        const precise float dl = f16_round(d) * float(l), idl = dl != 0.0 ? 1.0 / dl : 0.0;
        for (uint e = 0u; e < 32u; e++) put_nibble32(o + 8u + 16u * i, e, iq4_nearest(idl * x[32u * i + e]));
        l += 32;
        or8(o + 4u + i / 2u, uint(l & 0xf) << (4u * (i % 2u)));
        sh |= uint(l >> 4) << (2u * i);
    }
    or8(o + 2u, sh);
    or8(o + 3u, sh >> 8);
}
#endif

// ------------------------------------------------------------ K-quants

#if QTYPE == T_Q2_K || QTYPE == T_Q3_K
// 2-bit quants: weight k in bits 2j of byte 32n + l (n = k/128, j = (k%128)/32, l = k%32)
void put_2bit(uint qs)
{
    for (uint k = 0u; k < 256u; k++) or8(qs + 32u * (k / 128u) + k % 32u, (L[k] & 3u) << (2u * (k % 128u / 32u)));
}
#endif

#if QTYPE == T_Q2_K
void quantize_block(uint o)
{
    precise float sc[16], mins[16];
    precise float max_scale = 0.0, max_min = 0.0;
    for (uint k = 0u; k < 256u; k++) w[k] = abs(x[k]);
    for (uint j = 0u; j < 16u; j++) {
        float nm;
        sc[j] = fit_scale_min(16u * j, 3.0, -0.5, TENTH, 15, true, nm);
        mins[j] = nm;
    }
    for (uint j = 0u; j < 16u; j++) {
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    for (uint j = 0u; j < 16u; j++) {
        const int ls = max_scale > 0.0 ? nearest(15.0 / max_scale * sc[j]) : 0;
        const int lm = max_min > 0.0 ? nearest(15.0 / max_min * mins[j]) : 0;
        or8(o + j, uint(clampi(ls, 0, 15) | clampi(lm, 0, 15) << 4));
    }
    put_f16(o + 80u, max_scale > 0.0 ? max_scale / 15.0 : 0.0);
    put_f16(o + 82u, max_min > 0.0 ? max_min / 15.0 : 0.0);
    const precise float d = got_f16(o + 80u), dmin = got_f16(o + 82u);
    for (uint j = 0u; j < 16u; j++) {
        const precise float dl = d * float(get8(o + j) & 0xfu), ml = dmin * float(get8(o + j) >> 4);
        if (dl == 0.0) continue;
        for (uint l = 0u; l < 16u; l++) L[16u * j + l] = uint(clampi(nearest((x[16u * j + l] + ml) / dl), 0, 3));
    }
    put_2bit(o + 16u);
}
#endif

#if QTYPE == T_Q3_K
void quantize_block(uint o)
{
    precise float sc[16];
    precise float amax = 0.0, max_scale = 0.0;
    for (uint j = 0u; j < 16u; j++) {
        sc[j] = fit_scale_signed_iter(16u * j, 16u, 4);
        if (abs(sc[j]) > amax) {
            amax = abs(sc[j]);
            max_scale = sc[j];
        }
    }
    int ls[16];
    for (uint j = 0u; j < 16u; j++) ls[j] = 0;
    if (max_scale != 0.0) {
        const precise float iscale = -32.0 / max_scale;
        for (uint j = 0u; j < 16u; j++) ls[j] = clampi(nearest(iscale * sc[j]), -32, 31);
        put_f16(o + 108u, 1.0 / iscale);
    }
    for (uint i = 0u; i < 16u; i++) { // the inverse of quant.c's q3_k_scale
        const uint u = uint(ls[i] + 32);
        or8(o + 96u + i % 8u, (u & 0xfu) << (i < 8u ? 0u : 4u));
        or8(o + 96u + 8u + i % 4u, (u >> 4) << (2u * (i / 4u)));
    }
    const precise float d = got_f16(o + 108u);
    for (uint j = 0u; j < 16u; j++) {
        const precise float dl = d * float(ls[j]);
        if (dl == 0.0) continue;
        for (uint l = 0u; l < 16u; l++) L[16u * j + l] = uint(clampi(nearest(x[16u * j + l] / dl), -4, 3) + 4);
    }
    for (uint k = 0u; k < 256u; k++) // high bit: set when the quant is >= 0 (L >= 4)
        if (L[k] > 3u) {
            or8(o + k % 32u, 1u << (k / 32u));
            L[k] -= 4u;
        }
    put_2bit(o + 32u);
}
#endif

#if QTYPE == T_Q4_K || QTYPE == T_Q5_K
// eight sub-blocks of 32 with 6-bit scales and mins
void quantize_block(uint o)
{
    const int bits = QTYPE == T_Q4_K ? 4 : 5, nmax = (1 << bits) - 1;
    precise float sc[8], mins[8];
    precise float max_scale = 0.0, max_min = 0.0;
    for (uint j = 0u; j < 8u; j++) {
        precise float sum_x2 = 0.0;
        for (uint l = 0u; l < 32u; l++) sum_x2 += x[32u * j + l] * x[32u * j + l];
        const precise float av_x = sqrt(sum_x2 / 32.0);
        for (uint l = 0u; l < 32u; l++) w[32u * j + l] = av_x + abs(x[32u * j + l]);
    }
    for (uint j = 0u; j < 8u; j++) {
        float nm;
        if (bits == 4) sc[j] = fit_scale_min(32u * j, float(nmax), -1.0, TENTH, 20, false, nm);
        else sc[j] = fit_scale_min(32u * j, float(nmax), -0.5, TENTH, 15, false, nm);
        mins[j] = nm;
    }
    for (uint j = 0u; j < 8u; j++) {
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const precise float inv_scale = max_scale > 0.0 ? 63.0 / max_scale : 0.0;
    const precise float inv_min = max_min > 0.0 ? 63.0 / max_min : 0.0;
    int ls[8], lm[8];
    const uint s = o + 4u;
    for (uint i = 0u; i < 8u; i++) { // the inverse of quant.c's k4_scale_min
        ls[i] = clampi(nearest(inv_scale * sc[i]), 0, 63);
        lm[i] = clampi(nearest(inv_min * mins[i]), 0, 63);
        if (i < 4u) {
            or8(s + i, uint(ls[i]));
            or8(s + i + 4u, uint(lm[i]));
        } else {
            or8(s + i + 4u, uint((ls[i] & 0xf) | (lm[i] & 0xf) << 4));
            or8(s + i - 4u, uint(ls[i] >> 4) << 6);
            or8(s + i, uint(lm[i] >> 4) << 6);
        }
    }
    put_f16(o, max_scale / 63.0);
    put_f16(o + 2u, max_min / 63.0);
    const precise float d = got_f16(o), dmin = got_f16(o + 2u);
    for (uint j = 0u; j < 8u; j++) {
        const precise float dl = d * float(ls[j]), ml = dmin * float(lm[j]);
        if (dl == 0.0) continue;
        for (uint l = 0u; l < 32u; l++) L[32u * j + l] = uint(clampi(nearest((x[32u * j + l] + ml) / dl), 0, nmax));
    }
    const uint qh = o + 16u, qs = o + (bits == 4 ? 16u : 48u);
    for (uint k = 0u; k < 256u; k++) {
        const uint i = k / 32u, l = k % 32u;
        or8(qs + 32u * (i / 2u) + l, (L[k] & 0xfu) << (i % 2u != 0u ? 4u : 0u));
        if (bits == 5) or8(qh + l, (L[k] >> 4 & 1u) << i);
    }
}
#endif

#if QTYPE == T_Q6_K
void quantize_block(uint o)
{
    precise float sc[16];
    precise float amax = 0.0, max_scale = 0.0;
    for (uint j = 0u; j < 16u; j++) sc[j] = fit_scale_signed(16u * j, 32);
    for (uint j = 0u; j < 16u; j++)
        if (abs(sc[j]) > amax) {
            amax = abs(sc[j]);
            max_scale = sc[j];
        }
    if (amax < EPS) return; // all zeros
    const precise float iscale = -128.0 / max_scale;
    put_f16(o + 208u, 1.0 / iscale);
    const precise float d = got_f16(o + 208u);
    for (uint j = 0u; j < 16u; j++) {
        const int s = clampi(nearest(iscale * sc[j]), -128, 127);
        or8(o + 192u + j, uint(s));
        const precise float dl = d * float(s);
        if (dl == 0.0) continue;
        for (uint l = 0u; l < 16u; l++) L[16u * j + l] = uint(clampi(nearest(x[16u * j + l] / dl), -32, 31) + 32);
    }
    for (uint k = 0u; k < 256u; k++) { // the inverse of quant.c's deq_q6_k
        const uint n = k / 128u, j = k % 128u / 32u, l = k % 32u;
        or8(o + 64u * n + l + 32u * (j % 2u), (L[k] & 0xfu) << (j < 2u ? 0u : 4u));
        or8(o + 128u + 32u * n + l, (L[k] >> 4) << (2u * j));
    }
}
#endif

// ------------------------------------------------------------ main

// x = block b's weights (b counted from the dispatch's first); false if
// one is NaN or Inf. A block's elements start on a texel (rows of whole
// 32-element blocks): read as whole texels, the fast way on lavapipe.
bool load_block(uint b)
{
    bool finite = true;
    const uint e0 = pc.src_elem + b * uint(BLOCK);
    if (pc.src_dtype == QUANTIZE_SRC_F32) {
        for (uint t = 0u; t < uint(BLOCK) / 4u; t++) {
            const uvec4 v = texelFetch(src_tex, int((e0 >> 2) + t));
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                finite = finite && (v[j] & 0x7f800000u) != 0x7f800000u;
                x[4u * t + j] = uintBitsToFloat(v[j]);
            }
        }
    } else {
        const bool bf16 = pc.src_dtype == QUANTIZE_SRC_BF16;
        for (uint t = 0u; t < uint(BLOCK) / 8u; t++) {
            const uvec4 v = texelFetch(src_tex, int((e0 >> 3) + t));
            [[unroll]] for (uint j = 0u; j < 8u; j++) {
                const uint h = (v[j >> 1] >> (16u * (j & 1u))) & 0xffffu;
                finite = finite && (h & (bf16 ? 0x7f80u : 0x7c00u)) != (bf16 ? 0x7f80u : 0x7c00u);
                x[8u * t + j] = bf16 ? uintBitsToFloat(h << 16) : h2f(h);
            }
        }
    }
    return finite;
}

void main()
{
    const uint inv = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    const uint b0 = inv * uint(PAIR);
    if (b0 >= pc.n_blocks) return;
    [[unroll]] for (uint k = 0u; k < uint(OUT_WORDS); k++) ob[k] = 0u;
    uint bad_row = 0xffffffffu;
#if BLOCK == 32
    [[unroll]] // constant output offsets for the small blocks
#endif
    for (uint p = 0u; p < uint(PAIR); p++) {
        const uint b = b0 + p;
        if (b >= pc.n_blocks) break; // the tensor's last block alone: the rest of its word is padding, zeros
        if (!load_block(b)) bad_row = min(bad_row, pc.row0 + b / pc.blocks_per_row);
        quantize_block(p * uint(BLOCK_BYTES));
    }
    [[unroll]] for (uint k = 0u; k < uint(OUT_WORDS); k++) dst[pc.dst_word + inv * uint(OUT_WORDS) + k] = ob[k];
    if (bad_row != 0xffffffffu) atomicMin(status[0], bad_row);
}
