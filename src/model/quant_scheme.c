/* Quantization schemes (llama-quantize's file types): see quant.h for the
 * rule of each mix. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "model/quant.h"

static const quant_scheme schemes[] = {
    { "q4_0", QTYPE_Q4_0, 2 },     { "q4_1", QTYPE_Q4_1, 3 },     { "q8_0", QTYPE_Q8_0, 7 },
    { "q5_0", QTYPE_Q5_0, 8 },     { "q5_1", QTYPE_Q5_1, 9 },     { "q2_k", QTYPE_Q2_K, 10 },
    { "q3_k_s", QTYPE_Q3_K, 11 },  { "q3_k_m", QTYPE_Q3_K, 12 },  { "q3_k_l", QTYPE_Q3_K, 13 },
    { "q4_k_s", QTYPE_Q4_K, 14 },  { "q4_k_m", QTYPE_Q4_K, 15 },  { "q5_k_s", QTYPE_Q5_K, 16 },
    { "q5_k_m", QTYPE_Q5_K, 17 },  { "q6_k", QTYPE_Q6_K, 18 },    { "iq4_nl", QTYPE_IQ4_NL, 25 },
    { "iq4_xs", QTYPE_IQ4_XS, 30 },
};
#define N_SCHEMES (sizeof schemes / sizeof schemes[0])

const quant_scheme *quant_schemes(unsigned *n)
{
    *n = N_SCHEMES;
    return schemes;
}

const quant_scheme *quant_scheme_find(const char *name)
{
    for (unsigned i = 0; i < N_SCHEMES; i++) {
        const char *a = schemes[i].name, *b = name;
        while (*a && tolower((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) return &schemes[i];
    }
    return 0;
}

static int scheme_is(const quant_scheme *s, const char *name)
{
    return quant_scheme_find(name) == s;
}

static int use_more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

uint32_t quant_scheme_type(const quant_scheme *s, quant_role role, uint32_t layer, uint32_t n_layer, uint64_t cols,
                           uint32_t n_head, uint32_t n_head_kv)
{
    uint32_t t = s->base;
    uint32_t gqa = n_head_kv ? n_head / n_head_kv : 1;
    if (role == QROLE_OUTPUT) {
        if (t != QTYPE_Q8_0) t = QTYPE_Q6_K;
    } else if (role == QROLE_ATTN_V) {
        if (scheme_is(s, "q2_k")) t = gqa >= 4 ? QTYPE_Q4_K : QTYPE_Q3_K;
        else if (scheme_is(s, "q3_k_m")) t = layer < 2 ? QTYPE_Q5_K : QTYPE_Q4_K;
        else if (scheme_is(s, "q3_k_l")) t = QTYPE_Q5_K;
        else if ((scheme_is(s, "q4_k_m") || scheme_is(s, "q5_k_m")) && use_more_bits(layer, n_layer)) t = QTYPE_Q6_K;
        else if (scheme_is(s, "q4_k_s") && layer < 4) t = QTYPE_Q5_K;
    } else if (role == QROLE_FFN_DOWN) {
        if (scheme_is(s, "q2_k")) t = QTYPE_Q3_K;
        else if (scheme_is(s, "q3_k_m"))
            t = layer < n_layer / 16 ? QTYPE_Q5_K : use_more_bits(layer, n_layer) ? QTYPE_Q4_K : QTYPE_Q3_K;
        else if (scheme_is(s, "q3_k_l")) t = QTYPE_Q5_K;
        else if ((scheme_is(s, "q4_k_m") || scheme_is(s, "q5_k_m")) && use_more_bits(layer, n_layer)) t = QTYPE_Q6_K;
        else if ((t == QTYPE_IQ4_NL || t == QTYPE_IQ4_XS) && layer < n_layer / 8) t = QTYPE_Q5_K;
    } else if (role == QROLE_ATTN_OUTPUT) {
        if (scheme_is(s, "q2_k")) t = QTYPE_Q3_K;
        else if (scheme_is(s, "q3_k_m")) t = QTYPE_Q4_K;
        else if (scheme_is(s, "q3_k_l")) t = QTYPE_Q5_K;
    }
    const quant_type *qt = quant_type_of(t);
    if (cols % qt->block) { /* llama-quantize's fallbacks for rows that are not whole super-blocks */
        t = t == QTYPE_Q4_K ? QTYPE_Q5_0 : t == QTYPE_Q5_K ? QTYPE_Q5_1 : t == QTYPE_Q6_K ? QTYPE_Q8_0 : QTYPE_IQ4_NL;
        if (cols % 32) return 0;
    }
    return t;
}

int quant_tensor_role(const char *name, uint32_t *layer)
{
    static const struct { const char *suffix; quant_role role; } L[] = {
        { "attn_q", QROLE_ATTN_Q },       { "attn_k", QROLE_ATTN_K },     { "attn_v", QROLE_ATTN_V },
        { "attn_output", QROLE_ATTN_OUTPUT }, { "ffn_gate", QROLE_FFN_GATE }, { "ffn_up", QROLE_FFN_UP },
        { "ffn_down", QROLE_FFN_DOWN },
    };
    *layer = 0;
    if (strcmp(name, "token_embd.weight") == 0) return QROLE_TOKEN_EMBD;
    if (strcmp(name, "output.weight") == 0) return QROLE_OUTPUT;
    unsigned l;
    int n = 0;
    char mid[32];
    if (sscanf(name, "blk.%u.%31[a-z_].weight%n", &l, mid, &n) != 2 || name[n]) return -1;
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++)
        if (strcmp(mid, L[i].suffix) == 0) {
            *layer = l;
            return (int)L[i].role;
        }
    return -1;
}

int quant_scheme_tensor(const quant_scheme *s, const char *name, uint64_t cols, int tied, uint32_t n_layer,
                        uint32_t n_head, uint32_t n_head_kv, uint32_t *type)
{
    uint32_t layer;
    int role = quant_tensor_role(name, &layer);
    if (role < 0) return 0;
    /* tied: the embeddings are the output matrix too, quantized as it is (llama.cpp's rule) */
    quant_role r = role == QROLE_TOKEN_EMBD && tied ? QROLE_OUTPUT : (quant_role)role;
    *type = quant_scheme_type(s, r, layer, n_layer, cols, n_head, n_head_kv);
    return 1;
}
