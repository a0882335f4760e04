/* vkllm-gen-model: writes a Llama model with seeded random weights, as a GGUF
 * file and/or a Hugging Face folder, for tests and benchmarks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vkllm-gen-model [--gguf FILE] [--hf DIR] [options]\n"
            "Writes a Llama-architecture model with seeded random weights. The same seed gives\n"
            "the same weights in both formats (GGUF q/k rows permuted as llama.cpp does).\n"
            "  --preset tiny|solar-10.7b  start from a preset (default tiny); options below override\n"
            "  --layers N --embd N --ff N --heads N --kv-heads N --head-dim N --vocab N --ctx N\n"
            "  --theta X --eps X          RoPE base, RMSNorm epsilon\n"
            "  --dtype f16|bf16|f32       weight type (GGUF norms are always f32)\n"
            "  --type TYPE                GGUF: quantize the matrices with vkllm's quantizer: q8_0, q4_0,\n"
            "                             q4_1, q5_0, q5_1, q2_k, q3_k_s/m/l, q4_k_s/m, q5_k_s/m, q6_k,\n"
            "                             iq4_nl, iq4_xs (mixes as llama-quantize makes them), or\n"
            "                             f16|bf16|f32 (= --dtype)\n"
            "  --seed N\n"
            "  --tied                     tie the output matrix to the embeddings\n"
            "  --shards N                 HF: N safetensors shards + index (1: model.safetensors)\n"
            "  --alignment N              GGUF general.alignment (default 32)\n"
            "  --config-style old|new     HF config.json: torch_dtype/rope_theta (4.35) or\n"
            "                             dtype/rope_parameters/head_dim (5.x)\n"
            "  --name S                   general.name\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v > UINT32_MAX || s[0] == '-') return 0;
    *out = (uint32_t)v;
    return 1;
}

int main(int argc, char **argv)
{
    gen_params p;
    gen_preset("tiny", &p);
    for (int i = 1; i + 1 < argc; i++) /* a preset first, so the other options override it */
        if (strcmp(argv[i], "--preset") == 0 && !gen_preset(argv[i + 1], &p)) {
            fprintf(stderr, "vkllm-gen-model: unknown preset '%s' (tiny, solar-10.7b)\n", argv[i + 1]);
            return 2;
        }
    const char *gguf = NULL, *hf = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--tied")) {
            p.tied = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vkllm-gen-model: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int ok = 1;
        struct { const char *opt; uint32_t *dst; } u32s[] = {
            { "--layers", &p.n_layer }, { "--embd", &p.n_embd },     { "--ff", &p.n_ff },
            { "--heads", &p.n_head },   { "--kv-heads", &p.n_head_kv }, { "--head-dim", &p.head_dim },
            { "--vocab", &p.n_vocab },  { "--ctx", &p.n_ctx },       { "--shards", &p.n_shards },
            { "--alignment", &p.alignment },
        };
        int matched = 0;
        for (size_t k = 0; k < sizeof u32s / sizeof u32s[0]; k++)
            if (!strcmp(a, u32s[k].opt)) ok = parse_u32(v, u32s[k].dst), matched = 1;
        if (matched) {
        } else if (!strcmp(a, "--preset")) {
        } else if (!strcmp(a, "--gguf")) {
            gguf = v;
        } else if (!strcmp(a, "--hf")) {
            hf = v;
        } else if (!strcmp(a, "--name")) {
            p.name = v;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            p.seed = strtoull(v, &end, 0);
            ok = !errno && !*end && end != v;
        } else if (!strcmp(a, "--theta") || !strcmp(a, "--eps")) {
            char *end;
            double d = strtod(v, &end);
            ok = !*end && end != v && d > 0;
            if (!strcmp(a, "--theta")) p.rope_theta = d;
            else p.rms_eps = d;
        } else if (!strcmp(a, "--type") && (strcmp(v, "f16") && strcmp(v, "bf16") && strcmp(v, "f32"))) {
            p.quant = v;
        } else if (!strcmp(a, "--dtype") || !strcmp(a, "--type")) {
            ok = 1;
            if (!strcmp(v, "f16")) p.dtype = DTYPE_F16;
            else if (!strcmp(v, "bf16")) p.dtype = DTYPE_BF16;
            else if (!strcmp(v, "f32")) p.dtype = DTYPE_F32;
            else ok = 0;
        } else if (!strcmp(a, "--config-style")) {
            ok = !strcmp(v, "old") || !strcmp(v, "new");
            p.config_new_style = !strcmp(v, "new");
        } else {
            fprintf(stderr, "vkllm-gen-model: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vkllm-gen-model: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (!gguf && !hf) {
        fprintf(stderr, "vkllm-gen-model: give --gguf FILE and/or --hf DIR\n");
        usage(stderr);
        return 2;
    }
    char err[512];
    if (gen_check(&p, err, sizeof err)) {
        fprintf(stderr, "vkllm-gen-model: %s\n", err);
        return 2;
    }
    if (gguf && gen_write_gguf(&p, gguf, err, sizeof err)) {
        fprintf(stderr, "vkllm-gen-model: %s\n", err);
        return 1;
    }
    if (hf && gen_write_hf(&p, hf, err, sizeof err)) {
        fprintf(stderr, "vkllm-gen-model: %s\n", err);
        return 1;
    }
    printf("wrote %s%s%s%s: %" PRIu32 " layers, embd %" PRIu32 ", ff %" PRIu32 ", heads %" PRIu32 "/%" PRIu32
           ", vocab %" PRIu32 ", seed %" PRIu64 "\n",
           gguf ? gguf : "", gguf && hf ? " and " : "", hf ? hf : "", "", p.n_layer, p.n_embd, p.n_ff, p.n_head,
           p.n_head_kv, p.n_vocab, p.seed);
    return 0;
}
