#!/usr/bin/env bash
# `vkllm quantize` end to end (CPU only, no Vulkan device needed): help, dry
# run, a real run against llama-quantize's fixture, HF folders, and bad input
# refused with one clear line, a non-zero exit and no file left behind.
# usage: test_cli_quantize.sh path/to/vkllm path/to/vkllm-gen-model SCRATCH_DIR QUANT_FIXTURES
set -u
vkllm="$1"
gen="$2"
scratch="$3"
fx="$4"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
. "$(dirname "$0")/cli_expect.sh"
no_leftovers() { ! ls "$scratch" | grep -q '\.tmp-'; }

rm -rf "$scratch" && mkdir -p "$scratch"
src="$fx/fx256-f16.gguf"
q="$scratch/q4km.gguf"

expect "help" 0 "usage: vkllm quantize -m IN -o OUT.gguf --type TYPE" -- "$vkllm" quantize --help
expect "help lists the types" 0 "q4_k_m.*q5_k_m" -- "$vkllm" quantize --help
expect "listed in vkllm help" 0 "quantize -m IN -o OUT.gguf" -- "$vkllm" help
expect "missing arguments" 2 "are required" -- "$vkllm" quantize -m "$src"
expect "bad option" 2 "unknown or incomplete option --bogus" -- "$vkllm" quantize --bogus
expect "bad threads" 2 "--threads needs a number" -- "$vkllm" quantize -m "$src" -o "$q" --type q4_k_m --threads x

# dry run: every tensor with shape, types and sizes, the totals; no file
expect "dry run" 0 "^blk\.0\.ffn_down\.weight +\[256, 256\] +F16 +-> Q6_K +128\.0 KiB +52\.5 KiB" -- \
    "$vkllm" quantize -m "$src" -o "$q" --type q4_k_m --dry-run
expect "dry run total" 0 "^total: 12 tensors \(9 quantized\)" -- "$vkllm" quantize -m "$src" --type q4_k_m --dry-run
expect "dry run source size" 0 "^source: .*fx256-f16.gguf, 1313792 bytes of tensor data; output: 443424 bytes" -- \
    "$vkllm" quantize -m "$src" --type q4_k_m --dry-run
check "dry run writes nothing" test ! -e "$q"

# the real thing: llama-quantize's file size for the same mix
expect "quantize q4_k_m" 0 "^wrote .*q4km.gguf: 433.0 KiB .* 12 tensors, 9 quantized, q4_k_m, .* on 2 threads" -- \
    "$vkllm" quantize -m "$src" -o "$q" --type Q4_K_M --threads 2
check "same size as llama-quantize's" test "$(stat -c %s "$q")" = "$(stat -c %s "$fx/fx256-Q4_K_M.gguf")"
cp "$q" "$q.default" # the default search's file (exact), for the --search checks below
expect "output describes" 0 "" -- "$vkllm" quantize -m "$q" --type q8_0 --dry-run --allow-requantize
expect "existing output refused" 1 "q4km.gguf already exists; refusing to replace it .*--force" -- \
    "$vkllm" quantize -m "$src" -o "$q" --type q8_0
check "existing output untouched" test "$(stat -c %s "$q")" = 443424
expect "--force replaces" 0 "^wrote .*q4km.gguf" -- "$vkllm" quantize -m "$src" -o "$q" --type q8_0 --force
check "--force wrote q8_0" test "$(stat -c %s "$q")" != 443424

expect "unknown type" 1 "unknown quantization type 'q4_k_x' \(known: q2_k, .*iq4_xs, f32, f16, bf16\)" -- \
    "$vkllm" quantize -m "$src" -o "$scratch/x.gguf" --type q4_k_x
expect "quantized source refused" 1 "already quantized \(tensor '.*' is Q[0-9]_K\).*--allow-requantize" -- \
    "$vkllm" quantize -m "$fx/fx256-Q4_K_M.gguf" -o "$scratch/x.gguf" --type q4_0
check "nothing written for refusals" test ! -e "$scratch/x.gguf"

# quantize on load (--quant of run, chat, bench, info, serve): what it needs, and its flag errors
types_mem() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["tensor_types"], d["device_weight_bytes"], d["memory"]["total"])'; }
want=$("$vkllm" info -m "$fx/fx256-Q4_K_M.gguf" --json | types_mem)
got=$("$vkllm" info -m "$src" --quant Q4_K_M --json | types_mem)
check "info --quant: the types and memory of llama-quantize's Q4_K_M file ($want)" test "$got" = "$want"
expect "info --quant says so" 0 "^quantize +on load to q4_k_m: 420.8 KiB of weights on the device" -- \
    "$vkllm" info -m "$src" --quant q4_k_m
expect "info --quant unknown type" 2 "^vkllm info: --quant: unknown type 'q4_k_x' \(valid: q2_k, q3_k_s, .*, iq4_xs\)$" -- \
    "$vkllm" info -m "$src" --quant q4_k_x
expect "info --quant of a quantized file" 1 "is already quantized \(tensor '.*' is Q[0-9]_K\).*without a quantization type" -- \
    "$vkllm" info -m "$fx/fx256-Q4_K_M.gguf" --quant q4_k_m
expect "run --quant unknown type" 2 "^vkllm run: --quant: unknown type 'q9'" -- "$vkllm" run -m "$src" -p hi --quant q9
expect "run --quant without a value" 2 "unknown or incomplete option --quant" -- "$vkllm" run -m "$src" -p hi --quant
expect "chat --quant f16" 2 "unknown type 'f16' \(a model loads as fp16 without --quant\)" -- \
    "$vkllm" chat -m "$src" --quant f16
expect "bench --quant needs a model" 2 "--quant quantizes a model file while it loads: give -m MODEL" -- \
    "$vkllm" bench --quant q4_k_m
expect "bench --quant unknown type" 2 "^vkllm bench: --quant: unknown type 'x'" -- "$vkllm" bench -m "$src" --quant x
expect "serve --quant unknown type" 2 "^vkllm serve: --quant: unknown type 'q4'" -- "$vkllm" serve -m "$src" --quant q4
for cmd in run chat bench info serve; do
    expect "$cmd --help lists --quant" 0 "--quant TYPE" -- "$vkllm" $cmd --help
done
for cmd in run chat bench serve; do
    expect "$cmd --help lists --quant-search" 0 "--quant-search" -- "$vkllm" $cmd --help
done
expect "run --quant-search unknown" 2 "^vkllm run: --quant-search: unknown scale search 'best' \(valid: exact, fast\)" -- \
    "$vkllm" run -m "$src" -p hi --quant q4_k_m --quant-search best
expect "chat --quant-search without --quant" 2 "^vkllm chat: --quant-search chooses how --quant searches scales" -- \
    "$vkllm" chat -m "$src" --quant-search fast
expect "bench --quant-search without --quant" 2 "give --quant TYPE too" -- "$vkllm" bench -m "$src" --quant-search exact
expect "serve --quant-search unknown" 2 "^vkllm serve: --quant-search: unknown scale search 'x'" -- \
    "$vkllm" serve -m "$src" --quant q4_k_m --quant-search x

# the fast search: its own blocks (not exact's), the same size, and a file the reader loads
expect "quantize --search unknown" 2 "^vkllm quantize: --search: unknown scale search 'quick'" -- \
    "$vkllm" quantize -m "$src" -o "$scratch/f.gguf" --type q4_k_m --search quick
expect "quantize --search fast" 0 "^wrote .*fast.gguf: 433.0 KiB .* q4_k_m" -- \
    "$vkllm" quantize -m "$src" -o "$scratch/fast.gguf" --type q4_k_m --search fast
expect "quantize --search exact" 0 "^wrote .*exact.gguf: 433.0 KiB" -- \
    "$vkllm" quantize -m "$src" -o "$scratch/exact.gguf" --type q4_k_m --search EXACT
check "exact search: the default's bytes" cmp -s "$scratch/exact.gguf" "$q.default"
check "fast search: other blocks" sh -c "! cmp -s '$scratch/fast.gguf' '$scratch/exact.gguf'"
expect "fast file describes" 0 "" -- "$vkllm" quantize -m "$scratch/fast.gguf" --type q8_0 --dry-run --allow-requantize
rm -f "$scratch/fast.gguf" "$scratch/exact.gguf" "$q.default"
expect "--allow-requantize" 0 "^wrote " -- \
    "$vkllm" quantize -m "$fx/fx256-Q4_K_M.gguf" -o "$scratch/x.gguf" --type q4_0 --allow-requantize
expect "missing source" 1 "no-such-model.gguf: cannot open" -- \
    "$vkllm" quantize -m "$scratch/no-such-model.gguf" -o "$scratch/y.gguf" --type q4_0
expect "missing output folder" 1 "cannot create the output file" -- \
    "$vkllm" quantize -m "$src" -o "$scratch/no/dir/y.gguf" --type q4_0

# a full disk: the file-size limit makes a write fail part way (SIGXFSZ ignored, so write() reports EFBIG)
expect "write error" 1 "full.gguf: write failed: .*partial file is removed" -- \
    bash -c "trap '' XFSZ; ulimit -f 150; exec '$vkllm' quantize -m '$src' -o '$scratch/full.gguf' --type q8_0"
check "write error leaves no file" test ! -e "$scratch/full.gguf"
check "write error leaves no partial file" no_leftovers

# Ctrl-C part way: the run is cancelled at the next chunk, exit 130, nothing left behind
"$gen" --layers 4 --embd 512 --ff 1408 --vocab 32000 --seed 2 --gguf "$scratch/mid.gguf" >/dev/null ||
    { echo "FAIL gen mid"; fails=$((fails + 1)); }
"$vkllm" quantize -m "$scratch/mid.gguf" -o "$scratch/mid-q.gguf" --type q4_k_m --threads 1 >"$out" 2>&1 &
pid=$!
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
check "Ctrl-C: exit 130" test $rc -eq 130
check "Ctrl-C: says so" grep -q "quantizing cancelled; nothing was written" "$out"
check "Ctrl-C: no output" test ! -e "$scratch/mid-q.gguf"
check "Ctrl-C: no partial file" no_leftovers
rm -f "$scratch/mid.gguf"

# an HF folder (sharded, GQA) to a GGUF the reader accepts
"$gen" --preset tiny --embd 256 --ff 512 --kv-heads 2 --shards 2 --seed 3 --hf "$scratch/hf" >/dev/null || {
    echo "FAIL gen hf"; fails=$((fails + 1)); }
expect "hf dry run" 0 "^blk\.1\.attn_k\.weight +\[256, 128\] +F16 +-> Q4_K" -- \
    "$vkllm" quantize -m "$scratch/hf" --type q4_k_m --dry-run
expect "hf quantize" 0 "^wrote .*hf.gguf" -- "$vkllm" quantize -m "$scratch/hf" -o "$scratch/hf.gguf" --type q5_k_m
"$vkllm" quantize -m "$scratch/hf" -o "$scratch/hf16.gguf" --type f16 >/dev/null
text="Hello world, this is a test"
check "hf to f16: the same tokens" test "$("$vkllm" tokenize -m "$scratch/hf16.gguf" "$text")" = \
    "$("$vkllm" tokenize -m "$scratch/hf" "$text")"
expect "hf without tokenizer" 1 "no tokenizer.json in the model folder" -- sh -c "rm '$scratch/hf/tokenizer.json' && \
    '$vkllm' quantize -m '$scratch/hf' -o '$scratch/hf2.gguf' --type q4_0"
check "no partial files at all" no_leftovers

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
rm -rf "$scratch"
echo "all quantize CLI checks passed"
