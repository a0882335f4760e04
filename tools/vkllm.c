/* vkllm command-line tool. Talks to the terminal; everything else goes
 * through include/vkllm.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve/serve.h"
#include "vkllm.h"

static void usage(FILE *f)
{
    fprintf(f,
            "vkllm %s — Llama-architecture models on any Vulkan GPU\n"
            "\n"
            "usage: vkllm COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run -m MODEL -p PROMPT  answer one message (streamed), then the speed (-p -: standard\n"
            "                          input, -f FILE; --json for scripts)\n"
            "  chat -m MODEL           interactive multi-turn chat (/help inside lists its commands)\n"
            "  tokenize -m MODEL TEXT  token ids of TEXT as JSON (--pieces: the pieces)\n"
            "  serve -m MODEL          OpenAI-compatible HTTP server (127.0.0.1:8080) with a chat page\n"
            "  devices [--json]        list Vulkan devices and their capabilities\n"
            "  selftest [options]      check every kernel against its CPU reference\n"
            "      --device SEL        device index or name substring (default: $VKLLM_DEVICE, else best)\n"
            "      --full              add SOLAR-10.7B-sized shapes\n"
            "      --validate          enable the Khronos validation layer (any message fails)\n"
            "      --seed N            random seed for the inputs\n"
            "  info -m MODEL           describe a model file and what it needs on the device\n"
            "  logits -m MODEL --tokens 1,2,3 [--greedy N]\n"
            "                          run token ids through the GPU forward pass, print JSON logits\n"
            "  bench [-m MODEL | --synthetic SHAPE [--type T]] [-p N,N] [-n N,N] [-r N] [--json] [--profile]\n"
            "                          prompt processing and generation speed (tokens/s)\n"
            "  bench --bandwidth       copy bandwidth and the decode kernel's read bandwidth\n"
            "  quantize -m IN -o OUT.gguf --type TYPE [--dry-run] [--allow-requantize] [--force] [--threads N]\n"
            "                          write a quantized GGUF (q4_k_m, q8_0, ...) from a GGUF or HF folder\n"
            "  help [COMMAND]          this text, or a command's options\n"
            "  version, -v, --version  the version\n"
            "\n"
            "MODEL is a .gguf file or a Hugging Face folder (config.json + *.safetensors).\n"
            "--quant TYPE (run, chat, bench, info, serve): quantize an F16/BF16/F32 MODEL while it loads.\n"
            "`vkllm help COMMAND` or `vkllm COMMAND --help` shows each command's options.\n"
            "\n"
            "environment: VKLLM_DEVICE (device choice), VKLLM_VALIDATE=1 (validation layer)\n",
            VKLLM_VERSION_STRING);
}

/* ------------------------------------------------------------ devices */

static void print_device_json(const vkllm_device_info *d, int last)
{
    printf("  {\"index\": %u, \"name\": ", d->index);
    json_str(d->name);
    printf(", \"type\": \"%s\", \"vendor_id\": %u, \"device_id\": %u, \"driver\": ", cli_device_type(d->type), d->vendor_id,
           d->device_id);
    json_str(d->driver_name);
    printf(", \"driver_info\": ");
    json_str(d->driver_info);
    printf(", \"api_version\": \"%u.%u.%u\"", d->api_version >> 22, (d->api_version >> 12) & 0x3ff,
           d->api_version & 0xfff);
    printf(", \"fp16_arith\": %s, \"int8_arith\": %s, \"storage16\": %s, \"storage8\": %s",
           d->fp16_arith ? "true" : "false", d->int8_arith ? "true" : "false", d->storage16 ? "true" : "false",
           d->storage8 ? "true" : "false");
    printf(", \"subgroup_size\": %u, \"subgroup_min\": %u, \"subgroup_max\": %u, \"subgroup_size_control\": %s",
           d->subgroup_size, d->subgroup_min, d->subgroup_max, d->subgroup_size_control ? "true" : "false");
    printf(", \"subgroup_arith\": %s, \"subgroup_shuffle\": %s, \"coopmat_nv\": %s", d->subgroup_arith ? "true" : "false",
           d->subgroup_shuffle ? "true" : "false", d->coopmat_nv ? "true" : "false");
    printf(", \"max_storage_buffer_range\": %llu, \"max_memory_allocation_size\": %llu",
           (unsigned long long)d->max_storage_buffer_range, (unsigned long long)d->max_memory_allocation_size);
    printf(", \"max_shared_memory\": %u, \"max_workgroup_invocations\": %u", d->max_shared_memory,
           d->max_workgroup_invocations);
    printf(", \"heaps\": [");
    for (uint32_t h = 0; h < d->n_heaps; h++)
        printf("%s{\"bytes\": %llu, \"device_local\": %s}", h ? ", " : "", (unsigned long long)d->heap_size[h],
               d->heap_device_local[h] ? "true" : "false");
    printf("], \"timestamps\": %s, \"timestamp_period_ns\": %g", d->timestamps ? "true" : "false",
           d->timestamp_period_ns);
    printf(", \"memory_budget\": %s, \"device_local_free\": %llu", d->memory_budget ? "true" : "false",
           (unsigned long long)d->device_local_free);
    char profile[4096];
    vkllm_device_profile(d, profile, sizeof profile);
    printf(", \"profile\": %s}%s\n", profile, last ? "" : ",");
}

static void print_device_text(const vkllm_device_info *d)
{
    printf("device %u: %s (%s)\n", d->index, d->name, cli_device_type(d->type));
    printf("  driver          %s %s, Vulkan %u.%u.%u\n", d->driver_name, d->driver_info, d->api_version >> 22,
           (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff);
    printf("  memory          %.1f GiB device-local (", (double)d->device_local_bytes / (1 << 30));
    for (uint32_t h = 0; h < d->n_heaps; h++)
        printf("%sheap %u: %.1f GiB%s", h ? ", " : "", h, (double)d->heap_size[h] / (1 << 30),
               d->heap_device_local[h] ? " local" : "");
    printf(")\n");
    if (d->memory_budget)
        printf("  free now        %.1f GiB device-local (VK_EXT_memory_budget)\n",
               (double)d->device_local_free / (1 << 30));
    printf("  fp16 / int8     arithmetic %s / %s, storage %s / %s\n", d->fp16_arith ? "yes" : "no",
           d->int8_arith ? "yes" : "no", d->storage16 ? "yes" : "no", d->storage8 ? "yes" : "no");
    printf("  subgroups       size %u (%u..%u%s), arithmetic %s, shuffle %s\n", d->subgroup_size, d->subgroup_min,
           d->subgroup_max, d->subgroup_size_control ? ", size control" : "", d->subgroup_arith ? "yes" : "no",
           d->subgroup_shuffle ? "yes" : "no");
    printf("  coop. matrix    %s\n", d->coopmat_nv ? "VK_NV_cooperative_matrix" : "no");
    printf("  limits          storage buffer range %.0f MiB, allocation %.0f MiB, shared memory %u KiB\n",
           (double)d->max_storage_buffer_range / (1 << 20), (double)d->max_memory_allocation_size / (1 << 20),
           d->max_shared_memory / 1024);
    printf("  timestamps      %s", d->timestamps ? "yes" : "no");
    if (d->timestamps) printf(", period %g ns", d->timestamp_period_ns);
    printf("\n");
}

static int cmd_devices(int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm devices [--json]\n  lists every Vulkan device with its capabilities\n");
            return 0;
        } else {
            fprintf(stderr, "vkllm devices: unknown option %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    vkllm_device_info devs[16];
    uint32_t n = 0;
    char err[512] = "";
    vkllm_status s = vkllm_list_devices(devs, 16, &n, err, sizeof err);
    if (s != VKLLM_OK) {
        fprintf(stderr, "vkllm: %s\n", err);
        return 1;
    }
    if (n > 16) n = 16;
    if (json) {
        printf("[\n");
        for (uint32_t i = 0; i < n; i++) print_device_json(&devs[i], i + 1 == n);
        printf("]\n");
    } else {
        if (n == 0) printf("no Vulkan devices found (install mesa-vulkan-drivers for lavapipe, or a GPU driver)\n");
        for (uint32_t i = 0; i < n; i++) print_device_text(&devs[i]);
    }
    return 0;
}

/* ------------------------------------------------------------ selftest */

static int on_check(const vkllm_check_result *r, void *user)
{
    int *printed_header = user;
    if (!*printed_header) {
        printf("%-12s %-34s %10s %8s  %-4s %10s\n", "kernel", "shape", "max err", "err/tol", "", "GPU µs");
        *printed_header = 1;
    }
    printf("%-12s %-34s %10.2e %8.3f  %-4s %10.1f", r->kernel, r->shape, r->max_err, r->ratio,
           r->passed ? "ok" : "FAIL", r->gpu_us);
    if (!r->passed && r->detail[0]) printf("  %s", r->detail);
    printf("\n");
    fflush(stdout);
    return 0;
}

static int cmd_selftest(int argc, char **argv)
{
    vkllm_selftest_options o = { 0 };
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) o.device = argv[++i];
        else if (strcmp(argv[i], "--full") == 0) o.full_size = 1;
        else if (strcmp(argv[i], "--validate") == 0) o.validate = 1;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) o.seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm selftest [--device SEL] [--full] [--validate] [--seed N]\n"
                   "  runs every kernel once on random data against its CPU reference\n"
                   "  columns: max |gpu-ref|, worst error / allowed (<= 1 passes), GPU time in µs\n");
            return 0;
        } else {
            fprintf(stderr, "vkllm selftest: unknown or incomplete option %s (try --help)\n", argv[i]);
            return 2;
        }
    }
    char dev[256] = "", err[1024] = "";
    int printed_header = 0;
    vkllm_status s = vkllm_selftest(&o, on_check, &printed_header, dev, sizeof dev, err, sizeof err);
    if (dev[0]) printf("device: %s\n", dev);
    if (s != VKLLM_OK) {
        fprintf(stderr, "vkllm selftest: %s\n", err);
        return 1;
    }
    printf("all kernels passed\n");
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} commands[] = {
    { "run", cmd_run },     { "chat", cmd_chat },   { "tokenize", cmd_tokenize }, { "devices", cmd_devices },
    { "selftest", cmd_selftest }, { "info", cmd_info }, { "logits", cmd_logits }, { "bench", cmd_bench },
    { "quantize", cmd_quantize }, { "serve", cmd_serve },
};

int main(int argc, char **argv)
{
    const size_t n_cmd = sizeof commands / sizeof commands[0];
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        for (size_t i = 0; i < n_cmd; i++)
            if (strcmp(argv[2], commands[i].name) == 0) return commands[i].fn(1, (char *[]){ "--help", NULL });
        fprintf(stderr, "vkllm help: unknown command '%s' (try vkllm help)\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vkllm %s\n", VKLLM_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < n_cmd; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "vkllm: unknown command '%s' (try vkllm help)\n", argv[1]);
    return 2;
}
