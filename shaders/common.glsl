// Included by every shader: version, extensions every device vkllm runs on
// has, and small helpers.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// Workgroup size comes from specialization constant 0 unless a shader says otherwise.
