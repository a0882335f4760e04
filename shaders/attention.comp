#version 450
// Attention for one layer, flash style (online softmax, no score matrix):
//   q: fp32 [n_q][n_head][head_dim]; k, v: fp16 [n_ctx][n_kv_head][head_dim]
//   out[i][h] = sum_j softmax_j(scale * q[i][h] . k[j][g]) v[j][g]
//   over cache positions j <= pos[i] (query i's position, from a device
//   buffer so that a recorded decode step serves every position), with
//   g = h / (n_head / n_kv_head).
//
// Work split:
//   * A "row" is one (query i, head h). The n_q * G rows of kv head g
//     (G = n_head / n_kv_head heads per kv head) are numbered t = i * G + hh
//     and cut into tiles of ROWS consecutive rows. Workgroup (tile, g) owns
//     one tile, so every K/V element it loads serves ROWS rows (the GQA heads
//     of one query, or several queries in prefill).
//   * Inside a row, the lanes of a subgroup split head_dim: lane l owns the
//     VEC-element chunks l, l + SG, l + 2 SG, ... (CPL of them at most), keeps
//     its slice of q and of the output accumulator in registers, and a
//     subgroupAdd finishes each dot product. Each K/V load is one VEC-wide
//     fp16 vector (uvec4 / uvec2 / uint), converted to fp32 on load: no
//     fp16 arithmetic.
//   * The subgroups of a workgroup (NSG at most) each take a contiguous slice
//     of the keys with their own running max / running sum, and combine
//     through shared memory at the end (one barrier). NSG = 1 (the choice
//     on CPUs) uses no shared memory and no barrier at all.
//   * Scores are kept in base 2 (q is pre-scaled by scale * log2(e)), so the
//     softmax uses exp2. Only keys 0 ..= (the tile's largest position) are
//     ever loaded; a row ignores keys past its own causal bound by a branch,
//     never by multiplying with 0, so stale cache contents cannot leak in.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_ATTENTION
#include "push.h"

// VEC: fp16 elements per K/V load, a compile-time variant (head_dim % VEC == 0).
#ifndef VEC
#define VEC 8
#endif
#if VEC == 8
#define KV_T uvec4
#define FV vec4
#define NF 2 // FV per chunk
#elif VEC == 4
#define KV_T uvec2
#define FV vec4
#define NF 1
#elif VEC == 2
#define KV_T uint
#define FV vec2
#define NF 1
#else
#error "VEC must be 8, 4 or 2"
#endif
#define FV_LEN (VEC / NF) // floats per FV

layout(local_size_x_id = ATTENTION_SPEC_WG) in;
layout(constant_id = ATTENTION_SPEC_WG) const uint WG = 8;    // a multiple of every subgroup size the device may use
layout(constant_id = ATTENTION_SPEC_ROWS) const uint ROWS = 4;  // rows per tile
layout(constant_id = ATTENTION_SPEC_CPL) const uint CPL = 2;   // chunks per lane, >= head_dim / (VEC * smallest subgroup size)
layout(constant_id = ATTENTION_SPEC_NSG) const uint NSG = 1;   // subgroups per workgroup, at most (WG / smallest subgroup size)
layout(constant_id = ATTENTION_SPEC_D_MAX) const uint D_MAX = 8; // >= head_dim; sizes the shared combine
layout(constant_id = ATTENTION_SPEC_SPLITS) const uint SPLITS = 1; // workgroups per row, each on a range of the keys (z)

const uint NQ = CPL * NF; // FV registers per lane per row

layout(std430, binding = ATTENTION_BIND_Q) readonly buffer Q { FV q[]; };
#ifdef TEXEL
// K/V as uniform texel buffers of uvec4 (VEC 8 only): on llvmpipe a texel
// fetch is a vector gather, a storage-buffer load a per-lane loop
#if VEC != 8
#error "TEXEL needs VEC 8"
#endif
layout(binding = ATTENTION_BIND_K) uniform usamplerBuffer k_tex;
layout(binding = ATTENTION_BIND_V) uniform usamplerBuffer v_tex;
#define K_AT(i) texelFetch(k_tex, int(i))
#define V_AT(i) texelFetch(v_tex, int(i))
#else
layout(std430, binding = ATTENTION_BIND_K) readonly buffer K { KV_T k[]; };
layout(std430, binding = ATTENTION_BIND_V) readonly buffer V { KV_T v[]; };
#define K_AT(i) k[i]
#define V_AT(i) v[i]
#endif
layout(std430, binding = ATTENTION_BIND_OUT) writeonly buffer O { FV o[]; };
layout(std430, binding = ATTENTION_BIND_POS) readonly buffer P { int pos[]; }; // [n_q]: position of each query
// SPLITS > 1: each workgroup writes its rows' partial (max, sum, unnormalised
// accumulator) here, [n_q * n_head][SPLITS][2 + head_dim], and
// attention_combine.comp merges them (flash-decoding)
layout(std430, binding = ATTENTION_BIND_PART) writeonly buffer Part { float part[]; };

// Per-subgroup partial results, combined after the key loop (NSG > 1 only).
shared float sh_m[NSG * ROWS];
shared float sh_l[NSG * ROWS];
shared float sh_acc[NSG * ROWS * D_MAX];

// Below any score, above -inf: exp2(NO_MAX - s) is 0 without inf - inf.
const float NO_MAX = -3.0e38;

void unpack_kv(KV_T u, out FV f[NF])
{
#if VEC == 8
    f[0] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    f[1] = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
#elif VEC == 4
    f[0] = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
#else
    f[0] = unpackHalf2x16(u);
#endif
}

void main()
{
    const uint G = pc.n_head / pc.n_kv_head;
    const uint n_rows = pc.n_q * G;
    // z: the key range (SPLITS > 1), or the spill of tiles past 65535
    const uint split = SPLITS > 1 ? gl_WorkGroupID.z : 0;
    const uint tile = SPLITS > 1 ? gl_WorkGroupID.x : gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x;
    const uint row0 = tile * ROWS;
    if (row0 >= n_rows) return; // uniform per workgroup
    const uint g = gl_WorkGroupID.y;
    const uint lane = gl_SubgroupInvocationID;
    const uint n_chunk = pc.head_dim / VEC; // per K/V row
    const uint n_fv = pc.head_dim / FV_LEN; // per q/out row

    // Row r of the tile: query i = t / G, head g * G + t % G; -1u: no row.
    // The tile loads keys 0 .. n_keys - 1: exactly those its rows see.
    uint limit[ROWS]; // last key position the row sees
    uint qo_base[ROWS]; // first FV of the row in q and out
    uint n_keys = 0;
    for (uint r = 0; r < ROWS; r++) {
        const uint t = row0 + r;
        const uint i = t / G;
        // clamped into the cache: a bad position cannot read past it
        limit[r] = t < n_rows ? min(uint(max(pos[i], 0)), pc.n_ctx - 1) : 0xffffffffu;
        qo_base[r] = (i * pc.n_head + g * G + t % G) * n_fv;
        if (t < n_rows) n_keys = max(n_keys, limit[r] + 1);
    }

    // This lane's slice of q (pre-scaled into base-2 scores) and of the accumulators.
    const float qscale = pc.scale * 1.44269504088896341; // log2(e)
    FV qr[ROWS * NQ];
    FV acc[ROWS * NQ];
    float m[ROWS], l[ROWS];
    for (uint r = 0; r < ROWS; r++) {
        m[r] = NO_MAX;
        l[r] = 0.0;
        for (uint c = 0; c < CPL; c++) {
            const uint chunk = c * gl_SubgroupSize + lane;
            for (uint f = 0; f < NF; f++) {
                acc[r * NQ + c * NF + f] = FV(0.0);
                qr[r * NQ + c * NF + f] = FV(0.0);
                if (limit[r] != 0xffffffffu && chunk < n_chunk)
                    qr[r * NQ + c * NF + f] = q[qo_base[r] + chunk * NF + f] * qscale;
            }
        }
    }

    // This workgroup's range of the keys (a fixed cut of the cache, so the
    // grid does not depend on the positions; ranges past n_keys are empty),
    // and this subgroup's contiguous slice of it.
    const uint per_wg = (pc.n_ctx + SPLITS - 1) / SPLITS;
    const uint k_begin = min(split * per_wg, n_keys), k_end = min(k_begin + per_wg, n_keys);
    const uint per_sg = (k_end - k_begin + gl_NumSubgroups - 1) / gl_NumSubgroups;
    const uint j_begin = k_begin + gl_SubgroupID * per_sg;
    const uint j_end = min(k_end, j_begin + per_sg);
    for (uint j = j_begin; j < j_end; j++) {
        const uint kv_base = (j * pc.n_kv_head + g) * n_chunk;
        FV kf[NQ], vf[NQ], tmp[NF];
        for (uint c = 0; c < CPL; c++) {
            const uint chunk = c * gl_SubgroupSize + lane;
            for (uint f = 0; f < NF; f++) tmp[f] = FV(0.0);
            if (chunk < n_chunk) unpack_kv(K_AT(kv_base + chunk), tmp);
            for (uint f = 0; f < NF; f++) kf[c * NF + f] = tmp[f];
        }
        float s[ROWS];
        for (uint r = 0; r < ROWS; r++) {
            float d = 0.0;
            for (uint x = 0; x < NQ; x++) d += dot(qr[r * NQ + x], kf[x]);
            s[r] = subgroupAdd(d);
        }
        for (uint c = 0; c < CPL; c++) {
            const uint chunk = c * gl_SubgroupSize + lane;
            for (uint f = 0; f < NF; f++) tmp[f] = FV(0.0);
            if (chunk < n_chunk) unpack_kv(V_AT(kv_base + chunk), tmp);
            for (uint f = 0; f < NF; f++) vf[c * NF + f] = tmp[f];
        }
        for (uint r = 0; r < ROWS; r++) {
            if (j > limit[r]) continue; // causal mask (uniform in the subgroup)
            if (s[r] > m[r]) { // new running max: rescale what came before
                const float corr = exp2(m[r] - s[r]);
                m[r] = s[r];
                l[r] *= corr;
                for (uint x = 0; x < NQ; x++) acc[r * NQ + x] *= corr;
            }
            const float p = exp2(s[r] - m[r]);
            l[r] += p;
            for (uint x = 0; x < NQ; x++) acc[r * NQ + x] += p * vf[x];
        }
    }

    const uint part_len = pc.head_dim + 2;
    if (NSG == 1 && SPLITS > 1) { // spec constants: publish this range's partial
        for (uint r = 0; r < ROWS; r++) {
            if (limit[r] == 0xffffffffu) continue;
            const uint pb = ((qo_base[r] / n_fv) * SPLITS + split) * part_len;
            if (subgroupElect()) {
                part[pb] = m[r];
                part[pb + 1] = l[r];
            }
            for (uint c = 0; c < CPL; c++) {
                const uint chunk = c * gl_SubgroupSize + lane;
                if (chunk < n_chunk)
                    for (uint f = 0; f < NF; f++)
                        for (uint e = 0; e < FV_LEN; e++)
                            part[pb + 2 + (chunk * NF + f) * FV_LEN + e] = acc[r * NQ + c * NF + f][e];
            }
        }
        return;
    }
    if (NSG == 1) { // spec constant: the only subgroup saw every key
        for (uint r = 0; r < ROWS; r++) {
            if (limit[r] == 0xffffffffu) continue;
            const float inv = 1.0 / l[r];
            for (uint c = 0; c < CPL; c++) {
                const uint chunk = c * gl_SubgroupSize + lane;
                if (chunk < n_chunk)
                    for (uint f = 0; f < NF; f++) o[qo_base[r] + chunk * NF + f] = acc[r * NQ + c * NF + f] * inv;
            }
        }
        return;
    }

    // Publish this subgroup's (max, sum, accumulator) per row ...
    const uint sid = gl_SubgroupID;
    if (subgroupElect())
        for (uint r = 0; r < ROWS; r++) {
            sh_m[sid * ROWS + r] = m[r];
            sh_l[sid * ROWS + r] = l[r];
        }
    for (uint r = 0; r < ROWS; r++)
        for (uint c = 0; c < CPL; c++) {
            const uint chunk = c * gl_SubgroupSize + lane;
            if (chunk < n_chunk)
                for (uint f = 0; f < NF; f++)
                    for (uint e = 0; e < FV_LEN; e++)
                        sh_acc[(sid * ROWS + r) * D_MAX + (chunk * NF + f) * FV_LEN + e] = acc[r * NQ + c * NF + f][e];
        }
    barrier(); // partial results in shared memory -> read by every invocation below

    // ... and merge them: out = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s.
    for (uint x = gl_LocalInvocationID.x; x < ROWS * n_fv; x += WG) {
        const uint r = x / n_fv, fv = x % n_fv;
        if (limit[r] == 0xffffffffu) continue;
        float big = NO_MAX;
        for (uint s = 0; s < gl_NumSubgroups; s++) big = max(big, sh_m[s * ROWS + r]);
        float sum = 0.0;
        FV a = FV(0.0);
        for (uint s = 0; s < gl_NumSubgroups; s++) {
            const float w = exp2(sh_m[s * ROWS + r] - big);
            sum += w * sh_l[s * ROWS + r];
            for (uint e = 0; e < FV_LEN; e++) a[e] += w * sh_acc[(s * ROWS + r) * D_MAX + fv * FV_LEN + e];
        }
        if (SPLITS > 1) { // this range's partial, merged over the subgroups
            const uint pb = ((qo_base[r] / n_fv) * SPLITS + split) * part_len;
            if (fv == 0) {
                part[pb] = big;
                part[pb + 1] = sum;
            }
            for (uint e = 0; e < FV_LEN; e++) part[pb + 2 + fv * FV_LEN + e] = a[e];
        } else {
            o[qo_base[r] + fv] = a / sum;
        }
    }
}
