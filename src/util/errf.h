/* The one error-message helper of the CPU-side code (model readers, text):
 * formats one line into a caller's buffer and returns the status. */
#ifndef VKLLM_UTIL_ERRF_H
#define VKLLM_UTIL_ERRF_H

#include <stddef.h>

#include "vkllm.h"

/* Formats into err (if err and err_len are non-zero) and returns `st`. */
vkllm_status errf(vkllm_status st, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
