#version 450
// Quantized weight rows -> fp16 rows (prefill on devices where decoding the
// whole matrix once and running the fp16 kernels on it is faster than
// decoding in the matrix kernels, see src/ops/matmul.c):
//   out[r][k] = half(w[row_begin + r][k]) for r < n_rows, k < K
//   w: blocks of QTYPE, [rows][K / QK] (one chunk of the weight),
//   out: fp16 [n_rows][K] (the scratch).
// One invocation per 32-weight unit: dequant32 (shaders/quant.glsl, the
// decode kernels' exact fp32 values), rounded to fp16 to nearest even
// (f32_bits_to_f16, exact on every device), stored as four uvec4.
// TEXEL: w bound as a uniform texel buffer (CPU devices: vector gathers).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_DEQUANT
#include "push.h"

layout(local_size_x_id = DEQUANT_SPEC_WG) in;
layout(constant_id = DEQUANT_SPEC_WG) const uint WG = 64;

#if defined(TEXEL)
layout(binding = DEQUANT_BIND_W) uniform usamplerBuffer w_tex;
#define QWORD(i) texelFetch(w_tex, int((i) >> 2))[(i) & 3u]
#define QTEXEL(t) texelFetch(w_tex, int(t))
#else
layout(std430, binding = DEQUANT_BIND_W) readonly buffer WQ { uint wq[]; };
#define QWORD(i) wq[i]
#endif
#include "quant.glsl"
layout(std430, binding = DEQUANT_BIND_OUT) writeonly buffer O { uvec4 o[]; };

uint pack2(float a, float b) { return f32_bits_to_f16(floatBitsToUint(a)) | (f32_bits_to_f16(floatBitsToUint(b)) << 16); }

void main()
{
    const uint U = pc.K / 32u; // units per row
    const uint i = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    if (i >= pc.n_rows * U) return;
    const uint r = i / U, k32 = i % U;
    const uint row_bytes = pc.K / QK * QBYTES, UPB = QK / 32u;
    float wv[32];
    dequant32((pc.row_begin + r) * row_bytes + (k32 / UPB) * QBYTES, k32 % UPB, wv);
    const uint ob = (r * pc.K + 32u * k32) / 8u; // uvec4 (8 halves) index of the unit
    for (uint j = 0u; j < 4u; j++)
        o[ob + j] = uvec4(pack2(wv[8u * j], wv[8u * j + 1u]), pack2(wv[8u * j + 2u], wv[8u * j + 3u]),
                          pack2(wv[8u * j + 4u], wv[8u * j + 5u]), pack2(wv[8u * j + 6u], wv[8u * j + 7u]));
}
