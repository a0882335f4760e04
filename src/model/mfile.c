/* Read-only file mapping and error formatting for the model readers. */
#include "model/mfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/plat.h"

const char *path_basename(const char *path)
{
    const char *base = path;
    for (const char *s = path; *s; s++)
        if (PLAT_IS_SEP(*s)) base = s + 1;
    return base;
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && !PLAT_IS_SEP(dir[a - 1])) p[n++] = PLAT_PATH_SEP;
    memcpy(p + n, name, b + 1);
    return p;
}

vkllm_status mfile_open(mfile *f, const char *path, char *err, size_t err_len)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    const char *step;
    const void *data;
    int e = plat_map_file(path, &data, &f->size, &step);
    if (e == 0) {
        f->data = data; /* NULL when empty: the readers report "too short" */
        return VKLLM_OK;
    }
    if (!strcmp(step, "type")) return errf(VKLLM_ERR_IO, err, err_len, "%s: not a regular file", path);
    if (!strcmp(step, "map"))
        return errf(VKLLM_ERR_IO, err, err_len, "%s: mapping %llu bytes failed: %s", path, (unsigned long long)f->size,
                    strerror(e));
    return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot %s: %s", path, step, strerror(e));
}

void mfile_close(mfile *f)
{
    if (!f) return;
    plat_unmap_file(f->data, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}
