/* Output helpers shared by the CLI's commands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "cli.h"
#include "term.h"

void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

const char *cli_device_type(vkllm_device_type t)
{
    switch (t) {
    case VKLLM_DEVICE_DISCRETE: return "discrete";
    case VKLLM_DEVICE_INTEGRATED: return "integrated";
    case VKLLM_DEVICE_VIRTUAL: return "virtual";
    case VKLLM_DEVICE_CPU: return "cpu";
    default: return "other";
    }
}

const char *cli_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9') return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

int cli_progress(uint64_t done, uint64_t total, void *user)
{
    (void)user;
    if (!term_isatty(2) || total == 0) return 0;
    const int width = 40;
    int filled = (int)(done * width / total);
    /* units that show the numbers moving: MB below 10 GB, kB below 10 MB */
    const double unit = total >= 10e9 ? 1e9 : total >= 10e6 ? 1e6 : 1e3;
    const char *uname = total >= 10e9 ? "GB" : total >= 10e6 ? "MB" : "kB";
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%  %.1f / %.1f %s", filled, "########################################",
            width - filled, "", (int)(done * 100 / total), done / unit, total / unit, uname);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

int cli_validation_failed(const vkllm_model *m, const char *cmd)
{
    const char *first;
    uint32_t n = m ? vkllm_model_validation_messages(m, &first) : 0;
    if (n) fprintf(stderr, "vkllm %s: the Vulkan validation layer reported %u message(s); first: %s\n", cmd, n, first);
    return n != 0;
}

static int is_plain_type(const char *t) { return !strcmp(t, "f32") || !strcmp(t, "f16") || !strcmp(t, "bf16"); }

int cli_search_ok(const char *cmd, const char *opt, const char *s)
{
    if (!strcasecmp(s, "exact") || !strcasecmp(s, "fast")) return 1;
    fprintf(stderr, "vkllm %s: %s: unknown scale search '%s' (valid: exact, fast)\n", cmd, opt, s);
    return 0;
}

int cli_quant_ok(const char *cmd, const char *type)
{
    char list[512];
    size_t at = 0;
    list[0] = '\0';
    for (const char *const *n = vkllm_quantize_types(); *n; n++) {
        if (is_plain_type(*n)) continue;
        if (strcasecmp(*n, type) == 0) return 1;
        if (at < sizeof list) at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", at ? ", " : "", *n);
    }
    fprintf(stderr, "vkllm %s: --quant: unknown type '%s'%s (valid: %s)\n", cmd, type,
            is_plain_type(type) ? " (a model loads as fp16 without --quant)" : "", list);
    return 0;
}
