#version 450
// Matrix-matrix product (prefill): y[m][row_offset + n] = sum_k w[n][k] * x[m][k]
//   w: fp16 [n_rows][K] (one chunk of the weight), x: fp32 [M][K],
//   y: fp32 [M][y_stride].
//
// Tiled: a workgroup computes a BM x BN tile of y (BM of x's rows, BN of
// w's rows). It walks K in slices of BK; each slice of x and w is staged in
// shared memory as float in its global layout (k contiguous, rows padded by
// one vec4 so that rows fall in different banks), then each invocation
// accumulates a TM x TN register block in fp32 with vec4 dot products along k.
// An invocation's outputs are interleaved (m = tm + i * BM/TM,
// n = tn + j * BN/TN), so neighbouring invocations read neighbouring rows and
// write neighbouring columns of y. Out-of-range rows and k are staged as 0 and
// never stored, so any M, N, K works.
// WG must equal (BM / TM) * (BN / TN) and BK % 8 == 0; the op guarantees it.
//
// VEC == 8: K % 8 == 0; w staged from uvec4 loads (8 halves), x from vec4.
// VEC == 1: any K; w read as 32-bit words, one half each (rows may start
//           mid-word), x as float.
// Halves are converted to float on load (unpackHalf2x16): no fp16 arithmetic.
// QTYPE (a ggml block type id, shaders/quant.glsl; K % 32 == 0, BK % 32 == 0):
//   w holds blocks of that type, [n_rows][K / QK] (one chunk), read as 32-bit
//   words. The w slice is staged by decoding it: each of BN * BK / 32
//   invocations decodes one 32-weight unit (dequant32, the decode kernel's
//   exact fp32 values) straight into shared memory, so a weight is decoded
//   once per BM rows of x; x and the tile loop are VEC 8's.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_MATMUL
#include "push.h"

#ifndef VEC
#define VEC 8
#endif

layout(local_size_x_id = MATMUL_SPEC_WG) in;
layout(constant_id = MATMUL_SPEC_WG) const uint WG = 128; // (BM / TM) * (BN / TN)
layout(constant_id = MATMUL_SPEC_BM) const uint BM = 32;  // tile rows of x / y
layout(constant_id = MATMUL_SPEC_BN) const uint BN = 64;  // tile rows of w (columns of y)
layout(constant_id = MATMUL_SPEC_BK) const uint BK = 16;  // k slice staged per step
layout(constant_id = MATMUL_SPEC_TM) const uint TM = 4;   // register block per invocation
layout(constant_id = MATMUL_SPEC_TN) const uint TN = 4;
layout(constant_id = MATMUL_SPEC_ACC) const uint ACC = 0;  // 1: y += the product (a fused residual add)

#if defined(QTYPE)
layout(std430, binding = MATMUL_BIND_W) readonly buffer WQ { uint wq[]; };
#define QWORD(i) wq[i]
#include "quant.glsl"
layout(std430, binding = MATMUL_BIND_X) readonly buffer X { vec4 x[]; };
#elif VEC == 8
layout(std430, binding = MATMUL_BIND_W) readonly buffer W { uvec4 w[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer X { vec4 x[]; };
#else
layout(std430, binding = MATMUL_BIND_W) readonly buffer W { uint w[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer X { float x[]; };
#endif
layout(std430, binding = MATMUL_BIND_Y) buffer Y { float y[]; };

const uint LD = BK / 4 + 1; // vec4s per staged row (one of padding)
shared vec4 xs[BM * LD];    // [BM][BK / 4 (+1)]: x[m0 + r][k0 + 4 q ..]
shared vec4 ws[BN * LD];    // [BN][BK / 4 (+1)]: w[n0 + r][k0 + 4 q ..]

const uint NTM = BM / TM; // invocations along m
const uint NTN = BN / TN; // invocations along n

void main()
{
    const uint tiles_n = (pc.n_rows + BN - 1) / BN;
    const uint tiles_m = (pc.M + BM - 1) / BM;
    const uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (t >= tiles_n * tiles_m) return; // uniform per workgroup (spilled tail)
    // consecutive workgroups share x's tile and walk along w
    const uint n0 = (t % tiles_n) * BN, m0 = (t / tiles_n) * BM;
    const uint tid = gl_LocalInvocationID.x;
    const uint tn = tid % NTN, tm = tid / NTN;

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // ---- stage w[n0 .. n0+BN)[k0 .. k0+BK) and x[m0 .. m0+BM)[k0 .. k0+BK)
#if defined(QTYPE)
        const uint K4 = pc.K / 4, U = pc.K / 32u, row_bytes = pc.K / QK * QBYTES;
        for (uint i = tid; i < BN * (BK / 32u); i += WG) {
            const uint r = i / (BK / 32u), q = i % (BK / 32u);
            const uint n = n0 + r, k32 = k0 / 32u + q; // the unit: weights 32 k32 .. + 31 of row n
            if (n < pc.n_rows && k32 < U) {
                float wv[32];
                dequant32(n * row_bytes + (k32 / (QK / 32u)) * QBYTES, k32 % (QK / 32u), wv);
                for (uint e = 0u; e < 8u; e++)
                    ws[r * LD + 8u * q + e] = vec4(wv[4u * e], wv[4u * e + 1u], wv[4u * e + 2u], wv[4u * e + 3u]);
            } else {
                for (uint e = 0u; e < 8u; e++) ws[r * LD + 8u * q + e] = vec4(0.0);
            }
        }
        for (uint i = tid; i < BM * (BK / 4); i += WG) {
            const uint r = i / (BK / 4), q = i % (BK / 4);
            const uint m = m0 + r, k4 = k0 / 4 + q;
            xs[r * LD + q] = (m < pc.M && k4 < K4) ? x[m * K4 + k4] : vec4(0.0);
        }
#elif VEC == 8
        const uint K8 = pc.K / 8, K4 = pc.K / 4;
        for (uint i = tid; i < BN * (BK / 8); i += WG) {
            const uint r = i / (BK / 8), q = i % (BK / 8);
            const uint n = n0 + r, k8 = k0 / 8 + q;
            uvec4 h = uvec4(0);
            if (n < pc.n_rows && k8 < K8) h = w[n * K8 + k8];
            ws[r * LD + 2 * q] = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
            ws[r * LD + 2 * q + 1] = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
        }
        for (uint i = tid; i < BM * (BK / 4); i += WG) {
            const uint r = i / (BK / 4), q = i % (BK / 4);
            const uint m = m0 + r, k4 = k0 / 4 + q;
            xs[r * LD + q] = (m < pc.M && k4 < K4) ? x[m * K4 + k4] : vec4(0.0);
        }
#else
        for (uint i = tid; i < BN * BK; i += WG) {
            const uint r = i / BK, kk = i % BK;
            const uint n = n0 + r, k = k0 + kk;
            float v = 0.0;
            if (n < pc.n_rows && k < pc.K) {
                const uint idx = n * pc.K + k; // half index in the chunk
                const vec2 h = unpackHalf2x16(w[idx >> 1]);
                v = (idx & 1u) != 0u ? h.y : h.x;
            }
            ws[r * LD + kk / 4][kk % 4] = v;
        }
        for (uint i = tid; i < BM * BK; i += WG) {
            const uint r = i / BK, kk = i % BK;
            const uint m = m0 + r, k = k0 + kk;
            xs[r * LD + kk / 4][kk % 4] = (m < pc.M && k < pc.K) ? x[m * pc.K + k] : 0.0;
        }
#endif
        barrier(); // staged tiles written -> read by every invocation below

        for (uint q = 0; q < BK / 4; q++) {
            vec4 a[TM], b[TN];
            for (uint i = 0; i < TM; i++) a[i] = xs[(tm + i * NTM) * LD + q];
            for (uint j = 0; j < TN; j++) b[j] = ws[(tn + j * NTN) * LD + q];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i * TN + j] += dot(a[i], b[j]);
        }
        barrier(); // every invocation done reading the tiles -> next slice may overwrite
    }

    for (uint i = 0; i < TM; i++) {
        const uint m = m0 + tm + i * NTM;
        if (m >= pc.M) break;
        for (uint j = 0; j < TN; j++) {
            const uint n = n0 + tn + j * NTN;
            if (n < pc.n_rows) {
                const uint yi = m * pc.y_stride + pc.row_offset + n;
                y[yi] = ACC != 0 ? y[yi] + acc[i * TN + j] : acc[i * TN + j];
            }
        }
    }
}
