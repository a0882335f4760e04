"""bindings/python/vkllm.py against the shared library, on a generated model (lavapipe).

argv (after unittest's): none; environment: VKLLM_LIBRARY (the shared library), VKLLM_TEST_GEN
(vkllm-gen-model), VKLLM_TEST_EMBED (the tree's vkllm-embed), VKLLM_TEST_SCRATCH (a folder).
"""
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
import vkllm  # noqa: E402

SCRATCH = os.environ["VKLLM_TEST_SCRATCH"]
MODEL = os.path.join(SCRATCH, "tiny.gguf")


def setUpModule():
    os.makedirs(SCRATCH, exist_ok=True)
    subprocess.run([os.environ["VKLLM_TEST_GEN"], "--seed", "3", "--gguf", MODEL], check=True,
                   stdout=subprocess.DEVNULL)


class Layout(unittest.TestCase):
    """The binding's ctypes structs against the C compiler's layout of vkllm.h: every field the binding
    declares at the C offset (a field added in the middle of a C struct would shift the rest), and
    the structs passed as arrays of the same size."""

    C_NAMES = {"_DeviceInfo": "vkllm_device_info", "_ModelInfo": "vkllm_model_info",
               "_LoadOptions": "vkllm_load_options", "_SessionOptions": "vkllm_session_options",
               "_Sampling": "vkllm_sampling", "_GenerateOptions": "vkllm_generate_options",
               "_GenerateStats": "vkllm_generate_stats", "_Message": "vkllm_message"}
    SAME_SIZE = ("_Message", "_Sampling")

    def test_offsets(self):
        cc = os.environ.get("CC", "cc")
        src = ["#include <stddef.h>", "#include <stdio.h>", '#include "vkllm.h"', "int main(void) {"]
        for py, c in self.C_NAMES.items():
            cls = getattr(vkllm, py)
            src.append(f'printf("{py} sizeof %zu\\n", sizeof({c}));')
            for name, _ in cls._fields_:
                src.append(f'printf("{py} {name} %zu\\n", offsetof({c}, {name}));')
        src.append("return 0; }")
        c_file, exe = os.path.join(SCRATCH, "layout.c"), os.path.join(SCRATCH, "layout")
        with open(c_file, "w") as f:
            f.write("\n".join(src) + "\n")
        r = subprocess.run([cc, "-std=c11", "-I", os.environ["VKLLM_TEST_INCLUDE"], c_file, "-o", exe],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "a field the binding names is not in vkllm.h:\n" + r.stderr[-2000:])
        got = {}
        for line in subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines():
            py, name, v = line.split()
            got[(py, name)] = int(v)
        for py in self.C_NAMES:
            cls = getattr(vkllm, py)
            for name, _ in cls._fields_:
                self.assertEqual(getattr(cls, name).offset, got[(py, name)], f"{py}.{name}: offset differs from C")
            if py in self.SAME_SIZE:
                self.assertEqual(_c_sizeof(cls), got[(py, "sizeof")], f"{py}: size differs from C")
            else:
                self.assertLessEqual(_c_sizeof(cls), got[(py, "sizeof")], f"{py}: larger than in C")


def _c_sizeof(cls):
    import ctypes
    return ctypes.sizeof(cls)


class Devices(unittest.TestCase):
    def test_list(self):
        devs = vkllm.devices()
        self.assertGreater(len(devs), 0)
        for d in devs:
            self.assertTrue(d.name)
            self.assertGreater(d.device_local_bytes, 0)
            self.assertLessEqual(d.device_local_free, d.device_local_bytes)
            self.assertEqual(len(d.heap_size), d.n_heaps)
            self.assertIn(d.type, ("other", "integrated", "discrete", "virtual", "cpu"))


class Models(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.progress = []
        cls.model = vkllm.Model(MODEL, n_ctx=1024, validate=True, progress=lambda d, t: cls.progress.append((d, t)))

    @classmethod
    def tearDownClass(cls):
        cls.model.close()

    def test_load_progress(self):
        p = self.progress
        self.assertGreater(len(p), 0)
        self.assertEqual(p[-1][0], p[-1][1], "the last report is the whole upload")
        self.assertEqual(sorted(p), p, "progress only grows")
        info = self.model.info
        self.assertEqual(info["format"], "gguf")
        self.assertEqual(info["n_layer"], 2)
        self.assertEqual(self.model.device.name, vkllm.devices()[self.model.device.index].name)

    def test_load_cancel_and_errors(self):
        with self.assertRaises(vkllm.InvalidArgument) as e:
            vkllm.Model(MODEL, progress=lambda d, t: True)
        self.assertIn("cancel", e.exception.message)
        with self.assertRaises(vkllm.IOError_) as e:
            vkllm.Model(os.path.join(SCRATCH, "missing.gguf"))
        self.assertIn("missing.gguf", str(e.exception))
        self.assertEqual(e.exception.status, "VKLLM_ERR_IO")
        with self.assertRaises(ZeroDivisionError):  # an exception in the callback cancels and comes back
            vkllm.Model(MODEL, progress=lambda d, t: 1 / 0)

    def test_quantize_on_load(self):
        with self.assertRaises(vkllm.InvalidArgument) as e:
            vkllm.Model(MODEL, quant="q9_z")
        self.assertIn("q4_k_m", e.exception.message)  # the message lists the valid types
        m = vkllm.Model(MODEL, quant="q8_0", validate=True)
        try:
            self.assertLess(m.info["device_weight_bytes"], self.model.info["device_weight_bytes"])
            self.assertEqual(m.info["quant_search"], "")  # Q8_0 has no scale search
        finally:
            m.close()
        with self.assertRaises(vkllm.InvalidArgument) as e:
            vkllm.Model(MODEL, quant="iq4_nl", quant_search="slow")
        self.assertIn("exact, fast", e.exception.message)
        for search in ("exact", "fast"):
            m = vkllm.Model(MODEL, quant="iq4_nl", quant_search=search)  # (a block of 32: any row has it)
            try:
                self.assertEqual(m.info["quant_search"], search)
            finally:
                m.close()

    def test_tokenize(self):
        ids = self.model.tokenize("Hello world")
        tok = self.model.tokenizer
        self.assertEqual(ids[0], tok.bos)
        self.assertEqual(self.model.detokenize(ids), "Hello world")
        alone = vkllm.Tokenizer(MODEL)  # loaded on its own: the same ids
        self.assertEqual(alone.tokenize("Hello world"), ids)
        self.assertEqual(alone.tokenize("Hello world", bos=False), ids[1:])
        self.assertEqual(alone.n_vocab, self.model.info["n_vocab"])
        self.assertEqual(alone.piece(tok.bos), "<s>")
        alone.close()
        with self.assertRaises(vkllm.InvalidArgument) as e:
            self.model.detokenize([10**6])
        self.assertIn("1000000", e.exception.message)

    def test_chat_as_embed(self):
        """The binding's chat turn answers what examples/embed.c (C, the same settings) prints."""
        want = subprocess.run([os.environ["VKLLM_TEST_EMBED"], MODEL, "Hi there"], check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        with self.model.session(n_ctx=1024) as s:
            stream = s.chat([("user", "Hi there")], max_tokens=64)
            pieces = list(stream)
            self.assertEqual("".join(pieces), want)
            self.assertEqual(stream.text, want)
            self.assertGreater(len(pieces), 1, "streamed in pieces")
            self.assertEqual(len(stream.tokens), stream.stats.n_generated)
            self.assertIn(stream.stats.reason, ("eos", "max_tokens", "stop_string"))

    def test_generate_stream(self):
        with self.model.session() as s:
            a = s.generate("Once upon a time", max_tokens=20)
            text = a.wait()
            self.assertEqual(a.stats.n_generated, 20)
            self.assertEqual(a.stats.reason, "max_tokens")
            s.rewind(0)
            b = s.generate(self.model.tokenize("Once upon a time"), max_tokens=20)
            self.assertEqual(b.wait(), text, "the same prompt as ids: the same greedy text")
            # leaving the loop early stops the generation; the session goes on working
            s.rewind(0)
            for i, _ in enumerate(s.generate("Once upon a time", max_tokens=20)):
                if i == 2:
                    break
            self.assertLess(s.pos, len(self.model.tokenize("Once upon a time")) + 20)
            s.rewind(0)
            c = s.generate("Once upon a time", max_tokens=20, temperature=0.8, seed=5)
            c.wait()
            self.assertEqual(c.stats.n_generated, 20)

    def test_generate_errors(self):
        with self.model.session() as s:
            with self.assertRaises(vkllm.InvalidArgument) as e:
                s.generate([1, 10**6]).wait()
            self.assertIn("1000000", e.exception.message)
            with self.assertRaises(vkllm.InvalidArgument):
                s.generate("x", temprature=0.5)
            with self.assertRaises(vkllm.InvalidArgument):
                s.chat([("robot", "hi")])

    def test_threads(self):
        """Two sessions of the model generating on two Python threads at once, each as alone."""
        prompts = ["The cat", "A dog and"]
        sessions = [self.model.session(n_ctx=256) for _ in prompts]
        alone = [s.generate(p, max_tokens=16).wait() for s, p in zip(sessions, prompts)]
        got = [None, None]

        def run(i):
            sessions[i].rewind(0)
            got[i] = sessions[i].generate(prompts[i], max_tokens=16).wait()

        th = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.assertEqual(got, alone)
        for s in sessions:
            s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
