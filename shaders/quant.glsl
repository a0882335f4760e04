// ggml's quantized weight blocks, decoded in registers (included by the
// kernels that read quantized weights; written from the block layouts, it
// shares nothing with the CPU reference dequantizer src/model/quant.c).
//
// The includer defines
//   QTYPE       the ggml type id (QTYPE_Q4_0, ... below), the variant's -D,
//   QWORD(i)    the i-th little-endian 32-bit word of the weight binding,
//   QTEXEL(t)   optional: the t-th 16-byte texel (uvec4) of a texel-buffer
//               binding; the wide code areas are then read a texel at a time
//               (on CPU devices each fetch is a gather, so fewer is faster),
// and gets
//   QK, QBYTES  weights and bytes per block,
//   dequant32(b, u, w)  the 32 weights of unit u of the block at byte b: a
//               block of 32 is one unit (u = 0), a super-block of 256 has
//               eight (u = 0..7, weights 32u .. 32u + 31).
//   qdot32(b, u, x, xh) the dot product of those 32 weights with x[32]
//               (x[i / 4][i % 4]), xh the sums of x's two halves: for the
//               matrix-vector kernels. It factors the block's scales out
//               (d * sum(c x) - m * sum(x), per 16 or 32 weights) and works
//               on the packed codes a word (4 weights) at a time, so each
//               weight costs an extract, a conversion and a multiply-add;
//               the rounding then differs from dequant32's (fp32 sums in
//               another order), within the products' fp32 accumulation bound.
// Blocks may start at any even byte (18-, 22-, 34-, 110- and 210-byte
// blocks), so 32-bit fields are read from two words when they straddle.
// Every product is `precise` (no fused multiply-add), so each weight equals
// the reference's fp32 value exactly.
#define QTYPE_Q4_0 2
#define QTYPE_Q4_1 3
#define QTYPE_Q5_0 6
#define QTYPE_Q5_1 7
#define QTYPE_Q8_0 8
#define QTYPE_Q2_K 10
#define QTYPE_Q3_K 11
#define QTYPE_Q4_K 12
#define QTYPE_Q5_K 13
#define QTYPE_Q6_K 14
#define QTYPE_IQ4_NL 20
#define QTYPE_IQ4_XS 23

// the 32 bits at even byte offset o
uint q32(uint o)
{
    const uint i = o >> 2;
    if ((o & 2u) == 0u) return QWORD(i);
    return (QWORD(i) >> 16) | (QWORD(i + 1u) << 16);
}
// the 16 bits at even byte offset o
uint q16(uint o) { return (QWORD(o >> 2) >> ((o & 2u) * 8u)) & 0xffffu; }
// the byte at offset o
uint q8(uint o) { return (QWORD(o >> 2) >> ((o & 3u) * 8u)) & 0xffu; }

// fp16 bits -> float, exact (subnormals included)
float qhalf(uint h)
{
    const uint sign = (h & 0x8000u) << 16, em = h & 0x7fffu;
    if (em >= 0x7c00u) return uintBitsToFloat(sign | 0x7f800000u | ((em & 0x3ffu) << 13));
    if (em >= 0x0400u) return uintBitsToFloat(sign | ((em << 13) + 0x38000000u));
    if (em == 0u) return uintBitsToFloat(sign);
    const int msb = findMSB(em);
    return uintBitsToFloat(sign | (uint(msb + 103) << 23) | ((em << (23 - msb)) & 0x7fffffu));
}

// n (4 or 8) consecutive 32-bit values from even byte offset o
void qwords(uint o, uint n, out uint w[8])
{
#ifdef QTEXEL
    // the texels the bytes lie in (at most three; each past the first only
    // when the bytes reach it), then a barrel shift by the offset within the first
    // texel in three stages (8, 4, 2 bytes) with constant indices, so no
    // array is indexed by a lane's value (llvmpipe: a select ladder or a
    // scratch gather per word)
    const uint t0 = o >> 4, a = o & 15u, last = (o + 4u * n - 1u) >> 4;
    uint h[12];
    const uvec4 x0 = QTEXEL(t0), x1 = last > t0 ? QTEXEL(t0 + 1u) : uvec4(0u);
    const uvec4 x2 = last > t0 + 1u ? QTEXEL(t0 + 2u) : uvec4(0u);
    h[0] = x0.x, h[1] = x0.y, h[2] = x0.z, h[3] = x0.w;
    h[4] = x1.x, h[5] = x1.y, h[6] = x1.z, h[7] = x1.w;
    h[8] = x2.x, h[9] = x2.y, h[10] = x2.z, h[11] = x2.w;
    uint g[10], f[9];
    const bool s8 = (a & 8u) != 0u, s4 = (a & 4u) != 0u, s2 = (a & 2u) != 0u;
    for (uint j = 0u; j < 10u; j++) g[j] = s8 ? h[j + 2u] : h[j];
    for (uint j = 0u; j < 9u; j++) f[j] = s4 ? g[j + 1u] : g[j];
    for (uint j = 0u; j < 8u; j++) {
        if (j >= n) break;
        w[j] = s2 ? (f[j] >> 16) | (f[j + 1u] << 16) : f[j];
    }
#else
    for (uint j = 0u; j < 8u; j++) {
        if (j >= n) break;
        w[j] = q32(o + 4u * j);
    }
#endif
}

// 16 bytes of 4-bit codes at o (even): code e of 32 is the low nibble of
// byte e (e < 16) or the high nibble of byte e - 16
void nibbles32(uint o, out uint c[32])
{
    uint wv[8];
    qwords(o, 4u, wv);
    for (uint j = 0u; j < 4u; j++) {
        const uint v = wv[j];
        for (uint k = 0u; k < 4u; k++) {
            c[4u * j + k] = (v >> (8u * k)) & 0xfu;
            c[16u + 4u * j + k] = (v >> (8u * k + 4u)) & 0xfu;
        }
    }
}

#if QTYPE == QTYPE_IQ4_NL || QTYPE == QTYPE_IQ4_XS
// the IQ4 code book
const float IQ4_VALUES[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                       1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
#endif

#if QTYPE == QTYPE_Q8_0
// d (fp16) @0, int8 q[32] @2; w = q * d
const uint QK = 32u, QBYTES = 34u;
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b));
    uint wv[8];
    qwords(b + 2u, 8u, wv);
    for (uint j = 0u; j < 8u; j++) {
        const int v = int(wv[j]);
        for (uint k = 0u; k < 4u; k++) {
            precise float p = float(bitfieldExtract(v, int(8u * k), 8)) * d;
            w[4u * j + k] = p;
        }
    }
}
#elif QTYPE == QTYPE_Q4_0 || QTYPE == QTYPE_IQ4_NL
// d @0, 4-bit codes @2; Q4_0: w = (c - 8) * d; IQ4_NL: w = d * IQ4_VALUES[c]
const uint QK = 32u, QBYTES = 18u;
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b));
    uint c[32];
    nibbles32(b + 2u, c);
    for (uint e = 0u; e < 32u; e++) {
#if QTYPE == QTYPE_Q4_0
        precise float p = float(int(c[e]) - 8) * d;
#else
        precise float p = d * IQ4_VALUES[c[e]];
#endif
        w[e] = p;
    }
}
#elif QTYPE == QTYPE_Q4_1
// d @0, m @2, codes @4; w = c * d + m
const uint QK = 32u, QBYTES = 20u;
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b)), m = qhalf(q16(b + 2u));
    uint c[32];
    nibbles32(b + 4u, c);
    for (uint e = 0u; e < 32u; e++) {
        precise float p = float(c[e]) * d;
        precise float s = p + m;
        w[e] = s;
    }
}
#elif QTYPE == QTYPE_Q5_0 || QTYPE == QTYPE_Q5_1
// Q5_0: d @0, fifth bits @2 (bit e: code e), codes @6; w = (c - 16) * d
// Q5_1: d @0, m @2, fifth bits @4, codes @8; w = c * d + m
const uint QK = 32u;
#if QTYPE == QTYPE_Q5_0
const uint QBYTES = 22u, QH = 2u, QS = 6u;
#else
const uint QBYTES = 24u, QH = 4u, QS = 8u;
#endif
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b));
#if QTYPE == QTYPE_Q5_1
    const float m = qhalf(q16(b + 2u));
#endif
    const uint qh = q32(b + QH);
    uint c[32];
    nibbles32(b + QS, c);
    for (uint e = 0u; e < 32u; e++) {
        const uint code = c[e] | (((qh >> e) & 1u) << 4);
#if QTYPE == QTYPE_Q5_0
        precise float p = float(int(code) - 16) * d;
        w[e] = p;
#else
        precise float p = float(code) * d;
        precise float s = p + m;
        w[e] = s;
#endif
    }
}
#elif QTYPE == QTYPE_Q2_K
// scales[16] @0 (low nibble: scale, high: min, per 16 weights), 2-bit codes
// [64] @16, d @80, dmin @82. Unit u: half n = u / 4 reads code bytes
// 32n .. 32n + 31 at bits 2 (u % 4); sub-blocks 2u and 2u + 1.
// w = d * sc * c - dmin * mn
const uint QK = 256u, QBYTES = 84u;
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b + 80u)), dmin = qhalf(q16(b + 82u));
    const uint n = u / 4u, shift = 2u * (u % 4u);
    uint qv[8];
    qwords(b + 16u + 32u * n, 8u, qv);
    for (uint half_ = 0u; half_ < 2u; half_++) {
        const uint sc = q8(b + 2u * u + half_);
        precise float dl = d * float(sc & 0xfu);
        precise float ml = dmin * float(sc >> 4);
        for (uint j = 0u; j < 4u; j++) {
            const uint v = qv[4u * half_ + j];
            for (uint k = 0u; k < 4u; k++) {
                precise float p = dl * float((v >> (8u * k + shift)) & 3u);
                precise float s = p - ml;
                w[16u * half_ + 4u * j + k] = s;
            }
        }
    }
}
#elif QTYPE == QTYPE_Q3_K
// high-bit plane hmask[32] @0, 2-bit codes [64] @32, 16 6-bit scales in
// 12 bytes @96, d @108. Unit u as Q2_K; the high bit of weight l of the
// unit is bit u of hmask[l], and a clear high bit subtracts 4. Scale i:
// low 4 bits from byte i % 8 (low nibble for i < 8, high for i >= 8), high
// 2 bits from byte 8 + i % 4 at bit 2 (i / 4), stored + 32.
// w = d * (scale - 32) * (c - 4 * !hbit)
const uint QK = 256u, QBYTES = 110u;
int q3_scale(uint b, uint i)
{
    const uint lo = (q8(b + 96u + i % 8u) >> (i < 8u ? 0u : 4u)) & 0xfu;
    const uint hi = (q8(b + 104u + i % 4u) >> (2u * (i / 4u))) & 3u;
    return int(lo | (hi << 4)) - 32;
}
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b + 108u));
    const uint n = u / 4u, shift = 2u * (u % 4u);
    uint qv[8], hv[8];
    qwords(b + 32u + 32u * n, 8u, qv);
    qwords(b, 8u, hv);
    for (uint half_ = 0u; half_ < 2u; half_++) {
        precise float dl = d * float(q3_scale(b, 2u * u + half_));
        for (uint j = 0u; j < 4u; j++) {
            const uint v = qv[4u * half_ + j], hm = hv[4u * half_ + j];
            for (uint k = 0u; k < 4u; k++) {
                int c = int((v >> (8u * k + shift)) & 3u);
                if (((hm >> (8u * k + u)) & 1u) == 0u) c -= 4;
                precise float p = dl * float(c);
                w[16u * half_ + 4u * j + k] = p;
            }
        }
    }
}
#elif QTYPE == QTYPE_Q4_K || QTYPE == QTYPE_Q5_K
// d @0, dmin @2, eight (6-bit scale, 6-bit min) in 12 bytes @4;
// Q5_K: fifth-bit plane [32] @16 (bit u of byte l); codes [128] @16 (Q4_K)
// or @48 (Q5_K): unit u reads bytes 32 (u / 2) .. + 31, low nibbles for even
// u, high for odd. Sub-block i < 4: scale = byte i & 63, min = byte i + 4 &
// 63; i >= 4: the nibbles of byte i + 4 (scale low, min high) with the top
// 2 bits of bytes i - 4 (scale) and i (min).
// w = d * scale * c - dmin * min
const uint QK = 256u;
#if QTYPE == QTYPE_Q4_K
const uint QBYTES = 144u, QS = 16u;
#else
const uint QBYTES = 176u, QS = 48u;
#endif
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b)), dmin = qhalf(q16(b + 2u));
    uint sc, mn;
    if (u < 4u) {
        sc = q8(b + 4u + u) & 63u;
        mn = q8(b + 8u + u) & 63u;
    } else {
        const uint x = q8(b + 8u + u);
        sc = (x & 0xfu) | ((q8(b + u) >> 6) << 4);
        mn = (x >> 4) | ((q8(b + 4u + u) >> 6) << 4);
    }
    precise float dl = d * float(sc);
    precise float ml = dmin * float(mn);
    const uint shift = (u % 2u) * 4u;
    uint qv[8];
    qwords(b + QS + 32u * (u / 2u), 8u, qv);
#if QTYPE == QTYPE_Q5_K
    uint hv[8];
    qwords(b + 16u, 8u, hv);
#endif
    for (uint j = 0u; j < 8u; j++) {
        const uint v = qv[j];
#if QTYPE == QTYPE_Q5_K
        const uint h = hv[j];
#endif
        for (uint k = 0u; k < 4u; k++) {
            uint c = (v >> (8u * k + shift)) & 0xfu;
#if QTYPE == QTYPE_Q5_K
            c += ((h >> (8u * k + u)) & 1u) << 4;
#endif
            precise float p = dl * float(c);
            precise float s = p - ml;
            w[4u * j + k] = s;
        }
    }
}
#elif QTYPE == QTYPE_Q6_K
// low nibbles ql[128] @0, high 2-bit pairs qh[64] @128, int8 scales[16]
// @192, d @208. Unit u: half n = u / 4, quarter j = u % 4: the low nibble
// (j < 2) or high nibble (j >= 2) of ql[64n + 32 (j % 2) + l], the bits
// 2j..2j+1 of qh[32n + l]; scales 8n + 2j and + 1. w = d * sc * (c - 32)
const uint QK = 256u, QBYTES = 210u;
void dequant32(uint b, uint u, out float w[32])
{
    uint sw[8]; // the 16 int8 scales
    qwords(b + 192u, 4u, sw);
    const float d = qhalf(q16(b + 208u));
    const uint n = u / 4u, j = u % 4u;
    const uint lshift = j < 2u ? 0u : 4u, hshift = 2u * j;
    uint lv[8], hv[8];
    qwords(b + 64u * n + 32u * (j % 2u), 8u, lv);
    qwords(b + 128u + 32u * n, 8u, hv);
    for (uint half_ = 0u; half_ < 2u; half_++) {
        const uint si = 8u * n + 2u * j + half_;
        const int sc = bitfieldExtract(int(sw[si >> 2]), int(8u * (si & 3u)), 8);
        precise float ds = d * float(sc);
        for (uint i = 0u; i < 4u; i++) {
            const uint l = 16u * half_ + 4u * i;
            const uint lo = lv[l / 4u], hi = hv[l / 4u];
            for (uint k = 0u; k < 4u; k++) {
                const uint c = ((lo >> (8u * k + lshift)) & 0xfu) | (((hi >> (8u * k + hshift)) & 3u) << 4);
                precise float p = ds * float(int(c) - 32);
                w[l + k] = p;
            }
        }
    }
}
#elif QTYPE == QTYPE_IQ4_XS
// d @0, scales_h (16 bits: 2 per sub-block) @2, scales_l[4] (a nibble per
// sub-block) @4, codes [128] @8: unit u is an IQ4_NL block at 8 + 16u with
// scale d * (ls - 32), ls = nibble u of scales_l | 2 bits u of scales_h << 4
const uint QK = 256u, QBYTES = 136u;
void dequant32(uint b, uint u, out float w[32])
{
    const float d = qhalf(q16(b));
    const uint ls = ((q8(b + 4u + u / 2u) >> (4u * (u % 2u))) & 0xfu) | (((q16(b + 2u) >> (2u * u)) & 3u) << 4);
    precise float dl = d * float(int(ls) - 32);
    uint c[32];
    nibbles32(b + 8u + 16u * u, c);
    for (uint e = 0u; e < 32u; e++) {
        precise float p = dl * IQ4_VALUES[c[e]];
        w[e] = p;
    }
}
#else
#error "unknown QTYPE"
#endif

// the four bytes of v (each < 2^24 / 4) as floats, dotted with x
float qdot4(uint v, vec4 x)
{
    return dot(vec4(uvec4(v & 0xffu, (v >> 8) & 0xffu, (v >> 16) & 0xffu, v >> 24)), x);
}
// the same for signed bytes
float qdot4s(uint v, vec4 x)
{
    const int i = int(v);
    return dot(vec4(ivec4(i << 24, i << 16, i << 8, i) >> 24), x);
}
// a nibble of 4 bits spread to the low bit of each byte: bit k -> bit 8k
uint qspread4(uint n) { return (n | (n << 7) | (n << 14) | (n << 21)) & 0x01010101u; }

float qdot32(uint b, uint u, vec4 x[8], vec2 xh)
{
#if QTYPE == QTYPE_Q8_0
    const float d = qhalf(q16(b));
    uint wv[8];
    qwords(b + 2u, 8u, wv);
    float s = 0.0;
    for (uint j = 0u; j < 8u; j++) s += qdot4s(wv[j], x[j]);
    return d * s;
#elif QTYPE == QTYPE_Q4_0 || QTYPE == QTYPE_Q4_1 || QTYPE == QTYPE_Q5_0 || QTYPE == QTYPE_Q5_1
#if QTYPE == QTYPE_Q4_0
    const uint QS = 2u;
#elif QTYPE == QTYPE_Q4_1
    const uint QS = 4u;
#else
    const uint qh = q32(b + QH);
#endif
    uint wv[8];
    qwords(b + QS, 4u, wv);
    float s = 0.0;
    for (uint j = 0u; j < 4u; j++) {
        uint lo = wv[j] & 0x0f0f0f0fu, hi = (wv[j] >> 4) & 0x0f0f0f0fu;
#if QTYPE == QTYPE_Q5_0 || QTYPE == QTYPE_Q5_1
        lo |= qspread4((qh >> (4u * j)) & 0xfu) << 4;
        hi |= qspread4((qh >> (16u + 4u * j)) & 0xfu) << 4;
#endif
        s += qdot4(lo, x[j]) + qdot4(hi, x[4u + j]);
    }
    const float d = qhalf(q16(b));
#if QTYPE == QTYPE_Q4_0
    return d * (s - 8.0 * (xh.x + xh.y));
#elif QTYPE == QTYPE_Q5_0
    return d * (s - 16.0 * (xh.x + xh.y));
#else
    return d * s + qhalf(q16(b + 2u)) * (xh.x + xh.y);
#endif
#elif QTYPE == QTYPE_Q4_K || QTYPE == QTYPE_Q5_K
    // the header (d, dmin, the 12 bytes of scales) is the block's first
    // 16 bytes: blocks of 144 and 176 bytes start on 16-byte boundaries
#ifdef QTEXEL
    const uvec4 h = QTEXEL(b >> 4);
#else
    const uvec4 h = uvec4(QWORD(b >> 2), QWORD((b >> 2) + 1u), QWORD((b >> 2) + 2u), QWORD((b >> 2) + 3u));
#endif
    const uint s4 = 8u * (u & 3u), A = h.y >> s4, B = h.z >> s4, C = h.w >> s4;
    const uint sc = u < 4u ? A & 63u : (C & 0xfu) | (((A >> 6) & 3u) << 4);
    const uint mn = u < 4u ? B & 63u : ((C >> 4) & 0xfu) | (((B >> 6) & 3u) << 4);
    const uint shift = (u & 1u) * 4u;
    uint qv[8];
    qwords(b + QS + 32u * (u / 2u), 8u, qv);
#if QTYPE == QTYPE_Q5_K
    uint hv[8];
    qwords(b + 16u, 8u, hv);
#endif
    float s = 0.0;
    for (uint j = 0u; j < 8u; j++) {
        uint c = (qv[j] >> shift) & 0x0f0f0f0fu;
#if QTYPE == QTYPE_Q5_K
        c |= ((hv[j] >> u) & 0x01010101u) << 4;
#endif
        s += qdot4(c, x[j]);
    }
    return qhalf(h.x & 0xffffu) * float(sc) * s - qhalf(h.x >> 16) * float(mn) * (xh.x + xh.y);
#elif QTYPE == QTYPE_Q6_K
    const uint n = u / 4u, j = u % 4u;
    const uint lshift = j < 2u ? 0u : 4u, hshift = 2u * j;
    uint lv[8], hv[8];
    qwords(b + 64u * n + 32u * (j % 2u), 8u, lv);
    qwords(b + 128u + 32u * n, 8u, hv);
    vec2 s = vec2(0.0);
    for (uint i = 0u; i < 8u; i++) {
        const uint c = ((lv[i] >> lshift) & 0x0f0f0f0fu) | (((hv[i] >> hshift) & 0x03030303u) << 4);
        s[i / 4u] += qdot4(c, x[i]);
    }
    // the unit's two int8 scales: bytes 8n + 2j and + 1 of the 16 at 192
    const uint si = 8u * n + 2u * j, sw = q16(b + 192u + si);
    const float d = qhalf(q16(b + 208u));
    const float s0 = float(bitfieldExtract(int(sw), 0, 8)), s1 = float(bitfieldExtract(int(sw), 8, 8));
    return d * (s0 * (s.x - 32.0 * xh.x) + s1 * (s.y - 32.0 * xh.y));
#elif QTYPE == QTYPE_Q2_K || QTYPE == QTYPE_Q3_K
    const uint n = u / 4u, shift = 2u * (u % 4u);
#if QTYPE == QTYPE_Q2_K
    const uint QC = 16u;
#else
    const uint QC = 32u;
    uint hm[8];
    qwords(b, 8u, hm);
#endif
    uint qv[8];
    qwords(b + QC + 32u * n, 8u, qv);
    vec2 s = vec2(0.0);
    for (uint i = 0u; i < 8u; i++) {
        uint c = (qv[i] >> shift) & 0x03030303u;
#if QTYPE == QTYPE_Q3_K
        c |= ((hm[i] >> u) & 0x01010101u) << 2; // c + 4 hbit; then - 4 for every weight
#endif
        s[i / 4u] += qdot4(c, x[i]);
    }
#if QTYPE == QTYPE_Q2_K
    const float d = qhalf(q16(b + 80u)), dmin = qhalf(q16(b + 82u));
    const uint sc = q16(b + 2u * u);
    return d * (float(sc & 0xfu) * s.x + float((sc >> 8) & 0xfu) * s.y) -
           dmin * (float((sc >> 4) & 0xfu) * xh.x + float((sc >> 12) & 0xfu) * xh.y);
#else
    const float d = qhalf(q16(b + 108u));
    return d * (float(q3_scale(b, 2u * u)) * (s.x - 4.0 * xh.x) + float(q3_scale(b, 2u * u + 1u)) * (s.y - 4.0 * xh.y));
#endif
#else
    // the code book types: the weights, then their dot product
    float w[32];
    dequant32(b, u, w);
    float s = 0.0;
    for (uint i = 0u; i < 8u; i++) s += dot(vec4(w[4u * i], w[4u * i + 1u], w[4u * i + 2u], w[4u * i + 3u]), x[i]);
    return s;
#endif
}
