#!/usr/bin/env bash
# Builds the libFuzzer target of `vkllm serve`'s request parser
# (tests/fuzz_serve_request.c, clang, ASan + UBSan) and runs it on a seed
# corpus for a fixed number of inputs; any crash, sanitizer report, leak or
# broken promise fails the test.
# usage: test_serve_fuzz.sh SOURCE_ROOT SCRATCH_DIR [RUNS]
set -u
src="$1"
scratch="$2"
runs="${3:-1000000}"
command -v clang >/dev/null || { echo "FAIL: clang is missing (tools/setup.sh installs it)"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch/corpus"
cflags=$(pkg-config --cflags libcjson)
libs=$(pkg-config --libs libcjson)
# shellcheck disable=SC2086
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/include" -I"$src/tools/serve" $cflags \
    "$src/tests/fuzz_serve_request.c" "$src/tools/serve/serve_request.c" $libs -lm -o "$scratch/fuzz" ||
    { echo "FAIL: building the fuzzer"; exit 1; }
c="$scratch/corpus"
printf '%s' '{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":8,"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":3,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true}}' >"$c/chat"
printf '%s' '{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":null}],"frequency_penalty":1.5,"presence_penalty":-1,"repeat_penalty":1.1,"repeat_last_n":32,"n":1,"response_format":{"type":"text"},"max_completion_tokens":3}' >"$c/parts"
printf '%s' '{"prompt":"once upon a time","max_tokens":16,"stop":"\n","logprobs":false}' >"$c/completion"
printf '%s' '{"prompt":["one"],"seed":-5}' >"$c/prompt_array"
printf '%s' '{"prompt":"e","top_p":9e-51}' >"$c/top_p_tiny" # above 0 as a double, 0 as a float: once let through
printf '%s' 'Bearer s3cret-key' >"$c/auth"
cat >"$scratch/dict" <<'DICT'
"messages"
"role"
"content"
"system"
"user"
"assistant"
"developer"
"prompt"
"model"
"max_tokens"
"max_completion_tokens"
"temperature"
"top_p"
"top_k"
"min_p"
"seed"
"stop"
"stream"
"stream_options"
"include_usage"
"frequency_penalty"
"presence_penalty"
"repeat_penalty"
"repeat_last_n"
"response_format"
"type"
"text"
"logprobs"
"n"
"null"
"true"
"false"
"Bearer "
"1e308"
"-0.5"
DICT
start=$(date +%s%N)
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$scratch/fuzz" -runs="$runs" -max_len=2048 -seed=1 \
    -dict="$scratch/dict" -timeout=10 -rss_limit_mb=1024 "$c" >"$scratch/log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
tail -3 "$scratch/log"
if [ $rc -ne 0 ]; then
    echo "FAIL: the fuzzer stopped (exit $rc); see $scratch/log and the crash-* file"
    grep -m5 -E "ERROR|runtime error|broken" "$scratch/log"
    exit 1
fi
echo "PASSED: $runs inputs, clean, in $ms ms"
