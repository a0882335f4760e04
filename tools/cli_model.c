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

/* The largest context (at most hi) whose session fits `avail` bytes; 0 if none. */
static uint32_t max_fitting_ctx(const vkllm_model_info *mi, uint32_t hi, uint64_t avail)
{
    uint32_t lo = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (vkllm_model_memory(mi, mid, 0).total <= avail) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static void json_kv_u(const char *k, unsigned long long v, int comma)
{
    printf("\"%s\": %llu%s", k, v, comma ? ", " : "");
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL, *device = NULL, *quant = NULL;
    uint32_t n_ctx = 0;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else if (strcmp(argv[i], "--quant") == 0 && i + 1 < argc) {
            if (!cli_quant_ok("info", argv[++i])) return 2;
            quant = argv[i];
        }
        else if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--ctx") == 0 && i + 1 < argc) {
            if (!cli_parse_u32(argv[++i], &n_ctx) || n_ctx == 0) {
                fprintf(stderr, "vkllm info: --ctx wants a positive number, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm info -m MODEL [--ctx N] [--device SEL] [--quant TYPE] [--json]\n"
                   "  describes a model (.gguf file or Hugging Face folder): format, hparams,\n"
                   "  tensors, parameters, its tokenizer (type, vocabulary, BOS/EOS) and chat template,\n"
                   "  and the device memory a session of N positions needs (default: the trained\n"
                   "  context, at most 4096) on the chosen device, with the largest context that fits\n"
                   "  --quant TYPE: the weight types, memory and fit of the model as `--quant TYPE`\n"
                   "      (quantize on load) would load it\n"
                   "  --json: the same as one JSON object\n");
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
    char err[1024], tok_err[1024] = "", dev_err[1024] = "";
    vkllm_status s = vkllm_model_inspect_quant(path, quant, &mi, err, sizeof err);
    if (s != VKLLM_OK) {
        fprintf(stderr, "vkllm info: %s\n", err);
        return 1;
    }
    vkllm_tokenizer *tok = NULL;
    if (vkllm_tokenizer_load(path, &tok, tok_err, sizeof tok_err) != VKLLM_OK) tok = NULL;
    const char *tmpl = NULL;
    int tmpl_ok = 0;
    if (vkllm_model_inspect_chat_template(path, &tmpl, &tmpl_ok, err, sizeof err) != VKLLM_OK) tmpl = NULL;
    vkllm_memory mem = vkllm_model_memory(&mi, n_ctx, 0);
    vkllm_memory least = vkllm_model_memory(&mi, 1, 0);
    vkllm_device_info dev;
    int have_dev = vkllm_device_choose(device, &dev, dev_err, sizeof dev_err) == VKLLM_OK;
    const uint64_t avail = have_dev ? dev.device_local_bytes : 0;
    const int fits = have_dev && mem.total <= avail, weights_fit = have_dev && least.total <= avail;
    const uint32_t ctx_cap = mi.n_ctx_train > mem.n_ctx ? mi.n_ctx_train : mem.n_ctx;
    const uint32_t max_ctx = weights_fit ? max_fitting_ctx(&mi, ctx_cap, avail) : 0;

    if (json) {
        printf("{\"model\": ");
        json_str(path);
        printf(", \"format\": \"%s\", \"architecture\": ", mi.format);
        json_str(mi.architecture);
        printf(", ");
        json_kv_u("n_layer", mi.n_layer, 1);
        json_kv_u("n_embd", mi.n_embd, 1);
        json_kv_u("n_ff", mi.n_ff, 1);
        json_kv_u("n_head", mi.n_head, 1);
        json_kv_u("n_head_kv", mi.n_head_kv, 1);
        json_kv_u("head_dim", mi.head_dim, 1);
        json_kv_u("n_vocab", mi.n_vocab, 1);
        json_kv_u("n_ctx_train", mi.n_ctx_train, 1);
        json_kv_u("n_rot", mi.n_rot, 1);
        printf("\"rope_theta\": %g, \"rms_eps\": %g, \"rope_pairing\": \"%s\", \"tied_embeddings\": %s, ", mi.rope_theta,
               mi.rms_eps, mi.rope_pairing ? "rotate-half" : "adjacent", mi.tied_embeddings ? "true" : "false");
        printf("\"tensors\": {");
        json_kv_u("total", mi.n_tensors, 1);
        json_kv_u("f32", mi.n_tensors_f32, 1);
        json_kv_u("f16", mi.n_tensors_f16, 1);
        json_kv_u("bf16", mi.n_tensors_bf16, 0);
        printf("}, \"tensor_types\": ");
        json_str(mi.tensor_types);
        printf(", ");
        json_kv_u("n_params", mi.n_params, 1);
        json_kv_u("file_bytes", mi.file_bytes, 1);
        printf("\"quant\": ");
        if (quant) json_str(quant);
        else printf("null");
        printf(", ");
        json_kv_u("device_weight_bytes", mi.device_weight_bytes, 1);
        printf("\"tokenizer\": ");
        if (tok) {
            printf("{\"type\": \"sentencepiece-bpe\", ");
            json_kv_u("n_vocab", vkllm_tokenizer_n_vocab(tok), 1);
            printf("\"bos\": %d, \"eos\": %d, \"adds_bos\": %s}", vkllm_token_bos(tok), vkllm_token_eos(tok),
                   vkllm_tokenizer_adds_bos(tok) ? "true" : "false");
        } else {
            printf("null, \"tokenizer_error\": ");
            json_str(tok_err);
        }
        printf(", \"chat_template\": ");
        if (tmpl) {
            printf("{\"name\": ");
            json_str(tmpl);
            printf(", \"recognised\": %s}", tmpl_ok ? "true" : "false");
        } else {
            printf("null");
        }
        printf(", \"memory\": {");
        json_kv_u("n_ctx", mem.n_ctx, 1);
        json_kv_u("weights", mem.weights, 1);
        json_kv_u("kv_cache", mem.kv_cache, 1);
        json_kv_u("activations", mem.activations, 1);
        json_kv_u("total", mem.total, 0);
        printf("}, \"device\": ");
        if (have_dev) {
            printf("{\"name\": ");
            json_str(dev.name);
            printf(", \"type\": \"%s\", ", cli_device_type(dev.type));
            json_kv_u("device_local_bytes", dev.device_local_bytes, 0);
            printf("}, \"fits\": %s, \"weights_fit\": %s, \"max_ctx\": %u}\n", fits ? "true" : "false",
                   weights_fit ? "true" : "false", max_ctx);
        } else {
            printf("null, \"device_error\": ");
            json_str(dev_err);
            printf("}\n");
        }
        vkllm_tokenizer_free(tok);
        return 0;
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
    if (mi.tensor_types[0]) printf("weight types   %s\n", mi.tensor_types);
    printf("parameters     %.3f B (%llu)\n", mi.n_params / 1e9, (unsigned long long)mi.n_params);
    printf("weight bytes   %s in the file\n", cli_bytes(mi.file_bytes, b1, sizeof b1));
    if (quant)
        printf("quantize       on load to %s: %s of weights on the device (types above)\n", quant,
               cli_bytes(mi.device_weight_bytes, b1, sizeof b1));
    if (tok) {
        int32_t bos = vkllm_token_bos(tok), eos = vkllm_token_eos(tok);
        printf("tokenizer      SentencePiece BPE, %u pieces, BOS %d", vkllm_tokenizer_n_vocab(tok), bos);
        if (bos >= 0) printf(" %s", vkllm_token_piece(tok, bos));
        printf(" (%s), EOS %d", vkllm_tokenizer_adds_bos(tok) ? "added" : "not added", eos);
        if (eos >= 0) printf(" %s", vkllm_token_piece(tok, eos));
        printf("\n");
    } else {
        printf("tokenizer      none usable: %s\n", tok_err);
    }
    if (tmpl)
        printf("chat template  %s%s\n", tmpl,
               tmpl_ok ? " (recognised from the model's own template)"
                       : " (the model's template is missing or not recognised: the default; --template to choose)");
    vkllm_tokenizer_free(tok);
    printf("device memory  for a session of %u positions:\n", mem.n_ctx);
    print_memory_line(mi.device_weight_bytes && strstr(mi.tensor_types, "Q") ? "weights" : "weights (fp16)", mem.weights);
    print_memory_line("KV cache", mem.kv_cache);
    print_memory_line("activations", mem.activations);
    print_memory_line("total", mem.total);
    if (!have_dev) {
        printf("device         none usable: %s\n", dev_err);
        return 0;
    }
    printf("device         %s (%s), %s device-local: %s\n", dev.name, cli_device_type(dev.type),
           cli_bytes(dev.device_local_bytes, b1, sizeof b1), fits ? "fits" : "does NOT fit");
    if (!weights_fit)
        printf("               the weights alone need %s (with the smallest context %s): no --ctx makes it fit; "
               "use a device with more memory\n",
               cli_bytes(mem.weights, b1, sizeof b1), cli_bytes(least.total, b2, sizeof b2));
    else if (!fits)
        printf("               needs %s; a context of at most %u positions fits (--ctx %u), or use another --device\n",
               cli_bytes(mem.total, b2, sizeof b2), max_ctx, max_ctx);
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
