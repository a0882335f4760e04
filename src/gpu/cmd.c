/* Recordings: a command buffer, the descriptor sets its dispatches use, and
 * optional timestamps around each dispatch. Recorded once, submitted often. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

#define SETS_PER_POOL 64

typedef struct desc_pool {
    struct desc_pool *next;
    VkDescriptorPool pool;
    uint32_t used;
} desc_pool;

struct gpu_rec {
    gpu_ctx *ctx;
    VkCommandPool pool;        /* its own: a pool is externally synchronized, and sessions record on their own threads */
    VkCommandBuffer cmd;
    VkFence fence;
    desc_pool *pools;
    bool ended;
    bool in_flight;            /* submitted, its fence not yet waited for (gpu_rec_wait) */
    vkllm_status status;       /* first error while recording, reported at end */
    char err[1024];            /* ... and its message */
    /* timing */
    VkQueryPool queries;
    uint32_t max_timed, n_timed;
    const char **labels;       /* [max_timed] */
    const char **tags;         /* [max_timed]: the tag current when each was recorded */
    const char *tag;           /* set by gpu_rec_tag */
    double *us;                /* [max_timed], filled after submit */
    bool have_times;
};

gpu_ctx *gpu_rec_ctx(const gpu_rec *rec) { return rec->ctx; }

vkllm_status gpu_rec_begin(gpu_ctx *ctx, uint32_t max_timed, gpu_rec **out)
{
    *out = NULL;
    gpu_rec *rec = calloc(1, sizeof *rec);
    if (!rec) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    rec->ctx = ctx;
    *out = rec; /* half-built recordings are destroyed by gpu_rec_destroy */
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .queueFamilyIndex = ctx->queue_family,
    };
    VK_TRY(ctx, ctx->vk.vkCreateCommandPool(ctx->dev, &pci, NULL, &rec->pool));
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = rec->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VK_TRY(ctx, ctx->vk.vkAllocateCommandBuffers(ctx->dev, &cai, &rec->cmd));
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    VK_TRY(ctx, ctx->vk.vkCreateFence(ctx->dev, &fci, NULL, &rec->fence));
    if (max_timed && ctx->ts_valid_bits) {
        VkQueryPoolCreateInfo qci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2 * max_timed,
        };
        VK_TRY(ctx, ctx->vk.vkCreateQueryPool(ctx->dev, &qci, NULL, &rec->queries));
        rec->labels = calloc(max_timed, sizeof *rec->labels);
        rec->us = calloc(max_timed, sizeof *rec->us);
        rec->tags = calloc(max_timed, sizeof *rec->tags);
        if (!rec->labels || !rec->us || !rec->tags) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
        rec->max_timed = max_timed;
    }
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
    VK_TRY(ctx, ctx->vk.vkBeginCommandBuffer(rec->cmd, &bi));
    if (rec->queries) ctx->vk.vkCmdResetQueryPool(rec->cmd, rec->queries, 0, 2 * max_timed);
    return VKLLM_OK;
}

void gpu_rec_destroy(gpu_rec *rec)
{
    if (!rec) return;
    gpu_ctx *ctx = rec->ctx;
    /* never free what the device may still be running; a failed wait
     * (device lost) leaves nothing better to do than free it anyway */
    if (rec->in_flight) ctx->vk.vkWaitForFences(ctx->dev, 1, &rec->fence, VK_TRUE, UINT64_MAX);
    while (rec->pools) {
        desc_pool *p = rec->pools;
        rec->pools = p->next;
        ctx->vk.vkDestroyDescriptorPool(ctx->dev, p->pool, NULL);
        free(p);
    }
    if (rec->queries) ctx->vk.vkDestroyQueryPool(ctx->dev, rec->queries, NULL);
    if (rec->fence) ctx->vk.vkDestroyFence(ctx->dev, rec->fence, NULL);
    if (rec->cmd) ctx->vk.vkFreeCommandBuffers(ctx->dev, rec->pool, 1, &rec->cmd);
    if (rec->pool) ctx->vk.vkDestroyCommandPool(ctx->dev, rec->pool, NULL);
    free(rec->labels);
    free(rec->tags);
    free(rec->us);
    free(rec);
}

static vkllm_status alloc_set(gpu_rec *rec, VkDescriptorSetLayout layout, VkDescriptorSet *set)
{
    gpu_ctx *ctx = rec->ctx;
    if (!rec->pools || rec->pools->used == SETS_PER_POOL) {
        desc_pool *p = calloc(1, sizeof *p);
        if (!p) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
        VkDescriptorPoolSize sizes[2] = {
            { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = SETS_PER_POOL * GPU_MAX_BINDINGS },
            { .type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, .descriptorCount = SETS_PER_POOL * 2 },
        };
        VkDescriptorPoolCreateInfo dpci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = SETS_PER_POOL,
            .poolSizeCount = 2,
            .pPoolSizes = sizes,
        };
        VkResult r = ctx->vk.vkCreateDescriptorPool(ctx->dev, &dpci, NULL, &p->pool);
        if (r != VK_SUCCESS) {
            free(p);
            VK_TRY(ctx, r);
        }
        p->next = rec->pools;
        rec->pools = p;
    }
    VkDescriptorSetAllocateInfo dsai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = rec->pools->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &layout,
    };
    VK_TRY(ctx, ctx->vk.vkAllocateDescriptorSets(ctx->dev, &dsai, set));
    rec->pools->used++;
    return VKLLM_OK;
}

/* Keeps the first recording error (and the context's message for it);
 * later calls become no-ops. */
static vkllm_status rec_status(gpu_rec *rec, vkllm_status s)
{
    if (rec->status == VKLLM_OK && s != VKLLM_OK) {
        rec->status = s;
        snprintf(rec->err, sizeof rec->err, "%s", gpu_error(rec->ctx));
    }
    return s;
}

vkllm_status gpu_rec_status(const gpu_rec *rec) { return rec->status; }

vkllm_status gpu_rec_note(gpu_rec *rec, vkllm_status s)
{
    rec_status(rec, s);
    return rec->status;
}

vkllm_status gpu_rec_fail(gpu_rec *rec, vkllm_status s, const char *fmt, ...)
{
    if (rec->status != VKLLM_OK) return s; /* the first error stays the one reported */
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gpu_fail(rec->ctx, s, "%s", msg);
    return rec_status(rec, s);
}

gpu_pipeline *gpu_rec_pipeline(gpu_rec *rec, const gpu_pipeline_desc *desc)
{
    gpu_pipeline *p = NULL;
    if (rec->status != VKLLM_OK) return NULL;
    rec_status(rec, gpu_pipeline_get(rec->ctx, desc, &p));
    return p;
}

vkllm_status gpu_dispatch(gpu_rec *rec, gpu_pipeline *p, const gpu_binding *b, uint32_t n_b, const void *push,
                          uint32_t gx, uint32_t gy, uint32_t gz, const char *label)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK) return rec->status;
    if (rec->ended) return rec_status(rec, gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "dispatch after gpu_rec_end"));
    if (!p) return rec_status(rec, gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "dispatch of no pipeline"));
    if (n_b != p->desc.n_buffers)
        return rec_status(rec, gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: %u bindings given, pipeline has %u",
                                        p->shader_name, n_b, p->desc.n_buffers));
    if (gx == 0 || gy == 0 || gz == 0) return VKLLM_OK; /* nothing to do */
    const uint32_t *maxg = ctx->max_groups;
    if (gx > maxg[0] || gy > maxg[1] || gz > maxg[2])
        return rec_status(rec, gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: %u x %u x %u workgroups exceed the device's %u x %u x %u",
                                        p->shader_name, gx, gy, gz, maxg[0], maxg[1], maxg[2]));
    VkDescriptorSet set;
    vkllm_status s = alloc_set(rec, p->set_layout, &set);
    if (s != VKLLM_OK) return rec_status(rec, s);
    VkDescriptorBufferInfo infos[GPU_MAX_BINDINGS];
    VkBufferView views[GPU_MAX_BINDINGS];
    VkWriteDescriptorSet writes[GPU_MAX_BINDINGS];
    for (uint32_t i = 0; i < n_b; i++) {
        s = gpu_binding_resolve(ctx, &b[i], &infos[i].buffer, &infos[i].offset, &infos[i].range);
        if (s != VKLLM_OK) return rec_status(rec, s);
        const bool texel = (p->desc.texel_mask >> i) & 1;
        if (texel && (b[i].offset || b[i].range))
            return rec_status(rec, gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "%s: texel binding %u must cover a whole chunk",
                                            p->shader_name, i));
        if (texel && (s = gpu_tensor_view(ctx, b[i].t, b[i].chunk, &views[i])) != VKLLM_OK) return rec_status(rec, s);
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = texel ? NULL : &infos[i],
            .pTexelBufferView = texel ? &views[i] : NULL,
        };
    }
    ctx->vk.vkUpdateDescriptorSets(ctx->dev, n_b, writes, 0, NULL);

    bool timed = rec->queries && rec->n_timed < rec->max_timed;
    if (timed) ctx->vk.vkCmdWriteTimestamp(rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries, 2 * rec->n_timed);
    ctx->vk.vkCmdBindPipeline(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    ctx->vk.vkCmdBindDescriptorSets(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (p->desc.push_bytes) ctx->vk.vkCmdPushConstants(rec->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->desc.push_bytes, push);
    ctx->vk.vkCmdDispatch(rec->cmd, gx, gy, gz);
    if (timed) {
        ctx->vk.vkCmdWriteTimestamp(rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries, 2 * rec->n_timed + 1);
        rec->tags[rec->n_timed] = rec->tag ? rec->tag : "";
        rec->labels[rec->n_timed++] = label ? label : p->shader_name;
    }
    return VKLLM_OK;
}

void gpu_barrier(gpu_rec *rec)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK || rec->ended) return;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    ctx->vk.vkCmdPipelineBarrier(rec->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

vkllm_status gpu_rec_copy(gpu_rec *rec, gpu_binding dst, gpu_binding src, uint64_t bytes)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK) return rec->status;
    VkBuffer db, sb;
    VkDeviceSize doff, dr, soff, sr;
    vkllm_status s = gpu_binding_resolve(ctx, &dst, &db, &doff, &dr);
    if (s == VKLLM_OK) s = gpu_binding_resolve(ctx, &src, &sb, &soff, &sr);
    if (s == VKLLM_OK && (bytes > dr || bytes > sr))
        s = gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "copy of %llu bytes exceeds its bindings", (unsigned long long)bytes);
    if (s != VKLLM_OK) return rec_status(rec, s);
    VkBufferCopy region = { .srcOffset = soff, .dstOffset = doff, .size = bytes };
    ctx->vk.vkCmdCopyBuffer(rec->cmd, sb, db, 1, &region);
    return VKLLM_OK;
}

vkllm_status gpu_rec_fill(gpu_rec *rec, gpu_binding dst, uint64_t bytes, uint32_t pattern)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK) return rec->status;
    VkBuffer db;
    VkDeviceSize off, range;
    vkllm_status s = gpu_binding_resolve(ctx, &dst, &db, &off, &range);
    if (s != VKLLM_OK) return rec_status(rec, s);
    if (bytes > range) bytes = range;
    bytes &= ~(uint64_t)3;
    if (bytes) ctx->vk.vkCmdFillBuffer(rec->cmd, db, off, bytes, pattern);
    return VKLLM_OK;
}

vkllm_status gpu_rec_end(gpu_rec *rec)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK) { /* the first error, whatever failed after it */
        gpu_fail(rec->ctx, rec->status, "%s", rec->err);
        return rec->status;
    }
    if (rec->ended) return VKLLM_OK;
    /* every shader / copy write of the recording visible to host reads of
     * mapped tensors after the fence */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    ctx->vk.vkCmdPipelineBarrier(rec->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = ctx->vk.vkEndCommandBuffer(rec->cmd);
    if (r != VK_SUCCESS)
        return rec_status(rec, gpu_vk_fail(rec->ctx, r, "vkEndCommandBuffer(rec->cmd)", __FILE__, __LINE__));
    rec->ended = true;
    return VKLLM_OK;
}

vkllm_status gpu_rec_submit(gpu_rec *rec)
{
    vkllm_status s = gpu_rec_submit_async(rec);
    return s == VKLLM_OK ? gpu_rec_wait(rec) : s;
}

vkllm_status gpu_rec_submit_async(gpu_rec *rec)
{
    gpu_ctx *ctx = rec->ctx;
    if (rec->status != VKLLM_OK) return gpu_rec_end(rec); /* its first error, again */
    if (!rec->ended) return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "submit before gpu_rec_end");
    if (rec->in_flight)
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "submit of a recording still in flight (gpu_rec_wait first)");
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &rec->cmd,
    };
    /* the queue is shared by every session of the context: submits take
     * turns; the wait is on this recording's own fence, outside the lock */
    pthread_mutex_lock(&ctx->lock);
    VkResult sr = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, rec->fence);
    pthread_mutex_unlock(&ctx->lock);
    VK_TRY(ctx, sr);
    rec->in_flight = true;
    rec->have_times = false;
    return VKLLM_OK;
}

vkllm_status gpu_rec_wait(gpu_rec *rec)
{
    gpu_ctx *ctx = rec->ctx;
    if (!rec->in_flight) return VKLLM_OK;
    VK_TRY(ctx, ctx->vk.vkWaitForFences(ctx->dev, 1, &rec->fence, VK_TRUE, UINT64_MAX));
    rec->in_flight = false;
    VK_TRY(ctx, ctx->vk.vkResetFences(ctx->dev, 1, &rec->fence));
    if (rec->queries && rec->n_timed) {
        uint64_t *ts = malloc(2 * rec->n_timed * sizeof *ts);
        if (!ts) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
        VkResult r = ctx->vk.vkGetQueryPoolResults(ctx->dev, rec->queries, 0, 2 * rec->n_timed, 2 * rec->n_timed * sizeof *ts,
                                           ts, sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r == VK_SUCCESS) {
            uint64_t mask = ctx->ts_valid_bits >= 64 ? ~0ull : (1ull << ctx->ts_valid_bits) - 1;
            for (uint32_t i = 0; i < rec->n_timed; i++)
                rec->us[i] = (double)((ts[2 * i + 1] - ts[2 * i]) & mask) * ctx->info.timestamp_period_ns * 1e-3;
            rec->have_times = true;
        }
        free(ts);
        VK_TRY(ctx, r);
    }
    return VKLLM_OK;
}

void gpu_rec_tag(gpu_rec *rec, const char *tag) { rec->tag = tag; }

uint32_t gpu_rec_timing_tags(const gpu_rec *rec, const char **tags, uint32_t max)
{
    if (!rec->have_times) return 0;
    uint32_t n = rec->n_timed < max ? rec->n_timed : max;
    for (uint32_t i = 0; i < n; i++) tags[i] = rec->tags[i];
    return n;
}

uint32_t gpu_rec_timings(const gpu_rec *rec, const char **labels, double *us, uint32_t max)
{
    if (!rec->have_times) return 0;
    uint32_t n = rec->n_timed < max ? rec->n_timed : max;
    for (uint32_t i = 0; i < n; i++) {
        if (labels) labels[i] = rec->labels[i];
        if (us) us[i] = rec->us[i];
    }
    return rec->n_timed;
}

double gpu_rec_total_us(const gpu_rec *rec)
{
    double t = 0;
    if (rec->have_times)
        for (uint32_t i = 0; i < rec->n_timed; i++) t += rec->us[i];
    return t;
}
