/* Reading chat messages: libedit (line editing, history, bracketed paste)
 * when standard input is a terminal, plain reads otherwise. Both take the
 * same multi-line forms: a line ending in \ goes on, and """ starts and
 * ends a block. */
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "cli_line.h"
#include "cli_talk.h"

struct line_reader {
    EditLine *el;           /* NULL: plain reads */
    History *hist;
    char history_path[4096]; /* "" when there is no place for it */
    const char *prompt;
    char *paste;            /* a multi-line paste that ended the line, or NULL */
    size_t paste_len, paste_cap;
    char *plain;            /* getline buffer */
    size_t plain_cap;
};

/* ------------------------------------------------------------ strings */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static int sb_putn(sbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return 0;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 1;
}

/* ------------------------------------------------------------ libedit */

static char *prompt_fn(EditLine *el)
{
    line_reader *r;
    el_get(el, EL_CLIENTDATA, &r);
    return (char *)r->prompt;
}

/* libedit's read of one character, made safe against a Ctrl-C that comes
 * just before the read starts: SIGINT stays blocked from the check of the
 * flag until pselect() waits, so it either is seen or wakes the wait. */
static int getc_fn(EditLine *el, wchar_t *wc)
{
    (void)el;
    char buf[MB_LEN_MAX];
    size_t n = 0;
    for (;;) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &old);
        if (talk_interrupted) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            errno = EINTR;
            return -1;
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(STDIN_FILENO, &fds);
        int k = pselect(STDIN_FILENO + 1, &fds, NULL, NULL, NULL, &old);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (k < 0) {
            if (errno == EINTR) continue; /* the flag decides, at the top */
            return -1;
        }
        ssize_t got = read(STDIN_FILENO, buf + n, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got == 0 ? 0 : -1;
        n++;
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t c = mbrtowc(wc, buf, n, &ps);
        if (c == (size_t)-2 && n < sizeof buf) continue; /* more bytes of this character */
        if (c == (size_t)-1 || c == (size_t)-2) {           /* not a character: skip it */
            n = 0;
            continue;
        }
        if (c == 0) *wc = 0;
        return 1;
    }
}

/* Bound to ESC [ 200 ~, which a terminal in bracketed-paste mode sends
 * before pasted text (and ESC [ 201 ~ after). A paste without a line break
 * goes into the line being edited; one with line breaks ends the line and
 * becomes (with what was typed before it) one message. */
static unsigned char paste_fn(EditLine *el, int ch)
{
    (void)ch;
    line_reader *r;
    el_get(el, EL_CLIENTDATA, &r);
    static const char end[] = "\033[201~";
    sbuf b = { 0 };
    size_t matched = 0;
    int prev_cr = 0;
    for (;;) {
        wchar_t wc;
        if (el_wgetc(el, &wc) != 1) break;
        char mb[MB_LEN_MAX];
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t n = wcrtomb(mb, wc, &ps);
        if (n == (size_t)-1) continue;
        if (n == 1 && mb[0] == end[matched]) {
            if (++matched == sizeof end - 1) break;
            continue;
        }
        if (matched) sb_putn(&b, end, matched); /* a false start of the end marker */
        matched = 0;
        /* terminals send a line break as CR (or CR LF): one \n */
        int cr = n == 1 && mb[0] == '\r';
        if (n == 1 && mb[0] == '\n' && prev_cr) {
            prev_cr = 0;
            continue;
        }
        prev_cr = cr;
        if (cr) mb[0] = '\n';
        sb_putn(&b, mb, n);
    }
    if (!b.s || !strchr(b.s, '\n')) {
        if (b.s) el_insertstr(el, b.s);
        free(b.s);
        return CC_REFRESH;
    }
    free(r->paste);
    r->paste = b.s;
    r->paste_len = b.len;
    return CC_NEWLINE;
}

static void history_path(line_reader *r)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[4000];
    if (state && *state) snprintf(dir, sizeof dir, "%s/vkllm", state);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.local/state/vkllm", home);
    else return;
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return;
    snprintf(r->history_path, sizeof r->history_path, "%s/history", dir);
}

line_reader *line_open(int editor)
{
    line_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (!editor) return r;
    setlocale(LC_CTYPE, "");
    r->el = el_init("vkllm", stdin, stdout, stderr);
    r->hist = history_init();
    if (!r->el || !r->hist) {
        if (r->el) el_end(r->el);
        if (r->hist) history_end(r->hist);
        r->el = NULL;
        r->hist = NULL;
        return r;
    }
    HistEvent ev;
    history(r->hist, &ev, H_SETSIZE, 1000);
    history(r->hist, &ev, H_SETUNIQUE, 1);
    history_path(r);
    if (r->history_path[0]) history(r->hist, &ev, H_LOAD, r->history_path);
    el_set(r->el, EL_CLIENTDATA, r);
    el_set(r->el, EL_GETCFN, getc_fn);
    el_set(r->el, EL_EDITOR, "emacs");
    el_set(r->el, EL_PROMPT, prompt_fn);
    el_set(r->el, EL_HIST, history, r->hist);
    el_set(r->el, EL_ADDFN, "vkllm-paste", "take a bracketed paste as one message", paste_fn);
    el_set(r->el, EL_BIND, "\033[200~", "vkllm-paste", NULL);
    el_source(r->el, NULL); /* the user's ~/.editrc, if any */
    return r;
}

void line_close(line_reader *r)
{
    if (!r) return;
    if (r->el) el_end(r->el);
    if (r->hist) history_end(r->hist);
    free(r->paste);
    free(r->plain);
    free(r);
}

void line_history_add(line_reader *r, const char *text)
{
    if (!r->hist || !text || !*text || strchr(text, '\n')) return;
    HistEvent ev;
    history(r->hist, &ev, H_ENTER, text);
    if (r->history_path[0]) history(r->hist, &ev, H_SAVE, r->history_path);
}

/* One physical line, without its line break. LINE_TEXT with *out malloc'd;
 * *pasted: it came from a multi-line paste (take it whole). */
static line_result read_physical(line_reader *r, const char *prompt, char **out, int *pasted, int *was_empty)
{
    *out = NULL;
    *pasted = 0;
    *was_empty = 1;
    talk_interrupted = 0;
    if (r->el) {
        r->prompt = prompt;
        fputs("\033[?2004h", stdout); /* bracketed paste on while we read */
        fflush(stdout);
        int count = 0;
        const char *line = el_gets(r->el, &count);
        fputs("\033[?2004l", stdout);
        fflush(stdout);
        if (!line && talk_interrupted) {
            const LineInfo *li = el_line(r->el);
            *was_empty = li->lastchar == li->buffer;
            /* the next el_gets starts from an empty line */
            el_reset(r->el);
            return LINE_INTERRUPT;
        }
        /* a paste into an empty line ends it with nothing typed: no line */
        if (!r->paste && (!line || count <= 0)) return LINE_EOF;
        if (!line) line = "";
        sbuf b = { 0 };
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        sb_putn(&b, line, n);
        if (r->paste) {
            /* show the paste under the line that ended with it */
            fputs(r->paste, stdout);
            if (r->paste_len && r->paste[r->paste_len - 1] != '\n') putchar('\n');
            fflush(stdout);
            size_t pl = r->paste_len;
            while (pl && r->paste[pl - 1] == '\n') pl--;
            sb_putn(&b, r->paste, pl);
            free(r->paste);
            r->paste = NULL;
            *pasted = 1;
        }
        *out = b.s ? b.s : strdup("");
        *was_empty = 0;
        return *out ? LINE_TEXT : LINE_EOF;
    }
    if (prompt && isatty(1) && isatty(0)) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    errno = 0;
    ssize_t got = getline(&r->plain, &r->plain_cap, stdin);
    if (got < 0 && errno == EINTR && talk_interrupted) {
        clearerr(stdin);
        return LINE_INTERRUPT;
    }
    if (got < 0) return LINE_EOF;
    while (got > 0 && (r->plain[got - 1] == '\n' || r->plain[got - 1] == '\r')) r->plain[--got] = '\0';
    *out = strdup(r->plain);
    *was_empty = 0;
    return *out ? LINE_TEXT : LINE_EOF;
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static int ends_with(const char *s, const char *p)
{
    size_t ls = strlen(s), lp = strlen(p);
    return ls >= lp && strcmp(s + ls - lp, p) == 0;
}

line_result line_read(line_reader *r, const char *prompt, char **text, int *was_empty)
{
    *text = NULL;
    char *line;
    int pasted;
    line_result res = read_physical(r, prompt, &line, &pasted, was_empty);
    if (res != LINE_TEXT) return res;
    if (pasted) {
        *text = line;
        return LINE_TEXT;
    }
    sbuf b = { 0 };
    int block = starts_with(line, "\"\"\"");
    if (block) {
        /* """ ... """: everything up to the closing quotes, line breaks kept */
        const char *rest = line + 3;
        if (strlen(rest) >= 3 && ends_with(rest, "\"\"\"")) {
            sb_putn(&b, rest, strlen(rest) - 3);
            free(line);
            *text = b.s ? b.s : strdup("");
            return LINE_TEXT;
        }
        sb_putn(&b, rest, strlen(rest));
        int first = !*rest;
        free(line);
        for (;;) {
            res = read_physical(r, "... ", &line, &pasted, was_empty);
            if (res != LINE_TEXT) {
                free(b.s);
                *was_empty = 0;
                return res;
            }
            int closing = !pasted && ends_with(line, "\"\"\"");
            if (closing) line[strlen(line) - 3] = '\0';
            if (!(closing && !*line)) { /* a closing line of only quotes adds nothing */
                if (!first) sb_putn(&b, "\n", 1);
                sb_putn(&b, line, strlen(line));
            }
            first = 0;
            free(line);
            if (closing) break;
        }
        *text = b.s ? b.s : strdup("");
        return LINE_TEXT;
    }
    /* a trailing backslash continues on the next line */
    while (ends_with(line, "\\")) {
        line[strlen(line) - 1] = '\0';
        sb_putn(&b, line, strlen(line));
        sb_putn(&b, "\n", 1);
        free(line);
        res = read_physical(r, "... ", &line, &pasted, was_empty);
        if (res != LINE_TEXT) {
            free(b.s);
            *was_empty = 0;
            return res;
        }
    }
    sb_putn(&b, line, strlen(line));
    free(line);
    *text = b.s ? b.s : strdup("");
    return LINE_TEXT;
}
