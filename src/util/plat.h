/* The platform seam: everything vkllm's library needs from the operating
 * system beyond ISO C11 and POSIX threads, in one place, so a Windows or
 * macOS port replaces src/util/plat_posix.c (and tools/term_posix.c for the
 * command line's terminal) and touches nothing else. The rest of src/ uses
 * ISO C (fopen, remove, rename, ...) and these functions only: no <unistd.h>,
 * <sys/...>, <fcntl.h> or <dlfcn.h> outside this file's implementation.
 * Errors are errno values (0: success), which strerror() names. */
#ifndef VKLLM_UTIL_PLAT_H
#define VKLLM_UTIL_PLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- paths */

#define PLAT_PATH_SEP '/'            /* what path_join puts between a folder and a name */
#define PLAT_IS_SEP(c) ((c) == '/')  /* what ends a folder name ('/' and '\\' on Windows) */

typedef enum plat_kind { PLAT_MISSING = 0, PLAT_FILE, PLAT_DIR, PLAT_OTHER } plat_kind;

/* What `path` names, following symbolic links; PLAT_MISSING also when it
 * cannot be looked at (errno says why). */
plat_kind plat_path_kind(const char *path);
/* Whether anything is at `path`, a dangling symbolic link included. */
bool plat_path_exists(const char *path);

/* ---------------------------------------------------------------- reading */

/* Maps a whole regular file read-only. On success *data (NULL when the file
 * is empty) and *size are set; on failure returns an errno and *step says
 * what failed ("open", "stat", "map"; EISDIR/EINVAL-style "not a regular
 * file" as step "type"). Unmap with plat_unmap_file. */
int plat_map_file(const char *path, const void **data, uint64_t *size, const char **step);
void plat_unmap_file(const void *data, uint64_t size);

/* ---------------------------------------------------------------- writing */

typedef int plat_fd; /* -1: none */

/* Creates `path`, which must not exist (EEXIST otherwise), for writing. */
int plat_create_new(const char *path, plat_fd *fd);
/* Writes all n bytes (retrying short and interrupted writes). */
int plat_write_all(plat_fd fd, const void *p, size_t n);
/* Flushes the file to the disk and closes it (closed also on failure). */
int plat_sync_close(plat_fd fd);
void plat_close(plat_fd fd);
/* Gives the file `from` the second name `to`, failing with EEXIST if `to`
 * exists (an atomic no-replace rename with remove(from) after it); ENOTSUP
 * and the like where the file system has no such operation. */
int plat_link_new(const char *from, const char *to);

/* ---------------------------------------------------------------- process */

/* Online CPU cores (at least 1). */
unsigned plat_cpu_count(void);
/* A number that differs between processes running now (seeds temporary names). */
uint64_t plat_process_id(void);

/* ---------------------------------------------------------------- libraries */

/* The Vulkan loader, opened once per call site (keep the handle: it is never
 * closed): the names tried are plat_vulkan_loader_names(). NULL if none
 * loads. */
void *plat_vulkan_loader(void);
/* NULL-terminated: "libvulkan.so.1", "libvulkan.so" here; "vulkan-1.dll" or
 * "libvulkan.1.dylib", "libMoltenVK.dylib" on the other platforms. */
const char *const *plat_vulkan_loader_names(void);
/* A function of a library from plat_vulkan_loader; NULL if missing. */
void (*plat_library_function(void *lib, const char *name))(void);

#endif
