/* Helpers for the model-file tests: a scratch folder, whole-file I/O,
 * expected-error checks. Failures print one line and count. */
#ifndef VKLLM_TEST_MODEL_UTIL_H
#define VKLLM_TEST_MODEL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vkllm.h"

extern int tu_failures;

#define EXPECT_FAILURES tu_failures
#include "expect.h"

/* Creates (empty) the scratch folder `dir` (removing old contents). 0 on failure. */
int tu_scratch(const char *dir);
/* Removes dir and everything in it. */
void tu_rmtree(const char *dir);
/* malloc'd "a/b". */
char *tu_path(const char *dir, const char *name);
/* Reads a whole file (malloc'd, *n bytes); NULL on failure. */
uint8_t *tu_read(const char *path, size_t *n);
/* Writes n bytes; 0 on failure. */
int tu_write(const char *path, const void *p, size_t n);
/* Copies a file; 0 on failure. */
int tu_copy(const char *from, const char *to);

/* Copies the regular files of folder `from` into a new folder `to`; 0 on failure. */
int tu_copy_dir(const char *from, const char *to);

/* A copy of the GGUF file `good` (malloc'd, *n bytes) with n_extra more
 * tensor infos placed before its own: "<prefix><i>", one dimension of ne0
 * F32 elements at data offset `offset` (the data section is kept as it is,
 * so ne0 * 4 bytes from `offset` must lie inside it). NULL on failure. */
uint8_t *tu_gguf_with_extra(const char *good, size_t n_extra, const char *prefix, uint64_t ne0, uint64_t offset,
                            size_t *n);

/* Checks st == want and that err contains every one of the NULL-terminated
 * substrings; `what` names the case. Returns 1 if it matched. */
int tu_expect(const char *what, vkllm_status st, const char *err, vkllm_status want, ...);

#endif
