/* The GPU layer: the only code that calls Vulkan. This header is
 * Vulkan-free so that src/ops and above never see a Vulkan type.
 *
 * Objects:
 *   gpu_ctx      instance + one device + one compute queue + staging ring +
 *                pipeline cache; holds the last error message.
 *   gpu_tensor   device-local bytes, split transparently into chunks no
 *                larger than the device's storage-buffer range / allocation
 *                size; chunk boundaries fall on a caller-given granule
 *                (e.g. one weight row), so a chunk holds whole rows.
 *   gpu_pipeline a compute pipeline from embedded SPIR-V + spec constants,
 *                owned and cached by the context.
 *   gpu_rec      a recording: command buffer + the descriptor sets it uses
 *                + optional timestamps. Record once, submit many times.
 *                Errors stick to it: the first failure of anything recorded
 *                into it (an op's argument check, a pipeline, a dispatch)
 *                is kept with its message, later recording calls do
 *                nothing, and gpu_rec_end returns it — as Vulkan's own
 *                vkCmd* return nothing and errors surface at
 *                vkEndCommandBuffer. Callers record a whole graph without a
 *                check per call. A submit waits for it, or (submit_async)
 *                leaves it in flight until gpu_rec_wait.
 */
#ifndef VKLLM_GPU_H
#define VKLLM_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkllm.h"

typedef struct gpu_ctx gpu_ctx;
typedef struct gpu_tensor gpu_tensor;
typedef struct gpu_pipeline gpu_pipeline;
typedef struct gpu_rec gpu_rec;

/* ------------------------------------------------------------ context */

typedef struct gpu_opts {
    const char *device;  /* "1" (index) or a name substring; NULL: $VKLLM_DEVICE, else best */
    bool validate;       /* also forced on by VKLLM_VALIDATE=1 */
    uint64_t staging_bytes; /* size of the staging ring; 0: 32 MiB */
    uint64_t max_chunk_bytes; /* 0: device limits; else a smaller cap (tests use it) */
} gpu_opts;

/* Creates the context. On failure *out is NULL and err holds the reason. */
vkllm_status gpu_ctx_create(const gpu_opts *opts, gpu_ctx **out, char *err, size_t err_len);
/* Destroys the context and everything it owns (pipelines). NULL is fine.
 * Tensors and recordings must be destroyed first. */
void gpu_ctx_destroy(gpu_ctx *ctx);

/* The last error message the GPU layer set on the calling thread ("" if
 * none): errors are per thread, so sessions of one context on different
 * threads keep their own. Read it right after the failing call. */
const char *gpu_error(const gpu_ctx *ctx);
/* Sets the context's error message (printf-style) and returns `s`. */
vkllm_status gpu_fail(gpu_ctx *ctx, vkllm_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The largest chunk a tensor may have on this context (bytes): what one
 * shader binding can cover. */
uint64_t gpu_max_chunk_bytes(const gpu_ctx *ctx);

/* Device-local memory: what the fit checks may still plan with (the heaps
 * less what this context has allocated; with VK_EXT_memory_budget at most
 * what the driver's budget says is free now; at most $VKLLM_MEMORY_LIMIT
 * less what is allocated, where that is set), what this context has
 * allocated, and the limit (0: none). Thread-safe. */
uint64_t gpu_mem_free(gpu_ctx *ctx);
uint64_t gpu_mem_used(gpu_ctx *ctx);
uint64_t gpu_mem_limit(const gpu_ctx *ctx);

/* The chosen device's properties and capabilities. */
const vkllm_device_info *gpu_info(const gpu_ctx *ctx);
/* The ops layer's device profile for this context (src/ops/profile.h):
 * the GPU layer only keeps it, without looking inside, and frees it (with
 * free()) when the context is destroyed. NULL until ops_profile_of makes
 * it; set takes ownership of a malloc'd profile. */
struct ops_profile;
struct ops_profile *gpu_ops_profile(const gpu_ctx *ctx);
void gpu_set_ops_profile(gpu_ctx *ctx, struct ops_profile *p);

/* Number of messages the validation layer has reported so far, and the
 * first of them ("" if none). Always 0 when validation is off. */
uint32_t gpu_validation_count(const gpu_ctx *ctx);
const char *gpu_validation_first(const gpu_ctx *ctx);
bool gpu_validation_enabled(const gpu_ctx *ctx);

/* Enumerates devices without creating a context (used by `vkllm devices`). */
vkllm_status gpu_list_devices(vkllm_device_info *out, uint32_t max, uint32_t *count,
                              char *err, size_t err_len);

/* ------------------------------------------------------------ tensors */

/* Creates a device-local tensor of `bytes`, split into chunks of at most the
 * device limit, each chunk a whole number of `granule` bytes (granule 0 or 1:
 * any split; granule must divide nothing in particular, but one granule must
 * fit in a chunk). Contents are undefined. */
vkllm_status gpu_tensor_create(gpu_ctx *ctx, uint64_t bytes, uint64_t granule, gpu_tensor **out);
void gpu_tensor_destroy(gpu_ctx *ctx, gpu_tensor *t);

/* Creates a small host-visible, host-coherent tensor of one chunk, mapped
 * for its whole life: the host writes per-step inputs (token ids,
 * positions) into it before a submit and reads results (logits, argmax)
 * after one, with no staging copy and no extra submit. Shaders bind it like
 * any tensor. Fails (UNSUPPORTED) if `bytes` exceed one chunk. */
vkllm_status gpu_tensor_create_mapped(gpu_ctx *ctx, uint64_t bytes, gpu_tensor **out);
/* The mapped bytes of such a tensor; NULL for device-local tensors. Valid
 * to touch only while no submitted recording that uses it is running. */
void *gpu_tensor_map(const gpu_tensor *t);

/* A tag the GPU layer stores and never interprets: src/ops keeps the weight
 * type of a matrix in it (0, the default: fp16; else a ggml block type id). */
void gpu_tensor_set_format(gpu_tensor *t, uint32_t format);
uint32_t gpu_tensor_format(const gpu_tensor *t);

uint64_t gpu_tensor_bytes(const gpu_tensor *t);
uint32_t gpu_tensor_n_chunks(const gpu_tensor *t);
uint64_t gpu_tensor_chunk_offset(const gpu_tensor *t, uint32_t chunk); /* first byte, in the tensor */
uint64_t gpu_tensor_chunk_bytes(const gpu_tensor *t, uint32_t chunk);

/* The context's scratch tensor: device-local, one chunk of `bytes`, made
 * on the first call and destroyed with the context; a later call asking
 * for more than the first made fails (INVALID_ARG), so callers always ask
 * for the same size. For an op that stages data between two of its own
 * dispatches; it puts barriers around every use (recordings share it). */
vkllm_status gpu_scratch(gpu_ctx *ctx, uint64_t bytes, gpu_tensor **out);

/* Host -> device and device -> host through the fixed-size staging ring;
 * byte ranges may cross chunks. Both wait until the copy is done. */
vkllm_status gpu_upload(gpu_ctx *ctx, gpu_tensor *t, uint64_t offset, const void *src, uint64_t bytes);
vkllm_status gpu_download(gpu_ctx *ctx, gpu_tensor *t, uint64_t offset, void *dst, uint64_t bytes);
/* Fills the whole tensor with a repeated 32-bit pattern (used to poison outputs). */
vkllm_status gpu_fill(gpu_ctx *ctx, gpu_tensor *t, uint32_t pattern);

/* A byte range of one chunk of a tensor, bound to one shader binding. */
typedef struct gpu_binding {
    gpu_tensor *t;
    uint32_t chunk;
    uint64_t offset; /* within the chunk */
    uint64_t range;  /* 0: to the end of the chunk */
} gpu_binding;

/* Bytes a binding covers; 0 if it names no chunk of its tensor or starts
 * past the chunk's end. Ops check their shapes against it. */
uint64_t gpu_binding_bytes(gpu_binding b);

/* The multiple a storage binding's offset must be on this device
 * (minStorageBufferOffsetAlignment; a power of two, at most 256). */
uint64_t gpu_storage_offset_align(const gpu_ctx *ctx);

/* Whole (single-chunk) tensor as a binding. */
static inline gpu_binding gpu_bind(gpu_tensor *t) { return (gpu_binding){ t, 0, 0, 0 }; }
static inline gpu_binding gpu_bind_chunk(gpu_tensor *t, uint32_t c) { return (gpu_binding){ t, c, 0, 0 }; }

/* ------------------------------------------------------------ pipelines */

#define GPU_MAX_BINDINGS 8
#define GPU_MAX_SPEC 8

typedef struct gpu_pipeline_desc {
    const char *shader;      /* name of an embedded SPIR-V module, e.g. "rmsnorm" */
    uint32_t n_buffers;      /* storage buffers at bindings 0..n-1 of set 0 */
    uint32_t push_bytes;     /* size of the push-constant struct */
    uint32_t n_spec;         /* spec constants with ids 0..n-1 ... */
    uint32_t spec[GPU_MAX_SPEC]; /* ... and their 32-bit values */
    uint32_t required_subgroup_size; /* 0: driver's choice */
    uint32_t texel_mask;     /* bit i: binding i is a uniform texel buffer of uvec4 texels
                                (R32G32B32A32_UINT, `usamplerBuffer` in GLSL) instead of a
                                storage buffer; its binding must cover a whole chunk */
} gpu_pipeline_desc;

/* Returns the context's pipeline for this description, creating it on first
 * use. The context owns it; don't destroy it. */
vkllm_status gpu_pipeline_get(gpu_ctx *ctx, const gpu_pipeline_desc *desc, gpu_pipeline **out);
/* The same for an op recording into `rec`: NULL on failure, which sticks to
 * the recording (a dispatch of a NULL pipeline then does nothing). */
gpu_pipeline *gpu_rec_pipeline(gpu_rec *rec, const gpu_pipeline_desc *desc);

/* Texels (16 bytes each) a uniform texel buffer binding may have on this
 * device: ops use texel-buffer variants only for chunks within it. */
uint64_t gpu_max_texels(const gpu_ctx *ctx);

/* True if an embedded SPIR-V module of that name exists (optional variants). */
bool gpu_shader_available(const char *name);

/* ------------------------------------------------------------ recording */

/* Starts a recording. `max_timed` > 0 reserves room for that many timed
 * dispatches (timestamps around each); 0 records without timing. */
vkllm_status gpu_rec_begin(gpu_ctx *ctx, uint32_t max_timed, gpu_rec **out);

/* The recording's first error (VKLLM_OK while none). Ops start with
 * `if (gpu_rec_status(rec)) return gpu_rec_status(rec);` so that nothing
 * they would read (a tensor that failed to be created) is touched after a
 * failure. */
vkllm_status gpu_rec_status(const gpu_rec *rec);
/* Sets the context's error message (printf-style) and, if it is the
 * recording's first error, keeps it with the recording; returns `s`. What
 * ops use instead of gpu_fail. */
vkllm_status gpu_rec_fail(gpu_rec *rec, vkllm_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Feeds a status from outside the recording (creating a tensor it writes,
 * a helper's check) into it: a failure (its message is the context's
 * current error) becomes the recording's first error if it has none.
 * Returns the recording's status. */
vkllm_status gpu_rec_note(gpu_rec *rec, vkllm_status s);

/* Records a dispatch. `label` names the op in timings (static string).
 * The descriptor set is made now and lives as long as the recording. */
vkllm_status gpu_dispatch(gpu_rec *rec, gpu_pipeline *p, const gpu_binding *b, uint32_t n_b,
                          const void *push, uint32_t gx, uint32_t gy, uint32_t gz,
                          const char *label);

/* Compute-to-compute (and transfer) memory barrier: every earlier shader or
 * copy write is visible to every later shader or copy access. Callers say
 * which hazard they close in a comment. */
void gpu_barrier(gpu_rec *rec);

/* Buffer copy and fill inside a recording. */
vkllm_status gpu_rec_copy(gpu_rec *rec, gpu_binding dst, gpu_binding src, uint64_t bytes);
vkllm_status gpu_rec_fill(gpu_rec *rec, gpu_binding dst, uint64_t bytes, uint32_t pattern);

/* Ends recording; the recording can then be submitted any number of times.
 * Ends with a barrier that makes every shader and copy write visible to the
 * host, so mapped tensors can be read right after gpu_rec_submit. Returns
 * the recording's first error, its message back in gpu_error (whatever
 * failed after it), or vkEndCommandBuffer's. */
vkllm_status gpu_rec_end(gpu_rec *rec);
/* Submits and waits for completion. */
vkllm_status gpu_rec_submit(gpu_rec *rec);
/* The same in two halves, so the host works while the device runs it:
 * submit_async returns once it is queued; the recording is then in flight
 * until gpu_rec_wait returns VKLLM_OK. While in flight it may not be
 * submitted again (INVALID_ARG), mapped tensors it uses may not be touched
 * and tensors it uses may not be destroyed; gpu_rec_destroy waits for it
 * first. Work queued later on the context may run beside it: a later
 * recording that touches what it writes needs a gpu_barrier before. (A
 * gpu_upload or gpu_download meanwhile also waits for it: their fences
 * cover all work queued before them.) gpu_rec_wait on a recording not in
 * flight returns VKLLM_OK at once. */
vkllm_status gpu_rec_submit_async(gpu_rec *rec);
vkllm_status gpu_rec_wait(gpu_rec *rec);
/* After a submit of a timed recording: number of timed dispatches and their
 * labels / GPU microseconds. Returns 0 when timing was off or unsupported. */
uint32_t gpu_rec_timings(const gpu_rec *rec, const char **labels, double *us, uint32_t max);
/* Tags the dispatches recorded from now on (a static string naming the
 * step they belong to, e.g. "attn q/k/v"); gpu_rec_timing_tags returns
 * each timed dispatch's tag ("" if none), in the order of gpu_rec_timings. */
void gpu_rec_tag(gpu_rec *rec, const char *tag);
uint32_t gpu_rec_timing_tags(const gpu_rec *rec, const char **tags, uint32_t max);
/* Sum of all timed dispatches' GPU microseconds (0 if untimed). */
double gpu_rec_total_us(const gpu_rec *rec);
void gpu_rec_destroy(gpu_rec *rec);

/* Convenience: the error message of the context a recording belongs to. */
gpu_ctx *gpu_rec_ctx(const gpu_rec *rec);

#endif
