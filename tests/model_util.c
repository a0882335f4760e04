/* Helpers for the model-file tests; see model_util.h. */
/* nftw (XSI): the scratch folders are removed with it */
#define _XOPEN_SOURCE 700
#include "model_util.h"

#include "model/gguf.h"

#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_failures;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

void tu_rmtree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

int tu_scratch(const char *dir)
{
    tu_rmtree(dir);
    return mkdir(dir, 0755) == 0;
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

uint8_t *tu_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && len > 0 && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *n = (size_t)len;
    return p;
}

int tu_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

int tu_copy(const char *from, const char *to)
{
    size_t n;
    uint8_t *p = tu_read(from, &n);
    int ok = p && tu_write(to, p, n);
    free(p);
    return ok;
}

int tu_copy_dir(const char *from, const char *to)
{
    if (!tu_scratch(to)) return 0;
    DIR *d = opendir(from);
    if (!d) return 0;
    int ok = 1;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *a = tu_path(from, e->d_name), *b = tu_path(to, e->d_name);
        ok = a && b && tu_copy(a, b);
        free(a);
        free(b);
    }
    closedir(d);
    return ok;
}

int tu_expect(const char *what, vkllm_status st, const char *err, vkllm_status want, ...)
{
    int ok = st == want;
    va_list ap;
    va_start(ap, want);
    const char *missing = NULL;
    for (const char *s; (s = va_arg(ap, const char *));)
        if (ok && !strstr(err, s)) ok = 0, missing = s;
    va_end(ap);
    if (!ok) {
        tu_failures++;
        printf("FAIL %s: got %s \"%s\", want %s%s%s%s\n", what, vkllm_status_name(st), st ? err : "",
               vkllm_status_name(want), missing ? " with \"" : "", missing ? missing : "", missing ? "\"" : "");
    }
    return ok;
}

uint8_t *tu_gguf_with_extra(const char *good, size_t n_extra, const char *prefix, uint64_t ne0, uint64_t offset,
                            size_t *n)
{
    gguf_file *g = NULL;
    char err[512];
    if (gguf_open(good, &g, err, sizeof err)) {
        printf("tu_gguf_with_extra: %s\n", err);
        return NULL;
    }
    const uint8_t *d = g->map.data;
    uint64_t infos_end = g->tensor_info_offset; /* the infos are back to back, in file order */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t end = t->info_offset + 8 + t->name.len + 4 + 8ull * t->n_dims + 4 + 8;
        if (end > infos_end) infos_end = end;
    }
    size_t cap = (size_t)g->map.size + n_extra * (8 + strlen(prefix) + 20 + 24) + g->alignment;
    uint8_t *b = malloc(cap);
    size_t o = 0;
#define PUT(p, len) (memcpy(b + o, (p), (len)), o += (len))
    uint64_t n_tensors = g->n_tensors + n_extra;
    PUT(d, 8);              /* magic, version */
    PUT(&n_tensors, 8);
    PUT(d + 16, 8);         /* kv count */
    PUT(d + g->kv_offset, (size_t)(g->tensor_info_offset - g->kv_offset));
    for (size_t i = 0; i < n_extra; i++) {
        char name[256];
        uint64_t len = (uint64_t)snprintf(name, sizeof name, "%s%zu", prefix, i);
        uint32_t n_dims = 1, type = 0;
        PUT(&len, 8), PUT(name, (size_t)len), PUT(&n_dims, 4), PUT(&ne0, 8), PUT(&type, 4), PUT(&offset, 8);
    }
    PUT(d + g->tensor_info_offset, (size_t)(infos_end - g->tensor_info_offset));
    while (o % g->alignment) b[o++] = 0;
    PUT(d + g->data_offset, (size_t)(g->map.size - g->data_offset));
#undef PUT
    *n = o;
    gguf_close(g);
    return b;
}
