/* Chat templates: see chat_template.h for the exact formats and the
 * special-token policy. Each renderer is a transcription of its model's
 * Jinja template; comments quote the Jinja they reproduce. */
#include "text/chat_template.h"
#include "util/errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ helpers */

/* A growable string; `failed` latches the first allocation failure so the
 * renderers can append without checking each call. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_putn(sbuf *b, const char *p, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_put(sbuf *b, const char *p) { sb_putn(b, p, strlen(p)); }

/* Python's str.strip() for ASCII whitespace (str.isspace below 0x80:
 * \t \n \v \f \r, 0x1c-0x1f and space). Non-ASCII spaces are kept. */
static bool is_py_space(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f); }

static void sb_put_stripped(sbuf *b, const char *p, size_t n)
{
    while (n && is_py_space((unsigned char)*p)) p++, n--;
    while (n && is_py_space((unsigned char)p[n - 1])) n--;
    sb_putn(b, p, n);
}

static const char *msg_text(const chat_msg *m) { return m->text ? m->text : ""; }

static const char *role_name(chat_role r)
{
    switch (r) {
    case CHAT_ROLE_SYSTEM: return "system";
    case CHAT_ROLE_USER: return "user";
    case CHAT_ROLE_ASSISTANT: return "assistant";
    }
    return "?";
}

/* Llama-2 and Mistral: after an optional leading system message the roles
 * must go user, assistant, user, ... (their templates raise otherwise). */
static vkllm_status check_alternating(const chat_msg *msgs, size_t n, const char *tname, char *err, size_t err_len)
{
    size_t first = n && msgs[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        chat_role want = (i - first) % 2 == 0 ? CHAT_ROLE_USER : CHAT_ROLE_ASSISTANT;
        if (msgs[i].role != want)
            return errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                             "%s chat template: message %zu is %s, expected %s (roles must alternate "
                             "user/assistant after an optional first system message)",
                             tname, i, role_name(msgs[i].role), role_name(want));
    }
    return VKLLM_OK;
}

/* ------------------------------------------------------------ renderers */

/* {% for message in messages %}
 *   system:    {% if message['content'] %}'### System:\n' + content + '\n\n'{% endif %}
 *   user:      '### User:\n' + content + '\n\n'
 *   assistant: '### Assistant:\n' + content
 *   {% if loop.last and add_generation_prompt %}'### Assistant:\n'{% endif %}
 * {% endfor %} */
static void render_solar(sbuf *b, const chat_msg *msgs, size_t n, bool gen)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = msg_text(&msgs[i]);
        switch (msgs[i].role) {
        case CHAT_ROLE_SYSTEM:
            if (*t) {
                sb_put(b, "### System:\n");
                sb_put(b, t);
                sb_put(b, "\n\n");
            }
            break;
        case CHAT_ROLE_USER:
            sb_put(b, "### User:\n");
            sb_put(b, t);
            sb_put(b, "\n\n");
            break;
        case CHAT_ROLE_ASSISTANT:
            sb_put(b, "### Assistant:\n");
            sb_put(b, t);
            break;
        }
        if (i + 1 == n && gen) sb_put(b, "### Assistant:\n");
    }
}

/* Meta's Llama-2 chat template (HF tokenizer_config.json):
 *   system message (if first) folded into the first user turn as
 *     '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content
 *   user:      bos_token + '[INST] ' + content.strip() + ' [/INST]'
 *   assistant: ' ' + content.strip() + ' ' + eos_token
 * The first bos_token is left to the tokenizer. */
static void render_llama2(sbuf *b, const chat_msg *msgs, size_t n)
{
    size_t first = n && msgs[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        const char *t = msg_text(&msgs[i]);
        if (msgs[i].role == CHAT_ROLE_USER) {
            if (i > first) sb_put(b, "<s>");
            sb_put(b, "[INST] ");
            if (i == first && first) {
                /* strip() applies to the whole folded content */
                sbuf c = { 0 };
                sb_put(&c, "<<SYS>>\n");
                sb_put(&c, msg_text(&msgs[0]));
                sb_put(&c, "\n<</SYS>>\n\n");
                sb_put(&c, t);
                if (c.failed) b->failed = true;
                else sb_put_stripped(b, c.s, c.len);
                free(c.s);
            } else {
                sb_put_stripped(b, t, strlen(t));
            }
            sb_put(b, " [/INST]");
        } else {
            sb_put(b, " ");
            sb_put_stripped(b, t, strlen(t));
            sb_put(b, " </s>");
        }
    }
}

/* Mistral-7B-Instruct-v0.1/v0.2 (HF tokenizer_config.json):
 *   {{ bos_token }} then per message
 *   user:      '[INST] ' + content + ' [/INST]'
 *   assistant: content + eos_token
 * A leading system message (the template raises) goes in front of the first
 * user message as system + '\n\n'. */
static void render_mistral(sbuf *b, const chat_msg *msgs, size_t n)
{
    size_t first = n && msgs[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        const char *t = msg_text(&msgs[i]);
        if (msgs[i].role == CHAT_ROLE_USER) {
            sb_put(b, "[INST] ");
            if (i == first && first) {
                sb_put(b, msg_text(&msgs[0]));
                sb_put(b, "\n\n");
            }
            sb_put(b, t);
            sb_put(b, " [/INST]");
        } else {
            sb_put(b, t);
            sb_put(b, "</s>");
        }
    }
}

/* The templates that wrap each message in fixed text per role: pre[role] +
 * content + post[role], then `gen` as the generation prompt. Each line
 * quotes its model's Jinja:
 *   ChatML (Qwen, OpenHermes, ...): '<|im_start|>' + role + '\n' + content + '<|im_end|>\n';
 *     generation prompt '<|im_start|>assistant\n'.
 *   Zephyr (HuggingFaceH4/zephyr-7b-beta), with HF's trim_blocks: '<|role|>\n' +
 *     content + eos_token + '\n' (the newline after each {{ }} survives);
 *     generation prompt '<|assistant|>\n'.
 *   Phi-3 (microsoft/Phi-3-mini-4k-instruct, the June 2024 template with a
 *     system role): '<|role|>\n' + content + '<|end|>\n'; generation prompt
 *     '<|assistant|>\n'. The template's closing eos_token without a generation
 *     prompt is left out (it would break the prefix property; generation
 *     stops at '<|end|>' anyway).
 *   Llama-3 (meta-llama/Meta-Llama-3-8B-Instruct): '<|start_header_id|>' + role +
 *     '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>'; generation prompt
 *     '<|start_header_id|>assistant<|end_header_id|>\n\n'. The first bos_token
 *     ('<|begin_of_text|>') is left to the tokenizer.
 *   Vicuna v1.1 (lmsys), as llama.cpp writes it: system + '\n\n', then
 *     'USER: ' + content + '\n' and 'ASSISTANT: ' + content + '</s>\n';
 *     generation prompt 'ASSISTANT:' (the model writes the space). A reply's
 *     leading spaces are dropped, so the space is not doubled.
 *   Alpaca (Stanford): system + '\n\n' (when there is one), then
 *     '### Instruction:\n' + content + '\n\n' and '### Response:\n' + content +
 *     eos_token; generation prompt '### Response:\n'. */
typedef struct wrap_template {
    chat_template_id id;
    const char *pre[3], *post[3]; /* by chat_role: system, user, assistant */
    const char *gen;
    bool trim;                    /* content | trim (Python's str.strip) */
    bool reply_lstrip;            /* an assistant message's leading spaces dropped */
    bool skip_empty_system;       /* an empty system message writes nothing */
} wrap_template;

static const wrap_template wrap_templates[] = {
    { CHAT_TEMPLATE_CHATML,
      { "<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n" },
      { "<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n" }, "<|im_start|>assistant\n", false, false, false },
    { CHAT_TEMPLATE_ZEPHYR, { "<|system|>\n", "<|user|>\n", "<|assistant|>\n" }, { "</s>\n", "</s>\n", "</s>\n" },
      "<|assistant|>\n", false, false, false },
    { CHAT_TEMPLATE_PHI3, { "<|system|>\n", "<|user|>\n", "<|assistant|>\n" },
      { "<|end|>\n", "<|end|>\n", "<|end|>\n" }, "<|assistant|>\n", false, false, false },
    { CHAT_TEMPLATE_LLAMA3,
      { "<|start_header_id|>system<|end_header_id|>\n\n", "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>\n\n" },
      { "<|eot_id|>", "<|eot_id|>", "<|eot_id|>" }, "<|start_header_id|>assistant<|end_header_id|>\n\n", true, false,
      false },
    { CHAT_TEMPLATE_VICUNA, { "", "USER: ", "ASSISTANT: " }, { "\n\n", "\n", "</s>\n" }, "ASSISTANT:", false, true,
      false },
    { CHAT_TEMPLATE_ALPACA, { "", "### Instruction:\n", "### Response:\n" }, { "\n\n", "\n\n", "</s>" },
      "### Response:\n", false, false, true },
};

static const wrap_template *wrap_template_of(chat_template_id id)
{
    for (size_t i = 0; i < sizeof wrap_templates / sizeof wrap_templates[0]; i++)
        if (wrap_templates[i].id == id) return &wrap_templates[i];
    return NULL;
}

static void render_wrapped(sbuf *b, const wrap_template *w, const chat_msg *msgs, size_t n, bool gen)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = msg_text(&msgs[i]);
        chat_role r = msgs[i].role;
        if (r == CHAT_ROLE_SYSTEM && w->skip_empty_system && !*t) continue;
        if (r == CHAT_ROLE_ASSISTANT && w->reply_lstrip)
            while (*t == ' ') t++;
        sb_put(b, w->pre[r]);
        if (w->trim) sb_put_stripped(b, t, strlen(t));
        else sb_put(b, t);
        sb_put(b, w->post[r]);
    }
    if (gen) sb_put(b, w->gen);
}

/* Gemma (google/gemma-7b-it):
 *   '<start_of_turn>' + ('model' for the assistant, else role) + '\n' + content | trim + '<end_of_turn>\n'
 *   generation prompt '<start_of_turn>model\n'
 * Roles alternate user/model; the template refuses a system message, which
 * goes in front of the first user message as system + '\n\n' (as llama.cpp
 * does). The leading bos_token is left to the tokenizer. */
static void render_gemma(sbuf *b, const chat_msg *msgs, size_t n, bool gen)
{
    size_t first = n && msgs[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        const char *t = msg_text(&msgs[i]);
        bool user = msgs[i].role == CHAT_ROLE_USER;
        sb_put(b, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        if (i == first && first) {
            sbuf c = { 0 };
            sb_put(&c, msg_text(&msgs[0]));
            sb_put(&c, "\n\n");
            sb_put(&c, t);
            if (c.failed) b->failed = true;
            else sb_put_stripped(b, c.s, c.len);
            free(c.s);
        } else {
            sb_put_stripped(b, t, strlen(t));
        }
        sb_put(b, "<end_of_turn>\n");
    }
    if (gen) sb_put(b, "<start_of_turn>model\n");
}

/* ------------------------------------------------------------ API */

chat_template_id chat_template_detect(const char *src)
{
    if (!src || !*src) return CHAT_TEMPLATE_UNKNOWN;
    if (strstr(src, "<|im_start|>")) return CHAT_TEMPLATE_CHATML;
    if (strstr(src, "<|start_header_id|>")) return CHAT_TEMPLATE_LLAMA3;
    if (strstr(src, "<start_of_turn>")) return CHAT_TEMPLATE_GEMMA;
    if (strstr(src, "<|user|>")) return strstr(src, "<|end|>") ? CHAT_TEMPLATE_PHI3 : CHAT_TEMPLATE_ZEPHYR;
    if (strstr(src, "### User:") && strstr(src, "### Assistant:")) return CHAT_TEMPLATE_SOLAR;
    if (strstr(src, "### Instruction:") && strstr(src, "### Response:")) return CHAT_TEMPLATE_ALPACA;
    if (strstr(src, "[INST]")) return strstr(src, "<<SYS>>") ? CHAT_TEMPLATE_LLAMA2 : CHAT_TEMPLATE_MISTRAL;
    if (strstr(src, "USER:") && strstr(src, "ASSISTANT:")) return CHAT_TEMPLATE_VICUNA;
    return CHAT_TEMPLATE_UNKNOWN;
}

static const struct { const char *name; chat_template_id id; } names[] = {
    { "solar", CHAT_TEMPLATE_SOLAR },   { "llama2", CHAT_TEMPLATE_LLAMA2 },   { "llama-2", CHAT_TEMPLATE_LLAMA2 },
    { "mistral", CHAT_TEMPLATE_MISTRAL }, { "chatml", CHAT_TEMPLATE_CHATML }, { "im_start", CHAT_TEMPLATE_CHATML },
    { "zephyr", CHAT_TEMPLATE_ZEPHYR }, { "vicuna", CHAT_TEMPLATE_VICUNA },   { "alpaca", CHAT_TEMPLATE_ALPACA },
    { "gemma", CHAT_TEMPLATE_GEMMA },   { "phi3", CHAT_TEMPLATE_PHI3 },       { "phi-3", CHAT_TEMPLATE_PHI3 },
    { "llama3", CHAT_TEMPLATE_LLAMA3 }, { "llama-3", CHAT_TEMPLATE_LLAMA3 },
};

chat_template_id chat_template_by_name(const char *name)
{
    if (!name) return CHAT_TEMPLATE_UNKNOWN;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) return names[i].id;
    return CHAT_TEMPLATE_UNKNOWN;
}

/* Every template, in the order listed to users. */
static const chat_template_id all_ids[] = {
    CHAT_TEMPLATE_SOLAR, CHAT_TEMPLATE_LLAMA2, CHAT_TEMPLATE_MISTRAL, CHAT_TEMPLATE_CHATML, CHAT_TEMPLATE_ZEPHYR,
    CHAT_TEMPLATE_VICUNA, CHAT_TEMPLATE_ALPACA, CHAT_TEMPLATE_GEMMA, CHAT_TEMPLATE_PHI3, CHAT_TEMPLATE_LLAMA3,
};
#define N_TEMPLATES (sizeof all_ids / sizeof all_ids[0])

chat_template_id chat_template_nth(size_t i) { return i < N_TEMPLATES ? all_ids[i] : CHAT_TEMPLATE_UNKNOWN; }

/* Kept in step with all_ids by test_chat_template. */
const char *chat_template_known_list(void)
{
    return "solar, llama2, mistral, chatml, zephyr, vicuna, alpaca, gemma, phi3, llama3";
}

const char *chat_template_name(chat_template_id id)
{
    switch (id) {
    case CHAT_TEMPLATE_SOLAR: return "solar";
    case CHAT_TEMPLATE_LLAMA2: return "llama2";
    case CHAT_TEMPLATE_MISTRAL: return "mistral";
    case CHAT_TEMPLATE_CHATML: return "chatml";
    case CHAT_TEMPLATE_ZEPHYR: return "zephyr";
    case CHAT_TEMPLATE_VICUNA: return "vicuna";
    case CHAT_TEMPLATE_ALPACA: return "alpaca";
    case CHAT_TEMPLATE_GEMMA: return "gemma";
    case CHAT_TEMPLATE_PHI3: return "phi3";
    case CHAT_TEMPLATE_LLAMA3: return "llama3";
    case CHAT_TEMPLATE_UNKNOWN: break;
    }
    return "unknown";
}

vkllm_status chat_render(chat_template_id id, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                         char **out, char *err, size_t err_len)
{
    if (!out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render: out is NULL");
    *out = NULL;
    if (n && !msgs) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render: %zu messages but msgs is NULL", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned)msgs[i].role > CHAT_ROLE_ASSISTANT)
            return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render: message %zu has bad role %d", i,
                             (int)msgs[i].role);

    vkllm_status st;
    sbuf b = { 0 };
    sb_put(&b, ""); /* "" rather than NULL for an empty conversation */
    switch (id) {
    case CHAT_TEMPLATE_SOLAR: render_solar(&b, msgs, n, add_generation_prompt); break;
    case CHAT_TEMPLATE_LLAMA2:
        if ((st = check_alternating(msgs, n, "llama2", err, err_len)) != VKLLM_OK) goto fail;
        render_llama2(&b, msgs, n);
        break;
    case CHAT_TEMPLATE_MISTRAL:
        if ((st = check_alternating(msgs, n, "mistral", err, err_len)) != VKLLM_OK) goto fail;
        render_mistral(&b, msgs, n);
        break;
    case CHAT_TEMPLATE_GEMMA:
        if ((st = check_alternating(msgs, n, "gemma", err, err_len)) != VKLLM_OK) goto fail;
        render_gemma(&b, msgs, n, add_generation_prompt);
        break;
    default:
        if (!wrap_template_of(id)) {
            st = errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render: unknown chat template id %d", (int)id);
            goto fail;
        }
        render_wrapped(&b, wrap_template_of(id), msgs, n, add_generation_prompt);
    }
    if (b.failed) {
        st = errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "chat_render: out of memory");
        goto fail;
    }
    *out = b.s;
    return VKLLM_OK;
fail:
    free(b.s);
    return st;
}

vkllm_status chat_render_suffix(chat_template_id id, const chat_msg *msgs, size_t n_prev, size_t n,
                                bool add_generation_prompt, char **out, char *err, size_t err_len)
{
    if (!out) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render_suffix: out is NULL");
    *out = NULL;
    if (n_prev > n)
        return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "chat_render_suffix: n_prev %zu > n %zu", n_prev, n);
    char *prev = NULL, *full = NULL;
    vkllm_status st = chat_render(id, msgs, n_prev, false, &prev, err, err_len);
    if (st == VKLLM_OK) st = chat_render(id, msgs, n, add_generation_prompt, &full, err, err_len);
    if (st == VKLLM_OK) {
        size_t lp = strlen(prev);
        if (strncmp(prev, full, lp) != 0) {
            st = errf(VKLLM_ERR_INVALID_ARG, err, err_len,
                           "%s chat template: rendering of the first %zu messages is not a prefix of the first %zu",
                           chat_template_name(id), n_prev, n);
        } else {
            memmove(full, full + lp, strlen(full + lp) + 1);
            *out = full;
            full = NULL;
        }
    }
    free(prev);
    free(full);
    return st;
}
