/* `vkllm serve`: slots, the queue, the batched steps and the generation of
 * one job (serve.h says who locks what). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* ------------------------------------------------------------ batched steps */

/* How long a posted row waits for the generating slots that have not
 * posted yet (sampling, streaming out the last token) before the step runs
 * without them: short against a step (tens of ms and up). */
#define STEP_WAIT_S 0.005

static void abs_time_after(double s, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    long ns = ts->tv_nsec + (long)(s * 1e9);
    ts->tv_sec += ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

/* Runs the step of every posted row (the step thread, under gpu_mu, which
 * it releases while the device works). */
static void run_step(server *srv)
{
    vkllm_batch_seq seqs[256];
    slot *who[256];
    uint32_t n = 0, rows = 0;
    const uint32_t max_rows = vkllm_batch_max_rows(srv->batch);
    /* every posted row that fits, from a slot that moves each step (fair
     * when prompt chunks do not all fit); the rest wait for the next step */
    for (uint32_t k = 0; k < srv->n_slots && n < 256; k++) {
        slot *s = &srv->slots[(k + srv->steps) % srv->n_slots];
        if (!s->posted || rows + s->row.n > max_rows) continue;
        s->posted = 0;
        who[n] = s;
        seqs[n++] = s->row;
        rows += s->row.n;
    }
    srv->n_posted -= n;
    pthread_mutex_unlock(&srv->gpu_mu);
    vkllm_status st = vkllm_batch_eval(srv->batch, seqs, n);
    pthread_mutex_lock(&srv->gpu_mu);
    if (st != VKLLM_OK) snprintf(srv->step_err, sizeof srv->step_err, "%s", vkllm_batch_error(srv->batch));
    for (uint32_t j = 0; j < n; j++) {
        who[j]->row = seqs[j];
        who[j]->row_st = st;
        who[j]->row_done = 1;
    }
    srv->steps++;
    srv->step_rows += rows;
    srv->step_seqs += n;
    srv->step_end_t = serve_now();
    pthread_cond_broadcast(&srv->gpu_cv);
}

/* Posts one row of slot sl and returns when the step thread has run it. */
static vkllm_status step_row(server *srv, slot *sl, vkllm_batch_seq *row)
{
    pthread_mutex_lock(&srv->gpu_mu);
    sl->row = *row;
    sl->posted = 1;
    sl->row_done = 0;
    if (srv->n_posted++ == 0) srv->first_post_t = serve_now();
    pthread_cond_broadcast(&srv->gpu_cv);
    while (!sl->row_done) pthread_cond_wait(&srv->gpu_cv, &srv->gpu_mu);
    *row = sl->row;
    vkllm_status st = sl->row_st;
    pthread_mutex_unlock(&srv->gpu_mu);
    return st;
}

/* The step thread: runs a step once every generating slot has posted its
 * row, or STEP_WAIT_S after the first row was posted (or the last step
 * ended, whichever is later); the only thread that uses the device. */
static void *step_thread(void *arg)
{
    server *srv = arg;
    pthread_mutex_lock(&srv->gpu_mu);
    while (!srv->steps_quit) {
        if (srv->n_posted == 0) {
            pthread_cond_wait(&srv->gpu_cv, &srv->gpu_mu);
            continue;
        }
        double since = srv->step_end_t > srv->first_post_t ? srv->step_end_t : srv->first_post_t;
        double left = since + STEP_WAIT_S - serve_now();
        if (srv->n_posted < srv->n_generating && left > 0) {
            struct timespec ts;
            abs_time_after(left, &ts);
            pthread_cond_timedwait(&srv->gpu_cv, &srv->gpu_mu, &ts);
            continue;
        }
        run_step(srv);
    }
    pthread_mutex_unlock(&srv->gpu_mu);
    return NULL;
}

/* Enters or leaves a generation: the steps wait for the rows of the slots
 * inside one. */
static void generating(server *srv, int delta)
{
    pthread_mutex_lock(&srv->gpu_mu);
    srv->n_generating = (uint32_t)((int)srv->n_generating + delta);
    pthread_cond_broadcast(&srv->gpu_cv); /* a step waiting for this slot's row may run now */
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
    return stop;
}

/* vkllm_generate's evaluations, as rows of the batched steps: a decode
 * token, or the prompt in chunks of srv->chunk (each its own step, beside
 * the other slots' decode rows, so a long prompt does not stall them). */
static vkllm_status slot_eval(vkllm_session *s, const int32_t *tokens, uint32_t n, vkllm_logits mode, float *logits,
                              int32_t *argmax, void *user)
{
    run_ctx *c = user;
    if (mode != VKLLM_LOGITS_LAST && mode != VKLLM_LOGITS_ARGMAX) return VKLLM_ERR_INVALID_ARG;
    vkllm_batch_seq row = { 0 };
    for (uint32_t done = 0; done < n;) {
        uint32_t take = n - done < c->srv->chunk ? n - done : c->srv->chunk;
        int last = done + take == n;
        row = (vkllm_batch_seq){ s, tokens + done, take, last ? mode : VKLLM_LOGITS_NONE, last ? logits : NULL, -1 };
        vkllm_status st = step_row(c->srv, c->sl, &row);
        if (st != VKLLM_OK) return st;
        done += take;
    }
    if (argmax) *argmax = row.argmax;
    return VKLLM_OK;
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
        .on_token = on_token, .user = &c, .eval = slot_eval,
    };
    vkllm_generate_stats st = { 0 };
    vkllm_status s = VKLLM_ERR_OUT_OF_MEMORY;
    if (stops && !cancelled) {
        generating(srv, +1);
        s = vkllm_generate(sl->sess, j->ids, j->n_ids, &go, &st);
        generating(srv, -1);
    }
    free(stops);

    pthread_mutex_lock(&srv->mu);
    j->stats = st;
    if (cancelled && !j->cancelled) {
        serve_error_set(&j->error, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
    } else if (cancelled) {
        serve_error_set(&j->error, 499, "invalid_request_error", NULL, "client_closed", "the client went away");
    } else if (s != VKLLM_OK || j->oom) {
        char why[512];
        pthread_mutex_lock(&srv->gpu_mu);
        const char *se = vkllm_session_error(sl->sess);
        snprintf(why, sizeof why, "%s", strncmp(se, "evaluation failed", 17) == 0 && *srv->step_err ? srv->step_err : se);
        pthread_mutex_unlock(&srv->gpu_mu);
        serve_error_set(&j->error, 500, "server_error", NULL, NULL, "generation failed: %s",
                        s != VKLLM_OK ? why : "out of host memory");
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
    vkllm_session_options so = { .n_ctx = srv->o.n_ctx, .n_batch = srv->o.prefill_chunk };
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
        srv->chunk = srv->o.prefill_chunk < srv->n_ctx ? srv->o.prefill_chunk : srv->n_ctx;
        if (i == 0) {
            /* a decode token of every slot and some prompt chunks a step */
            uint32_t rows = srv->o.parallel * srv->chunk, cap = srv->o.parallel + 4 * srv->chunk;
            vkllm_status bs = vkllm_batch_create(srv->model, rows < cap ? rows : cap, srv->o.parallel, &srv->batch,
                                                 err, err_len);
            if (bs == VKLLM_OK && pthread_create(&srv->step_tid, NULL, step_thread, srv) != 0) {
                snprintf(err, err_len, "cannot start the step thread");
                pthread_mutex_lock(&srv->mu);
                srv->n_slots = i + 1;
                pthread_mutex_unlock(&srv->mu);
                return 0;
            }
            if (bs == VKLLM_OK) srv->step_started = 1;
            if (bs != VKLLM_OK) {
                size_t n = strlen(err);
                snprintf(err + n, err_len - n, " (the batched step of %u slots; use fewer --parallel slots or a "
                         "smaller --prefill-chunk)", srv->o.parallel);
                pthread_mutex_lock(&srv->mu);
                srv->n_slots = i + 1;
                pthread_mutex_unlock(&srv->mu);
                return 0;
            }
        }
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
    if (srv->step_started) { /* after the slots: none waits for a step any more */
        pthread_mutex_lock(&srv->gpu_mu);
        srv->steps_quit = 1;
        pthread_cond_broadcast(&srv->gpu_cv);
        pthread_mutex_unlock(&srv->gpu_mu);
        pthread_join(srv->step_tid, NULL);
        srv->step_started = 0;
    }
    vkllm_batch_free(srv->batch);
    srv->batch = NULL;
}
