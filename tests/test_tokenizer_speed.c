/* Encoding speed on ~1 MB of text with both vocabularies: mixed prose, code,
 * digits, CJK, emoji, and two degenerate inputs (one long run of spaces, one
 * of a single letter) that make quadratic merging show. Times are printed,
 * not asserted; the decode of each result is checked against the input.
 * usage: test_tokenizer_speed DATA_DIR SCRATCH_DIR */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_util.h"
#include "text/tokenizer.h"
#include "util/rng.h"

#define TEXT_BYTES (1u << 20)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *mixed_text(size_t *len)
{
    static const char *const frag[] = {
        "The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog. ", "Tokenization ",
        "of ", "SentencePiece ", "pieces ", "is ", "fun", ", ", "and ", "\n", "\n\n", "\t", "    ", "int main(void) { return 0; }\n",
        "3.14159 ", "2024-11-27 ", "42 ", "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95 ",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ", "\xf0\x9f\xa6\x99 ", "\xf0\x9f\x9a\x80\xf0\x9f\x98\x80 ",
        "\xd0\x91\xd1\x8a\xd0\xbb\xd0\xb3\xd0\xb0\xd1\x80\xd1\x81\xd0\xba\xd0\xb8 ", "F\xc3\xbchrer ", "caf\xc3\xa9 ",
        "### User:\n", "Hello?", " world", "!", "unbelievably ", "antidisestablishmentarianism ",
    };
    rng r = { 2024 };
    char *s = malloc(TEXT_BYTES + 64);
    size_t o = 0;
    while (s && o < TEXT_BYTES) {
        const char *f = frag[rng_below(&r, sizeof frag / sizeof frag[0])];
        size_t l = strlen(f);
        memcpy(s + o, f, l);
        o += l;
    }
    *len = o;
    return s;
}

static void run(const tokenizer *t, const char *vocab, const char *what, const char *text, size_t len)
{
    char err[256];
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = now_ms();
    vkllm_status st = tok_encode(t, text, len, TOK_ENCODE_BOS, &ids, &n, err, sizeof err);
    double t1 = now_ms();
    CHECK(st == VKLLM_OK, "%s %s: %s", vocab, what, err);
    char *back = NULL;
    size_t back_len = 0;
    double t2 = now_ms();
    st = tok_decode(t, ids, n, 0, &back, &back_len, err, sizeof err);
    double t3 = now_ms();
    CHECK(st == VKLLM_OK && back_len == len && memcmp(back, text, len) == 0, "%s %s: decode does not give the text back",
          vocab, what);
    printf("%-14s %-22s %8zu bytes -> %7zu tokens: encode %7.1f ms (%6.1f MB/s), decode %6.1f ms\n", vocab, what, len, n,
           t1 - t0, len / 1e3 / (t1 - t0), t3 - t2);
    free(ids);
    free(back);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char *gguf = tu_path(argv[1], "ggml-vocab-llama-spm.gguf"), *hf = tu_path(argv[1], "solar-mistral");
    const char *paths[2] = { gguf, hf }, *names[2] = { "llama-spm", "solar-mistral" };
    size_t len = 0;
    char *mixed = mixed_text(&len);
    char *spaces = malloc(TEXT_BYTES), *letters = malloc(TEXT_BYTES);
    if (!mixed || !spaces || !letters) return 1;
    memset(spaces, ' ', TEXT_BYTES);
    memset(letters, 'a', TEXT_BYTES);
    for (int v = 0; v < 2; v++) {
        char err[512];
        tokenizer *t = NULL;
        double t0 = now_ms();
        vkllm_status st = tok_load_path(paths[v], &t, err, sizeof err);
        double t1 = now_ms();
        CHECK(st == VKLLM_OK, "load %s: %s", paths[v], err);
        if (st) continue;
        printf("%-14s load %.1f ms\n", names[v], t1 - t0);
        run(t, names[v], "mixed text", mixed, len);
        run(t, names[v], "1 MiB of spaces", spaces, TEXT_BYTES);
        run(t, names[v], "1 MiB of 'a'", letters, TEXT_BYTES);
        tok_free(t);
    }
    free(mixed);
    free(spaces);
    free(letters);
    free(gguf);
    free(hf);
    printf("%s (%d failures)\n", tu_failures ? "FAILED" : "ok", tu_failures);
    return tu_failures != 0;
}
