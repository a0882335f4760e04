/* Chat templates: exact rendered strings for each template (with and without
 * a system message, multi-turn), detection from real and representative Jinja
 * strings, names, errors, and the prefix property a chat loop relies on.
 * usage: test_chat_template SOLAR_JINJA_FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat_template.h"

static int failures;

#include "expect.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const chat_msg SYS = { CHAT_ROLE_SYSTEM, "You are helpful." };
static const chat_msg U1 = { CHAT_ROLE_USER, "Hi there" };
static const chat_msg A1 = { CHAT_ROLE_ASSISTANT, "Hello! How can I help?" };
static const chat_msg U2 = { CHAT_ROLE_USER, "What is 2+2?" };
static const chat_msg A2 = { CHAT_ROLE_ASSISTANT, "4" };

/* renders and compares with `want`; prints both on mismatch */
static void expect(chat_template_id id, const chat_msg *m, size_t n, bool gen, const char *want, int line)
{
    char err[256] = "", *out = NULL;
    vkllm_status st = chat_render(id, m, n, gen, &out, err, sizeof err);
    if (st != VKLLM_OK || !out || strcmp(out, want) != 0) {
        failures++;
        printf("FAIL line %d: %s n=%zu gen=%d: status %d (%s)\n  got:  \"", line, chat_template_name(id), n, gen,
               (int)st, err);
        for (const char *p = out ? out : ""; *p; p++) printf(*p == '\n' ? "\\n" : "%c", *p);
        printf("\"\n  want: \"");
        for (const char *p = want; *p; p++) printf(*p == '\n' ? "\\n" : "%c", *p);
        printf("\"\n");
    }
    free(out);
}
#undef EXPECT /* this file's EXPECT renders and compares (below); CHECK is the assertion */
#define EXPECT(id, m, n, gen, want) expect(id, m, n, gen, want, __LINE__)

static void test_solar(void)
{
    const chat_template_id T = CHAT_TEMPLATE_SOLAR;
    chat_msg c1[] = { SYS, U1 };
    EXPECT(T, c1, 2, true, "### System:\nYou are helpful.\n\n### User:\nHi there\n\n### Assistant:\n");
    EXPECT(T, c1 + 1, 1, true, "### User:\nHi there\n\n### Assistant:\n");
    EXPECT(T, c1 + 1, 1, false, "### User:\nHi there\n\n");
    /* the template puts nothing (no </s>, no newline) after a reply */
    chat_msg c2[] = { SYS, U1, A1, U2 };
    EXPECT(T, c2, 4, true,
           "### System:\nYou are helpful.\n\n### User:\nHi there\n\n### Assistant:\nHello! How can I help?"
           "### User:\nWhat is 2+2?\n\n### Assistant:\n");
    EXPECT(T, c2, 3, false, "### System:\nYou are helpful.\n\n### User:\nHi there\n\n### Assistant:\nHello! How can I help?");
    /* an empty system message renders nothing ({% if message['content'] %}) */
    chat_msg c3[] = { { CHAT_ROLE_SYSTEM, "" }, U1 };
    EXPECT(T, c3, 2, true, "### User:\nHi there\n\n### Assistant:\n");
    chat_msg c4[] = { { CHAT_ROLE_SYSTEM, NULL }, U1 };
    EXPECT(T, c4, 2, false, "### User:\nHi there\n\n");
    EXPECT(T, c1, 0, true, "");
    /* text is not stripped */
    chat_msg c5[] = { { CHAT_ROLE_USER, "  x \n" } };
    EXPECT(T, c5, 1, true, "### User:\n  x \n\n\n### Assistant:\n");
}

static void test_llama2(void)
{
    const chat_template_id T = CHAT_TEMPLATE_LLAMA2;
    /* HF renders "<s>[INST] ..."; the first <s> is the tokenizer's BOS */
    chat_msg c1[] = { SYS, U1 };
    EXPECT(T, c1, 2, true, "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi there [/INST]");
    EXPECT(T, c1 + 1, 1, true, "[INST] Hi there [/INST]");
    EXPECT(T, c1 + 1, 1, false, "[INST] Hi there [/INST]");
    chat_msg c2[] = { SYS, U1, A1, U2, A2 };
    EXPECT(T, c2, 4, true,
           "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
           "<s>[INST] What is 2+2? [/INST]");
    EXPECT(T, c2, 5, false,
           "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
           "<s>[INST] What is 2+2? [/INST] 4 </s>");
    EXPECT(T, c2 + 1, 3, true, "[INST] Hi there [/INST] Hello! How can I help? </s><s>[INST] What is 2+2? [/INST]");
    /* content.strip(): user and assistant text; the folded system+user content as a whole */
    chat_msg c3[] = { { CHAT_ROLE_SYSTEM, " S \n" }, { CHAT_ROLE_USER, " \tq\n " }, { CHAT_ROLE_ASSISTANT, "\n a  " },
                      { CHAT_ROLE_USER, "r\n" } };
    EXPECT(T, c3, 4, true, "[INST] <<SYS>>\n S \n\n<</SYS>>\n\n \tq [/INST] a </s><s>[INST] r [/INST]");
    /* a system message alone renders nothing (it waits for the first user turn) */
    EXPECT(T, c1, 1, true, "");
}

static void test_mistral(void)
{
    const chat_template_id T = CHAT_TEMPLATE_MISTRAL;
    chat_msg c1[] = { U1, A1, U2, A2 };
    EXPECT(T, c1, 1, true, "[INST] Hi there [/INST]");
    EXPECT(T, c1, 3, true, "[INST] Hi there [/INST]Hello! How can I help?</s>[INST] What is 2+2? [/INST]");
    EXPECT(T, c1, 4, false, "[INST] Hi there [/INST]Hello! How can I help?</s>[INST] What is 2+2? [/INST]4</s>");
    /* our extension: a system message goes before the first user message */
    chat_msg c2[] = { SYS, U1, A1, U2 };
    EXPECT(T, c2, 4, true,
           "[INST] You are helpful.\n\nHi there [/INST]Hello! How can I help?</s>[INST] What is 2+2? [/INST]");
    EXPECT(T, c2, 2, false, "[INST] You are helpful.\n\nHi there [/INST]");
}

static void test_chatml(void)
{
    const chat_template_id T = CHAT_TEMPLATE_CHATML;
    chat_msg c1[] = { SYS, U1, A1, U2 };
    EXPECT(T, c1, 2, true,
           "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
           "<|im_start|>assistant\n");
    EXPECT(T, c1 + 1, 1, false, "<|im_start|>user\nHi there<|im_end|>\n");
    EXPECT(T, c1, 4, true,
           "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
           "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
           "<|im_start|>assistant\n");
    EXPECT(T, c1, 0, true, "<|im_start|>assistant\n");
}

static void test_more(void)
{
    chat_msg c1[] = { SYS, U1 }, c2[] = { SYS, U1, A1, U2 };
    EXPECT(CHAT_TEMPLATE_ZEPHYR, c1, 2, true, "<|system|>\nYou are helpful.</s>\n<|user|>\nHi there</s>\n<|assistant|>\n");
    EXPECT(CHAT_TEMPLATE_ZEPHYR, c2, 4, false,
           "<|system|>\nYou are helpful.</s>\n<|user|>\nHi there</s>\n<|assistant|>\nHello! How can I help?</s>\n"
           "<|user|>\nWhat is 2+2?</s>\n");
    EXPECT(CHAT_TEMPLATE_PHI3, c2, 4, true,
           "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\nHello! How can I help?<|end|>\n"
           "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
    chat_msg pad[] = { { CHAT_ROLE_SYSTEM, " sys \n" }, { CHAT_ROLE_USER, "\n Hi \t" } };
    EXPECT(CHAT_TEMPLATE_LLAMA3, pad, 2, true,
           "<|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi"
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT(CHAT_TEMPLATE_LLAMA3, c2 + 1, 2, false,
           "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
           "\n\nHello! How can I help?<|eot_id|>");
    EXPECT(CHAT_TEMPLATE_GEMMA, c2, 4, true,
           "<start_of_turn>user\nYou are helpful.\n\nHi there<end_of_turn>\n<start_of_turn>model\nHello! How can I "
           "help?<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n");
    EXPECT(CHAT_TEMPLATE_GEMMA, c1 + 1, 1, false, "<start_of_turn>user\nHi there<end_of_turn>\n");
    chat_msg sp[] = { SYS, U1, { CHAT_ROLE_ASSISTANT, " Hello!" }, U2 };
    EXPECT(CHAT_TEMPLATE_VICUNA, sp, 4, true,
           "You are helpful.\n\nUSER: Hi there\nASSISTANT: Hello!</s>\nUSER: What is 2+2?\nASSISTANT:");
    EXPECT(CHAT_TEMPLATE_ALPACA, c2, 4, true,
           "You are helpful.\n\n### Instruction:\nHi there\n\n### Response:\nHello! How can I help?</s>### "
           "Instruction:\nWhat is 2+2?\n\n### Response:\n");
    EXPECT(CHAT_TEMPLATE_ALPACA, c1 + 1, 1, false, "### Instruction:\nHi there\n\n");
    /* Gemma alternates like Llama-2 */
    char err[256], *out = (char *)1;
    chat_msg bad[] = { U1, U2 };
    CHECK(chat_render(CHAT_TEMPLATE_GEMMA, bad, 2, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG && !out &&
              strstr(err, "gemma") && strstr(err, "alternate"),
          "gemma: %s", err);
}

static void test_errors(void)
{
    char err[256], *out = (char *)1;
    chat_msg bad1[] = { U1, U2 };               /* two user turns in a row */
    chat_msg bad2[] = { A1, U1 };               /* starts with the assistant */
    chat_msg bad3[] = { U1, SYS, A1 };          /* system not first */
    chat_msg bad4[] = { { (chat_role)7, "x" } };
    for (int t = CHAT_TEMPLATE_LLAMA2; t <= CHAT_TEMPLATE_MISTRAL; t++) {
        err[0] = 0;
        CHECK(chat_render(t, bad1, 2, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG && !out &&
                  strstr(err, "alternate"),
              "%s: %s", chat_template_name(t), err);
        CHECK(chat_render(t, bad2, 2, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG, "%s", chat_template_name(t));
        CHECK(chat_render(t, bad3, 3, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG, "%s", chat_template_name(t));
    }
    /* SOLAR and ChatML render any order, like their templates */
    EXPECT(CHAT_TEMPLATE_SOLAR, bad1, 2, false, "### User:\nHi there\n\n### User:\nWhat is 2+2?\n\n");
    for (int t = CHAT_TEMPLATE_SOLAR; t <= CHAT_TEMPLATE_LLAMA3; t++)
        CHECK(chat_render(t, bad4, 1, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG && !out, "%s bad role",
              chat_template_name(t));
    CHECK(chat_render(CHAT_TEMPLATE_UNKNOWN, bad1, 1, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG && !out,
          "unknown id");
    CHECK(chat_render((chat_template_id)99, bad1, 1, true, &out, NULL, 0) == VKLLM_ERR_INVALID_ARG, "bad id");
    CHECK(chat_render(CHAT_TEMPLATE_SOLAR, NULL, 1, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG, "NULL msgs");
    CHECK(chat_render(CHAT_TEMPLATE_SOLAR, bad1, 1, true, NULL, err, sizeof err) == VKLLM_ERR_INVALID_ARG, "NULL out");
    CHECK(chat_render_suffix(CHAT_TEMPLATE_SOLAR, bad1, 2, 1, true, &out, err, sizeof err) == VKLLM_ERR_INVALID_ARG,
          "n_prev > n");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = malloc(1 << 16);
    size_t n = s ? fread(s, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (s) s[n] = 0;
    return s;
}

/* representative Hugging Face templates, as they appear in tokenizer_config.json */
static const char *LLAMA2_JINJA =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
static const char *MISTRAL_JINJA =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";
static const char *CHATML_JINJA =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char *LLAMA3_JINJA =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
static const char *ZEPHYR_JINJA =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% "
    "elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif "
    "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
static const char *ALPACA_JINJA =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + "
    "'\\n\\n' }}{% else %}{{ '### Response:\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}";

static const char *PHI3_JINJA =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
    "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif "
    "message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor "
    "%}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
static const char *GEMMA_JINJA =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% "
    "endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "(message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif "
    "%}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if "
    "add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
static const char *VICUNA_JINJA =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = 'A chat between a "
    "curious user and an artificial intelligence assistant.' %}{% endif %}{{ system_message }}{% for message in "
    "loop_messages %}{% if message['role'] == 'user' %}{{ ' USER: ' + message['content'] }}{% elif message['role'] == "
    "'assistant' %}{{ ' ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}";

static void test_detect(const char *solar_path)
{
    char *solar = read_file(solar_path);
    CHECK(solar && strlen(solar) > 300, "cannot read %s", solar_path);
    if (solar) CHECK(chat_template_detect(solar) == CHAT_TEMPLATE_SOLAR, "real SOLAR template");
    free(solar);
    CHECK(chat_template_detect(LLAMA2_JINJA) == CHAT_TEMPLATE_LLAMA2, "llama2");
    CHECK(chat_template_detect(MISTRAL_JINJA) == CHAT_TEMPLATE_MISTRAL, "mistral");
    CHECK(chat_template_detect(CHATML_JINJA) == CHAT_TEMPLATE_CHATML, "chatml");
    CHECK(chat_template_detect(LLAMA3_JINJA) == CHAT_TEMPLATE_LLAMA3, "llama3");
    CHECK(chat_template_detect(ZEPHYR_JINJA) == CHAT_TEMPLATE_ZEPHYR, "zephyr");
    CHECK(chat_template_detect(ALPACA_JINJA) == CHAT_TEMPLATE_ALPACA, "alpaca");
    CHECK(chat_template_detect(PHI3_JINJA) == CHAT_TEMPLATE_PHI3, "phi3");
    CHECK(chat_template_detect(GEMMA_JINJA) == CHAT_TEMPLATE_GEMMA, "gemma");
    CHECK(chat_template_detect(VICUNA_JINJA) == CHAT_TEMPLATE_VICUNA, "vicuna");
    CHECK(chat_template_detect("{{ message['content'] }}") == CHAT_TEMPLATE_UNKNOWN, "a template of no known shape");
    CHECK(chat_template_detect("### User: only") == CHAT_TEMPLATE_UNKNOWN, "half a SOLAR marker");
    CHECK(chat_template_detect(NULL) == CHAT_TEMPLATE_UNKNOWN, "NULL");
    CHECK(chat_template_detect("") == CHAT_TEMPLATE_UNKNOWN, "empty");

    static const char *names[] = { "solar", "llama2", "mistral", "chatml", "zephyr", "vicuna", "alpaca", "gemma", "phi3", "llama3" };
    char list[256] = "";
    for (size_t i = 0; i < N(names); i++) {
        chat_template_id id = chat_template_by_name(names[i]);
        CHECK(id != CHAT_TEMPLATE_UNKNOWN && strcmp(chat_template_name(id), names[i]) == 0, "%s", names[i]);
        CHECK(chat_template_nth(i) == id, "template %zu in the list is not %s", i, names[i]);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    }
    CHECK(chat_template_nth(N(names)) == CHAT_TEMPLATE_UNKNOWN, "the list ends");
    CHECK(strcmp(chat_template_known_list(), list) == 0, "known list \"%s\"", chat_template_known_list());
    CHECK(chat_template_by_name("Phi-3") == CHAT_TEMPLATE_PHI3 && chat_template_by_name("llama-3") == CHAT_TEMPLATE_LLAMA3,
          "aliases");
    CHECK(chat_template_by_name("SOLAR") == CHAT_TEMPLATE_SOLAR, "case");
    CHECK(chat_template_by_name("llama-2") == CHAT_TEMPLATE_LLAMA2, "alias");
    CHECK(chat_template_by_name("gpt4") == CHAT_TEMPLATE_UNKNOWN, "gpt4");
    CHECK(chat_template_by_name(NULL) == CHAT_TEMPLATE_UNKNOWN, "NULL name");
    CHECK(strcmp(chat_template_name(CHAT_TEMPLATE_UNKNOWN), "unknown") == 0, "unknown name");
    CHECK(strcmp(chat_template_name((chat_template_id)42), "unknown") == 0, "bad id name");
    CHECK(CHAT_TEMPLATE_DEFAULT == CHAT_TEMPLATE_SOLAR, "default");
}

static bool is_prefix(const char *p, const char *s) { return strncmp(p, s, strlen(p)) == 0; }

/* render(0..n, false) is a prefix of render(0..m, any) for m >= n;
 * render(0..n, true) is a prefix of render(0..n+1, any) when msgs[n] is the
 * assistant; chat_render_suffix() glues back to the full render. */
static void test_prefix(chat_template_id T, const chat_msg *m, size_t n_msgs)
{
    char err[256];
    char *r[16][2] = { { 0 } };
    for (size_t n = 0; n <= n_msgs; n++)
        for (int g = 0; g < 2; g++)
            CHECK(chat_render(T, m, n, g, &r[n][g], err, sizeof err) == VKLLM_OK, "%s n=%zu: %s", chat_template_name(T),
                  n, err);
    for (size_t n = 0; n <= n_msgs; n++) {
        for (size_t k = n; k <= n_msgs; k++)
            for (int g = 0; g < 2; g++)
                CHECK(r[n][0] && r[k][g] && is_prefix(r[n][0], r[k][g]), "%s: render(%zu) not a prefix of render(%zu,%d)",
                      chat_template_name(T), n, k, g);
        if (n < n_msgs && m[n].role == CHAT_ROLE_ASSISTANT)
            for (int g = 0; g < 2; g++)
                CHECK(r[n][1] && r[n + 1][g] && is_prefix(r[n][1], r[n + 1][g]),
                      "%s: render(%zu, gen) not a prefix of render(%zu,%d)", chat_template_name(T), n, n + 1, g);
        /* suffix for every later point */
        for (size_t k = n; k <= n_msgs; k++) {
            char *suf = NULL;
            CHECK(chat_render_suffix(T, m, n, k, true, &suf, err, sizeof err) == VKLLM_OK, "%s: suffix %zu..%zu: %s",
                  chat_template_name(T), n, k, err);
            if (suf && r[n][0] && r[k][1]) {
                size_t lp = strlen(r[n][0]);
                CHECK(strcmp(r[k][1] + lp, suf) == 0, "%s: suffix %zu..%zu = \"%s\"", chat_template_name(T), n, k, suf);
            }
            free(suf);
        }
    }
    for (size_t n = 0; n <= n_msgs; n++) free(r[n][0]), free(r[n][1]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: %s SOLAR_JINJA_FILE\n", argv[0]);
        return 2;
    }
    test_solar();
    test_llama2();
    test_mistral();
    test_chatml();
    test_more();
    test_errors();
    test_detect(argv[1]);

    chat_msg conv[] = { SYS, U1, A1, U2, A2, { CHAT_ROLE_USER, "Thanks!" }, { CHAT_ROLE_ASSISTANT, "You're welcome." } };
    for (int t = CHAT_TEMPLATE_SOLAR; t <= CHAT_TEMPLATE_LLAMA3; t++) {
        test_prefix(t, conv, N(conv));
        test_prefix(t, conv + 1, N(conv) - 1);
    }
    /* the typical chat-loop call: after the first reply, feed only the new user turn */
    char *suf = NULL, err[256];
    CHECK(chat_render_suffix(CHAT_TEMPLATE_SOLAR, conv, 3, 4, true, &suf, err, sizeof err) == VKLLM_OK && suf &&
              strcmp(suf, "### User:\nWhat is 2+2?\n\n### Assistant:\n") == 0,
          "solar suffix \"%s\"", suf ? suf : "(null)");
    free(suf);
    CHECK(chat_render_suffix(CHAT_TEMPLATE_LLAMA2, conv, 3, 4, true, &suf, err, sizeof err) == VKLLM_OK && suf &&
              strcmp(suf, "<s>[INST] What is 2+2? [/INST]") == 0,
          "llama2 suffix \"%s\"", suf ? suf : "(null)");
    free(suf);

    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures != 0;
}
