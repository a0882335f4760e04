/* Vulkan instance, device choice, capability query, validation messenger. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"
#include "util/plat.h"

/* ------------------------------------------------------------ errors */

const char *gpu_vk_result_name(VkResult r)
{
    switch (r) {
#define X(n) case n: return #n;
    X(VK_SUCCESS) X(VK_NOT_READY) X(VK_TIMEOUT) X(VK_INCOMPLETE)
    X(VK_ERROR_OUT_OF_HOST_MEMORY) X(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    X(VK_ERROR_INITIALIZATION_FAILED) X(VK_ERROR_DEVICE_LOST)
    X(VK_ERROR_MEMORY_MAP_FAILED) X(VK_ERROR_LAYER_NOT_PRESENT)
    X(VK_ERROR_EXTENSION_NOT_PRESENT) X(VK_ERROR_FEATURE_NOT_PRESENT)
    X(VK_ERROR_INCOMPATIBLE_DRIVER) X(VK_ERROR_TOO_MANY_OBJECTS)
    X(VK_ERROR_FORMAT_NOT_SUPPORTED) X(VK_ERROR_FRAGMENTED_POOL)
    X(VK_ERROR_OUT_OF_POOL_MEMORY) X(VK_ERROR_UNKNOWN)
#undef X
    default: return "VK_ERROR_(unnamed)";
    }
}

/* The GPU layer's last error, per thread: sessions of one model fail on
 * their own threads without overwriting each other's message. */
static _Thread_local char tls_err[1024];

vkllm_status gpu_fail(gpu_ctx *ctx, vkllm_status s, const char *fmt, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_err, sizeof tls_err, fmt, ap);
    va_end(ap);
    return s;
}

vkllm_status gpu_vk_fail(gpu_ctx *ctx, VkResult r, const char *expr, const char *file, int line)
{
    vkllm_status s = VKLLM_ERR_VULKAN;
    const char *hint = "";
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
        s = VKLLM_ERR_OUT_OF_MEMORY;
        hint = " (out of memory: use a smaller model or context, or another device)";
    } else if (r == VK_ERROR_DEVICE_LOST) {
        hint = " (the GPU driver reset the device; the work is lost)";
    }
    return gpu_fail(ctx, s, "%s:%d: %s failed: %s%s", file, line, expr, gpu_vk_result_name(r), hint);
}

const char *gpu_error(const gpu_ctx *ctx)
{
    (void)ctx;
    return tls_err;
}
const vkllm_device_info *gpu_info(const gpu_ctx *ctx) { return &ctx->info; }

struct ops_profile *gpu_ops_profile(const gpu_ctx *ctx) { return ctx->profile; }

void gpu_set_ops_profile(gpu_ctx *ctx, struct ops_profile *p)
{
    free(ctx->profile);
    ctx->profile = p;
}

uint32_t gpu_validation_count(const gpu_ctx *ctx)
{
    pthread_mutex_lock((pthread_mutex_t *)&ctx->val_lock);
    uint32_t n = ctx->val_count;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->val_lock);
    return n;
}

const char *gpu_validation_first(const gpu_ctx *ctx)
{
    /* written once, with the first message, and never again */
    pthread_mutex_lock((pthread_mutex_t *)&ctx->val_lock);
    const char *first = ctx->val_first;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->val_lock);
    return first;
}
bool gpu_validation_enabled(const gpu_ctx *ctx) { return ctx->validate; }

static void set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ loader */

static pthread_once_t volk_once = PTHREAD_ONCE_INIT;
static VkResult volk_result = VK_ERROR_INITIALIZATION_FAILED;
/* The loader library through the platform seam (its name differs per OS),
 * then volk's loader-level functions from its vkGetInstanceProcAddr. */
static void volk_init_once(void)
{
    void *lib = plat_vulkan_loader();
    PFN_vkGetInstanceProcAddr gipa = lib ? (PFN_vkGetInstanceProcAddr)plat_library_function(lib, "vkGetInstanceProcAddr")
                                         : NULL;
    if (!gipa) return;
    volkInitializeCustom(gipa);
    volk_result = VK_SUCCESS;
}

VkResult gpu_vk_loader(void)
{
    pthread_once(&volk_once, volk_init_once);
    return volk_result;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static bool has_instance_ext(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                    void *user)
{
    (void)type;
    gpu_ctx *ctx = user;
    if (sev < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
    pthread_mutex_lock(&ctx->val_lock);
    if (ctx->val_count++ == 0)
        snprintf(ctx->val_first, sizeof ctx->val_first, "%s", data && data->pMessage ? data->pMessage : "?");
    pthread_mutex_unlock(&ctx->val_lock);
    return VK_FALSE;
}

/* Creates the instance (and messenger when validating) into ctx. */
static vkllm_status create_instance(gpu_ctx *ctx, bool validate, char *err, size_t err_len)
{
    if (gpu_vk_loader() != VK_SUCCESS) {
        set_err(err, err_len,
                "no Vulkan loader found (%s); install one, e.g. "
                "`apt-get install libvulkan1 mesa-vulkan-drivers`, or your GPU vendor's driver",
                plat_vulkan_loader_names()[0]);
        return VKLLM_ERR_NO_VULKAN;
    }
    const char *exts[4];
    uint32_t n_ext = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_instance_ext(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_ext++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    const char *layers[1];
    uint32_t n_layer = 0;
    if (validate) {
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            set_err(err, err_len, "validation requested but VK_LAYER_KHRONOS_validation is not installed; "
                                  "`apt-get install vulkan-validationlayers` or unset VKLLM_VALIDATE");
            return VKLLM_ERR_UNSUPPORTED;
        }
        if (!has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            set_err(err, err_len, "validation requested but the loader lacks VK_EXT_debug_utils");
            return VKLLM_ERR_UNSUPPORTED;
        }
        layers[n_layer++] = "VK_LAYER_KHRONOS_validation";
        exts[n_ext++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_2) {
        set_err(err, err_len, "the Vulkan loader supports only %u.%u; vkllm needs Vulkan 1.2 — update libvulkan1",
                VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
        return VKLLM_ERR_NO_VULKAN;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkllm",
        .pEngineName = "vkllm",
        .apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2,
    };
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = ctx,
    };
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &mci : NULL, /* also catches messages from create/destroy */
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layer,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ici, NULL, &ctx->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        set_err(err, err_len, "no Vulkan driver found; install one, e.g. `apt-get install mesa-vulkan-drivers` "
                              "(lavapipe, runs on the CPU) or your GPU vendor's driver");
        return VKLLM_ERR_NO_VULKAN;
    }
    if (r != VK_SUCCESS) {
        set_err(err, err_len, "vkCreateInstance failed: %s", gpu_vk_result_name(r));
        return VKLLM_ERR_NO_VULKAN;
    }
    /* this instance's functions, in the context (never volk's globals) */
#define GPU_INST_LOAD(name) ctx->vki.name = (PFN_##name)vkGetInstanceProcAddr(ctx->instance, #name);
    GPU_INST_FNS(GPU_INST_LOAD)
#undef GPU_INST_LOAD
    ctx->validate = validate;
    if (validate) {
        r = ctx->vki.vkCreateDebugUtilsMessengerEXT(ctx->instance, &mci, NULL, &ctx->messenger);
        if (r != VK_SUCCESS) {
            set_err(err, err_len, "vkCreateDebugUtilsMessengerEXT failed: %s", gpu_vk_result_name(r));
            return VKLLM_ERR_VULKAN;
        }
    }
    return VKLLM_OK;
}

/* ------------------------------------------------------------ capabilities */

static bool has_device_ext(VkExtensionProperties *e, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

typedef struct device_exts {
    bool subgroup_size_control_ext; /* VK_EXT_subgroup_size_control (pre-1.3) */
    bool coopmat_nv;
    bool memory_budget;       /* VK_EXT_memory_budget */
    bool portability_subset;  /* VK_KHR_portability_subset (MoltenVK): must be enabled when listed */
} device_exts;

static vkllm_device_type map_type(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKLLM_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKLLM_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKLLM_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKLLM_DEVICE_CPU;
    default: return VKLLM_DEVICE_OTHER;
    }
}

/* Fills `info` for one physical device; returns false if it can't run vkllm
 * at all (no Vulkan 1.2 or no compute queue). */
static void query_device(const gpu_inst_fns *vi, VkPhysicalDevice pd, uint32_t index, vkllm_device_info *info, device_exts *ext)
{
    memset(info, 0, sizeof *info);
    memset(ext, 0, sizeof *ext);
    info->index = index;

    uint32_t n_ext = 0;
    vi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL);
    VkExtensionProperties *exts = calloc(n_ext ? n_ext : 1, sizeof *exts);
    if (exts) vi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, exts);
    else n_ext = 0;

    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };
    VkPhysicalDeviceSubgroupProperties sg = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT };
    VkPhysicalDeviceDriverProperties drv = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES };
    VkPhysicalDeviceProperties props0;
    vi->vkGetPhysicalDeviceProperties(pd, &props0);
    bool v13 = props0.apiVersion >= VK_API_VERSION_1_3;
    ext->subgroup_size_control_ext = !v13 && has_device_ext(exts, n_ext, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    ext->coopmat_nv = has_device_ext(exts, n_ext, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    ext->memory_budget = has_device_ext(exts, n_ext, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    ext->portability_subset = has_device_ext(exts, n_ext, "VK_KHR_portability_subset");
    p2.pNext = &sg;
    sg.pNext = &drv;
    if (v13 || ext->subgroup_size_control_ext) drv.pNext = &sgc;
    vi->vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;

    snprintf(info->name, sizeof info->name, "%s", p->deviceName);
    snprintf(info->driver_name, sizeof info->driver_name, "%s", drv.driverName);
    snprintf(info->driver_info, sizeof info->driver_info, "%s", drv.driverInfo);
    info->type = map_type(p->deviceType);
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->api_version = p->apiVersion;
    info->subgroup_size = sg.subgroupSize;
    info->subgroup_min = info->subgroup_max = sg.subgroupSize;
    bool compute_sg = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    info->subgroup_arith = compute_sg && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_shuffle = compute_sg && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    info->max_storage_buffer_range = p->limits.maxStorageBufferRange;
    info->max_texel_buffer_elements = p->limits.maxTexelBufferElements;
    info->max_shared_memory = p->limits.maxComputeSharedMemorySize;
    info->max_workgroup_invocations = p->limits.maxComputeWorkGroupInvocations;
    info->max_push_constants = p->limits.maxPushConstantsSize;
    info->timestamp_period_ns = p->limits.timestampPeriod;

    VkPhysicalDeviceMaintenance3Properties m3 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES };
    VkPhysicalDeviceProperties2 pm = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3 };
    vi->vkGetPhysicalDeviceProperties2(pd, &pm);
    info->max_memory_allocation_size = m3.maxMemoryAllocationSize;

    /* features: 1.1 (16-bit storage) and 1.2 (fp16/int8 arithmetic, 8-bit storage) */
    VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES };
    VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES };
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT fsc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT };
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11 };
    if (p->apiVersion >= VK_API_VERSION_1_2) {
        f11.pNext = &f12;
        if (v13 || ext->subgroup_size_control_ext) f12.pNext = &fsc;
        vi->vkGetPhysicalDeviceFeatures2(pd, &f2);
    }
    info->fp16_arith = f12.shaderFloat16;
    info->int8_arith = f12.shaderInt8;
    info->storage16 = f11.storageBuffer16BitAccess;
    info->storage8 = f12.storageBuffer8BitAccess;
    info->subgroup_size_control = fsc.subgroupSizeControl && fsc.computeFullSubgroups &&
                                  (sgc.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    if (info->subgroup_size_control) {
        info->subgroup_min = sgc.minSubgroupSize;
        info->subgroup_max = sgc.maxSubgroupSize;
    }
    /* tensor cores as the matmul_coopmat kernel uses them: 16x16x16, fp16
     * A and B, fp32 C and D, subgroup scope, with fp16 arithmetic types */
    info->coopmat_nv = 0;
    if (ext->coopmat_nv && info->fp16_arith && vi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) {
        uint32_t n_cm = 0;
        vi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n_cm, NULL);
        VkCooperativeMatrixPropertiesNV *cm = calloc(n_cm ? n_cm : 1, sizeof *cm);
        for (uint32_t i = 0; cm && i < n_cm; i++) cm[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
        if (cm && vi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n_cm, cm) == VK_SUCCESS)
            for (uint32_t i = 0; i < n_cm; i++)
                if (cm[i].MSize == 16 && cm[i].NSize == 16 && cm[i].KSize == 16 &&
                    cm[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && cm[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                    cm[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && cm[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                    cm[i].scope == VK_SCOPE_SUBGROUP_NV)
                    info->coopmat_nv = 1;
        free(cm);
    }

    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT };
    VkPhysicalDeviceMemoryProperties2 mp2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
                                              .pNext = ext->memory_budget ? &budget : NULL };
    vi->vkGetPhysicalDeviceMemoryProperties2(pd, &mp2);
    const VkPhysicalDeviceMemoryProperties mp = mp2.memoryProperties;
    info->n_heaps = mp.memoryHeapCount < VKLLM_MAX_HEAPS ? mp.memoryHeapCount : VKLLM_MAX_HEAPS;
    info->memory_budget = ext->memory_budget;
    for (uint32_t i = 0; i < info->n_heaps; i++) {
        info->heap_size[i] = mp.memoryHeaps[i].size;
        info->heap_device_local[i] = (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
        if (info->heap_device_local[i]) info->device_local_bytes += mp.memoryHeaps[i].size;
        if (info->heap_device_local[i] && ext->memory_budget && budget.heapBudget[i] > budget.heapUsage[i])
            info->device_local_free += budget.heapBudget[i] - budget.heapUsage[i];
    }
    if (!ext->memory_budget) info->device_local_free = info->device_local_bytes;

    uint32_t n_qf = 0;
    vi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_qf, NULL);
    VkQueueFamilyProperties *qf = calloc(n_qf ? n_qf : 1, sizeof *qf);
    if (qf) {
        vi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_qf, qf);
        for (uint32_t i = 0; i < n_qf; i++)
            if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].timestampValidBits > 0) info->timestamps = 1;
    }
    free(qf);
    free(exts);
}

/* A compute queue family, preferring one without graphics; -1 if none. */
static int pick_queue_family(const gpu_inst_fns *vi, VkPhysicalDevice pd)
{
    uint32_t n = 0;
    vi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *qf = calloc(n ? n : 1, sizeof *qf);
    if (!qf) return -1;
    vi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, qf);
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        bool dedicated = !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        /* a dedicated compute family without timestamps is not worth losing them */
        if (best < 0 || (dedicated && qf[i].timestampValidBits > 0 && qf[best].timestampValidBits > 0 &&
                         (qf[best].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            best = (int)i;
    }
    free(qf);
    return best;
}

static int type_rank(vkllm_device_type t)
{
    switch (t) {
    case VKLLM_DEVICE_DISCRETE: return 4;
    case VKLLM_DEVICE_INTEGRATED: return 3;
    case VKLLM_DEVICE_VIRTUAL: return 2;
    case VKLLM_DEVICE_CPU: return 1;
    default: return 0;
    }
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* ------------------------------------------------------------ listing */

static void destroy_instance(gpu_ctx *ctx)
{
    if (ctx->messenger) ctx->vki.vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance) ctx->vki.vkDestroyInstance(ctx->instance, NULL);
    ctx->messenger = VK_NULL_HANDLE;
    ctx->instance = VK_NULL_HANDLE;
}

static vkllm_status enumerate(gpu_ctx *ctx, VkPhysicalDevice **pds, uint32_t *n, char *err, size_t err_len)
{
    *pds = NULL;
    *n = 0;
    VkResult r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, n, NULL);
    if (r != VK_SUCCESS) {
        set_err(err, err_len, "vkEnumeratePhysicalDevices failed: %s", gpu_vk_result_name(r));
        return VKLLM_ERR_VULKAN;
    }
    if (*n == 0) return VKLLM_OK;
    *pds = calloc(*n, sizeof **pds);
    if (!*pds) {
        set_err(err, err_len, "out of host memory listing devices");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        set_err(err, err_len, "vkEnumeratePhysicalDevices failed: %s", gpu_vk_result_name(r));
        return VKLLM_ERR_VULKAN;
    }
    return VKLLM_OK;
}

vkllm_status gpu_list_devices(vkllm_device_info *out, uint32_t max, uint32_t *count, char *err, size_t err_len)
{
    gpu_ctx tmp;
    memset(&tmp, 0, sizeof tmp);
    *count = 0;
    vkllm_status s = create_instance(&tmp, false, err, err_len);
    if (s != VKLLM_OK) {
        destroy_instance(&tmp);
        return s;
    }
    VkPhysicalDevice *pds;
    uint32_t n;
    s = enumerate(&tmp, &pds, &n, err, err_len);
    if (s == VKLLM_OK) {
        device_exts ext;
        for (uint32_t i = 0; i < n && i < max; i++) query_device(&tmp.vki, pds[i], i, &out[i], &ext);
        *count = n;
    }
    free(pds);
    destroy_instance(&tmp);
    return s;
}

/* ------------------------------------------------------------ context */

static vkllm_status choose_device(gpu_ctx *ctx, const char *sel, device_exts *ext, char *err, size_t err_len)
{
    VkPhysicalDevice *pds;
    uint32_t n;
    vkllm_status s = enumerate(ctx, &pds, &n, err, err_len);
    if (s != VKLLM_OK) return s;
    if (n == 0) {
        free(pds);
        set_err(err, err_len, "no Vulkan device found; install a driver, e.g. `apt-get install mesa-vulkan-drivers` "
                              "for lavapipe (CPU) or your GPU vendor's driver");
        return VKLLM_ERR_NO_DEVICE;
    }
    int best = -1, best_rank = -1;
    vkllm_device_info info;
    device_exts e;
    for (uint32_t i = 0; i < n; i++) {
        query_device(&ctx->vki, pds[i], i, &info, &e);
        bool match;
        if (sel && *sel) match = all_digits(sel) ? (uint32_t)atoi(sel) == i : contains_nocase(info.name, sel);
        else match = true;
        if (!match) continue;
        if (info.api_version < VK_API_VERSION_1_2 || pick_queue_family(&ctx->vki, pds[i]) < 0) {
            if (sel && *sel) {
                set_err(err, err_len, "device %u (%s) supports Vulkan %u.%u; vkllm needs 1.2 with a compute queue",
                        i, info.name, VK_API_VERSION_MAJOR(info.api_version), VK_API_VERSION_MINOR(info.api_version));
                free(pds);
                return VKLLM_ERR_UNSUPPORTED;
            }
            continue;
        }
        int rank = type_rank(info.type);
        if (rank > best_rank) {
            best = (int)i;
            best_rank = rank;
            ctx->info = info;
            *ext = e;
        }
        if (sel && *sel && all_digits(sel)) break;
    }
    if (best < 0) {
        if (sel && *sel)
            set_err(err, err_len, "no Vulkan device matches \"%s\" (%u device%s found; `vkllm devices` lists them)",
                    sel, n, n == 1 ? "" : "s");
        else
            set_err(err, err_len, "no Vulkan device supports Vulkan 1.2 with a compute queue");
        free(pds);
        return VKLLM_ERR_NO_DEVICE;
    }
    ctx->phys = pds[best];
    ctx->queue_family = (uint32_t)pick_queue_family(&ctx->vki, ctx->phys);
    free(pds);
    return VKLLM_OK;
}

static vkllm_status create_device(gpu_ctx *ctx, const device_exts *ext, char *err, size_t err_len)
{
    const vkllm_device_info *in = &ctx->info;
    if (!in->storage16) {
        set_err(err, err_len, "device %s lacks storageBuffer16BitAccess, which vkllm needs for fp16 weights", in->name);
        return VKLLM_ERR_UNSUPPORTED;
    }
    /* Enable exactly what the device offers of what the shaders may use.
     * Only the 1.1/1.2 core structs: never also chain
     * VkPhysicalDeviceShaderFloat16Int8Features (VUID-VkDeviceCreateInfo-pNext-02830). */
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = VK_TRUE,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .shaderFloat16 = in->fp16_arith ? VK_TRUE : VK_FALSE,
        .shaderInt8 = in->int8_arith ? VK_TRUE : VK_FALSE,
        .storageBuffer8BitAccess = in->storage8 ? VK_TRUE : VK_FALSE,
    };
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT fsc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT,
        .subgroupSizeControl = VK_TRUE,
        .computeFullSubgroups = VK_TRUE,
    };
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE,
    };
    f11.pNext = &f12;
    void **tail = &f12.pNext;
    if (in->subgroup_size_control) {
        *tail = &fsc;
        tail = &fsc.pNext;
    }
    const char *exts[6];
    uint32_t n_ext = 0;
    /* the specification requires enabling it where a device lists it (MoltenVK) */
    if (ext->portability_subset) exts[n_ext++] = "VK_KHR_portability_subset";
    if (ext->memory_budget) exts[n_ext++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    if (in->subgroup_size_control && ext->subgroup_size_control_ext)
        exts[n_ext++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
    if (ext->coopmat_nv) {
        exts[n_ext++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
        *tail = &fcm;
        tail = &fcm.pNext;
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = ctx->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f11,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = ctx->vki.vkCreateDevice(ctx->phys, &dci, NULL, &ctx->dev);
    if (r != VK_SUCCESS) {
        set_err(err, err_len, "vkCreateDevice on %s failed: %s", in->name, gpu_vk_result_name(r));
        return r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? VKLLM_ERR_OUT_OF_MEMORY
                                                                                        : VKLLM_ERR_VULKAN;
    }
    ctx->has_budget = ext->memory_budget;
    gpu_volk_device_table(&ctx->vk, ctx->dev, ctx->vki.vkGetDeviceProcAddr);
    ctx->vk.vkGetDeviceQueue(ctx->dev, ctx->queue_family, 0, &ctx->queue);
    uint32_t n_qf = 0;
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &n_qf, NULL);
    VkQueueFamilyProperties *qf = calloc(n_qf ? n_qf : 1, sizeof *qf);
    if (qf) {
        ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &n_qf, qf);
        ctx->ts_valid_bits = qf[ctx->queue_family].timestampValidBits;
        free(qf);
    }
    ctx->vki.vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem_props);
    VkPhysicalDeviceProperties props;
    ctx->vki.vkGetPhysicalDeviceProperties(ctx->phys, &props);
    memcpy(ctx->max_groups, props.limits.maxComputeWorkGroupCount, sizeof ctx->max_groups);
    ctx->storage_align = props.limits.minStorageBufferOffsetAlignment ? props.limits.minStorageBufferOffsetAlignment : 1;
    return VKLLM_OK;
}

/* "512M", "2G", "1048576": bytes, with an optional K/M/G (binary) suffix. */
static bool parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s) return false;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B') end++;
    if (*end == 'B') end++;
    if (*end || v > (UINT64_MAX >> shift)) return false;
    *out = (uint64_t)v << shift;
    return true;
}

uint64_t gpu_mem_free(gpu_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t used = ctx->allocated, total = ctx->info.device_local_bytes;
    pthread_mutex_unlock(&ctx->lock);
    uint64_t free_b = total > used ? total - used : 0;
    if (ctx->has_budget) { /* what the driver says this process may still allocate now */
        VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT };
        VkPhysicalDeviceMemoryProperties2 mp2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
                                                  .pNext = &b };
        ctx->vki.vkGetPhysicalDeviceMemoryProperties2(ctx->phys, &mp2);
        uint64_t budget_free = 0;
        for (uint32_t i = 0; i < mp2.memoryProperties.memoryHeapCount && i < VK_MAX_MEMORY_HEAPS; i++)
            if ((mp2.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
                b.heapBudget[i] > b.heapUsage[i])
                budget_free += b.heapBudget[i] - b.heapUsage[i];
        if (budget_free < free_b) free_b = budget_free;
    }
    if (ctx->mem_limit) {
        uint64_t lim = ctx->mem_limit > used ? ctx->mem_limit - used : 0;
        if (lim < free_b) free_b = lim;
    }
    return free_b;
}

uint64_t gpu_mem_used(gpu_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t used = ctx->allocated;
    pthread_mutex_unlock(&ctx->lock);
    return used;
}

uint64_t gpu_mem_limit(const gpu_ctx *ctx) { return ctx->mem_limit; }

vkllm_status gpu_ctx_create(const gpu_opts *opts, gpu_ctx **out, char *err, size_t err_len)
{
    *out = NULL;
    gpu_opts o = opts ? *opts : (gpu_opts){ 0 };
    gpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        set_err(err, err_len, "out of host memory");
        return VKLLM_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->val_lock, NULL);
    const char *limit = getenv("VKLLM_MEMORY_LIMIT");
    if (limit && *limit && !parse_bytes(limit, &ctx->mem_limit)) {
        set_err(err, err_len, "VKLLM_MEMORY_LIMIT=%s: not a size (bytes, or a number with K, M or G)", limit);
        gpu_ctx_destroy(ctx);
        return VKLLM_ERR_INVALID_ARG;
    }
    bool validate = o.validate || env_true("VKLLM_VALIDATE");
    const char *sel = o.device && *o.device ? o.device : getenv("VKLLM_DEVICE");
    device_exts ext;
    vkllm_status s = create_instance(ctx, validate, err, err_len);
    if (s == VKLLM_OK) s = choose_device(ctx, sel, &ext, err, err_len);
    if (s == VKLLM_OK) s = create_device(ctx, &ext, err, err_len);
    if (s != VKLLM_OK) goto fail;

    uint64_t cap = ctx->info.max_storage_buffer_range;
    if (ctx->info.max_memory_allocation_size && ctx->info.max_memory_allocation_size < cap)
        cap = ctx->info.max_memory_allocation_size;
    if (o.max_chunk_bytes && o.max_chunk_bytes < cap) cap = o.max_chunk_bytes;
    ctx->max_chunk = cap & ~(uint64_t)255; /* keep chunk sizes friendly to every alignment */

    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = ctx->queue_family,
    };
    VkResult r = ctx->vk.vkCreateCommandPool(ctx->dev, &pci, NULL, &ctx->cmd_pool);
    if (r != VK_SUCCESS) {
        set_err(err, err_len, "vkCreateCommandPool failed: %s", gpu_vk_result_name(r));
        s = VKLLM_ERR_VULKAN;
        goto fail;
    }
    s = gpu_staging_create(ctx, o.staging_bytes ? o.staging_bytes : 32ull << 20);
    if (s != VKLLM_OK) {
        set_err(err, err_len, "%s", gpu_error(ctx));
        goto fail;
    }
    *out = ctx;
    return VKLLM_OK;
fail:
    gpu_ctx_destroy(ctx);
    return s;
}

void gpu_ctx_destroy(gpu_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->dev) {
        ctx->vk.vkDeviceWaitIdle(ctx->dev);
        gpu_tensor_destroy(ctx, ctx->scratch);
        gpu_pipelines_destroy(ctx);
        gpu_staging_destroy(ctx);
        if (ctx->cmd_pool) ctx->vk.vkDestroyCommandPool(ctx->dev, ctx->cmd_pool, NULL);
        ctx->vk.vkDestroyDevice(ctx->dev, NULL);
    }
    destroy_instance(ctx);
    free(ctx->profile);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->val_lock);
    free(ctx);
}
