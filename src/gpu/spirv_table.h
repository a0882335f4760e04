/* The SPIR-V modules embedded at build time (generated spirv_table.c). */
#ifndef VKLLM_SPIRV_TABLE_H
#define VKLLM_SPIRV_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gpu_spirv {
    const char *name;      /* variant name from shaders/meson.build, e.g. "matvec_f16" */
    const uint32_t *words;
    size_t bytes;
} gpu_spirv;

extern const gpu_spirv gpu_spirv_table[];
extern const size_t gpu_spirv_count;

#endif
