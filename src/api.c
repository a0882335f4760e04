/* The public API (include/vkllm.h): thin wiring over src/gpu and src/ops. */
#include <stdio.h>
#include <string.h>

#include "gpu/gpu.h"
#include "ops/selftest.h"
#include "vkllm.h"

const char *vkllm_status_name(vkllm_status s)
{
    switch (s) {
    case VKLLM_OK: return "VKLLM_OK";
    case VKLLM_ERR_INVALID_ARG: return "VKLLM_ERR_INVALID_ARG";
    case VKLLM_ERR_NO_VULKAN: return "VKLLM_ERR_NO_VULKAN";
    case VKLLM_ERR_NO_DEVICE: return "VKLLM_ERR_NO_DEVICE";
    case VKLLM_ERR_VULKAN: return "VKLLM_ERR_VULKAN";
    case VKLLM_ERR_OUT_OF_MEMORY: return "VKLLM_ERR_OUT_OF_MEMORY";
    case VKLLM_ERR_UNSUPPORTED: return "VKLLM_ERR_UNSUPPORTED";
    case VKLLM_ERR_VALIDATION: return "VKLLM_ERR_VALIDATION";
    case VKLLM_ERR_IO: return "VKLLM_ERR_IO";
    case VKLLM_ERR_FORMAT: return "VKLLM_ERR_FORMAT";
    case VKLLM_ERR_CHECK_FAILED: return "VKLLM_ERR_CHECK_FAILED";
    }
    return "VKLLM_ERR_(unknown)";
}

vkllm_status vkllm_list_devices(vkllm_device_info *out, uint32_t max, uint32_t *count, char *err, size_t err_len)
{
    if (!count || (max && !out)) {
        if (err && err_len) snprintf(err, err_len, "vkllm_list_devices: NULL argument");
        return VKLLM_ERR_INVALID_ARG;
    }
    return gpu_list_devices(out, max, count, err, err_len);
}

vkllm_status vkllm_selftest(const vkllm_selftest_options *opts, vkllm_check_cb cb, void *user, char *device_name,
                            size_t device_name_len, char *err, size_t err_len)
{
    vkllm_selftest_options o = opts ? *opts : (vkllm_selftest_options){ 0 };
    gpu_opts go = { .device = o.device, .validate = o.validate != 0 };
    gpu_ctx *ctx;
    vkllm_status s = gpu_ctx_create(&go, &ctx, err, err_len);
    if (s != VKLLM_OK) return s;
    if (device_name && device_name_len) snprintf(device_name, device_name_len, "%s", gpu_info(ctx)->name);
    uint32_t n_failed = 0;
    s = selftest_run(ctx, o.full_size != 0, o.seed ? o.seed : 0x5eed, cb, user, &n_failed);
    if (s != VKLLM_OK) {
        if (err && err_len) snprintf(err, err_len, "%s", gpu_error(ctx));
    } else if (gpu_validation_count(ctx)) {
        s = VKLLM_ERR_VALIDATION;
        if (err && err_len)
            snprintf(err, err_len, "the validation layer reported %u message(s); first: %s", gpu_validation_count(ctx),
                     gpu_validation_first(ctx));
    } else if (n_failed) {
        s = VKLLM_ERR_CHECK_FAILED;
        if (err && err_len) snprintf(err, err_len, "%u kernel check(s) failed", n_failed);
    }
    gpu_ctx_destroy(ctx);
    return s;
}
