#version 450
// Embedding lookup on one chunk of the table: out[i][c] = table[ids[i]][c]
// for the ids whose row lies in this chunk, rows [row_begin, row_end).
//   table: fp16 [row_end - row_begin][n_cols] (the chunk), ids: int32 [n_ids],
//   out: fp32 [n_ids][n_cols].
// Rows of other chunks, and ids outside every chunk (< 0 or >= n_rows), are
// skipped: their out rows are left untouched, and no address outside this
// chunk is ever formed. The op records one dispatch per chunk; they write
// disjoint rows of out.
// Invocations run over the flattened output, 8 elements each: when n_cols is a
// multiple of 8 each reads 8 halves in one 16-byte load and writes two
// 16-byte stores (lavapipe pays per access per lane, nearly whatever its
// width); otherwise 8 scalar elements, each finding its own row.
// fp16 -> fp32 is done on the bits, exact for every half (subnormals
// included, which a float conversion may flush).
// QTYPE (a ggml block type id, shaders/quant.glsl): the table holds blocks
// of that type, [rows][n_cols / QK]; each invocation decodes one 32-weight
// unit of one output row (n_cols % 32 == 0), exactly as the CPU reference.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_GET_ROWS
#include "push.h"

layout(local_size_x_id = GET_ROWS_SPEC_WG) in;
layout(constant_id = GET_ROWS_SPEC_WG) const uint WG = 128;

#ifdef QTYPE
layout(std430, binding = GET_ROWS_BIND_TABLE) readonly buffer TableQ { uint tableq[]; };
#define QWORD(i) tableq[i]
#include "quant.glsl"
#endif
layout(std430, binding = GET_ROWS_BIND_TABLE) readonly buffer Table { uint16_t table[]; };
layout(std430, binding = GET_ROWS_BIND_TABLE) readonly buffer Table8 { uvec4 table8[]; }; // 8 halves
layout(std430, binding = GET_ROWS_BIND_IDS) readonly buffer Ids { int ids[]; };
layout(std430, binding = GET_ROWS_BIND_OUT) writeonly buffer Out { uint outv[]; };  // fp32 bits
layout(std430, binding = GET_ROWS_BIND_OUT) writeonly buffer Out4 { uvec4 out4[]; };

// fp16 bits (low 16) -> fp32 bits, exact.
uint f16_to_f32_bits(uint h)
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
    return uvec4(f16_to_f32_bits(h.x & 0xffffu), f16_to_f32_bits(h.x >> 16),
                 f16_to_f32_bits(h.y & 0xffffu), f16_to_f32_bits(h.y >> 16));
}

void main()
{
    const uint q = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
#ifdef QTYPE
    const uint units = pc.n_cols / 32u;
    if (q >= pc.n_ids * units) return;
    const uint i = q / units, un = q - i * units;
    const uint row = uint(ids[i]);
    if (row < pc.row_begin || row >= pc.row_end) return;
    const uint row_bytes = pc.n_cols / QK * QBYTES;
    float w[32];
    dequant32((row - pc.row_begin) * row_bytes + (un / (QK / 32u)) * QBYTES, un % (QK / 32u), w);
    for (uint e = 0u; e < 32u; e++) outv[i * pc.n_cols + 32u * un + e] = floatBitsToUint(w[e]);
    return;
#endif
    if (pc.n_cols % 8 == 0) { // uniform branch
        const uint cols8 = pc.n_cols / 8;
        if (q >= pc.n_ids * cols8) return;
        const uint i = q / cols8, c8 = q - i * cols8;
        const uint row = uint(ids[i]); // negative ids become huge and are skipped
        if (row < pc.row_begin || row >= pc.row_end) return;
        const uvec4 h = table8[(row - pc.row_begin) * cols8 + c8];
        out4[2 * q] = cvt4(h.xy);
        out4[2 * q + 1] = cvt4(h.zw);
    } else {
        const uint total = pc.n_ids * pc.n_cols;
        for (uint e = 8 * q; e < 8 * q + 8 && e < total; e++) {
            const uint i = e / pc.n_cols, c = e - i * pc.n_cols;
            const uint row = uint(ids[i]);
            if (row >= pc.row_begin && row < pc.row_end)
                outv[e] = f16_to_f32_bits(uint(table[(row - pc.row_begin) * pc.n_cols + c]));
        }
    }
}
