/* The GGUF reader against a real file written by llama.cpp: the Llama-2
 * vocabulary (tests/data/ggml-vocab-llama-spm.gguf: metadata only, no
 * tensors). Checks metadata of every kind, known token pieces, that typed
 * getters refuse the wrong type, that it is refused as a model, and that
 * truncating it is caught.
 * usage: test_model_vocab SCRATCH_DIR VOCAB_GGUF */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model.h"
#include "model_util.h"

static void check_file(const gguf_file *g)
{
    char err[256];
    CHECK(g->version == 3 && g->n_tensors == 0 && g->n_kv == 22 && g->alignment == 32, "v%u, %llu tensors, %llu kv",
          g->version, (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv);
    gguf_str s;
    CHECK(gguf_get_str(g, "general.architecture", &s, err, sizeof err) == VKLLM_OK && gguf_str_eq(s, "llama"), "arch");
    CHECK(gguf_get_str(g, "tokenizer.ggml.model", &s, err, sizeof err) == VKLLM_OK && gguf_str_eq(s, "llama"), "model");
    CHECK(gguf_get_str(g, "tokenizer.ggml.pre", &s, err, sizeof err) == VKLLM_OK && gguf_str_eq(s, "default"), "pre");

    const gguf_str *t = NULL;
    uint64_t n = 0;
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", &t, &n, err, sizeof err) == VKLLM_OK && n == 32000, "tokens %s",
          err);
    if (n == 32000) {
        static const struct { uint32_t id; const char *piece; } known[] = {
            { 0, "<unk>" },   { 1, "<s>" },       { 2, "</s>" },       { 3, "<0x00>" },
            { 258, "<0xFF>" }, { 259, "\xe2\x96\x81\xe2\x96\x81" },    { 260, "\xe2\x96\x81t" },
            { 1576, "The" },  { 3186, "\xe2\x96\x81world" },          { 15043, "\xe2\x96\x81Hello" },
            { 29871, "\xe2\x96\x81" }, { 31999, "\xe7\xbb\x99" /* 给 */ },
        };
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            CHECK(gguf_str_eq(t[known[i].id], known[i].piece), "token %u is '%.*s', want '%s'", known[i].id,
                  (int)t[known[i].id].len, t[known[i].id].s, known[i].piece);
    }
    float *scores = NULL;
    uint64_t ns = 0;
    CHECK(gguf_get_arr_f32(g, "tokenizer.ggml.scores", &scores, &ns, err, sizeof err) == VKLLM_OK && ns == 32000 &&
              scores[0] == 0.0f && scores[259] == -1e9f && scores[260] == -1.0f && scores[261] == -2.0f,
          "scores");
    free(scores);
    int32_t *types = NULL;
    uint64_t nt = 0;
    CHECK(gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &nt, err, sizeof err) == VKLLM_OK && nt == 32000 &&
              types[0] == 2 && types[1] == 3 && types[2] == 3 && types[3] == 6 && types[258] == 6 && types[259] == 1,
          "token types");
    free(types);
    uint32_t u = 0;
    CHECK(gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u, err, sizeof err) == VKLLM_OK && u == 1, "bos");
    CHECK(gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u, err, sizeof err) == VKLLM_OK && u == 2, "eos");
    CHECK(gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &u, err, sizeof err) == VKLLM_OK && u == 0, "unk");
    CHECK(gguf_get_u32(g, "llama.block_count", &u, err, sizeof err) == VKLLM_OK && u == 32, "layers");
    CHECK(gguf_get_u32(g, "llama.vocab_size", &u, err, sizeof err) == VKLLM_OK && u == 32000, "vocab");
    int32_t i32 = 0;
    CHECK(gguf_get_i32(g, "llama.feed_forward_length", &i32, err, sizeof err) == VKLLM_OK && i32 == 11008, "ff");
    uint64_t u64 = 0;
    CHECK(gguf_get_u64(g, "llama.context_length", &u64, err, sizeof err) == VKLLM_OK && u64 == 4096, "ctx");
    int b = -1;
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, err, sizeof err) == VKLLM_OK && b == 1, "add_bos");
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b, err, sizeof err) == VKLLM_OK && b == 0, "add_eos");
    float f = 0;
    CHECK(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, err, sizeof err) == VKLLM_OK &&
              fabsf(f - 1e-5f) < 1e-9f, "eps %g", f);

    /* wrong types and missing keys name the file, the key and what was found */
    tu_expect("u32 of a string", gguf_get_u32(g, "tokenizer.ggml.model", &u, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "ggml-vocab-llama-spm.gguf", "'tokenizer.ggml.model' is string", NULL);
    tu_expect("f32 array of strings", gguf_get_arr_f32(g, "tokenizer.ggml.tokens", &scores, &ns, err, sizeof err), err,
              VKLLM_ERR_FORMAT, "'tokenizer.ggml.tokens' is an array of string, expected an array of float32", NULL);
    tu_expect("bool of u32", gguf_get_bool(g, "llama.block_count", &b, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "'llama.block_count' is uint32, expected bool", NULL);
    tu_expect("str of array", gguf_get_str(g, "tokenizer.ggml.scores", &s, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "array of float32, expected string", NULL);
    tu_expect("missing key", gguf_get_u32(g, "llama.rope.freq_base", &u, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "ggml-vocab-llama-spm.gguf: metadata key 'llama.rope.freq_base' is missing", NULL);
    CHECK(gguf_find(g, "no.such.key") == NULL && gguf_find_tensor(g, "token_embd.weight") == NULL, "find");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        printf("usage: %s SCRATCH_DIR VOCAB_GGUF\n", argv[0]);
        return 2;
    }
    const char *scratch = argv[1], *vocab = argv[2];
    char err[512];
    gguf_file *g = NULL;
    vkllm_status st = gguf_open(vocab, &g, err, sizeof err);
    CHECK(st == VKLLM_OK, "open %s: %s", vocab, err);
    if (g) check_file(g);

    /* as a model: refused, with a message that says why */
    model *m = NULL;
    tu_expect("vocab-only model", model_open(vocab, &m, err, sizeof err), err, VKLLM_ERR_FORMAT,
              "ggml-vocab-llama-spm.gguf", "no tensors", NULL);
    CHECK(m == NULL, "model set on failure");

    /* truncated inside the token list / the scores / the last key */
    if (g && tu_scratch(scratch)) {
        size_t n;
        uint8_t *bytes = tu_read(vocab, &n);
        char *cut = tu_path(scratch, "cut.gguf");
        const gguf_kv *tok = gguf_find(g, "tokenizer.ggml.tokens"), *sc = gguf_find(g, "tokenizer.ggml.scores");
        struct { uint64_t len; const char *want; } cuts[] = {
            /* near the end of the strings: the count check passes, string 31998 is cut */
            { (uint64_t)(tok->strs[31998].s - (const char *)g->map.data) + 1,
              "metadata #14 'tokenizer.ggml.tokens' string bytes" },
            /* early: 32000 strings of >= 8 bytes cannot fit what is left */
            { (uint64_t)(tok->strs[1000].s - (const char *)g->map.data),
              "metadata #14 'tokenizer.ggml.tokens' array length 32000 is impossible" },
            { (uint64_t)(sc->value - g->map.data) + 4000,
              "metadata #15 'tokenizer.ggml.scores' array length 32000 is impossible" },
            { n - 1, "metadata #21 'tokenizer.ggml.add_eos_token' bool" },
        };
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            tu_write(cut, bytes, (size_t)cuts[i].len);
            gguf_file *c = NULL;
            tu_expect(cuts[i].want, gguf_open(cut, &c, err, sizeof err), err, VKLLM_ERR_FORMAT, "cut.gguf: truncated",
                      cuts[i].want, NULL);
            gguf_close(c);
        }
        free(cut);
        free(bytes);
        tu_rmtree(scratch);
    }
    gguf_close(g);
    printf("%s\n", tu_failures ? "FAILED" : "PASSED");
    return tu_failures != 0;
}
