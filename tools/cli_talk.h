/* What `vkllm run` and `vkllm chat` share: their options, the checks made
 * before any weight is uploaded, loading, and one generation with Ctrl-C. */
#ifndef VKLLM_CLI_TALK_H
#define VKLLM_CLI_TALK_H

#include <signal.h>
#include <stdint.h>

#include "vkllm.h"

#define MAX_STOPS 16

typedef struct talk_opts {
    const char *model, *device, *prompt, *prompt_file, *system, *template_name;
    const char *quant;      /* --quant: quantize on load; NULL: none */
    const char *quant_search; /* --quant-search; NULL: the device's default */
    const char *stops[MAX_STOPS];
    size_t n_stop;
    uint32_t n_ctx, n_batch, max_tokens;
    int raw, quiet, verbose, json;
    int seed_given;
    vkllm_sampling sampling;
} talk_opts;

/* A model ready to talk to, and what was learnt about it before loading. */
typedef struct talk {
    talk_opts o;
    const char *cmd;        /* "run", "chat" */
    vkllm_model_info info;
    vkllm_tokenizer *tok;   /* loaded before the weights: checks and token counts */
    const char *tmpl;       /* the chat template in use (--template or the model's) */
    int tmpl_recognised;    /* the model's own template was recognised (or --template given) */
    uint32_t n_ctx;         /* the context the session has */
    uint32_t n_batch;       /* prompt tokens per block: Ctrl-C waits for at most one */
    double warmup_s;        /* first-use shader compilation at load (not in the speed line) */
    vkllm_model *m;
    vkllm_session *s;
} talk;

/* Set by SIGINT (Ctrl-C) once talk_catch_sigint ran; the code waiting for
 * input or generating clears and checks it. */
extern volatile sig_atomic_t talk_interrupted;
/* SIGINT sets talk_interrupted instead of ending the program; system calls
 * it interrupts fail with EINTR (no SA_RESTART). */
void talk_catch_sigint(void);

/* Parses the options run and chat share (chat refuses -p, -f, --raw,
 * --json); every value is checked here, before anything is loaded. Returns
 * -1 to go on, else the exit code (0 after --help, 2 on a bad option). */
int talk_parse(const char *cmd, int argc, char **argv, talk_opts *o);

/* Before any weight is uploaded: describes the model, loads its tokenizer,
 * checks the chat template and the context; warns when --ctx passes the
 * trained context. 1 on success, else prints one line and returns 0. */
int talk_prepare(talk *t);
/* Uploads the weights (progress bar; Ctrl-C cancels), makes the session,
 * warms the kernels. 1 on success; 0 after printing why (talk_interrupted
 * set when cancelled). */
int talk_load(talk *t);
/* Frees everything; returns 1 if the validation layer spoke (the command fails). */
int talk_unload(talk *t);

/* Token ids of a rendered chat (BOS, special tokens, as vkllm_chat) or of
 * raw text; *ids malloc'd (vkllm_free). 1 on success, else prints why. */
int talk_tokenize(const talk *t, const char *text, int chat, int32_t **ids, size_t *n);

/* One generation's output and what happened. */
typedef struct talk_turn {
    char *text;             /* the reply, NUL-terminated, malloc'd (may be NULL: empty) */
    size_t len, cap;
    int stream;             /* write the text to stdout as it comes */
    uint32_t prefill_done, prefill_total;
    int progress_shown;     /* a "[prompt i/n]" note is on the terminal */
    const talk *t;
    vkllm_generate_stats st;
} talk_turn;

/* Generation options for a turn (callbacks wired to turn). */
vkllm_generate_options talk_gen_options(const talk *t, talk_turn *turn);
/* Ends a turn's output: the newline after the answer on stdout, then (not
 * with -q) the speed line on stderr, and the interruption note. */
void talk_finish_turn(const talk *t, const talk_turn *turn);
/* "eos", "stop", "length", "context_full", "interrupted" */
const char *talk_finish_reason(vkllm_stop_reason r);

/* Reads a whole file (or standard input for "-"); malloc'd, NUL-terminated. */
char *talk_read_file(const char *path, size_t *len);

#endif
