/* `vkllm serve`: options, loading, signals, start and stop (serve.h). */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h" /* cli_quant_ok, CLI_QUANT_HELP */
#include "serve.h"

double serve_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vkllm serve -m MODEL [options]\n"
            "  an OpenAI-compatible HTTP server: POST /v1/chat/completions, POST /v1/completions,\n"
            "  GET /v1/models[/ID], GET /health, GET /metrics, and a chat page at GET /\n"
            "  -m, --model MODEL     a .gguf file or a Hugging Face folder (with its tokenizer)\n"
            "  --host HOST           address to listen on (default 127.0.0.1: this machine only)\n"
            "  --port N              port (default 8080; 0: any free port, printed at start)\n"
            "  --api-key KEY         require 'Authorization: Bearer KEY' on /v1 routes\n"
            "                        (default: $VKLLM_API_KEY; none: no key needed)\n"
            "  --parallel N          slots: requests generated at once, each with its own KV cache,\n"
            "                        all decoding together in one batched step per token (default 4)\n"
            "  --prefill-chunk N     prompt tokens a slot adds to one step: a long prompt goes in\n"
            "                        chunks beside the other slots' decode tokens (default 64)\n"
            "  --queue N             requests that may wait for a slot; more get 503 (default 16)\n"
            "  --ctx N               context of each slot in tokens (default: the model's, at most 4096)\n"
            "  --template NAME       chat template: solar, llama2, mistral, chatml (default: the model's)\n"
            "  --alias NAME          the model's id in responses and /v1/models (default: the file name)\n"
            "  --max-body BYTES      largest request body (default 1048576); larger get 413\n"
            "  --timeout S           close connections idle (or this slow) for S seconds (default 30)\n"
            "  --device SEL          Vulkan device index or name substring (default: $VKLLM_DEVICE, else best)\n"
            CLI_QUANT_HELP
            "  -q, --quiet           no line per request on stderr\n"
            "  -h, --help            this text\n"
            "SIGINT / SIGTERM: stop accepting, end running generations at their next token\n"
            "(finish_reason \"length\"), answer queued requests 503, exit 0.\n"
            "Errors are OpenAI-shaped: {\"error\": {\"message\", \"type\", \"param\", \"code\"}}, by status:\n"
            "  400 invalid_json, invalid_type, missing_field, invalid_value, unsupported_value\n"
            "      (n other than 1, response_format other than text, logprobs), context_length_exceeded\n"
            "  401 invalid_api_key   404 not_found, model_not_found   405 method_not_allowed\n"
            "  413 request_too_large\n"
            "  503 model_loading, queue_full (with Retry-After), shutting_down   500 generation failed\n"
            "README.md (section Server) lists every route, request field and error.\n");
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || s[0] == '-' || v > max) return 0;
    *out = v;
    return 1;
}

/* 0: parsed; else the exit code. */
static int parse_opts(int argc, char **argv, serve_opts *o)
{
    *o = (serve_opts){ .host = "127.0.0.1", .port = 8080, .parallel = 4, .queue = 16, .timeout_s = 30, .prefill_chunk = 64,
                       .max_body = 1 << 20 };
    const char *env_key = getenv("VKLLM_API_KEY");
    if (env_key && *env_key) o->api_key = env_key;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n = 0;
        int ok = 1, takes = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "vkllm serve: unknown or incomplete option %s (try --help)\n", a);
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--api-key")) o->api_key = *v ? v : NULL;
        else if (!strcmp(a, "--template")) o->template_name = v;
        else if (!strcmp(a, "--alias")) o->alias = v;
        else if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--quant")) {
            if (!cli_quant_ok("serve", v)) return 2;
            o->quant = v;
        } else if (!strcmp(a, "--quant-search")) {
            if (!cli_search_ok("serve", a, v)) return 2;
            o->quant_search = v;
        }
        else if (!strcmp(a, "--port")) ok = parse_num(v, 65535, &n), o->port = (uint32_t)n;
        else if (!strcmp(a, "--parallel")) ok = parse_num(v, 256, &n) && n > 0, o->parallel = (uint32_t)n;
        else if (!strcmp(a, "--prefill-chunk")) ok = parse_num(v, 4096, &n) && n > 0, o->prefill_chunk = (uint32_t)n;
        else if (!strcmp(a, "--queue")) ok = parse_num(v, 100000, &n), o->queue = (uint32_t)n;
        else if (!strcmp(a, "--ctx")) ok = parse_num(v, 1u << 24, &n) && n > 0, o->n_ctx = (uint32_t)n;
        else if (!strcmp(a, "--timeout")) ok = parse_num(v, 86400, &n) && n > 0, o->timeout_s = (uint32_t)n;
        else if (!strcmp(a, "--max-body")) ok = parse_num(v, 1ull << 30, &n) && n > 0, o->max_body = (size_t)n;
        else {
            fprintf(stderr, "vkllm serve: unknown option %s (try --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vkllm serve: bad value '%s' for %s\n", v, a);
            return 2;
        }
        i += takes;
    }
    if (!o->model_path) {
        fprintf(stderr, "vkllm serve: which model? give -m MODEL (a .gguf file or a Hugging Face folder)\n");
        return 2;
    }
    if (o->quant_search && !o->quant) {
        fprintf(stderr, "vkllm serve: --quant-search chooses how --quant searches scales: give --quant TYPE too\n");
        return 2;
    }
    if (o->template_name && !vkllm_chat_end_of_turn(NULL, o->template_name)) {
        fprintf(stderr, "vkllm serve: unknown chat template '%s'; known: solar, llama2, mistral, chatml\n",
                o->template_name);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ loading */

static int load_progress(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total;
    server *srv = user;
    pthread_mutex_lock(&srv->mu);
    int stop = srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    return stop;
}

typedef struct loader {
    server *srv;
    int failed;
    char err[1024];
} loader;

static void model_id_from_path(server *srv)
{
    const char *p = srv->o.alias;
    char buf[512];
    if (!p) {
        snprintf(buf, sizeof buf, "%s", srv->o.model_path);
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
        p = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
    }
    snprintf(srv->model_id, sizeof srv->model_id, "%s", p);
}

static void *load_main(void *arg)
{
    loader *l = arg;
    server *srv = l->srv;
    vkllm_load_options lo = { .device = srv->o.device, .n_ctx = srv->o.n_ctx, .progress = load_progress,
                              .progress_user = srv, .quant = srv->o.quant,
                              .quant_search = srv->o.quant_search };
    double t0 = serve_now();
    vkllm_status s = vkllm_model_load(srv->o.model_path, &lo, &srv->model, l->err, sizeof l->err);
    if (s == VKLLM_OK && !(srv->tok = vkllm_model_tokenizer(srv->model))) {
        snprintf(l->err, sizeof l->err, "%s has no usable tokenizer: %s", srv->o.model_path,
                 vkllm_model_tokenizer_error(srv->model));
        s = VKLLM_ERR_FORMAT;
    }
    if (s == VKLLM_OK && !serve_slots_start(srv, l->err, sizeof l->err)) s = VKLLM_ERR_OUT_OF_MEMORY;
    if (s != VKLLM_OK) {
        pthread_mutex_lock(&srv->mu);
        l->failed = 1;
        pthread_mutex_unlock(&srv->mu);
        kill(getpid(), SIGTERM); /* wakes the main thread's sigwait */
        return NULL;
    }
    int recognised = 1;
    const char *tmpl = srv->o.template_name ? srv->o.template_name : vkllm_model_chat_template(srv->model, &recognised);
    srv->model_created = time(NULL);
    atomic_store(&srv->loaded, 1); /* after model, tok and slots: readers that see 1 see those */
    const vkllm_model_info *mi = vkllm_model_get_info(srv->model);
    fprintf(stderr, "vkllm serve: ready: %s (%s%s%s%s%s) on %s, %u slots of %u tokens, chat template %s%s (%.1f s)\n",
            srv->model_id, mi->weight_type, srv->o.quant ? ", quantized on load" : "", mi->quant_search[0] ? ", " : "",
            mi->quant_search, mi->quant_search[0] ? " search" : "",
            vkllm_model_device(srv->model)->name, srv->n_slots, srv->n_ctx, tmpl,
            recognised ? "" : " (the model's is missing or not recognised; --template to choose)", serve_now() - t0);
    return NULL;
}

/* ------------------------------------------------------------ the command */

int cmd_serve(int argc, char **argv)
{
    server *srv = calloc(1, sizeof *srv);
    if (!srv) return 1;
    int rc = parse_opts(argc, argv, &srv->o);
    if (rc) {
        free(srv);
        return rc < 0 ? 0 : rc;
    }
    srv->limits = (serve_limits){ .max_stop = 16, .max_stop_bytes = 256, .max_messages = 4096 };
    srv->limits.defaults = vkllm_sampling_default();
    srv->limits.defaults.repeat_penalty = 1.0f; /* OpenAI's semantics: no penalty unless asked */
    model_id_from_path(srv);
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->gpu_mu, NULL);
    pthread_cond_init(&srv->gpu_cv, NULL);
    pthread_cond_init(&srv->idle_cv, NULL);

    /* signals go to sigwait below, never to a handler in another thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    struct MHD_Daemon *d = serve_http_start(srv, err, sizeof err);
    if (!d) {
        fprintf(stderr, "vkllm serve: %s\n", err);
        free(srv);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : srv->o.port;
    fprintf(stderr, "vkllm serve: listening on http://%s%s%s:%u/ (loading %s)\n", strchr(srv->o.host, ':') ? "[" : "",
            srv->o.host, strchr(srv->o.host, ':') ? "]" : "", port, srv->o.model_path);

    loader l = { .srv = srv };
    pthread_t lt;
    int have_loader = pthread_create(&lt, NULL, load_main, &l) == 0;
    if (!have_loader) {
        snprintf(l.err, sizeof l.err, "cannot start the loading thread");
        l.failed = 1;
    }
    int sig = 0;
    if (have_loader) sigwait(&sigs, &sig);
    pthread_mutex_lock(&srv->mu);
    int load_failed = l.failed; /* before the signal: a real failure; after: the cancelled load */
    pthread_mutex_unlock(&srv->mu);

    /* stop accepting, end what runs, then close */
    MHD_socket ls = MHD_quiesce_daemon(d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    serve_fail_queued(srv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    while (srv->active_responses > 0)
        if (pthread_cond_timedwait(&srv->idle_cv, &srv->mu, &until) == ETIMEDOUT) break;
    pthread_mutex_unlock(&srv->mu);
    if (have_loader) pthread_join(lt, NULL);
    MHD_stop_daemon(d);
    serve_slots_stop(srv);
    int bad = load_failed;
    if (load_failed) fprintf(stderr, "vkllm serve: %s\n", l.err);
    else if (sig) fprintf(stderr, "vkllm serve: %s: stopped\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    const char *first = NULL;
    uint32_t nv = srv->model ? vkllm_model_validation_messages(srv->model, &first) : 0;
    if (nv) {
        fprintf(stderr, "vkllm serve: the Vulkan validation layer reported %u message(s); the first: %s\n", nv,
                first ? first : "");
        bad = 1;
    }
    vkllm_model_free(srv->model);
    pthread_cond_destroy(&srv->idle_cv);
    pthread_cond_destroy(&srv->gpu_cv);
    pthread_mutex_destroy(&srv->gpu_mu);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    return bad ? 1 : 0;
}
