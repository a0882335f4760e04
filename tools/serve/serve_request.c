/* `vkllm serve`: request bodies to generation requests (serve_request.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve_request.h"

int serve_error_set(serve_error *e, int status, const char *type, const char *param, const char *code,
                    const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return 0;
}

#define BAD(param, code, ...) serve_error_set(err, 400, "invalid_request_error", param, code, __VA_ARGS__)

void serve_request_free(serve_request *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_msgs; i++) free((char *)r->msgs[i].text);
    free(r->msgs);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->prompt);
    free(r->model);
    memset(r, 0, sizeof *r);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

/* ------------------------------------------------------------ fields */

/* A JSON number field in [lo, hi] (absent or null: leave *out). */
static int get_number(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v)) return BAD(name, "invalid_type", "'%s' must be a number", name);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi)
        return BAD(name, "invalid_value", "'%s' is %g; it must be between %g and %g", name, d, lo, hi);
    *out = d;
    return 1;
}

/* An integer field in [lo, hi]. */
static int get_int(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return BAD(name, "invalid_type", "'%s' must be an integer", name);
    return get_number(root, name, lo, hi, out, err);
}

static int get_bool(const cJSON *root, const char *name, int *out, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsBool(v)) return BAD(name, "invalid_type", "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 1;
}

/* "stop": a string or an array of strings. */
static int get_stop(const cJSON *root, const serve_limits *lim, serve_request *r, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!v || cJSON_IsNull(v)) return 1;
    size_t n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
    if (!cJSON_IsString(v) && !cJSON_IsArray(v))
        return BAD("stop", "invalid_type", "'stop' must be a string or an array of strings");
    if (n > lim->max_stop)
        return BAD("stop", "invalid_value", "'stop' has %zu strings; at most %zu are allowed", n, lim->max_stop);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop) return serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    const cJSON *it = cJSON_IsString(v) ? v : v->child;
    for (size_t i = 0; i < n; i++, it = it->next) {
        if (!cJSON_IsString(it)) return BAD("stop", "invalid_type", "'stop[%zu]' must be a string", i);
        size_t len = strlen(it->valuestring);
        if (len > lim->max_stop_bytes)
            return BAD("stop", "invalid_value", "'stop[%zu]' is %zu bytes long; at most %zu are allowed", i, len,
                       lim->max_stop_bytes);
        if (len == 0) continue; /* an empty stop string stops nothing */
        if (!(r->stop[r->n_stop] = dup_str(it->valuestring)))
            return serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        r->n_stop++;
    }
    return 1;
}

/* A message's content: a string, null (assistant), or text parts. *out malloc'd. */
static int get_content(const cJSON *c, size_t i, char **out, serve_error *err)
{
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (!c || cJSON_IsNull(c)) {
        *out = dup_str("");
    } else if (cJSON_IsString(c)) {
        *out = dup_str(c->valuestring);
    } else if (cJSON_IsArray(c)) {
        size_t total = 0;
        for (const cJSON *p = c->child; p; p = p->next) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
            if (!cJSON_IsObject(p) || !cJSON_IsString(type))
                return BAD(param, "invalid_type", "'%s' parts must be objects with a \"type\"", param);
            if (strcmp(type->valuestring, "text") != 0)
                return BAD(param, "unsupported_value", "'%s' has a part of type '%.32s'; only \"text\" is supported",
                           param, type->valuestring);
            if (!cJSON_IsString(text))
                return BAD(param, "invalid_type", "'%s' text parts need a string \"text\"", param);
            total += strlen(text->valuestring);
        }
        *out = malloc(total + 1);
        if (*out) {
            size_t at = 0;
            for (const cJSON *p = c->child; p; p = p->next) {
                const char *t = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
                memcpy(*out + at, t, strlen(t));
                at += strlen(t);
            }
            (*out)[at] = '\0';
        }
    } else {
        return BAD(param, "invalid_type", "'%s' must be a string or an array of text parts", param);
    }
    if (!*out) return serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    return 1;
}

static int get_messages(const cJSON *root, const serve_limits *lim, serve_request *r, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!v || cJSON_IsNull(v)) return BAD("messages", "missing_field", "'messages' is required");
    if (!cJSON_IsArray(v)) return BAD("messages", "invalid_type", "'messages' must be an array of messages");
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n == 0) return BAD("messages", "invalid_value", "'messages' is empty; give at least one message");
    if (n > lim->max_messages)
        return BAD("messages", "invalid_value", "'messages' has %zu messages; at most %zu are allowed", n,
                   lim->max_messages);
    r->msgs = calloc(n, sizeof *r->msgs);
    if (!r->msgs) return serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    size_t i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!cJSON_IsObject(m)) return BAD(param, "invalid_type", "'%s' must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!role) return BAD(param, "missing_field", "'%s' is required", param);
        if (!cJSON_IsString(role)) return BAD(param, "invalid_type", "'%s' must be a string", param);
        const char *rs = role->valuestring;
        vkllm_role ro;
        if (!strcmp(rs, "system") || !strcmp(rs, "developer")) ro = VKLLM_ROLE_SYSTEM;
        else if (!strcmp(rs, "user")) ro = VKLLM_ROLE_USER;
        else if (!strcmp(rs, "assistant")) ro = VKLLM_ROLE_ASSISTANT;
        else
            return BAD(param, "invalid_value", "'%s' is '%.32s'; it must be \"system\", \"user\" or \"assistant\"",
                       param, rs);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!content && ro != VKLLM_ROLE_ASSISTANT) {
            snprintf(param, sizeof param, "messages[%zu].content", i);
            return BAD(param, "missing_field", "'%s' is required", param);
        }
        char *text = NULL;
        if (!get_content(content, i, &text, err)) return 0;
        r->msgs[i] = (vkllm_message){ ro, text };
        r->n_msgs = i + 1;
    }
    return 1;
}

static int get_prompt(const cJSON *root, serve_request *r, serve_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!v || cJSON_IsNull(v)) return BAD("prompt", "missing_field", "'prompt' is required");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child)) v = v->child;
    else if (cJSON_IsArray(v))
        return BAD("prompt", "unsupported_value", "'prompt' must be one string (arrays of prompts or of token ids "
                                                  "are not supported)");
    if (!cJSON_IsString(v)) return BAD("prompt", "invalid_type", "'prompt' must be a string");
    if (!(r->prompt = dup_str(v->valuestring)))
        return serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    return 1;
}

/* Fields a request may carry that this server cannot honour. */
static int check_unsupported(const cJSON *root, serve_error *err)
{
    double n = 1;
    if (!get_int(root, "n", -1e9, 1e9, &n, err)) return 0;
    if (n != 1) return BAD("n", "unsupported_value", "'n' is %g; this server returns one choice per request (n: 1)", n);
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (rf && !cJSON_IsNull(rf)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(t))
            return BAD("response_format", "invalid_type", "'response_format' must be an object with a \"type\"");
        if (strcmp(t->valuestring, "text") != 0)
            return BAD("response_format", "unsupported_value",
                       "'response_format' type '%.32s' is not supported; only \"text\"", t->valuestring);
    }
    int logprobs = 0;
    if (!get_bool(root, "logprobs", &logprobs, err)) return 0;
    if (logprobs) return BAD("logprobs", "unsupported_value", "'logprobs' is not supported");
    return 1;
}

/* ------------------------------------------------------------ the body */

int serve_parse_request(serve_kind kind, const char *body, size_t len, const serve_limits *lim, serve_request *r,
                        serve_error *err)
{
    memset(r, 0, sizeof *r);
    memset(err, 0, sizeof *err);
    r->kind = kind;
    r->sampling = lim->defaults;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int ok = 0;
    if (!root) {
        BAD(NULL, "invalid_json", "the request body is not valid JSON");
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        BAD(NULL, "invalid_type", "the request body must be a JSON object");
        goto done;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model)) {
            BAD("model", "invalid_type", "'model' must be a string");
            goto done;
        }
        if (!(r->model = dup_str(model->valuestring))) {
            serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
            goto done;
        }
    }
    if (!check_unsupported(root, err)) goto done;
    if (kind == SERVE_CHAT ? !get_messages(root, lim, r, err) : !get_prompt(root, r, err)) goto done;

    double d, mt = 0;
    vkllm_sampling *s = &r->sampling;
    if (!get_int(root, "max_tokens", 1, UINT32_MAX, &mt, err)) goto done;
    if (!get_int(root, "max_completion_tokens", 1, UINT32_MAX, &mt, err)) goto done;
    r->max_tokens = (uint32_t)mt;
    d = s->temperature;
    if (!get_number(root, "temperature", 0, 2, &d, err)) goto done;
    s->temperature = (float)d;
    d = s->top_p;
    if (!get_number(root, "top_p", 0, 1, &d, err)) goto done;
    if ((float)d <= 0) { /* 0, or so small it is 0 as the sampler's float */
        BAD("top_p", "invalid_value", "'top_p' is %g; it must be above 0 (at most 1); use temperature 0 for greedy",
            d);
        goto done;
    }
    s->top_p = (float)d;
    d = s->top_k;
    if (!get_int(root, "top_k", 0, 1e9, &d, err)) goto done;
    s->top_k = (int32_t)d;
    d = s->min_p;
    if (!get_number(root, "min_p", 0, 1, &d, err)) goto done;
    s->min_p = (float)d;
    d = s->frequency_penalty;
    if (!get_number(root, "frequency_penalty", -2, 2, &d, err)) goto done;
    s->frequency_penalty = (float)d;
    d = s->presence_penalty;
    if (!get_number(root, "presence_penalty", -2, 2, &d, err)) goto done;
    s->presence_penalty = (float)d;
    d = s->repeat_penalty;
    if (!get_number(root, "repeat_penalty", 0.01, 100, &d, err)) goto done;
    s->repeat_penalty = (float)d;
    d = s->repeat_last_n;
    if (!get_int(root, "repeat_last_n", 0, 1e9, &d, err)) goto done;
    s->repeat_last_n = (int32_t)d;
    d = 0;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed && !cJSON_IsNull(seed)) {
        if (!get_int(root, "seed", -9.2e18, 1.8e19, &d, err)) goto done;
        s->seed = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
        r->has_seed = 1;
    }
    if (!get_stop(root, lim, r, err)) goto done;
    if (!get_bool(root, "stream", &r->stream, err)) goto done;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            BAD("stream_options", "invalid_type", "'stream_options' must be an object");
            goto done;
        }
        if (!get_bool(so, "include_usage", &r->include_usage, err)) goto done;
    }
    ok = 1;
done:
    cJSON_Delete(root);
    if (!ok) serve_request_free(r);
    return ok;
}

/* ------------------------------------------------------------ auth */

int serve_auth_ok(const char *header, const char *api_key)
{
    if (!header || !api_key) return 0;
    if (strncasecmp(header, "Bearer ", 7) != 0) return 0;
    const char *given = header + 7;
    while (*given == ' ') given++;
    size_t n_given = strlen(given), n_key = strlen(api_key);
    /* every byte of the key is compared, whatever matched before */
    volatile unsigned char diff = (unsigned char)(n_given != n_key);
    for (size_t i = 0; i < n_key; i++) diff |= (unsigned char)(api_key[i] ^ (i < n_given ? given[i] : 0));
    return diff == 0;
}
