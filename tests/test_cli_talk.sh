#!/usr/bin/env bash
# `vkllm run` and `vkllm chat` as tools for scripts and people: checks before
# the long wait, seeds, standard output vs standard error, -f / -p -, --json,
# exit codes, chat commands, /save and /load, a context that overflows.
# usage: test_cli_talk.sh path/to/vkllm path/to/vkllm-gen-model SCRATCH_DIR
set -u
vkllm="$1"
gen="$2"
scratch="$3"
out="$scratch/out.txt"
rm -rf "$scratch" && mkdir -p "$scratch"
nodrv=(env VK_DRIVER_FILES=/nonexistent/icd.json VK_ICD_FILENAMES=/nonexistent/icd.json)

# Internal function names never reach the user.
forbidden='\b(vkllm|llama|gpu|tok|chat|api|sampler|op)_[a-z_]+: '
. "$(dirname "$0")/cli_expect.sh"

"$gen" --preset tiny --seed 7 --gguf "$scratch/tiny.gguf" --hf "$scratch/tiny-hf" >/dev/null || fail "generator"
mkdir -p "$scratch/notok" && cp "$scratch/tiny-hf/config.json" "$scratch/tiny-hf/"*.safetensors "$scratch/notok/"
m="$scratch/tiny.gguf"

# ---- every check before the weights: with no Vulkan driver at all, these
# ---- errors must come first (an upload would fail with "no Vulkan driver")
for v in nan -1 inf -inf 1e40 x; do
    expect "--temp $v refused before loading" 2 "bad value '$v' for --temp: want a finite number >= 0" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --temp "$v"
done
expect "--top-p 0 refused" 2 "bad value '0' for --top-p" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --top-p 0
expect "--top-p 1.5 refused" 2 "bad value '1.5' for --top-p" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --top-p 1.5
expect "--min-p -0.1 refused" 2 "bad value '-0.1' for --min-p" -- "${nodrv[@]}" "$vkllm" chat -m "$m" --min-p -0.1
expect "--repeat-penalty 0 refused" 2 "bad value '0' for --repeat-penalty" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --repeat-penalty 0
expect "--repeat-penalty nan refused" 2 "bad value 'nan' for --repeat-penalty" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --repeat-penalty nan
expect "--seed x refused" 2 "bad value 'x' for --seed" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --seed x
expect "--seed -2 refused" 2 "bad value '-2' for --seed" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --seed -2
expect "--ctx 0 refused" 2 "bad value '0' for --ctx" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --ctx 0
expect "unknown template before loading" 2 "unknown chat template 'bogus'; known: solar, llama2" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p hi --template bogus
expect "missing tokenizer before loading" 1 "has no usable tokenizer" -- "${nodrv[@]}" "$vkllm" run -m "$scratch/notok" -p hi
expect "missing tokenizer before loading (chat)" 1 "has no usable tokenizer" -- "${nodrv[@]}" "$vkllm" chat -m "$scratch/notok"
long=$(python3 -c 'print(" ".join(["hello world"] * 60))')
expect "--ctx too small says what fits, before loading" 1 "the prompt is [0-9]+ tokens but a context of 64 positions .*use --ctx [0-9]+ or more" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p "$long" --ctx 64 -n 8
expect "run: a context that fills up says what holds the answer" 0 "the context of 64 positions filled up: the prompt took [0-9]+, .*--ctx [0-9]+ holds the prompt and -n 200" -- "$vkllm" run -m "$m" -p hello --ctx 64 -n 200 --greedy
expect "--ctx beyond the trained context warns" 0 "warning: --ctx 400 is beyond the 256 positions the model was trained on" -- "$vkllm" run -m "$m" -p hi --ctx 400 -n 2
expect "empty prompt" 2 "the prompt is empty" -- "${nodrv[@]}" "$vkllm" run -m "$m" -p ""
expect "-p and -f together" 2 "one of them" -- "$vkllm" run -m "$m" -p hi -f /dev/null
expect "missing prompt file" 1 "cannot read the prompt from $scratch/nope.txt" -- "$vkllm" run -m "$m" -f "$scratch/nope.txt"
expect "--raw is for run only" 2 "unknown or incomplete option --raw" -- "$vkllm" chat -m "$m" --raw
expect "an empty prompt from stdin is refused" 2 "the prompt is empty" -- sh -c "printf '' | '$vkllm' run -m '$m' -p - --raw"

# ---- seeds
seed_of() { sed -n 's/^seed: \([0-9]*\)$/\1/p' "$1"; }
"$vkllm" run -m "$m" -p "tell me" --temp 1.5 --top-k 0 --top-p 1 --min-p 0 -n 24 -v >"$scratch/s1.out" 2>"$scratch/s1.err"
"$vkllm" run -m "$m" -p "tell me" --temp 1.5 --top-k 0 --top-p 1 --min-p 0 -n 24 -v >"$scratch/s2.out" 2>"$scratch/s2.err"
s1=$(seed_of "$scratch/s1.err") s2=$(seed_of "$scratch/s2.err")
if [ -z "$s1" ] || [ -z "$s2" ]; then fail "-v prints the seed"; else echo "ok   -v prints the seed ($s1, $s2)"; fi
if [ -n "$s1" ] && [ "$s1" = "$s2" ]; then fail "the default seed is random: two runs got $s1"; else echo "ok   the default seed is random"; fi
if cmp -s "$scratch/s1.out" "$scratch/s2.out"; then fail "two runs with random seeds wrote the same text"; else echo "ok   random seeds give different text"; fi
"$vkllm" run -m "$m" -p "tell me" --temp 1.5 --top-k 0 --top-p 1 --min-p 0 -n 24 --seed "$s1" >"$scratch/s3.out" 2>/dev/null
if cmp -s "$scratch/s1.out" "$scratch/s3.out"; then echo "ok   --seed N repeats a run"; else fail "--seed $s1 did not repeat the run"; fi
"$vkllm" run -m "$m" -p hi -n 1 --seed -1 -v >/dev/null 2>"$scratch/s4.err"
s4=$(seed_of "$scratch/s4.err")
if [ -n "$s4" ] && [ "$s4" != 18446744073709551615 ]; then echo "ok   --seed -1 is random ($s4)"; else fail "--seed -1 gave '$s4'"; fi

# ---- scripting: the answer alone on stdout, ended by a newline; status on stderr
"$vkllm" run -m "$m" -p "Hello there" --greedy -n 8 >"$scratch/r.out" 2>"$scratch/r.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(tail -c1 "$scratch/r.out" | od -An -c | tr -d ' ')" = '\n' ]; then echo "ok   run ends stdout with a newline"; else fail "run stdout does not end with a newline (rc $rc)"; fi
if grep -q "prompt:" "$scratch/r.out"; then fail "the speed line went to stdout"; elif grep -q "^\[prompt: [0-9]* tokens" "$scratch/r.err"; then echo "ok   the speed line is on stderr"; else fail "no speed line on stderr"; fi
printf 'Hello there' >"$scratch/prompt.txt"
"$vkllm" run -m "$m" -f "$scratch/prompt.txt" --greedy -n 8 >"$scratch/rf.out" 2>/dev/null
if cmp -s "$scratch/r.out" "$scratch/rf.out"; then echo "ok   -f FILE is the same prompt"; else fail "-f FILE gave another answer"; fi
printf 'Hello there' | "$vkllm" run -m "$m" -p - --greedy -n 8 >"$scratch/rs.out" 2>/dev/null
if cmp -s "$scratch/r.out" "$scratch/rs.out"; then echo "ok   -p - reads standard input"; else fail "-p - gave another answer"; fi
check_run_json='import json,sys
d=json.load(sys.stdin)
assert set(d) >= {"text","tokens","timings","finish_reason","seed"}, d
assert d["finish_reason"]=="length" and d["tokens"]["generated"]==8 and d["tokens"]["prompt"]>0, d
assert d["timings"]["generation_tokens_per_s"]>0
assert d["text"]==open(sys.argv[1]).read().rstrip("\n"), (d["text"], open(sys.argv[1]).read())
print("json ok")'
expect "run --json" 0 "^json ok" -- sh -c "'$vkllm' run -m '$m' -p 'Hello there' --greedy -n 8 --json 2>/dev/null | python3 -c '$check_run_json' '$scratch/r.out'"
check_info_json='import json,sys
d=json.load(sys.stdin)
assert d["n_vocab"]==512 and d["tokenizer"]["n_vocab"]==512 and d["tokenizer"]["bos"]==1 and d["tokenizer"]["eos"]==2, d
assert d["chat_template"]=={"name":"solar","recognised":True}, d["chat_template"]
assert d["memory"]["total"]>0 and d["fits"] is True
print("json ok")'
expect "info --json" 0 "^json ok" -- sh -c "'$vkllm' info -m '$m' --json | python3 -c '$check_info_json'"
expect "info: tokenizer" 0 "^tokenizer +SentencePiece BPE, 512 pieces, BOS 1 <s> \(added\), EOS 2 </s>" -- "$vkllm" info -m "$m"
expect "info: chat template" 0 "^chat template +solar \(recognised" -- "$vkllm" info -m "$scratch/tiny-hf"
expect "info: the weight type of each tensor kind" 0 "^weight types +token_embd F16, attn_norm F32, attn_q F16, attn_k F16, attn_v F16, attn_output F16, ffn_norm F32, ffn_gate F16, ffn_up F16, ffn_down F16, output_norm F32, output F16$" -- "$vkllm" info -m "$m"
"$gen" --preset tiny --dtype bf16 --hf "$scratch/bf16-hf" >/dev/null || fail "generator bf16"
expect "info: BF16 weights" 0 "^weight types +token_embd BF16, attn_norm BF16, attn_q BF16" -- "$vkllm" info -m "$scratch/bf16-hf"
expect "info: no tokenizer" 0 "^tokenizer +none usable" -- "$vkllm" info -m "$scratch/notok"
# a model whose weights alone fit no device: a config.json and a sparse
# safetensors file of ~500 GB (the header is real, the data holes)
python3 - "$scratch/tiny-hf" "$scratch/huge-hf" <<'PY'
import json, os, shutil, struct, sys
src, dst = sys.argv[1:3]
os.makedirs(dst)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(src, f), dst)
c = json.load(open(os.path.join(src, "config.json")))
E, F, L, H, KV, V = 8192, 28672, 300, 64, 8, c["vocab_size"]
c.update(hidden_size=E, intermediate_size=F, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV)
json.dump(c, open(os.path.join(dst, "config.json"), "w"))
D = E // H
shapes = [("model.embed_tokens.weight", [V, E])]
for l in range(L):
    p = f"model.layers.{l}."
    shapes += [(p + "input_layernorm.weight", [E]), (p + "self_attn.q_proj.weight", [E, E]),
               (p + "self_attn.k_proj.weight", [KV * D, E]), (p + "self_attn.v_proj.weight", [KV * D, E]),
               (p + "self_attn.o_proj.weight", [E, E]), (p + "post_attention_layernorm.weight", [E]),
               (p + "mlp.gate_proj.weight", [F, E]), (p + "mlp.up_proj.weight", [F, E]), (p + "mlp.down_proj.weight", [E, F])]
shapes += [("model.norm.weight", [E]), ("lm_head.weight", [V, E])]
hdr, off = {"__metadata__": {"format": "pt"}}, 0
for name, shape in shapes:
    n = 2
    for d in shape:
        n *= d
    hdr[name] = {"dtype": "F16", "shape": shape, "data_offsets": [off, off + n]}
    off += n
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(dst, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + off)
PY
expect "info: the weights alone do not fit" 0 "the weights alone need [0-9.]+ GiB .*no --ctx makes it fit" -- "$vkllm" info -m "$scratch/huge-hf"
expect "info --json: the weights alone do not fit" 0 '"weights_fit": false, "max_ctx": 0' -- "$vkllm" info -m "$scratch/huge-hf" --json
expect "run: a model too big for the device is refused before upload" 1 "needs .* but device .* has" -- "$vkllm" run -m "$scratch/huge-hf" -p hi
[ -n "${KEEP_HUGE:-}" ] || rm -rf "$scratch/huge-hf"
expect "info: the largest context that fits" 0 "a context of at most [0-9]+ positions fits \(--ctx [0-9]+\)" -- "$vkllm" info -m "$m" --ctx 100000000
expect "help COMMAND" 0 "^usage: vkllm run -m MODEL" -- "$vkllm" help run
expect "help chat lists templates" 0 "--template NAME +chat template: solar, llama2, mistral, chatml, zephyr, vicuna, alpaca, gemma, phi3, llama3" -- "$vkllm" help chat
for t in solar llama2 mistral chatml zephyr vicuna alpaca gemma phi3 llama3; do
    expect "run --template $t" 0 "generation: [0-9]+ tokens" -- "$vkllm" run -m "$m" -p hi --system "be brief" --template "$t" -n 2 --greedy
done
# a model's own template, recognised from its tokenizer_config.json
cp -r "$scratch/tiny-hf" "$scratch/gemma-hf"
python3 - "$scratch/gemma-hf/tokenizer_config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["chat_template"] = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
                      "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim"
                      " + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
json.dump(c, open(p, "w"))
PY
expect "info: a Gemma template is recognised" 0 "^chat template +gemma \(recognised" -- "$vkllm" info -m "$scratch/gemma-hf"
expect "run uses the model's Gemma template" 0 "^template: gemma$" -- "$vkllm" run -m "$scratch/gemma-hf" -p hi -n 2 -v
python3 - "$scratch/gemma-hf/tokenizer_config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["chat_template"] = "{{ messages[0]['content'] }}"; json.dump(c, open(p, "w"))
PY
expect "an unknown template falls back with a note" 0 "note: the model's chat template is missing or not recognised; using 'solar'" -- "$vkllm" run -m "$scratch/gemma-hf" -p hi -n 2
expect "help unknown command" 2 "unknown command 'nope'" -- "$vkllm" help nope
expect "-v" 0 "^vkllm [0-9]+\.[0-9]+\.[0-9]+$" -- "$vkllm" -v
expect "version" 0 "^vkllm [0-9]+\.[0-9]+\.[0-9]+$" -- "$vkllm" version

# ---- exit codes
expect "run: 0 when done" 0 "max tokens" -- "$vkllm" run -m "$m" -p hi -n 2
expect "run: 2 on bad usage" 2 "unknown or incomplete option --bogus" -- "$vkllm" run -m "$m" -p hi --bogus
expect "run: 1 on a missing model" 1 "no-such" -- "$vkllm" run -m "$scratch/no-such.gguf" -p hi
expect "run: 130 when interrupted" 130 "\| interrupted\]" -- timeout --preserve-status -s INT 2 "$vkllm" run -m "$m" -p "hello" --greedy -n 0 --ctx 60000

# ---- chat from a pipe: commands are not messages
chat() { "$vkllm" chat -m "$m" --greedy -n 4 "$@"; }
printf 'hello\n/help\n/stats\n' | chat >"$scratch/c.out" 2>"$scratch/c.err"
n_turns=$(grep -c '^\[prompt:' "$scratch/c.err")
if [ "$n_turns" = 1 ] && grep -q '^/save FILE' "$scratch/c.out"; then echo "ok   /help is answered, not sent"; else fail "/help: $n_turns turns"; fi
if grep -qE '^seed +[0-9]+' "$scratch/c.out" && grep -qE '^context +[0-9]+ of 256 positions' "$scratch/c.out"; then echo "ok   /stats"; else fail "/stats"; fi
printf 'hello\n/reset\n' | chat >"$scratch/c.out" 2>"$scratch/c.err"
if grep -q "conversation cleared" "$scratch/c.err" && ! grep -q "conversation cleared" "$scratch/c.out"; then echo "ok   /reset's note on stderr"; else fail "/reset note"; fi
printf '/system be brief\nhello\n/save %s\n' "$scratch/sys.json" | chat >/dev/null 2>&1
expect "/system then /save" 0 "^ok" -- python3 -c "import json; d=json.load(open('$scratch/sys.json')); assert d[0]=={'role':'system','content':'be brief'} and d[1]=={'role':'user','content':'hello'} and d[2]['role']=='assistant', d; print('ok')"
expect "/bogus" 0 "unknown command /bogus" -- sh -c "printf '/bogus\n' | '$vkllm' chat -m '$m' -n 2"
printf '"""\nline one\nline two\n"""\nthe end \\\nof it\n/save %s\n' "$scratch/ml.json" | chat >/dev/null 2>&1
expect "\"\"\" and \\ make multi-line messages" 0 "^ok" -- python3 -c "import json; d=json.load(open('$scratch/ml.json')); u=[x['content'] for x in d if x['role']=='user']; assert u==['line one\nline two','the end \nof it'], u; print('ok')"

# /save, then /load in a new chat, reproduces the conversation: the same next answer
printf 'first message\nsecond message\n/save %s\nthird message\n/save %s\n' "$scratch/a.json" "$scratch/a3.json" | chat >/dev/null 2>&1
printf '/load %s\nthird message\n/save %s\n' "$scratch/a.json" "$scratch/b3.json" | chat >/dev/null 2>"$scratch/load.err"
check_load='import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert len(a)==6 and [x["role"] for x in a]==["user","assistant"]*3, a
assert a==b, (a, b)
print("same")'
expect "/save then /load reproduces the conversation" 0 "^same" -- python3 -c "$check_load" "$scratch/a3.json" "$scratch/b3.json"
if grep -q "loaded 4 messages" "$scratch/load.err"; then echo "ok   /load says what it loaded"; else fail "/load note"; fi
printf '{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "bot", "content": "x"}]}' >"$scratch/bad.json"
expect "/load refuses a bad role" 0 "message 1 has no role system, user or assistant" -- sh -c "printf '/load $scratch/bad.json\n' | '$vkllm' chat -m '$m' -n 2"

# a conversation that outgrows the context drops its oldest turn, keeps the system message
w=$(python3 -c 'print(" ".join(["word"] * 50))')
printf '%s one\n%s two\n%s three\n%s four\n/save %s\n' "$w" "$w" "$w" "$w" "$scratch/ov.json" |
    "$vkllm" chat -m "$m" --greedy -n 8 --system "sys" >/dev/null 2>"$scratch/ov.err"
n_ok=$(grep -c '^\[prompt:' "$scratch/ov.err")
if grep -q "dropped the oldest 2 messages" "$scratch/ov.err" && [ "$n_ok" = 4 ]; then echo "ok   overflow: the oldest turn is dropped, every turn answered"; else fail "overflow: $n_ok turns answered"; cat "$scratch/ov.err"; fi
expect "overflow: what is left" 0 "^ok" -- python3 -c "
import json; d=json.load(open('$scratch/ov.json'))
assert d[0]=={'role':'system','content':'sys'}, d[0]
u=[x['content'].split()[-1] for x in d if x['role']=='user']
assert 'one' not in u and u[-1]=='four', u
print('ok')"

echo "$([ $fails -eq 0 ] && echo PASSED || echo FAILED) ($fails failures)"
[ $fails -eq 0 ]
