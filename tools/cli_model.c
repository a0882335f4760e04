/* `vkllm info` and `vkllm logits`: inspecting a model and running token ids
 * through the GPU forward pass, with no tokenizer needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------ info */

static void print_memory_line(const char *what, uint64_t bytes)
{
    char b[32];
    printf("  %-14s %s\n", what, cli_bytes(bytes, b, sizeof b));
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL, *device = NULL;
    uint32_t n_ctx = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else if (strcmp(argv[i], "--ctx") == 0 && i + 1 < argc) {
            if (!cli_parse_u32(argv[++i], &n_ctx) || n_ctx == 0) {
                fprintf(stderr, "vkllm info: --ctx wants a positive number, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm info -m MODEL [--ctx N] [--device SEL]\n"
                   "  describes a model (.gguf file or Hugging Face folder): format, hparams,\n"
                   "  tensors, parameters, and the device memory a session of N positions needs\n"
                   "  (default: the trained context, at most 4096) on the chosen device\n");
            return 0;
        } else {
            fprintf(stderr, "vkllm info: unknown or incomplete option %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "vkllm info: which model? give -m MODEL (a .gguf file or a Hugging Face folder)\n");
        return 2;
    }
    vkllm_model_info mi;
    char err[1024];
    vkllm_status s = vkllm_model_inspect(path, &mi, err, sizeof err);
    if (s != VKLLM_OK) {
        fprintf(stderr, "vkllm info: %s\n", err);
        return 1;
    }
    char b1[32], b2[32];
    printf("model          %s\n", path);
    printf("format         %s\n", strcmp(mi.format, "gguf") == 0 ? "GGUF" : "Hugging Face folder (safetensors)");
    printf("architecture   %s\n", mi.architecture);
    printf("layers         %u\n", mi.n_layer);
    printf("hidden         %u (FFN %u)\n", mi.n_embd, mi.n_ff);
    printf("heads          %u query, %u key/value, head dim %u\n", mi.n_head, mi.n_head_kv, mi.head_dim);
    printf("vocabulary     %u\n", mi.n_vocab);
    printf("context        %u (trained)\n", mi.n_ctx_train);
    printf("rope           theta %g, %u dims, %s\n", mi.rope_theta, mi.n_rot,
           mi.rope_pairing ? "rotate-half pairs (HF layout)" : "adjacent pairs (GGUF layout)");
    printf("rms eps        %g\n", mi.rms_eps);
    printf("embeddings     %s\n", mi.tied_embeddings ? "tied (output = token embedding)" : "separate output");
    printf("tensors        %llu (F32 %llu, F16 %llu, BF16 %llu)\n", (unsigned long long)mi.n_tensors,
           (unsigned long long)mi.n_tensors_f32, (unsigned long long)mi.n_tensors_f16,
           (unsigned long long)mi.n_tensors_bf16);
    printf("parameters     %.3f B (%llu)\n", mi.n_params / 1e9, (unsigned long long)mi.n_params);
    printf("weight bytes   %s in the file\n", cli_bytes(mi.file_bytes, b1, sizeof b1));
    vkllm_memory mem = vkllm_model_memory(&mi, n_ctx, 0);
    printf("device memory  for a session of %u positions:\n", mem.n_ctx);
    print_memory_line("weights (fp16)", mem.weights);
    print_memory_line("KV cache", mem.kv_cache);
    print_memory_line("activations", mem.activations);
    print_memory_line("total", mem.total);
    vkllm_device_info dev;
    s = vkllm_device_choose(device, &dev, err, sizeof err);
    if (s != VKLLM_OK) {
        printf("device         none usable: %s\n", err);
        return 0;
    }
    printf("device         %s (%s), %s device-local: %s\n", dev.name, cli_device_type(dev.type),
           cli_bytes(dev.device_local_bytes, b1, sizeof b1),
           mem.total <= dev.device_local_bytes ? "fits" : "does NOT fit");
    if (mem.total > dev.device_local_bytes)
        printf("               needs %s; try a smaller --ctx or another --device\n", cli_bytes(mem.total, b2, sizeof b2));
    return 0;
}

/* ------------------------------------------------------------ logits */

/* "1,17,42" -> malloc'd ids; 0 on a malformed list. */
static int parse_ids(const char *s, int32_t **ids, uint32_t *n)
{
    uint32_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    *ids = malloc(cap * sizeof **ids);
    if (!*ids) return 0;
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9') return 0;
        unsigned long v = strtoul(p, &end, 10);
        if (v > INT32_MAX || (*end != ',' && *end != '\0')) return 0;
        (*ids)[(*n)++] = (int32_t)v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0') return 0;
    }
    return *n > 0;
}

static void print_float(float f)
{
    if (isfinite(f)) printf("%.9g", f);
    else printf("null"); /* JSON has no NaN / inf */
}

int cmd_logits(int argc, char **argv)
{
    const char *path = NULL, *device = NULL, *tokens = NULL;
    uint32_t greedy = 0, n_ctx = 0;
    int last_only = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) tokens = argv[++i];
        else if (strcmp(argv[i], "--last") == 0) last_only = 1;
        else if ((strcmp(argv[i], "--greedy") == 0 || strcmp(argv[i], "--ctx") == 0) && i + 1 < argc) {
            uint32_t *dst = strcmp(argv[i], "--greedy") == 0 ? &greedy : &n_ctx;
            if (!cli_parse_u32(argv[i + 1], dst)) {
                fprintf(stderr, "vkllm logits: %s wants a number, got '%s'\n", argv[i], argv[i + 1]);
                return 2;
            }
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm logits -m MODEL --tokens ID,ID,... [--greedy N] [--last] [--ctx N] [--device SEL]\n"
                   "  runs the token ids through the GPU forward pass and prints JSON:\n"
                   "    {\"logits\": [[...], ...], \"greedy\": [...]}\n"
                   "  logits: one row per position (vocabulary columns); --last: only the last row\n"
                   "  greedy: with --greedy N, N greedily generated ids after the prompt\n"
                   "  needs no tokenizer: works on any .gguf or Hugging Face folder\n");
            return 0;
        } else {
            fprintf(stderr, "vkllm logits: unknown or incomplete option %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path || !tokens) {
        fprintf(stderr, "vkllm logits: give -m MODEL and --tokens ID,ID,... (try --help)\n");
        return 2;
    }
    int32_t *ids = NULL;
    uint32_t n = 0;
    if (!parse_ids(tokens, &ids, &n)) {
        fprintf(stderr, "vkllm logits: --tokens wants comma-separated token ids like 1,17,42, got '%s'\n", tokens);
        free(ids);
        return 2;
    }
    uint32_t need = n + (greedy ? greedy - 1 : 0);
    if (n_ctx == 0) n_ctx = need;
    if (n_ctx < need) {
        fprintf(stderr, "vkllm logits: --ctx %u is too small for %u tokens + %u generated\n", n_ctx, n, greedy);
        free(ids);
        return 2;
    }
    char err[1024];
    vkllm_load_options lo = { .device = device, .n_ctx = n_ctx, .progress = cli_progress };
    vkllm_model *m = NULL;
    vkllm_session *s = NULL;
    float *logits = NULL;
    int32_t *gen = NULL;
    int rc = 1;
    vkllm_status st = vkllm_model_load(path, &lo, &m, err, sizeof err);
    if (st != VKLLM_OK) {
        fprintf(stderr, "vkllm logits: %s\n", err);
        goto done;
    }
    const uint32_t V = vkllm_model_get_info(m)->n_vocab;
    vkllm_session_options so = { .n_ctx = n_ctx };
    st = vkllm_session_create(m, &so, &s, err, sizeof err);
    if (st != VKLLM_OK) {
        fprintf(stderr, "vkllm logits: %s\n", err);
        goto done;
    }
    uint32_t rows = last_only ? 1 : n;
    logits = malloc((size_t)rows * V * sizeof *logits);
    gen = malloc((greedy ? greedy : 1) * sizeof *gen);
    if (!logits || !gen) {
        fprintf(stderr, "vkllm logits: out of host memory for %u x %u logits\n", rows, V);
        goto done;
    }
    st = vkllm_session_eval(s, ids, n, last_only ? VKLLM_LOGITS_LAST : VKLLM_LOGITS_ALL, logits, &gen[0]);
    for (uint32_t i = 1; i < greedy && st == VKLLM_OK; i++)
        st = vkllm_session_eval(s, &gen[i - 1], 1, VKLLM_LOGITS_ARGMAX, NULL, &gen[i]);
    if (st != VKLLM_OK) {
        fprintf(stderr, "vkllm logits: %s\n", vkllm_session_error(s));
        goto done;
    }
    printf("{\"logits\": [");
    for (uint32_t r = 0; r < rows; r++) {
        printf(r ? ",\n[" : "[");
        for (uint32_t c = 0; c < V; c++) {
            if (c) putchar(',');
            print_float(logits[(size_t)r * V + c]);
        }
        putchar(']');
    }
    printf("]");
    if (greedy) {
        printf(",\n\"greedy\": [");
        for (uint32_t i = 0; i < greedy; i++) printf(i ? ",%d" : "%d", gen[i]);
        printf("]");
    }
    printf("}\n");
    rc = 0;
done:
    if (cli_validation_failed(m, "logits")) rc = 1;
    free(logits);
    free(gen);
    free(ids);
    vkllm_session_free(s);
    vkllm_model_free(m);
    return rc;
}
