/* One in-memory description of a Llama-architecture model, read from either
 * a GGUF file or a Hugging Face folder: hyperparameters plus a table of the
 * weight tensors under canonical (llama.cpp-style) names, each pointing into
 * the memory-mapped file it lives in. No Vulkan here; nothing is copied.
 *
 * Sources:
 *   - GGUF v2/v3 (general.architecture = "llama", `llama.*` hparams keys),
 *   - an HF folder: config.json (LlamaForCausalLM / MistralForCausalLM, old
 *     `rope_theta`/`torch_dtype` and new `rope_parameters`/`dtype`/`head_dim`
 *     forms) with model.safetensors, or shards listed in
 *     model.safetensors.index.json. A path to the folder's config.json works too.
 *
 * RoPE pairing. The two formats store the q/k projection rows differently:
 *   - HF (Meta's layout as permuted by transformers) rotates dimension i of a
 *     head with dimension i + head_dim/2 ("rotate half"),
 *   - llama.cpp's converter permutes the q and k rows of each head
 *     (reshape(n_head, 2, head_dim/2, n_embd).swapaxes(1, 2)) so that
 *     dimensions 2i and 2i+1 are rotated together ("adjacent pairs"):
 *     GGUF row h*head_dim + 2i + j == HF row h*head_dim + j*head_dim/2 + i.
 * vkllm does not permute weights at load: model->rope_pairing says which
 * layout this file's q/k weights use, and the GPU RoPE kernel takes it as its
 * pairing parameter (0 = adjacent, 1 = rotate-half). Both give identical
 * attention results for the same model.
 *
 * Tied embeddings (HF tie_word_embeddings, or a GGUF without output.weight):
 * model->output points at the token_embd.weight entry and the table has no
 * separate output.weight.
 */
#ifndef VKLLM_MODEL_MODEL_H
#define VKLLM_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "util/rope_pairing.h"
#include "vkllm.h"

/* sanity bounds on hparams (a file outside them is refused as malformed) */
#define MODEL_MAX_LAYERS 1024
#define MODEL_MAX_EMBD (1u << 20)
#define MODEL_MAX_FF (1u << 22)
#define MODEL_MAX_HEADS 4096
#define MODEL_MAX_HEAD_DIM 1024
#define MODEL_MAX_VOCAB (1u << 24)
#define MODEL_MAX_CTX (1u << 24)
/* tensors a file may hold beyond those the architecture uses (rope_freqs,
 * rotary_emb.inv_freq, ...): more is refused, so junk cannot drive the work */
#define MODEL_MAX_EXTRA_TENSORS 4096

typedef enum model_format { MODEL_FORMAT_GGUF = 0, MODEL_FORMAT_HF = 1 } model_format;


typedef struct model_hparams {
    uint32_t n_layer;     /* transformer blocks */
    uint32_t n_embd;      /* hidden size */
    uint32_t n_ff;        /* SwiGLU intermediate size */
    uint32_t n_head;      /* query heads */
    uint32_t n_head_kv;   /* key/value heads (GQA): divides n_head */
    uint32_t head_dim;    /* per head; n_embd / n_head unless the file says otherwise */
    uint32_t n_vocab;
    uint32_t n_ctx_train; /* context length the model was trained for */
    uint32_t n_rot;       /* dimensions RoPE rotates per head (even, <= head_dim) */
    float rope_theta;     /* RoPE base frequency */
    float rms_eps;        /* RMSNorm epsilon */
} model_hparams;

#define MODEL_TENSOR_NAME_MAX 48

typedef struct model_tensor {
    char name[MODEL_TENSOR_NAME_MAX]; /* canonical: "token_embd.weight", "blk.3.attn_q.weight", ... */
    tensor_dtype dtype;               /* F32, F16, BF16, or DTYPE_QUANT (others are refused at open) */
    uint32_t qtype;                   /* DTYPE_QUANT: ggml block type id (model/quant.h); else 0. Only
                                         matrices; each row a whole number of blocks */
    uint32_t n_dims;                  /* 2 for matrices, 1 for norm weights */
    uint64_t rows, cols;              /* matrix [rows][cols] row-major, rows = output features;
                                         1-D: rows = 1, cols = length */
    uint64_t n_bytes;                 /* rows * cols * dtype_size, or rows * quant_bytes(cols) */
    const void *data;                 /* into the mapped file, read-only; may be unaligned */
    const char *file;                 /* path of the file holding it (owned by the model) */
    uint64_t file_offset;             /* where data starts in that file */
    uint32_t load_qtype;              /* quantize on load (model_plan_quant): the block type this F32/F16/BF16
                                         matrix becomes on the device; 0: loaded as the file has it */
    uint64_t load_bytes;              /* load_qtype: rows * quant_bytes(cols) of that type; else 0 */
    uint8_t load_search;              /* load_qtype: its scale search (quant.h's quant_search; model_plan_quant
                                         leaves QUANT_SEARCH_EXACT, model_plan_search sets it) */
} model_tensor;

typedef struct model_layer {
    const model_tensor *attn_norm; /* [n_embd] */
    const model_tensor *wq;        /* [n_head * head_dim][n_embd], rows paired as model->rope_pairing */
    const model_tensor *wk;        /* [n_head_kv * head_dim][n_embd], same pairing */
    const model_tensor *wv;        /* [n_head_kv * head_dim][n_embd] */
    const model_tensor *wo;        /* [n_embd][n_head * head_dim] */
    const model_tensor *ffn_norm;  /* [n_embd] */
    const model_tensor *w_gate;    /* [n_ff][n_embd] */
    const model_tensor *w_up;      /* [n_ff][n_embd] */
    const model_tensor *w_down;    /* [n_embd][n_ff] */
} model_layer;

typedef struct model {
    model_format format;
    char *path;                /* as given to model_open */
    char architecture[64];     /* GGUF general.architecture ("llama") or HF architectures[0] */
    model_hparams hp;
    rope_pairing rope_pairing; /* layout of the q/k weight rows; see the top of this file */
    int tied_embeddings;       /* output == tok_embd */
    size_t n_tensors;
    model_tensor *tensors;     /* [n_tensors] canonical table, in load order */
    const model_tensor *tok_embd;    /* [n_vocab][n_embd] */
    const model_tensor *output_norm; /* [n_embd] */
    const model_tensor *output;      /* [n_vocab][n_embd]; == tok_embd when tied */
    model_layer *layers;             /* [hp.n_layer] */
    gguf_file *gguf;           /* GGUF: the open file (tokenizer.ggml.* metadata); else NULL */
    char *dir;                 /* HF: the folder (tokenizer.json lives there); else NULL */
    size_t n_shards;
    st_file **shards;          /* HF: the open safetensors files */
} model;

/* Opens a model: `path` is a .gguf file, an HF folder, or that folder's
 * config.json. Checks the hparams and that every required tensor is present
 * with the shape the hparams imply and a usable dtype. *out is freed with
 * model_close. Errors name the file and the field / tensor:
 * VKLLM_ERR_IO, VKLLM_ERR_FORMAT (malformed, missing tensor, wrong shape),
 * VKLLM_ERR_UNSUPPORTED (integer weights or block types vkllm lacks, a
 * quantized norm, other architectures, RoPE scaling, biases), VKLLM_ERR_OUT_OF_MEMORY, VKLLM_ERR_INVALID_ARG. */
vkllm_status model_open(const char *path, model **out, char *err, size_t err_len);

/* Unmaps and frees everything; accepts NULL. */
void model_close(model *m);

/* Reads only a Hugging Face config.json (either form) into *hp, checked as
 * model_open checks it, without any weights: for tools that describe a model
 * and for tests. *tied receives tie_word_embeddings. Errors as model_open. */
vkllm_status model_read_config(const char *config_path, model_hparams *hp, int *tied, char *err, size_t err_len);

/* Quantize on load: gives every weight matrix of m the block type the
 * scheme `type` (a name of quant_schemes(), case-insensitive: "q4_k_m",
 * "Q8_0") gives it, the rule `vkllm quantize` follows (quant_scheme_tensor),
 * in its load_qtype / load_bytes; norms stay F32, a matrix whose rows no
 * block type fits stays fp16. The file is not touched: the loader
 * quantizes the rows as they stream to the device (model_quant_rows).
 * Errors: INVALID_ARG for an unknown type (the message lists the valid
 * ones), UNSUPPORTED for a model that is already quantized (quantizing
 * blocks again loses quality; such a file loads as it is without a type). */
vkllm_status model_plan_quant(model *m, const char *type, char *err, size_t err_len);
/* The scale search (quant.h's quant_search) the planned matrices get. */
void model_plan_search(model *m, int search);

/* Rows [r0, r1) of a planned matrix t (t->load_qtype set) quantized into dst
 * ((r1 - r0) * quant_bytes(t->cols) bytes), through scratch[t->cols]
 * floats; the same values `vkllm quantize` writes for them. Returns 1, or 0
 * when a row holds NaN or Inf (then *bad_row is that row and dst is not
 * complete). Thread-safe for distinct dst and scratch. */
int model_quant_rows(const model_tensor *t, uint64_t r0, uint64_t r1, float *scratch, void *dst, uint64_t *bad_row);

/* The table entry with canonical name `name`, or NULL. "output.weight" of a
 * tied model resolves to token_embd.weight. */
const model_tensor *model_find(const model *m, const char *name);

#endif
