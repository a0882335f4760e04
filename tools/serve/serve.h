/* `vkllm serve`: an OpenAI-compatible HTTP server over the public C API.
 *
 *   serve_main.c     options, loading, signals, start and stop
 *   serve_http.c     routes (libmicrohttpd callbacks), responses, SSE, metrics
 *   serve_slots.c    slots (one session each), the queue, the batched steps,
 *                    the generation of one job
 *   serve_request.c  request bodies to generation requests (fuzzed)
 *   serve_page.html  the chat page at GET / (embedded at build time)
 *
 * Threads: libmicrohttpd runs one thread per connection; each slot has a
 * worker thread with its own vkllm_session. The slots' generations share
 * the device through batched steps: each evaluation a slot's generation
 * needs (a decode token, or a chunk of at most --prefill-chunk prompt
 * tokens) is posted as a row of the next step; the step thread runs the
 * step (one vkllm_batch_eval over every posted row: the weights are read
 * once for all slots) as soon as every generating slot has posted (or a few
 * milliseconds after the first row came), and hands each slot its result. One mutex (srv.mu) guards the queue, the slots, every job's state
 * and the metrics; gpu_mu guards the step state. */
#ifndef VKLLM_SERVE_H
#define VKLLM_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "serve_request.h"
#include "vkllm.h"

int cmd_serve(int argc, char **argv);

typedef struct serve_opts {
    const char *model_path, *host, *api_key, *template_name, *alias, *device;
    const char *quant; /* --quant: quantize on load; NULL: none */
    const char *quant_search; /* --quant-search; NULL: the device's default */
    uint32_t port, parallel, queue, n_ctx, timeout_s, prefill_chunk;
    size_t max_body;
    int quiet;
} serve_opts;

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

/* One generation request, shared by its connection and its slot (refs). */
typedef struct server server;

typedef struct job {
    server *srv;
    int refs;
    serve_request req;
    int32_t *ids;          /* [n_ids] prompt tokens (BOS included) */
    size_t n_ids;
    char id[48];           /* "chatcmpl-..." / "cmpl-..." */
    time_t created;
    double t_start;        /* monotonic seconds when queued */
    job_state state;
    int cancelled;         /* the client went away: stop at the next token */
    int slot;              /* the slot that ran it, -1 before */
    /* output: streamed SSE bytes not yet sent, or the whole text */
    char *out;
    size_t out_len, out_sent, out_cap;
    int oom;               /* an append failed */
    vkllm_generate_stats stats;
    const char *finish_reason; /* "stop", "length" */
    serve_error error;     /* status != 0: failed (before or while running) */
    pthread_cond_t cv;     /* state or output changed (with srv.mu) */
    struct job *next;      /* in the queue */
} job;

typedef struct slot {
    int index;
    vkllm_session *sess;
    pthread_t thread;
    pthread_cond_t cv;     /* a job was assigned, or quit */
    job *job;              /* running, NULL when idle */
    int32_t *tokens;       /* [n_ctx] what the cache holds (best guess), for choosing a slot */
    /* its row of the next step (under srv.gpu_mu) */
    vkllm_batch_seq row;
    int posted, row_done;
    vkllm_status row_st;
    size_t n_tokens;
    uint64_t last_used;    /* order of last assignment, least recent first on ties */
    int thread_started;
} slot;

#define SERVE_N_STATUS 10

struct server {
    serve_opts o;
    serve_limits limits;
    vkllm_model *model;
    const vkllm_tokenizer *tok;
    char model_id[128];
    time_t model_created;
    uint32_t n_ctx;
    atomic_int loaded;     /* 1 once the model and the slots are ready (read without the lock) */

    pthread_mutex_t mu;
    slot *slots;
    uint32_t n_slots;
    job *q_head, *q_tail;
    uint32_t q_len;
    uint64_t assign_counter;
    int stopping;          /* shutting down: no new work, running jobs end at their next token */
    int quit;              /* slot workers exit */
    uint32_t active_responses; /* generation responses not yet completed */
    pthread_cond_t idle_cv;    /* active_responses or a slot changed */

    /* batched steps (serve_slots.c), under gpu_mu */
    pthread_mutex_t gpu_mu;
    pthread_cond_t gpu_cv;
    vkllm_batch *batch;     /* n_slots x chunk rows */
    uint32_t chunk;         /* prompt tokens one slot adds to a step */
    uint32_t n_generating;  /* slots inside a generation */
    uint32_t n_posted;      /* their rows waiting for the next step */
    double first_post_t;    /* when the first row waiting now was posted */
    double step_end_t;      /* when the last step ended */
    pthread_t step_tid;     /* the step thread: the only one using the device */
    int step_started, steps_quit;
    char step_err[512];     /* the last failed step's message */
    uint64_t steps, step_rows, step_seqs; /* metrics */

    /* metrics (under mu) */
    uint64_t status_count[SERVE_N_STATUS];
    uint64_t prompt_tokens, prompt_tokens_evaluated, generated_tokens, requests_done;
    double busy_s;
    double rate_t0;         /* tokens/s window start */
    uint64_t rate_tokens;
    double rate;            /* generated tokens/s, all slots, over the last window */
    double job_s_avg;       /* average job wall time, for Retry-After */
};

double serve_now(void);

/* serve_slots.c */
int serve_slots_start(server *srv, char *err, size_t err_len);
/* Wakes every slot worker to exit and joins them; frees the sessions. */
void serve_slots_stop(server *srv);
/* Queues j (refs +1) or returns 0 when the queue is full (under mu). */
int serve_enqueue(server *srv, job *j);
/* Drops a reference (under mu); frees the job at zero. */
void serve_job_release(server *srv, job *j);
/* Takes j out of the queue if it still waits there (its client left; under mu). */
void serve_dequeue(server *srv, job *j);
/* Fails every queued job with 503 (under mu). */
void serve_fail_queued(server *srv);

/* serve_http.c */
struct MHD_Daemon *serve_http_start(server *srv, char *err, size_t err_len);
/* The Prometheus text (malloc'd). */
char *serve_metrics_text(server *srv);
/* One server-sent event (malloc'd "data: {...}\n\n"): a chunk with text
 * (len bytes; "" with len 0 opens a chat stream with the role), or the
 * closing chunk with finish_reason (text NULL). */
char *serve_chunk(server *srv, const job *j, const char *text, size_t len, const char *finish_reason);
/* The usage chunk of stream_options.include_usage. */
char *serve_usage_chunk(server *srv, const job *j);
/* An error event inside a stream. */
char *serve_stream_error(const serve_error *e);

#endif
