#version 450
// Fills a quantized weight tensor with seeded random ggml blocks, for
// synthetic models of a quantized type (`vkllm bench --synthetic S --type T`):
// every byte of each block random (hash of seed and the word's index in the
// tensor), except the block's fp16 scale fields, which get fixed sane
// values (pc.dm: d in the low half, dmin or m in the high), and the bytes
// past the blocks, which get zeros. Each invocation writes one word, so
// blocks of any size (18, 22, 34, 110, 210 bytes) cost no read-modify-write.
// src/ops/fill_random.c (ref_fill_blocks) reproduces every byte on the CPU.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define PUSH_FILL_BLOCKS
#include "push.h"

layout(local_size_x_id = FILL_BLOCKS_SPEC_WG) in;
layout(constant_id = FILL_BLOCKS_SPEC_WG) const uint WG = 256;

layout(std430, binding = FILL_BLOCKS_BIND_DST) writeonly buffer Dst { uint dst[]; };

uint hash(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

void main()
{
    const uint w = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WG + gl_LocalInvocationID.x;
    if (w >= pc.n_words) return;
    const uint g0 = pc.offset + 4u * w; // the word's first byte in the tensor
    const uint r = hash((g0 >> 2) * 0x9e3779b9u ^ hash(pc.seed));
    uint v = 0u;
    for (uint j = 0u; j < 4u; j++) {
        const uint g = g0 + j, o = g % pc.block_bytes;
        uint byte = (r >> (8u * j)) & 0xffu;
        if (o - pc.d_off < 2u) byte = (pc.dm >> (8u * (o - pc.d_off))) & 0xffu;
        else if (o - pc.m_off < 2u) byte = (pc.dm >> (16u + 8u * (o - pc.m_off))) & 0xffu;
        if (g >= pc.n_bytes) byte = 0u;
        v |= byte << (8u * j);
    }
    dst[w] = v;
}
