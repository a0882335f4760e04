#version 450
// Tensor-core matrix-matrix product, pipelined: the product, tiles, x split
// and edge handling of matmul_coopmat.comp (64 x 64 tiles of y, 4
// subgroups of 2 x 2 16x16 fragments, x = hi + lo in fp16), with two
// changes aimed at keeping the tensor cores fed:
//   - K slices of BK (spec constant 16, 32 or 64; one barrier pair per
//     slice, BK / 16 fragment steps between them), and
//   - the next slice's global loads issued into registers before this
//     slice's multiplies, so their latency overlaps tensor-core work.
// Weights are staged as fp16 bit copies (unpackFloat2x16, no conversion).
// Chosen over matmul_coopmat only where it passes the same check against
// the reference and times faster on the model's weights (src/ops/matmul.c).
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common.glsl"
#define PUSH_MATMUL
#include "push.h"

layout(local_size_x = 128) in;
layout(constant_id = MATMUL_SPEC_ACC) const uint ACC = 0; // 1: y += the product (a fused residual add)
layout(constant_id = MATMUL_SPEC_TC_BK) const uint BK = 32; // k per slice: 16, 32 or 64

layout(std430, binding = MATMUL_BIND_W) readonly buffer W { uvec4 w[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer X { vec4 x[]; };
layout(std430, binding = MATMUL_BIND_Y) buffer Y { float y[]; };

const uint BM = 64, BN = 64, WG = 128;
const uint W_PER = BN * BK / 8 / WG; // uvec4 of w each invocation loads per slice
const uint X_PER = BM * BK / 4 / WG; // vec4 of x each invocation loads per slice
shared float16_t xs_hi[BM * BK]; // [BM][BK]: x[m0 + r][k0 + c]
shared float16_t xs_lo[BM * BK];
shared float16_t ws[BN * BK];    // [BN][BK]: w[n0 + r][k0 + c], i.e. B = w^T column-major
shared float cs[BM * BN];        // [BM][BN]: the tile of y

uvec4 w_reg[W_PER]; // the slice in flight
vec4 x_reg[X_PER];

// global -> registers: slice k0 of the tile (n0, m0); 0 outside the matrices
void load_slice(uint k0, uint n0, uint m0)
{
    const uint tid = gl_LocalInvocationID.x, K8 = pc.K / 8, K4 = pc.K / 4;
    for (uint j = 0; j < W_PER; j++) {
        const uint i = tid + j * WG, r = i / (BK / 8), q = i % (BK / 8);
        const uint n = n0 + r, k8 = k0 / 8 + q;
        w_reg[j] = (n < pc.n_rows && k8 < K8) ? w[n * K8 + k8] : uvec4(0);
    }
    for (uint j = 0; j < X_PER; j++) {
        const uint i = tid + j * WG, r = i / (BK / 4), q = i % (BK / 4);
        const uint m = m0 + r, k4 = k0 / 4 + q;
        x_reg[j] = (m < pc.M && k4 < K4) ? x[m * K4 + k4] : vec4(0.0);
    }
}

// registers -> shared: w as its fp16 bits, x split into hi + lo
void stage_slice()
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint j = 0; j < W_PER; j++) {
        const uint i = tid + j * WG, b = (i / (BK / 8)) * BK + (i % (BK / 8)) * 8;
        const uvec4 h = w_reg[j];
        const f16vec2 p0 = unpackFloat2x16(h.x), p1 = unpackFloat2x16(h.y);
        const f16vec2 p2 = unpackFloat2x16(h.z), p3 = unpackFloat2x16(h.w);
        ws[b + 0] = p0.x; ws[b + 1] = p0.y; ws[b + 2] = p1.x; ws[b + 3] = p1.y;
        ws[b + 4] = p2.x; ws[b + 5] = p2.y; ws[b + 6] = p3.x; ws[b + 7] = p3.y;
    }
    for (uint j = 0; j < X_PER; j++) {
        const uint i = tid + j * WG, b = (i / (BK / 4)) * BK + (i % (BK / 4)) * 4;
        for (uint e = 0; e < 4; e++) {
            const float v = x_reg[j][e];
            const float16_t hi = float16_t(v);
            xs_hi[b + e] = hi;
            xs_lo[b + e] = float16_t(v - float(hi));
        }
    }
}

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

    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][2];
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    load_slice(0, n0, m0);
    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        stage_slice();
        barrier(); // staged slice written -> loaded into fragments below
        if (k0 + BK < pc.K) load_slice(k0 + BK, n0, m0); // in flight during the multiplies
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
        }
        barrier(); // fragments loaded -> the next slice may overwrite the tiles
    }

    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++) coopMatStoreNV(acc[i][j], cs, (sm + 16 * i) * BN + sn + 16 * j, BN, false);
    barrier(); // the tile of y in shared memory -> stored below
    for (uint i = tid; i < BM * BN; i += WG) {
        const uint r = i / BN, c = i % BN, m = m0 + r, n = n0 + c;
        if (m < pc.M && n < pc.n_rows) {
            const uint yi = m * pc.y_stride + pc.row_offset + n;
            y[yi] = ACC != 0 ? y[yi] + cs[i] : cs[i];
        }
    }
}
