/* The platform seam (src/util/plat.h) for POSIX.1-2008 systems: Linux, the
 * BSDs, macOS. A Windows port writes plat_win32.c with the same functions. */
#if defined(_WIN32)
#error "src/util/plat_posix.c is the POSIX implementation of src/util/plat.h; Windows needs a plat_win32.c"
#endif

#include "util/plat.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

plat_kind plat_path_kind(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return PLAT_MISSING;
    return S_ISREG(sb.st_mode) ? PLAT_FILE : S_ISDIR(sb.st_mode) ? PLAT_DIR : PLAT_OTHER;
}

bool plat_path_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

int plat_map_file(const char *path, const void **data, uint64_t *size, const char **step)
{
    *data = NULL;
    *size = 0;
    *step = "open";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        *step = "stat";
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        *step = "type";
        return EINVAL;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        *step = "map";
        return EFBIG;
    }
    *size = (uint64_t)st.st_size;
    if (*size == 0) { /* mmap refuses length 0 */
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)*size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        *step = "map";
        return e;
    }
    *data = p;
    return 0;
}

void plat_unmap_file(const void *data, uint64_t size)
{
    if (data) munmap((void *)data, (size_t)size);
}

int plat_create_new(const char *path, plat_fd *fd)
{
    /* mode 0666 & ~umask, as a plain create */
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    return *fd < 0 ? errno : 0;
}

int plat_write_all(plat_fd fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return k < 0 ? errno : EIO;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

int plat_sync_close(plat_fd fd)
{
    int e = 0;
    if (fsync(fd) != 0 && errno != EINVAL) e = errno; /* EINVAL: a file that cannot be synced (a pipe) */
    if (close(fd) != 0 && !e) e = errno ? errno : EIO;
    return e;
}

void plat_close(plat_fd fd)
{
    if (fd >= 0) close(fd);
}

int plat_link_new(const char *from, const char *to) { return link(from, to) == 0 ? 0 : errno; }

unsigned plat_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

uint64_t plat_process_id(void) { return (uint64_t)getpid(); }

const char *const *plat_vulkan_loader_names(void)
{
#if defined(__APPLE__)
    static const char *const names[] = { "libvulkan.1.dylib", "libvulkan.dylib", "libMoltenVK.dylib", NULL };
#else
    static const char *const names[] = { "libvulkan.so.1", "libvulkan.so", NULL };
#endif
    return names;
}

void *plat_vulkan_loader(void)
{
    for (const char *const *n = plat_vulkan_loader_names(); *n; n++) {
        void *lib = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
    }
    return NULL;
}

void (*plat_library_function(void *lib, const char *name))(void)
{
    void (*f)(void);
    void *sym = dlsym(lib, name);
    /* POSIX guarantees a function's address converts through void * */
    memcpy(&f, &sym, sizeof f);
    return f;
}
