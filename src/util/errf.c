#include "errf.h"

#include <stdarg.h>
#include <stdio.h>

vkllm_status errf(vkllm_status st, char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}
