/* Device memory: chunked tensors and the staging ring that moves bytes
 * between host and device in fixed-size slices. */
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

int gpu_find_memory_type(const gpu_ctx *ctx, uint32_t type_bits, VkMemoryPropertyFlags need,
                         VkMemoryPropertyFlags want)
{
    int fallback = -1;
    for (uint32_t i = 0; i < ctx->mem_props.memoryTypeCount; i++) {
        if (!(type_bits & (1u << i))) continue;
        VkMemoryPropertyFlags f = ctx->mem_props.memoryTypes[i].propertyFlags;
        if ((f & need) != need) continue;
        if ((f & want) == want) return (int)i;
        if (fallback < 0) fallback = (int)i;
    }
    return fallback;
}

/* One VkBuffer with its own memory. */
/* One VkBuffer with its own memory; device-local bytes are added to
 * ctx->allocated and to *counted (may be NULL). */
static vkllm_status create_buffer(gpu_ctx *ctx, uint64_t bytes, VkBufferUsageFlags usage,
                                  VkMemoryPropertyFlags need, VkMemoryPropertyFlags want,
                                  VkBuffer *buf, VkDeviceMemory *mem, uint64_t *counted)
{
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = bytes,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VK_TRY(ctx, ctx->vk.vkCreateBuffer(ctx->dev, &bci, NULL, buf));
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->dev, *buf, &req);
    int type = gpu_find_memory_type(ctx, req.memoryTypeBits, need, want);
    if (type < 0)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "device %s has no memory type with flags 0x%x for a buffer",
                        ctx->info.name, (unsigned)need);
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    VkResult r = ctx->vk.vkAllocateMemory(ctx->dev, &mai, NULL, mem);
    if (r != VK_SUCCESS) {
        *mem = VK_NULL_HANDLE;
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY,
                            "out of device memory allocating %.1f MiB on %s; use a smaller model or context, or another device",
                            (double)bytes / (1 << 20), ctx->info.name);
        VK_TRY(ctx, r);
    }
    if (ctx->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
        pthread_mutex_lock(&ctx->lock);
        ctx->allocated += req.size;
        pthread_mutex_unlock(&ctx->lock);
        if (counted) *counted += req.size;
    }
    VK_TRY(ctx, ctx->vk.vkBindBufferMemory(ctx->dev, *buf, *mem, 0));
    return VKLLM_OK;
}

/* ------------------------------------------------------------ tensors */

/* A tensor of `bytes` in chunks of cap bytes, its chunk arrays allocated
 * and no buffers yet (destroy it with gpu_tensor_destroy). */
static vkllm_status tensor_new(gpu_ctx *ctx, uint64_t bytes, uint64_t cap, gpu_tensor **out)
{
    gpu_tensor *t = calloc(1, sizeof *t);
    if (t) {
        t->bytes = bytes;
        t->chunk_cap = cap;
        t->n_chunks = (uint32_t)((bytes + cap - 1) / cap);
        t->buf = calloc(t->n_chunks, sizeof *t->buf);
        t->mem = calloc(t->n_chunks, sizeof *t->mem);
    }
    if (!t || !t->buf || !t->mem) {
        gpu_tensor_destroy(ctx, t);
        return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    *out = t;
    return VKLLM_OK;
}

vkllm_status gpu_tensor_create(gpu_ctx *ctx, uint64_t bytes, uint64_t granule, gpu_tensor **out)
{
    *out = NULL;
    if (bytes == 0) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "gpu_tensor_create: zero bytes");
    if (granule < 4) granule = 4;
    /* chunks hold whole granules (rows); each chunk is its own VkBuffer */
    uint64_t cap = ctx->max_chunk / granule * granule;
    if (cap == 0)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "one row of %llu bytes exceeds the device's buffer range (%llu)",
                        (unsigned long long)granule, (unsigned long long)ctx->max_chunk);
    gpu_tensor *t;
    vkllm_status st = tensor_new(ctx, bytes, cap, &t);
    if (st != VKLLM_OK) return st;
    for (uint32_t i = 0; i < t->n_chunks; i++) {
        /* round up to 4 bytes so fills and uint views cover the tail */
        uint64_t n = (gpu_tensor_chunk_bytes(t, i) + 3) & ~(uint64_t)3;
        vkllm_status s = create_buffer(ctx, n,
                                       VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                                           VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                       VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &t->buf[i], &t->mem[i], &t->dev_bytes);
        if (s != VKLLM_OK) {
            gpu_tensor_destroy(ctx, t);
            return s;
        }
    }
    *out = t;
    return VKLLM_OK;
}

vkllm_status gpu_scratch(gpu_ctx *ctx, uint64_t bytes, gpu_tensor **out)
{
    *out = NULL;
    pthread_mutex_lock(&ctx->lock);
    gpu_tensor *have = ctx->scratch;
    pthread_mutex_unlock(&ctx->lock);
    if (!have) {
        /* made outside the lock (gpu_tensor_create takes it); a thread that
         * loses the race to install its scratch frees it */
        if (bytes > ctx->max_chunk)
            return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "gpu_scratch: %llu bytes exceed one buffer (%llu)",
                            (unsigned long long)bytes, (unsigned long long)ctx->max_chunk);
        gpu_tensor *made = NULL;
        vkllm_status s = gpu_tensor_create(ctx, bytes, bytes, &made);
        if (s != VKLLM_OK) return s;
        pthread_mutex_lock(&ctx->lock);
        if (!ctx->scratch) ctx->scratch = made, made = NULL;
        have = ctx->scratch;
        pthread_mutex_unlock(&ctx->lock);
        gpu_tensor_destroy(ctx, made);
    }
    if (gpu_tensor_bytes(have) < bytes)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "gpu_scratch: %llu bytes asked, the context's scratch has %llu",
                        (unsigned long long)bytes, (unsigned long long)gpu_tensor_bytes(have));
    *out = have;
    return VKLLM_OK;
}

vkllm_status gpu_tensor_create_mapped(gpu_ctx *ctx, uint64_t bytes, gpu_tensor **out)
{
    *out = NULL;
    if (bytes == 0) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "gpu_tensor_create_mapped: zero bytes");
    if (bytes > ctx->max_chunk)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "a mapped tensor of %llu bytes exceeds one buffer (%llu)",
                        (unsigned long long)bytes, (unsigned long long)ctx->max_chunk);
    gpu_tensor *t;
    vkllm_status s = tensor_new(ctx, bytes, bytes, &t);
    if (s != VKLLM_OK) return s;
    s = create_buffer(ctx, (bytes + 3) & ~(uint64_t)3,
                      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                          VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      VK_MEMORY_PROPERTY_HOST_CACHED_BIT, &t->buf[0], &t->mem[0], &t->dev_bytes);
    VkResult r = VK_SUCCESS;
    if (s == VKLLM_OK && (r = ctx->vk.vkMapMemory(ctx->dev, t->mem[0], 0, VK_WHOLE_SIZE, 0, &t->map)) != VK_SUCCESS)
        s = gpu_vk_fail(ctx, r, "vkMapMemory", __FILE__, __LINE__);
    if (s != VKLLM_OK) {
        gpu_tensor_destroy(ctx, t);
        return s;
    }
    memset(t->map, 0, bytes);
    *out = t;
    return VKLLM_OK;
}

void *gpu_tensor_map(const gpu_tensor *t) { return t ? t->map : NULL; }

static vkllm_status tensor_view_locked(gpu_ctx *ctx, gpu_tensor *t, uint32_t chunk, VkBufferView *out);

/* Weight tensors are shared by the sessions of a context, which may record
 * at once: views are made under the context's lock. */
vkllm_status gpu_tensor_view(gpu_ctx *ctx, gpu_tensor *t, uint32_t chunk, VkBufferView *out)
{
    pthread_mutex_lock(&ctx->lock);
    vkllm_status s = tensor_view_locked(ctx, t, chunk, out);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

static vkllm_status tensor_view_locked(gpu_ctx *ctx, gpu_tensor *t, uint32_t chunk, VkBufferView *out)
{
    if (chunk >= t->n_chunks)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "texel view of chunk %u of a tensor with %u", chunk, t->n_chunks);
    if (!t->views && !(t->views = calloc(t->n_chunks, sizeof *t->views)))
        return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!t->views[chunk]) {
        uint64_t bytes = gpu_tensor_chunk_bytes(t, chunk) & ~(uint64_t)15; /* whole texels */
        if (bytes == 0 || bytes / 16 > ctx->info.max_texel_buffer_elements)
            return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "a texel view of %llu bytes exceeds the device's %llu texels",
                            (unsigned long long)bytes, (unsigned long long)ctx->info.max_texel_buffer_elements);
        VkBufferViewCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
            .buffer = t->buf[chunk],
            .format = VK_FORMAT_R32G32B32A32_UINT,
            .offset = 0,
            .range = bytes,
        };
        VK_TRY(ctx, ctx->vk.vkCreateBufferView(ctx->dev, &ci, NULL, &t->views[chunk]));
    }
    *out = t->views[chunk];
    return VKLLM_OK;
}

uint64_t gpu_max_texels(const gpu_ctx *ctx) { return ctx->info.max_texel_buffer_elements; }
uint64_t gpu_storage_offset_align(const gpu_ctx *ctx) { return ctx->storage_align; }

void gpu_tensor_destroy(gpu_ctx *ctx, gpu_tensor *t)
{
    if (!t) return;
    for (uint32_t i = 0; i < t->n_chunks; i++) {
        if (t->views && t->views[i]) ctx->vk.vkDestroyBufferView(ctx->dev, t->views[i], NULL);
        if (t->buf && t->buf[i]) ctx->vk.vkDestroyBuffer(ctx->dev, t->buf[i], NULL);
        if (t->mem && t->mem[i]) ctx->vk.vkFreeMemory(ctx->dev, t->mem[i], NULL);
    }
    pthread_mutex_lock(&ctx->lock);
    ctx->allocated -= t->dev_bytes;
    pthread_mutex_unlock(&ctx->lock);
    free(t->views);
    free(t->buf);
    free(t->mem);
    free(t);
}

uint64_t gpu_tensor_bytes(const gpu_tensor *t) { return t->bytes; }
void gpu_tensor_set_format(gpu_tensor *t, uint32_t format) { t->format = format; }
uint32_t gpu_tensor_format(const gpu_tensor *t) { return t->format; }
uint32_t gpu_tensor_n_chunks(const gpu_tensor *t) { return t->n_chunks; }
uint64_t gpu_tensor_chunk_offset(const gpu_tensor *t, uint32_t c) { return (uint64_t)c * t->chunk_cap; }
uint64_t gpu_tensor_chunk_bytes(const gpu_tensor *t, uint32_t c)
{
    uint64_t off = gpu_tensor_chunk_offset(t, c);
    return t->bytes - off < t->chunk_cap ? t->bytes - off : t->chunk_cap;
}

uint64_t gpu_max_chunk_bytes(const gpu_ctx *ctx) { return ctx->max_chunk; }

uint64_t gpu_binding_bytes(gpu_binding b)
{
    if (!b.t || b.chunk >= b.t->n_chunks) return 0;
    uint64_t chunk = gpu_tensor_chunk_bytes(b.t, b.chunk);
    if (b.offset >= chunk) return 0;
    uint64_t left = chunk - b.offset;
    return b.range && b.range < left ? b.range : left;
}

vkllm_status gpu_binding_resolve(gpu_ctx *ctx, const gpu_binding *b, VkBuffer *buf, VkDeviceSize *offset,
                                 VkDeviceSize *range)
{
    if (!b->t || b->chunk >= b->t->n_chunks)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "binding names chunk %u of a tensor with %u chunk(s)",
                        b->chunk, b->t ? b->t->n_chunks : 0);
    uint64_t cb = (gpu_tensor_chunk_bytes(b->t, b->chunk) + 3) & ~(uint64_t)3;
    if (b->offset >= cb || (b->range && b->offset + b->range > cb))
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "binding range [%llu, +%llu) outside a chunk of %llu bytes",
                        (unsigned long long)b->offset, (unsigned long long)b->range, (unsigned long long)cb);
    *buf = b->t->buf[b->chunk];
    *offset = b->offset;
    *range = b->range ? b->range : cb - b->offset;
    return VKLLM_OK;
}

/* ------------------------------------------------------------ staging ring */

vkllm_status gpu_staging_create(gpu_ctx *ctx, uint64_t bytes)
{
    ctx->slot_bytes = (bytes / GPU_STAGING_SLOTS) & ~(uint64_t)255;
    if (ctx->slot_bytes < 4096) ctx->slot_bytes = 4096;
    vkllm_status s = create_buffer(ctx, ctx->slot_bytes * GPU_STAGING_SLOTS,
                                   VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                   VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                   VK_MEMORY_PROPERTY_HOST_CACHED_BIT, &ctx->staging_buf, &ctx->staging_mem, &ctx->staging_dev_bytes);
    if (s != VKLLM_OK) return s;
    void *map;
    VK_TRY(ctx, ctx->vk.vkMapMemory(ctx->dev, ctx->staging_mem, 0, VK_WHOLE_SIZE, 0, &map));
    ctx->staging_map = map;
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = ctx->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    for (int i = 0; i < GPU_STAGING_SLOTS; i++) {
        VK_TRY(ctx, ctx->vk.vkAllocateCommandBuffers(ctx->dev, &cai, &ctx->slots[i].cmd));
        VK_TRY(ctx, ctx->vk.vkCreateFence(ctx->dev, &fci, NULL, &ctx->slots[i].fence));
    }
    return VKLLM_OK;
}

void gpu_staging_destroy(gpu_ctx *ctx)
{
    for (int i = 0; i < GPU_STAGING_SLOTS; i++) {
        if (ctx->slots[i].fence) ctx->vk.vkDestroyFence(ctx->dev, ctx->slots[i].fence, NULL);
        if (ctx->slots[i].cmd) ctx->vk.vkFreeCommandBuffers(ctx->dev, ctx->cmd_pool, 1, &ctx->slots[i].cmd);
    }
    if (ctx->staging_buf) ctx->vk.vkDestroyBuffer(ctx->dev, ctx->staging_buf, NULL);
    if (ctx->staging_mem) ctx->vk.vkFreeMemory(ctx->dev, ctx->staging_mem, NULL);
    ctx->allocated -= ctx->staging_dev_bytes;
    ctx->staging_dev_bytes = 0;
}

/* Waits for a slot's copy; for a download, moves its bytes to the host. */
static vkllm_status slot_wait(gpu_ctx *ctx, uint32_t i)
{
    gpu_slot *sl = &ctx->slots[i];
    if (!sl->busy) return VKLLM_OK;
    VK_TRY(ctx, ctx->vk.vkWaitForFences(ctx->dev, 1, &sl->fence, VK_TRUE, UINT64_MAX));
    VK_TRY(ctx, ctx->vk.vkResetFences(ctx->dev, 1, &sl->fence));
    sl->busy = false;
    if (sl->read_dst) {
        memcpy(sl->read_dst, ctx->staging_map + (uint64_t)i * ctx->slot_bytes, sl->read_bytes);
        sl->read_dst = NULL;
    }
    return VKLLM_OK;
}

static vkllm_status drain(gpu_ctx *ctx)
{
    vkllm_status first = VKLLM_OK;
    for (uint32_t i = 0; i < GPU_STAGING_SLOTS; i++) {
        vkllm_status s = slot_wait(ctx, i);
        if (first == VKLLM_OK) first = s;
    }
    return first;
}

/* Moves `bytes` between host memory and tensor bytes [offset, offset+bytes)
 * one slot-sized, chunk-bounded piece at a time, keeping up to
 * GPU_STAGING_SLOTS copies in flight. */
static vkllm_status transfer(gpu_ctx *ctx, gpu_tensor *t, uint64_t offset, void *host, uint64_t bytes, bool up)
{
    if (offset > t->bytes || bytes > t->bytes - offset)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s of %llu bytes at %llu outside a tensor of %llu bytes",
                        up ? "upload" : "download", (unsigned long long)bytes, (unsigned long long)offset,
                        (unsigned long long)t->bytes);
    uint8_t *h = host;
    while (bytes) {
        uint32_t c = (uint32_t)(offset / t->chunk_cap);
        uint64_t in_chunk = offset - (uint64_t)c * t->chunk_cap;
        uint64_t n = gpu_tensor_chunk_bytes(t, c) - in_chunk;
        if (n > ctx->slot_bytes) n = ctx->slot_bytes;
        if (n > bytes) n = bytes;

        uint32_t i = ctx->next_slot;
        ctx->next_slot = (i + 1) % GPU_STAGING_SLOTS;
        vkllm_status s = slot_wait(ctx, i);
        if (s != VKLLM_OK) return s;
        gpu_slot *sl = &ctx->slots[i];
        uint64_t slot_off = (uint64_t)i * ctx->slot_bytes;
        if (up) memcpy(ctx->staging_map + slot_off, h, n);

        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        VK_TRY(ctx, ctx->vk.vkBeginCommandBuffer(sl->cmd, &bi));
        VkBufferCopy region = {
            .srcOffset = up ? slot_off : in_chunk,
            .dstOffset = up ? in_chunk : slot_off,
            .size = n,
        };
        if (up) ctx->vk.vkCmdCopyBuffer(sl->cmd, ctx->staging_buf, t->buf[c], 1, &region);
        else ctx->vk.vkCmdCopyBuffer(sl->cmd, t->buf[c], ctx->staging_buf, 1, &region);
        /* make the copy visible: to later shaders (upload) or to the host (download) */
        VkMemoryBarrier mb = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
            .dstAccessMask = up ? (VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT) : VK_ACCESS_HOST_READ_BIT,
        };
        ctx->vk.vkCmdPipelineBarrier(sl->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                             up ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT : VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                             NULL, 0, NULL);
        VK_TRY(ctx, ctx->vk.vkEndCommandBuffer(sl->cmd));
        VkSubmitInfo si = {
            .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
            .commandBufferCount = 1,
            .pCommandBuffers = &sl->cmd,
        };
        VK_TRY(ctx, ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, sl->fence));
        sl->busy = true;
        if (!up) {
            sl->read_dst = h;
            sl->read_bytes = n;
        }
        h += n;
        offset += n;
        bytes -= n;
    }
    return drain(ctx);
}

/* The staging ring is the context's: one transfer at a time, whole. */
vkllm_status gpu_upload(gpu_ctx *ctx, gpu_tensor *t, uint64_t offset, const void *src, uint64_t bytes)
{
    pthread_mutex_lock(&ctx->lock);
    vkllm_status s = transfer(ctx, t, offset, (void *)src, bytes, true);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

vkllm_status gpu_download(gpu_ctx *ctx, gpu_tensor *t, uint64_t offset, void *dst, uint64_t bytes)
{
    pthread_mutex_lock(&ctx->lock);
    vkllm_status s = transfer(ctx, t, offset, dst, bytes, false);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

vkllm_status gpu_fill(gpu_ctx *ctx, gpu_tensor *t, uint32_t pattern)
{
    gpu_rec *rec;
    vkllm_status s = gpu_rec_begin(ctx, 0, &rec);
    for (uint32_t c = 0; s == VKLLM_OK && c < t->n_chunks; c++)
        s = gpu_rec_fill(rec, gpu_bind_chunk(t, c), VK_WHOLE_SIZE, pattern);
    if (s == VKLLM_OK) s = gpu_rec_end(rec);
    if (s == VKLLM_OK) s = gpu_rec_submit(rec);
    gpu_rec_destroy(rec);
    return s;
}
