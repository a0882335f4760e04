/* A read-only memory-mapped file, and the error-message helper the model
 * readers share. No Vulkan here. */
#ifndef VKLLM_MODEL_MFILE_H
#define VKLLM_MODEL_MFILE_H

#include <stddef.h>
#include <stdint.h>

#include "vkllm.h"
#include "util/errf.h"

typedef struct mfile {
    char *path;          /* owned copy of the path it was opened with */
    const uint8_t *data; /* the whole file, read-only; NULL when size == 0 */
    uint64_t size;       /* bytes */
} mfile;

/* Maps `path` read-only into *f (which the caller owns and must pass to
 * mfile_close, also after a failure). Errors: VKLLM_ERR_IO (cannot open,
 * not a regular file, mmap failed), VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status mfile_open(mfile *f, const char *path, char *err, size_t err_len);

/* Unmaps and frees; accepts a zeroed or half-opened mfile. */
void mfile_close(mfile *f);

/* Last path component ("a/b/c.gguf" -> "c.gguf"); points into `path`. */
const char *path_basename(const char *path);

/* malloc'd "dir/name"; NULL when out of memory. */
char *path_join(const char *dir, const char *name);

#endif
