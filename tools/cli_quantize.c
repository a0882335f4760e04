/* vkllm quantize: a model (GGUF or Hugging Face folder) to a quantized GGUF,
 * through vkllm_quantize. */
#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "term.h"
#include "vkllm.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vkllm quantize -m IN -o OUT.gguf --type TYPE [options]\n"
            "  writes OUT.gguf, a GGUF llama.cpp loads as its own, from IN: a Hugging Face folder\n"
            "  (config.json, *.safetensors, tokenizer.json) or a GGUF with F32/F16/BF16 weights\n"
            "options:\n"
            "  --type TYPE           the quantization (see below)\n"
            "  --dry-run             print each tensor's name, shape, type and size and the totals; write nothing\n"
            "  --allow-requantize    accept an already quantized GGUF (loses quality: start from F16 if you can)\n"
            "  --force               replace OUT if it exists\n"
            "  --threads N           threads quantizing rows (default: one per core)\n"
            "  --search S            the K-quants' and IQ4's scale search: exact (default: llama-quantize's\n"
            "                        reference search, the same blocks) or fast (a few of its candidate\n"
            "                        scales: ~3x faster, RMS error within 1 %% of exact's; what --quant on\n"
            "                        a CPU device uses)\n"
            "types:");
    int i = 0;
    for (const char *const *n = vkllm_quantize_types(); *n; n++, i++) fprintf(f, "%s%s", i % 10 ? " " : "\n  ", *n);
    fprintf(f, "\n  mixes (q2_k, q3_k_*, q4_k_*, q5_k_*) give some tensors a higher type as llama-quantize does;\n"
               "  f32/f16/bf16 convert without quantizing. The README's Quantization section has the rules.\n");
}

static int print_tensor(const vkllm_quantize_tensor *t, void *user)
{
    (void)user;
    char shape[96], a[32], b[32];
    int o = snprintf(shape, sizeof shape, "[");
    for (uint32_t d = 0; d < t->n_dims && o < (int)sizeof shape; d++)
        o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRIu64, d ? ", " : "", t->ne[d]);
    if (o < (int)sizeof shape) snprintf(shape + o, sizeof shape - (size_t)o, "]");
    if (t->index == 0)
        printf("%-32s %-16s %-6s    %-6s %10s %10s\n", "tensor", "shape", "from", "to", "from", "to");
    printf("%-32s %-16s %-6s -> %-6s %10s %10s\n", t->name, shape, t->src_type, t->type,
           cli_bytes(t->src_bytes, a, sizeof a), cli_bytes(t->bytes, b, sizeof b));
    return 0;
}

/* Ctrl-C: the library cancels at its next chunk and removes its temporary file */
static volatile sig_atomic_t interrupted;

static int progress(uint64_t done, uint64_t total, void *user)
{
    (void)user;
    if (interrupted) return 1;
    if (total == 0 || !term_isatty(2)) return 0;
    const int width = 40;
    int filled = (int)(done * width / total);
    fprintf(stderr, "\rquantizing [%.*s%*s] %3d%%  %.2f / %.2f GB", filled, "########################################",
            width - filled, "", (int)(done * 100 / total), done / 1e9, total / 1e9);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

int cmd_quantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    vkllm_quantize_options o = { 0 };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has_val) in = argv[++i];
        else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_val) out = argv[++i];
        else if ((strcmp(a, "--type") == 0 || strcmp(a, "-t") == 0) && has_val) o.type = argv[++i];
        else if (strcmp(a, "--dry-run") == 0) o.dry_run = 1;
        else if (strcmp(a, "--allow-requantize") == 0) o.allow_requantize = 1;
        else if (strcmp(a, "--force") == 0) o.overwrite = 1;
        else if (strcmp(a, "--search") == 0 && has_val) {
            if (!cli_search_ok("quantize", a, argv[++i])) return 2;
            o.search = argv[i];
        }
        else if (strcmp(a, "--threads") == 0 && has_val) {
            if (!cli_parse_u32(argv[++i], &o.n_threads) || o.n_threads == 0) {
                fprintf(stderr, "vkllm quantize: --threads needs a number >= 1, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vkllm quantize: unknown or incomplete option %s (try --help)\n", a);
            return 2;
        }
    }
    if (!in || !o.type || (!out && !o.dry_run)) {
        fprintf(stderr, "vkllm quantize: -m IN, --type TYPE and -o OUT.gguf are required (try --help)\n");
        return 2;
    }
    if (o.dry_run) o.on_tensor = print_tensor;
    else o.progress = progress;
    term_catch_interrupt(&interrupted, true);
    vkllm_quantize_stats st;
    char err[1024] = "", a[32], b[32];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vkllm_status s = vkllm_quantize(in, out, &o, &st, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s != VKLLM_OK) {
        if (interrupted) fputc('\n', stderr);
        fprintf(stderr, "vkllm quantize: %s\n", err);
        return interrupted ? 130 : 1;
    }
    char type[32];
    snprintf(type, sizeof type, "%s", o.type);
    for (char *c = type; *c; c++) *c = (char)tolower((unsigned char)*c);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (o.dry_run) {
        printf("total: %" PRIu64 " tensors (%" PRIu64 " quantized), %s of weights -> %s file (%s)\n", st.n_tensors,
               st.n_quantized, cli_bytes(st.src_bytes, a, sizeof a), cli_bytes(st.out_bytes, b, sizeof b), type);
        printf("source: %s, %" PRIu64 " bytes of tensor data; output: %" PRIu64 " bytes\n", in, st.src_bytes,
               st.out_bytes);
        return 0;
    }
    printf("wrote %s: %s (%s of weights in), %" PRIu64 " tensors, %" PRIu64 " quantized, %s, %.1f s on %u threads\n",
           out, cli_bytes(st.out_bytes, b, sizeof b), cli_bytes(st.src_bytes, a, sizeof a), st.n_tensors,
           st.n_quantized, type, secs, st.n_threads);
    return 0;
}
