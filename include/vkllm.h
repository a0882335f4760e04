/* vkllm — run Llama-architecture chat models on any Vulkan GPU.
 *
 * Public C API. Every function returns a vkllm_status; on failure the
 * caller-supplied error buffer (where one is taken) holds one line saying
 * what went wrong and what to do. The library never prints and never exits.
 * No global state: everything lives in objects the caller creates and frees.
 */
#ifndef VKLLM_H
#define VKLLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKLLM_VERSION_MAJOR 0
#define VKLLM_VERSION_MINOR 1
#define VKLLM_VERSION_PATCH 0
#define VKLLM_VERSION_STRING "0.1.0"

typedef enum vkllm_status {
    VKLLM_OK = 0,
    VKLLM_ERR_INVALID_ARG,   /* a caller passed something out of range */
    VKLLM_ERR_NO_VULKAN,     /* no Vulkan loader or no driver on this machine */
    VKLLM_ERR_NO_DEVICE,     /* no (matching / suitable) Vulkan device */
    VKLLM_ERR_VULKAN,        /* a Vulkan call failed */
    VKLLM_ERR_OUT_OF_MEMORY, /* host or device memory exhausted */
    VKLLM_ERR_UNSUPPORTED,   /* the device lacks a feature vkllm needs */
    VKLLM_ERR_VALIDATION,    /* the Vulkan validation layer reported a message */
    VKLLM_ERR_IO,            /* a file could not be read */
    VKLLM_ERR_FORMAT,        /* a file is malformed */
    VKLLM_ERR_CHECK_FAILED,  /* a self-check found wrong results */
} vkllm_status;

/* Short constant name of a status ("VKLLM_ERR_NO_VULKAN"); never NULL. */
const char *vkllm_status_name(vkllm_status s);

/* ---------------------------------------------------------------- devices */

typedef enum vkllm_device_type {
    VKLLM_DEVICE_OTHER = 0,
    VKLLM_DEVICE_INTEGRATED,
    VKLLM_DEVICE_DISCRETE,
    VKLLM_DEVICE_VIRTUAL,
    VKLLM_DEVICE_CPU,
} vkllm_device_type;

#define VKLLM_MAX_HEAPS 16

/* Everything vkllm wants to know about one Vulkan device. Plain data. */
typedef struct vkllm_device_info {
    uint32_t index;               /* position in Vulkan's enumeration */
    char name[256];
    vkllm_device_type type;
    uint32_t vendor_id, device_id;
    char driver_name[256], driver_info[256];
    uint32_t api_version;         /* VK_MAKE_API_VERSION packing */
    /* arithmetic and storage */
    int fp16_arith, int8_arith;   /* shaderFloat16 / shaderInt8 */
    int storage16, storage8;      /* 16/8-bit storage buffer access */
    /* subgroups */
    uint32_t subgroup_size;       /* default size */
    uint32_t subgroup_min, subgroup_max; /* with size control, else = default */
    int subgroup_size_control;    /* VK_EXT_subgroup_size_control usable */
    int subgroup_arith, subgroup_shuffle; /* compute-stage support of these ops */
    int coopmat_nv;               /* VK_NV_cooperative_matrix offered */
    /* limits */
    uint64_t max_storage_buffer_range;
    uint64_t max_memory_allocation_size;
    uint32_t max_shared_memory;   /* bytes per workgroup */
    uint32_t max_workgroup_invocations;
    uint32_t max_push_constants;  /* bytes */
    uint32_t n_heaps;
    uint64_t heap_size[VKLLM_MAX_HEAPS];
    int heap_device_local[VKLLM_MAX_HEAPS];
    uint64_t device_local_bytes;  /* sum of device-local heaps */
    int timestamps;               /* compute queue supports timestamps */
    double timestamp_period_ns;
} vkllm_device_info;

/* Lists the Vulkan devices. Fills up to `max` entries of `out` and sets
 * *count to the number of devices found (which may exceed max).
 * Errors: VKLLM_ERR_NO_VULKAN when no loader/driver is present. */
vkllm_status vkllm_list_devices(vkllm_device_info *out, uint32_t max, uint32_t *count,
                                char *err, size_t err_len);

/* ---------------------------------------------------------------- self-check */

/* One row of the kernel self-check: a kernel run once against the CPU
 * reference on random data. Plain data; strings are static or inline. */
typedef struct vkllm_check_result {
    char kernel[32];
    char shape[96];
    double max_err;    /* largest |gpu - ref| over the output */
    double ratio;      /* largest |gpu - ref| / allowed, over the output: passes iff <= 1 */
    int passed;
    char detail[160]; /* first mismatch or other reason for failure, "" if passed */
    double gpu_us;     /* GPU time of the kernel's dispatches, 0 if unknown */
} vkllm_check_result;

typedef struct vkllm_selftest_options {
    const char *device;   /* index ("1") or name substring; NULL: VKLLM_DEVICE or best */
    int validate;         /* enable VK_LAYER_KHRONOS_validation; messages fail the run */
    int full_size;        /* also run SOLAR-10.7B-sized shapes */
    uint64_t seed;
} vkllm_selftest_options;

/* Called once per checked kernel; return non-zero to stop early. */
typedef int (*vkllm_check_cb)(const vkllm_check_result *r, void *user);

/* Runs every kernel once against its CPU reference on the chosen device.
 * `device_name` (may be NULL) receives the chosen device's name.
 * Returns VKLLM_ERR_CHECK_FAILED if any kernel failed, VKLLM_ERR_VALIDATION
 * if the validation layer spoke, other errors as named. */
vkllm_status vkllm_selftest(const vkllm_selftest_options *opts, vkllm_check_cb cb, void *user,
                            char *device_name, size_t device_name_len,
                            char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
