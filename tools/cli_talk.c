/* `vkllm run` and what it shares with `vkllm chat`: options, the checks
 * before the long wait, loading with a warm-up, one generation with Ctrl-C. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_talk.h"
#include "term.h"

/* ------------------------------------------------------------ Ctrl-C */

volatile sig_atomic_t talk_interrupted;

void talk_catch_sigint(void) { term_catch_interrupt(&talk_interrupted, false); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ options */

static const char *const talk_help =
    "  -n, --max-tokens N    stop after N tokens (default 512; 0: until EOS or a full context)\n"
    "  --temp X              temperature, >= 0 (default 0.8; 0: greedy)\n"
    "  --top-k N             keep the N most likely tokens (default 40; 0: off)\n"
    "  --top-p X             nucleus, in (0, 1]: the smallest set with probability >= X (default 0.95; 1: off)\n"
    "  --min-p X             in [0, 1]: drop tokens below X times the top probability (default 0.05; 0: off)\n"
    "  --repeat-penalty X    > 0: penalise tokens of the last --repeat-last-n (default 1.1 over 64; 1: off)\n"
    "  --seed N              same seed + same settings = same text (default, or -1: random, shown by -v)\n"
    "  --greedy              temperature 0, no truncation, no penalty\n"
    "  --stop S              also stop at the string S (repeatable)\n"
    "  --template NAME       chat template: %s\n"
    "                        (default: recognised from the model's own template)\n"
    "  --system S            system prompt (templates that have one)\n"
    "  --ctx N               context length (default: the model's, at most 4096)\n"
    "  --batch N             prompt tokens per block (default 64 on CPU devices, else 256);\n"
    "                        Ctrl-C during a prompt waits for the current block only\n"
    "  --device SEL          device index or name substring\n"
    CLI_QUANT_HELP
    "  -q, --quiet           no progress bar, notes or speed line\n"
    "  -v, --verbose         also the device, template, context, seed, warm-up time and prompt progress\n"
    "The speed line excludes first-use shader compilation: the kernels of a decode step and of a\n"
    "full prompt block are warmed at load.\n";

static void template_names(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; vkllm_chat_template_list(i) && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", vkllm_chat_template_list(i));
}

static void talk_usage(const char *cmd)
{
    if (strcmp(cmd, "run") == 0)
        printf("usage: vkllm run -m MODEL (-p PROMPT | -p - | -f FILE) [--raw] [--json] [options]\n"
               "  answers one message through the model's chat template (--raw: plain completion\n"
               "  of the prompt), streaming the answer to standard output (ended by a newline);\n"
               "  then the speed line on standard error. -p - reads the prompt from standard input.\n"
               "  --json: one JSON object instead (text, tokens, timings, finish reason, seed).\n"
               "  exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted (Ctrl-C)\n");
    else
        printf("usage: vkllm chat -m MODEL [options]\n"
               "  interactive multi-turn chat; each turn reuses the cached conversation. On a\n"
               "  terminal: line editing and history (saved in $XDG_STATE_HOME/vkllm/history),\n"
               "  a paste is one message, \"\"\" starts and ends a multi-line message, a line ending\n"
               "  in \\ continues. Ctrl-C stops an answer or a prompt being read in; twice at an\n"
               "  empty prompt (or Ctrl-D, or /quit) leaves. /help lists the commands (/reset,\n"
               "  /system, /save, /load, /stats, ...). When the conversation outgrows the context,\n"
               "  the oldest turns are dropped (the system message stays).\n");
    char names[256];
    template_names(names, sizeof names);
    printf(talk_help, names);
}

/* A finite float within [lo, hi]; lo_open: lo itself excluded. */
static int parse_float(const char *s, float lo, int lo_open, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (s == end || *end != '\0' || errno == ERANGE || !isfinite(v)) return 0;
    if (v < lo || (lo_open && v == lo) || v > hi) return 0;
    *out = v;
    return 1;
}

static uint64_t random_seed(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, 0) != sizeof v) v = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    return v;
}

int talk_parse(const char *cmd, int argc, char **argv, talk_opts *o)
{
    const int is_run = strcmp(cmd, "run") == 0;
    o->sampling = vkllm_sampling_default();
    o->max_tokens = 512;
    int greedy = 0;
    float temp = -1, top_p = -1, min_p = -1, rep = -1;
    int32_t top_k = -1, rep_n = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char *want = NULL; /* what a bad value should have been */
        int ok = 1, takes = 1;
        uint32_t u;
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && v) o->model = v;
        else if (is_run && (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && v) o->prompt = v;
        else if (is_run && (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && v) o->prompt_file = v;
        else if (strcmp(a, "--system") == 0 && v) o->system = v;
        else if (strcmp(a, "--template") == 0 && v) o->template_name = v;
        else if (strcmp(a, "--device") == 0 && v) o->device = v;
        else if (strcmp(a, "--quant") == 0 && v) {
            if (!cli_quant_ok(cmd, v)) return 2;
            o->quant = v;
        } else if (strcmp(a, "--quant-search") == 0 && v) {
            if (!cli_search_ok(cmd, a, v)) return 2;
            o->quant_search = v;
        } else if (strcmp(a, "--stop") == 0 && v) {
            ok = o->n_stop < MAX_STOPS && *v;
            want = "a non-empty string (at most 16 --stop)";
            if (ok) o->stops[o->n_stop++] = v;
        } else if (strcmp(a, "--ctx") == 0 && v) {
            ok = cli_parse_u32(v, &o->n_ctx) && o->n_ctx > 1;
            want = "a number of positions >= 2";
        } else if (strcmp(a, "--batch") == 0 && v) {
            ok = cli_parse_u32(v, &o->n_batch) && o->n_batch > 0 && o->n_batch <= 65535;
            want = "a number of tokens in 1..65535";
        } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--max-tokens") == 0) && v) {
            ok = cli_parse_u32(v, &o->max_tokens);
            want = "a number of tokens >= 0";
        } else if ((strcmp(a, "--temp") == 0 || strcmp(a, "--temperature") == 0) && v) {
            ok = parse_float(v, 0, 0, 1e6f, &temp);
            want = "a finite number >= 0 (0: greedy)";
        } else if (strcmp(a, "--top-k") == 0 && v) {
            ok = cli_parse_u32(v, &u) && u <= INT32_MAX && (top_k = (int32_t)u, 1);
            want = "a number >= 0 (0: off)";
        } else if (strcmp(a, "--top-p") == 0 && v) {
            ok = parse_float(v, 0, 1, 1, &top_p);
            want = "a number in (0, 1] (1: off)";
        } else if (strcmp(a, "--min-p") == 0 && v) {
            ok = parse_float(v, 0, 0, 1, &min_p);
            want = "a number in [0, 1] (0: off)";
        } else if (strcmp(a, "--repeat-penalty") == 0 && v) {
            ok = parse_float(v, 0, 1, 1e6f, &rep);
            want = "a finite number > 0 (1: off)";
        } else if (strcmp(a, "--repeat-last-n") == 0 && v) {
            ok = cli_parse_u32(v, &u) && u <= INT32_MAX && (rep_n = (int32_t)u, 1);
            want = "a number of tokens >= 0 (0: off)";
        } else if (strcmp(a, "--seed") == 0 && v) {
            want = "a number >= 0, or -1 for a random seed";
            if (strcmp(v, "-1") == 0) {
                o->seed_given = 0;
            } else {
                char *end;
                errno = 0;
                unsigned long long sv = strtoull(v, &end, 10);
                ok = *v >= '0' && *v <= '9' && *end == '\0' && errno == 0;
                o->sampling.seed = sv;
                o->seed_given = ok;
            }
        } else if (strcmp(a, "--greedy") == 0) {
            greedy = 1;
            takes = 0;
        } else if (is_run && strcmp(a, "--raw") == 0) {
            o->raw = 1;
            takes = 0;
        } else if (is_run && strcmp(a, "--json") == 0) {
            o->json = 1;
            takes = 0;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            takes = 0;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o->verbose = 1;
            takes = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            talk_usage(cmd);
            return 0;
        } else {
            fprintf(stderr, "vkllm %s: unknown or incomplete option %s (try vkllm help %s)\n", cmd, a, cmd);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vkllm %s: bad value '%s' for %s%s%s\n", cmd, v, a, want ? ": want " : "", want ? want : "");
            return 2;
        }
        i += takes;
    }
    /* --greedy first, then any explicit setting over it */
    uint64_t seed = o->sampling.seed;
    if (greedy) o->sampling = vkllm_sampling_greedy();
    o->sampling.seed = seed;
    if (temp >= 0) o->sampling.temperature = temp;
    if (top_k >= 0) o->sampling.top_k = top_k;
    if (top_p >= 0) o->sampling.top_p = top_p;
    if (min_p >= 0) o->sampling.min_p = min_p;
    if (rep >= 0) o->sampling.repeat_penalty = rep;
    if (rep_n >= 0) o->sampling.repeat_last_n = rep_n;
    if (!o->seed_given) o->sampling.seed = random_seed();
    if (o->template_name) {
        int known = 0;
        for (size_t i = 0; vkllm_chat_template_list(i); i++)
            if (strcasecmp(o->template_name, vkllm_chat_template_list(i)) == 0) {
                o->template_name = vkllm_chat_template_list(i);
                known = 1;
            }
        if (!known) {
            char names[256];
            template_names(names, sizeof names);
            fprintf(stderr, "vkllm %s: unknown chat template '%s'; known: %s\n", cmd, o->template_name, names);
            return 2;
        }
    }
    if (!o->model) {
        fprintf(stderr, "vkllm %s: which model? give -m MODEL (a .gguf file or a Hugging Face folder)\n", cmd);
        return 2;
    }
    if (o->quant_search && !o->quant) {
        fprintf(stderr, "vkllm %s: --quant-search chooses how --quant searches scales: give --quant TYPE too\n", cmd);
        return 2;
    }
    if (is_run && !o->prompt == !o->prompt_file) {
        fprintf(stderr, "vkllm run: give the message with -p PROMPT, -p - (standard input) or -f FILE (one of them; "
                        "or use vkllm chat)\n");
        return 2;
    }
    return -1;
}

/* ------------------------------------------------------------ before loading */

int talk_tokenize(const talk *t, const char *text, int chat, int32_t **ids, size_t *n)
{
    char err[1024];
    unsigned flags = (vkllm_tokenizer_adds_bos(t->tok) ? VKLLM_TOKENIZE_BOS : 0) | (chat ? VKLLM_TOKENIZE_SPECIAL : 0);
    if (vkllm_tokenize(t->tok, text, strlen(text), flags, ids, n, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", t->cmd, err);
        return 0;
    }
    return 1;
}

int talk_prepare(talk *t)
{
    const talk_opts *o = &t->o;
    char err[1024];
    if (vkllm_model_inspect_quant(o->model, o->quant, &t->info, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", t->cmd, err);
        return 0;
    }
    if (vkllm_tokenizer_load(o->model, &t->tok, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s has no usable tokenizer: %s\n", t->cmd, o->model, err);
        return 0;
    }
    if (vkllm_tokenizer_n_vocab(t->tok) > t->info.n_vocab && !o->quiet)
        fprintf(stderr, "warning: the tokenizer has %u pieces but the model only %u embeddings; a text that uses the "
                        "others fails\n", vkllm_tokenizer_n_vocab(t->tok), t->info.n_vocab);
    if (o->template_name) {
        t->tmpl = o->template_name;
        t->tmpl_recognised = 1;
    } else if (vkllm_model_inspect_chat_template(o->model, &t->tmpl, &t->tmpl_recognised, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", t->cmd, err);
        return 0;
    }
    if (!o->raw && !t->tmpl_recognised && !o->quiet)
        fprintf(stderr, "note: the model's chat template is missing or not recognised; using '%s' (--template to choose)\n",
                t->tmpl);
    t->n_ctx = vkllm_model_memory(&t->info, o->n_ctx, 0).n_ctx;
    if (o->n_ctx > t->info.n_ctx_train && t->info.n_ctx_train && !o->quiet)
        fprintf(stderr, "warning: --ctx %u is beyond the %u positions the model was trained on; text past %u is "
                        "likely to degrade\n", o->n_ctx, t->info.n_ctx_train, t->info.n_ctx_train);
    return 1;
}

/* ------------------------------------------------------------ loading */

static int load_progress(uint64_t done, uint64_t total, void *user)
{
    const talk *t = user;
    if (!t->o.quiet && !t->o.json) cli_progress(done, total, NULL);
    return talk_interrupted != 0;
}

/* Runs a full prompt block and a decode step once, so the speed of the first
 * turn is not the JIT compiler's (lavapipe compiles each shader at its first
 * dispatch), then empties the cache again. */
static vkllm_status warm_up(talk *t)
{
    const vkllm_sampling *sp = &t->o.sampling;
    const int argmax_only = sp->temperature <= 0 && (sp->repeat_penalty == 1.0f || sp->repeat_last_n == 0);
    uint32_t nb = t->n_batch < t->n_ctx - 1 ? t->n_batch : t->n_ctx - 1;
    int32_t *ids = calloc(nb, sizeof *ids);
    float *logits = argmax_only ? NULL : malloc((size_t)t->info.n_vocab * sizeof *logits);
    vkllm_status st = VKLLM_ERR_OUT_OF_MEMORY;
    if (ids && (argmax_only || logits)) {
        int32_t bos = vkllm_token_bos(t->tok);
        for (uint32_t i = 0; i < nb; i++) ids[i] = bos >= 0 ? bos : 0;
        st = vkllm_session_eval(t->s, ids, nb, VKLLM_LOGITS_ARGMAX, NULL, NULL);
        if (st == VKLLM_OK)
            st = vkllm_session_eval(t->s, ids, 1, argmax_only ? VKLLM_LOGITS_ARGMAX : VKLLM_LOGITS_LAST, logits, NULL);
        if (st == VKLLM_OK) st = vkllm_session_rewind(t->s, 0);
    }
    free(ids);
    free(logits);
    return st;
}

int talk_load(talk *t)
{
    const talk_opts *o = &t->o;
    char err[1024];
    vkllm_load_options lo = { .device = o->device, .n_ctx = o->n_ctx, .progress = load_progress, .progress_user = t,
                              .quant = o->quant, .quant_search = o->quant_search };
    vkllm_status st = vkllm_model_load(o->model, &lo, &t->m, err, sizeof err);
    if (st != VKLLM_OK) {
        if (talk_interrupted) fprintf(stderr, "\nvkllm %s: loading interrupted\n", t->cmd);
        else fprintf(stderr, "vkllm %s: %s\n", t->cmd, err);
        return 0;
    }
    const vkllm_device_info *dev = vkllm_model_device(t->m);
    t->n_batch = o->n_batch ? o->n_batch : dev->type == VKLLM_DEVICE_CPU ? 64 : 256;
    if (t->n_batch > t->n_ctx) t->n_batch = t->n_ctx;
    vkllm_session_options so = { .n_ctx = o->n_ctx, .n_batch = t->n_batch };
    if (vkllm_session_create(t->m, &so, &t->s, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", t->cmd, err);
        return 0;
    }
    t->n_ctx = vkllm_session_n_ctx(t->s);
    double t0 = now_s();
    if (warm_up(t) != VKLLM_OK) {
        fprintf(stderr, "vkllm %s: %s\n", t->cmd, vkllm_session_error(t->s));
        return 0;
    }
    t->warmup_s = now_s() - t0;
    if (o->verbose) {
        fprintf(stderr, "device: %s (%s)\n", dev->name, cli_device_type(dev->type));
        fprintf(stderr, "template: %s%s\n", o->raw ? "none (--raw)" : t->tmpl,
                o->raw || t->tmpl_recognised ? "" : " (the model's was not recognised)");
        fprintf(stderr, "context: %u positions, prompt blocks of %u tokens\n", t->n_ctx, t->n_batch);
        fprintf(stderr, "seed: %llu\n", (unsigned long long)o->sampling.seed);
        fprintf(stderr, "warm-up (first-use shader compilation): %.0f ms\n", t->warmup_s * 1e3);
    }
    return 1;
}

int talk_unload(talk *t)
{
    int bad = cli_validation_failed(t->m, t->cmd);
    vkllm_session_free(t->s);
    vkllm_model_free(t->m);
    vkllm_tokenizer_free(t->tok);
    t->s = NULL;
    t->m = NULL;
    t->tok = NULL;
    return bad;
}

/* ------------------------------------------------------------ one turn */

static void clear_progress(talk_turn *turn)
{
    if (turn->progress_shown) {
        fprintf(stderr, "\r\033[K");
        turn->progress_shown = 0;
    }
}

static int on_token(int32_t token, const char *text, size_t len, void *user)
{
    (void)token;
    talk_turn *r = user;
    clear_progress(r);
    if (r->stream) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (len) {
        if (r->len + len + 1 > r->cap) {
            size_t cap = (r->len + len + 1) * 2;
            char *nt = realloc(r->text, cap);
            if (!nt) return 1;
            r->text = nt;
            r->cap = cap;
        }
        memcpy(r->text + r->len, text, len);
        r->len += len;
        r->text[r->len] = '\0';
    }
    return talk_interrupted != 0;
}

static int on_prefill(uint32_t done, uint32_t total, void *user)
{
    talk_turn *r = user;
    r->prefill_done = done;
    r->prefill_total = total;
    if (r->t->o.verbose) {
        fprintf(stderr, "prompt: %u/%u tokens\n", done, total);
    } else if (!r->t->o.quiet && term_isatty(2) && total > r->t->n_batch && done < total) {
        fprintf(stderr, "\r[prompt %u/%u]", done, total);
        r->progress_shown = 1;
    }
    if (done == total) clear_progress(r);
    return talk_interrupted != 0;
}

vkllm_generate_options talk_gen_options(const talk *t, talk_turn *turn)
{
    turn->t = t;
    return (vkllm_generate_options){ .sampling = t->o.sampling, .max_tokens = t->o.max_tokens, .stop = t->o.stops,
                                     .n_stop = t->o.n_stop, .on_token = on_token, .on_prefill = on_prefill,
                                     .user = turn };
}

static const char *reason_text(vkllm_stop_reason r)
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

const char *talk_finish_reason(vkllm_stop_reason r)
{
    switch (r) {
    case VKLLM_STOP_EOS: return "eos";
    case VKLLM_STOP_STRING: return "stop";
    case VKLLM_STOP_MAX_TOKENS: return "length";
    case VKLLM_STOP_CONTEXT_FULL: return "context_full";
    case VKLLM_STOP_CALLBACK: return "interrupted";
    }
    return "?";
}

void talk_finish_turn(const talk *t, const talk_turn *turn)
{
    const vkllm_generate_stats *st = &turn->st;
    clear_progress((talk_turn *)turn);
    if (turn->stream && (turn->len == 0 || turn->text[turn->len - 1] != '\n')) putchar('\n');
    fflush(stdout);
    if (st->reason == VKLLM_STOP_CALLBACK && st->n_generated == 0 && turn->prefill_total > turn->prefill_done)
        fprintf(stderr, "(interrupted after %u of %u prompt tokens)\n", turn->prefill_done, turn->prefill_total);
    if (t->o.quiet) return;
    fprintf(stderr, "[prompt: %u tokens%s, %.1f t/s | generation: %u tokens, %.1f t/s | %s]\n", st->n_prompt,
            st->n_reused ? " (+ cached)" : "", st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0.0, st->n_generated,
            st->gen_s > 0 ? st->n_generated / st->gen_s : 0.0, reason_text(st->reason));
}

/* ------------------------------------------------------------ files */

char *talk_read_file(const char *path, size_t *len_out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    if (buf) buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

/* ------------------------------------------------------------ run */

static void json_run(const talk *t, const talk_turn *turn)
{
    const vkllm_generate_stats *st = &turn->st;
    printf("{\"text\": ");
    json_str(turn->text ? turn->text : "");
    printf(", \"finish_reason\": \"%s\", \"seed\": %llu, \"template\": ", talk_finish_reason(st->reason),
           (unsigned long long)t->o.sampling.seed);
    if (t->o.raw) printf("null");
    else json_str(t->tmpl);
    printf(", \"tokens\": {\"prompt\": %u, \"generated\": %u}", st->n_prompt + st->n_reused, st->n_generated);
    printf(", \"timings\": {\"prompt_s\": %.6f, \"prompt_tokens_per_s\": %.3f, \"generation_s\": %.6f, "
           "\"generation_tokens_per_s\": %.3f, \"warmup_s\": %.6f}}\n",
           st->prompt_s, st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0.0, st->gen_s,
           st->gen_s > 0 ? st->n_generated / st->gen_s : 0.0, t->warmup_s);
}

int cmd_run(int argc, char **argv)
{
    talk t = { .cmd = "run" };
    int rc = talk_parse("run", argc, argv, &t.o);
    if (rc >= 0) return rc;
    const talk_opts *o = &t.o;
    char *prompt = NULL;
    if (o->prompt_file || strcmp(o->prompt, "-") == 0) {
        const char *path = o->prompt_file ? o->prompt_file : "-";
        prompt = talk_read_file(path, NULL);
        if (!prompt) {
            fprintf(stderr, "vkllm run: cannot read the prompt from %s: %s\n",
                    strcmp(path, "-") == 0 ? "standard input" : path, strerror(errno));
            return 1;
        }
    } else {
        prompt = strdup(o->prompt);
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *rendered = NULL;
    rc = 1;
    if (!prompt || !*prompt) {
        fprintf(stderr, "vkllm run: the prompt is empty\n");
        rc = 2;
        goto out;
    }
    if (!talk_prepare(&t)) goto out;
    /* the prompt's length, before the upload */
    char err[1024];
    vkllm_message msgs[2];
    size_t n_msgs = 0;
    if (o->system) msgs[n_msgs++] = (vkllm_message){ VKLLM_ROLE_SYSTEM, o->system };
    msgs[n_msgs++] = (vkllm_message){ VKLLM_ROLE_USER, prompt };
    if (!o->raw && vkllm_chat_render(NULL, t.tmpl, msgs, n_msgs, 1, &rendered, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm run: %s\n", err);
        goto out;
    }
    if (!talk_tokenize(&t, o->raw ? prompt : rendered, !o->raw, &ids, &n_ids)) goto out;
    if (n_ids == 0) {
        fprintf(stderr, "vkllm run: the prompt is no tokens at all (this vocabulary adds no BOS)\n");
        goto out;
    }
    if (n_ids >= t.n_ctx) {
        uint64_t want = n_ids + (o->max_tokens ? o->max_tokens : 1);
        fprintf(stderr,
                "vkllm run: the prompt is %zu tokens but a context of %u positions holds at most %u of them and "
                "the answer; use --ctx %llu or more (the prompt plus -n %u)%s\n",
                n_ids, t.n_ctx, t.n_ctx - 1, (unsigned long long)want, o->max_tokens,
                want > t.info.n_ctx_train ? ", or a shorter prompt: the model was trained on fewer" : "");
        goto out;
    }
    talk_catch_sigint();
    if (!talk_load(&t)) {
        if (talk_interrupted) rc = 130;
        goto out;
    }
    talk_turn turn = { .stream = !o->json };
    vkllm_generate_options go = talk_gen_options(&t, &turn);
    vkllm_status s = o->raw ? vkllm_generate(t.s, ids, n_ids, &go, &turn.st)
                            : vkllm_chat(t.s, o->template_name ? o->template_name : t.tmpl, msgs, n_msgs, &go, &turn.st);
    if (s != VKLLM_OK) {
        if (turn.stream && turn.len) putchar('\n');
        fprintf(stderr, "vkllm run: %s\n", vkllm_session_error(t.s));
    } else {
        if (o->json) json_run(&t, &turn);
        else talk_finish_turn(&t, &turn);
        if (turn.st.reason == VKLLM_STOP_CONTEXT_FULL && !o->quiet)
            fprintf(stderr, "the context of %u positions filled up: the prompt took %zu, the answer %u; --ctx %llu holds "
                            "the prompt and -n %u\n", t.n_ctx, n_ids, turn.st.n_generated,
                    (unsigned long long)n_ids + (o->max_tokens ? o->max_tokens : t.n_ctx), o->max_tokens ? o->max_tokens : t.n_ctx);
        rc = turn.st.reason == VKLLM_STOP_CALLBACK ? 130 : 0;
    }
    free(turn.text);
out:
    if (talk_unload(&t) && rc == 0) rc = 1;
    vkllm_free(ids);
    vkllm_free(rendered);
    free(prompt);
    return rc;
}
