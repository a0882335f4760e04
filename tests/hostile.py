#!/usr/bin/env python3
"""Hostile model and tokenizer files (issue 17), and the CPU time and peak
memory each costs a vkllm binary. Not run by the test suite: the files are
large (about 200 MB in all) and the old code needs minutes on them. The
regression tests use small versions of the same cases.

usage: python3 tests/hostile.py DIR [VKLLM ...]
  writes the files into DIR, then for each VKLLM binary given runs every case
  under /usr/bin/time and prints user+sys CPU seconds and max RSS.

cases:
  gguf_junk     a valid 1024-layer model (tiny shapes) preceded by 200,000
                empty junk tensor infos (`vkllm info`)
  hf_shards     an HF index naming 4096 shards, then 2 million entries, no
                shard files (`vkllm info`)
  tok_specials  a tokenizer.json with 20,000 added tokens sharing their first
                byte, encoding 100 kB of that byte (`vkllm tokenize`)
  tok_merges    a 60 MB tokenizer.json with 30 million bogus merges
  tok_big_id    the 46-byte tokenizer.json {"model":{"vocab":{"a":16777215},...}},
                also under a 256 MiB address-space limit (tok_big_id_as)
  CASES=a,b limits the run to those cases.
"""
import json
import os
import struct
import subprocess
import sys


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf_junk(path, n_junk=200000):
    # 1024 layers (9219 tensors to look up), each as small as the checks allow
    L, E, F, H, V = 1024, 2, 1, 1, 1
    kvs = [
        ("general.architecture", 8, gguf_str("llama")),
        ("llama.block_count", 4, struct.pack("<I", L)),
        ("llama.embedding_length", 4, struct.pack("<I", E)),
        ("llama.feed_forward_length", 4, struct.pack("<I", F)),
        ("llama.attention.head_count", 4, struct.pack("<I", H)),
        ("llama.context_length", 4, struct.pack("<I", 256)),
        ("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
    ]
    shapes = [("token_embd.weight", [E, V])]  # innermost first
    for l in range(L):
        for name, ne in (("attn_norm", [E]), ("attn_q", [E, E]), ("attn_k", [E, E]), ("attn_v", [E, E]),
                         ("attn_output", [E, E]), ("ffn_norm", [E]), ("ffn_gate", [E, F]), ("ffn_up", [E, F]),
                         ("ffn_down", [F, E])):
            shapes.append((f"blk.{l}.{name}.weight", ne))
    shapes += [("output_norm.weight", [E]), ("output.weight", [E, V])]
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, n_junk + len(shapes), len(kvs)))
    for k, t, v in kvs:
        out += gguf_str(k) + struct.pack("<I", t) + v
    for i in range(n_junk):
        out += gguf_str(f"junk.{i}") + struct.pack("<IQIQ", 1, 0, 0, 0)
    off = 0
    for name, ne in shapes:
        out += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", 0, off)  # F32
        n = 4
        for d in ne:
            n *= d
        off += (n + 31) // 32 * 32
    out += b"\0" * (-len(out) % 32)
    out += b"\0" * off
    with open(path, "wb") as f:
        f.write(out)


def write_hf_shards(d, n_shards=4096, n_entries=2000000):
    os.makedirs(d, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
           "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 260, "rms_norm_eps": 1e-5}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        f.write('{"metadata":{},"weight_map":{')
        parts = []
        for i in range(n_entries):
            parts.append(f'"t.{i}":"s{min(i, n_shards - 1):05d}.safetensors"')
        f.write(",".join(parts))
        f.write("}}")


def write_tok_specials(d, n_added=20000, text_bytes=100000):
    os.makedirs(d, exist_ok=True)
    added = [{"id": 3 + i, "content": f"<{i:05d}>", "special": True} for i in range(n_added)]
    tj = {"added_tokens": added, "normalizer": None, "pre_tokenizer": None, "decoder": None,
          "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": False,
                    "vocab": {"<unk>": 0, "\u2581": 1, "a": 2}, "merges": []}}
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tj, f)
    with open(os.path.join(d, "text.txt"), "w") as f:
        f.write("<" * text_bytes)


def write_tok_merges(d, n=30000000):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        f.write('{"model":{"type":"BPE","vocab":{"a":0},"merges":[')
        chunk = ",".join(["1"] * 1000000)
        for i in range(n // 1000000):
            f.write(("," if i else "") + chunk)
        f.write("]}}")


def write_tok_big_id(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        f.write('{"model":{"vocab":{"a":16777215},"merges":[]}}')


def measure(cmd, stdin=None, as_limit=None):
    def limit():
        if as_limit:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %U %S %M"] + cmd, stdin=stdin, capture_output=True, text=True,
                       preexec_fn=limit)
    line = [l for l in r.stderr.splitlines() if l.startswith("TIME ")][-1].split()
    msg = [l for l in (r.stderr + r.stdout).splitlines()
           if l and not l.startswith("TIME ") and not l.startswith("Command exited")]
    return float(line[1]) + float(line[2]), int(line[3]) / 1024.0, (msg[-1] if msg else "")[:160]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    p = lambda *a: os.path.join(d, *a)
    for name, write in (("gguf_junk.gguf", write_gguf_junk), ("hf_shards", write_hf_shards),
                        ("tok_specials", write_tok_specials), ("tok_merges", write_tok_merges),
                        ("tok_big_id", write_tok_big_id)):
        if not os.path.exists(p(name)):
            write(p(name))
    only = os.environ.get("CASES", "").split(",") if os.environ.get("CASES") else None
    for exe in sys.argv[2:]:
        print(f"== {exe}")
        cases = [
            ("gguf_junk", [exe, "info", "-m", p("gguf_junk.gguf")], None),
            ("hf_shards", [exe, "info", "-m", p("hf_shards")], None),
            ("tok_specials", [exe, "tokenize", "--special", "-m", p("tok_specials", "tokenizer.json")],
             p("tok_specials", "text.txt")),
            ("tok_merges", [exe, "tokenize", "-m", p("tok_merges", "tokenizer.json"), "x"], None),
            ("tok_big_id", [exe, "tokenize", "-m", p("tok_big_id", "tokenizer.json"), "x"], None),
            # the same under a 256 MiB address-space limit: a table sized by the id shows as out of memory
            ("tok_big_id_as", [exe, "tokenize", "-m", p("tok_big_id", "tokenizer.json"), "x"], None),
        ]
        for name, cmd, inp in cases:
            if only and name not in only:
                continue
            with open(inp) if inp else open(os.devnull) as f:
                cpu, rss, msg = measure(cmd, f, 256 << 20 if name.endswith("_as") else None)
            print(f"{name:13s} cpu {cpu:7.2f} s  max RSS {rss:8.1f} MiB  | {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
