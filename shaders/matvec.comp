#version 450
// Matrix-vector product (decode) and its few-column form (small batches):
//   y[m][row_offset + r] = sum_k w[r][k] * x[m][k]   (ACC: y += ..., the
//   residual add fused into the o and down projections)
//   w: fp16 [n_rows][K] (one chunk of the weight), x: fp32 [M][K],
//   y: fp32 [M][y_stride].
//
// A workgroup owns ROWS consecutive rows and NM consecutive columns m
// (starting at gl_WorkGroupID.z * NM). Each subgroup takes R rows at a time:
// its lanes stride over K, each lane multiplies each weight it loads with
// all NM x columns and each x load with all R rows, summing in fp32; then
// subgroupAdd reduces the lanes. No shared memory, no barriers: within a
// workgroup each weight byte is read once, by one lane.
//
// VEC == 8: K % 8 == 0; w read as uvec4 (8 halves, 16-byte loads), x as two
//           vec4. Every row then starts on a 16-byte boundary.
// TEXEL (with VEC == 8): w bound as a uniform texel buffer (CPU devices).
// GLU (with VEC == 8): a second weight (w_up) at binding 3 and
//   y = silu(w x) * (w_up x): SwiGLU's gate, up and product in one pass.
// NORM (spec constant, VEC == 8): x enters as RMSNorm(x) * g, g fp32 [K] at
//   binding 4: w (x g / rms(x)) = (w (x g)) / rms(x), so each lane sums x^2
//   beside its products, the subgroup reduces it with them, and the sums are
//   scaled at the end: the norm costs no pass, barrier or buffer of its own.
// VEC == 1: any K; rows may start mid-word, so w is read as 32-bit words and
//           each lane picks its half (idx & 1). x read as float.
// Halves are converted to float on load (unpackHalf2x16): no fp16 arithmetic.
// QTYPE (a ggml block type id, shaders/quant.glsl; K % 32 == 0): w holds
//   blocks of that type, [n_rows][K / QK] (one chunk), read as 32-bit words
//   (TEXEL: from uvec4 texels); each lane takes 32-weight units, decodes them
//   in registers (dequant32) and multiplies them with the unit's 32 x values,
//   loaded once for all R rows. GLU and NORM as for fp16: GLU's second
//   weight is read through the same decoder (qsel picks the binding).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_MATMUL
#include "push.h"

#ifndef VEC
#define VEC 8
#endif

layout(local_size_x_id = MATVEC_SPEC_WG) in;
layout(constant_id = MATVEC_SPEC_WG) const uint WG = 64;   // invocations per workgroup
layout(constant_id = MATVEC_SPEC_ROWS) const uint ROWS = 16; // rows per workgroup
layout(constant_id = MATVEC_SPEC_R) const uint R = 2;     // rows a subgroup works on at once
layout(constant_id = MATVEC_SPEC_NM) const uint NM = 1;    // columns of x (and y) per workgroup
layout(constant_id = MATVEC_SPEC_ACC) const uint ACC = 0;   // 1: y += the product (a fused residual add)
layout(constant_id = MATVEC_SPEC_NORM) const uint NORM = 0;  // 1: x is RMSNorm'd on the way in (g at MATVEC_BIND_NORM)

#if defined(QTYPE)
#if defined(TEXEL)
layout(binding = MATVEC_BIND_W) uniform usamplerBuffer w_tex;
#define W_WORD(i) texelFetch(w_tex, int((i) >> 2))[(i) & 3u]
#define W_TEXEL(t) texelFetch(w_tex, int(t))
#ifdef GLU
layout(binding = MATVEC_BIND_W2) uniform usamplerBuffer w2_tex;
#define W2_WORD(i) texelFetch(w2_tex, int((i) >> 2))[(i) & 3u]
#define W2_TEXEL(t) texelFetch(w2_tex, int(t))
#define QTEXEL(t) (qsel == 0u ? W_TEXEL(t) : W2_TEXEL(t))
#else
#define QTEXEL(t) W_TEXEL(t)
#endif
layout(binding = MATVEC_BIND_X) uniform usamplerBuffer x_tex; // fp32 bits
#define X4(i) uintBitsToFloat(texelFetch(x_tex, int(i)))
layout(binding = MATVEC_BIND_NORM) uniform usamplerBuffer g_tex;
#define G4(i) uintBitsToFloat(texelFetch(g_tex, int(i)))
#else
layout(std430, binding = MATVEC_BIND_W) readonly buffer WQ { uint wq[]; };
#define W_WORD(i) wq[i]
#ifdef GLU
layout(std430, binding = MATVEC_BIND_W2) readonly buffer WQ2 { uint wq2[]; };
#define W2_WORD(i) wq2[i]
#endif
layout(std430, binding = MATVEC_BIND_X) readonly buffer X { vec4 x[]; };
#define X4(i) x[i]
layout(std430, binding = MATVEC_BIND_NORM) readonly buffer G { vec4 g[]; };
#define G4(i) g[i]
#endif
uint qsel = 0u; // 0: w, 1: w2 (GLU's up weight)
#ifdef GLU
#define QWORD(i) (qsel == 0u ? W_WORD(i) : W2_WORD(i))
#else
#define QWORD(i) W_WORD(i)
#endif
#include "quant.glsl"
#elif VEC == 8 && defined(TEXEL)
// w as a uniform texel buffer of uvec4 texels: on llvmpipe a texel fetch is
// a vector gather, a storage-buffer load a per-lane loop with bounds checks
layout(binding = MATVEC_BIND_W) uniform usamplerBuffer w_tex;
#define W8(i) texelFetch(w_tex, int(i))
layout(binding = MATVEC_BIND_X) uniform usamplerBuffer x_tex; // fp32 bits
#define X4(i) uintBitsToFloat(texelFetch(x_tex, int(i)))
#elif VEC == 8
layout(std430, binding = MATVEC_BIND_W) readonly buffer W { uvec4 w[]; };
#define W8(i) w[i]
layout(std430, binding = MATVEC_BIND_X) readonly buffer X { vec4 x[]; };
#define X4(i) x[i]
#endif
#if defined(QTYPE)
#elif VEC == 8 && defined(TEXEL)
layout(binding = MATVEC_BIND_NORM) uniform usamplerBuffer g_tex; // fp32 bits
#define G4(i) uintBitsToFloat(texelFetch(g_tex, int(i)))
#elif VEC == 8
layout(std430, binding = MATVEC_BIND_NORM) readonly buffer G { vec4 g[]; };
#define G4(i) g[i]
#else
layout(std430, binding = MATVEC_BIND_W) readonly buffer W { uint w[]; };
layout(std430, binding = MATVEC_BIND_X) readonly buffer X { float x[]; };
#endif
layout(std430, binding = MATVEC_BIND_Y) buffer Y { float y[]; };

#ifdef GLU
// SwiGLU's first half in one pass: binding 3 holds w_up beside w_gate at
// binding 0; y = silu(w_gate x) * (w_up x). Every x load then serves both.
#if VEC != 8
#error "GLU needs VEC 8"
#endif
#if defined(QTYPE)
#elif defined(TEXEL)
layout(binding = MATVEC_BIND_W2) uniform usamplerBuffer w2_tex;
#define W2_8(i) texelFetch(w2_tex, int(i))
#else
layout(std430, binding = MATVEC_BIND_W2) readonly buffer W2 { uvec4 w2[]; };
#define W2_8(i) w2[i]
#endif
const uint NW = 2; // weight matrices
#else
const uint NW = 1;
#endif

// silu(g) = g * sigmoid(g) through t = exp(-|g|) (no overflow; as silu_mul.comp)
float silu(float g)
{
    const float t = exp(-abs(g));
    return g * (g >= 0.0 ? 1.0 : t) / (1.0 + t);
}

void main()
{
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint row0 = wg * ROWS;
    if (row0 >= pc.n_rows) return; // uniform per workgroup (spilled tail)
    const uint row_end = min(row0 + ROWS, pc.n_rows);
    const uint m0 = gl_WorkGroupID.z * NM;
    // lane index and lane count among the active invocations, so a partly
    // filled subgroup (workgroup size not a multiple of it) still covers all k
    const uint lane = subgroupExclusiveAdd(1u), n_lanes = subgroupAdd(1u);

    // the sums: [NW][R][NM] products, then (NORM) [NM] sums of x^2
    const uint N_PROD = NW * R * NM, N_SUMS = N_PROD + (NORM != 0 ? NM : 0);
    for (uint r0 = row0 + gl_SubgroupID * R; r0 < row_end; r0 += gl_NumSubgroups * R) {
        float acc[N_SUMS];
        for (uint i = 0; i < N_SUMS; i++) acc[i] = 0.0;
#if defined(QTYPE)
        const uint U = pc.K / 32u, K4 = pc.K / 4u;         // 32-weight units and vec4s per row
        const uint row_bytes = pc.K / QK * QBYTES, UPB = QK / 32u;
        for (uint k = lane; k < U; k += n_lanes) {
            vec4 xs[NM * 8u]; // the unit's 32 x values of each column
            for (uint c = 0; c < NM; c++) {
                const uint xb = min(m0 + c, pc.M - 1) * K4 + 8u * k;
                for (uint i = 0; i < 8u; i++) xs[c * 8u + i] = X4(xb + i);
            }
            if (NORM != 0) {
                for (uint i = 0; i < 8u; i++) {
                    const vec4 gi = G4(8u * k + i);
                    for (uint c = 0; c < NM; c++) {
                        acc[N_PROD + c] += dot(xs[c * 8u + i], xs[c * 8u + i]);
                        xs[c * 8u + i] *= gi;
                    }
                }
            }
            const uint boff = (k / UPB) * QBYTES, u = k % UPB;
            if (NM == 1) {
                // decode: the unit's dot product straight from the codes
                // (qdot32), with the sums of x's halves for the blocks'
                // offsets and mins
                vec4 xc[8];
                for (uint i = 0; i < 8u; i++) xc[i] = xs[i];
                const vec2 xh = vec2(dot(xs[0] + xs[1] + xs[2] + xs[3], vec4(1.0)),
                                     dot(xs[4] + xs[5] + xs[6] + xs[7], vec4(1.0)));
                for (uint j = 0; j < R; j++) {
                    if (r0 + j < row_end) { // uniform per subgroup
                        qsel = 0u;
                        acc[j] += qdot32((r0 + j) * row_bytes + boff, u, xc, xh);
#ifdef GLU
                        qsel = 1u;
                        acc[R + j] += qdot32((r0 + j) * row_bytes + boff, u, xc, xh);
#endif
                    }
                }
            } else {
            // several columns: the weights decoded once (dequant32), dotted with each
            for (uint j = 0; j < R; j++) {
                if (r0 + j < row_end) { // uniform per subgroup
                    float wv[32];
                    qsel = 0u;
                    dequant32((r0 + j) * row_bytes + boff, u, wv);
                    for (uint i = 0; i < 8u; i++) {
                        const vec4 w4 = vec4(wv[4u * i], wv[4u * i + 1u], wv[4u * i + 2u], wv[4u * i + 3u]);
                        for (uint c = 0; c < NM; c++) acc[j * NM + c] += dot(w4, xs[c * 8u + i]);
                    }
#ifdef GLU
                    qsel = 1u;
                    dequant32((r0 + j) * row_bytes + boff, u, wv);
                    for (uint i = 0; i < 8u; i++) {
                        const vec4 w4 = vec4(wv[4u * i], wv[4u * i + 1u], wv[4u * i + 2u], wv[4u * i + 3u]);
                        for (uint c = 0; c < NM; c++) acc[(R + j) * NM + c] += dot(w4, xs[c * 8u + i]);
                    }
#endif
                }
            }
            }
        }
#elif VEC == 8
        const uint K8 = pc.K / 8, K4 = pc.K / 4;
        for (uint k = lane; k < K8; k += n_lanes) {
            vec4 x0[NM], x1[NM];
            for (uint c = 0; c < NM; c++) {
                const uint xb = min(m0 + c, pc.M - 1) * K4; // columns past M: computed, not stored
                x0[c] = X4(xb + 2 * k);
                x1[c] = X4(xb + 2 * k + 1);
            }
            if (NORM != 0) {
                const vec4 g0 = G4(2 * k), g1 = G4(2 * k + 1);
                for (uint c = 0; c < NM; c++) {
                    acc[N_PROD + c] += dot(x0[c], x0[c]) + dot(x1[c], x1[c]);
                    x0[c] *= g0;
                    x1[c] *= g1;
                }
            }
            for (uint j = 0; j < R; j++) {
                if (r0 + j < row_end) { // uniform per subgroup
                    const uvec4 h = W8((r0 + j) * K8 + k);
                    const vec4 w0 = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
                    const vec4 w1 = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
                    for (uint c = 0; c < NM; c++) acc[j * NM + c] += dot(w0, x0[c]) + dot(w1, x1[c]);
#ifdef GLU
                    const uvec4 h2 = W2_8((r0 + j) * K8 + k);
                    const vec4 u0 = vec4(unpackHalf2x16(h2.x), unpackHalf2x16(h2.y));
                    const vec4 u1 = vec4(unpackHalf2x16(h2.z), unpackHalf2x16(h2.w));
                    for (uint c = 0; c < NM; c++) acc[(R + j) * NM + c] += dot(u0, x0[c]) + dot(u1, x1[c]);
#endif
                }
            }
        }
#else
        for (uint k = lane; k < pc.K; k += n_lanes) {
            float xv[NM];
            for (uint c = 0; c < NM; c++) xv[c] = x[min(m0 + c, pc.M - 1) * pc.K + k];
            for (uint j = 0; j < R; j++) {
                if (r0 + j < row_end) { // uniform per subgroup
                    const uint idx = (r0 + j) * pc.K + k; // half index in the chunk
                    const vec2 h = unpackHalf2x16(w[idx >> 1]);
                    const float wv = (idx & 1u) != 0u ? h.y : h.x;
                    for (uint c = 0; c < NM; c++) acc[j * NM + c] += wv * xv[c];
                }
            }
        }
#endif
        // reduce four sums per subgroup operation (a vec4 reduction costs
        // about as much as a scalar one on CPUs), then the rest one by one
        float sums[N_SUMS];
        uint i = 0;
        for (; i + 4 <= N_SUMS; i += 4) {
            const vec4 v4 = subgroupAdd(vec4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]));
            sums[i] = v4.x, sums[i + 1] = v4.y, sums[i + 2] = v4.z, sums[i + 3] = v4.w;
        }
        for (; i < N_SUMS; i++) sums[i] = subgroupAdd(acc[i]);
        if (subgroupElect())
            for (uint c = 0; c < NM; c++) {
                // the norm's 1 / rms(x), as rmsnorm.comp computes it
                const float inv = NORM != 0 ? inversesqrt(sums[N_PROD + c] / float(pc.K) + pc.eps) : 1.0;
                for (uint j = 0; j < R; j++)
                    if (r0 + j < row_end && m0 + c < pc.M) {
                        const uint yi = (m0 + c) * pc.y_stride + pc.row_offset + r0 + j;
#ifdef GLU
                        y[yi] = silu(sums[j * NM + c] * inv) * (sums[(R + j) * NM + c] * inv);
#else
                        const float v = sums[j * NM + c] * inv;
                        y[yi] = ACC != 0 ? y[yi] + v : v;
#endif
                    }
            }
    }
}
