/* `vkllm serve`: an HTTP request body (JSON) to a generation request, and
 * the Authorization header to yes/no. Pure functions of their input (no
 * model, no HTTP library): the libFuzzer target (tests/fuzz_serve_request.c)
 * drives them directly. */
#ifndef VKLLM_SERVE_REQUEST_H
#define VKLLM_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "vkllm.h"

typedef enum serve_kind {
    SERVE_CHAT,       /* POST /v1/chat/completions: "messages" */
    SERVE_COMPLETION, /* POST /v1/completions: "prompt" */
} serve_kind;

/* An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}. */
typedef struct serve_error {
    int status;        /* HTTP status: 400, 401, 404, 405, 413, 500, 503 */
    const char *type;  /* "invalid_request_error", "authentication_error", "server_error", ... */
    char param[64];    /* the request field at fault ("messages[2].role"), "" for none */
    char code[48];     /* "invalid_json", "invalid_type", "invalid_value", "missing_field",
                          "unsupported_value", "context_length_exceeded", ... ; "" for none */
    char message[512];
} serve_error;

/* Limits the parser enforces (the server's options). */
typedef struct serve_limits {
    size_t max_stop;       /* most stop strings */
    size_t max_stop_bytes; /* longest stop string */
    size_t max_messages;   /* most messages in a chat */
    vkllm_sampling defaults; /* settings a request leaves out */
} serve_limits;

/* What a valid body asks for. Strings are owned by the request. */
typedef struct serve_request {
    serve_kind kind;
    vkllm_message *msgs;     /* [n_msgs], SERVE_CHAT */
    size_t n_msgs;
    char *prompt;            /* SERVE_COMPLETION */
    char *model;             /* "model" as given, NULL if absent */
    vkllm_sampling sampling;
    int has_seed;            /* "seed" was given (else the server picks one) */
    uint32_t max_tokens;     /* 0: until end of sequence or a full context */
    char **stop;             /* [n_stop] */
    size_t n_stop;
    int stream;
    int include_usage;       /* stream_options.include_usage */
} serve_request;

/* Parses len bytes of a JSON body for `kind`. Returns 1 and fills *out, or
 * returns 0 with *err set (status 400) and *out empty. Always free *out with
 * serve_request_free. */
int serve_parse_request(serve_kind kind, const char *body, size_t len, const serve_limits *lim, serve_request *out,
                        serve_error *err);
void serve_request_free(serve_request *r);

/* Whether an Authorization header value ("Bearer KEY", scheme in any case)
 * carries api_key. The time taken depends only on api_key's length, not on
 * how much of the key matches. header may be NULL (no header: no). */
int serve_auth_ok(const char *header, const char *api_key);

/* Sets *e (status, type, param, code, printf-style message); returns 0. */
int serve_error_set(serve_error *e, int status, const char *type, const char *param, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
