#!/usr/bin/env bash
# The vkllm CLI: commands work, bad input gets one clear line and a non-zero exit.
# usage: test_cli.sh path/to/vkllm path/to/vkllm-gen-model SCRATCH_DIR
set -u
vkllm="$1"
gen="$2"
scratch="$3"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
. "$(dirname "$0")/cli_expect.sh"

expect "help" 0 "usage: vkllm COMMAND" -- "$vkllm" help
expect "no command" 2 "usage: vkllm COMMAND" -- "$vkllm"
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$vkllm" frobnicate
expect "devices" 0 "^device 0: " -- "$vkllm" devices
expect "devices bad option" 2 "unknown option --bogus" -- "$vkllm" devices --bogus
expect "devices --json parses" 0 "^ok$" -- sh -c "'$vkllm' devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d and \"max_storage_buffer_range\" in d[0]; print(\"ok\")'"
# the device profile: the GPU family under VKLLM_AS_GPU, while the device still reports its own type
expect "devices --json: profile, VKLLM_AS_GPU" 0 "^ok$" -- sh -c "VKLLM_AS_GPU=1 '$vkllm' devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; p=d[\"profile\"]; assert p[\"family\"] == \"gpu\" and p[\"as_gpu\"] == (d[\"type\"] == \"cpu\") and p[\"reads\"] == \"storage\"; print(\"ok\")'"
expect "no driver" 1 "no Vulkan driver found" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" devices
expect "selftest no driver" 1 "no Vulkan driver found" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" selftest
expect "selftest unknown device" 1 'no Vulkan device matches "no-such-gpu"' -- "$vkllm" selftest --device no-such-gpu
expect "selftest device index out of range" 1 'no Vulkan device matches "99"' -- "$vkllm" selftest --device 99
expect "selftest missing value" 2 "incomplete option --device" -- "$vkllm" selftest --device
expect "selftest" 0 "all kernels passed" -- "$vkllm" selftest --validate --device 0

# models: a tiny generated one in both formats
rm -rf "$scratch" && mkdir -p "$scratch"
"$gen" --preset tiny --seed 7 --gguf "$scratch/tiny.gguf" --hf "$scratch/tiny-hf" >/dev/null || { echo "FAIL generator"; fails=$((fails + 1)); }
printf 'not a model\n' >"$scratch/junk.gguf"
expect "info gguf" 0 "^architecture +llama" -- "$vkllm" info -m "$scratch/tiny.gguf"
expect "info hf" 0 "rotate-half pairs" -- "$vkllm" info -m "$scratch/tiny-hf"
expect "info fits" 0 "device-local: fits" -- "$vkllm" info -m "$scratch/tiny.gguf"
expect "info too big" 0 "does NOT fit" -- "$vkllm" info -m "$scratch/tiny.gguf" --ctx 100000000
expect "info no model" 2 "give -m MODEL" -- "$vkllm" info
expect "info missing file" 1 "no-such-file" -- "$vkllm" info -m "$scratch/no-such-file.gguf"
expect "info not a model" 1 "junk.gguf" -- "$vkllm" info -m "$scratch/junk.gguf"
expect "info no driver" 0 "none usable: .*no Vulkan driver" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" info -m "$scratch/tiny.gguf"
check_json='import json,sys; d=json.load(sys.stdin); L=d["logits"]; assert len(L)==3 and all(len(r)==512 for r in L), "shape"; assert len(d["greedy"])==5 and all(0<=t<512 for t in d["greedy"]); print("greedy", d["greedy"])'
expect "logits gguf" 0 "^greedy " -- sh -c "'$vkllm' logits -m '$scratch/tiny.gguf' --tokens 1,17,42 --greedy 5 | python3 -c '$check_json'"
g1=$("$vkllm" logits -m "$scratch/tiny.gguf" --tokens 1,17,42 --greedy 8 --last 2>/dev/null | tail -1)
g2=$("$vkllm" logits -m "$scratch/tiny-hf" --tokens 1,17,42 --greedy 8 --last 2>/dev/null | tail -1)
expect "logits gguf == hf greedy" 0 "^same" -- sh -c "[ -n '$g1' ] && [ '$g1' = '$g2' ] && echo same || echo 'differ: $g1 vs $g2'"
expect "logits bad token" 1 "token 512 .*outside the vocabulary of 512" -- "$vkllm" logits -m "$scratch/tiny.gguf" --tokens 1,512
expect "logits malformed tokens" 2 "comma-separated token ids" -- "$vkllm" logits -m "$scratch/tiny.gguf" --tokens 1,,2
expect "logits no tokens" 2 "give -m MODEL and --tokens" -- "$vkllm" logits -m "$scratch/tiny.gguf"
expect "logits too big for device" 1 "needs .* GiB .* but device .* has .* GiB" -- "$vkllm" logits -m "$scratch/tiny.gguf" --tokens 1 --ctx 100000000
expect "logits no driver" 1 "no Vulkan driver found" -- env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json "$vkllm" logits -m "$scratch/tiny.gguf" --tokens 1
expect "logits missing file" 1 "no-such-file" -- "$vkllm" logits -m "$scratch/no-such-file" --tokens 1

# bench: synthetic and file models, JSON for machines, bandwidth, profile, refusals
check_bench='import json,sys; d=json.load(sys.stdin); t=[x["test"] for x in d]; assert t==["pp8","pp16","tg4"], t; assert all(x["tokens_per_s"]>0 for x in d); assert d[2]["weight_gbps"]>0; print("bench ok")'
expect "bench synthetic json" 0 "^bench ok" -- sh -c "'$vkllm' bench --synthetic tiny -p 8,16 -n 4 -r 2 --json | python3 -c '$check_bench'"
expect "bench file model" 0 "^\| tg4 \| [0-9.]+ " -- "$vkllm" bench -m "$scratch/tiny.gguf" -p 8 -n 4 -r 1
expect "bench profile" 0 "^decode step: [0-9]+ dispatches" -- "$vkllm" bench --synthetic tiny -p 8 -n 2 -r 1 --profile
expect "bench profile: device profile" 0 '^device profile: \{"family": "(cpu|gpu)", ' -- "$vkllm" bench --synthetic tiny -p 8 -n 2 -r 1 --profile
expect "bench profile: tuning (CPUs: off)" 0 "^(not tuned on a CPU device|decode kernels tuned at load)" -- "$vkllm" bench --synthetic tiny -p 8 -n 2 -r 1 --profile
expect "bench profile: VKLLM_TUNE=1 tunes" 0 "^\| 32000 x 256 \| [0-9]+ \| " -- env VKLLM_TUNE=1 "$vkllm" bench --synthetic tiny -p 8 -n 2 -r 1 --profile
expect "bench profile: VKLLM_TUNE=0" 0 "^not tuned \(VKLLM_TUNE=0\)" -- env VKLLM_TUNE=0 "$vkllm" bench --synthetic tiny -p 8 -n 2 -r 1 --profile
expect "bench bandwidth" 0 "^\| matvec 32000 x 4096 fp16 \| [0-9.]+ \| [0-9.]+ \|" -- "$vkllm" bench --bandwidth -r 1
check_par='import json,sys; d=json.load(sys.stdin); t=[(x["test"],x["parallel"]) for x in d]; assert t==[("tg3",1),("tg3 x2",2),("tg3 x3",3)], t; assert all(abs(x["aggregate_tokens_per_s"]-x["parallel"]*x["tokens_per_s"])<1e-2*x["aggregate_tokens_per_s"] for x in d), d; print("parallel ok")'
expect "bench parallel json" 0 "^parallel ok" -- sh -c "'$vkllm' bench --synthetic tiny -n 3 -r 1 --parallel 1,2,3 --json | python3 -c '$check_par'"
expect "bench parallel table" 0 "^\| tg3 x2 \| [0-9.]+ \| .* \| [0-9.]+ \|$" -- "$vkllm" bench --synthetic tiny -n 3 -r 1 --parallel 2
expect "bench parallel too many" 2 "at most 64 sequences" -- "$vkllm" bench --parallel 65 -n 1
expect "bench depth" 0 '"test": "tg2 @ d16"' -- "$vkllm" bench --synthetic tiny -n 2 -d 0,16 -r 1 --json
# bench --synthetic --type: random blocks made on the device; the JSON names
# the type and the bytes a token reads: the blocks of every matrix (tiny: 4
# layers of 256-wide matrices, ffn 768, kv 128, vocab 32000), the output in
# Q6_K for llama-quantize's schemes (q4_0; not q8_0), the
# types that are no scheme (q3_k) on every matrix
check_type='import json,sys
t, bpw, obpw = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]); d = json.load(sys.stdin)
assert [x["test"] for x in d] == ["pp8", "tg4"], d
assert all(x["type"] == t.upper() and x["tokens_per_s"] > 0 for x in d), d
mats = 4 * [(256, 256), (128, 256), (128, 256), (256, 256), (768, 256), (768, 256), (256, 768)]
pad = lambda b: (b + 15) // 16 * 16
want = sum(pad(int(r * c * bpw)) for r, c in mats) + pad(int(32000 * 256 * obpw)) + pad(32000 * int(256 * bpw)) // 32000 + 4 * 256 * 9
assert d[1]["bytes_per_token"] == want, (d[1]["bytes_per_token"], want)
print("type ok")'
# (one type of each rule: fill_random and matmul_q check every type's blocks)
for tb in "f16 2 2" "q8_0 1.0625 1.0625" "q4_0 0.5625 0.8203125" "q3_k 0.4296875 0.4296875"; do
    set -- $tb
    expect "bench synthetic --type $1" 0 "^type ok" -- sh -c "'$vkllm' bench --synthetic tiny --type $1 -p 8 -n 4 -r 1 --json | python3 -c '$check_type' $tb"
done
expect "bench synthetic q4_k_m: the mix" 0 '"type": "Q4_K_M"' -- "$vkllm" bench --synthetic tiny --type q4_k_m -p 8 -n 4 -r 1 --json
expect "bench unknown type" 1 "unknown weight type 'q7_x' for a synthetic model; known: f16, q4_0" -- "$vkllm" bench --synthetic tiny --type q7_x
expect "bench --type with a file" 2 "--type is for --synthetic models" -- "$vkllm" bench -m "$scratch/tiny.gguf" --type q4_0
expect "bench unknown shape" 1 "unknown synthetic model 'gpt-5'; known: solar-10.7b" -- "$vkllm" bench --synthetic gpt-5
expect "bench bad size" 2 "wants a positive number" -- "$vkllm" bench -p 0
expect "bench solar too big" 1 "needs .* GiB .* but device" -- "$vkllm" bench --synthetic solar-10.7b

# tokenize: the real SOLAR/Mistral vocabulary and the Llama-2 vocab GGUF, text or stdin
data="$(dirname "$0")/data"
expect "tokenize tokenizer.json" 0 '^\[1, 22557\]$' -- "$vkllm" tokenize -m "$data/solar-mistral/tokenizer.json" Hello
expect "tokenize folder --no-bos" 0 '^\[22557\]$' -- "$vkllm" tokenize -m "$data/solar-mistral" --no-bos Hello
expect "tokenize --pieces" 0 '^\["<s>", "▁Hello"\]$' -- "$vkllm" tokenize -m "$data/solar-mistral" --pieces Hello
expect "tokenize stdin, vocab gguf" 0 '^\[1, 15043, 3186\]$' -- sh -c "printf 'Hello world' | '$vkllm' tokenize -m '$data/ggml-vocab-llama-spm.gguf'"
expect "tokenize --special" 0 '^\[1, 2\]$' -- "$vkllm" tokenize -m "$data/solar-mistral" --special '</s>'
expect "tokenize not a vocab" 1 "junk.gguf" -- "$vkllm" tokenize -m "$scratch/junk.gguf" hi
expect "tokenize no model" 2 "give -m MODEL" -- "$vkllm" tokenize hi

# run and chat on the generated model (random weights: the text is noise, the plumbing is real)
expect "run" 0 "generation: 8 tokens, [0-9.]+ t/s \| max tokens" -- "$vkllm" run -m "$scratch/tiny.gguf" -p "Hello there" --greedy -n 8
"$vkllm" quantize -m "$scratch/tiny.gguf" -o "$scratch/tiny-q8.gguf" --type q8_0 >/dev/null 2>&1
"$vkllm" run -m "$scratch/tiny-q8.gguf" -p "Hello there" --greedy -n 8 -q >"$scratch/q8-file.txt" 2>&1
expect "run --quant q8_0 (HF folder): the text of the file vkllm quantize wrote" 0 "^same$" -- sh -c \
    '"$1" run -m "$2" --quant q8_0 -p "Hello there" --greedy -n 8 -q >"$3" 2>&1 && cmp "$3" "$4" && echo same' \
    sh "$vkllm" "$scratch/tiny-hf" "$scratch/q8-load.txt" "$scratch/q8-file.txt"
expect "bench --quant" 0 "^\| tg4 \| [0-9.]+ " -- "$vkllm" bench -m "$scratch/tiny.gguf" --quant q4_0 -p 8 -n 4 -r 1
expect "bench --quant --json: the type as loaded" 0 '"type": "Q4_0"' -- "$vkllm" bench -m "$scratch/tiny.gguf" --quant q4_0 -p 8 -n 2 -r 1 --json
expect "run raw sampled" 0 "generation: [0-9]+ tokens" -- "$vkllm" run -m "$scratch/tiny-hf" -p "abc" --raw --temp 0.9 --top-k 20 --top-p 0.9 --min-p 0.1 --seed 3 -n 6
expect "run template" 0 "generation:" -- "$vkllm" run -m "$scratch/tiny.gguf" -p "hi" --template chatml --system "be nice" -n 4
expect "run unknown template" 2 "unknown chat template 'bogus'" -- "$vkllm" run -m "$scratch/tiny.gguf" -p "hi" --template bogus
expect "run no prompt" 2 "give the message with -p" -- "$vkllm" run -m "$scratch/tiny.gguf"
expect "run bad temp" 2 "bad value 'x' for --temp" -- "$vkllm" run -m "$scratch/tiny.gguf" -p hi --temp x
expect "run missing model" 1 "no-such" -- "$vkllm" run -m "$scratch/no-such.gguf" -p hi
mkdir -p "$scratch/notok" && cp "$scratch/tiny-hf/config.json" "$scratch/tiny-hf/"*.safetensors "$scratch/notok/"
expect "run without tokenizer" 1 "has no usable tokenizer" -- "$vkllm" run -m "$scratch/notok" -p hi
expect "logits without tokenizer" 0 "^greedy" -- sh -c "'$vkllm' logits -m '$scratch/notok' --tokens 1,2,3 --greedy 2 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(\"greedy\", d[\"greedy\"])'"
expect "run Ctrl-C stops cleanly (exit 130)" 130 "\| interrupted\]" -- timeout --preserve-status -s INT 2 "$vkllm" run -m "$scratch/tiny.gguf" -p "hello" --greedy -n 0 --ctx 60000
expect "chat" 0 "conversation cleared" -- sh -c "printf 'hello\n/reset\nagain\n' | '$vkllm' chat -m '$scratch/tiny.gguf' --greedy -n 5"
expect "chat turns reuse the cache" 0 "\(\+ cached\)" -- sh -c "printf 'hello\nmore\n' | '$vkllm' chat -m '$scratch/tiny.gguf' --greedy -n 5 2>&1"

echo "$([ $fails -eq 0 ] && echo PASSED || echo FAILED) ($fails failures)"
[ $fails -eq 0 ]
