/* Threads (include/vkllm.h, "Threads"):
 *   - two threads load the same model at once, each on its own Vulkan
 *     instance and device, and generate: both answer as one model alone does
 *     (the loads used to race on volk's global function pointers);
 *   - four threads, each with its own session on one shared model, generate
 *     greedily at the same time, twice; each output equals what the same
 *     session produced alone;
 *   - session creation checks device memory: with VKLLM_MEMORY_LIMIT set,
 *     sessions are refused (OUT_OF_MEMORY, a message with the numbers) once
 *     the next would not fit, and freeing one makes room again.
 * Run under ThreadSanitizer by tools/test.sh (build-tsan/).
 * argv: scratch folder. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "vkllm.h"

static int failures;
#define EXPECT_PRINT_OK 1
#include "expect.h"

enum { N_THREADS = 4, N_GEN = 24, MAX_TOK = 64 };

typedef struct run {
    vkllm_model *m;        /* shared */
    vkllm_session *s;      /* this thread's own */
    const char *path;      /* load_and_run: the model file */
    int32_t prompt[8];
    size_t n_prompt;
    int32_t got[MAX_TOK];
    size_t n_got;
    vkllm_status status;
    char err[1024];
    pthread_barrier_t *start;
} run;

static int collect(int32_t token, const char *text, size_t len, void *user)
{
    (void)text, (void)len;
    run *r = user;
    if (token >= 0 && r->n_got < MAX_TOK) r->got[r->n_got++] = token;
    return 0;
}

/* greedy generation from position 0 of r->s */
static void generate(run *r)
{
    r->n_got = 0;
    r->status = vkllm_session_rewind(r->s, 0);
    vkllm_generate_options go = { .sampling = vkllm_sampling_greedy(), .max_tokens = N_GEN, .on_token = collect,
                                  .user = r };
    vkllm_generate_stats st;
    if (r->status == VKLLM_OK) r->status = vkllm_generate(r->s, r->prompt, r->n_prompt, &go, &st);
    if (r->status != VKLLM_OK) snprintf(r->err, sizeof r->err, "%s", vkllm_session_error(r->s));
}

static void *generate_thread(void *arg)
{
    run *r = arg;
    pthread_barrier_wait(r->start); /* all at once */
    generate(r);
    return NULL;
}

static vkllm_session *session(vkllm_model *m, uint32_t n_ctx, vkllm_status *st, char *err, size_t err_len)
{
    vkllm_session_options so = { .n_ctx = n_ctx };
    vkllm_session *s = NULL;
    *st = vkllm_session_create(m, &so, &s, err, err_len);
    return s;
}

/* a whole model of its own on this thread: load, one session, generate */
static void *load_and_run(void *arg)
{
    run *r = arg;
    vkllm_load_options lo = { .validate = 1, .n_ctx = 256 };
    pthread_barrier_wait(r->start);
    r->status = vkllm_model_load(r->path, &lo, &r->m, r->err, sizeof r->err);
    if (r->status == VKLLM_OK) r->s = session(r->m, 256, &r->status, r->err, sizeof r->err);
    if (r->status == VKLLM_OK) generate(r);
    vkllm_session_free(r->s);
    vkllm_model_free(r->m);
    r->s = NULL;
    r->m = NULL;
    return NULL;
}

static void set_prompt(run *r, int i)
{
    const int32_t p[] = { 1, 300 + 7 * i, 280 + 11 * i, 420 - 5 * i, 350 + i };
    memcpy(r->prompt, p, sizeof p);
    r->n_prompt = 5;
}

static int same(const run *a, const run *b) { return a->n_got == b->n_got && !memcmp(a->got, b->got, a->n_got * sizeof a->got[0]); }

static void two_models_at_once(const char *path, const run *alone)
{
    run r[2];
    pthread_t th[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].path = path;
        r[i].start = &start;
        set_prompt(&r[i], 0);
        pthread_create(&th[i], NULL, load_and_run, &r[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++)
        EXPECT(r[i].status == VKLLM_OK && same(&r[i], alone),
               "model loaded on thread %d while another loads: %zu tokens as the shared model's session 0 (%s)", i,
               r[i].n_got, r[i].err);
}

static void sessions_at_once(vkllm_model *m, const char *path)
{
    run alone[N_THREADS], r[N_THREADS];
    char err[1024];
    vkllm_status st;
    for (int i = 0; i < N_THREADS; i++) {
        memset(&alone[i], 0, sizeof alone[i]);
        alone[i].m = m;
        alone[i].s = session(m, 256, &st, err, sizeof err);
        EXPECT(st == VKLLM_OK, "session %d: %s", i, st == VKLLM_OK ? "created" : err);
        if (st != VKLLM_OK) return;
        set_prompt(&alone[i], i);
    }
    for (int i = 0; i < N_THREADS; i++) { /* one at a time */
        generate(&alone[i]);
        EXPECT(alone[i].status == VKLLM_OK && alone[i].n_got > 0, "session %d alone: %zu tokens (%s)", i,
               alone[i].n_got, alone[i].err);
    }
    int distinct = 0;
    for (int i = 1; i < N_THREADS; i++) distinct += !same(&alone[0], &alone[i]);
    EXPECT(distinct > 0, "the prompts give different outputs (so a mix-up between sessions would show)");
    for (int round = 0; round < 2; round++) {
        pthread_t th[N_THREADS];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N_THREADS);
        for (int i = 0; i < N_THREADS; i++) {
            r[i] = alone[i];
            r[i].start = &start;
            pthread_create(&th[i], NULL, generate_thread, &r[i]);
        }
        for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < N_THREADS; i++)
            EXPECT(r[i].status == VKLLM_OK && same(&r[i], &alone[i]),
                   "round %d: session %d on its own thread, %d at once: %zu tokens, as alone (%s)", round, i, N_THREADS,
                   r[i].n_got, r[i].err);
    }
    two_models_at_once(path, &alone[0]);
    for (int i = 0; i < N_THREADS; i++) vkllm_session_free(alone[i].s);
}

static void session_memory(const char *path)
{
    /* a limit just above what the weights, the staging ring and a few sessions take */
    const uint32_t n_ctx = 2048;
    setenv("VKLLM_MEMORY_LIMIT", "40M", 1);
    vkllm_load_options lo = { .n_ctx = n_ctx };
    vkllm_model *m = NULL;
    char err[1024];
    vkllm_status st = vkllm_model_load(path, &lo, &m, err, sizeof err);
    unsetenv("VKLLM_MEMORY_LIMIT");
    EXPECT(st == VKLLM_OK, "load under VKLLM_MEMORY_LIMIT=40M: %s", st == VKLLM_OK ? "ok" : err);
    if (st != VKLLM_OK) return;
    vkllm_memory need = vkllm_model_memory(vkllm_model_get_info(m), n_ctx, 0);
    vkllm_session *s[64] = { 0 };
    int n = 0;
    st = VKLLM_OK;
    while (n < 64 && (s[n] = session(m, n_ctx, &st, err, sizeof err)) != NULL) n++;
    const uint64_t per = need.kv_cache + need.activations;
    EXPECT(n >= 1 && n < 64 && (uint64_t)n * per <= 40ull << 20,
           "%d sessions of %u positions (%.2f MiB each) created under a 40 MiB limit, then refused", n, n_ctx,
           per / 1048576.0);
    EXPECT(st == VKLLM_ERR_OUT_OF_MEMORY && strstr(err, "free") && strstr(err, "positions"),
           "the refusal: %s: %s", vkllm_status_name(st), err);
    if (n > 0) {
        vkllm_session_free(s[n - 1]);
        s[n - 1] = session(m, n_ctx, &st, err, sizeof err);
        EXPECT(st == VKLLM_OK, "after freeing one session, another fits again (%s)", st == VKLLM_OK ? "ok" : err);
    }
    for (int i = 0; i < 64; i++) vkllm_session_free(s[i]);
    vkllm_model_free(m);
}

static void device_budget(void)
{
    vkllm_device_info d[8];
    uint32_t n = 0;
    char err[1024];
    if (vkllm_list_devices(d, 8, &n, err, sizeof err) != VKLLM_OK || n == 0) {
        EXPECT(0, "list devices: %s", err);
        return;
    }
    for (uint32_t i = 0; i < n && i < 8; i++)
        EXPECT(d[i].device_local_free > 0 && d[i].device_local_free <= d[i].device_local_bytes,
               "device %u (%s): %.2f GiB free of %.2f GiB device-local (%s)", i, d[i].name,
               d[i].device_local_free / 1073741824.0, d[i].device_local_bytes / 1073741824.0,
               d[i].memory_budget ? "VK_EXT_memory_budget" : "no budget extension: the heap size");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: test_threads SCRATCH_DIR\n");
        return 2;
    }
    char cmd[1200], path[1100], err[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", argv[1]);
    if (system(cmd) != 0) return 2;
    snprintf(path, sizeof path, "%s/tiny.gguf", argv[1]);
    gen_params p;
    gen_preset("tiny", &p);
    p.n_vocab = 600;
    p.seed = 91;
    if (gen_write_gguf(&p, path, err, sizeof err) != VKLLM_OK) {
        printf("FAIL generate: %s\n", err);
        return 1;
    }
    device_budget();
    vkllm_load_options lo = { .validate = 1, .n_ctx = 256 };
    vkllm_model *m = NULL;
    vkllm_status st = vkllm_model_load(path, &lo, &m, err, sizeof err);
    EXPECT(st == VKLLM_OK, "load: %s", st == VKLLM_OK ? "ok" : err);
    if (st == VKLLM_OK) {
        sessions_at_once(m, path);
        const char *first;
        uint32_t nv = vkllm_model_validation_messages(m, &first);
        EXPECT(nv == 0, "validation layer quiet with %d sessions at once (%u messages; first: %s)", N_THREADS, nv, first);
        vkllm_model_free(m);
    }
    session_memory(path);
    printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
