/* Hostile sizes for the tokenizer's special-token matching: 40,000 added
 * tokens sharing their first byte, and 400 kB of text made of that byte with
 * some of the tokens planted in it. Finding the longest special at a position
 * walks a trie, so the work per position is bounded by the longest special
 * (here 7 bytes), not by how many there are; the old scan tried every special
 * sharing the first byte at every position (1.6e10 comparisons here, minutes
 * of CPU). No time is measured: the quadratic matcher fails this test by
 * running past its meson timeout (30 s), the linear one takes well under a
 * second. The planted tokens must come out, in order, and nothing else.
 * usage: test_tokenizer_scale DATA_DIR SCRATCH_DIR */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_util.h"
#include "text/tokenizer.h"
#include "util/rng.h"

#define N_ADDED 40000
#define TEXT_BYTES (400u << 10)
#define FIRST_ADDED 3

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    if (!tu_scratch(argv[2])) {
        printf("FAIL cannot create %s\n", argv[2]);
        return 1;
    }
    /* tokenizer.json: <unk>, ▁, a, then "<00000>".."<39999>" as added control tokens */
    size_t cap = (size_t)N_ADDED * 96 + 4096, o = 0;
    char *j = malloc(cap);
    o += (size_t)snprintf(j + o, cap - o, "{\"added_tokens\":[");
    for (int i = 0; i < N_ADDED; i++)
        o += (size_t)snprintf(j + o, cap - o, "%s{\"id\":%d,\"content\":\"<%05d>\",\"special\":true}", i ? "," : "",
                              FIRST_ADDED + i, i);
    o += (size_t)snprintf(j + o, cap - o,
                          "],\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,\"model\":{\"type\":\"BPE\","
                          "\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":false,\"vocab\":{\"<unk>\":0,"
                          "\"\xe2\x96\x81\":1,\"a\":2},\"merges\":[]}}");
    char *path = tu_path(argv[2], "tokenizer.json");
    CHECK(tu_write(path, j, o), "write %s", path);
    free(j);
    char err[512];
    tokenizer *t = NULL;
    CHECK(tok_load_path(path, &t, err, sizeof err) == VKLLM_OK, "load: %s", err);
    free(path);
    if (!t) return 1;

    /* '<' everywhere; every ~1000 bytes a token, sometimes cut short ("<1234<") */
    rng r = { 17 };
    char *text = malloc(TEXT_BYTES + 1600); /* the last run may pass TEXT_BYTES */
    int32_t *planted = malloc(TEXT_BYTES / 500 * sizeof *planted);
    size_t n_planted = 0, len = 0;
    while (len < TEXT_BYTES) {
        size_t run = 500 + rng_below(&r, 1000);
        memset(text + len, '<', run);
        len += run;
        int id = (int)rng_below(&r, N_ADDED);
        if (rng_below(&r, 4) == 0) { /* a prefix of a token only: no match */
            len += (size_t)snprintf(text + len, 16, "<%04d", id / 10);
        } else {
            len += (size_t)snprintf(text + len, 16, "<%05d>", id);
            planted[n_planted++] = FIRST_ADDED + id;
        }
    }
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tok_encode(t, text, len, TOK_ENCODE_SPECIAL, &ids, &n, err, sizeof err) == VKLLM_OK, "encode: %s", err);
    size_t k = 0, wrong = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= FIRST_ADDED) {
            if (k >= n_planted || ids[i] != planted[k]) wrong++;
            k++;
        }
    CHECK(k == n_planted && wrong == 0, "%zu specials found (%zu wrong), %zu planted", k, wrong, n_planted);
    printf("%zu bytes, %d added tokens: %zu ids, %zu specials\n", len, N_ADDED, n, k);
    free(ids);
    /* without TOK_ENCODE_SPECIAL the control tokens are text */
    CHECK(tok_encode(t, text, len, 0, &ids, &n, err, sizeof err) == VKLLM_OK, "encode: %s", err);
    for (size_t i = 0; i < n; i++) CHECK(ids[i] < FIRST_ADDED, "a control token matched without the flag");
    free(ids);
    free(text);
    free(planted);
    tok_free(t);
    tu_rmtree(argv[2]);
    printf("%s (%d failures)\n", tu_failures ? "FAILED" : "ok", tu_failures);
    return tu_failures != 0;
}
