/* Shared by the vkllm CLI's commands: output helpers and the command entry points. */
#ifndef VKLLM_CLI_H
#define VKLLM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vkllm.h"

/* Writes s as a JSON string (quoted, escaped) to stdout. */
void json_str(const char *s);
/* "discrete", "integrated", "virtual", "cpu", "other" */
const char *cli_device_type(vkllm_device_type t);
/* Human size: "1.5 GiB", "320.0 MiB". Returns buf. */
const char *cli_bytes(uint64_t bytes, char *buf, size_t len);
/* Parses a whole non-negative decimal number into *out; 0 on a malformed or out-of-range value. */
int cli_parse_u32(const char *s, uint32_t *out);
/* A progress bar on stderr for model loading, drawn only when stderr is a terminal. */
int cli_progress(uint64_t done, uint64_t total, void *user);

/* --quant (quantize on load): the help line, and the check of its value
 * before anything loads: 1 if `type` is one of vkllm_quantize_types()'s
 * block schemes (case-insensitive); else prints "vkllm CMD: --quant: unknown
 * type ..." with the valid ones and returns 0 (the command exits 2). */
#define CLI_QUANT_HELP \
    "  --quant TYPE          quantize an F16/BF16/F32 model while it loads, as `vkllm quantize`\n" \
    "                        would (q4_k_m, q8_0, ...; no file written; `vkllm quantize --help`)\n" \
    "  --quant-search S      with --quant: exact (llama-quantize's scale search) or fast (a few of its\n" \
    "                        candidates: ~3x faster on the CPU, within 1 %% of its RMS error); default:\n" \
    "                        exact where the GPU quantizes, fast on CPU devices\n"
int cli_quant_ok(const char *cmd, const char *type);
/* --quant-search / --search: 1 if `s` is exact or fast (any case); else
 * prints "vkllm CMD: OPT: ..." and returns 0 */
int cli_search_ok(const char *cmd, const char *opt, const char *s);

/* Before freeing a model: reports validation-layer messages (when
 * validation is on); returns 1 if there were any (the command then fails). */
int cli_validation_failed(const vkllm_model *m, const char *cmd);

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

#endif
