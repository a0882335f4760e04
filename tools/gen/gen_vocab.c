/* Generator: a small SentencePiece-like vocabulary (see gen_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

#define SPACE "\xe2\x96\x81" /* U+2581 '▁', SentencePiece's word-start mark */

void gen_vocab_free(gen_vocab *v)
{
    if (v->pieces)
        for (uint32_t i = 0; i < v->n; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->scores);
    free(v->types);
    free(v->merge_left);
    memset(v, 0, sizeof *v);
}

vkllm_status gen_vocab_build(uint32_t n, gen_vocab *v, char *err, size_t err_len)
{
    memset(v, 0, sizeof *v);
    v->pieces = calloc(n, sizeof *v->pieces);
    v->scores = calloc(n, sizeof *v->scores);
    v->types = calloc(n, sizeof *v->types);
    v->merge_left = calloc(n, sizeof *v->merge_left);
    v->n = n;
    if (!v->pieces || !v->scores || !v->types || !v->merge_left) goto oom;
    static const char *const special[3] = { "<unk>", "<s>", "</s>" };
    for (uint32_t i = 0; i < n; i++) v->merge_left[i] = UINT32_MAX;
    for (uint32_t i = 0; i < 3; i++) {
        if (!(v->pieces[i] = strdup(special[i]))) goto oom;
        v->types[i] = i == 0 ? 2 : 3;
    }
    for (uint32_t b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        if (!(v->pieces[3 + b] = strdup(s))) goto oom;
        v->types[3 + b] = 6;
    }
    /* breadth first: for each length L, "▁" + (L-1) letters, then L letters */
    uint32_t id = GEN_FIRST_PIECE, level_start = GEN_FIRST_PIECE, prev_level_start = GEN_FIRST_PIECE;
    for (uint32_t len = 1; id < n; len++) {
        for (int with_space = 1; with_space >= 0 && id < n; with_space--) {
            uint32_t n_letters = with_space ? len - 1 : len;
            uint64_t count = 1;
            for (uint32_t k = 0; k < n_letters; k++) count *= 26;
            for (uint64_t c = 0; c < count && id < n; c++) {
                char s[64];
                size_t o = 0;
                if (with_space) memcpy(s, SPACE, 3), o = 3;
                uint64_t x = c;
                for (uint32_t k = 0; k < n_letters; k++) { /* most significant letter first */
                    uint64_t div = 1;
                    for (uint32_t q = k + 1; q < n_letters; q++) div *= 26;
                    s[o++] = (char)('a' + (x / div) % 26);
                }
                s[o] = 0;
                if (!(v->pieces[id] = strdup(s))) goto oom;
                v->types[id] = 1;
                v->scores[id] = -(float)(id - (GEN_FIRST_PIECE - 1));
                if (len > 1) { /* merge: (all but the last letter) + last letter; the prefix is
                                  piece c / 26 of the same kind one level up */
                    uint64_t prev_ws = 1;
                    for (uint32_t k = 0; k + 2 < len; k++) prev_ws *= 26; /* 26^(len-2) "▁"-pieces there */
                    v->merge_left[id] = (uint32_t)(prev_level_start + (with_space ? 0 : prev_ws) + c / 26);
                }
                id++;
            }
        }
        prev_level_start = level_start;
        level_start = id;
    }
    return VKLLM_OK;
oom:
    gen_vocab_free(v);
    return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory building the vocabulary");
}
