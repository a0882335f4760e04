#!/usr/bin/env bash
# llama.cpp itself loads what `vkllm quantize` writes: a generated HF folder
# with SOLAR's real tokenizer.json (GQA, two shards) converted to f16, q8_0 and
# q4_k_m, a tied-embeddings folder (MQA) to f16, and the quant fixture's F16
# GGUF to q4_k_m. For each file llama.cpp
# (node-llama-cpp 3.21.1's prebuilt CPU build: tests/llama_cpp) must open it,
# tokenize the 56 reference strings of tests/data/solar-mistral/cases.json to
# exactly Mistral's ids (so the converted vocabulary, scores and token types
# work in llama.cpp's own SentencePiece tokenizer), report the chat template
# and file type, and generate greedily; from the f16 files (HF q/k rows
# permuted by vkllm) the same tokens as vkllm's GPU forward pass gives on the
# HF folder itself and next-token log-probabilities within 0.02 of vkllm's,
# and from q8_0 / q4_k_m log-probabilities near the f16 file's (llama.cpp
# decodes our blocks) and the same first greedy token.
# Skipped (exit 77) unless Node >= 20 and `npm ci --omit=optional` in
# tests/llama_cpp have been run (test-only; tools/setup.sh does it where
# Node >= 20 is installed).
# usage: test_llama_cpp.sh path/to/vkllm path/to/vkllm-gen-model SCRATCH_DIR TESTS_DATA QUANT_FIXTURES
set -u
vkllm="$1"
gen="$2"
scratch="$3"
data="$4"
fx="$5"
here="$(cd "$(dirname "$0")" && pwd)/llama_cpp"
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null ||
    [ ! -d "$here/node_modules/node-llama-cpp" ]; then
    echo "SKIP: needs Node >= 20 and 'npm ci --omit=optional' in $here"
    exit 77
fi
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

rm -rf "$scratch" && mkdir -p "$scratch"
scratch="$(cd "$scratch" && pwd)" data="$(cd "$data" && pwd)" fx="$(cd "$fx" && pwd)" # node runs elsewhere
hf="$scratch/hf"
"$gen" --layers 2 --embd 256 --ff 512 --heads 4 --kv-heads 2 --vocab 32000 --shards 2 --seed 9 --hf "$hf" \
    >/dev/null || fail "gen"
cp "$data/solar-mistral/tokenizer.json" "$hf/tokenizer.json" || fail "copy tokenizer.json"
for t in f16 q8_0 q4_k_m; do
    "$vkllm" quantize -m "$hf" -o "$scratch/hf-$t.gguf" --type "$t" >/dev/null || fail "quantize $t"
done
# tied embeddings: no output.weight, token_embd quantized as the output matrix
"$gen" --layers 1 --embd 256 --ff 256 --heads 4 --kv-heads 1 --vocab 32000 --tied --seed 4 --hf "$scratch/tied" \
    >/dev/null || fail "gen tied"
cp "$data/solar-mistral/tokenizer.json" "$scratch/tied/tokenizer.json" || fail "copy tokenizer.json"
"$vkllm" quantize -m "$scratch/tied" -o "$scratch/tied-f16.gguf" --type f16 >/dev/null || fail "quantize tied"
"$vkllm" quantize -m "$fx/fx256-f16.gguf" -o "$scratch/fx-q4_k_m.gguf" --type q4_k_m >/dev/null ||
    fail "quantize fixture"

prompt="1,22557,1526,28725"
n=6
for f in hf-f16 hf-q8_0 hf-q4_k_m tied-f16 fx-q4_k_m; do
    p="$prompt"
    [ "$f" = fx-q4_k_m ] && p="1,300,301,302" # the fixture's vocabulary has 512 pieces
    (cd "$here" && node check.mjs "$scratch/$f.gguf" "$data/solar-mistral/cases.json" "$p" "$n") \
        >"$scratch/$f.json" 2>"$scratch/$f.err" || { fail "llama.cpp cannot load $f.gguf:"; sed 's/^/  | /' "$scratch/$f.err"; }
done
"$vkllm" logits -m "$hf" --tokens "$prompt" --greedy "$n" --last >"$scratch/vkllm.json" 2>"$scratch/vkllm.err" ||
    { fail "vkllm logits"; sed 's/^/  | /' "$scratch/vkllm.err"; }
"$vkllm" logits -m "$scratch/tied" --tokens "$prompt" --greedy "$n" --last >"$scratch/vkllm-tied.json" \
    2>"$scratch/vkllm.err" || { fail "vkllm logits tied"; sed 's/^/  | /' "$scratch/vkllm.err"; }

python3 - "$scratch" "$data/solar-mistral/cases.json" "$hf/tokenizer_config.json" <<'PY' || fails=$((fails + 1))
import json, sys
scratch, cases_path, cfg_path = sys.argv[1:]
cases = json.load(open(cases_path))
template = json.load(open(cfg_path))["chat_template"]
# observed: 1.9e-3 (f16 vs vkllm), 0.087 (q8_0), 0.65 (q4_k_m) in nats, max over tokens with p > 1e-6
TOL_F16, TOL_Q8, TOL_Q4 = 0.02, 0.25, 1.0
bad = 0
def check(ok, msg):
    global bad
    print(("ok   " if ok else "FAIL ") + msg)
    bad += not ok
res = {}
for f, ft in (("hf-f16", 1), ("hf-q8_0", 7), ("hf-q4_k_m", 15), ("tied-f16", 1), ("fx-q4_k_m", 15)):
    try:
        r = res[f] = json.load(open(f"{scratch}/{f}.json"))
    except Exception as e:
        check(False, f"{f}: no result ({e})")
        continue
    check(r["file_type"] == ft, f"{f}: llama.cpp reads general.file_type {r['file_type']} (want {ft})")
    check(r["bos"] == 1 and r["eos"] == 2, f"{f}: bos {r['bos']}, eos {r['eos']}")
    check(r["template"] is not None, f"{f}: chat template present")
    check(len(r["greedy"]) == 6, f"{f}: generates {r['greedy']}")
    if not f.startswith("fx"):
        diff = [c["text"] for c, got in zip(cases, r["tokens"]) if got != c["ids"]]
        check(not diff, f"{f}: llama.cpp tokenizes {len(cases) - len(diff)}/{len(cases)} reference strings to Mistral's ids"
              + (f"; first differing: {diff[0]!r}" if diff else ""))
        check(r["template"] == template, f"{f}: tokenizer.chat_template is tokenizer_config.json's")
for f, v in (("hf-f16", "vkllm"), ("tied-f16", "vkllm-tied")):
    try:
        ours = json.load(open(f"{scratch}/{v}.json"))["greedy"]
        check(res.get(f, {}).get("greedy") == ours,
              f"greedy from {f} in llama.cpp {res.get(f, {}).get('greedy')} == vkllm on the HF folder {ours}")
    except Exception as e:
        check(False, f"{v} greedy: {e}")
import math
def logp_ours(path):
    row = json.load(open(path))["logits"][-1]
    m = max(row)
    lse = m + math.log(sum(math.exp(x - m) for x in row))
    return {i: x - lse for i, x in enumerate(row)}
def logp_llama(r):
    return {t: math.log(p) for t, p in r.get("probs", []) if p > 0}
def max_diff(a, b, floor=1e-6):
    keys = [k for k in a if math.exp(a[k]) > floor]
    return max((abs(a[k] - b.get(k, -1e9)) for k in keys), default=1e9)
# (not the tied model: its random embeddings make the next token certain, p = 1 in both)
for f, v in (("hf-f16", "vkllm"),):
    try:
        a, b = logp_llama(res.get(f, {})), logp_ours(f"{scratch}/{v}.json")
        d = max_diff(b, a)
        check(len(a) == 32000 and d < TOL_F16, f"{f}: llama.cpp's next-token log-probabilities ({len(a)}) within "
              f"{TOL_F16} of vkllm's on the HF folder (max |diff| {d:.2e})")
    except Exception as e:
        check(False, f"{f} probabilities: {e}")
ref = logp_llama(res.get("hf-f16", {}))
for f, tol in (("hf-q8_0", TOL_Q8), ("hf-q4_k_m", TOL_Q4)):
    d = max_diff(ref, logp_llama(res.get(f, {})))
    check(d < tol, f"{f}: llama.cpp's log-probabilities within {tol} of the f16 file's (max |diff| {d:.2e})")
# a random model's logits are nearly flat, so quantization soon changes the argmax: only the first token
check(res.get("hf-q8_0", {}).get("greedy", [None])[:1] == res.get("hf-f16", {}).get("greedy", [0])[:1],
      f"first greedy token from q8_0 {res.get('hf-q8_0', {}).get('greedy')} == from f16")
sys.exit(1 if bad else 0)
PY

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
rm -rf "$scratch"
echo "llama.cpp loads every file vkllm quantize wrote"
