/* `vkllm chat` (a conversation at the terminal or from a pipe) and
 * `vkllm tokenize`. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "term.h"
#include "cli_line.h"
#include "cli_talk.h"

/* ------------------------------------------------------------ conversation */

typedef struct conv {
    vkllm_message *m; /* texts malloc'd; a system message only at [0] */
    size_t n, cap;
} conv;

static int conv_push(conv *c, vkllm_role role, const char *text)
{
    if (c->n + 1 > c->cap) {
        size_t cap = (c->n + 1) * 2;
        vkllm_message *m = realloc(c->m, cap * sizeof *m);
        if (!m) return 0;
        c->m = m;
        c->cap = cap;
    }
    char *t = strdup(text ? text : "");
    if (!t) return 0;
    c->m[c->n++] = (vkllm_message){ role, t };
    return 1;
}

static void conv_pop(conv *c)
{
    if (c->n) free((char *)c->m[--c->n].text);
}

/* Removes messages [i, i + k). */
static void conv_remove(conv *c, size_t i, size_t k)
{
    if (k == 0) return;
    for (size_t j = i; j < i + k; j++) free((char *)c->m[j].text);
    memmove(c->m + i, c->m + i + k, (c->n - i - k) * sizeof *c->m);
    c->n -= k;
}

static void conv_clear(conv *c, int keep_system)
{
    size_t first = keep_system && c->n && c->m[0].role == VKLLM_ROLE_SYSTEM ? 1 : 0;
    conv_remove(c, first, c->n - first);
}

static const char *role_str(vkllm_role r)
{
    return r == VKLLM_ROLE_SYSTEM ? "system" : r == VKLLM_ROLE_USER ? "user" : "assistant";
}

/* /save: the OpenAI messages shape, [{"role": ..., "content": ...}, ...]. */
static int conv_save(const conv *c, const char *path, char *err, size_t err_len)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < c->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role_str(c->m[i].role));
        cJSON_AddStringToObject(o, "content", c->m[i].text);
        cJSON_AddItemToArray(a, o);
    }
    char *text = a ? cJSON_Print(a) : NULL;
    cJSON_Delete(a);
    if (!text) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
    free(text);
    return ok;
}

/* /load: an array of messages, or an object with "messages" (a chat
 * completions request). "content" is a string or a list of text parts. */
static int conv_load(conv *c, const char *path, char *err, size_t err_len)
{
    size_t len;
    char *text = talk_read_file(path, &len);
    if (!text) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *msgs = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "messages") : root;
    conv nc = { 0 };
    int ok = 1;
    if (!cJSON_IsArray(msgs)) {
        snprintf(err, err_len, "%s is not a JSON list of messages ([{\"role\": \"user\", \"content\": \"...\"}, ...])", path);
        ok = 0;
    }
    size_t i = 0;
    const cJSON *it, *list = ok ? msgs : NULL;
    cJSON_ArrayForEach(it, list)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        vkllm_role r;
        if (!cJSON_IsString(role)) r = (vkllm_role)-1;
        else if (strcmp(role->valuestring, "system") == 0) r = VKLLM_ROLE_SYSTEM;
        else if (strcmp(role->valuestring, "user") == 0) r = VKLLM_ROLE_USER;
        else if (strcmp(role->valuestring, "assistant") == 0) r = VKLLM_ROLE_ASSISTANT;
        else r = (vkllm_role)-1;
        if ((int)r < 0) {
            snprintf(err, err_len, "%s: message %zu has no role system, user or assistant", path, i);
            ok = 0;
            break;
        }
        if (r == VKLLM_ROLE_SYSTEM && i != 0) {
            snprintf(err, err_len, "%s: message %zu is a system message; only the first may be", path, i);
            ok = 0;
            break;
        }
        {
            char *joined = NULL;
            if (cJSON_IsString(content)) {
                joined = strdup(content->valuestring);
            } else if (cJSON_IsArray(content)) { /* [{"type": "text", "text": "..."}, ...] */
                size_t total = 1;
                const cJSON *part;
                cJSON_ArrayForEach(part, content)
                {
                    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(part, "text");
                    if (cJSON_IsString(pt)) total += strlen(pt->valuestring);
                }
                joined = calloc(1, total);
                cJSON_ArrayForEach(part, content)
                {
                    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(part, "text");
                    if (joined && cJSON_IsString(pt)) strcat(joined, pt->valuestring);
                }
            } else {
                snprintf(err, err_len, "%s: message %zu has no \"content\" text", path, i);
                ok = 0;
                break;
            }
            ok = joined && conv_push(&nc, r, joined);
            free(joined);
            if (!ok) {
                snprintf(err, err_len, "out of memory");
                break;
            }
        }
        i++;
    }
    cJSON_Delete(root);
    if (ok) {
        conv_clear(c, 0);
        free(c->m);
        *c = nc;
    } else {
        conv_clear(&nc, 0);
        free(nc.m);
    }
    return ok;
}

/* ------------------------------------------------------------ chat */

typedef struct chat_state {
    talk t;
    conv c;
    line_reader *in;
    int tty;
    uint32_t turns, total_prompt, total_gen;
    int have_last;
    vkllm_generate_stats last;
} chat_state;

static void chat_help(void)
{
    printf("/help               this list\n"
           "/reset, /clear      forget the conversation (the system message stays)\n"
           "/system [TEXT]      set the system message (no TEXT: show it; \"/system -\": remove it)\n"
           "/save FILE          write the conversation as JSON (OpenAI messages: [{\"role\", \"content\"}, ...])\n"
           "/load FILE          read such a file and go on with that conversation\n"
           "/stats              seed, context used, speeds, settings\n"
           "/quit, /exit, /bye  leave (also Ctrl-D, or Ctrl-C twice at an empty prompt)\n"
           "\"\"\"                 starts and ends a multi-line message; a line ending in \\ goes on\n"
           "//TEXT              sends \"/TEXT\"\n"
           "Ctrl-C stops an answer (or the reading of a long prompt) and comes back here.\n");
}

static void chat_stats(const chat_state *cs)
{
    const talk *t = &cs->t;
    const vkllm_sampling *sp = &t->o.sampling;
    printf("seed          %llu (--seed %llu gives the same answers again)\n", (unsigned long long)sp->seed,
           (unsigned long long)sp->seed);
    printf("template      %s\n", t->tmpl);
    printf("context       %u of %u positions in use (prompt blocks of %u tokens)\n", vkllm_session_pos(t->s), t->n_ctx,
           t->n_batch);
    int sys = cs->c.n && cs->c.m[0].role == VKLLM_ROLE_SYSTEM;
    printf("messages      %zu%s\n", cs->c.n, sys ? " (the first is the system message)" : "");
    if (cs->have_last) {
        const vkllm_generate_stats *st = &cs->last;
        printf("last turn     prompt %u tokens (+ %u cached), %.1f t/s; generation %u tokens, %.1f t/s; %s\n",
               st->n_prompt, st->n_reused, st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0.0, st->n_generated,
               st->gen_s > 0 ? st->n_generated / st->gen_s : 0.0, talk_finish_reason(st->reason));
    }
    printf("this session  %u turns, %u prompt tokens evaluated, %u generated; warm-up %.0f ms (not in the speeds)\n",
           cs->turns, cs->total_prompt, cs->total_gen, t->warmup_s * 1e3);
    printf("sampling      temp %g, top-k %d, top-p %g, min-p %g, repeat penalty %g over %d\n", sp->temperature,
           sp->top_k, sp->top_p, sp->min_p, sp->repeat_penalty, sp->repeat_last_n);
}

/* Tokens the conversation renders to, with the assistant prompt; 0 on failure (printed). */
static int conv_tokens(const chat_state *cs, size_t *n)
{
    char *text = NULL, err[1024];
    if (vkllm_chat_render(cs->t.m, cs->t.tmpl, cs->c.m, cs->c.n, 1, &text, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm chat: %s\n", err);
        return 0;
    }
    int32_t *ids = NULL;
    int ok = talk_tokenize(&cs->t, text, 1, &ids, n);
    vkllm_free(ids);
    vkllm_free(text);
    return ok;
}

/* Makes the conversation (ending with the new user message) fit the context
 * with room for an answer, dropping the oldest turns but never the system
 * message or the new message. 0: it cannot fit (said why). */
static int make_room(chat_state *cs)
{
    const uint32_t n_ctx = cs->t.n_ctx, max = cs->t.o.max_tokens;
    uint32_t room = max && max < n_ctx / 2 ? max : n_ctx / 4;
    if (room < 1) room = 1;
    size_t dropped = 0, n;
    for (;;) {
        if (!conv_tokens(cs, &n)) return 0;
        if (n + room <= n_ctx) break;
        size_t first = cs->c.n && cs->c.m[0].role == VKLLM_ROLE_SYSTEM ? 1 : 0;
        if (first + 1 >= cs->c.n) { /* only the new message (and the system message) left */
            if (n < n_ctx) break;   /* it fits; the answer will be short */
            fprintf(stderr, "vkllm chat: this message is %zu tokens with the template%s, the context holds %u (--ctx); "
                            "it was not sent\n", n, first ? " and the system message" : "", n_ctx);
            return 0;
        }
        /* a user message and its answer go together (templates alternate them) */
        size_t k = cs->c.m[first].role == VKLLM_ROLE_USER && first + 2 < cs->c.n &&
                           cs->c.m[first + 1].role == VKLLM_ROLE_ASSISTANT ? 2 : 1;
        conv_remove(&cs->c, first, k);
        dropped += k;
    }
    if (dropped)
        fprintf(stderr, "(the conversation outgrew the context of %u: dropped the oldest %zu message%s, kept the "
                        "system message)\n", n_ctx, dropped, dropped == 1 ? "" : "s");
    return 1;
}

/* One user message through the model. 0: a failure that ends the chat. */
static int chat_turn(chat_state *cs, const char *msg)
{
    talk *t = &cs->t;
    if (!conv_push(&cs->c, VKLLM_ROLE_USER, msg)) return 0;
    if (!make_room(cs)) {
        conv_pop(&cs->c);
        return 1;
    }
    talk_turn turn = { .stream = 1 };
    vkllm_generate_options go = talk_gen_options(t, &turn);
    talk_interrupted = 0;
    vkllm_status s = vkllm_chat(t->s, t->tmpl, cs->c.m, cs->c.n, &go, &turn.st);
    if (s != VKLLM_OK) {
        if (turn.len) putchar('\n');
        fprintf(stderr, "vkllm chat: %s\n", vkllm_session_error(t->s));
        conv_pop(&cs->c); /* the turn did not happen */
        free(turn.text);
        return s == VKLLM_ERR_OUT_OF_MEMORY || s == VKLLM_ERR_INVALID_ARG;
    }
    if (turn.st.reason == VKLLM_STOP_CALLBACK && turn.len == 0) conv_pop(&cs->c); /* stopped before any answer */
    else if (!conv_push(&cs->c, VKLLM_ROLE_ASSISTANT, turn.text)) return 0;
    talk_finish_turn(t, &turn);
    if (turn.st.reason == VKLLM_STOP_CONTEXT_FULL && !t->o.quiet)
        fprintf(stderr, "(the context is full; the next message drops the oldest turns)\n");
    cs->have_last = 1;
    cs->last = turn.st;
    cs->turns++;
    cs->total_prompt += turn.st.n_prompt;
    cs->total_gen += turn.st.n_generated;
    free(turn.text);
    return 1;
}

static int is_cmd(const char *line, const char *name, const char **arg)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0 || (line[n] && line[n] != ' ')) return 0;
    const char *a = line + n;
    while (*a == ' ') a++;
    *arg = a;
    return 1;
}

/* A /command; returns 0 to leave the chat. */
static int chat_command(chat_state *cs, const char *line)
{
    const char *arg;
    char err[1024];
    if (is_cmd(line, "/quit", &arg) || is_cmd(line, "/exit", &arg) || is_cmd(line, "/bye", &arg)) return 0;
    if (is_cmd(line, "/help", &arg) || is_cmd(line, "/?", &arg)) {
        chat_help();
    } else if (is_cmd(line, "/reset", &arg) || is_cmd(line, "/clear", &arg)) {
        conv_clear(&cs->c, 1);
        vkllm_session_rewind(cs->t.s, 0);
        fprintf(stderr, "(conversation cleared)\n");
    } else if (is_cmd(line, "/system", &arg)) {
        int has = cs->c.n && cs->c.m[0].role == VKLLM_ROLE_SYSTEM;
        if (!*arg) {
            printf("%s\n", has ? cs->c.m[0].text : "(no system message)");
        } else if (strcmp(arg, "-") == 0) {
            if (has) conv_remove(&cs->c, 0, 1);
            fprintf(stderr, "(system message removed)\n");
        } else {
            char *t = strdup(arg);
            if (!t) return 0;
            if (has) {
                free((char *)cs->c.m[0].text);
                cs->c.m[0].text = t;
            } else {
                if (!conv_push(&cs->c, VKLLM_ROLE_SYSTEM, t)) return free(t), 0;
                free(t);
                vkllm_message sys = cs->c.m[cs->c.n - 1];
                memmove(cs->c.m + 1, cs->c.m, (cs->c.n - 1) * sizeof *cs->c.m);
                cs->c.m[0] = sys;
            }
            fprintf(stderr, "(system message set)\n");
        }
    } else if (is_cmd(line, "/save", &arg)) {
        if (!*arg) fprintf(stderr, "usage: /save FILE\n");
        else if (!conv_save(&cs->c, arg, err, sizeof err)) fprintf(stderr, "vkllm chat: %s\n", err);
        else fprintf(stderr, "(saved %zu messages to %s)\n", cs->c.n, arg);
    } else if (is_cmd(line, "/load", &arg)) {
        if (!*arg) fprintf(stderr, "usage: /load FILE\n");
        else if (!conv_load(&cs->c, arg, err, sizeof err)) fprintf(stderr, "vkllm chat: %s\n", err);
        else fprintf(stderr, "(loaded %zu messages from %s)\n", cs->c.n, arg);
    } else if (is_cmd(line, "/stats", &arg)) {
        chat_stats(cs);
    } else {
        fprintf(stderr, "unknown command %s (/help lists them; //TEXT sends \"/TEXT\")\n", line);
    }
    return 1;
}

int cmd_chat(int argc, char **argv)
{
    chat_state cs = { .t = { .cmd = "chat" } };
    int rc = talk_parse("chat", argc, argv, &cs.t.o);
    if (rc >= 0) return rc;
    talk_catch_sigint();
    rc = 1;
    if (!talk_prepare(&cs.t) || !talk_load(&cs.t)) {
        if (talk_interrupted) rc = 130;
        goto out;
    }
    if (cs.t.o.system && !conv_push(&cs.c, VKLLM_ROLE_SYSTEM, cs.t.o.system)) goto out;
    cs.tty = term_isatty(0);
    cs.in = line_open(cs.tty);
    if (!cs.in) goto out;
    if (cs.tty && !cs.t.o.quiet) fprintf(stderr, "(/help for commands, Ctrl-D or /quit to leave)\n");
    rc = 0;
    int ctrl_c = 0; /* Ctrl-C at an empty prompt just now */
    for (;;) {
        char *line = NULL;
        int was_empty = 1;
        line_result res = line_read(cs.in, cs.tty ? "> " : NULL, &line, &was_empty);
        if (res == LINE_EOF) {
            if (cs.tty) putchar('\n');
            break;
        }
        if (res == LINE_INTERRUPT) {
            if (!cs.tty) break; /* nobody to ask */
            if (was_empty && ctrl_c) {
                putchar('\n');
                break;
            }
            ctrl_c = was_empty;
            fputs(was_empty ? "\n(Ctrl-C again or Ctrl-D to quit)\n" : "\n", stderr);
            continue;
        }
        ctrl_c = 0;
        line_history_add(cs.in, line);
        int go_on = 1;
        if (line[0] == '/' && line[1] != '/') go_on = chat_command(&cs, line);
        else if (line[strspn(line, " \t")] != '\0') {
            go_on = chat_turn(&cs, line[0] == '/' ? line + 1 : line);
            if (!go_on) rc = 1;
        }
        free(line);
        if (!go_on) break;
    }
out:
    line_close(cs.in);
    conv_clear(&cs.c, 0);
    free(cs.c.m);
    if (talk_unload(&cs.t)) rc = 1;
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
