/* The tests' one assertion macro, for every test file.
 *
 *   EXPECT(cond, fmt, ...)
 *
 * When cond is false: counts a failure in the int EXPECT_FAILURES names
 * (default `failures`, which the file declares; model_util.h uses
 * tu_failures) and prints "FAIL file:line: cond: message". A file that
 * defines EXPECT_PRINT_OK as 1 before including this also gets
 * "ok   message" for each expectation that holds. CHECK is the same macro
 * under the name the CPU-side tests use. */
#ifndef VKLLM_TEST_EXPECT_H
#define VKLLM_TEST_EXPECT_H

#include <stdio.h>

#ifndef EXPECT_FAILURES
#define EXPECT_FAILURES failures
#endif
#ifndef EXPECT_PRINT_OK
#define EXPECT_PRINT_OK 0
#endif

/* the one body; EXPECT and CHECK are its two names */
#define EXPECT_AT_(ok, text, ...)                                       \
    do {                                                                \
        if (!(ok)) {                                                    \
            EXPECT_FAILURES++;                                          \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, text);      \
            printf(__VA_ARGS__);                                        \
            printf("\n");                                               \
        } else if (EXPECT_PRINT_OK) {                                   \
            printf("ok   ");                                            \
            printf(__VA_ARGS__);                                        \
            printf("\n");                                               \
        }                                                               \
    } while (0)
#define EXPECT(cond, ...) EXPECT_AT_(cond, #cond, __VA_ARGS__)
#define CHECK(cond, ...) EXPECT_AT_(cond, #cond, __VA_ARGS__)

#endif
