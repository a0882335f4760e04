/* libFuzzer target for `vkllm serve`'s request parsing (tools/serve/serve_request.c):
 * a JSON body to a generation request, for both routes, and an Authorization
 * header to yes/no. Built with clang -fsanitize=fuzzer,address,undefined by
 * tests/test_serve_fuzz.sh, which runs it for a fixed number of inputs.
 * Besides crashes and sanitizer reports it checks what a parsed request
 * promises: the counts and limits, the settings' ranges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_request.h"

#define REQUIRE(c)                                                       \
    do {                                                                 \
        if (!(c)) {                                                      \
            fprintf(stderr, "fuzz_serve_request: broken: %s\n", #c);     \
            abort();                                                     \
        }                                                                \
    } while (0)

static void check_request(const serve_request *r, const serve_limits *lim)
{
    if (r->kind == SERVE_CHAT) {
        REQUIRE(r->n_msgs > 0 && r->n_msgs <= lim->max_messages && r->msgs && !r->prompt);
        for (size_t i = 0; i < r->n_msgs; i++)
            REQUIRE(r->msgs[i].text && (unsigned)r->msgs[i].role <= VKLLM_ROLE_ASSISTANT);
    } else {
        REQUIRE(r->prompt && !r->msgs);
    }
    REQUIRE(r->n_stop <= lim->max_stop);
    for (size_t i = 0; i < r->n_stop; i++) REQUIRE(r->stop[i] && *r->stop[i] && strlen(r->stop[i]) <= lim->max_stop_bytes);
    const vkllm_sampling *s = &r->sampling;
    REQUIRE(s->temperature >= 0 && s->temperature <= 2 && s->top_p > 0 && s->top_p <= 1);
    REQUIRE(s->min_p >= 0 && s->min_p <= 1 && s->top_k >= 0 && s->repeat_penalty > 0);
    REQUIRE(s->frequency_penalty >= -2 && s->frequency_penalty <= 2);
    REQUIRE(s->presence_penalty >= -2 && s->presence_penalty <= 2);
    REQUIRE(r->stream == 0 || r->stream == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    serve_limits lim = { .max_stop = 4, .max_stop_bytes = 32, .max_messages = 64 };
    lim.defaults = (vkllm_sampling){ .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                     .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 1 };
    for (int k = 0; k < 2; k++) {
        serve_request r;
        serve_error e;
        serve_kind kind = k ? SERVE_COMPLETION : SERVE_CHAT;
        if (serve_parse_request(kind, (const char *)data, size, &lim, &r, &e)) {
            check_request(&r, &lim);
        } else {
            REQUIRE(e.status >= 400 && e.status < 600 && e.type && e.message[0]);
            REQUIRE(!r.msgs && !r.prompt && !r.stop && !r.model);
        }
        serve_request_free(&r);
    }
    /* the bytes as an Authorization header value */
    char *h = malloc(size + 1);
    if (!h) return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    int ok = serve_auth_ok(h, "s3cret-key");
    size_t n = strlen(h);
    if (ok) REQUIRE(n >= 17 && strcmp(h + n - 10, "s3cret-key") == 0);
    free(h);
    return 0;
}
