/* Chat templates: a conversation (system / user / assistant messages) to the
 * prompt text a chat model was trained on. No Vulkan, no tokenizer here.
 *
 * Ten fixed templates, each reproducing its model's Hugging Face Jinja
 * `chat_template` output byte for byte (we do not run Jinja):
 *
 *   SOLAR   (upstage/SOLAR-10.7B-Instruct-v1.0)
 *           "### System:\n{sys}\n\n"   (only when the system text is non-empty)
 *           "### User:\n{msg}\n\n"
 *           "### Assistant:\n{reply}"  (nothing after the reply: no "</s>",
 *                                       no newline; the next "### User:"
 *                                       follows the reply directly)
 *           generation prompt: "### Assistant:\n" after the last message.
 *   LLAMA2  (meta-llama/Llama-2-*-chat-hf)
 *           "[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{msg} [/INST] {reply} </s><s>[INST] {msg2} [/INST]"
 *           Message text is strip()ped as the template does (ASCII whitespace).
 *   MISTRAL (mistralai/Mistral-7B-Instruct-v0.1/v0.2)
 *           "[INST] {msg} [/INST]{reply}</s>[INST] {msg2} [/INST]"
 *           The HF template refuses a system message; we prepend it to the
 *           first user message as "{sys}\n\n{msg}" (llama.cpp does the same).
 *   CHATML  ("<|im_start|>{role}\n{text}<|im_end|>\n" per message;
 *           generation prompt "<|im_start|>assistant\n").
 *   ZEPHYR  (HuggingFaceH4/zephyr-7b-beta) "<|{role}|>\n{text}</s>\n" per
 *           message; generation prompt "<|assistant|>\n".
 *   VICUNA  (lmsys/vicuna v1.1, as llama.cpp) "{sys}\n\n", "USER: {msg}\n",
 *           "ASSISTANT: {reply}</s>\n"; generation prompt "ASSISTANT:".
 *   ALPACA  "{sys}\n\n", "### Instruction:\n{msg}\n\n",
 *           "### Response:\n{reply}</s>"; generation prompt "### Response:\n".
 *   GEMMA   (google/gemma-*-it) "<start_of_turn>user\n{msg}<end_of_turn>\n",
 *           "<start_of_turn>model\n{reply}<end_of_turn>\n" (text strip()ped,
 *           roles alternate; a system message goes in front of the first
 *           user message as "{sys}\n\n", as llama.cpp does); generation
 *           prompt "<start_of_turn>model\n".
 *   PHI3    (microsoft/Phi-3-*-instruct) "<|{role}|>\n{text}<|end|>\n" per
 *           message; generation prompt "<|assistant|>\n" (the template's
 *           trailing eos_token without one is left out: prefix property).
 *   LLAMA3  (meta-llama/Meta-Llama-3-*-Instruct) "<|start_header_id|>{role}
 *           <|end_header_id|>\n\n{text, strip()ped}<|eot_id|>" per message
 *           (no space around the role); generation prompt the assistant's header.
 *
 * Special tokens. The rendered text never contains the leading BOS: the
 * tokenizer adds it (SOLAR's template has none; Llama-2's and Mistral's
 * templates start with "<s>", which we drop for the same reason). Every other
 * special token the template emits ("</s>", "<s>" between Llama-2 turns,
 * "<|im_start|>", "<|im_end|>") is rendered as its literal text, and the
 * tokenizer must match added special tokens literally in the text. This keeps
 * one string per conversation (no side channel of token ids), matches what
 * HF's apply_chat_template renders minus the first "<s>", and keeps the
 * prefix property below.
 *
 * Prefix property (what a chat loop needs to reuse its KV cache). For every
 * template: render(msgs[0..n), add_generation_prompt=false) is a prefix of
 * render(msgs[0..m), any) for m >= n, and render(msgs[0..n), true) is a prefix
 * of render(msgs[0..n+1), any) when msgs[n] is an assistant reply. So after
 * each turn only chat_render_suffix() needs to be tokenized and fed. Note
 * that the model's own generated tokens may differ from the tokenization of
 * the re-rendered history (Llama-2 puts " </s>" after a reply, SentencePiece
 * merges across the boundary); a caller that keeps the tokens it fed can
 * instead re-tokenize the whole render and rewind the cache to the common
 * token prefix, which the prefix property makes almost all of the history.
 */
#ifndef VKLLM_TEXT_CHAT_TEMPLATE_H
#define VKLLM_TEXT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "vkllm.h"

typedef enum chat_template_id {
    CHAT_TEMPLATE_UNKNOWN = 0,
    CHAT_TEMPLATE_SOLAR,
    CHAT_TEMPLATE_LLAMA2,
    CHAT_TEMPLATE_MISTRAL,
    CHAT_TEMPLATE_CHATML,
    CHAT_TEMPLATE_ZEPHYR,
    CHAT_TEMPLATE_VICUNA,
    CHAT_TEMPLATE_ALPACA,
    CHAT_TEMPLATE_GEMMA,
    CHAT_TEMPLATE_PHI3,
    CHAT_TEMPLATE_LLAMA3,
} chat_template_id;

/* What a caller uses when chat_template_detect() says UNKNOWN (after telling
 * the user so) and no template was named: the project's first model. */
#define CHAT_TEMPLATE_DEFAULT CHAT_TEMPLATE_SOLAR

typedef enum chat_role { CHAT_ROLE_SYSTEM = 0, CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT } chat_role;

typedef struct chat_msg {
    chat_role role;
    const char *text; /* UTF-8, NUL-terminated; NULL reads as "" */
} chat_msg;

/* Recognises a model's own Jinja template (GGUF `tokenizer.chat_template` or
 * tokenizer_config.json `chat_template`) by distinctive substrings:
 * "<|im_start|>" -> CHATML; "<|start_header_id|>" -> LLAMA3;
 * "<start_of_turn>" -> GEMMA; "<|user|>" with "<|end|>" -> PHI3, without ->
 * ZEPHYR; "### User:" and "### Assistant:" -> SOLAR; "### Instruction:" and
 * "### Response:" -> ALPACA; "[INST]" with "<<SYS>>" -> LLAMA2; "[INST]"
 * otherwise -> MISTRAL; "USER:" and "ASSISTANT:" -> VICUNA (checked in this
 * order). NULL, "" or anything else -> CHAT_TEMPLATE_UNKNOWN. */
chat_template_id chat_template_detect(const char *template_source);

/* "solar", "llama2", "mistral", "chatml", "zephyr", "vicuna", "alpaca",
 * "gemma", "phi3", "llama3" (case-insensitive; also "llama-2", "im_start",
 * "phi-3", "llama-3") -> id; anything else or NULL -> CHAT_TEMPLATE_UNKNOWN. */
chat_template_id chat_template_by_name(const char *name);

/* The name chat_template_by_name takes, or "unknown"; never NULL, static. */
const char *chat_template_name(chat_template_id id);

/* The i-th template (i = 0 .. count - 1) in the order shown to users;
 * CHAT_TEMPLATE_UNKNOWN past the last. */
chat_template_id chat_template_nth(size_t i);

/* "solar, llama2, ..." : every name, comma-separated; static. */
const char *chat_template_known_list(void);

/* Renders msgs[0..n) into *out (malloc'd, NUL-terminated, owned by the caller;
 * set to NULL on failure). add_generation_prompt appends the text that starts
 * the assistant's reply where the template has one (SOLAR, ChatML); for
 * Llama-2 and Mistral a user turn already ends with "[/INST]" and the flag
 * changes nothing. n == 0 renders "".
 * Errors: VKLLM_ERR_INVALID_ARG for an unknown id, a bad role, or (Llama-2,
 * Mistral, as their templates raise) roles that do not alternate
 * user/assistant after an optional leading system message;
 * VKLLM_ERR_OUT_OF_MEMORY. */
vkllm_status chat_render(chat_template_id id, const chat_msg *msgs, size_t n, bool add_generation_prompt,
                         char **out, char *err, size_t err_len);

/* The text to feed after a cache that holds render(msgs[0..n_prev), false):
 * render(msgs[0..n), add_generation_prompt) with that prefix removed, into
 * *out (malloc'd, caller owns). Typical use: n_prev = messages up to and
 * including the last assistant reply, n = n_prev + 1 (the new user turn),
 * add_generation_prompt = true.
 * Errors: as chat_render; VKLLM_ERR_INVALID_ARG if n_prev > n or the prefix
 * property does not hold for these messages. */
vkllm_status chat_render_suffix(chat_template_id id, const chat_msg *msgs, size_t n_prev, size_t n,
                                bool add_generation_prompt, char **out, char *err, size_t err_len);

#endif
