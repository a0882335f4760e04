#!/usr/bin/env python3
"""`vkllm serve` end to end on lavapipe, loopback only, bounded in time.

A generated tiny model (random weights) with the real SOLAR/Mistral tokenizer
from tests/data. With curl and raw sockets: chat (streamed and not),
completions, models, health, metrics; usage equal to `vkllm tokenize`'s
counts; a greedy answer equal to `vkllm run --greedy`; every bad input gets
its status and OpenAI-shaped error and /health answers after it; 8 streams on
4 slots each equal to the same request alone; a full queue gives 503 with
Retry-After; a client that disconnects frees its slot at once; a bounded load
loop with resident memory flat; idle connections time out; an API key; 503
while loading; SIGTERM mid-stream ends it with a finish_reason and exit 0.
Then the official `openai` npm client and the chat page in headless Chromium
(tests/serve_clients.cjs; npm packages installed into the scratch folder).

usage: test_serve.py VKLLM GEN_MODEL DATA_DIR SCRATCH_DIR
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

vkllm, gen, data, scratch = [os.path.abspath(a) for a in sys.argv[1:5]]
here = os.path.dirname(os.path.abspath(__file__))
fails = 0
T0 = time.time()


def check(cond, what, detail=""):
    global fails
    if cond:
        print(f"ok   {what}")
    else:
        fails += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    sys.stdout.flush()
    return cond


# ------------------------------------------------------------ the models

shutil.rmtree(scratch, ignore_errors=True)
os.makedirs(scratch)


def make_model(path, *opts):
    subprocess.run([gen, "--vocab", "32000", "--hf", path, *opts], check=True, stdout=subprocess.DEVNULL)
    shutil.copy(os.path.join(data, "solar-mistral", "tokenizer.json"), path)
    cfg = json.load(open(os.path.join(data, "solar-mistral", "tokenizer_config.json")))
    cfg["chat_template"] = open(os.path.join(data, "solar_chat_template.jinja")).read()
    json.dump(cfg, open(os.path.join(path, "tokenizer_config.json"), "w"))


model = os.path.join(scratch, "tiny")
make_model(model, "--preset", "tiny", "--ctx", "1024", "--seed", "11")
CTX = 512


started = []  # servers this test started: none outlives it, even when it fails half-way


@atexit.register
def _kill_servers():
    for p in started:
        if p.poll() is None:
            p.kill()


class Server:
    def __init__(self, model_path, *opts, env=None):
        e = dict(os.environ, VKLLM_VALIDATE="1")
        e.pop("VKLLM_API_KEY", None)
        e.update(env or {})
        self.log = open(os.path.join(scratch, f"server-{time.time():.3f}.log"), "w+")
        self.p = subprocess.Popen([vkllm, "serve", "-m", model_path, "--port", "0", *opts], stderr=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, env=e, text=True)
        started.append(self.p)
        self.lines = []
        line = self.p.stderr.readline()
        self.lines.append(line)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            raise SystemExit(f"FAIL server did not start: {line}{self.p.stderr.read()}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.p.stderr:
            self.lines.append(line)
            self.log.write(line)
            self.log.flush()

    def wait_ready(self, limit=60):
        t = time.time()
        while time.time() - t < limit:
            if http(self, "GET", "/health")[0] == 200:
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGTERM, limit=30):
        self.p.send_signal(sig)
        try:
            return self.p.wait(limit)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return "hung"

    def rss_kib(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1


def http(srv, method, path, body=None, headers=None, timeout=60, raw_body=None):
    """(status, headers dict (lower-case), body bytes) over a fresh loopback connection."""
    import http.client as hc
    c = hc.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    h = dict(headers or {})
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except OSError as e:
        return 0, {}, str(e).encode()
    finally:
        c.close()


def curl(srv, path, body=None, *extra):
    """(status, body text) from curl; body as JSON."""
    args = ["curl", "-sS", "-N", "--max-time", "120", "-o", "-", "-w", "\n%{http_code}", *extra]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    r = subprocess.run(args + [srv.url + path], capture_output=True, text=True)
    out, _, code = r.stdout.rpartition("\n")
    return int(code or 0), out


def sse_events(text):
    ev = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    return ev


def stream_text(text):
    """(concatenated content, finish_reason, usage or None, events parsed, done seen)"""
    ev = sse_events(text)
    done = bool(ev) and ev[-1] == "[DONE]"
    content, finish, usage, parsed = "", None, None, []
    for e in ev:
        if e == "[DONE]":
            continue
        j = json.loads(e)
        parsed.append(j)
        if j.get("usage"):
            usage = j["usage"]
        for ch in j.get("choices", []):
            d = ch.get("delta")
            content += (d.get("content") or "") if d is not None else ch.get("text", "")
            if ch.get("finish_reason"):
                finish = ch["finish_reason"]
    return content, finish, usage, parsed, done


def tokenize_count(text, special=True):
    args = [vkllm, "tokenize", "-m", model] + (["--special"] if special else []) + [text]
    return len(json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout))


def chat_body(msg, n=16, **kw):
    b = {"model": "anything", "messages": [{"role": "user", "content": msg}], "max_tokens": n, "temperature": 0}
    b.update(kw)
    return b


def solar(msg, system=None):
    return (f"### System:\n{system}\n\n" if system else "") + f"### User:\n{msg}\n\n### Assistant:\n"


# ------------------------------------------------------------ the main server

srv = Server(model, "--parallel", "4", "--queue", "4", "--ctx", str(CTX), "--timeout", "3", "--max-body", "65536")
check(srv.wait_ready(), "server ready (GET /health 200)")

# chat, non-streamed
PROMPT = "Tell me about Vulkan compute shaders."
st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT))
j = json.loads(out) if st == 200 else {}
check(st == 200 and j.get("object") == "chat.completion" and j["id"].startswith("chatcmpl-") and
      isinstance(j.get("created"), int) and j.get("model") == "tiny", "chat: shape", out[:300])
msg = j["choices"][0]["message"] if j else {}
check(msg.get("role") == "assistant" and j["choices"][0]["finish_reason"] == "length" and j["choices"][0]["index"] == 0,
      "chat: message and finish_reason length", out[:300])
answer = msg.get("content", "")
u = j.get("usage", {})
check(u.get("prompt_tokens") == tokenize_count(solar(PROMPT)) and u.get("completion_tokens") == 16 and
      u.get("total_tokens") == u.get("prompt_tokens", 0) + 16, "chat: usage equals the tokenizer's counts", str(u))

# the same greedy answer as `vkllm run --greedy`
run = subprocess.run([vkllm, "run", "-m", model, "-p", PROMPT, "--greedy", "-n", "16", "--ctx", str(CTX), "-q"],
                     capture_output=True, text=True, env=dict(os.environ, VKLLM_VALIDATE="1"))
check(run.returncode == 0 and run.stdout.rstrip("\n") == answer and answer,
      "chat: temperature 0 answer == vkllm run --greedy", f"{answer!r} vs {run.stdout!r}")

# streamed: same text, role first, finish chunk, usage chunk, [DONE]
st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, stream=True, stream_options={"include_usage": True}))
content, finish, usage, parsed, done = stream_text(out)
check(st == 200 and done and content == answer and finish == "length", "chat stream: same text, finish, [DONE]",
      out[-300:])
check(parsed and parsed[0]["choices"][0]["delta"].get("role") == "assistant" and
      all(p["object"] == "chat.completion.chunk" and p["id"] == parsed[0]["id"] for p in parsed),
      "chat stream: chunks' shape, role first, one id")
check(usage and usage["prompt_tokens"] == tokenize_count(solar(PROMPT)) and usage["completion_tokens"] == 16 and
      parsed[-1]["choices"] == [], "chat stream: include_usage chunk", str(usage))
st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, stream=True))
check(st == 200 and stream_text(out)[2] is None and stream_text(out)[0] == answer, "chat stream: no usage unless asked")

# system message, stop strings, penalties, sampling
SYS = "You are terse."
st, out = curl(srv, "/v1/chat/completions", {"messages": [{"role": "system", "content": SYS},
                                                          {"role": "user", "content": PROMPT}], "max_tokens": 4})
check(st == 200 and json.loads(out)["usage"]["prompt_tokens"] == tokenize_count(solar(PROMPT, SYS)),
      "chat: system message through the template", out[:200])
words = answer.split()
if len(words) >= 3:
    stop = words[2]
    st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, stop=[stop, "zzzz"]))
    j = json.loads(out)
    cut = answer[:answer.index(stop)]
    check(st == 200 and j["choices"][0]["message"]["content"] == cut and j["choices"][0]["finish_reason"] == "stop",
          "chat: stop string cuts the text before it, finish_reason stop", out[:300])
    st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, stop=stop, stream=True))
    c2, f2, _, _, _ = stream_text(out)
    check(c2 == cut and f2 == "stop", "chat stream: stop as a string", out[-300:])
# (a random model seldom repeats a token, so negative penalties, which favour repeats, are what shows)
st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, n=24, frequency_penalty=-2.0, presence_penalty=-2.0))
pen = json.loads(out)["choices"][0]["message"]["content"] if st == 200 else None
st2, out2 = curl(srv, "/v1/chat/completions", chat_body(PROMPT, n=24))
check(st == 200 and pen != json.loads(out2)["choices"][0]["message"]["content"] and
      len(set(pen.split())) * 3 <= len(pen.split()), "chat: negative frequency/presence penalties make a greedy answer "
      "repeat itself", repr(pen))
st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, n=24, repeat_penalty=0.2))
check(st == 200 and json.loads(out)["choices"][0]["message"]["content"] != json.loads(out2)["choices"][0]["message"][
    "content"], "chat: repeat_penalty changes a greedy answer")
sampled = []
for seed in (1, 1, 2):
    st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPT, n=12, temperature=1.0, top_p=0.9, top_k=50,
                                                          min_p=0.01, seed=seed, max_completion_tokens=12))
    sampled.append(json.loads(out)["choices"][0]["message"]["content"] if st == 200 else None)
check(sampled[0] is not None and sampled[0] == sampled[1] and sampled[0] != sampled[2],
      "chat: seeded sampling repeats with the seed, differs with another", str(sampled))
st, out = curl(srv, "/v1/chat/completions", {"messages": [{"role": "user", "content": [
    {"type": "text", "text": "Tell me about "}, {"type": "text", "text": "Vulkan compute shaders."}]}],
    "max_tokens": 16, "temperature": 0})
check(st == 200 and json.loads(out)["choices"][0]["message"]["content"] == answer, "chat: content as text parts")

# a conversation's next turn reuses its slot's cache, also with another conversation in between
def turn(msgs):
    st, out = curl(srv, "/v1/chat/completions", {"messages": msgs, "max_tokens": 8, "temperature": 0})
    j = json.loads(out)
    return j["choices"][0]["message"]["content"], j["usage"]


conv = {k: [{"role": "user", "content": f"Conversation {k} begins with a long enough first message."}] for k in "XY"}
first = {}
for k in "XY":
    reply, first[k] = turn(conv[k])
    conv[k] += [{"role": "assistant", "content": reply}, {"role": "user", "content": f"And {k} goes on."}]
for k in "XY":
    reply, u = turn(conv[k])
    cached = u["prompt_tokens_details"]["cached_tokens"]
    check(cached >= first[k]["prompt_tokens"] - 1 and cached < u["prompt_tokens"],
          f"conversation {k}: the second turn reuses the slot's cache ({cached} of {u['prompt_tokens']} prompt tokens)",
          str(u))
st, out = curl(srv, "/metrics")
ev = int(re.search(r"^vkllm_prompt_tokens_evaluated_total (\d+)", out, re.M).group(1))
tot = int(re.search(r"^vkllm_prompt_tokens_total (\d+)", out, re.M).group(1))
check(0 < ev < tot, f"metrics: prompt tokens evaluated {ev} < prompt tokens {tot} (the rest came from caches)")

# completions
CPROMPT = "The quick brown fox"
st, out = curl(srv, "/v1/completions", {"prompt": CPROMPT, "max_tokens": 10, "temperature": 0})
j = json.loads(out) if st == 200 else {}
run = subprocess.run([vkllm, "run", "-m", model, "-p", CPROMPT, "--raw", "--greedy", "-n", "10", "--ctx", str(CTX),
                      "-q"], capture_output=True, text=True)
check(st == 200 and j["object"] == "text_completion" and j["id"].startswith("cmpl-") and
      j["choices"][0]["text"] == run.stdout.rstrip("\n") and j["choices"][0]["finish_reason"] == "length",
      "completions: greedy text == vkllm run --raw --greedy", out[:300])
check(j and j["usage"]["prompt_tokens"] == tokenize_count(CPROMPT, special=False) and
      j["usage"]["completion_tokens"] == 10, "completions: usage equals the tokenizer's counts", out[-200:])
st, out = curl(srv, "/v1/completions", {"prompt": CPROMPT, "max_tokens": 10, "temperature": 0, "stream": True})
check(st == 200 and stream_text(out)[0] == j["choices"][0]["text"] and stream_text(out)[4],
      "completions stream: same text, [DONE]", out[-200:])

# models, health, metrics, page, CORS preflight
st, out = curl(srv, "/v1/models")
j = json.loads(out)
check(st == 200 and j["object"] == "list" and j["data"][0]["id"] == "tiny" and j["data"][0]["object"] == "model" and
      j["data"][0]["owned_by"] == "vkllm", "models", out)
st, out = curl(srv, "/v1/models/tiny")
check(st == 200 and json.loads(out)["id"] == "tiny" and json.loads(out)["object"] == "model", "models/{id}", out)
st, out = curl(srv, "/v1/models/gpt-4")
check(st == 404 and json.loads(out)["error"]["code"] == "model_not_found", "models/{id} of another model: 404", out)
st, out = curl(srv, "/metrics")
check(st == 200 and re.search(r'^vkllm_requests_total\{status="200"\} [1-9]', out, re.M) and
      re.search(r"^vkllm_generated_tokens_total [1-9]", out, re.M) and "vkllm_queue_depth 0" in out and
      "vkllm_slots_busy 0" in out and re.search(r"^vkllm_tokens_per_second [0-9.]+$", out, re.M) and
      re.search(r"^vkllm_prompt_tokens_total [1-9]", out, re.M) and
      re.search(r"^vkllm_busy_seconds_total [0-9]*\.[0-9]*[1-9]", out, re.M), "metrics: Prometheus text", out[:400])
st, hd, body = http(srv, "GET", "/")
check(st == 200 and hd.get("content-type", "").startswith("text/html") and b"/v1/chat/completions" in body and
      not re.search(rb'(src|href)="?https?:', body), "page: embedded HTML, no external URLs")
st, hd, _ = http(srv, "OPTIONS", "/v1/chat/completions")
check(st == 204 and "authorization" in hd.get("access-control-allow-headers", "").lower(), "CORS preflight")

# ------------------------------------------------------------ bad input

def expect_error(name, status, method, path, body=None, code=None, param=None, raw=None, headers=None):
    st, hd, out = http(srv, method, path, body, raw_body=raw, headers=headers)
    try:
        e = json.loads(out)["error"]
        shaped = isinstance(e["message"], str) and e["message"] and "type" in e and "param" in e and "code" in e
    except (ValueError, KeyError, TypeError):
        e, shaped = {}, False
    ok = st == status and shaped and (code is None or e.get("code") == code) and (param is None or e.get("param") == param)
    check(ok, f"bad input: {name} -> {status} {code or ''}", f"{st} {out[:300]!r}")
    check(http(srv, "GET", "/health")[0] == 200, f"  /health after {name}")
    return hd, e


C, P = "/v1/chat/completions", "/v1/completions"
expect_error("malformed JSON", 400, "POST", C, raw=b'{"messages": [', code="invalid_json")
expect_error("not an object", 400, "POST", C, raw=b'[1, 2]', code="invalid_type")
expect_error("empty body", 400, "POST", C, raw=b'', code="invalid_json")
expect_error("messages missing", 400, "POST", C, {"max_tokens": 2}, code="missing_field", param="messages")
expect_error("messages empty", 400, "POST", C, {"messages": []}, code="invalid_value", param="messages")
expect_error("messages not an array", 400, "POST", C, {"messages": "hi"}, code="invalid_type", param="messages")
expect_error("message not an object", 400, "POST", C, {"messages": [3]}, code="invalid_type", param="messages[0]")
expect_error("unknown role", 400, "POST", C, {"messages": [{"role": "wizard", "content": "hi"}]}, code="invalid_value",
             param="messages[0].role")
expect_error("role missing", 400, "POST", C, {"messages": [{"content": "hi"}]}, code="missing_field",
             param="messages[0].role")
expect_error("content wrong type", 400, "POST", C, {"messages": [{"role": "user", "content": 5}]}, code="invalid_type",
             param="messages[0].content")
expect_error("content image part", 400, "POST", C, {"messages": [{"role": "user", "content": [
    {"type": "image_url", "image_url": {"url": "x"}}]}]}, code="unsupported_value", param="messages[0].content")
expect_error("temperature wrong type", 400, "POST", C, chat_body("hi", temperature="hot"), code="invalid_type",
             param="temperature")
expect_error("temperature out of range", 400, "POST", C, chat_body("hi", temperature=5), code="invalid_value",
             param="temperature")
expect_error("max_tokens 0", 400, "POST", C, chat_body("hi", n=0), code="invalid_value", param="max_tokens")
expect_error("max_tokens fractional", 400, "POST", C, chat_body("hi", n=1.5), code="invalid_type", param="max_tokens")
expect_error("top_p 0", 400, "POST", C, chat_body("hi", top_p=0), code="invalid_value", param="top_p")
expect_error("top_p 9e-51 (0 as a float)", 400, "POST", C, chat_body("hi", top_p=9e-51), code="invalid_value",
             param="top_p")
expect_error("stream wrong type", 400, "POST", C, chat_body("hi", stream="yes"), code="invalid_type", param="stream")
expect_error("n = 2", 400, "POST", C, dict(chat_body("hi"), n=2), code="unsupported_value", param="n")
expect_error("response_format json_object", 400, "POST", C, chat_body("hi", response_format={"type": "json_object"}),
             code="unsupported_value", param="response_format")
expect_error("too many stop strings", 400, "POST", C, chat_body("hi", stop=[f"s{i}" for i in range(17)]),
             code="invalid_value", param="stop")
expect_error("stop wrong type", 400, "POST", C, chat_body("hi", stop=5), code="invalid_type", param="stop")
expect_error("prompt longer than the context", 400, "POST", C, chat_body("hello " * 600),
             code="context_length_exceeded", param="messages")
expect_error("completions: prompt too long", 400, "POST", P, {"prompt": "hello " * 600},
             code="context_length_exceeded", param="prompt")
expect_error("completions: prompt missing", 400, "POST", P, {"max_tokens": 3}, code="missing_field", param="prompt")
expect_error("completions: prompt of token ids", 400, "POST", P, {"prompt": [1, 2, 3]}, code="unsupported_value")
expect_error("body over --max-body", 413, "POST", C, raw=b'{"messages": "' + b"x" * 70000 + b'"}',
             code="request_too_large")
expect_error("unknown route", 404, "GET", "/v1/engines", code="not_found")
expect_error("wrong method", 405, "GET", C, code="method_not_allowed")
expect_error("wrong method on /health", 405, "DELETE", "/health", code="method_not_allowed")
# a chunked body over the limit (no Content-Length to refuse early)
r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Transfer-Encoding: chunked", "-H",
                    "Content-Type: application/json", "--data-binary", "@-", srv.url + C],
                   input=b'{"messages": "' + b"y" * 100000 + b'"}', capture_output=True)
check(r.stdout.endswith(b"\n413") and b"request_too_large" in r.stdout, "bad input: chunked body over --max-body -> 413",
      r.stdout[-200:])

# ------------------------------------------------------------ idle connections time out

s = socket.create_connection(("127.0.0.1", srv.port))
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # and then nothing
s.settimeout(15)
t = time.time()
try:
    got = s.recv(100)
except OSError:
    got = b""
check(got == b"" and time.time() - t < 10, f"a slow client is dropped after the --timeout ({time.time() - t:.1f} s)")
s.close()

# ------------------------------------------------------------ concurrency

PROMPTS = [f"Question {i}: what is {i} times {i + 3}?" for i in range(8)]
alone = []
for p in PROMPTS:
    st, out = curl(srv, "/v1/chat/completions", chat_body(p, n=24))
    alone.append(json.loads(out)["choices"][0]["message"]["content"] if st == 200 else None)
results = [None] * 8


def stream_one(i):
    st, out = curl(srv, "/v1/chat/completions", chat_body(PROMPTS[i], n=24, stream=True))
    results[i] = (st, stream_text(out))


def metric0(name):
    st, out = curl(srv, "/metrics")
    m = re.search(rf"^{name} ([0-9.]+)$", out, re.M)
    return float(m.group(1)) if m else -1


steps0, seqs0 = metric0("vkllm_batch_steps_total"), metric0("vkllm_batch_sequences_total")
t = time.time()
ths = [threading.Thread(target=stream_one, args=(i,)) for i in range(8)]
for th in ths:
    th.start()
for th in ths:
    th.join(120)
check(all(r and r[0] == 200 and r[1][4] for r in results), "8 streams on 4 slots all complete",
      str([r and r[0] for r in results]))
check(all(r and r[1][0] == alone[i] for i, r in enumerate(results)),
      "8 streams on 4 slots: each greedy answer == the same request alone",
      str([(r and r[1][0], a) for r, a in zip(results, alone) if not r or r[1][0] != a][:2]))
steps = metric0("vkllm_batch_steps_total") - steps0
seqs = metric0("vkllm_batch_sequences_total") - seqs0
check(steps > 0 and seqs / steps > 2, f"8 streams on 4 slots ran in batched steps: {seqs / max(steps, 1):.2f} "
      f"sequences per step over {steps:.0f} steps")

# chunked prefill: a prompt of several --prefill-chunk chunks beside three streams; every answer == alone
LONG = "Tell me about " + " ".join(f"item{i}" for i in range(90)) + "."
st, out = curl(srv, "/v1/chat/completions", chat_body(LONG, n=16))
long_alone = json.loads(out)["choices"][0]["message"]["content"] if st == 200 else None
long_tokens = json.loads(out)["usage"]["prompt_tokens"] if st == 200 else 0
res2 = [None] * 4


def one2(i):
    p = LONG if i == 3 else PROMPTS[i]
    st, out = curl(srv, "/v1/chat/completions", chat_body(p, n=16 if i == 3 else 24, stream=True))
    res2[i] = (st, stream_text(out))


ths = [threading.Thread(target=one2, args=(i,)) for i in range(3)]
for th in ths:
    th.start()
time.sleep(0.2)  # the three are decoding when the long prompt comes
ths.append(threading.Thread(target=one2, args=(3,)))
ths[-1].start()
for th in ths:
    th.join(120)
check(long_tokens > 3 * 64, f"the long prompt has {long_tokens} tokens (> 3 chunks of 64)")
check(all(r and r[0] == 200 for r in res2) and res2[3][1][0] == long_alone and
      all(res2[i][1][0] == alone[i] for i in range(3)),
      "a long prompt in chunks beside three streams: every greedy answer == alone",
      str([(r and r[1][0]) for r in res2]) + f" / {long_alone!r}")


def open_stream(prompt, max_tokens=0):
    """A raw streaming request; returns the socket after the first content arrives (or None)."""
    s = socket.create_connection(("127.0.0.1", srv.port))
    b = chat_body(prompt, n=max_tokens or 100000, stream=True)
    body = json.dumps(b).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    s.settimeout(30)
    buf = b""
    while b'"content"' not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return s, buf


def metric(name):
    st, out = curl(srv, "/metrics")
    m = re.search(rf"^{name} ([0-9.]+)$", out, re.M)
    return float(m.group(1)) if m else -1


# a full queue: 4 running + 4 queued, then 503 with Retry-After
longs = [open_stream(f"long story {i}") for i in range(4)]
check(all(b"200 OK" in b for _, b in longs), "4 long streams running")
queued = []
for i in range(4):  # these wait in the queue (no answer yet)
    s = socket.create_connection(("127.0.0.1", srv.port))
    body = json.dumps(chat_body(f"queued {i}", n=2)).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    queued.append(s)
t = time.time()
while metric("vkllm_queue_depth") < 4 and time.time() - t < 10:
    time.sleep(0.05)
check(metric("vkllm_queue_depth") == 4 and metric("vkllm_slots_busy") == 4, "metrics: queue depth 4, 4 slots busy")
hd, e = expect_error("a full queue", 503, "POST", C, chat_body("one too many", n=2), code="queue_full")
check(hd.get("retry-after", "").isdigit(), "a full queue: Retry-After", str(hd))

# a disconnect frees its slot: the queued requests (2 tokens each) then finish at once
t = time.time()
for s, _ in longs:
    s.close()
answers = []
for s in queued:
    s.settimeout(10)
    buf = b""
    try:
        while b'"usage"' not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except OSError:
        pass
    answers.append(buf)
    s.close()
dt = time.time() - t
check(all(b"200 OK" in a and b'"finish_reason":"length"' in a for a in answers) and dt < 3,
      f"disconnected streams free their slots: the 4 queued requests finished {dt:.2f} s later")

# one disconnect, the next request starts at once while 3 slots still stream
longs = [open_stream(f"long story {i}") for i in range(4)]
longs[0][0].close()
t = time.time()
s, first = open_stream("right after a disconnect", max_tokens=4)
dt = time.time() - t
check(b'"content"' in first and dt < 1.5, f"a disconnect mid-stream frees the slot: the next request started in {dt:.2f} s")
s.close()
for s, _ in longs[1:]:
    s.close()
t = time.time()
while metric("vkllm_slots_busy") > 0 and time.time() - t < 5:
    time.sleep(0.05)
check(metric("vkllm_slots_busy") == 0, f"all slots idle {time.time() - t:.2f} s after the clients left")

# clients of whole (not streamed) answers that hang up, running or queued, free their slots too
def post_raw(body):
    s = socket.create_connection(("127.0.0.1", srv.port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


whole = [post_raw(chat_body(f"whole {i}", n=100000)) for i in range(6)]
t = time.time()
while (metric("vkllm_slots_busy") < 4 or metric("vkllm_queue_depth") < 2) and time.time() - t < 10:
    time.sleep(0.05)
check(metric("vkllm_slots_busy") == 4 and metric("vkllm_queue_depth") == 2, "6 whole-answer requests: 4 run, 2 queued")
for s in whole:
    s.close()
t = time.time()
while (metric("vkllm_slots_busy") > 0 or metric("vkllm_queue_depth") > 0) and time.time() - t < 10:
    time.sleep(0.05)
dt = time.time() - t
check(metric("vkllm_slots_busy") == 0 and metric("vkllm_queue_depth") == 0 and dt < 2,
      f"their clients hang up: slots and queue empty {dt:.2f} s later")

# ------------------------------------------------------------ tokens/s: 1 against 4 streams (for the record)

def timed_streams(k, n=64):
    res = [None] * k

    def go(i):
        st, out = curl(srv, "/v1/chat/completions", chat_body(f"speed {i}", n=n, stream=True))
        res[i] = stream_text(out)[0]
    t = time.time()
    th = [threading.Thread(target=go, args=(i,)) for i in range(k)]
    for x in th:
        x.start()
    for x in th:
        x.join(120)
    return k * n / (time.time() - t)


rss_idle = srv.rss_kib()
tps1 = timed_streams(1)
tps4 = timed_streams(4)
print(f"note: tokens/s (64-token greedy streams, tiny model, lavapipe): 1 stream {tps1:.0f}, 4 streams {tps4:.0f} "
      f"in all; RSS idle {rss_idle / 1024:.1f} MiB")

# ------------------------------------------------------------ load: a bounded loop, RSS flat

import http.client as httpc


def load_client(k, n_req, errors):
    c = httpc.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    for i in range(n_req):
        stream = (i + k) % 3 == 0
        body = json.dumps(chat_body(f"load {k} {i % 7}", n=4, stream=stream, temperature=0.7)).encode()
        try:
            c.request("POST", C, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200 or (stream and not data.endswith(b"data: [DONE]\n\n")):
                errors.append((r.status, data[:200]))
        except OSError as e:
            errors.append(str(e))
            c.close()
            c = httpc.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    c.close()


def load_round(clients=4, per_client=25):
    errors = []
    th = [threading.Thread(target=load_client, args=(k, per_client, errors)) for k in range(clients)]
    for x in th:
        x.start()
    for x in th:
        x.join(300)
    return errors


t = time.time()
# two rounds to warm up: batched steps of new row layouts record (and the first
# of each kernel shape compiles) during the first rounds; then RSS must stay flat
errors = load_round() + load_round()
rss_first = srv.rss_kib()
rss_busy = 0
for _ in range(3):
    errors += load_round()
    rss_busy = max(rss_busy, srv.rss_kib())
rss_last = srv.rss_kib()
check(not errors, f"load: 500 requests from 4 clients, no error ({time.time() - t:.1f} s)", str(errors[:3]))
if "libasan" in open(f"/proc/{srv.p.pid}/maps").read():  # its quarantine holds freed memory: leaks are LSan's job
    print(f"note: under ASan resident memory is not a leak measure ({rss_first / 1024:.1f} -> {rss_last / 1024:.1f} MiB)")
else:
    check(rss_last - rss_first < 8 * 1024,
          f"load: resident memory flat after two warm-up rounds ({rss_first / 1024:.1f} -> {rss_last / 1024:.1f} MiB)")
print(f"note: RSS idle {rss_idle / 1024:.1f} MiB, busy (load) up to {rss_busy / 1024:.1f} MiB")

# ------------------------------------------------------------ the openai npm client and the page in Chromium

npm_dir = os.path.join(os.path.dirname(scratch), "serve-npm")  # kept between runs
PKGS = ["openai@5.12.0", "playwright-core@1.57.0"]
want = {p.rsplit("@", 1)[0]: p.rsplit("@", 1)[1] for p in PKGS}


def installed(name):
    try:
        return json.load(open(os.path.join(npm_dir, "node_modules", name, "package.json")))["version"]
    except (OSError, ValueError, KeyError):
        return None


if any(installed(n) != v for n, v in want.items()):
    os.makedirs(npm_dir, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", npm_dir, "--no-audit", "--no-fund", "--no-save", *PKGS],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "npm install " + " ".join(PKGS),
          "the npm registry is not reachable or the install failed (this test needs it):\n" + r.stderr[-1500:])
expect = {"chat": answer, "prompt": PROMPT, "completion_prompt": CPROMPT,
          "completion": j["choices"][0]["text"] if isinstance(j, dict) and "choices" in j else ""}
st, out = curl(srv, "/v1/completions", {"prompt": CPROMPT, "max_tokens": 10, "temperature": 0})
expect["completion"] = json.loads(out)["choices"][0]["text"]
page_prompt = "What can you do?"
st, out = curl(srv, "/v1/chat/completions", chat_body(page_prompt, n=64))
expect["page_prompt"] = page_prompt
expect["page_answer"] = json.loads(out)["choices"][0]["message"]["content"]
expect["screenshot"] = os.path.join(scratch, "chat-page.png")
expect["chromium"] = shutil.which("chromium") or "/usr/bin/chromium"
if installed("openai") and installed("playwright-core"):
    r = subprocess.run(["node", os.path.join(here, "serve_clients.cjs"), os.path.join(npm_dir, "node_modules"), srv.url,
                        json.dumps(expect)], capture_output=True, text=True, timeout=180)
    sys.stdout.write(r.stdout)
    check(r.returncode == 0, "the openai client and the chat page in Chromium (serve_clients.cjs)", r.stderr[-2000:])
    check(os.path.exists(expect["screenshot"]), "the page's screenshot saved: " + expect["screenshot"])

# ------------------------------------------------------------ SIGTERM mid-stream

s, first = open_stream("a long goodbye")
rc = srv.stop(signal.SIGTERM)
rest = b""
s.settimeout(10)
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        rest += d
except OSError:
    pass
tail = (first + rest).decode(errors="replace")
check(rc == 0, f"SIGTERM: exit {rc}", "".join(srv.lines[-5:]))
check('"finish_reason":"length"' in tail and "data: [DONE]" in tail,
      "SIGTERM: the running stream ends with a finish_reason and [DONE]", tail[-300:])
check(not any("validation" in line.lower() for line in srv.lines), "no validation-layer messages")

# ------------------------------------------------------------ an API key; 503 while loading

big = os.path.join(scratch, "slow")
make_model(big, "--preset", "tiny", "--layers", "8", "--embd", "512", "--ff", "1536", "--heads", "8", "--kv-heads", "4",
           "--ctx", "512", "--seed", "5")
srv = Server(big, "--parallel", "1", env={"VKLLM_API_KEY": "s3cret-key"})
st, hd, out = http(srv, "GET", "/health")
check(st == 503 and json.loads(out).get("status") == "loading", "/health 503 while loading", f"{st} {out!r}")
st, hd, out = http(srv, "POST", C, chat_body("hi", n=2), headers={"Authorization": "Bearer s3cret-key"})
check(st in (503, 200), "a request while loading: 503 (or 200 if loading already ended)", f"{st}")
check(srv.wait_ready(), "loaded: /health 200 (no key needed)")
KEY = {"Authorization": "Bearer s3cret-key"}
for name, h in (("no key", {}), ("wrong key", {"Authorization": "Bearer s3cret-kez"}),
                ("key prefix", {"Authorization": "Bearer s3cret"}), ("not bearer", {"Authorization": "Basic s3cret-key"})):
    st, hd, out = http(srv, "POST", C, chat_body("hi", n=2), headers=h)
    check(st == 401 and json.loads(out)["error"]["code"] == "invalid_api_key" and "bearer" in
          hd.get("www-authenticate", "").lower(), f"api key: {name} -> 401", f"{st} {out!r}")
st, _, _ = http(srv, "GET", "/v1/models")
check(st == 401, "api key: GET /v1/models without it -> 401")
st, _, out = http(srv, "POST", C, chat_body("hi", n=2), headers=KEY)
check(st == 200 and json.loads(out)["usage"]["completion_tokens"] == 2, "api key: the right one -> 200", out[:200])
st, _, _ = http(srv, "GET", "/v1/models", headers={"authorization": "bearer s3cret-key"})
check(st == 200, "api key: scheme in any case")
r = subprocess.run([vkllm, "serve", "-m", model, "--port", str(srv.port)], capture_output=True, text=True, timeout=60)
check(r.returncode == 1 and "cannot listen on 127.0.0.1 port" in r.stderr, "a second server on a port in use: exit 1",
      r.stderr[-200:])
rc = srv.stop(signal.SIGINT)
check(rc == 0, f"SIGINT: exit {rc}")

# ------------------------------------------------------------ --quant: quantized while it loads

srv = Server(model, "--quant", "q8_0", "--parallel", "2", "--ctx", "256")
check(srv.wait_ready(), "serve --quant q8_0: ready")
t_ready = time.time()  # the ready line is written just after /health turns 200
while not any("ready:" in line for line in srv.lines) and time.time() - t_ready < 10:
    time.sleep(0.02)
ready = [line for line in srv.lines if "ready:" in line]
check(ready and "(Q8_0, quantized on load)" in ready[0], "serve --quant q8_0: the ready line names the type",
      "".join(srv.lines[-3:]))
st, out = curl(srv, "/v1/completions", {"prompt": CPROMPT, "max_tokens": 8, "temperature": 0})
served = json.loads(out)["choices"][0]["text"] if st == 200 else None
r = subprocess.run([vkllm, "run", "-m", model, "--quant", "q8_0", "--raw", "-p", CPROMPT, "--greedy", "-n", "8", "-q"],
                   capture_output=True, text=True, timeout=120)
check(st == 200 and r.returncode == 0 and served == r.stdout.rstrip("\n"),
      "serve --quant q8_0: the greedy completion equals `vkllm run --quant q8_0`", f"{served!r} vs {r.stdout!r}")
rc = srv.stop(signal.SIGTERM)
check(rc == 0, f"serve --quant: SIGTERM exit {rc}")
r = subprocess.run([vkllm, "serve", "-m", model, "--quant", "q7_x"], capture_output=True, text=True, timeout=60)
check(r.returncode == 2 and "q7_x" in r.stderr, "serve --quant q7_x: exit 2 naming it", r.stderr[-300:])

# ------------------------------------------------------------ bad options

r = subprocess.run([vkllm, "serve", "--help"], capture_output=True, text=True)
check(r.returncode == 0 and "--parallel" in r.stdout and "--api-key" in r.stdout, "serve --help")
r = subprocess.run([vkllm, "serve"], capture_output=True, text=True)
check(r.returncode == 2 and "give -m MODEL" in r.stderr, "serve without a model: exit 2")
r = subprocess.run([vkllm, "serve", "-m", model, "--port", "70000"], capture_output=True, text=True)
check(r.returncode == 2 and "bad value '70000' for --port" in r.stderr, "serve --port 70000: exit 2")
r = subprocess.run([vkllm, "serve", "-m", model, "--template", "bogus"], capture_output=True, text=True)
check(r.returncode == 2 and "unknown chat template 'bogus'" in r.stderr, "serve --template bogus: exit 2")
r = subprocess.run([vkllm, "serve", "-m", os.path.join(scratch, "no-such"), "--port", "0"], capture_output=True,
                   text=True, timeout=60)
check(r.returncode == 1 and "no-such" in r.stderr, "serve a missing model: exit 1 with the path", r.stderr[-300:])

print(f"{'PASSED' if fails == 0 else 'FAILED'} ({fails} failures, {time.time() - T0:.0f} s)")
sys.exit(1 if fails else 0)
