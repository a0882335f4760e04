/* The whole forward pass on the GPU against the CPU reference forward pass
 * (tools/gen/ref_llama.c), itself and the file formats: for several tiny
 * shapes (GQA ratio 1, 2, 4, 8; head dim 16 .. 128; an odd hidden size; tied
 * embeddings; F16, BF16, F32 files):
 *   - every position's logits match the reference within TOL (below),
 *   - 32 greedy tokens after the prompt are the reference's, token for token
 *     (a divergence is accepted only at a genuine near-tie of the reference),
 *   - prefill of a block == decoding the same tokens one at a time,
 *   - the GGUF and the HF folder of the same weights give the same logits,
 *   - the argmax computed on the GPU is the argmax of the logits,
 *   - rewinding and continuing == evaluating the rewound sequence fresh,
 *   - a full context and bad token ids are refused without running.
 * argv[1]: a scratch folder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "ref_llama.h"
#include "harness.h"
#include "logits_diff.h"
#include "llama/llama.h"
#include "model/model.h"
#include "model/quant.h"
#include "ops/profile.h"
#include "util/rng.h"

static int failures;
#include "expect.h"
#include "loaded_model.h"

/* Logits tolerance, relative to the largest |logit| of the compared set.
 * The reference uses the same fp16 weights and fp16 K/V cache but double
 * arithmetic; the GPU accumulates in fp32 (dot products of up to a few
 * hundred terms: ~sqrt(K) * 2^-24 relative each), and a K/V value that
 * lands near an fp16 rounding boundary may round the other way (2^-11
 * relative on that element). Through two layers this is 1e-6 .. 1e-4 of
 * the logit scale (the largest over 72 random models: 1.1e-4, from such
 * roundings); 1e-3 leaves a margin while a wrong mask, a missing key, a
 * wrong RoPE pair, a wrong scale or one wrong weight row moves logits by
 * 1e-2 .. 1 of the scale. */
#define TOL 1e-3
/* Quantized weights through the fp16 scratch (the prefill path of CPU
 * devices, the profile's quant_dequant) are rounded to fp16 on the way:
 * up to 2^-11 = 4.9e-4 relative on every weight, which the decode path
 * (fp32 from the blocks) and the reference do not do. Through two layers
 * and the output that is 2e-4 .. 1.05e-3 of the logit scale (the largest
 * seen: gqa2-f16 q2_k, seed 4767862411649696536), so those comparisons get
 * 3e-3: still a third of the smallest error a real fault makes. */
#define TOL_FP16_WEIGHTS 3e-3
#define N_GREEDY 32

/* The reference's n greedy tokens after toks[0..P) against the GPU's
 * gpu_ids: the number identical from the start (n: all). A divergence
 * fails unless the reference itself barely prefers its token there (a gap
 * within TOL of its logit scale). -1 when the reference fails. */
static int greedy_vs_reference(ref_llama *ref, const int32_t *toks, uint32_t P, const int32_t *gpu_ids, int n,
                               uint32_t V, const char *label)
{
    int32_t ref_ids[32], seq[64];
    if (n > 32 || P + (uint32_t)n > 64 || ref_llama_reset(ref, 0) != 0 || ref_llama_greedy(ref, toks, P, (uint32_t)n, ref_ids) != 0)
        return -1;
    int i = 0;
    while (i < n && gpu_ids[i] == ref_ids[i]) i++;
    if (i == n) return n;
    memcpy(seq, toks, P * 4);
    memcpy(seq + P, ref_ids, (size_t)i * 4);
    float *last = malloc((size_t)V * 4);
    ref_llama_reset(ref, 0);
    ref_llama_forward(ref, seq, P + (uint32_t)i, NULL, last);
    double scale = 0;
    for (uint32_t c = 0; c < V; c++) scale = fmax(scale, fabs(last[c]));
    double gap = (double)last[ref_ids[i]] - last[gpu_ids[i]];
    printf("%-12s greedy diverges at %d: gpu %d, ref %d, reference gap %.2e of scale %.2f\n", label, i, gpu_ids[i],
           ref_ids[i], gap, scale);
    EXPECT(gap <= TOL * scale, "%s: greedy token %d: gpu %d, reference %d (gap %.3e)", label, i, gpu_ids[i],
           ref_ids[i], gap);
    free(last);
    return i;
}

typedef struct shape {
    const char *name;
    gen_params p;
} shape;

static void run_shape(gpu_ctx *ctx, const char *dir, const shape *sh, uint64_t seed)
{
    char gguf[1024], hf[1024], err[512];
    snprintf(gguf, sizeof gguf, "%s/%s.gguf", dir, sh->name);
    snprintf(hf, sizeof hf, "%s/%s-hf", dir, sh->name);
    gen_params p = sh->p;
    p.seed = seed;
    if (gen_write_gguf(&p, gguf, err, sizeof err) != VKLLM_OK || gen_write_hf(&p, hf, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "%s: generate: %s", sh->name, err);
        return;
    }
    const uint32_t V = p.n_vocab, P = 13, n_ctx = 64;
    int32_t toks[64];
    rng r = { seed ^ 0x5eed };
    for (uint32_t i = 0; i < P; i++) toks[i] = (int32_t)rng_below(&r, V);

    loaded g, h;
    if (!load_model(ctx, gguf, NULL, n_ctx, 8, &g) || !load_model(ctx, hf, NULL, n_ctx, 0, &h)) {
        unload(&g);
        return;
    }
    float *pre = malloc((size_t)P * V * 4), *one = malloc((size_t)P * V * 4), *hfl = malloc((size_t)P * V * 4);
    /* GGUF: blocks of 8 (8 + 5 tokens), every position's logits */
    vkllm_status s = llama_eval(g.s, toks, P, LLAMA_OUT_ALL, pre, NULL);
    EXPECT(s == VKLLM_OK, "%s: prefill: %s", sh->name, gpu_error(ctx));
    /* HF: one token at a time (the decode recording), last logits and GPU argmax */
    int ok = 1;
    for (uint32_t i = 0; i < P && ok; i++) {
        int32_t am = -1;
        ok = llama_eval(h.s, toks + i, 1, LLAMA_OUT_LAST, one + (size_t)i * V, &am) == VKLLM_OK;
        EXPECT(ok, "%s: decode %u: %s", sh->name, i, gpu_error(ctx));
        if (ok) EXPECT(am == argmax_of(one + (size_t)i * V, V), "%s: GPU argmax %d at %u", sh->name, am, i);
    }
    double d = rel_diff(pre, one, (size_t)P * V);
    printf("%-12s prefill(gguf) vs decode(hf): rel diff %.2e\n", sh->name, d);
    EXPECT(d < TOL, "%s: prefill vs decode rel diff %.3e", sh->name, d);

    /* against the CPU reference */
    ref_llama *ref = ref_llama_create(g.m, n_ctx, err, sizeof err);
    EXPECT(ref, "%s: reference: %s", sh->name, err);
    float *rl = malloc((size_t)P * V * 4);
    if (ref && ref_llama_forward(ref, toks, P, rl, NULL) == 0) {
        d = rel_diff(pre, rl, (size_t)P * V);
        printf("%-12s gpu vs reference logits: rel diff %.2e (tolerance %.0e)\n", sh->name, d, TOL);
        EXPECT(d < TOL, "%s: gpu vs reference rel diff %.3e", sh->name, d);
    } else if (ref) {
        EXPECT(0, "%s: reference forward: %s", sh->name, ref->err);
    }
    /* greedy continuation, on the GPU (argmax on the device, 4 bytes back) and the reference */
    int32_t gpu_ids[N_GREEDY];
    s = llama_rewind(g.s, 0);
    if (s == VKLLM_OK) s = llama_eval(g.s, toks, P, LLAMA_OUT_ARGMAX, NULL, &gpu_ids[0]);
    for (int i = 1; i < N_GREEDY && s == VKLLM_OK; i++)
        s = llama_eval(g.s, &gpu_ids[i - 1], 1, LLAMA_OUT_ARGMAX, NULL, &gpu_ids[i]);
    EXPECT(s == VKLLM_OK, "%s: greedy: %s", sh->name, gpu_error(ctx));
    if (ref && s == VKLLM_OK && greedy_vs_reference(ref, toks, P, gpu_ids, N_GREEDY, V, sh->name) == N_GREEDY)
        printf("%-12s greedy %d tokens identical to the reference\n", sh->name, N_GREEDY);
    free(rl);
    ref_llama_destroy(ref);

    /* HF prefill == GGUF prefill (same weights, other RoPE pairing) */
    llama_rewind(h.s, 0);
    s = llama_eval(h.s, toks, P, LLAMA_OUT_ALL, hfl, NULL);
    d = rel_diff(hfl, pre, (size_t)P * V);
    printf("%-12s gguf vs hf prefill: rel diff %.2e\n", sh->name, d);
    EXPECT(s == VKLLM_OK && d < TOL, "%s: gguf vs hf rel diff %.3e", sh->name, d);

    /* rewind to 5 and continue with other tokens == the same sequence fresh */
    llama_rewind(g.s, 0);
    llama_eval(g.s, toks, P, LLAMA_OUT_ARGMAX, NULL, NULL);
    int32_t alt[8];
    for (int i = 0; i < 8; i++) alt[i] = (int32_t)rng_below(&r, V);
    float *a = malloc((size_t)V * 4), *b = malloc((size_t)V * 4);
    s = llama_rewind(g.s, 5);
    if (s == VKLLM_OK) s = llama_eval(g.s, alt, 8, LLAMA_OUT_LAST, a, NULL);
    int32_t seq[13];
    memcpy(seq, toks, 5 * 4);
    memcpy(seq + 5, alt, 8 * 4);
    llama_rewind(h.s, 0);
    if (s == VKLLM_OK) s = llama_eval(h.s, seq, 13, LLAMA_OUT_LAST, b, NULL);
    d = rel_diff(a, b, V);
    EXPECT(s == VKLLM_OK && d < TOL && llama_session_pos(g.s) == 13, "%s: rewind: %s, rel diff %.3e", sh->name,
           gpu_error(ctx), d);

    /* refusals: a full context, a token outside the vocabulary, rewinding forward */
    int32_t many[64] = { 0 };
    s = llama_eval(g.s, many, n_ctx - 12, LLAMA_OUT_LAST, a, NULL);
    EXPECT(s == VKLLM_ERR_OUT_OF_MEMORY && strstr(gpu_error(ctx), "context full") && llama_session_pos(g.s) == 13,
           "%s: full context: %s", sh->name, gpu_error(ctx));
    int32_t bad[2] = { 1, (int32_t)V };
    s = llama_eval(g.s, bad, 2, LLAMA_OUT_LAST, a, NULL);
    EXPECT(s == VKLLM_ERR_INVALID_ARG && strstr(gpu_error(ctx), "outside the vocabulary") &&
               llama_session_pos(g.s) == 13,
           "%s: bad token: %s", sh->name, gpu_error(ctx));
    EXPECT(llama_rewind(g.s, 14) == VKLLM_ERR_INVALID_ARG, "%s: rewind forward accepted", sh->name);

    free(a);
    free(b);
    free(pre);
    free(one);
    free(hfl);
    unload(&g);
    unload(&h);
}

/* A quantized GGUF (the generator's quantizer, scheme `quant`) against the
 * CPU reference on its dequantized weights: prefill in blocks of 16 (the
 * quantized prefill path, src/ops/matmul.c's pick_quant) and 3 (the
 * matrix-vector kernel) == one token at a time, logits within TOL of the reference, greedy tokens equal
 * (or a reference near-tie). Shapes with rows of 256 get the scheme's own
 * block types, smaller rows llama-quantize's fallbacks. */
static void check_quant_file(gpu_ctx *ctx, const char *path, const char *name, const char *quant, uint64_t seed)
{
    const shape *sh = &(shape){ .name = name };
    char err[512];
    const uint32_t P = 19, n_ctx = 64;
    loaded g;
    if (!load_model(ctx, path, NULL, n_ctx, 16, &g)) return;
    const uint32_t V = g.m->hp.n_vocab;
    int32_t toks[19];
    rng r = { seed ^ 0x9a17 };
    for (uint32_t i = 0; i < P; i++) toks[i] = (int32_t)rng_below(&r, V);
    int n_quant = 0;
    for (size_t i = 0; i < g.m->n_tensors; i++) n_quant += g.m->tensors[i].dtype == DTYPE_QUANT;
    EXPECT(n_quant > 0, "%s %s: no quantized tensor", sh->name, quant);
    float *pre = malloc((size_t)P * V * 4), *one = malloc((size_t)P * V * 4), *rl = malloc((size_t)P * V * 4);
    vkllm_status s = llama_eval(g.s, toks, P, LLAMA_OUT_ALL, pre, NULL);
    EXPECT(s == VKLLM_OK, "%s %s: prefill: %s", sh->name, quant, gpu_error(ctx));
    llama_rewind(g.s, 0);
    for (uint32_t i = 0; i < P && s == VKLLM_OK; i++) {
        s = llama_eval(g.s, toks + i, 1, LLAMA_OUT_LAST, one + (size_t)i * V, NULL);
        EXPECT(s == VKLLM_OK, "%s %s: decode %u: %s", sh->name, quant, i, gpu_error(ctx));
    }
    double d_pd = rel_diff(pre, one, (size_t)P * V), d_ref = -1;
    const double tol_pre = ops_profile_of(ctx)->quant_dequant ? TOL_FP16_WEIGHTS : TOL; /* prefill's weights */
    EXPECT(d_pd < tol_pre, "%s %s: prefill vs decode rel diff %.3e", sh->name, quant, d_pd);
    ref_llama *ref = ref_llama_create(g.m, n_ctx, err, sizeof err);
    EXPECT(ref, "%s %s: reference: %s", sh->name, quant, err);
    if (ref && ref_llama_forward(ref, toks, P, rl, NULL) == 0) {
        d_ref = rel_diff(pre, rl, (size_t)P * V);
        EXPECT(d_ref < tol_pre, "%s %s: gpu vs reference rel diff %.3e", sh->name, quant, d_ref);
        double d1 = rel_diff(one, rl, (size_t)P * V);
        EXPECT(d1 < TOL, "%s %s: decode vs reference rel diff %.3e", sh->name, quant, d1);
    }
    /* greedy: the GPU's argmax against the reference's */
    enum { NG = 12 };
    int32_t gpu_ids[NG];
    s = llama_rewind(g.s, 0);
    if (s == VKLLM_OK) s = llama_eval(g.s, toks, P, LLAMA_OUT_ARGMAX, NULL, &gpu_ids[0]);
    for (int i = 1; i < NG && s == VKLLM_OK; i++) s = llama_eval(g.s, &gpu_ids[i - 1], 1, LLAMA_OUT_ARGMAX, NULL, &gpu_ids[i]);
    char label[64];
    snprintf(label, sizeof label, "%s %s", sh->name, quant);
    int same = ref && s == VKLLM_OK ? greedy_vs_reference(ref, toks, P, gpu_ids, NG, V, label) : 0;
    EXPECT(s == VKLLM_OK, "%s %s: greedy: %s", sh->name, quant, gpu_error(ctx));
    printf("%-10s %-7s %d quantized tensors: prefill vs decode %.2e, gpu vs reference %.2e, greedy %d/%d identical\n",
           sh->name, quant, n_quant, d_pd, d_ref, same, NG);
    ref_llama_destroy(ref);
    free(pre);
    free(one);
    free(rl);
    unload(&g);
}

static void run_quant(gpu_ctx *ctx, const char *dir, const shape *sh, const char *quant, uint64_t seed)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, sh->name, quant);
    gen_params p = sh->p;
    p.seed = seed;
    p.quant = quant;
    if (gen_write_gguf(&p, path, err, sizeof err) != VKLLM_OK) {
        EXPECT(0, "%s %s: generate: %s", sh->name, quant, err);
        return;
    }
    check_quant_file(ctx, path, sh->name, quant, seed);
}

/* A long context against the reference: 300 prompt tokens in blocks of 64,
 * then decode steps. On GPUs (and with VKLLM_AS_GPU) a 600-position cache
 * is where decode attention splits its keys across workgroups and merges
 * the ranges. Uses the GGUF file run_shape wrote. */
static void run_long(gpu_ctx *ctx, const char *dir, const shape *sh, uint64_t seed)
{
    enum { N_CTX = 600, P = 300, D = 4 };
    char gguf[1024], err[512];
    snprintf(gguf, sizeof gguf, "%s/%s.gguf", dir, sh->name);
    loaded g;
    if (!load_model(ctx, gguf, NULL, N_CTX, 64, &g)) return;
    const uint32_t V = sh->p.n_vocab;
    ref_llama *ref = ref_llama_create(g.m, N_CTX, err, sizeof err);
    EXPECT(ref, "%s long: reference: %s", sh->name, err);
    int32_t toks[P + D];
    rng r = { seed ^ 0x10ae };
    for (int i = 0; i < P + D; i++) toks[i] = (int32_t)rng_below(&r, V);
    float *gl = malloc((size_t)V * 4), *rl = malloc((size_t)V * 4);
    double worst = 0;
    for (int i = 0; ref && i <= D; i++) { /* the prompt, then one token at a time */
        const int32_t *t = i ? toks + P + i - 1 : toks;
        const uint32_t n = i ? 1 : P;
        vkllm_status s = llama_eval(g.s, t, n, LLAMA_OUT_LAST, gl, NULL);
        EXPECT(s == VKLLM_OK, "%s long: eval at %u: %s", sh->name, llama_session_pos(g.s), gpu_error(ctx));
        if (s != VKLLM_OK || ref_llama_forward(ref, t, n, NULL, rl) != 0) break;
        double d = rel_diff(gl, rl, V);
        if (d > worst) worst = d;
    }
    printf("%-12s %u-token context vs reference: worst rel diff %.2e over the prompt and %d decode steps\n", sh->name,
           P + D, worst, D);
    EXPECT(worst < TOL, "%s long: rel diff %.3e", sh->name, worst);
    free(gl);
    free(rl);
    ref_llama_destroy(ref);
    unload(&g);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: test_llama SCRATCH_DIR\n");
        return 2;
    }
    gpu_ctx *ctx = harness_ctx();
    uint64_t seed = harness_seed();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", argv[1]);
    if (system(cmd) != 0) return 2;
#define BASE .rope_theta = 10000.0, .rms_eps = 1e-5, .n_ctx = 128, .n_vocab = 300
    static const shape shapes[] = {
        { "gqa2-f16", { BASE, .n_layer = 2, .n_embd = 64, .n_ff = 96, .n_head = 4, .n_head_kv = 2, .dtype = DTYPE_F16 } },
        { "gqa1-bf16", { BASE, .n_layer = 2, .n_embd = 128, .n_ff = 160, .n_head = 4, .n_head_kv = 4, .dtype = DTYPE_BF16 } },
        { "gqa4-f32", { BASE, .n_layer = 1, .n_embd = 256, .n_ff = 200, .n_head = 8, .n_head_kv = 2, .dtype = DTYPE_F32 } },
        { "gqa8-hd64", { BASE, .n_layer = 1, .n_embd = 512, .n_ff = 320, .n_head = 8, .n_head_kv = 1, .dtype = DTYPE_F16 } },
        { "hd128-tied", { BASE, .n_layer = 2, .n_embd = 256, .n_ff = 384, .n_head = 2, .n_head_kv = 1, .tied = 1, .dtype = DTYPE_F16 } },
        { "odd-embd", { BASE, .n_layer = 2, .n_embd = 75, .n_ff = 130, .n_head = 3, .n_head_kv = 1, .head_dim = 20, .dtype = DTYPE_F16 } },
    };
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) run_shape(ctx, argv[1], &shapes[i], seed + i);
    /* quantized weights: every scheme on rows of 256 (the K-quants' own
     * super-blocks), and the fallbacks of two on tiny rows */
    static const shape q256 = { "q256", { BASE, .n_layer = 1, .n_embd = 256, .n_ff = 512, .n_head = 4, .n_head_kv = 2,
                                          .dtype = DTYPE_F16 } };
    static const shape q256t = { "q256-tied", { BASE, .n_layer = 2, .n_embd = 256, .n_ff = 256, .n_head = 2,
                                                .n_head_kv = 1, .tied = 1, .dtype = DTYPE_F16 } };
    unsigned n_schemes;
    const quant_scheme *schemes = quant_schemes(&n_schemes);
    /* VKLLM_TEST_QUANT="q4_k_m,q3_k_l": only these (the slower runs: storage-buffer kernels, sanitizers) */
    const char *only = getenv("VKLLM_TEST_QUANT");
    for (unsigned i = 0; i < n_schemes; i++) {
        char key[24];
        snprintf(key, sizeof key, ",%s,", schemes[i].name);
        char list[256];
        snprintf(list, sizeof list, ",%s,", only ? only : "");
        if (!only || strstr(list, key)) run_quant(ctx, argv[1], &q256, schemes[i].name, seed + 200 + i);
    }
    run_quant(ctx, argv[1], &q256t, "q4_k_m", seed + 300);
    run_quant(ctx, argv[1], &shapes[0], "q4_k_m", seed + 301); /* rows of 64 and 96: Q5_0, Q8_0 */
    run_quant(ctx, argv[1], &shapes[0], "q2_k", seed + 302);   /* IQ4_NL */
    /* llama.cpp's own quantized files (argv[2]: ../shared/fixtures/quant) */
    static const char *const fx[] = { "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K",
                                      "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "Q4_K_M" };
    for (unsigned i = 0; argc > 2 && i < sizeof fx / sizeof fx[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fx256-%s.gguf", argv[2], fx[i]);
        check_quant_file(ctx, path, "fixture", fx[i], seed + 400 + i);
    }
    run_long(ctx, argv[1], &shapes[3], seed + 100); /* gqa8-hd64: one kv head, 8 query heads */
    run_long(ctx, argv[1], &shapes[4], seed + 101); /* hd128-tied */
    return harness_finish(ctx, failures);
}
