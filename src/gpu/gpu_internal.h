/* Private to src/gpu/: the structs behind gpu.h's opaque handles. */
#ifndef VKLLM_GPU_INTERNAL_H
#define VKLLM_GPU_INTERNAL_H

#include <volk.h>

#include "gpu.h"

#define GPU_STAGING_SLOTS 4

/* One slot of the staging ring: a slice of the host-visible buffer, a
 * command buffer to copy through it and a fence saying when it is free. */
typedef struct gpu_slot {
    VkCommandBuffer cmd;
    VkFence fence;
    bool busy;        /* submitted, fence not yet waited on */
    void *read_dst;   /* download: where the slot's bytes go once done */
    uint64_t read_bytes;
} gpu_slot;

struct gpu_ctx {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    uint32_t ts_valid_bits;     /* timestampValidBits of the queue family, 0: none */
    VkPhysicalDeviceMemoryProperties mem_props;
    VkCommandPool cmd_pool;
    vkllm_device_info info;
    uint64_t max_chunk;         /* largest chunk a tensor may have, bytes */
    uint32_t max_groups[3];     /* maxComputeWorkGroupCount */
    uint64_t storage_align;     /* minStorageBufferOffsetAlignment */

    /* staging ring: one host-visible buffer cut into GPU_STAGING_SLOTS slots */
    VkBuffer staging_buf;
    VkDeviceMemory staging_mem;
    uint8_t *staging_map;
    uint64_t slot_bytes;
    gpu_slot slots[GPU_STAGING_SLOTS];
    uint32_t next_slot;

    gpu_pipeline *pipelines;    /* cache, singly linked */

    struct ops_profile *profile; /* gpu_ops_profile: owned, opaque here */

    bool validate;
    uint32_t val_count;
    char val_first[1024];
    char err[1024];
};

struct gpu_tensor {
    uint64_t bytes;
    uint32_t n_chunks;
    uint64_t chunk_cap;         /* bytes in every chunk but the last */
    VkBuffer *buf;              /* [n_chunks] */
    VkDeviceMemory *mem;        /* [n_chunks] */
    void *map;                  /* mapped tensors (one chunk, host-visible): the bytes; else NULL */
    VkBufferView *views;        /* [n_chunks], made on first use as a texel buffer; else NULL */
    uint32_t format;            /* the caller's tag (gpu_tensor_set_format) */
};

struct gpu_pipeline {
    gpu_pipeline *next;
    gpu_pipeline_desc desc;
    char shader_name[64];
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
};

/* Records "expr failed: VK_ERROR_..." at file:line into ctx->err and returns
 * from the calling function with the matching status. */
#define VK_TRY(ctx, expr)                                                        \
    do {                                                                         \
        VkResult vk_try_r_ = (expr);                                             \
        if (vk_try_r_ != VK_SUCCESS)                                             \
            return gpu_vk_fail((ctx), vk_try_r_, #expr, __FILE__, __LINE__);    \
    } while (0)

vkllm_status gpu_vk_fail(gpu_ctx *ctx, VkResult r, const char *expr, const char *file, int line);
const char *gpu_vk_result_name(VkResult r);

/* Index of a memory type allowed by `type_bits` having all of `need`, and
 * preferably `want`; -1 if none. */
int gpu_find_memory_type(const gpu_ctx *ctx, uint32_t type_bits, VkMemoryPropertyFlags need,
                         VkMemoryPropertyFlags want);

/* Staging ring, memory.c */
vkllm_status gpu_staging_create(gpu_ctx *ctx, uint64_t bytes);
void gpu_staging_destroy(gpu_ctx *ctx);

/* Pipelines, pipeline.c */
void gpu_pipelines_destroy(gpu_ctx *ctx);

/* The uvec4 (R32G32B32A32_UINT) texel view of a whole chunk, made on first use. */
vkllm_status gpu_tensor_view(gpu_ctx *ctx, gpu_tensor *t, uint32_t chunk, VkBufferView *out);

/* Resolve a binding to a VkBuffer range; fails on a bad chunk or range. */
vkllm_status gpu_binding_resolve(gpu_ctx *ctx, const gpu_binding *b, VkBuffer *buf,
                                 VkDeviceSize *offset, VkDeviceSize *range);

#endif
