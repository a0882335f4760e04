#version 450
// Matrix-matrix product on tensor cores (NVIDIA, VK_NV_cooperative_matrix):
//   y[m][row_offset + n] (+)= sum_k w[n][k] * x[m][k]
//   w: fp16 [n_rows][K] (one chunk of the weight), x: fp32 [M][K],
//   y: fp32 [M][y_stride].
//
// A workgroup of 4 subgroups computes a 64 x 64 tile of y (64 of x's rows,
// 64 of w's rows); each subgroup a 32 x 32 quarter as 2 x 2 fragments of
// 16 x 16, walking K in slices of 16 staged in shared memory as fp16.
// Tensor cores take fp16 inputs; to keep x's fp32 precision it is split as
// x = hi + lo with hi = half(x), lo = half(x - hi) (together about 22 bits)
// and both halves are multiplied: y = w hi + w lo, accumulated in fp32.
// Out-of-range rows and k are staged as 0; the result goes through shared
// memory so that edge tiles store only their valid elements.
// Needs 16 x 16 x 16 fp16 x fp16 + fp32 matrices at subgroup scope, K % 8 == 0
// (16-byte weight loads), and a subgroup size of 32.
// QTYPE (a ggml block type id, shaders/quant.glsl; K % 32 == 0): w holds
//   blocks of that type, [n_rows][K / QK] (one chunk), read as 32-bit words;
//   K slices of 32, the w slice staged by decoding one 32-weight unit per
//   row (dequant32: the exact fp32 weights). The weights then have more bits
//   than fp16: they are split like x (w = hi + lo) and y = w_hi x_hi +
//   w_hi x_lo + w_lo x_hi, so the sums keep the fp16 kernel's precision.
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common.glsl"
#define PUSH_MATMUL
#include "push.h"

layout(local_size_x = 128) in;
layout(constant_id = MATMUL_SPEC_ACC) const uint ACC = 0; // 1: y += the product (a fused residual add)

#if defined(QTYPE)
layout(std430, binding = MATMUL_BIND_W) readonly buffer WQ { uint wq[]; };
#define QWORD(i) wq[i]
#include "quant.glsl"
const uint BK = 32;
#else
layout(std430, binding = MATMUL_BIND_W) readonly buffer W { uvec4 w[]; };
const uint BK = 16;
#endif
layout(std430, binding = MATMUL_BIND_X) readonly buffer X { vec4 x[]; };
layout(std430, binding = MATMUL_BIND_Y) buffer Y { float y[]; };

const uint BM = 64, BN = 64;
shared float16_t xs_hi[BM * BK]; // [BM][BK], row-major: x[m0 + r][k0 + c]
shared float16_t xs_lo[BM * BK];
shared float16_t ws[BN * BK];    // [BN][BK]: w[n0 + r][k0 + c], i.e. B = w^T column-major
#if defined(QTYPE)
shared float16_t ws_lo[BN * BK]; // w - ws: the decoded weights' low bits
#endif
shared float cs[BM * BN];        // [BM][BN]: the tile of y

void main()
{
    const uint tiles_n = (pc.n_rows + BN - 1) / BN;
    const uint tiles_m = (pc.M + BM - 1) / BM;
    const uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (t >= tiles_n * tiles_m) return; // uniform per workgroup (spilled tail)
    const uint n0 = (t % tiles_n) * BN, m0 = (t / tiles_n) * BM;
    const uint tid = gl_LocalInvocationID.x;
    const uint sg = tid / 32; // subgroup: quarter (sm, sn) of the tile
    const uint sm = (sg / 2) * 32, sn = (sg % 2) * 32;
    const uint K8 = pc.K / 8, K4 = pc.K / 4;

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][2];
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // ---- stage: w as fp16 (two 16-byte loads per row), x split into hi + lo
#if defined(QTYPE)
        if (tid < BN) { // one 32-weight unit per row
            const uint r = tid, n = n0 + r, k32 = k0 / 32u, row_bytes = pc.K / QK * QBYTES;
            float wv[32];
            if (n < pc.n_rows) dequant32(n * row_bytes + (k32 / (QK / 32u)) * QBYTES, k32 % (QK / 32u), wv);
            else for (uint e = 0u; e < 32u; e++) wv[e] = 0.0;
            for (uint e = 0u; e < 32u; e++) {
                const float16_t hi = float16_t(wv[e]);
                ws[r * BK + e] = hi;
                ws_lo[r * BK + e] = float16_t(wv[e] - float(hi));
            }
        }
#else
        {
            const uint r = tid / 2, q = tid % 2; // 128 invocations: 64 rows x 2 halves of 8
            const uint n = n0 + r, k8 = k0 / 8 + q;
            uvec4 h = uvec4(0);
            if (n < pc.n_rows && k8 < K8) h = w[n * K8 + k8];
            const uint b = r * BK + q * 8;
            ws[b + 0] = float16_t(unpackHalf2x16(h.x).x); ws[b + 1] = float16_t(unpackHalf2x16(h.x).y);
            ws[b + 2] = float16_t(unpackHalf2x16(h.y).x); ws[b + 3] = float16_t(unpackHalf2x16(h.y).y);
            ws[b + 4] = float16_t(unpackHalf2x16(h.z).x); ws[b + 5] = float16_t(unpackHalf2x16(h.z).y);
            ws[b + 6] = float16_t(unpackHalf2x16(h.w).x); ws[b + 7] = float16_t(unpackHalf2x16(h.w).y);
        }
#endif
        for (uint i = tid; i < BM * (BK / 4); i += 128) {
            const uint r = i / (BK / 4), q = i % (BK / 4);
            const uint m = m0 + r, k4 = k0 / 4 + q;
            const vec4 v = (m < pc.M && k4 < K4) ? x[m * K4 + k4] : vec4(0.0);
            for (uint e = 0; e < 4; e++) {
                const float16_t hi = float16_t(v[e]);
                xs_hi[r * BK + q * 4 + e] = hi;
                xs_lo[r * BK + q * 4 + e] = float16_t(v[e] - float(hi));
            }
        }
        barrier(); // staged tiles written -> loaded into fragments below

        for (uint kk = 0; kk < BK; kk += 16) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a_hi[2], a_lo[2], b[2];
            for (uint i = 0; i < 2; i++) {
                coopMatLoadNV(a_hi[i], xs_hi, (sm + 16 * i) * BK + kk, BK, false);
                coopMatLoadNV(a_lo[i], xs_lo, (sm + 16 * i) * BK + kk, BK, false);
            }
            for (uint j = 0; j < 2; j++) coopMatLoadNV(b[j], ws, (sn + 16 * j) * BK + kk, BK, true);
            for (uint i = 0; i < 2; i++)
                for (uint j = 0; j < 2; j++) {
                    acc[i][j] = coopMatMulAddNV(a_hi[i], b[j], acc[i][j]);
                    acc[i][j] = coopMatMulAddNV(a_lo[i], b[j], acc[i][j]);
                }
#if defined(QTYPE)
            for (uint j = 0; j < 2; j++) coopMatLoadNV(b[j], ws_lo, (sn + 16 * j) * BK + kk, BK, true);
            for (uint i = 0; i < 2; i++)
                for (uint j = 0; j < 2; j++) acc[i][j] = coopMatMulAddNV(a_hi[i], b[j], acc[i][j]);
#endif
        }
        barrier(); // fragments loaded -> the next slice may overwrite the tiles
    }

    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) coopMatStoreNV(acc[i][j], cs, (sm + 16 * i) * BN + sn + 16 * j, BN, false);
    barrier(); // the tile of y in shared memory -> stored below
    for (uint i = tid; i < BM * BN; i += 128) {
        const uint r = i / BN, c = i % BN, m = m0 + r, n = n0 + c;
        if (m < pc.M && n < pc.n_rows) {
            const uint yi = m * pc.y_stride + pc.row_offset + n;
            y[yi] = ACC != 0 ? y[yi] + cs[i] : cs[i];
        }
    }
}
