/* Appending formatted text to a caller's buffer that may be too small (or
 * NULL): the snprintf convention, so the caller learns the length it needs. */
#ifndef VKLLM_UTIL_BUFPRINTF_H
#define VKLLM_UTIL_BUFPRINTF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats at buf + *used (what fits of len bytes, NUL-terminated; nothing
 * when buf is NULL) and adds the full length to *used. */
__attribute__((format(printf, 4, 5))) static inline void buf_printf(char *buf, size_t len, size_t *used,
                                                                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf ? buf + *used : NULL, buf && *used < len ? len - *used : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

#endif
