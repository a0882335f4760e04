/* vkllm — run Llama-architecture chat models on any Vulkan GPU.
 *
 * Public C API. Every function returns a vkllm_status; on failure the
 * caller-supplied error buffer (where one is taken) holds one line saying
 * what went wrong and what to do. The library never prints and never exits.
 * No global state: everything lives in objects the caller creates and frees
 * (the Vulkan loader library alone is opened once per process, thread-safely).
 */
#ifndef VKLLM_H
#define VKLLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* VKLLM_API marks what libvkllm exports: the library is built with
 * -fvisibility=hidden, so nothing else is visible to a program linking it.
 * On Windows it is dllexport while building the DLL (VKLLM_BUILD) and
 * dllimport for its users unless they link the static library (VKLLM_STATIC). */
#ifndef VKLLM_API
#if defined(_WIN32) && !defined(VKLLM_STATIC)
#ifdef VKLLM_BUILD
#define VKLLM_API __declspec(dllexport)
#else
#define VKLLM_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define VKLLM_API __attribute__((visibility("default")))
#else
#define VKLLM_API
#endif
#endif

/* Threads. Every function may be called from any thread; what may run at
 * the same time:
 *   - Different models (and their sessions) are independent: load, use and
 *     free them on different threads at once.
 *   - One model, several sessions: different sessions of one model may be
 *     used from different threads concurrently (vkllm_session_eval,
 *     vkllm_generate, vkllm_chat, ...). Their GPU work goes to the model's
 *     one device queue, submitted in turn inside the library, so they share
 *     the device's throughput. vkllm_session_create and vkllm_session_free
 *     may run while other sessions of the model work, and so may the
 *     model's read-only queries (vkllm_model_get_info, _device, _tokenizer,
 *     _chat_template, _profile, _tuning, _validation_messages).
 *   - One session: one thread at a time. Calls on a session must not
 *     overlap (it may move between threads between calls); its callbacks run
 *     on the calling thread, and must not call into the same session.
 *   - A batch (vkllm_batch_*): like a session, one thread at a time; while
 *     vkllm_batch_eval runs, its sessions are not used elsewhere. Batches
 *     and other sessions of the model may run on other threads meanwhile.
 *   - vkllm_model_free: only once no call on the model or any of its
 *     sessions is running and every session and batch is freed.
 *   - A tokenizer (loaded or a model's) is read-only: any threads at once.
 *   - The calls without a handle (vkllm_list_devices, vkllm_model_inspect,
 *     vkllm_quantize, vkllm_selftest, ...) share no state with each other.
 *   - Error messages go to the caller's buffer, or to the session
 *     (vkllm_session_error, valid until the session's next call).
 */

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
VKLLM_API const char *vkllm_status_name(vkllm_status s);

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
    int coopmat_nv;               /* VK_NV_cooperative_matrix offered with 16x16x16 fp16 x fp16 + fp32
                                     at subgroup scope (tensor cores for prefill) */
    /* limits */
    uint64_t max_storage_buffer_range;
    uint64_t max_texel_buffer_elements; /* texels of a uniform texel buffer (weights on CPU devices) */
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
    int memory_budget;            /* VK_EXT_memory_budget offered: device_local_free is the driver's budget */
    uint64_t device_local_free;   /* device-local bytes free now: with memory_budget the sum over device-local
                                     heaps of budget - usage (what this process may still allocate), else
                                     device_local_bytes */
} vkllm_device_info;

/* Lists the Vulkan devices. Fills up to `max` entries of `out` and sets
 * *count to the number of devices found (which may exceed max).
 * Errors: VKLLM_ERR_NO_VULKAN when no loader/driver is present. */
VKLLM_API vkllm_status vkllm_list_devices(vkllm_device_info *out, uint32_t max, uint32_t *count,
                                char *err, size_t err_len);

/* ---------------------------------------------------------------- bandwidth */

#define VKLLM_MAX_MATVEC_SHAPES 8

/* Measured memory bandwidth of a device (GB/s = 1e9 bytes/s). */
typedef struct vkllm_bandwidth {
    char device[256];
    double copy_gbps;         /* vkCmdCopyBuffer between two device buffers: bytes read + written per second */
    uint64_t copy_bytes;      /* bytes per copy */
    uint32_t n_matvec;
    struct {
        uint32_t rows, cols;  /* fp16 weights [rows][cols] times one fp32 vector */
        double us;            /* median GPU time of one product */
        double gbps;          /* weight bytes read per second */
    } matvec[VKLLM_MAX_MATVEC_SHAPES];
} vkllm_bandwidth;

/* Measures copy bandwidth on the chosen device and, for each (rows, cols)
 * of `shapes` (n_shapes <= VKLLM_MAX_MATVEC_SHAPES; NULL: SOLAR-10.7B's
 * 4096x4096, 1024x4096, 14336x4096, 4096x14336, 32000x4096), the decode
 * matrix-vector kernel's achieved weight-read bandwidth, streaming through
 * copies of the weights (320 MiB in all, more than any GPU's cache holds,
 * as a decode step streams through its layers); `reps` timed runs each (0:
 * 10), after a warm-up. Errors: the device's, OUT_OF_MEMORY. */
VKLLM_API vkllm_status vkllm_measure_bandwidth(const char *device, const uint32_t (*shapes)[2], uint32_t n_shapes, uint32_t reps,
                                     vkllm_bandwidth *out, char *err, size_t err_len);

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
VKLLM_API vkllm_status vkllm_selftest(const vkllm_selftest_options *opts, vkllm_check_cb cb, void *user,
                            char *device_name, size_t device_name_len,
                            char *err, size_t err_len);

/* ---------------------------------------------------------------- models */

/* A model file described without loading its weights. Plain data. */
typedef struct vkllm_model_info {
    char format[16];            /* "gguf", "hf" (a Hugging Face folder) or "synthetic" */
    char architecture[64];      /* "llama", "LlamaForCausalLM", "MistralForCausalLM", ... */
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab, n_ctx_train, n_rot;
    float rope_theta, rms_eps;
    int tied_embeddings;        /* the output projection is the token embedding */
    int rope_pairing;           /* q/k row layout: 0 adjacent pairs (GGUF), 1 rotate-half (HF) */
    uint64_t n_tensors;
    uint64_t n_tensors_f32, n_tensors_f16, n_tensors_bf16;
    uint64_t n_params;          /* weights, counted once when tied */
    uint64_t file_bytes;        /* bytes of weight data in the file(s) */
    char tensor_types[512];     /* the weight type of each tensor kind, in file order, e.g. "token_embd F16,
                                   attn_norm F32, attn_q F16, ..., output F16" (a kind whose layers differ:
                                   "F16/BF16"); "" for synthetic models */
    uint64_t device_weight_bytes; /* the weights on the device: fp16 matrices, or quantized ones in their
                                     blocks, and fp32 norms; 0 in an info filled by hand: vkllm_model_memory
                                     then assumes fp16 matrices of the hparams' shapes */
    uint64_t decode_bytes_per_token; /* device weight bytes one decode step reads: every matrix and norm,
                                        of the embedding table one row (all of it when tied) */
    char weight_type[16];       /* the matrices' type on the device: "F16", "Q4_K", ... (the type of most
                                   of the matrix weights; a mix has others on some tensors; quantize on
                                   load: the type they get); synthetic models: the type asked, "F16" or
                                   e.g. "Q4_K_M" */
    char quant_search[8];       /* quantized on load: the scale search the K-quants and IQ4 used, "exact" or
                                   "fast" (vkllm_load_options.quant_search); "" otherwise, and when no
                                   tensor got a type that has one (q8_0 has none) */
} vkllm_model_info;

/* Device memory a model needs for one session. */
typedef struct vkllm_memory {
    uint64_t weights;     /* fp16 matrices + fp32 norm weights */
    uint64_t kv_cache;    /* fp16 K and V for n_ctx positions, every layer */
    uint64_t activations; /* per-block buffers and logits */
    uint64_t total;
    uint32_t n_ctx;       /* the context this is for (the default when 0 was asked) */
} vkllm_memory;

/* Reads a model's description: `path` is a .gguf file, a Hugging Face
 * folder (config.json + model.safetensors or shards), or that folder's
 * config.json. Maps the file(s) but touches no weight data and no GPU.
 * Errors name the file and the field: VKLLM_ERR_IO, VKLLM_ERR_FORMAT,
 * VKLLM_ERR_UNSUPPORTED (quantized weights, another architecture). */
VKLLM_API vkllm_status vkllm_model_inspect(const char *path, vkllm_model_info *info, char *err, size_t err_len);

/* As vkllm_model_inspect, describing the model as vkllm_model_load with
 * opts.quant = quant would load it: tensor_types, device_weight_bytes and
 * decode_bytes_per_token of the quantized matrices (so vkllm_model_memory
 * says what quantize on load needs); file_bytes and the tensor counts stay
 * the file's. quant NULL: vkllm_model_inspect. Errors as vkllm_model_inspect,
 * plus INVALID_ARG (unknown type, listing the valid ones) and UNSUPPORTED
 * (an already quantized model). */
VKLLM_API vkllm_status vkllm_model_inspect_quant(const char *path, const char *quant, vkllm_model_info *info,
                                                 char *err, size_t err_len);

/* What a model described by `info` needs for a session of n_ctx positions
 * (0: min(n_ctx_train, 4096)) and prefill blocks of n_batch tokens (0: 256). */
VKLLM_API vkllm_memory vkllm_model_memory(const vkllm_model_info *info, uint32_t n_ctx, uint32_t n_batch);

/* The device a context with this selector would use (index or name
 * substring; NULL: $VKLLM_DEVICE, else the best). Creates and destroys a
 * Vulkan device. Errors: VKLLM_ERR_NO_VULKAN, VKLLM_ERR_NO_DEVICE. */
VKLLM_API vkllm_status vkllm_device_choose(const char *device, vkllm_device_info *out, char *err, size_t err_len);

typedef struct vkllm_model vkllm_model;     /* weights on one device */
typedef struct vkllm_session vkllm_session; /* one KV cache over a model */

/* Load progress: bytes uploaded of total. Return non-zero to cancel. */
typedef int (*vkllm_progress_cb)(uint64_t done, uint64_t total, void *user);

typedef struct vkllm_load_options {
    const char *device;         /* as vkllm_device_choose; NULL: $VKLLM_DEVICE, else the best */
    int validate;               /* enable the Khronos validation layer (tests) */
    uint32_t n_ctx;             /* context the first session will use, for the fit check (0: default) */
    vkllm_progress_cb progress; /* may be NULL */
    void *progress_user;
    const char *quant;          /* quantize on load: a scheme of vkllm_quantize_types() but "f32", "f16",
                                   "bf16" ("q4_k_m", "Q8_0", ...; case-insensitive) for an F32/F16/BF16
                                   model, whose matrices get the types `vkllm quantize` would give them;
                                   NULL: the weights as the file has them */
    const char *synthetic_type; /* vkllm_model_synthetic only: the weights' type, "f16" (NULL: f16), a ggml
                                   block type for every matrix ("q8_0", "q4_k", "iq4_xs", ...) or a
                                   llama-quantize mix ("q4_k_m": each tensor the type the mix gives it) */
    const char *quant_search;   /* with quant, how the K-quants and IQ4 find their scales: "exact" (the
                                   formats' reference search: llama-quantize's blocks, byte for byte),
                                   "fast" (a few of its candidate scales: about 3x faster on the CPU, RMS
                                   error within 1 % of exact's on the tests' weights); NULL: the device's
                                   default, "exact" where the device quantizes (GPUs), "fast" where the
                                   CPU's threads do (CPU devices such as lavapipe). README, Quantize on
                                   load. Without quant: must be NULL */
} vkllm_load_options;

/* Opens `path` (as vkllm_model_inspect), checks that weights + a session of
 * n_ctx positions fit the device (VKLLM_ERR_OUT_OF_MEMORY with the numbers
 * and a hint if not), and uploads the weights (F16 as is; BF16 and F32
 * converted to fp16). Host memory use stays bounded: the file is mapped and
 * streamed. *out is freed with vkllm_model_free. Errors as
 * vkllm_model_inspect plus the device's (NO_VULKAN, NO_DEVICE,
 * OUT_OF_MEMORY, VULKAN, UNSUPPORTED).
 * With opts->quant (quantize on load): the model's matrices are quantized
 * while they stream to the device, on a thread per core overlapped with the
 * upload, through a few buffers of 8 MiB (never the whole model in host
 * memory, never a file); the weights are those `vkllm quantize` writes for
 * the same source and type (an HF folder's q/k rows stay in their order, the
 * RoPE pairing follows them), the fit check uses their quantized size, and
 * vkllm_model_get_info describes them. Errors also: INVALID_ARG for an
 * unknown type (the message lists the valid ones), UNSUPPORTED for a model
 * that is already quantized (load it without quant), FORMAT for a NaN/Inf
 * weight. */
VKLLM_API vkllm_status vkllm_model_load(const char *path, const vkllm_load_options *opts, vkllm_model **out, char *err,
                                        size_t err_len);
/* A model of a well-known shape ("solar-10.7b", "llama-2-7b", "mistral-7b",
 * "tinyllama-1.1b", "small", "tiny") with seeded random weights written
 * directly on the device: no file, no download, no upload, no host copy.
 * fp16 values, or (opts->synthetic_type) random blocks of a quantized type
 * with sane scales. For benchmarks (`vkllm bench --synthetic --type`); its
 * info has format "synthetic". opts as vkllm_model_load (progress unused).
 * Errors: INVALID_ARG for an unknown shape or type (the message lists the
 * known ones), and the device's. */
VKLLM_API vkllm_status vkllm_model_synthetic(const char *shape, const vkllm_load_options *opts, vkllm_model **out,
                                             char *err, size_t err_len);
/* Frees the weights and the device. Sessions on it must be freed first. NULL is fine. */
VKLLM_API void vkllm_model_free(vkllm_model *m);
/* The loaded model's description. */
VKLLM_API const vkllm_model_info *vkllm_model_get_info(const vkllm_model *m);
/* The device it was loaded on. */
VKLLM_API const vkllm_device_info *vkllm_model_device(const vkllm_model *m);
/* With validation on (opts.validate or VKLLM_VALIDATE=1): how many messages
 * the Khronos validation layer has reported on this model's device so far,
 * and the first (*first may be NULL; "" if none). Always 0 otherwise. A
 * debugging aid: any message is a bug in vkllm or the driver. */
VKLLM_API uint32_t vkllm_model_validation_messages(const vkllm_model *m, const char **first);
/* The device's copy bandwidth as vkllm_measure_bandwidth measures it
 * (bytes read + written per second / 1e9), on a loaded model's device. */
VKLLM_API vkllm_status vkllm_model_copy_bandwidth(vkllm_model *m, double *gbps, char *err, size_t err_len);
/* How the load tuned this device's decode kernels: on GPUs it times a
 * few matrix-vector configurations on the model's own weights (well under
 * a second) and keeps the fastest per weight shape; CPU devices keep
 * configurations measured on lavapipe unless VKLLM_TUNE=1 (VKLLM_TUNE=0:
 * never tune). On GPUs with tensor cores it also times the prefill kernel
 * variants that passed their check and keeps the fastest. Writes a line,
 * the tensor-core line where there is one, then a markdown table (shape,
 * default and chosen workgroup/rows/rows-per-pass, GB/s of weights read
 * by each).
 * snprintf-style: returns the full length, writes at most len bytes (NUL
 * included); m NULL: 0. */
VKLLM_API size_t vkllm_model_tuning(const vkllm_model *m, char *buf, size_t len);
/* The device profile: the kernel choices vkllm makes on a device, as one
 * JSON object: "family" ("cpu" or "gpu": whose measured choices),
 * "as_gpu" (VKLLM_AS_GPU=1 gave a CPU device the GPU family), "reads"
 * ("texel" or "storage" buffers for weights, x, K/V), "prefill" ("matvec",
 * "tiled" or "tensor cores"), "fuse_norm", "fuse_glu", the attention split
 * ("attention_subgroup_splits", "attention_max_ranges"), "tune_at_load",
 * "tensor_cores" (usable, checked, the k slices that passed, the one in
 * use) and "matvec_tuned" (the decode configuration chosen per weight
 * shape). vkllm_device_profile: what a context on a listed device starts
 * with; vkllm_model_profile: a loaded model's, after the load-time checks
 * and tuning. snprintf-style as vkllm_model_tuning; NULL argument: 0. */
VKLLM_API size_t vkllm_device_profile(const vkllm_device_info *d, char *buf, size_t len);
VKLLM_API size_t vkllm_model_profile(const vkllm_model *m, char *buf, size_t len);

typedef struct vkllm_session_options {
    uint32_t n_ctx;     /* KV cache positions; 0: min(n_ctx_train, 4096) */
    uint32_t n_batch;   /* most tokens per prefill block; 0: 256 */
    uint32_t max_timed; /* > 0: time up to that many dispatches per step (vkllm_session_profile) */
} vkllm_session_options;

/* A session (its own KV cache and buffers) on a loaded model. Several
 * sessions may share a model, each used from its own thread if wanted (see
 * "Threads" at the top). Checks first that the session's KV cache and
 * buffers fit the device memory still free (beside the weights and the
 * other sessions; the driver's budget where VK_EXT_memory_budget is
 * offered; $VKLLM_MEMORY_LIMIT). Errors: OUT_OF_MEMORY (with the numbers),
 * UNSUPPORTED (a context longer than a device buffer allows), INVALID_ARG;
 * `err` says which. */
VKLLM_API vkllm_status vkllm_session_create(vkllm_model *m, const vkllm_session_options *opts, vkllm_session **out, char *err,
                                  size_t err_len);
/* Frees the session's KV cache and buffers. NULL is fine. */
VKLLM_API void vkllm_session_free(vkllm_session *s);

/* What vkllm_session_eval returns. */
typedef enum vkllm_logits {
    VKLLM_LOGITS_LAST = 0,   /* logits[n_vocab] of the last token */
    VKLLM_LOGITS_ALL = 1,    /* logits[n][n_vocab] of every token */
    VKLLM_LOGITS_ARGMAX = 2, /* none: only the argmax, computed on the GPU (4 bytes read back) */
    VKLLM_LOGITS_NONE = 3,   /* nothing at all (vkllm_batch_eval only: a prompt chunk before its last) */
} vkllm_logits;

/* Runs n tokens at the next positions of the session (prefill in blocks,
 * or one decode step when n = 1). `logits` as `mode` says (may be NULL for
 * ARGMAX); *argmax (may be NULL) receives the last token's argmax.
 * Errors (nothing runs): INVALID_ARG for a token outside the vocabulary;
 * OUT_OF_MEMORY "context full" when the tokens don't fit the context.
 * The message is in vkllm_session_error. */
VKLLM_API vkllm_status vkllm_session_eval(vkllm_session *s, const int32_t *tokens, uint32_t n, vkllm_logits mode,
                                float *logits, int32_t *argmax);
/* Positions filled so far. */
VKLLM_API uint32_t vkllm_session_pos(const vkllm_session *s);
VKLLM_API uint32_t vkllm_session_n_ctx(const vkllm_session *s);
/* Forgets positions >= pos (a chat rewinds instead of re-running history);
 * 0 clears. INVALID_ARG if pos is past the filled positions. */
VKLLM_API vkllm_status vkllm_session_rewind(vkllm_session *s, uint32_t pos);
/* The last error message on this session ("" if none). */
VKLLM_API const char *vkllm_session_error(const vkllm_session *s);
/* Several sequences in one step (continuous batching). A batch runs one
 * forward pass over the tokens of several sessions of one model: every
 * weight is read once per step for all of them (on a memory-bound GPU, N
 * decoding sequences cost about what one does), while each session keeps
 * its own KV cache, positions and history, and attention of each token sees
 * only its own session's earlier tokens. A step may mix one-token decode
 * rows with a prompt chunk of another session (chunked prefill). Results
 * equal running each session alone, within fp32 rounding (the kernels may
 * sum in another order for another number of rows).
 * The batch holds the step's activation buffers for up to max_rows tokens
 * from up to max_seqs sessions (1 <= max_seqs <= max_rows <= 65535). A
 * batch is used by one thread at a time, and so are its sessions while
 * vkllm_batch_eval runs; other sessions and batches of the model may run on
 * other threads meanwhile (see "Threads" above). Errors:
 * INVALID_ARG, UNSUPPORTED (buffers above the device's limit),
 * OUT_OF_MEMORY; `err` says which. */
typedef struct vkllm_batch vkllm_batch;
VKLLM_API vkllm_status vkllm_batch_create(vkllm_model *m, uint32_t max_rows, uint32_t max_seqs, vkllm_batch **out,
                                          char *err, size_t err_len);
/* NULL is fine. Sessions stay as they are. */
VKLLM_API void vkllm_batch_free(vkllm_batch *b);

/* One session's part of a step: n tokens (1 .. the session's n_batch) at
 * its next positions. mode: VKLLM_LOGITS_LAST (logits[n_vocab] of the last
 * token), VKLLM_LOGITS_ARGMAX or VKLLM_LOGITS_NONE (ALL is refused). */
typedef struct vkllm_batch_seq {
    vkllm_session *session;
    const int32_t *tokens;
    uint32_t n;
    vkllm_logits mode;
    float *logits;  /* [n_vocab] for LAST; else unused (may be NULL) */
    int32_t argmax; /* out: the last token's argmax (LAST, ARGMAX); -1 when no sequence of the step wanted output */
} vkllm_batch_seq;

/* Runs one step over seqs[0 .. n_seq): each session advances by its n (as
 * vkllm_session_eval of those tokens would). Everything is checked before
 * anything runs; errors (nothing runs, no session changes): INVALID_ARG for
 * n_seq 0 or above max_seqs, more than max_rows tokens in all, a session
 * of another model or given twice, no tokens or more than the session's
 * n_batch, a token outside the vocabulary, a bad mode or missing logits
 * buffer; OUT_OF_MEMORY "context full" for a session whose context the
 * tokens don't fit (the message names the sequence); VULKAN from the
 * device. The message is in vkllm_batch_error. */
VKLLM_API vkllm_status vkllm_batch_eval(vkllm_batch *b, vkllm_batch_seq *seqs, uint32_t n_seq);
/* The last error message of this batch ("" if none). */
VKLLM_API const char *vkllm_batch_error(const vkllm_batch *b);
VKLLM_API uint32_t vkllm_batch_max_rows(const vkllm_batch *b);
VKLLM_API uint32_t vkllm_batch_max_seqs(const vkllm_batch *b);

/* One timed dispatch of a step. Strings are static. */
typedef struct vkllm_profile_entry {
    const char *step;   /* "attn q/k/v", "attention", "ffn down", "output", ... */
    const char *kernel; /* "matvec", "matmul", "attention", "rmsnorm", ... */
    double us;          /* GPU time */
} vkllm_profile_entry;

/* Per-dispatch GPU times of the last block run (the session made with
 * max_timed > 0; 0 entries otherwise or where the device has no
 * timestamps): fills up to max entries in recording order, returns how many. */
VKLLM_API uint32_t vkllm_session_profile(const vkllm_session *s, vkllm_profile_entry *out, uint32_t max);

/* ---------------------------------------------------------------- quantize */

/* One tensor of a vkllm_quantize output, as planned. The strings live until
 * the callback returns. */
typedef struct vkllm_quantize_tensor {
    const char *name;         /* GGUF name: "token_embd.weight", "blk.0.attn_q.weight", ... */
    uint32_t n_dims;
    uint64_t ne[4];           /* GGUF order: ne[0] is the row length; unused dims 1 */
    const char *src_type;     /* the source's type: "F16", "BF16", "F32" (or "Q4_K", ... when requantizing) */
    const char *type;         /* the output's: "Q4_K", "Q6_K", "F32", ... */
    uint64_t src_bytes, bytes;
    uint32_t index, n_tensors; /* position in the output, count */
} vkllm_quantize_tensor;

/* Called for each tensor in file order before any data is written (also in
 * a dry run); return non-zero to cancel. */
typedef int (*vkllm_quantize_tensor_cb)(const vkllm_quantize_tensor *t, void *user);

typedef struct vkllm_quantize_options {
    const char *type;           /* a name of vkllm_quantize_types(), case-insensitive ("q4_k_m", "Q8_0") */
    int allow_requantize;       /* accept an already quantized GGUF source (dequantized, then quantized again,
                                   which loses quality); without it such a source is refused */
    int overwrite;              /* replace an existing output file; without it one is refused */
    int dry_run;                /* plan only: on_tensor and stats, nothing written */
    uint32_t n_threads;         /* threads quantizing rows; 0: one per core */
    vkllm_quantize_tensor_cb on_tensor; /* may be NULL */
    vkllm_progress_cb progress; /* may be NULL: output bytes done of total; non-zero cancels */
    void *user;                 /* passed to both callbacks */
    const char *search;         /* the K-quants' and IQ4's scale search, as vkllm_load_options.quant_search:
                                   "exact" (NULL: the default; llama-quantize's blocks) or "fast" */
} vkllm_quantize_options;

typedef struct vkllm_quantize_stats {
    uint64_t n_tensors;
    uint64_t n_quantized;       /* tensors written in a block type */
    uint64_t src_bytes;         /* tensor data of the source */
    uint64_t out_bytes;         /* the output file's size */
    uint32_t n_threads;         /* threads used */
    uint32_t file_type;         /* general.file_type written (llama.cpp's LLAMA_FTYPE_*) */
} vkllm_quantize_stats;

/* The type names vkllm_quantize accepts, lower case, NULL-terminated, static:
 * the mixes of llama-quantize ("q2_k", "q3_k_s", "q3_k_m", "q3_k_l",
 * "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m"), the pure types ("q4_0", "q4_1",
 * "q5_0", "q5_1", "q8_0", "q6_k", "iq4_nl", "iq4_xs") and the conversions
 * without quantizing ("f32", "f16", "bf16"). README's Quantization section
 * gives each mix's rule. */
VKLLM_API const char *const *vkllm_quantize_types(void);

/* Writes `out`, a GGUF that llama.cpp loads as one of its own, from `in`: a
 * Hugging Face folder (config.json + safetensors + tokenizer.json; its q/k
 * rows permuted to GGUF's layout, its tokenizer and chat template converted
 * to tokenizer.ggml.* / tokenizer.chat_template) or a GGUF file (F32, F16,
 * BF16; its metadata and tokenizer copied). Rows are quantized on
 * opt->n_threads threads. The file is written under a temporary name beside
 * `out` and renamed when complete: on any error or cancel nothing is left
 * behind and an existing `out` is untouched. stats (may be NULL) is filled
 * on success (also for a dry run). Errors, the message naming the file and
 * what to do: INVALID_ARG (unknown type, `out` exists without overwrite,
 * cancelled), UNSUPPORTED (a quantized source without allow_requantize, a
 * block type vkllm cannot read, another architecture or tokenizer kind),
 * IO (unreadable source, unwritable folder, full disk), FORMAT (malformed
 * source, NaN/Inf weights), OUT_OF_MEMORY. */
VKLLM_API vkllm_status vkllm_quantize(const char *in, const char *out, const vkllm_quantize_options *opt,
                            vkllm_quantize_stats *stats, char *err, size_t err_len);

/* ---------------------------------------------------------------- text */

typedef struct vkllm_tokenizer vkllm_tokenizer;

/* Loads a tokenizer on its own: a model (.gguf, HF folder) or a vocabulary
 * alone (a tokenizer.json, its folder, or a vocab-only GGUF). SentencePiece
 * BPE (Llama-2, Mistral, SOLAR). *out is freed with vkllm_tokenizer_free.
 * Errors name the file and field: IO, FORMAT, UNSUPPORTED (another
 * tokenizer type, e.g. GGUF "gpt2"). */
VKLLM_API vkllm_status vkllm_tokenizer_load(const char *path, vkllm_tokenizer **out, char *err, size_t err_len);
/* Frees a tokenizer from vkllm_tokenizer_load (never a model's). NULL is fine. */
VKLLM_API void vkllm_tokenizer_free(vkllm_tokenizer *t);

/* A loaded model's tokenizer (owned by the model), or NULL when its files
 * have none; then vkllm_model_tokenizer_error says why. */
VKLLM_API const vkllm_tokenizer *vkllm_model_tokenizer(const vkllm_model *m);
VKLLM_API const char *vkllm_model_tokenizer_error(const vkllm_model *m);

enum {
    VKLLM_TOKENIZE_BOS = 1u << 0,     /* prepend BOS (if the vocabulary has one) */
    VKLLM_TOKENIZE_SPECIAL = 1u << 1, /* "<s>", "</s>", "<|im_end|>" in the text are special tokens */
};

/* Encodes len bytes of UTF-8 (invalid bytes fall back to byte pieces).
 * *ids is malloc'd (free with vkllm_free), *n_ids tokens. Errors:
 * INVALID_ARG, OUT_OF_MEMORY. */
VKLLM_API vkllm_status vkllm_tokenize(const vkllm_tokenizer *t, const char *text, size_t len, unsigned flags, int32_t **ids,
                            size_t *n_ids, char *err, size_t err_len);
/* Decodes ids to text: *text is malloc'd (free with vkllm_free) and holds *len
 * bytes plus a NUL terminator. The text itself may contain U+0000 (a <0x00>
 * byte piece), so use *len, not strlen; len may be NULL when the caller knows
 * it cannot. Special tokens are skipped. INVALID_ARG names an id out of range. */
VKLLM_API vkllm_status vkllm_detokenize(const vkllm_tokenizer *t, const int32_t *ids, size_t n_ids, char **text, size_t *len,
                              char *err, size_t err_len);
/* The stored piece of a token ("▁Hello", "<0x0A>", "<s>"), owned by t; NULL if out of range. */
VKLLM_API const char *vkllm_token_piece(const vkllm_tokenizer *t, int32_t id);
/* Pieces in the vocabulary. */
VKLLM_API uint32_t vkllm_tokenizer_n_vocab(const vkllm_tokenizer *t);
VKLLM_API int32_t vkllm_token_bos(const vkllm_tokenizer *t); /* -1 if none */
VKLLM_API int32_t vkllm_token_eos(const vkllm_tokenizer *t); /* -1 if none */
/* Whether the vocabulary asks for a BOS at the start of a text. */
VKLLM_API int vkllm_tokenizer_adds_bos(const vkllm_tokenizer *t);

/* Frees memory the library returned (ids, text). NULL is fine. */
VKLLM_API void vkllm_free(void *p);

/* ---------------------------------------------------------------- generation */

typedef struct vkllm_sampling {
    float temperature;      /* <= 0: greedy */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* 1: off */
    float min_p;            /* 0: off */
    float repeat_penalty;   /* 1: off */
    int32_t repeat_last_n;  /* tokens in the penalty window, 0: off */
    uint64_t seed;          /* same seed + same settings = same tokens */
    /* OpenAI-style penalties over the tokens generated so far (not the
     * prompt), subtracted from the logits before the settings above:
     * logit[t] -= count[t] * frequency_penalty + (count[t] > 0) * presence_penalty.
     * Each in [-2, 2]; 0: off (the default of both constructors below). */
    float frequency_penalty;
    float presence_penalty;
} vkllm_sampling;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.1,
 * repeat_last_n 64, a fixed seed. */
VKLLM_API vkllm_sampling vkllm_sampling_default(void);
/* temperature 0, no truncation, no penalty. */
VKLLM_API vkllm_sampling vkllm_sampling_greedy(void);

/* Called with each generated token and the text it completes (complete
 * UTF-8 only, possibly empty; not NUL-terminated; text is held back while it
 * could still be the start of a stop string). Text still held back when
 * generation ends arrives in one last call with token -1. Return non-zero
 * to stop. */
typedef int (*vkllm_token_cb)(int32_t token, const char *text, size_t len, void *user);

typedef enum vkllm_stop_reason {
    VKLLM_STOP_EOS = 0,       /* the model produced end-of-sequence */
    VKLLM_STOP_STRING,        /* a stop string appeared (it is not passed on) */
    VKLLM_STOP_MAX_TOKENS,
    VKLLM_STOP_CONTEXT_FULL,  /* the session's context is full */
    VKLLM_STOP_CALLBACK,      /* the callback asked to stop */
} vkllm_stop_reason;

typedef struct vkllm_generate_options {
    vkllm_sampling sampling;
    uint32_t max_tokens;        /* 0: until EOS, a stop string or a full context */
    const char *const *stop;    /* stop strings (may be NULL) */
    size_t n_stop;
    vkllm_token_cb on_token;    /* may be NULL */
    void *user;
    /* Called after each block of the prompt is evaluated (blocks of the
     * session's n_batch, vkllm_session_options) with the prompt tokens done
     * so far and the total to evaluate (both after the reused prefix); return
     * non-zero to stop before the next block: nothing is generated, the
     * reason is VKLLM_STOP_CALLBACK, stats->n_prompt counts the tokens
     * evaluated, and they stay in the cache. May be NULL (the prompt then
     * runs in one call). Gets `user` too. */
    int (*on_prefill)(uint32_t done, uint32_t total, void *user);
    /* When set, every evaluation of the generation (prompt blocks and
     * decode steps) runs through this instead of vkllm_session_eval, with
     * the same contract (n tokens at s's next positions, mode LAST or
     * ARGMAX, logits / *argmax filled as vkllm_session_eval fills them): a
     * server runs several sessions' steps as one vkllm_batch_eval this way.
     * On a failure generation stops with its status and the message
     * "evaluation failed (STATUS)" (the callback keeps its own). With it,
     * generation touches the device only through the callback, so
     * generations on different sessions of one model may run on several
     * threads when the callbacks hand their work to one thread (as `vkllm
     * serve` does). May be NULL. Gets `user` too. */
    vkllm_status (*eval)(vkllm_session *s, const int32_t *tokens, uint32_t n, vkllm_logits mode, float *logits,
                         int32_t *argmax, void *user);
} vkllm_generate_options;

typedef struct vkllm_generate_stats {
    uint32_t n_prompt;          /* prompt tokens evaluated (after the reused prefix) */
    uint32_t n_reused;          /* prompt tokens already in the cache, not evaluated again */
    uint32_t n_generated;
    double prompt_s, gen_s;     /* wall time of the prompt and of generation */
    vkllm_stop_reason reason;
} vkllm_generate_stats;

/* Generates after `prompt` (token ids, BOS included if wanted). The session
 * keeps the tokens it holds: if they begin with a prefix of `prompt`, the
 * cache is rewound to that prefix and only the rest is evaluated (a chat
 * does not re-run its history). Generated tokens stay in the session.
 * The model needs a tokenizer for text and stop strings (without one, text
 * is empty and stop strings are ignored). Errors: INVALID_ARG (a token out
 * of range, bad sampling), OUT_OF_MEMORY ("context full" when the prompt
 * itself does not fit), VULKAN; message in vkllm_session_error. */
VKLLM_API vkllm_status vkllm_generate(vkllm_session *s, const int32_t *prompt, size_t n_prompt, const vkllm_generate_options *o,
                            vkllm_generate_stats *stats);

/* ---------------------------------------------------------------- chat */

typedef enum vkllm_role { VKLLM_ROLE_SYSTEM = 0, VKLLM_ROLE_USER, VKLLM_ROLE_ASSISTANT } vkllm_role;

typedef struct vkllm_message {
    vkllm_role role;
    const char *text;
} vkllm_message;

/* The chat template a model uses: recognised from its own template string
 * (GGUF tokenizer.chat_template, HF tokenizer_config.json), one of "solar",
 * "llama2", "mistral", "chatml", "zephyr", "vicuna", "alpaca", "gemma",
 * "phi3", "llama3" (vkllm_chat_template_list). *recognised (may be NULL) is
 * 0 when the model's template is missing or unknown and the default
 * ("solar") is used. */
VKLLM_API const char *vkllm_model_chat_template(const vkllm_model *m, int *recognised);
/* The same for a model file (as vkllm_model_inspect takes it) without
 * loading its weights or touching a GPU: *name receives the template's name
 * (static). Errors as vkllm_model_inspect. */
VKLLM_API vkllm_status vkllm_model_inspect_chat_template(const char *path, const char **name, int *recognised, char *err,
                                               size_t err_len);
/* The i-th known chat template name (i = 0, 1, ...), NULL past the last:
 * the names `name` arguments accept. Static strings. */
VKLLM_API const char *vkllm_chat_template_list(size_t i);

/* Renders a conversation with template `name` (NULL: the model's), ending
 * with the assistant prompt when add_generation_prompt; *out malloc'd (free
 * with vkllm_free). BOS is not part of the text. Errors: INVALID_ARG
 * (unknown template name, roles out of order for the template). */
VKLLM_API vkllm_status vkllm_chat_render(const vkllm_model *m, const char *name, const vkllm_message *msgs, size_t n,
                               int add_generation_prompt, char **out, char *err, size_t err_len);

/* One chat turn: renders msgs (the whole conversation so far, ending with
 * the user's message) with template `name` (NULL: the model's), tokenizes
 * it (BOS, special tokens), and generates the assistant's reply with
 * vkllm_generate, so the part of the conversation already in the cache is
 * not evaluated again. The template's end-of-turn marker (e.g. "### User:",
 * "<|im_end|>") is added to the stop strings. The caller appends the reply
 * (collected from on_token) as an assistant message for the next turn.
 * Needs the model's tokenizer (UNSUPPORTED without). */
VKLLM_API vkllm_status vkllm_chat(vkllm_session *s, const char *name, const vkllm_message *msgs, size_t n,
                        const vkllm_generate_options *o, vkllm_generate_stats *stats);

/* The text that starts the next turn in template `name` (NULL: the model's),
 * where vkllm_chat stops generating ("### User:", "<|im_end|>", "[INST]"):
 * for callers that render (vkllm_chat_render), tokenize and vkllm_generate
 * themselves. Static string; NULL for an unknown template name. */
VKLLM_API const char *vkllm_chat_end_of_turn(const vkllm_model *m, const char *name);

#ifdef __cplusplus
}
#endif
#endif
