/* Private to src/llama/: the structs behind llama.h's handles. */
#ifndef VKLLM_LLAMA_INTERNAL_H
#define VKLLM_LLAMA_INTERNAL_H

#include "llama.h"
#include "ops/matmul.h"

#define LLAMA_TUNE_MAX 8 /* distinct weight shapes of the forward pass, at most 6 */

typedef struct llama_layer {
    gpu_tensor *attn_norm; /* fp32 [n_embd] */
    gpu_tensor *wq;        /* fp16 [n_head * head_dim][n_embd], q/k rows in `pairing` order */
    gpu_tensor *wk;        /* fp16 [n_head_kv * head_dim][n_embd] */
    gpu_tensor *wv;        /* fp16 [n_head_kv * head_dim][n_embd] */
    gpu_tensor *wo;        /* fp16 [n_embd][n_head * head_dim] */
    gpu_tensor *ffn_norm;  /* fp32 [n_embd] */
    gpu_tensor *w_gate;    /* fp16 [n_ff][n_embd] */
    gpu_tensor *w_up;      /* fp16 [n_ff][n_embd] */
    gpu_tensor *w_down;    /* fp16 [n_embd][n_ff] */
} llama_layer;

struct llama_weights {
    gpu_ctx *ctx;
    model_hparams hp;
    bool tied;
    rope_pairing pairing;
    gpu_tensor *tok_embd;    /* fp16 [n_vocab][n_embd], chunks of whole rows */
    gpu_tensor *output_norm; /* fp32 [n_embd] */
    gpu_tensor *output;      /* fp16 [n_vocab][n_embd]; NULL when tied (tok_embd is used) */
    llama_layer *layers;     /* [n_layer] */
    uint64_t bytes;
    /* llama_weights_tune: the decode kernels measured at load */
    matmul_tune_result tune[LLAMA_TUNE_MAX];
    uint32_t n_tune;
    matmul_tc_result tc; /* the tensor-core prefill variants, where there are any */
    char tune_note[256];
};

/* Tunes the decode kernels on w's weights (matmul_tune) where the device
 * is a GPU, or VKLLM_TUNE=1 asks (VKLLM_TUNE=0: never). Never fails: on an
 * error the defaults stay and the note says why. */
void llama_weights_tune(llama_weights *w);

/* Bytes of the per-block activation buffers for blocks of n_batch tokens. */
uint64_t llama_act_bytes(const model_hparams *hp, uint32_t n_batch);

/* ------------------------------------------------------------ quantize on load (weights_quant.c) */

/* Quantizes matrices planned by model_plan_quant on a thread per core, in
 * chunks of whole rows, into QS_SLOTS buffers of 8 MiB: while the loading
 * thread uploads one chunk, the threads fill the next ones (and the loading
 * thread helps when it has to wait). */
typedef struct qstream qstream;
/* Starts on ts[0..n) (load_qtype set; ts must outlive the stream), to be
 * consumed in this order, in chunks of at most chunk_bytes (0: 8 MiB; at
 * least one row). OUT_OF_MEMORY is the only error. */
vkllm_status qstream_start(const model_tensor *const *ts, size_t n, uint64_t chunk_bytes, qstream **out);
/* The next chunk, which must be of t: waits until it is quantized, then
 * *data holds *bytes bytes that belong at byte *offset of t's blocks; valid
 * until qstream_release. 0: a row held NaN/Inf (qstream_bad_row), or t is
 * not the tensor next in order. */
int qstream_next(qstream *q, const model_tensor *t, const void **data, uint64_t *bytes, uint64_t *offset);
/* The chunk from qstream_next was uploaded: its buffer may be refilled. */
void qstream_release(qstream *q);
/* 1 with the tensor and row that held NaN/Inf, if one did. */
int qstream_bad_row(const qstream *q, const model_tensor **t, uint64_t *row);
/* Worker threads running (the loading thread is one more). */
uint32_t qstream_threads(const qstream *q);
/* Stops and joins the threads, frees everything; NULL is fine. */
void qstream_stop(qstream *q);

/* The same on the device (VKLLM_QUANTIZE_ON, the profile's
 * quantize_on_device): each matrix's source rows go up in pieces of 16 MiB
 * and shaders/quantize.comp (src/ops/quantize_gpu.h) writes its blocks
 * straight into the weight, byte for byte what the CPU's quantizer makes
 * where the device's fp32 arithmetic is IEEE. */
typedef struct qdevice qdevice;
/* Whether t (load_qtype set) is quantized on this device: the profile says
 * so and a kernel for its type exists; else it takes qstream. */
bool qdevice_takes(gpu_ctx *ctx, const model_tensor *t);
/* The source buffers and status words (two pieces in flight). OUT_OF_MEMORY or the device's error. */
vkllm_status qdevice_start(gpu_ctx *ctx, qdevice **out);
/* Quantizes t into dst (op_weight_create's tensor for t->load_qtype),
 * calling report with the bytes of blocks written after each piece (its
 * error stops the load). FORMAT names the row holding NaN/Inf. */
vkllm_status qdevice_upload(qdevice *q, const model_tensor *t, gpu_tensor *dst,
                            vkllm_status (*report)(void *user, uint64_t bytes), void *user);
/* Frees it; NULL is fine. */
void qdevice_stop(qdevice *q);

#endif
