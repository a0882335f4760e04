/* `vkllm run`, `vkllm chat` and `vkllm tokenize`: talking to a model. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_STOPS 16

/* ------------------------------------------------------------ Ctrl-C */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Ctrl-C stops the generation, not the program (a second one while idle
 * quits as usual once the handler is reset). */
static void catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* ------------------------------------------------------------ options */

typedef struct talk_opts {
    const char *model, *device, *prompt, *system, *template_name;
    const char *stops[MAX_STOPS];
    size_t n_stop;
    uint32_t n_ctx, max_tokens;
    int raw, quiet;
    vkllm_sampling sampling;
} talk_opts;

static int parse_float(const char *s, float *out)
{
    char *end;
    *out = strtof(s, &end);
    return s != end && *end == '\0';
}

/* Parses the options run and chat share; returns -1 to go on, else an exit code. */
static int parse_talk(const char *cmd, int argc, char **argv, talk_opts *o, void (*usage)(void))
{
    o->sampling = vkllm_sampling_default();
    o->max_tokens = 512;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        uint32_t u;
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && v) o->model = v;
        else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && v) o->prompt = v;
        else if (strcmp(a, "--system") == 0 && v) o->system = v;
        else if (strcmp(a, "--template") == 0 && v) o->template_name = v;
        else if (strcmp(a, "--device") == 0 && v) o->device = v;
        else if (strcmp(a, "--stop") == 0 && v) {
            ok = o->n_stop < MAX_STOPS;
            if (ok) o->stops[o->n_stop++] = v;
        } else if (strcmp(a, "--ctx") == 0 && v) ok = cli_parse_u32(v, &o->n_ctx) && o->n_ctx > 0;
        else if ((strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) && v) ok = cli_parse_u32(v, &o->max_tokens);
        else if ((strcmp(a, "--temp") == 0 || strcmp(a, "--temperature") == 0) && v) ok = parse_float(v, &o->sampling.temperature);
        else if (strcmp(a, "--top-k") == 0 && v) ok = cli_parse_u32(v, &u) && (o->sampling.top_k = (int32_t)u, 1);
        else if (strcmp(a, "--top-p") == 0 && v) ok = parse_float(v, &o->sampling.top_p);
        else if (strcmp(a, "--min-p") == 0 && v) ok = parse_float(v, &o->sampling.min_p);
        else if (strcmp(a, "--repeat-penalty") == 0 && v) ok = parse_float(v, &o->sampling.repeat_penalty);
        else if (strcmp(a, "--repeat-last-n") == 0 && v) ok = cli_parse_u32(v, &u) && (o->sampling.repeat_last_n = (int32_t)u, 1);
        else if (strcmp(a, "--seed") == 0 && v) {
            char *end;
            o->sampling.seed = strtoull(v, &end, 10);
            ok = *v && *end == '\0';
        } else if (strcmp(a, "--greedy") == 0) {
            o->sampling = vkllm_sampling_greedy();
            takes = 0;
        } else if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
            takes = 0;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            takes = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "vkllm %s: unknown or incomplete option %s (try --help)\n", cmd, a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vkllm %s: bad value '%s' for %s\n", cmd, v, a);
            return 2;
        }
        i += takes;
    }
    if (!o->model) {
        fprintf(stderr, "vkllm %s: which model? give -m MODEL (a .gguf file or a Hugging Face folder)\n", cmd);
        return 2;
    }
    return -1;
}

static const char *const sampling_help =
    "  -n, --max-tokens N    stop after N tokens (default 512; 0: until EOS or a full context)\n"
    "  --temp X              temperature (default 0.8; 0: greedy)\n"
    "  --top-k N             keep the N most likely tokens (default 40; 0: off)\n"
    "  --top-p X             nucleus: the smallest set with probability >= X (default 0.95; 1: off)\n"
    "  --min-p X             drop tokens below X times the top probability (default 0.05; 0: off)\n"
    "  --repeat-penalty X    penalise tokens of the last --repeat-last-n (default 1.1 over 64; 1: off)\n"
    "  --seed N              same seed + same settings = same text\n"
    "  --greedy              temperature 0, no truncation, no penalty\n"
    "  --stop S              also stop at the string S (repeatable)\n"
    "  --template NAME       chat template: solar, llama2, mistral, chatml (default: the model's)\n"
    "  --system S            system prompt (templates that have one)\n"
    "  --ctx N               context length (default: the model's, at most 4096)\n"
    "  --device SEL          device index or name substring\n"
    "  -q, --quiet           no progress bar, template note or speed line\n";

static void run_usage(void)
{
    printf("usage: vkllm run -m MODEL -p PROMPT [--raw] [options]\n"
           "  answers one message through the model's chat template (--raw: plain completion\n"
           "  of PROMPT), streaming the text; then prints prompt and generation speed\n%s",
           sampling_help);
}

static void chat_usage(void)
{
    printf("usage: vkllm chat -m MODEL [options]\n"
           "  interactive multi-turn chat; each turn reuses the cached conversation instead of\n"
           "  re-running it. Ctrl-C stops an answer; Ctrl-D (end of input) or /quit leaves;\n"
           "  /reset starts over.\n%s",
           sampling_help);
}

/* ------------------------------------------------------------ shared */

typedef struct loaded {
    vkllm_model *m;
    vkllm_session *s;
} loaded;

static int load(const char *cmd, const talk_opts *o, loaded *l)
{
    char err[1024];
    vkllm_load_options lo = { .device = o->device, .n_ctx = o->n_ctx, .progress = o->quiet ? NULL : cli_progress };
    if (vkllm_model_load(o->model, &lo, &l->m, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", cmd, err);
        return 0;
    }
    if (!vkllm_model_tokenizer(l->m)) {
        fprintf(stderr, "vkllm %s: %s has no usable tokenizer: %s\n", cmd, o->model, vkllm_model_tokenizer_error(l->m));
        return 0;
    }
    int recognised;
    const char *tmpl = vkllm_model_chat_template(l->m, &recognised);
    if (!o->raw && !o->template_name && !recognised && !o->quiet)
        fprintf(stderr, "note: the model's chat template is missing or not recognised; using '%s' (--template to choose)\n",
                tmpl);
    vkllm_session_options so = { .n_ctx = o->n_ctx };
    if (vkllm_session_create(l->m, &so, &l->s, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", cmd, err);
        return 0;
    }
    return 1;
}

/* Frees the model; 1 if the validation layer spoke meanwhile. */
static int unload(loaded *l, const char *cmd)
{
    int bad = cli_validation_failed(l->m, cmd);
    vkllm_session_free(l->s);
    vkllm_model_free(l->m);
    return bad;
}

/* Collects the reply and streams it to stdout. */
typedef struct reply {
    char *text;
    size_t len, cap;
} reply;

static int on_token(int32_t token, const char *text, size_t len, void *user)
{
    (void)token;
    reply *r = user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (r && len) {
        if (r->len + len + 1 > r->cap) {
            size_t cap = (r->len + len + 1) * 2;
            char *t = realloc(r->text, cap);
            if (!t) return 1;
            r->text = t;
            r->cap = cap;
        }
        memcpy(r->text + r->len, text, len);
        r->len += len;
        r->text[r->len] = '\0';
    }
    return interrupted != 0;
}

static const char *reason_name(vkllm_stop_reason r)
{
    switch (r) {
    case VKLLM_STOP_EOS: return "end of text";
    case VKLLM_STOP_STRING: return "stop string";
    case VKLLM_STOP_MAX_TOKENS: return "max tokens";
    case VKLLM_STOP_CONTEXT_FULL: return "context full";
    case VKLLM_STOP_CALLBACK: return "interrupted";
    }
    return "?";
}

static void print_stats(const vkllm_generate_stats *st)
{
    fprintf(stderr, "\n[prompt: %u tokens%s, %.1f t/s | generation: %u tokens, %.1f t/s | %s]\n", st->n_prompt,
            st->n_reused ? " (+ cached)" : "", st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0.0, st->n_generated,
            st->gen_s > 0 ? st->n_generated / st->gen_s : 0.0, reason_name(st->reason));
    if (st->reason == VKLLM_STOP_CONTEXT_FULL)
        fprintf(stderr, "the context is full: use a larger --ctx (or /reset in chat)\n");
}

/* ------------------------------------------------------------ run */

int cmd_run(int argc, char **argv)
{
    talk_opts o = { 0 };
    int rc = parse_talk("run", argc, argv, &o, run_usage);
    if (rc >= 0) return rc;
    if (!o.prompt) {
        fprintf(stderr, "vkllm run: give the message with -p PROMPT (or use vkllm chat)\n");
        return 2;
    }
    loaded l = { 0 };
    if (!load("run", &o, &l)) {
        unload(&l, "run");
        return 1;
    }
    catch_sigint();
    vkllm_generate_options go = { .sampling = o.sampling, .max_tokens = o.max_tokens, .stop = o.stops,
                                  .n_stop = o.n_stop, .on_token = on_token };
    vkllm_generate_stats st;
    vkllm_status s;
    char err[1024];
    if (o.raw) {
        const vkllm_tokenizer *t = vkllm_model_tokenizer(l.m);
        int32_t *ids = NULL;
        size_t n = 0;
        unsigned flags = vkllm_tokenizer_adds_bos(t) ? VKLLM_TOKENIZE_BOS : 0;
        s = vkllm_tokenize(t, o.prompt, strlen(o.prompt), flags, &ids, &n, err, sizeof err);
        if (s == VKLLM_OK) s = vkllm_generate(l.s, ids, n, &go, &st);
        else fprintf(stderr, "vkllm run: %s\n", err);
        vkllm_free(ids);
    } else {
        vkllm_message msgs[2];
        size_t n = 0;
        if (o.system) msgs[n++] = (vkllm_message){ VKLLM_ROLE_SYSTEM, o.system };
        msgs[n++] = (vkllm_message){ VKLLM_ROLE_USER, o.prompt };
        s = vkllm_chat(l.s, o.template_name, msgs, n, &go, &st);
    }
    if (s != VKLLM_OK) {
        if (vkllm_session_error(l.s)[0]) fprintf(stderr, "\nvkllm run: %s\n", vkllm_session_error(l.s));
    } else {
        if (!o.quiet) print_stats(&st);
        else printf("\n");
    }
    if (unload(&l, "run")) return 1;
    return s == VKLLM_OK ? 0 : 1;
}

/* ------------------------------------------------------------ chat */

int cmd_chat(int argc, char **argv)
{
    talk_opts o = { 0 };
    int rc = parse_talk("chat", argc, argv, &o, chat_usage);
    if (rc >= 0) return rc;
    loaded l = { 0 };
    if (!load("chat", &o, &l)) {
        unload(&l, "chat");
        return 1;
    }
    catch_sigint();
    vkllm_message *msgs = NULL;
    size_t n = 0, cap = 0;
    const int tty = isatty(0);
    char *line = NULL;
    size_t line_cap = 0;
    rc = 0;
    for (;;) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        interrupted = 0;
        errno = 0;
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0 && errno == EINTR && interrupted) { /* Ctrl-C at the prompt: a fresh prompt */
            clearerr(stdin);
            printf("\n");
            continue;
        }
        if (got < 0) break; /* end of input */
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        if (got == 0) continue;
        if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            for (size_t i = 0; i < n; i++) free((char *)msgs[i].text);
            n = 0;
            vkllm_session_rewind(l.s, 0);
            printf("(conversation cleared)\n");
            continue;
        }
        if (n + 3 > cap) {
            cap = (n + 3) * 2;
            vkllm_message *m = realloc(msgs, cap * sizeof *msgs);
            if (!m) {
                rc = 1;
                break;
            }
            msgs = m;
        }
        if (n == 0 && o.system) msgs[n++] = (vkllm_message){ VKLLM_ROLE_SYSTEM, strdup(o.system) };
        msgs[n++] = (vkllm_message){ VKLLM_ROLE_USER, strdup(line) };
        reply r = { 0 };
        vkllm_generate_options go = { .sampling = o.sampling, .max_tokens = o.max_tokens, .stop = o.stops,
                                      .n_stop = o.n_stop, .on_token = on_token, .user = &r };
        vkllm_generate_stats st;
        vkllm_status s = vkllm_chat(l.s, o.template_name, msgs, n, &go, &st);
        if (s != VKLLM_OK) {
            fprintf(stderr, "\nvkllm chat: %s\n", vkllm_session_error(l.s));
            free((char *)msgs[--n].text); /* the turn did not happen */
            free(r.text);
            if (s != VKLLM_ERR_OUT_OF_MEMORY) {
                rc = 1;
                break;
            }
            continue;
        }
        msgs[n++] = (vkllm_message){ VKLLM_ROLE_ASSISTANT, r.text ? r.text : strdup("") };
        if (!o.quiet) print_stats(&st);
        else printf("\n");
    }
    for (size_t i = 0; i < n; i++) free((char *)msgs[i].text);
    free(msgs);
    free(line);
    if (unload(&l, "chat")) return 1;
    return rc;
}

/* ------------------------------------------------------------ tokenize */

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL;
    int bos = 1, pieces = 0, special = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--no-bos") == 0) bos = 0;
        else if (strcmp(argv[i], "--pieces") == 0) pieces = 1;
        else if (strcmp(argv[i], "--special") == 0) special = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vkllm tokenize -m MODEL [--no-bos] [--pieces] [--special] [TEXT]\n"
                   "  prints the token ids of TEXT (or of standard input) as a JSON array\n"
                   "  -m: a model (.gguf, Hugging Face folder) or a vocabulary alone\n"
                   "      (tokenizer.json, its folder, or a vocab-only GGUF)\n"
                   "  --no-bos: no BOS even where the vocabulary adds one\n"
                   "  --pieces: print the pieces (\"▁Hello\") instead of ids\n"
                   "  --special: \"<s>\", \"</s>\" in the text are special tokens\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vkllm tokenize: unknown or incomplete option %s (try --help)\n", argv[i]);
            return 2;
        } else if (!text) {
            text = argv[i];
        } else {
            fprintf(stderr, "vkllm tokenize: one TEXT only (quote it)\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "vkllm tokenize: give -m MODEL (or a tokenizer.json / vocab GGUF)\n");
        return 2;
    }
    char *input = NULL;
    size_t len = 0;
    if (text) {
        len = strlen(text);
    } else { /* all of standard input */
        size_t cap = 0;
        for (;;) {
            if (len + 65536 > cap) {
                cap = (len + 65536) * 2;
                char *b = realloc(input, cap);
                if (!b) {
                    free(input);
                    fprintf(stderr, "vkllm tokenize: out of memory reading standard input\n");
                    return 1;
                }
                input = b;
            }
            size_t got = fread(input + len, 1, cap - len, stdin);
            len += got;
            if (got == 0) break;
        }
        text = input ? input : "";
    }
    char err[1024];
    vkllm_tokenizer *t;
    if (vkllm_tokenizer_load(path, &t, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm tokenize: %s\n", err);
        free(input);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    unsigned flags = (bos && vkllm_tokenizer_adds_bos(t) ? VKLLM_TOKENIZE_BOS : 0) | (special ? VKLLM_TOKENIZE_SPECIAL : 0);
    vkllm_status s = vkllm_tokenize(t, text, len, flags, &ids, &n, err, sizeof err);
    if (s != VKLLM_OK) {
        fprintf(stderr, "vkllm tokenize: %s\n", err);
    } else {
        putchar('[');
        for (size_t i = 0; i < n; i++) {
            if (i) printf(", ");
            if (pieces) json_str(vkllm_token_piece(t, ids[i]));
            else printf("%d", ids[i]);
        }
        printf("]\n");
    }
    vkllm_free(ids);
    vkllm_tokenizer_free(t);
    free(input);
    return s == VKLLM_OK ? 0 : 1;
}
