/* The reference dequantizer: see quant.h. One function per block type, each
 * computing weight k of a block from the bytes that hold it. */
#include "model/quant.h"

#include "util/half.h"

static const quant_type quant_types[] = {
    { QTYPE_Q4_0, "Q4_0", 32, 18 },      { QTYPE_Q4_1, "Q4_1", 32, 20 },   { QTYPE_Q5_0, "Q5_0", 32, 22 },
    { QTYPE_Q5_1, "Q5_1", 32, 24 },      { QTYPE_Q8_0, "Q8_0", 32, 34 },   { QTYPE_Q2_K, "Q2_K", 256, 84 },
    { QTYPE_Q3_K, "Q3_K", 256, 110 },    { QTYPE_Q4_K, "Q4_K", 256, 144 }, { QTYPE_Q5_K, "Q5_K", 256, 176 },
    { QTYPE_Q6_K, "Q6_K", 256, 210 },    { QTYPE_IQ4_NL, "IQ4_NL", 32, 18 },
    { QTYPE_IQ4_XS, "IQ4_XS", 256, 136 },
};

const quant_type *quant_type_of(uint32_t id)
{
    for (unsigned i = 0; i < sizeof quant_types / sizeof quant_types[0]; i++)
        if (quant_types[i].id == id) return &quant_types[i];
    return 0;
}

uint64_t quant_bytes(const quant_type *t, uint64_t n_weights)
{
    if (n_weights % t->block) return 0;
    return n_weights / t->block * t->block_bytes;
}

/* little-endian fields at byte offset o */
static float f16_at(const uint8_t *b, unsigned o) { return half_to_float((uint16_t)(b[o] | b[o + 1] << 8)); }
static uint32_t u32_at(const uint8_t *b, unsigned o)
{
    return (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 | (uint32_t)b[o + 3] << 24;
}

/* 4-bit quant e (0..31) of a 32-weight block whose 16 bytes start at qs:
 * weights 0..15 in the low nibbles, 16..31 in the high nibbles. */
static int nibble32(const uint8_t *qs, unsigned e) { return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4; }

/* ---------------------------------------------------------------- blocks of 32 */

/* Q8_0: d @0, int8 q[32] @2 */
static void deq_q8_0(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0);
    for (unsigned e = 0; e < 32; e++) y[e] = (float)(int8_t)b[2 + e] * d;
}

/* Q4_0: d @0, nibbles @2 */
static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0);
    for (unsigned e = 0; e < 32; e++) y[e] = (float)(nibble32(b + 2, e) - 8) * d;
}

/* Q4_1: d @0, m @2, nibbles @4 */
static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0), m = f16_at(b, 2);
    for (unsigned e = 0; e < 32; e++) y[e] = (float)nibble32(b + 4, e) * d + m;
}

/* Q5_0: d @0, fifth bits (u32, bit e for weight e) @2, nibbles @6 */
static void deq_q5_0(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0);
    uint32_t qh = u32_at(b, 2);
    for (unsigned e = 0; e < 32; e++) {
        int q = nibble32(b + 6, e) | (int)((qh >> e) & 1) << 4;
        y[e] = (float)(q - 16) * d;
    }
}

/* Q5_1: d @0, m @2, fifth bits @4, nibbles @8 */
static void deq_q5_1(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0), m = f16_at(b, 2);
    uint32_t qh = u32_at(b, 4);
    for (unsigned e = 0; e < 32; e++) {
        int q = nibble32(b + 8, e) | (int)((qh >> e) & 1) << 4;
        y[e] = (float)q * d + m;
    }
}

/* IQ4_NL and IQ4_XS: a 4-bit index into this non-uniform table (ggml's
 * kvalues_iq4nl, part of the format's definition). */
static const int8_t iq4_table[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

/* IQ4_NL: d @0, nibbles @2 */
static void deq_iq4_nl(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0);
    for (unsigned e = 0; e < 32; e++) y[e] = d * (float)iq4_table[nibble32(b + 2, e)];
}

/* ---------------------------------------------------------------- super-blocks of 256 */

/* Q2_K: scales[16] @0 (low nibble scale, high nibble min, per 16 weights),
 * q[64] @16, d @80, dmin @82. Weight k: half n = k/128 uses q bytes
 * 32n..32n+31; within the half, j = (k%128)/32 picks bits 2j..2j+1 of byte
 * l = k%32; sub-block 8n + 2j + l/16. */
static void deq_q2_k(const uint8_t *b, float *y)
{
    float d = f16_at(b, 80), dmin = f16_at(b, 82);
    for (unsigned k = 0; k < 256; k++) {
        unsigned n = k / 128, j = k % 128 / 32, l = k % 32;
        uint8_t sc = b[8 * n + 2 * j + l / 16];
        int q = b[16 + 32 * n + l] >> (2 * j) & 3;
        float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
        y[k] = dl * (float)q - ml;
    }
}

/* Q3_K: high-bit plane hmask[32] @0, low 2 bits q[64] @32, 16 6-bit scales
 * @96 (12 bytes), d @108. Quant bits as Q2_K; the high bit of weight k is
 * bit 4n + j of hmask[l]; a clear high bit subtracts 4 (q in -4..3).
 * Scale i: low 4 bits in the low (i < 8) or high (i >= 8) nibble of byte
 * i % 8, high 2 bits at bit 2*(i/4) of byte 8 + i % 4; stored +32. */
static int q3_k_scale(const uint8_t *s, unsigned i)
{
    int lo = i < 8 ? s[i] & 0xF : s[i - 8] >> 4;
    int hi = s[8 + i % 4] >> (2 * (i / 4)) & 3;
    return (lo | hi << 4) - 32;
}

static void deq_q3_k(const uint8_t *b, float *y)
{
    float d = f16_at(b, 108);
    for (unsigned k = 0; k < 256; k++) {
        unsigned n = k / 128, j = k % 128 / 32, l = k % 32;
        int q = b[32 + 32 * n + l] >> (2 * j) & 3;
        if (!(b[l] >> (4 * n + j) & 1)) q -= 4;
        float dl = d * (float)q3_k_scale(b + 96, 8 * n + 2 * j + l / 16);
        y[k] = dl * (float)q;
    }
}

/* Q4_K and Q5_K: eight sub-blocks of 32, each a 6-bit scale and a 6-bit min
 * packed in 12 bytes: sub-block i < 4 in the low 6 bits of bytes i (scale)
 * and i + 4 (min); i >= 4 in the nibbles of byte i + 4 (low: scale, high:
 * min) with their top 2 bits in the top bits of bytes i - 4 (scale) and i
 * (min). */
static void k4_scale_min(const uint8_t *s, unsigned i, int *sc, int *m)
{
    if (i < 4) {
        *sc = s[i] & 63;
        *m = s[i + 4] & 63;
    } else {
        *sc = (s[i + 4] & 0xF) | (s[i - 4] >> 6) << 4;
        *m = (s[i + 4] >> 4) | (s[i] >> 6) << 4;
    }
}

/* Q4_K: d @0, dmin @2, scales @4, q[128] @16. Weight k: sub-block i = k/32;
 * its nibbles are the low (i even) or high (i odd) halves of bytes
 * 32*(i/2) .. +31. Q5_K: the same with a high-bit plane qh[32] @16 and q
 * @48: bit i of qh[l] is the fifth bit (16). */
static void deq_qx_k(const uint8_t *b, float *y, int bits)
{
    float d = f16_at(b, 0), dmin = f16_at(b, 2);
    const uint8_t *qs = b + (bits == 5 ? 48 : 16);
    for (unsigned k = 0; k < 256; k++) {
        unsigned i = k / 32, l = k % 32;
        int sc, m;
        k4_scale_min(b + 4, i, &sc, &m);
        uint8_t byte = qs[32 * (i / 2) + l];
        int q = i % 2 ? byte >> 4 : byte & 0xF;
        if (bits == 5) q += (b[16 + l] >> i & 1) * 16;
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        y[k] = d1 * (float)q - m1;
    }
}
static void deq_q4_k(const uint8_t *b, float *y) { deq_qx_k(b, y, 4); }
static void deq_q5_k(const uint8_t *b, float *y) { deq_qx_k(b, y, 5); }

/* Q6_K: low nibbles ql[128] @0, high pairs qh[64] @128, int8 scales[16]
 * @192 (one per 16 weights), d @208. Weight k: half n = k/128, quarter
 * j = (k%128)/32, l = k%32: low nibble of ql[64n + l + 32*(j%2)] (j < 2) or
 * its high nibble (j >= 2), high 2 bits at bit 2j of qh[32n + l]; scale
 * 8n + 2j + l/16; q - 32 in -32..31. */
static void deq_q6_k(const uint8_t *b, float *y)
{
    float d = f16_at(b, 208);
    for (unsigned k = 0; k < 256; k++) {
        unsigned n = k / 128, j = k % 128 / 32, l = k % 32;
        uint8_t lo = b[64 * n + l + 32 * (j % 2)];
        int q = (j < 2 ? lo & 0xF : lo >> 4) | (b[128 + 32 * n + l] >> (2 * j) & 3) << 4;
        int8_t sc = (int8_t)b[192 + 8 * n + 2 * j + l / 16];
        y[k] = d * (float)sc * (float)(q - 32);
    }
}

/* IQ4_XS: d @0, scales_h (u16: 2 high bits per sub-block) @2, scales_l[4]
 * (a nibble per sub-block) @4, indices[128] @8; eight sub-blocks of 32,
 * each like an IQ4_NL block with scale d * (ls - 32). */
static void deq_iq4_xs(const uint8_t *b, float *y)
{
    float d = f16_at(b, 0);
    unsigned sh = (unsigned)(b[2] | b[3] << 8);
    for (unsigned k = 0; k < 256; k++) {
        unsigned i = k / 32;
        int ls = (b[4 + i / 2] >> (4 * (i % 2)) & 0xF) | (int)(sh >> (2 * i) & 3) << 4;
        float dl = d * (float)(ls - 32);
        y[k] = dl * (float)iq4_table[nibble32(b + 8 + 16 * i, k % 32)];
    }
}

void quant_dequantize(const quant_type *t, const void *src, float *dst, uint64_t n_blocks)
{
    void (*one)(const uint8_t *, float *) = 0;
    switch (t->id) {
    case QTYPE_Q4_0: one = deq_q4_0; break;
    case QTYPE_Q4_1: one = deq_q4_1; break;
    case QTYPE_Q5_0: one = deq_q5_0; break;
    case QTYPE_Q5_1: one = deq_q5_1; break;
    case QTYPE_Q8_0: one = deq_q8_0; break;
    case QTYPE_Q2_K: one = deq_q2_k; break;
    case QTYPE_Q3_K: one = deq_q3_k; break;
    case QTYPE_Q4_K: one = deq_q4_k; break;
    case QTYPE_Q5_K: one = deq_q5_k; break;
    case QTYPE_Q6_K: one = deq_q6_k; break;
    case QTYPE_IQ4_NL: one = deq_iq4_nl; break;
    case QTYPE_IQ4_XS: one = deq_iq4_xs; break;
    default: return;
    }
    const uint8_t *b = src;
    for (uint64_t i = 0; i < n_blocks; i++) one(b + i * t->block_bytes, dst + i * t->block);
}
