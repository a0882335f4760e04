/* The one way the CPU-side readers read a JSON file (config.json, the
 * safetensors index, tokenizer.json, tokenizer_config.json): mapped, size
 * checked, values counted, then parsed by cJSON. Counting first bounds the
 * memory a hostile file can make cJSON allocate (its tree costs about 80
 * bytes per value: a 64 MiB file of "[0,0,0,..." would otherwise take 2.5 GB). */
#ifndef VKLLM_MODEL_JSON_FILE_H
#define VKLLM_MODEL_JSON_FILE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "vkllm.h"

/* The most values any file may hold: Llama 3's tokenizer.json, one of the
 * largest, has about 0.9 million (128k vocabulary entries, 280k merges as
 * pairs); 4 million leave room and cap cJSON's tree near 320 MB. */
#define JSON_MAX_VALUES (4u << 20)

/* An upper bound on the number of JSON values in s[0..n) (exact for valid
 * JSON up to the empty containers): one plus the commas and the opening
 * brackets outside strings. Linear, allocates nothing. */
size_t json_count_values(const char *s, size_t n);

/* Reads PATH as JSON into *out (the caller cJSON_Deletes it). Refuses a file
 * larger than max_bytes, with more than max_values values, that is not valid
 * JSON, or whose top level is not an object: VKLLM_ERR_FORMAT naming the
 * path and what is wrong; a file that cannot be opened: its mfile error. */
vkllm_status json_file_read(const char *path, size_t max_bytes, size_t max_values, cJSON **out, char *err,
                            size_t err_len);

#endif
