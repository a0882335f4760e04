/* `vkllm serve`: the routes (libmicrohttpd callbacks), OpenAI-shaped
 * responses, server-sent events and the Prometheus metrics. */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve.h"

extern const unsigned char serve_page_html[];
extern const size_t serve_page_html_len;

typedef enum route {
    R_NONE,
    R_PAGE,        /* GET / */
    R_HEALTH,      /* GET /health */
    R_METRICS,     /* GET /metrics */
    R_MODELS,      /* GET /v1/models */
    R_MODEL,       /* GET /v1/models/{id} */
    R_CHAT,        /* POST /v1/chat/completions */
    R_COMPLETIONS, /* POST /v1/completions */
} route;

static const struct {
    const char *path;
    route r;
    int post;
} routes[] = {
    { "/", R_PAGE, 0 },
    { "/health", R_HEALTH, 0 },
    { "/metrics", R_METRICS, 0 },
    { "/v1/models", R_MODELS, 0 },
    { "/v1/chat/completions", R_CHAT, 1 },
    { "/v1/completions", R_COMPLETIONS, 1 },
};

/* Per request (MHD's con_cls). */
typedef struct conn {
    route r;
    int post;
    char *body;
    size_t len, cap;
    int too_big;
    int counted; /* counts in srv->active_responses */
} conn;

static const int status_codes[SERVE_N_STATUS] = { 200, 204, 400, 401, 404, 405, 413, 500, 503, 0 };

static void count_status(server *srv, int status)
{
    int i = 0;
    while (i < SERVE_N_STATUS - 1 && status_codes[i] != status) i++;
    pthread_mutex_lock(&srv->mu);
    srv->status_count[i]++;
    pthread_mutex_unlock(&srv->mu);
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_response(server *srv, struct MHD_Connection *c, int status, const char *ctype, void *buf,
                                     size_t len, enum MHD_ResponseMemoryMode mode, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r) return MHD_NO;
    if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST, OPTIONS");
    if (status == 204) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    count_status(srv, status);
    return ret;
}

static enum MHD_Result send_json(server *srv, struct MHD_Connection *c, int status, cJSON *obj, const char *retry)
{
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!s) return MHD_NO;
    return send_response(srv, c, status, "application/json", s, strlen(s), MHD_RESPMEM_MUST_FREE, retry);
}

static cJSON *error_json(const serve_error *e)
{
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code[0]) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    return root;
}

static enum MHD_Result send_error(server *srv, struct MHD_Connection *c, const serve_error *e, const char *retry)
{
    return send_json(srv, c, e->status, error_json(e), retry);
}

/* Sends an error built from a printf-style message. */
#define FAIL(status, type, code, retry, ...)                                  \
    do {                                                                      \
        serve_error e_;                                                       \
        serve_error_set(&e_, status, type, NULL, code, __VA_ARGS__);          \
        return send_error(srv, c, &e_, retry);                                \
    } while (0)

/* ------------------------------------------------------------ JSON shapes */

static cJSON *base_object(server *srv, const job *j, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", srv->model_id);
    return o;
}

static cJSON *usage_json(const job *j)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->n_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", j->stats.n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->n_ids + j->stats.n_generated));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->stats.n_reused);
    return u;
}

/* A string of len bytes (may hold no NUL) as a JSON string item. */
static cJSON *string_n(const char *s, size_t len)
{
    char *t = malloc(len + 1);
    if (!t) return NULL;
    memcpy(t, s, len);
    t[len] = '\0';
    cJSON *v = cJSON_CreateString(t);
    free(t);
    return v;
}

static char *sse(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *e = malloc(n + 9);
    if (e) {
        memcpy(e, "data: ", 6);
        memcpy(e + 6, s, n);
        memcpy(e + 6 + n, "\n\n", 3);
    }
    free(s);
    return e;
}

char *serve_chunk(server *srv, const job *j, const char *text, size_t len, const char *finish_reason)
{
    int chat = j->req.kind == SERVE_CHAT;
    cJSON *o = base_object(srv, j, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    if (chat) {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (text && len == 0) cJSON_AddStringToObject(delta, "role", "assistant");
        if (text) cJSON_AddItemToObject(delta, "content", string_n(text, len));
    } else {
        cJSON_AddItemToObject(ch, "text", string_n(text ? text : "", len));
    }
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish_reason) cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(ch, "finish_reason");
    return sse(o);
}

char *serve_usage_chunk(server *srv, const job *j)
{
    cJSON *o = base_object(srv, j, j->req.kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    return sse(o);
}

char *serve_stream_error(const serve_error *e) { return sse(error_json(e)); }

/* The whole answer of a request that did not stream. */
static cJSON *completion_json(server *srv, const job *j)
{
    int chat = j->req.kind == SERVE_CHAT;
    cJSON *o = base_object(srv, j, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *text = string_n(j->out ? j->out : "", j->out_len);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddItemToObject(msg, "content", text);
    } else {
        cJSON_AddItemToObject(ch, "text", text);
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", j->finish_reason);
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    return o;
}

/* ------------------------------------------------------------ metrics */

char *serve_metrics_text(server *srv)
{
    size_t cap = 8192;
    char *b = malloc(cap);
    if (!b) return NULL;
    size_t n = 0;
#define P(...) n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__)
    pthread_mutex_lock(&srv->gpu_mu); /* not nested with mu */
    unsigned long long steps = srv->steps, step_rows = srv->step_rows, step_seqs = srv->step_seqs;
    pthread_mutex_unlock(&srv->gpu_mu);
    pthread_mutex_lock(&srv->mu);
    uint32_t busy = 0;
    for (uint32_t i = 0; i < srv->n_slots; i++) busy += srv->slots[i].job != NULL;
    double rate = serve_now() - srv->rate_t0 > 10.0 ? 0.0 : srv->rate;
    P("# HELP vkllm_requests_total HTTP responses sent, by status code.\n# TYPE vkllm_requests_total counter\n");
    for (int i = 0; i < SERVE_N_STATUS; i++)
        if (status_codes[i]) P("vkllm_requests_total{status=\"%d\"} %llu\n", status_codes[i],
                               (unsigned long long)srv->status_count[i]);
        else P("vkllm_requests_total{status=\"other\"} %llu\n", (unsigned long long)srv->status_count[i]);
    P("# HELP vkllm_prompt_tokens_total Prompt tokens of finished generations (cached ones included).\n"
      "# TYPE vkllm_prompt_tokens_total counter\nvkllm_prompt_tokens_total %llu\n",
      (unsigned long long)srv->prompt_tokens);
    P("# HELP vkllm_prompt_tokens_evaluated_total Prompt tokens evaluated (not found in a slot's cache).\n"
      "# TYPE vkllm_prompt_tokens_evaluated_total counter\nvkllm_prompt_tokens_evaluated_total %llu\n",
      (unsigned long long)srv->prompt_tokens_evaluated);
    P("# HELP vkllm_generated_tokens_total Tokens generated.\n# TYPE vkllm_generated_tokens_total counter\n"
      "vkllm_generated_tokens_total %llu\n", (unsigned long long)srv->generated_tokens);
    P("# HELP vkllm_generations_total Generations finished.\n# TYPE vkllm_generations_total counter\n"
      "vkllm_generations_total %llu\n", (unsigned long long)srv->requests_done);
    P("# HELP vkllm_busy_seconds_total Seconds slots spent on prompts and generation (summed over slots).\n"
      "# TYPE vkllm_busy_seconds_total counter\nvkllm_busy_seconds_total %.3f\n", srv->busy_s);
    P("# HELP vkllm_queue_depth Requests waiting for a slot.\n# TYPE vkllm_queue_depth gauge\nvkllm_queue_depth %u\n",
      srv->q_len);
    P("# HELP vkllm_slots_busy Slots generating.\n# TYPE vkllm_slots_busy gauge\nvkllm_slots_busy %u\n", busy);
    P("# HELP vkllm_slots_total Slots (--parallel).\n# TYPE vkllm_slots_total gauge\nvkllm_slots_total %u\n",
      srv->n_slots);
    P("# HELP vkllm_tokens_per_second Tokens generated per second over the last seconds, all slots together.\n"
      "# TYPE vkllm_tokens_per_second gauge\nvkllm_tokens_per_second %.3f\n", rate);
    P("# HELP vkllm_batch_steps_total Batched device steps (one forward pass over the rows of every slot "
      "that had one).\n# TYPE vkllm_batch_steps_total counter\nvkllm_batch_steps_total %llu\n", steps);
    P("# HELP vkllm_batch_sequences_total Slot rows summed over steps (over steps: sequences per step).\n"
      "# TYPE vkllm_batch_sequences_total counter\nvkllm_batch_sequences_total %llu\n", step_seqs);
    P("# HELP vkllm_batch_tokens_total Tokens summed over steps (decode tokens and prompt chunks).\n"
      "# TYPE vkllm_batch_tokens_total counter\nvkllm_batch_tokens_total %llu\n", step_rows);
    P("# HELP vkllm_model_loaded 1 once the model is loaded.\n# TYPE vkllm_model_loaded gauge\n"
      "vkllm_model_loaded %d\n", atomic_load(&srv->loaded));
    pthread_mutex_unlock(&srv->mu);
#undef P
    if (n >= cap) { /* the text is bounded; a larger buffer would be a mistake above */
        free(b);
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------ generation routes */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Renders and tokenizes the request's prompt into j->ids; 0 with *e on failure. */
static int prepare(server *srv, job *j, serve_error *e)
{
    char err[1024];
    char *text = NULL;
    unsigned flags = vkllm_tokenizer_adds_bos(srv->tok) ? VKLLM_TOKENIZE_BOS : 0;
    const char *param = j->req.kind == SERVE_CHAT ? "messages" : "prompt";
    if (j->req.kind == SERVE_CHAT) {
        vkllm_status s = vkllm_chat_render(srv->model, srv->o.template_name, j->req.msgs, j->req.n_msgs, 1, &text,
                                           err, sizeof err);
        if (s != VKLLM_OK) {
            serve_error_set(e, s == VKLLM_ERR_INVALID_ARG ? 400 : 500,
                            s == VKLLM_ERR_INVALID_ARG ? "invalid_request_error" : "server_error", "messages",
                            "invalid_value", "%s", err);
            return 0;
        }
        flags |= VKLLM_TOKENIZE_SPECIAL;
    }
    const char *p = text ? text : j->req.prompt;
    vkllm_status s = vkllm_tokenize(srv->tok, p, strlen(p), flags, &j->ids, &j->n_ids, err, sizeof err);
    vkllm_free(text);
    if (s != VKLLM_OK) {
        serve_error_set(e, 500, "server_error", param, NULL, "%s", err);
        return 0;
    }
    if (j->n_ids == 0) { /* a vocabulary without BOS and an empty prompt: nothing to continue from */
        serve_error_set(e, 400, "invalid_request_error", param, "invalid_value", "the prompt is empty");
        return 0;
    }
    if (j->n_ids >= srv->n_ctx) {
        serve_error_set(e, 400, "invalid_request_error", param, "context_length_exceeded",
                        "this model's context holds %u tokens per slot, but the %s has %zu tokens (one more is "
                        "needed to generate); shorten it, or start the server with a larger --ctx",
                        srv->n_ctx, j->req.kind == SERVE_CHAT ? "conversation" : "prompt", j->n_ids);
        return 0;
    }
    return 1;
}

static job *job_new(server *srv, serve_request *req)
{
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->srv = srv;
    j->refs = 1;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->slot = -1;
    j->created = time(NULL);
    pthread_cond_init(&j->cv, NULL);
    static uint64_t counter; /* under srv->mu */
    pthread_mutex_lock(&srv->mu);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)++counter << 32) ^ (uint64_t)(uintptr_t)j;
    uint64_t r1 = splitmix(&seed), r2 = splitmix(&seed);
    pthread_mutex_unlock(&srv->mu);
    snprintf(j->id, sizeof j->id, "%s-%016llx%08llx", j->req.kind == SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)r1, (unsigned long long)(r2 & 0xffffffffu));
    if (!j->req.has_seed) j->req.sampling.seed = r2;
    return j;
}

/* Content reader of a stream: what the slot appended, until the job ends. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    job *j = cls;
    server *srv = j->srv;
    pthread_mutex_lock(&srv->mu);
    while (j->out_sent == j->out_len && j->state != JOB_DONE) pthread_cond_wait(&j->cv, &srv->mu);
    size_t n = j->out_len - j->out_sent;
    if (n == 0) {
        pthread_mutex_unlock(&srv->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n > max) n = max;
    memcpy(buf, j->out + j->out_sent, n);
    j->out_sent += n;
    if (j->out_sent == j->out_len) j->out_sent = j->out_len = 0;
    pthread_mutex_unlock(&srv->mu);
    return (ssize_t)n;
}

/* The stream's response is gone: sent, or the client disconnected. */
static void stream_free(void *cls)
{
    job *j = cls;
    server *srv = j->srv;
    pthread_mutex_lock(&srv->mu);
    j->cancelled = 1;
    serve_job_release(srv, j);
    pthread_mutex_unlock(&srv->mu);
}

static enum MHD_Result handle_generate(server *srv, struct MHD_Connection *c, conn *cx)
{
    if (!atomic_load(&srv->loaded))
        FAIL(503, "server_error", "model_loading", "5", "the model is still loading; try again soon");
    serve_request req;
    serve_error e;
    if (!serve_parse_request(cx->r == R_CHAT ? SERVE_CHAT : SERVE_COMPLETION, cx->body ? cx->body : "", cx->len,
                             &srv->limits, &req, &e))
        return send_error(srv, c, &e, NULL);
    job *j = job_new(srv, &req);
    if (!j) {
        serve_request_free(&req);
        FAIL(500, "server_error", NULL, NULL, "out of host memory");
    }
    if (!prepare(srv, j, &e)) {
        pthread_mutex_lock(&srv->mu);
        serve_job_release(srv, j);
        pthread_mutex_unlock(&srv->mu);
        return send_error(srv, c, &e, NULL);
    }
    pthread_mutex_lock(&srv->mu);
    int queued = !srv->stopping && serve_enqueue(srv, j);
    if (!queued) {
        int stopping = srv->stopping;
        char retry[32];
        snprintf(retry, sizeof retry, "%d", 1 + (int)(srv->job_s_avg * (srv->q_len + 1) / (srv->n_slots ? srv->n_slots : 1)));
        serve_job_release(srv, j);
        pthread_mutex_unlock(&srv->mu);
        if (stopping)
            FAIL(503, "server_error", "shutting_down", NULL, "the server is shutting down");
        FAIL(503, "server_error", "queue_full", retry,
             "all slots are busy and the queue is full; retry after %s s", retry);
    }
    srv->active_responses++;
    cx->counted = 1;
    /* a generation may wait and run longer than the idle timeout allows */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
    /* a stream is answered once it runs, so a refusal still gets its status;
     * meanwhile (and for a whole answer) a client that hangs up is noticed */
    int fd = -1;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) fd = ci->connect_fd;
    double polled = serve_now();
    while (j->req.stream ? j->state == JOB_QUEUED : j->state != JOB_DONE) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &srv->mu, &until); /* woken by each token too */
        if (fd < 0 || j->cancelled || serve_now() - polled < 0.2) continue;
        polled = serve_now();
        struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            j->cancelled = 1; /* a running job stops at its next token */
            serve_dequeue(srv, j);
        }
    }
    int failed_early = j->error.status && (!j->req.stream || j->state == JOB_DONE);
    if (failed_early || !j->req.stream) {
        serve_error err = j->error;
        cJSON *o = failed_early ? NULL : completion_json(srv, j);
        serve_job_release(srv, j);
        pthread_mutex_unlock(&srv->mu);
        if (failed_early) return send_error(srv, c, &err, NULL);
        return send_json(srv, c, 200, o, NULL);
    }
    pthread_mutex_unlock(&srv->mu);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, j, stream_free);
    if (!r) {
        stream_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    count_status(srv, 200);
    return ret;
}

/* ------------------------------------------------------------ other routes */

static cJSON *model_json(server *srv)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)srv->model_created);
    cJSON_AddStringToObject(m, "owned_by", "vkllm");
    cJSON_AddNumberToObject(m, "context_length", srv->n_ctx);
    return m;
}

static enum MHD_Result handle_get(server *srv, struct MHD_Connection *c, route r, const char *url)
{
    switch (r) {
    case R_PAGE:
        return send_response(srv, c, 200, "text/html; charset=utf-8", (void *)serve_page_html, serve_page_html_len,
                             MHD_RESPMEM_PERSISTENT, NULL);
    case R_HEALTH: {
        cJSON *o = cJSON_CreateObject();
        int loaded = atomic_load(&srv->loaded);
        cJSON_AddStringToObject(o, "status", loaded ? "ok" : "loading");
        return send_json(srv, c, loaded ? 200 : 503, o, loaded ? NULL : "5");
    }
    case R_METRICS: {
        char *t = serve_metrics_text(srv);
        if (!t) return MHD_NO;
        return send_response(srv, c, 200, "text/plain; version=0.0.4", t, strlen(t), MHD_RESPMEM_MUST_FREE, NULL);
    }
    case R_MODELS:
    case R_MODEL: {
        if (!atomic_load(&srv->loaded))
            FAIL(503, "server_error", "model_loading", "5", "the model is still loading");
        if (r == R_MODEL) {
            const char *id = url + strlen("/v1/models/");
            if (strcmp(id, srv->model_id) != 0)
                FAIL(404, "invalid_request_error", "model_not_found", NULL,
                     "no model '%.200s' here; this server has '%s'", id, srv->model_id);
            return send_json(srv, c, 200, model_json(srv), NULL);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_json(srv));
        return send_json(srv, c, 200, o, NULL);
    }
    default: return MHD_NO;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *srv = cls;
    conn *cx = *con_cls;
    if (!cx) { /* headers are in; the body (if any) comes in the next calls */
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        *con_cls = cx;
        size_t i = 0;
        while (i < sizeof routes / sizeof *routes && strcmp(routes[i].path, url) != 0) i++;
        int model_route = i == sizeof routes / sizeof *routes && !strncmp(url, "/v1/models/", 11) && url[11];
        if (i == sizeof routes / sizeof *routes && !model_route)
            FAIL(404, "invalid_request_error", "not_found", NULL,
                 "unknown route %s %.200s; the routes are GET /, /health, /metrics, /v1/models[/ID] and POST "
                 "/v1/chat/completions, /v1/completions",
                 method, url);
        cx->r = model_route ? R_MODEL : routes[i].r;
        cx->post = model_route ? 0 : routes[i].post;
        if (!strcmp(method, "OPTIONS")) return send_response(srv, c, 204, NULL, NULL, 0, MHD_RESPMEM_PERSISTENT, NULL);
        int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        if (cx->post ? strcmp(method, "POST") != 0 : !is_get)
            FAIL(405, "invalid_request_error", "method_not_allowed", NULL,
                 "%s is not allowed on %.200s", method, url);
        if (srv->o.api_key && !strncmp(url, "/v1/", 4) &&
            !serve_auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                           srv->o.api_key))
            FAIL(401, "authentication_error", "invalid_api_key", NULL,
                 "missing or wrong API key: send the header 'Authorization: Bearer KEY'");
        if (!cx->post) return handle_get(srv, c, cx->r, url);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->o.max_body) {
            FAIL(413, "invalid_request_error", "request_too_large", NULL,
                 "the request body is larger than %zu bytes (--max-body)", srv->o.max_body);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cx->too_big || cx->len + n > srv->o.max_body) {
            cx->too_big = 1;
            free(cx->body);
            cx->body = NULL;
            cx->len = cx->cap = 0;
            return MHD_YES;
        }
        if (cx->len + n + 1 > cx->cap) {
            size_t cap = (cx->len + n + 1) * 2;
            char *b = realloc(cx->body, cap);
            if (!b) return MHD_NO;
            cx->body = b;
            cx->cap = cap;
        }
        memcpy(cx->body + cx->len, upload, n);
        cx->len += n;
        return MHD_YES;
    }
    if (cx->too_big) {
        FAIL(413, "invalid_request_error", "request_too_large", NULL,
             "the request body is larger than %zu bytes (--max-body)", srv->o.max_body);
    }
    return handle_generate(srv, c, cx);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    server *srv = cls;
    conn *cx = *con_cls;
    if (!cx) return;
    if (cx->counted) {
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, srv->o.timeout_s);
        pthread_mutex_lock(&srv->mu);
        srv->active_responses--;
        pthread_cond_broadcast(&srv->idle_cv);
        pthread_mutex_unlock(&srv->mu);
    }
    free(cx->body);
    free(cx);
    *con_cls = NULL;
}

struct MHD_Daemon *serve_http_start(server *srv, char *err, size_t err_len)
{
    char port[16];
    snprintf(port, sizeof port, "%u", srv->o.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(srv->o.host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, err_len, "cannot resolve --host %s: %s", srv->o.host, gai_strerror(gai));
        return NULL;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)srv->o.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)(srv->o.parallel + srv->o.queue + 64), MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END); /* (no LISTENING_ADDRESS_REUSE: it would let a second server share the port) */
    freeaddrinfo(ai);
    if (!d) snprintf(err, err_len, "cannot listen on %s port %u (in use, or not an address of this machine)",
                     srv->o.host, srv->o.port);
    return d;
}
