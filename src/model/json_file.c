/* See json_file.h. */
#include "model/json_file.h"

#include <inttypes.h>

#include "model/mfile.h"
#include "util/errf.h"

size_t json_count_values(const char *s, size_t n)
{
    size_t count = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') { /* skip the string, escapes included */
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
        } else if (c == ',' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

vkllm_status json_file_read(const char *path, size_t max_bytes, size_t max_values, cJSON **out, char *err,
                            size_t err_len)
{
    *out = NULL;
    mfile f = { 0 };
    vkllm_status st = mfile_open(&f, path, err, err_len);
    if (st) {
        mfile_close(&f);
        return st;
    }
    const char *s = (const char *)f.data;
    size_t values = 0;
    if (f.size > max_bytes) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: %" PRIu64 " bytes, more than the %zu a JSON file may have", path,
                  f.size, max_bytes);
    } else if ((values = json_count_values(s, (size_t)f.size)) > max_values) {
        st = errf(VKLLM_ERR_FORMAT, err, err_len,
                  "%s: about %zu JSON values, more than the %zu vkllm reads from one file (real model files have"
                  " at most about a million)", path,
                  values, max_values);
    } else {
        const char *end = NULL;
        *out = f.size ? cJSON_ParseWithLengthOpts(s, (size_t)f.size, &end, 0) : NULL;
        if (!*out) {
            long pos = f.size && end ? (long)(end - s) : 0;
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: not valid JSON (error near byte %ld)", path, pos);
        } else if (!cJSON_IsObject(*out)) {
            st = errf(VKLLM_ERR_FORMAT, err, err_len, "%s: the top level is not a JSON object", path);
            cJSON_Delete(*out);
            *out = NULL;
        }
    }
    mfile_close(&f);
    return st;
}
