/* The one error-message helper of the CPU-side code (model readers, text,
 * and the test-model generator, which does not link the runtime, so it is
 * header-only): formats one line into a caller's buffer and returns the
 * status. */
#ifndef VKLLM_UTIL_ERRF_H
#define VKLLM_UTIL_ERRF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "vkllm.h"

/* Formats into err (if err and err_len are non-zero) and returns `st`. */
__attribute__((format(printf, 4, 5))) static inline vkllm_status errf(vkllm_status st, char *err, size_t err_len,
                                                                      const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

#endif
