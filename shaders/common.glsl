// Included by every shader: version, extensions every device vkllm runs on
// has, and small helpers.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// Workgroup size comes from specialization constant 0 unless a shader says otherwise.

// fp32 bits -> fp16 bits (low 16), round to nearest even, in integer
// arithmetic so that it is exact on every device (float16_t(x) and
// packHalf2x16 may round either way and flush denormals); overflow -> inf, NaN stays
// NaN (quiet, top payload bits kept). Same as float_to_half in src/util/half.h.
uint f32_bits_to_f16(uint x)
{
    uint sign = (x >> 16) & 0x8000u;
    uint ex = (x >> 23) & 0xffu;
    uint man = x & 0x7fffffu;
    if (ex == 0xffu) return sign | 0x7c00u | (man != 0u ? 0x200u | (man >> 13) : 0u);
    int e = int(ex) - 112; // rebias 127 -> 15
    if (e >= 31) return sign | 0x7c00u;
    if (e <= 0) { // fp16 subnormal or zero
        if (e < -10) return sign;
        man |= 0x800000u;
        uint shift = uint(14 - e);
        uint h = man >> shift;
        uint rem = man & ((1u << shift) - 1u);
        uint mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (h & 1u) != 0u)) h++;
        return sign | h;
    }
    uint h = sign | (uint(e) << 10) | (man >> 13);
    uint rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++; // may carry into the exponent: correct
    return h;
}
