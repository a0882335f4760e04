"""`vkllm chat` and `vkllm run` at a terminal, driven through a pseudo-terminal:
line editing, history, a bracketed paste as one message, /help, Ctrl-C at
the prompt and during a long prompt (stopping after at most the current
block, counted in tokens), Ctrl-D, the exit status of an interrupted run.
usage: test_cli_pty.py path/to/vkllm path/to/vkllm-gen-model SCRATCH_DIR"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pty_session import PtySession  # noqa: E402

vkllm, gen, scratch = sys.argv[1:4]
shutil.rmtree(scratch, ignore_errors=True)
os.makedirs(scratch)
tiny = os.path.join(scratch, "tiny.gguf")
slow = os.path.join(scratch, "slow.gguf")
subprocess.run([gen, "--preset", "tiny", "--seed", "7", "--gguf", tiny], check=True, stdout=subprocess.DEVNULL)
# wider, and a long context: its prompts take a while on a CPU, block by block
subprocess.run([gen, "--layers", "4", "--embd", "256", "--ff", "768", "--heads", "4", "--kv-heads", "2",
                "--ctx", "2048", "--seed", "3", "--gguf", slow], check=True, stdout=subprocess.DEVNULL)
state = os.path.join(scratch, "state")
env = dict(os.environ, XDG_STATE_HOME=state, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm", HOME=scratch)

fails = 0


def check(name, fn):
    global fails
    try:
        fn()
        print(f"ok   {name}")
    except AssertionError as e:
        print(f"FAIL {name}: {e}")
        fails += 1


def chat(*args, model=tiny):
    s = PtySession([vkllm, "chat", "-m", model, "--greedy", "-n", "4", *args], env=env, timeout=120)
    s.expect_prompt()
    return s


def turn_done(s):
    s.expect(r"\| (max tokens|end of text|stop string)\]")
    s.expect_prompt()


def saved(s, name):
    path = os.path.join(scratch, name)
    s.send(f"/save {path}\r")
    s.expect(r"saved \d+ messages")
    s.expect_prompt()
    with open(path) as f:
        return json.load(f)


def user_messages(conv):
    return [m["content"] for m in conv if m["role"] == "user"]


def test_line_editing():
    s = chat()
    try:
        s.send("helo")
        s.expect("helo")
        s.send("\x1b[D")     # Left: the cursor between "hel" and "o"
        s.send("l\r")        # -> "hello"
        turn_done(s)
        s.send("hello")
        s.expect("hello")
        s.send("\x01wow, \r")  # Ctrl-A: to the start of the line
        turn_done(s)
        s.send("\x1b[A\x1b[A\r")  # Up, Up: the first message again
        turn_done(s)
        got = user_messages(saved(s, "edit.json"))
        assert got == ["hello", "wow, hello", "hello"], got
        s.ctrl("d")
        rc = s.wait_exit()
        assert rc == 0, f"exit {rc}: {s.tail()!r}"
    finally:
        s.close()
    hist = open(os.path.join(state, "vkllm", "history")).read()
    assert "wow,\\040hello" in hist or "wow, hello" in hist, hist


def test_history_across_sessions():
    s = chat()
    try:
        s.send("\x1b[A\r")  # Up: the last line of the previous chat (from the history file)
        s.expect("saved 0 messages to " + os.path.join(scratch, "edit.json"))
    finally:
        s.close()


def test_bracketed_paste():
    s = chat()
    try:
        s.send("look: ")
        s.expect("look: ")
        s.send("\x1b[200~first line\rsecond line\rthird line\x1b[201~")
        turn_done(s)
        conv = saved(s, "paste.json")
        assert user_messages(conv) == ["look: first line\nsecond line\nthird line"], conv
        assert len(conv) == 2, conv  # one turn: the question and one answer
        s.send("\x1b[200~in line\x1b[201~ too\r")  # a paste without a break is edited in place
        turn_done(s)
        assert user_messages(saved(s, "paste2.json"))[-1] == "in line too"
    finally:
        s.close()


def test_multiline_mode():
    s = chat()
    try:
        s.send('"""\r')
        s.expect_prompt(r"\.\.\. ")
        s.send("one\r")
        s.expect_prompt(r"\.\.\. ")
        s.send('two"""\r')
        turn_done(s)
        assert user_messages(saved(s, "ml.json")) == ["one\ntwo"]
    finally:
        s.close()


def test_help():
    s = chat()
    try:
        s.send("/help\r")
        s.expect(r"/save FILE")
        s.expect_prompt()
        assert b"[prompt:" not in s.out, "/help went to the model"
        s.send("/quit\r")
        assert s.wait_exit() == 0
    finally:
        s.close()


def test_ctrl_c_at_prompt():
    s = chat()
    try:
        s.send("some text")
        s.expect("some text")
        s.ctrl("c")            # clears the line, no quitting
        s.expect_prompt()
        s.ctrl("c")            # at an empty prompt: a hint
        s.expect(r"Ctrl-C again")
        s.expect_prompt()
        s.send("hi\r")         # any input in between: the count starts again
        turn_done(s)
        s.ctrl("c")
        s.expect(r"Ctrl-C again")
        s.expect_prompt()
        s.ctrl("c")            # twice at an empty prompt: leave
        assert s.wait_exit(30) == 0
    finally:
        s.close()


def test_ctrl_d():
    s = chat()
    try:
        s.ctrl("d")
        assert s.wait_exit(30) == 0
        assert s.out.endswith(b"\n"), s.tail()
    finally:
        s.close()


LONG = " ".join(["hello world"] * 200)  # 1801 tokens with this vocabulary


def sigint_pending(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("ShdPnd:", "SigPnd:")) and int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)):
                return True
    return False


def interrupt_prefill(s, block):
    """Presses Ctrl-C during a long prompt and checks that it stops after at
    most the block being run, counted in tokens: the program is frozen
    (SIGSTOP) after its first block, the last "prompt: N/T" it wrote says
    which block was running, Ctrl-C is pressed and it goes on (SIGCONT)."""
    m = s.expect(rb"prompt: (\d+)/(\d+) tokens")
    total = int(m.group(2))
    os.kill(s.pid, signal.SIGSTOP)
    s.drain()
    seen = [int(x) for x in re.findall(rb"prompt: (\d+)/\d+ tokens", s.out)][-1]
    s.ctrl("c")
    # the terminal turns the key into SIGINT asynchronously: let it be pending
    # on the frozen program before it goes on
    end = time.monotonic() + 10
    while not sigint_pending(s.pid):
        assert time.monotonic() < end, "Ctrl-C never became a SIGINT"
        time.sleep(0.01)
    os.kill(s.pid, signal.SIGCONT)
    m = s.expect(rb"interrupted after (\d+) of (\d+) prompt tokens")
    done = int(m.group(1))
    assert int(m.group(2)) == total
    assert done < total, f"the whole prompt ran ({done} of {total}): Ctrl-C was not seen during the prompt"
    assert seen <= done <= seen + block, f"{done} tokens done, {seen} when Ctrl-C was pressed (blocks of {block})"
    return seen, done, total


def test_ctrl_c_during_prefill_chat():
    block = 32
    s = chat("-v", "--batch", str(block), model=slow)
    try:
        s.send(f"/system {LONG}\r")
        s.expect_prompt()
        s.send("go\r")
        interrupt_prefill(s, block)
        s.expect_prompt()          # back at the prompt
        s.send("/stats\r")
        s.expect(r"messages +1 ")  # the interrupted message is not in the conversation
        s.expect_prompt()
        s.send("/system short\r")
        s.expect_prompt()
        s.send("again\r")        # and the chat goes on
        turn_done(s)
    finally:
        s.close()


def test_ctrl_c_during_prefill_run():
    block = 32
    s = PtySession([vkllm, "run", "-m", slow, "--raw", "-v", "--batch", str(block), "-p", LONG, "-n", "4"],
                   env=env, timeout=120)
    try:
        interrupt_prefill(s, block)
        rc = s.wait_exit(60)
        assert rc == 130, f"exit {rc}, want 130"
    finally:
        s.close()


def test_run_done_exits_0():
    s = PtySession([vkllm, "run", "-m", tiny, "-p", "hi", "-n", "3"], env=env, timeout=60)
    try:
        rc = s.wait_exit(60)
        assert rc == 0, f"exit {rc}"
        assert re.search(rb"\| max tokens\]", s.out), s.tail()
    finally:
        s.close()


check("line editing: arrows, Ctrl-A, Up recalls; history file in $XDG_STATE_HOME", test_line_editing)
check("history from the previous chat", test_history_across_sessions)
check("a bracketed paste is one message", test_bracketed_paste)
check('""" multi-line mode', test_multiline_mode)
check("/help is answered, not sent", test_help)
check("Ctrl-C at the prompt: clears, then twice at an empty prompt quits", test_ctrl_c_at_prompt)
check("Ctrl-D leaves with a newline", test_ctrl_d)
check("Ctrl-C during a long prompt in chat: back to the prompt after the current block", test_ctrl_c_during_prefill_chat)
check("Ctrl-C during a long prompt in run: stops after the current block, exit 130", test_ctrl_c_during_prefill_run)
check("run at a terminal: exit 0", test_run_done_exits_0)

print(f"{'PASSED' if fails == 0 else 'FAILED'} ({fails} failures)")
sys.exit(1 if fails else 0)
