/* Private to src/gpu/: the structs behind gpu.h's opaque handles. */
#ifndef VKLLM_GPU_INTERNAL_H
#define VKLLM_GPU_INTERNAL_H

#include <pthread.h>
#include <volk.h>

#include "gpu.h"

/* No Vulkan function pointer is global mutable state. volk loads the
 * loader-level functions (vkGetInstanceProcAddr, vkCreateInstance,
 * vkEnumerateInstance*) once, under pthread_once (gpu_vk_loader); instance
 * functions live in each context's gpu_inst_fns (from vkGetInstanceProcAddr
 * of its own instance) and device functions in its VolkDeviceTable (from
 * vkGetDeviceProcAddr of its own device). volk's global instance and device
 * pointers are never loaded: tests/test_vk_globals.sh checks that src/gpu
 * references none of them. */
typedef struct gpu_inst_fns {
#define GPU_INST_FNS(X)                                                                      \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)     \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2)                        \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceMemoryProperties2)           \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkEnumerateDeviceExtensionProperties)      \
    X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkCreateDebugUtilsMessengerEXT)              \
    X(vkDestroyDebugUtilsMessengerEXT) X(vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)
#define GPU_INST_FIELD(name) PFN_##name name;
    GPU_INST_FNS(GPU_INST_FIELD)
#undef GPU_INST_FIELD
} gpu_inst_fns;

/* The Vulkan loader, loaded once per process (thread-safe); VK_SUCCESS or
 * why not. */
VkResult gpu_vk_loader(void);
/* volk's device table for `dev`, through the given vkGetDeviceProcAddr
 * (volk_impl.c: volk's own generator with a per-context loader function). */
void gpu_volk_device_table(struct VolkDeviceTable *table, VkDevice dev, PFN_vkGetDeviceProcAddr gdpa);

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
    gpu_inst_fns vki;           /* this instance's functions */
    struct VolkDeviceTable vk;  /* this device's functions */
    /* Held around what sessions of one model share: the queue (every
     * vkQueueSubmit), the staging ring (a whole upload or download), the
     * pipeline cache, lazily made texel views of shared tensors and the
     * memory count. Never held while waiting for a recording's fence. */
    pthread_mutex_t lock;
    pthread_mutex_t val_lock;   /* the validation counters (the messenger calls from any thread) */
    bool has_budget;            /* VK_EXT_memory_budget enabled */
    uint64_t allocated;         /* device-local bytes allocated now (under lock) */
    uint64_t mem_limit;         /* $VKLLM_MEMORY_LIMIT, 0: none */
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
    uint64_t staging_dev_bytes; /* device-local part of it (in allocated), on devices whose host memory is */
    gpu_slot slots[GPU_STAGING_SLOTS];
    uint32_t next_slot;

    gpu_pipeline *pipelines;    /* cache, singly linked */

    struct ops_profile *profile; /* gpu_ops_profile: owned, opaque here */
    gpu_tensor *scratch;         /* gpu_scratch: owned, made on first use */

    bool validate;
    uint32_t val_count;
    char val_first[1024];
};

struct gpu_tensor {
    uint64_t bytes;
    uint32_t n_chunks;
    uint64_t chunk_cap;         /* bytes in every chunk but the last */
    VkBuffer *buf;              /* [n_chunks] */
    VkDeviceMemory *mem;        /* [n_chunks] */
    void *map;                  /* mapped tensors (one chunk, host-visible): the bytes; else NULL */
    VkBufferView *views;        /* [n_chunks], made on first use as a texel buffer (under ctx->lock); else NULL */
    uint64_t dev_bytes;         /* device-local bytes allocated for it (in ctx->allocated) */
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
