/* Generated models in both formats open with identical hparams, and every
 * tensor of the GGUF equals the HF one (after undoing llama.cpp's q/k row
 * permutation) and the generator's definition. Covers F16/BF16/F32, sharded
 * and single-file HF, old/new config.json, tied embeddings, GQA ratios
 * 1/2/4/8, head_dim 64/128 and an explicit head_dim, GGUF v2 and alignment 64.
 * usage: test_model_formats SCRATCH_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "model/model.h"
#include "model_util.h"
#include "util/bf16.h"
#include "util/half.h"

static float elem(const model_tensor *t, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + i * dtype_size(t->dtype);
    if (t->dtype == DTYPE_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t->dtype == DTYPE_F16 ? half_to_float(h) : bf16_to_float(h);
}

/* HF row held by GGUF row r of a q/k weight with n_heads heads (model.h) */
static uint64_t unpermute(uint64_t r, uint64_t rows, uint32_t n_heads)
{
    uint64_t hd = rows / n_heads, h = r / hd, w = r % hd;
    return h * hd + (w % 2) * (hd / 2) + w / 2;
}

static int is_q_or_k(const char *name) { return strstr(name, "attn_q.") || strstr(name, "attn_k."); }

static void compare(const char *what, const gen_params *p, const model *g, const model *h)
{
    const model_hparams *a = &g->hp, *b = &h->hp;
    uint32_t hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    CHECK(a->n_layer == p->n_layer && a->n_embd == p->n_embd && a->n_ff == p->n_ff && a->n_head == p->n_head &&
              a->n_head_kv == p->n_head_kv && a->head_dim == hd && a->n_vocab == p->n_vocab && a->n_ctx_train == p->n_ctx &&
              a->n_rot == hd && a->rope_theta == (float)p->rope_theta && a->rms_eps == (float)p->rms_eps,
          "%s: GGUF hparams differ from the generator's", what);
    CHECK(memcmp(a, b, sizeof *a) == 0, "%s: GGUF and HF hparams differ", what);
    CHECK(g->format == MODEL_FORMAT_GGUF && h->format == MODEL_FORMAT_HF, "%s: formats", what);
    CHECK(g->rope_pairing == ROPE_ADJACENT && h->rope_pairing == ROPE_ROTATE_HALF, "%s: rope pairing", what);
    CHECK(g->tied_embeddings == p->tied && h->tied_embeddings == p->tied, "%s: tied %d %d", what, g->tied_embeddings,
          h->tied_embeddings);
    CHECK(!strcmp(g->architecture, "llama") && !strcmp(h->architecture, "LlamaForCausalLM"), "%s: architecture", what);
    CHECK(g->n_tensors == h->n_tensors && g->n_tensors == 2 + 9 * p->n_layer + !p->tied, "%s: %zu vs %zu tensors",
          what, g->n_tensors, h->n_tensors);
    CHECK((g->output == g->tok_embd) == !!p->tied && (h->output == h->tok_embd) == !!p->tied, "%s: output", what);
    CHECK(model_find(g, "output.weight") == g->output && model_find(h, "output.weight") == h->output, "%s: find", what);
    float *row = malloc(65536 * sizeof *row);
    for (size_t i = 0; i < g->n_tensors; i++) {
        const model_tensor *x = &g->tensors[i], *y = model_find(h, x->name);
        if (!y) {
            CHECK(0, "%s: %s not in the HF model", what, x->name);
            continue;
        }
        CHECK(x->rows == y->rows && x->cols == y->cols && x->n_dims == y->n_dims, "%s: %s shape", what, x->name);
        CHECK(x->dtype == (x->n_dims == 1 ? DTYPE_F32 : p->dtype) && y->dtype == p->dtype, "%s: %s dtype %s/%s", what,
              x->name, dtype_name(x->dtype), dtype_name(y->dtype));
        CHECK(x->n_bytes == x->rows * x->cols * dtype_size(x->dtype), "%s: %s bytes", what, x->name);
        CHECK(strstr(y->file, ".safetensors") && !strcmp(x->file, g->path), "%s: %s files", what, x->name);
        uint32_t heads = strstr(x->name, "attn_q.") ? p->n_head : p->n_head_kv;
        int bad = 0;
        for (uint64_t r = 0; r < x->rows && !bad; r++) {
            uint64_t hr = is_q_or_k(x->name) ? unpermute(r, x->rows, heads) : r;
            for (uint64_t c = 0; c < x->cols; c++) {
                if (elem(x, r * x->cols + c) != elem(y, hr * y->cols + c)) {
                    CHECK(0, "%s: %s[%llu][%llu] GGUF %g != HF[%llu] %g", what, x->name, (unsigned long long)r,
                          (unsigned long long)c, elem(x, r * x->cols + c), (unsigned long long)hr,
                          elem(y, hr * y->cols + c));
                    bad = 1;
                    break;
                }
            }
        }
        /* the HF rows are the generator's definition; spot-check first and last */
        for (int k = 0; k < 2 && !bad; k++) {
            uint64_t r = k ? y->rows - 1 : 0;
            char e[256];
            CHECK(gen_weight_row(p, y->name, r, row, 65536, e, sizeof e) == VKLLM_OK, "%s", e);
            for (uint64_t c = 0; c < y->cols; c++)
                if (elem(y, r * y->cols + c) != row[c]) {
                    CHECK(0, "%s: %s[%llu][%llu] = %g, generator says %g", what, y->name, (unsigned long long)r,
                          (unsigned long long)c, elem(y, r * y->cols + c), row[c]);
                    break;
                }
        }
    }
    free(row);
}

static void gguf_metadata(const char *what, const model *m, const gen_params *p)
{
    const gguf_file *g = m->gguf;
    char err[256];
    const gguf_str *toks;
    uint64_t n = 0;
    uint32_t bos = 9;
    int add_bos = 0;
    gguf_str s;
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &toks, &n, err, sizeof err) == VKLLM_OK && n == p->n_vocab &&
              gguf_str_eq(toks[1], "<s>") && gguf_str_eq(toks[3], "<0x00>") && gguf_str_eq(toks[259], "\xe2\x96\x81") &&
              gguf_str_eq(toks[260], "a"),
          "%s: tokens", what);
    CHECK(gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos, err, sizeof err) == VKLLM_OK && bos == 1, "%s: bos", what);
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, err, sizeof err) == VKLLM_OK && add_bos, "%s", what);
    CHECK(gguf_get_str(g, "tokenizer.chat_template", &s, err, sizeof err) == VKLLM_OK &&
              gguf_str_eq(s, gen_chat_template), "%s: template", what);
    CHECK(g->alignment == (p->alignment ? p->alignment : 32), "%s: alignment %u", what, g->alignment);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        CHECK((g->data_offset + g->tensors[i].offset) % g->alignment == 0, "%s: tensor %llu misaligned", what,
              (unsigned long long)i);
    float *scores = NULL;
    int32_t *types = NULL;
    uint64_t ns = 0, nt = 0;
    CHECK(gguf_get_arr_f32(g, "tokenizer.ggml.scores", &scores, &ns, err, sizeof err) == VKLLM_OK && ns == n &&
              scores[259] == -1.0f && scores[0] == 0.0f, "%s: scores", what);
    CHECK(gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &nt, err, sizeof err) == VKLLM_OK && nt == n &&
              types[0] == 2 && types[1] == 3 && types[3] == 6 && types[260] == 1, "%s: token types", what);
    free(scores);
    free(types);
}

static void run_case(const char *scratch, const char *what, gen_params p)
{
    char err[512];
    char *gpath = tu_path(scratch, "m.gguf"), *hdir = tu_path(scratch, "hf");
    tu_rmtree(hdir);
    vkllm_status st = gen_write_gguf(&p, gpath, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: gen gguf: %s", what, err);
    st = gen_write_hf(&p, hdir, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: gen hf: %s", what, err);
    model *g = NULL, *h = NULL;
    st = model_open(gpath, &g, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: open gguf: %s", what, err);
    st = model_open(hdir, &h, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: open hf: %s", what, err);
    if (g && h) {
        compare(what, &p, g, h);
        gguf_metadata(what, g, &p);
        CHECK(h->n_shards == (p.n_shards > 1 ? p.n_shards : 1), "%s: %zu shards", what, h->n_shards);
    }
    model_close(g);
    model_close(h);
    /* the folder's config.json as the path works too */
    char *cfg = tu_path(hdir, "config.json");
    st = model_open(cfg, &h, err, sizeof err);
    CHECK(st == VKLLM_OK && h->format == MODEL_FORMAT_HF, "%s: open config.json: %s", what, err);
    model_close(h);
    free(cfg);
    free(gpath);
    free(hdir);
}

/* GGUF v2 has the same layout for these types: the version field is all that differs */
static void gguf_v2(const char *scratch)
{
    gen_params p;
    gen_preset("tiny", &p);
    char err[512];
    char *path = tu_path(scratch, "v2.gguf");
    CHECK(gen_write_gguf(&p, path, err, sizeof err) == VKLLM_OK, "%s", err);
    size_t n;
    uint8_t *b = tu_read(path, &n);
    uint32_t v2 = 2;
    memcpy(b + 4, &v2, 4);
    tu_write(path, b, n);
    free(b);
    model *m = NULL;
    CHECK(model_open(path, &m, err, sizeof err) == VKLLM_OK && m->gguf->version == 2, "v2: %s", err);
    model_close(m);
    free(path);
}

/* SOLAR-10.7B-Instruct's config.json values (transformers 4.35 form, from
 * ../shared/fixtures/solar/config.json) and the same model in the newer form. */
static const char *const solar_old =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"bos_token_id\": 1, \"eos_token_id\": 2,"
    " \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 4096, \"model_type\": \"llama\", \"num_attention_heads\": 32,"
    " \"num_hidden_layers\": 48, \"num_key_value_heads\": 8, \"pad_token_id\": 2, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": null, \"rope_theta\": 10000.0, \"tie_word_embeddings\": false,"
    " \"torch_dtype\": \"float16\", \"transformers_version\": \"4.35.0\", \"use_cache\": true, \"vocab_size\": 32000}";
static const char *const solar_new =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"dtype\": \"float16\", \"head_dim\": 128,"
    " \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"intermediate_size\": 14336, \"max_position_embeddings\": 4096,"
    " \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 32, \"num_hidden_layers\": 48,"
    " \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05,"
    " \"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}, \"tie_word_embeddings\": false,"
    " \"transformers_version\": \"5.0.0\", \"vocab_size\": 32000}";

static void solar_configs(const char *scratch)
{
    const char *texts[2] = { solar_old, solar_new };
    model_hparams hp[2];
    for (int i = 0; i < 2; i++) {
        char *path = tu_path(scratch, "config.json"), err[512];
        tu_write(path, texts[i], strlen(texts[i]));
        int tied = -1;
        memset(&hp[i], 0, sizeof hp[i]);
        CHECK(model_read_config(path, &hp[i], &tied, err, sizeof err) == VKLLM_OK && tied == 0, "solar %d: %s", i, err);
        const model_hparams *h = &hp[i];
        CHECK(h->n_layer == 48 && h->n_embd == 4096 && h->n_ff == 14336 && h->n_head == 32 && h->n_head_kv == 8 &&
                  h->head_dim == 128 && h->n_vocab == 32000 && h->n_ctx_train == 4096 && h->n_rot == 128 &&
                  h->rope_theta == 10000.0f && h->rms_eps == 1e-5f, "solar %d hparams", i);
        free(path);
    }
    CHECK(memcmp(&hp[0], &hp[1], sizeof hp[0]) == 0, "the two config forms differ");
}

int main(int argc, char **argv)
{
    const char *scratch = argc > 1 ? argv[1] : "tmp-model-formats";
    if (!tu_scratch(scratch)) {
        printf("FAIL cannot create %s\n", scratch);
        return 1;
    }
    gen_params p;
    gen_preset("tiny", &p); /* f16, GQA 2, head_dim 16, single file, old config */
    run_case(scratch, "tiny f16", p);

    gen_preset("tiny", &p); /* bf16, GQA 1, head_dim 64, 3 shards, new config */
    p.dtype = DTYPE_BF16, p.n_embd = 256, p.n_head = 4, p.n_head_kv = 4, p.n_ff = 80, p.n_vocab = 300;
    p.n_shards = 3, p.config_new_style = 1, p.seed = 7, p.rope_theta = 500000, p.rms_eps = 1e-6;
    run_case(scratch, "bf16 gqa1 hd64 shards3 new-config", p);

    gen_preset("tiny", &p); /* f32, GQA 4, head_dim 128 */
    p.dtype = DTYPE_F32, p.n_layer = 1, p.n_embd = 512, p.n_head = 4, p.n_head_kv = 1, p.n_ff = 64, p.n_vocab = 270;
    p.seed = 99;
    run_case(scratch, "f32 gqa4 hd128", p);

    gen_preset("tiny", &p); /* f16, GQA 8, head_dim 64, tied, 2 shards, alignment 64 */
    p.n_layer = 1, p.n_embd = 512, p.n_head = 8, p.n_head_kv = 1, p.n_ff = 48, p.n_vocab = 280;
    p.tied = 1, p.n_shards = 2, p.alignment = 64, p.seed = 3;
    run_case(scratch, "f16 gqa8 hd64 tied shards2 align64", p);

    gen_preset("tiny", &p); /* GQA 2 at head_dim 128, bf16, tied, single file, new config */
    p.dtype = DTYPE_BF16, p.n_layer = 1, p.n_embd = 512, p.n_head = 4, p.n_head_kv = 2, p.n_ff = 32;
    p.n_vocab = 261, p.tied = 1, p.config_new_style = 1;
    run_case(scratch, "bf16 gqa2 hd128 tied", p);

    gen_preset("tiny", &p); /* explicit head_dim != embd / heads */
    p.n_embd = 96, p.n_head = 4, p.n_head_kv = 2, p.head_dim = 32;
    run_case(scratch, "explicit head_dim old-config", p);
    p.config_new_style = 1, p.n_shards = 4;
    run_case(scratch, "explicit head_dim new-config shards4", p);

    gguf_v2(scratch);
    solar_configs(scratch);
    tu_rmtree(scratch);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
