/* Quantized test models and the quantization schemes:
 *  - vkllm-gen-model's writer with every scheme: the GGUF opens, each tensor
 *    has the type the scheme gives it and the bytes that type needs, and its
 *    blocks decode to exactly the values gen_weight_row promises (the values
 *    a reference forward pass will use);
 *  - the q4_k_m rule reproduces llama-quantize's choice per tensor on the
 *    fixture fx256-Q4_K_M.gguf, and the same generator options give a file
 *    of the same size, tensor for tensor;
 *  - the mix rules on a 48-layer model (SOLAR's depth) and the fallbacks for
 *    rows that are not whole super-blocks.
 * argv[1]: scratch folder; argv[2]: the quant fixture folder. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "gen_internal.h"
#include "model/gguf.h"
#include "model/quant.h"
#include "model_util.h"

static void fixture_params(gen_params *p)
{
    gen_preset("tiny", p);
    p->n_layer = 1, p->n_embd = 256, p->n_ff = 256, p->n_head = 4, p->n_head_kv = 2, p->head_dim = 64;
    p->n_vocab = 512, p->n_ctx = 256, p->seed = 7, p->name = "fx256";
}

/* writes p as GGUF and checks every tensor against the generator's promises */
static void check_written(const gen_params *p, const char *path)
{
    char err[512];
    vkllm_status st = gen_write_gguf(p, path, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: %s", p->quant, err);
    if (st) return;
    gguf_file *g = NULL;
    st = gguf_open(path, &g, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s: %s", p->quant, err);
    if (st) return;
    size_t n_t = 0;
    gen_tensor *t = gen_tensor_list(p, &n_t);
    CHECK(t && n_t == g->n_tensors, "%s: tensor count", p->quant);
    int n_quant = 0;
    for (size_t i = 0; t && i < n_t; i++) {
        const gguf_tensor *gt = gguf_find_tensor(g, t[i].canon);
        CHECK(gt != NULL, "%s: %s missing", p->quant, t[i].canon);
        if (!gt) continue;
        CHECK(gt->type == gen_tensor_type(p, t[i].canon), "%s: %s has type %s", p->quant, t[i].canon,
              ggml_type_name(gt->type));
        const quant_type *qt = quant_type_of(gt->type);
        if (!qt) continue;
        n_quant++;
        uint64_t row_bytes = quant_bytes(qt, t[i].cols);
        CHECK(row_bytes && gt->n_bytes == row_bytes * t[i].rows, "%s: %s: %" PRIu64 " bytes", p->quant, t[i].canon,
              gt->n_bytes);
        if (!row_bytes || gt->n_bytes != row_bytes * t[i].rows) continue;
        float *got = malloc(t[i].cols * sizeof *got), *want = malloc(t[i].cols * sizeof *want);
        if (!got || !want) abort();
        uint64_t bad = 0;
        for (uint64_t r = 0; r < t[i].rows; r++) {
            quant_dequantize(qt, (const uint8_t *)gt->data + r * row_bytes, got, t[i].cols / qt->block);
            gen_weight_row(p, t[i].canon, gen_gguf_src_row(&t[i], r), want, t[i].cols, err, sizeof err);
            for (uint64_t c = 0; c < t[i].cols; c++) bad += memcmp(&got[c], &want[c], 4) != 0;
        }
        CHECK(bad == 0, "%s: %s: %" PRIu64 " values differ from gen_weight_row", p->quant, t[i].canon, bad);
        free(got);
        free(want);
    }
    CHECK(n_quant > 0, "%s: no quantized tensor", p->quant);
    free(t);
    gguf_close(g);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_gen_quant SCRATCH FIXTURE_DIR\n");
        return 2;
    }
    if (!tu_scratch(argv[1])) return 1;
    char *path = tu_path(argv[1], "q.gguf");

    /* every scheme, on the fixture's shapes (rows of 256) and on tiny's (rows of 64: fallbacks) */
    unsigned n_s;
    const quant_scheme *s = quant_schemes(&n_s);
    CHECK(n_s == 16, "%u schemes", n_s);
    for (unsigned i = 0; i < n_s; i++) {
        gen_params p;
        fixture_params(&p);
        p.quant = s[i].name;
        check_written(&p, path);
        gen_preset("tiny", &p);
        p.quant = s[i].name;
        p.tied = i % 2;
        check_written(&p, path);
    }

    /* q4_k_m against llama-quantize's own choice on the same model */
    char fx[1024], err[512];
    snprintf(fx, sizeof fx, "%s/fx256-Q4_K_M.gguf", argv[2]);
    gguf_file *g = NULL;
    vkllm_status st = gguf_open(fx, &g, err, sizeof err);
    CHECK(st == VKLLM_OK, "%s", err);
    gen_params p;
    fixture_params(&p);
    p.quant = "Q4_K_M"; /* case-insensitive */
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)g->tensors[i].name.len, g->tensors[i].name.s);
        CHECK(gen_tensor_type(&p, name) == g->tensors[i].type, "Q4_K_M: %s: ours %s, llama-quantize's %s", name,
              ggml_type_name(gen_tensor_type(&p, name)), ggml_type_name(g->tensors[i].type));
    }
    if (!st) {
        check_written(&p, path);
        size_t n = 0;
        uint8_t *ours = tu_read(path, &n);
        free(ours);
        CHECK(ours && n == g->map.size, "Q4_K_M: our file %zu bytes, llama-quantize's %" PRIu64, n,
              (uint64_t)g->map.size);
    }
    gguf_close(g);

    /* the rules on a 48-layer model, GQA 4 (SOLAR's shapes) */
    const quant_scheme *m4 = quant_scheme_find("q4_k_m"), *q2 = quant_scheme_find("q2_k"),
                       *m3 = quant_scheme_find("q3_k_m"), *ks = quant_scheme_find("q4_k_s");
    CHECK(m4 && q2 && m3 && ks && !quant_scheme_find("q4_k_x") && !quant_scheme_find("q4"), "scheme names");
    if (m4 && q2 && m3 && ks) {
        /* use_more_bits(i, 48): i < 6, i >= 42, (i - 6) % 3 == 2 */
        static const struct { uint32_t layer, want; } v[] = {
            { 0, QTYPE_Q6_K }, { 5, QTYPE_Q6_K }, { 6, QTYPE_Q4_K }, { 7, QTYPE_Q4_K }, { 8, QTYPE_Q6_K },
            { 41, QTYPE_Q6_K }, { 40, QTYPE_Q4_K }, { 42, QTYPE_Q6_K }, { 47, QTYPE_Q6_K },
        };
        for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
            CHECK(quant_scheme_type(m4, QROLE_ATTN_V, v[i].layer, 48, 4096, 32, 8) == v[i].want, "q4_k_m attn_v %u",
                  v[i].layer);
            CHECK(quant_scheme_type(m4, QROLE_FFN_DOWN, v[i].layer, 48, 14336, 32, 8) == v[i].want,
                  "q4_k_m ffn_down %u", v[i].layer);
        }
        CHECK(quant_scheme_type(m4, QROLE_ATTN_Q, 8, 48, 4096, 32, 8) == QTYPE_Q4_K, "q4_k_m attn_q");
        CHECK(quant_scheme_type(m4, QROLE_OUTPUT, 0, 48, 4096, 32, 8) == QTYPE_Q6_K, "q4_k_m output");
        CHECK(quant_scheme_type(m4, QROLE_TOKEN_EMBD, 0, 48, 4096, 32, 8) == QTYPE_Q4_K, "q4_k_m token_embd");
        CHECK(quant_scheme_type(q2, QROLE_ATTN_V, 3, 48, 4096, 32, 8) == QTYPE_Q4_K, "q2_k attn_v, GQA 4");
        CHECK(quant_scheme_type(q2, QROLE_ATTN_V, 3, 48, 4096, 32, 16) == QTYPE_Q3_K, "q2_k attn_v, GQA 2");
        CHECK(quant_scheme_type(q2, QROLE_FFN_GATE, 3, 48, 4096, 32, 8) == QTYPE_Q2_K, "q2_k ffn_gate");
        CHECK(quant_scheme_type(m3, QROLE_FFN_DOWN, 2, 48, 14336, 32, 8) == QTYPE_Q5_K, "q3_k_m ffn_down 2 (< n/16)");
        CHECK(quant_scheme_type(m3, QROLE_FFN_DOWN, 3, 48, 14336, 32, 8) == QTYPE_Q4_K, "q3_k_m ffn_down 3");
        CHECK(quant_scheme_type(m3, QROLE_FFN_DOWN, 6, 48, 14336, 32, 8) == QTYPE_Q3_K, "q3_k_m ffn_down 6");
        CHECK(quant_scheme_type(ks, QROLE_ATTN_V, 3, 48, 4096, 32, 8) == QTYPE_Q5_K, "q4_k_s attn_v 3");
        CHECK(quant_scheme_type(ks, QROLE_ATTN_V, 4, 48, 4096, 32, 8) == QTYPE_Q4_K, "q4_k_s attn_v 4");
        /* fallbacks: rows of 64 are no whole super-block; rows of 48 fit no block type */
        CHECK(quant_scheme_type(m4, QROLE_ATTN_Q, 8, 48, 64, 32, 8) == QTYPE_Q5_0, "Q4_K -> Q5_0");
        CHECK(quant_scheme_type(m4, QROLE_OUTPUT, 0, 48, 64, 32, 8) == QTYPE_Q8_0, "Q6_K -> Q8_0");
        CHECK(quant_scheme_type(q2, QROLE_FFN_UP, 0, 48, 64, 32, 8) == QTYPE_IQ4_NL, "Q2_K -> IQ4_NL");
        CHECK(quant_scheme_type(quant_scheme_find("q5_k_s"), QROLE_FFN_UP, 0, 48, 96, 32, 8) == QTYPE_Q5_1,
              "Q5_K -> Q5_1");
        CHECK(quant_scheme_type(m4, QROLE_ATTN_Q, 0, 48, 48, 32, 8) == 0, "rows of 48: unquantized");
    }

    /* refusals */
    fixture_params(&p);
    p.quant = "q4_k_x";
    CHECK(gen_write_gguf(&p, path, err, sizeof err) == VKLLM_ERR_INVALID_ARG && strstr(err, "q4_k_x"),
          "unknown type refused: %s", err);
    p.quant = "q8_0";
    char *hf = tu_path(argv[1], "hf");
    CHECK(gen_write_hf(&p, hf, err, sizeof err) == VKLLM_ERR_INVALID_ARG && strstr(err, "GGUF only"),
          "quantized HF refused: %s", err);
    free(hf);
    free(path);
    tu_rmtree(argv[1]);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
