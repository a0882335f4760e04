/* Generator: presets, parameter checks, the tensor list, deterministic
 * weights, output helpers. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"
#include "model/quant.h"
#include "util/bf16.h"
#include "util/half.h"
#include "util/rng.h"

const char *const gen_chat_template =
    "{% for message in messages %}{% if message['role'] == 'system' %}{% if message['content']%}"
    "{{'### System:\\n' + message['content']+'\\n\\n'}}{% endif %}{% elif message['role'] == 'user' %}"
    "{{'### User:\\n' + message['content']+'\\n\\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'### Assistant:\\n'  + message['content']}}{% endif %}{% if loop.last and add_generation_prompt %}"
    "{{ '### Assistant:\\n' }}{% endif %}{% endfor %}";

int gen_preset(const char *name, gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->rope_theta = 10000.0;
    p->rms_eps = 1e-5;
    p->dtype = DTYPE_F16;
    p->seed = 1;
    if (strcmp(name, "tiny") == 0) {
        p->n_layer = 2, p->n_embd = 64, p->n_ff = 96, p->n_head = 4, p->n_head_kv = 2;
        p->n_vocab = 512, p->n_ctx = 256;
        return 1;
    }
    if (strcmp(name, "solar-10.7b") == 0) {
        p->n_layer = 48, p->n_embd = 4096, p->n_ff = 14336, p->n_head = 32, p->n_head_kv = 8;
        p->n_vocab = 32000, p->n_ctx = 4096, p->n_shards = 5;
        p->name = "SOLAR-10.7B-shaped random";
        return 1;
    }
    return 0;
}

vkllm_status gen_check(const gen_params *p, char *err, size_t err_len)
{
    uint32_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    if (b != 1) return errf(VKLLM_ERR_UNSUPPORTED, err, err_len, "the generator needs a little-endian host");
    if (!p->n_layer || !p->n_embd || !p->n_ff || !p->n_head || !p->n_head_kv || !p->n_ctx)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "layers, embd, ff, heads, kv-heads and ctx must be > 0");
    if (p->n_head % p->n_head_kv)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "kv-heads %" PRIu32 " must divide heads %" PRIu32,
                        p->n_head_kv, p->n_head);
    if (!p->head_dim && p->n_embd % p->n_head)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "embd %" PRIu32 " must be a multiple of heads %" PRIu32,
                        p->n_embd, p->n_head);
    uint32_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    if (hd < 2 || hd % 2) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "head dim %" PRIu32 " must be even", hd);
    if (p->n_vocab < GEN_FIRST_PIECE + 1 || p->n_vocab > (1u << 24))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "vocab %" PRIu32 " must be in %d..%u", p->n_vocab,
                        GEN_FIRST_PIECE + 1, 1u << 24);
    if (p->dtype != DTYPE_F32 && p->dtype != DTYPE_F16 && p->dtype != DTYPE_BF16)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "dtype must be f32, f16 or bf16");
    if (p->quant && !quant_scheme_find(p->quant))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "unknown quantization type '%s'", p->quant);
    if (p->alignment && (p->alignment & (p->alignment - 1)))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "alignment %" PRIu32 " must be a power of two",
                        p->alignment);
    if (!(p->rope_theta > 0) || !(p->rms_eps > 0))
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "theta and eps must be > 0");
    return VKLLM_OK;
}

/* ---------------------------------------------------------------- tensors */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* the block type p->quant gives a matrix of `role` in layer `layer`; 0: none */
static uint32_t qtype_of(const gen_params *p, quant_role role, uint32_t layer, uint64_t cols)
{
    const quant_scheme *s = p->quant ? quant_scheme_find(p->quant) : NULL;
    return s ? quant_scheme_type(s, role, layer, p->n_layer, cols, p->n_head, p->n_head_kv) : 0;
}

static gen_tensor *add(gen_tensor *t, size_t *n, const char *canon, const char *hf, uint32_t n_dims, uint64_t rows,
                       uint64_t cols, int kind, uint32_t perm_heads)
{
    gen_tensor *x = &t[(*n)++];
    snprintf(x->canon, sizeof x->canon, "%s", canon);
    snprintf(x->hf, sizeof x->hf, "%s", hf);
    x->n_dims = n_dims;
    x->rows = rows;
    x->cols = cols;
    x->kind = kind;
    x->perm_heads = perm_heads;
    x->id = fnv1a(canon);
    x->qtype = 0;
    return x;
}

gen_tensor *gen_tensor_list(const gen_params *p, size_t *n)
{
    gen_tensor *t = calloc(3 + 9 * (size_t)p->n_layer, sizeof *t);
    if (!t) return NULL;
    uint64_t E = p->n_embd, F = p->n_ff, V = p->n_vocab;
    uint64_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    uint64_t Q = p->n_head * hd, KV = p->n_head_kv * hd;
    *n = 0;
    /* tied: the embeddings are the output matrix too, and quantized as it is (llama.cpp's rule) */
    add(t, n, "token_embd.weight", "model.embed_tokens.weight", 2, V, E, GEN_EMBD, 0)->qtype =
        qtype_of(p, p->tied ? QROLE_OUTPUT : QROLE_TOKEN_EMBD, 0, E);
    static const quant_role roles[9] = { QROLE_ATTN_Q, QROLE_ATTN_Q, QROLE_ATTN_K, QROLE_ATTN_V,
                                         QROLE_ATTN_OUTPUT, QROLE_ATTN_Q, QROLE_FFN_GATE, QROLE_FFN_UP,
                                         QROLE_FFN_DOWN }; /* [0], [5]: norms, unused */
    for (uint32_t l = 0; l < p->n_layer; l++) {
        static const struct { const char *canon, *hf; int kind; } L[9] = {
            { "attn_norm", "input_layernorm", GEN_NORM },   { "attn_q", "self_attn.q_proj", GEN_MATRIX },
            { "attn_k", "self_attn.k_proj", GEN_MATRIX },   { "attn_v", "self_attn.v_proj", GEN_MATRIX },
            { "attn_output", "self_attn.o_proj", GEN_MATRIX },
            { "ffn_norm", "post_attention_layernorm", GEN_NORM }, { "ffn_gate", "mlp.gate_proj", GEN_MATRIX },
            { "ffn_up", "mlp.up_proj", GEN_MATRIX },        { "ffn_down", "mlp.down_proj", GEN_MATRIX },
        };
        const uint64_t shape[9][2] = { { 1, E }, { Q, E }, { KV, E }, { KV, E }, { E, Q },
                                       { 1, E }, { F, E }, { F, E }, { E, F } };
        for (int k = 0; k < 9; k++) {
            char c[48], h[80];
            snprintf(c, sizeof c, "blk.%" PRIu32 ".%s.weight", l, L[k].canon);
            snprintf(h, sizeof h, "model.layers.%" PRIu32 ".%s.weight", l, L[k].hf);
            uint32_t perm = k == 1 ? p->n_head : k == 2 ? p->n_head_kv : 0;
            gen_tensor *x = add(t, n, c, h, L[k].kind == GEN_NORM ? 1 : 2, shape[k][0], shape[k][1], L[k].kind, perm);
            if (L[k].kind != GEN_NORM) x->qtype = qtype_of(p, roles[k], l, shape[k][1]);
        }
    }
    add(t, n, "output_norm.weight", "model.norm.weight", 1, 1, E, GEN_NORM, 0);
    if (!p->tied) add(t, n, "output.weight", "lm_head.weight", 2, V, E, GEN_MATRIX, 0)->qtype = qtype_of(p, QROLE_OUTPUT, 0, E);
    return t;
}

static float round_to(tensor_dtype dt, float v)
{
    if (dt == DTYPE_F16) return half_to_float(float_to_half(v));
    if (dt == DTYPE_BF16) return bf16_to_float(float_to_bf16(v));
    return v;
}

static void gen_row_raw(const gen_params *p, const gen_tensor *t, uint64_t row, float *out)
{
    /* a fresh stream per (seed, tensor, row): rows can be made in any order */
    rng r = { p->seed * 0x9e3779b97f4a7c15ull ^ t->id ^ (row + 1) * 0xd1b54a32d192ed03ull };
    rng_next(&r);
    float lo, hi;
    if (t->kind == GEN_NORM) {
        lo = 0.75f, hi = 1.25f;
    } else if (t->kind == GEN_EMBD) {
        lo = -1.0f, hi = 1.0f;
    } else { /* variance 1/cols keeps activations O(1) */
        hi = (float)sqrt(3.0 / (double)t->cols), lo = -hi;
    }
    for (uint64_t c = 0; c < t->cols; c++) out[c] = round_to(p->dtype, rng_uniform(&r, lo, hi));
}

void gen_row(const gen_params *p, const gen_tensor *t, uint64_t row, float *out)
{
    gen_row_raw(p, t, row, out);
    if (!t->qtype) return;
    const quant_type *qt = quant_type_of(t->qtype);
    uint8_t *blocks = malloc(quant_bytes(qt, t->cols));
    if (!blocks) { /* cannot happen for sane shapes; NaN makes a test fail loudly rather than pass */
        for (uint64_t c = 0; c < t->cols; c++) out[c] = NAN;
        return;
    }
    quant_quantize(qt, out, blocks, t->cols / qt->block);
    quant_dequantize(qt, blocks, out, t->cols / qt->block);
    free(blocks);
}

size_t gen_row_bytes(const gen_params *p, const gen_tensor *t, uint64_t row, float *scratch, uint8_t *out)
{
    gen_row_raw(p, t, row, scratch);
    tensor_dtype dt = t->n_dims == 1 ? DTYPE_F32 : p->dtype;
    if (!t->qtype) return gen_encode(dt, scratch, t->cols, out);
    const quant_type *qt = quant_type_of(t->qtype);
    quant_quantize(qt, scratch, out, t->cols / qt->block);
    return (size_t)quant_bytes(qt, t->cols);
}

uint32_t gen_tensor_type(const gen_params *p, const char *canon)
{
    size_t n;
    gen_tensor *t = gen_tensor_list(p, &n);
    uint32_t type = UINT32_MAX;
    for (size_t i = 0; t && i < n; i++)
        if (!strcmp(t[i].canon, canon)) {
            tensor_dtype dt = t[i].n_dims == 1 ? DTYPE_F32 : p->dtype;
            type = t[i].qtype ? t[i].qtype : dt == DTYPE_F32 ? 0 : dt == DTYPE_F16 ? 1 : 30;
        }
    free(t);
    return type;
}

uint64_t gen_gguf_src_row(const gen_tensor *t, uint64_t r)
{
    if (!t->perm_heads) return r;
    /* convert_hf_to_gguf: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2): GGUF row h*hd + 2i + j
     * holds HF row h*hd + j*hd/2 + i */
    uint64_t hd = t->rows / t->perm_heads;
    uint64_t h = r / hd, w = r % hd, i = w / 2, j = w % 2;
    return h * hd + j * (hd / 2) + i;
}

size_t gen_encode(tensor_dtype dt, const float *in, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++) {
        if (dt == DTYPE_F32) {
            memcpy(out + 4 * i, &in[i], 4);
        } else {
            uint16_t h = dt == DTYPE_F16 ? float_to_half(in[i]) : float_to_bf16(in[i]);
            memcpy(out + 2 * i, &h, 2);
        }
    }
    return (size_t)n * (dt == DTYPE_F32 ? 4 : 2);
}

vkllm_status gen_weight_row(const gen_params *p, const char *canon, uint64_t row, float *out, uint64_t out_len,
                            char *err, size_t err_len)
{
    size_t n;
    gen_tensor *t = gen_tensor_list(p, &n);
    if (!t) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    vkllm_status st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "no tensor '%s' in this model", canon);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].canon, canon) != 0) continue;
        if (row >= t[i].rows || out_len < t[i].cols) {
            st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "row %" PRIu64 " / buffer %" PRIu64 " too small for '%s'",
                          row, out_len, canon);
        } else {
            gen_row(p, &t[i], row, out);
            st = VKLLM_OK;
        }
        break;
    }
    free(t);
    return st;
}

/* ---------------------------------------------------------------- output */

vkllm_status gen_out_open(gen_out *o, const char *path, char *err, size_t err_len)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->f = fopen(path, "wb");
    if (!o->f) return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return VKLLM_OK;
}

void gen_out_write(gen_out *o, const void *p, size_t n)
{
    if (o->err_no || !n) return;
    if (fwrite(p, 1, n, o->f) != n) o->err_no = errno ? errno : EIO;
    o->pos += n;
}

void gen_out_zeros(gen_out *o, uint64_t n)
{
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        gen_out_write(o, z, k);
        n -= k;
    }
}

vkllm_status gen_out_close(gen_out *o, char *err, size_t err_len)
{
    if (!o->f) return VKLLM_OK;
    if (fclose(o->f) != 0 && !o->err_no) o->err_no = errno ? errno : EIO;
    o->f = NULL;
    if (o->err_no) return errf(VKLLM_ERR_IO, err, err_len, "%s: write failed: %s", o->path, strerror(o->err_no));
    return VKLLM_OK;
}

vkllm_status gen_write_text(const char *path, const char *text, char *err, size_t err_len)
{
    gen_out o;
    vkllm_status st = gen_out_open(&o, path, err, err_len);
    if (st) return st;
    gen_out_write(&o, text, strlen(text));
    return gen_out_close(&o, err, err_len);
}
