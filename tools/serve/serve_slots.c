/* `vkllm serve`: slots, the queue, the GPU turn lock and the generation of
 * one job (serve.h says who locks what). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* ------------------------------------------------------------ GPU turns */

/* Tickets: whoever asked first runs first, so a slot that hands the queue
 * over after a token gets it back only after every waiting slot had a turn. */
static void gpu_lock(server *srv)
{
    pthread_mutex_lock(&srv->gpu_mu);
    uint64_t ticket = srv->gpu_next++;
    while (srv->gpu_serving != ticket) pthread_cond_wait(&srv->gpu_cv, &srv->gpu_mu);
    pthread_mutex_unlock(&srv->gpu_mu);
}

static void gpu_unlock(server *srv)
{
    pthread_mutex_lock(&srv->gpu_mu);
    srv->gpu_serving++;
    pthread_cond_broadcast(&srv->gpu_cv);
    pthread_mutex_unlock(&srv->gpu_mu);
}

/* ------------------------------------------------------------ jobs, queue */

void serve_job_release(server *srv, job *j)
{
    (void)srv;
    if (!j || --j->refs > 0) return;
    serve_request_free(&j->req);
    free(j->ids);
    free(j->out);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* Hands queued jobs to idle slots: each to the idle slot whose cache holds
 * mostly the start of its prompt (at least half of what the slot holds: the
 * same conversation), the longest such prefix first; else to the least
 * recently used idle slot, so one conversation does not evict another that
 * merely shares the template's first tokens. */
static void dispatch(server *srv)
{
    while (srv->q_head) {
        job *j = srv->q_head;
        slot *best = NULL;
        size_t best_common = 0;
        for (uint32_t i = 0; i < srv->n_slots; i++) {
            slot *s = &srv->slots[i];
            if (s->job) continue;
            size_t c = common_prefix(s->tokens, s->n_tokens, j->ids, j->n_ids);
            if (2 * c < s->n_tokens) c = 0; /* another conversation's cache */
            if (!best || c > best_common || (c == best_common && s->last_used < best->last_used)) {
                best = s;
                best_common = c;
            }
        }
        if (!best) return;
        srv->q_head = j->next;
        if (!srv->q_head) srv->q_tail = NULL;
        srv->q_len--;
        j->next = NULL;
        best->job = j;
        best->last_used = ++srv->assign_counter;
        j->slot = best->index;
        j->state = JOB_RUNNING;
        pthread_cond_signal(&best->cv);
        pthread_cond_broadcast(&j->cv);
    }
}

int serve_enqueue(server *srv, job *j)
{
    uint32_t idle = 0;
    for (uint32_t i = 0; i < srv->n_slots; i++) idle += srv->slots[i].job == NULL;
    if (!idle && srv->q_len >= srv->o.queue) return 0;
    j->refs++;
    j->state = JOB_QUEUED;
    j->t_start = serve_now();
    if (srv->q_tail) srv->q_tail->next = j;
    else srv->q_head = j;
    srv->q_tail = j;
    srv->q_len++;
    dispatch(srv);
    return 1;
}

void serve_dequeue(server *srv, job *j)
{
    if (j->state != JOB_QUEUED) return;
    for (job **p = &srv->q_head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
        if (*p != j) continue;
        *p = j->next;
        if (srv->q_tail == j) srv->q_tail = prev;
        srv->q_len--;
        j->next = NULL;
        serve_error_set(&j->error, 499, "invalid_request_error", NULL, "client_closed", "the client went away");
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cv);
        serve_job_release(srv, j);
        return;
    }
}

void serve_fail_queued(server *srv)
{
    while (srv->q_head) {
        job *j = srv->q_head;
        srv->q_head = j->next;
        srv->q_len--;
        serve_error_set(&j->error, 503, "server_error", NULL, "shutting_down",
                        "the server is shutting down; try again when it is back");
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cv);
        serve_job_release(srv, j);
    }
    srv->q_tail = NULL;
}

/* ------------------------------------------------------------ output */

static void out_append(job *j, const char *s, size_t n)
{
    if (j->out_len + n + 1 > j->out_cap) {
        size_t cap = (j->out_len + n + 1) * 2;
        char *b = realloc(j->out, cap);
        if (!b) {
            j->oom = 1;
            return;
        }
        j->out = b;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, s, n);
    j->out_len += n;
    j->out[j->out_len] = '\0';
}

static void out_append_owned(job *j, char *s)
{
    if (!s) {
        j->oom = 1;
        return;
    }
    out_append(j, s, strlen(s));
    free(s);
}

/* ------------------------------------------------------------ running a job */

typedef struct run_ctx {
    server *srv;
    slot *sl;
    job *j;
} run_ctx;

static void rate_add(server *srv, uint64_t n)
{
    double now = serve_now();
    if (srv->rate_t0 == 0) srv->rate_t0 = now;
    srv->rate_tokens += n;
    if (now - srv->rate_t0 >= 2.0) {
        srv->rate = srv->rate_tokens / (now - srv->rate_t0);
        srv->rate_t0 = now;
        srv->rate_tokens = 0;
    }
}

static int on_token(int32_t token, const char *text, size_t len, void *user)
{
    run_ctx *c = user;
    server *srv = c->srv;
    job *j = c->j;
    pthread_mutex_lock(&srv->mu);
    if (token >= 0) {
        if (c->sl->n_tokens < srv->n_ctx) c->sl->tokens[c->sl->n_tokens++] = token;
        rate_add(srv, 1);
    }
    if (len) {
        if (j->req.stream) out_append_owned(j, serve_chunk(srv, j, text, len, NULL));
        else out_append(j, text, len);
        pthread_cond_broadcast(&j->cv);
    }
    int stop = j->cancelled || srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    if (token >= 0 && !stop) { /* let the other slots run a token */
        gpu_unlock(srv);
        gpu_lock(srv);
    }
    return stop;
}

static void run_job(server *srv, slot *sl, job *j)
{
    pthread_mutex_lock(&srv->mu);
    sl->n_tokens = j->n_ids < srv->n_ctx ? j->n_ids : srv->n_ctx;
    memcpy(sl->tokens, j->ids, sl->n_tokens * sizeof *sl->tokens);
    if (j->req.stream && j->req.kind == SERVE_CHAT) out_append_owned(j, serve_chunk(srv, j, "", 0, NULL));
    int cancelled = j->cancelled || srv->stopping;
    pthread_mutex_unlock(&srv->mu);

    const char *eot = j->req.kind == SERVE_CHAT ? vkllm_chat_end_of_turn(srv->model, srv->o.template_name) : NULL;
    const char **stops = malloc((j->req.n_stop + 1) * sizeof *stops);
    size_t n_stop = 0;
    for (size_t i = 0; stops && i < j->req.n_stop; i++) stops[n_stop++] = j->req.stop[i];
    if (stops && eot) stops[n_stop++] = eot;
    run_ctx c = { srv, sl, j };
    vkllm_generate_options go = {
        .sampling = j->req.sampling, .max_tokens = j->req.max_tokens, .stop = stops, .n_stop = n_stop,
        .on_token = on_token, .user = &c,
    };
    vkllm_generate_stats st = { 0 };
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (stops && !cancelled) {
        gpu_lock(srv);
        s = vkllm_generate(sl->sess, j->ids, j->n_ids, &go, &st);
        gpu_unlock(srv);
    }
    free(stops);

    pthread_mutex_lock(&srv->mu);
    j->stats = st;
    if (cancelled && !j->cancelled) {
        serve_error_set(&j->error, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
    } else if (cancelled) {
        serve_error_set(&j->error, 499, "invalid_request_error", NULL, "client_closed", "the client went away");
    } else if (s != VKLLM_OK || j->oom) {
        serve_error_set(&j->error, 500, "server_error", NULL, NULL, "generation failed: %s",
                        s != VKLLM_OK ? vkllm_session_error(sl->sess) : "out of host memory");
        vkllm_session_rewind(sl->sess, 0);
        sl->n_tokens = 0;
    }
    /* a stop at the model's end or a stop string is "stop"; anything that cut
     * the answer short (max_tokens, a full context, shutdown) is "length" */
    j->finish_reason = st.reason == VKLLM_STOP_EOS || st.reason == VKLLM_STOP_STRING ? "stop" : "length";
    if (j->req.stream) {
        if (j->error.status) out_append_owned(j, serve_stream_error(&j->error));
        else out_append_owned(j, serve_chunk(srv, j, NULL, 0, j->finish_reason));
        if (j->req.include_usage && !j->error.status) out_append_owned(j, serve_usage_chunk(srv, j));
        out_append(j, "data: [DONE]\n\n", 14);
    }
    srv->prompt_tokens += j->n_ids;
    srv->prompt_tokens_evaluated += st.n_prompt;
    srv->generated_tokens += st.n_generated;
    srv->busy_s += st.prompt_s + st.gen_s;
    srv->requests_done++;
    double dt = serve_now() - j->t_start;
    srv->job_s_avg = srv->requests_done == 1 ? dt : 0.9 * srv->job_s_avg + 0.1 * dt;
    if (!srv->o.quiet)
        fprintf(stderr, "vkllm serve: %s slot %d: prompt %zu tokens (%u cached), %u generated, %s, %.2f s%s\n",
                j->id, sl->index, j->n_ids, st.n_reused, st.n_generated,
                j->error.status ? j->error.message : j->finish_reason, dt, j->cancelled ? " (client gone)" : "");
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&srv->mu);
}

typedef struct slot_arg {
    server *srv;
    slot *sl;
} slot_arg;

static void *slot_thread(void *arg)
{
    slot_arg a = *(slot_arg *)arg;
    free(arg);
    server *srv = a.srv;
    slot *sl = a.sl;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (!sl->job && !srv->quit) pthread_cond_wait(&sl->cv, &srv->mu);
        if (!sl->job) break;
        job *j = sl->job;
        pthread_mutex_unlock(&srv->mu);
        run_job(srv, sl, j);
        pthread_mutex_lock(&srv->mu);
        sl->job = NULL;
        serve_job_release(srv, j);
        dispatch(srv);
        pthread_cond_broadcast(&srv->idle_cv);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

int serve_slots_start(server *srv, char *err, size_t err_len)
{
    srv->slots = calloc(srv->o.parallel, sizeof *srv->slots);
    if (!srv->slots) {
        snprintf(err, err_len, "out of host memory");
        return 0;
    }
    vkllm_session_options so = { .n_ctx = srv->o.n_ctx };
    for (uint32_t i = 0; i < srv->o.parallel; i++) {
        slot *s = &srv->slots[i];
        s->index = (int)i;
        pthread_cond_init(&s->cv, NULL);
        vkllm_status st = vkllm_session_create(srv->model, &so, &s->sess, err, err_len);
        if (st != VKLLM_OK) {
            size_t n = strlen(err);
            snprintf(err + n, err_len - n, " (slot %u of %u; use fewer --parallel slots or a smaller --ctx)", i + 1,
                     srv->o.parallel);
            pthread_mutex_lock(&srv->mu);
            srv->n_slots = i + 1;
            pthread_mutex_unlock(&srv->mu);
            return 0;
        }
        srv->n_ctx = vkllm_session_n_ctx(s->sess);
        s->tokens = malloc(srv->n_ctx * sizeof *s->tokens);
        pthread_mutex_lock(&srv->mu); /* /metrics reads the slots meanwhile */
        srv->n_slots = i + 1;
        pthread_mutex_unlock(&srv->mu);
        slot_arg *a = malloc(sizeof *a);
        if (!s->tokens || !a) {
            free(a);
            snprintf(err, err_len, "out of host memory");
            return 0;
        }
        *a = (slot_arg){ srv, s };
        if (pthread_create(&s->thread, NULL, slot_thread, a) != 0) {
            free(a);
            snprintf(err, err_len, "cannot start a slot thread");
            return 0;
        }
        s->thread_started = 1;
    }
    return 1;
}

void serve_slots_stop(server *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->quit = 1;
    for (uint32_t i = 0; i < srv->n_slots; i++) pthread_cond_signal(&srv->slots[i].cv);
    pthread_mutex_unlock(&srv->mu);
    for (uint32_t i = 0; i < srv->n_slots; i++) {
        slot *s = &srv->slots[i];
        if (s->thread_started) pthread_join(s->thread, NULL);
        vkllm_session_free(s->sess);
        free(s->tokens);
        pthread_cond_destroy(&s->cv);
    }
    free(srv->slots);
    srv->slots = NULL;
    srv->n_slots = 0;
}
