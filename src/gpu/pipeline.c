/* Compute pipelines from embedded SPIR-V, cached per (shader, spec constants). */
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"
#include "spirv_table.h"

static const gpu_spirv *find_spirv(const char *name)
{
    for (size_t i = 0; i < gpu_spirv_count; i++)
        if (strcmp(gpu_spirv_table[i].name, name) == 0) return &gpu_spirv_table[i];
    return NULL;
}

bool gpu_shader_available(const char *name) { return find_spirv(name) != NULL; }

static bool same_desc(const gpu_pipeline *p, const gpu_pipeline_desc *d)
{
    return strcmp(p->shader_name, d->shader) == 0 && p->desc.n_buffers == d->n_buffers &&
           p->desc.push_bytes == d->push_bytes && p->desc.n_spec == d->n_spec &&
           p->desc.required_subgroup_size == d->required_subgroup_size && p->desc.texel_mask == d->texel_mask &&
           memcmp(p->desc.spec, d->spec, d->n_spec * sizeof d->spec[0]) == 0;
}

static void pipeline_destroy(gpu_ctx *ctx, gpu_pipeline *p)
{
    if (!p) return;
    if (p->pipeline) ctx->vk.vkDestroyPipeline(ctx->dev, p->pipeline, NULL);
    if (p->layout) ctx->vk.vkDestroyPipelineLayout(ctx->dev, p->layout, NULL);
    if (p->set_layout) ctx->vk.vkDestroyDescriptorSetLayout(ctx->dev, p->set_layout, NULL);
    if (p->module) ctx->vk.vkDestroyShaderModule(ctx->dev, p->module, NULL);
    free(p);
}

static vkllm_status pipeline_build(gpu_ctx *ctx, gpu_pipeline *p, const gpu_spirv *spv)
{
    const gpu_pipeline_desc *d = &p->desc;
    VkShaderModuleCreateInfo smci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = spv->bytes,
        .pCode = spv->words,
    };
    VK_TRY(ctx, ctx->vk.vkCreateShaderModule(ctx->dev, &smci, NULL, &p->module));

    VkDescriptorSetLayoutBinding binds[GPU_MAX_BINDINGS];
    for (uint32_t i = 0; i < d->n_buffers; i++)
        binds[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = (d->texel_mask >> i) & 1 ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                       : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dslci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = d->n_buffers,
        .pBindings = binds,
    };
    VK_TRY(ctx, ctx->vk.vkCreateDescriptorSetLayout(ctx->dev, &dslci, NULL, &p->set_layout));
    VkPushConstantRange pcr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = d->push_bytes };
    VkPipelineLayoutCreateInfo plci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = d->push_bytes ? 1 : 0,
        .pPushConstantRanges = &pcr,
    };
    VK_TRY(ctx, ctx->vk.vkCreatePipelineLayout(ctx->dev, &plci, NULL, &p->layout));

    VkSpecializationMapEntry entries[GPU_MAX_SPEC];
    for (uint32_t i = 0; i < d->n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){ .constantID = i, .offset = i * 4, .size = 4 };
    VkSpecializationInfo si = {
        .mapEntryCount = d->n_spec,
        .pMapEntries = entries,
        .dataSize = d->n_spec * 4,
        .pData = d->spec,
    };
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT rss = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT,
        .requiredSubgroupSize = d->required_subgroup_size,
    };
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .pNext = d->required_subgroup_size ? &rss : NULL,
            .flags = d->required_subgroup_size ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT_EXT : 0,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = p->module,
            .pName = "main",
            .pSpecializationInfo = d->n_spec ? &si : NULL,
        },
        .layout = p->layout,
    };
    VK_TRY(ctx, ctx->vk.vkCreateComputePipelines(ctx->dev, VK_NULL_HANDLE, 1, &cpci, NULL, &p->pipeline));
    return VKLLM_OK;
}

static vkllm_status pipeline_get_locked(gpu_ctx *ctx, const gpu_pipeline_desc *desc, gpu_pipeline **out);

/* The cache is shared by the sessions of a context: looked up and filled
 * under its lock (a pipeline is built once, by whichever thread asks first). */
vkllm_status gpu_pipeline_get(gpu_ctx *ctx, const gpu_pipeline_desc *desc, gpu_pipeline **out)
{
    pthread_mutex_lock(&ctx->lock);
    vkllm_status s = pipeline_get_locked(ctx, desc, out);
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

static vkllm_status pipeline_get_locked(gpu_ctx *ctx, const gpu_pipeline_desc *desc, gpu_pipeline **out)
{
    *out = NULL;
    for (gpu_pipeline *p = ctx->pipelines; p; p = p->next)
        if (same_desc(p, desc)) {
            *out = p;
            return VKLLM_OK;
        }
    if (desc->n_buffers > GPU_MAX_BINDINGS || desc->n_spec > GPU_MAX_SPEC ||
        desc->push_bytes > ctx->info.max_push_constants || strlen(desc->shader) >= sizeof((gpu_pipeline){0}.shader_name))
        return gpu_fail(ctx, VKLLM_ERR_INVALID_ARG, "pipeline %s: bad description", desc->shader);
    if (desc->required_subgroup_size && !ctx->info.subgroup_size_control)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "pipeline %s needs subgroup size control", desc->shader);
    const gpu_spirv *spv = find_spirv(desc->shader);
    if (!spv)
        return gpu_fail(ctx, VKLLM_ERR_UNSUPPORTED, "shader %s is not built into this vkllm (glslang too old?)",
                        desc->shader);
    gpu_pipeline *p = calloc(1, sizeof *p);
    if (!p) return gpu_fail(ctx, VKLLM_ERR_OUT_OF_MEMORY, "out of host memory");
    p->desc = *desc;
    strcpy(p->shader_name, desc->shader);
    p->desc.shader = p->shader_name;
    vkllm_status s = pipeline_build(ctx, p, spv);
    if (s != VKLLM_OK) {
        pipeline_destroy(ctx, p);
        return s;
    }
    p->next = ctx->pipelines;
    ctx->pipelines = p;
    *out = p;
    return VKLLM_OK;
}

void gpu_pipelines_destroy(gpu_ctx *ctx)
{
    while (ctx->pipelines) {
        gpu_pipeline *p = ctx->pipelines;
        ctx->pipelines = p->next;
        pipeline_destroy(ctx, p);
    }
}
