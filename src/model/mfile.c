/* Read-only file mapping and error formatting for the model readers. */
#include "model/mfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *path_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

vkllm_status mfile_open(mfile *f, const char *path, char *err, size_t err_len)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errf(VKLLM_ERR_IO, err, err_len, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return errf(VKLLM_ERR_IO, err, err_len, "%s: not a regular file", path);
    }
    f->size = (uint64_t)st.st_size;
    if (f->size > (uint64_t)SIZE_MAX) {
        close(fd);
        return errf(VKLLM_ERR_IO, err, err_len, "%s: file too large to map", path);
    }
    if (f->size == 0) { /* mmap refuses length 0; the readers report "too short" */
        close(fd);
        return VKLLM_OK;
    }
    void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return errf(VKLLM_ERR_IO, err, err_len, "%s: mmap of %llu bytes failed: %s", path,
                          (unsigned long long)f->size, strerror(e));
    f->data = p;
    return VKLLM_OK;
}

void mfile_close(mfile *f)
{
    if (!f) return;
    if (f->data) munmap((void *)f->data, (size_t)f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}
