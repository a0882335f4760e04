"""Drives a program through a pseudo-terminal, as a person at a terminal
would: send keys, wait for text to appear. Used by test_cli_chat.py."""
import os
import pty
import re
import select
import signal
import termios
import time


class PtySession:
    def __init__(self, argv, env=None, timeout=60):
        self.timeout = timeout
        self.out = b""  # everything the program wrote to the terminal
        self.mark = 0   # expect() searches from here
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execvpe(argv[0], argv, env if env is not None else os.environ)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.status = None

    def _read(self, wait):
        r, _, _ = select.select([self.fd], [], [], wait)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the program closed the terminal (exited)
            data = b""
        if not data:
            return None
        self.out += data
        return True

    def expect(self, pattern, timeout=None):
        """Waits until `pattern` (a regex over bytes) appears after the last
        match; returns the match. Raises AssertionError on a timeout or an exit."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + (timeout or self.timeout)
        while True:
            m = rx.search(self.out, self.mark)
            if m:
                self.mark = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; tail: {self.tail()!r}")
            got = self._read(min(left, 0.5))
            if got is None:
                m = rx.search(self.out, self.mark)
                if m:
                    self.mark = m.end()
                    return m
                raise AssertionError(f"program ended before {pattern!r}; tail: {self.tail()!r}")

    def wait_editing(self, timeout=None):
        """Waits until the program has the terminal in its line editor's raw
        mode (ICANON off): keys sent before that could be flushed when it
        switches. The pty's master shares the slave's termios."""
        end = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < end:
            if not termios.tcgetattr(self.fd)[3] & termios.ICANON:
                return
            self._read(0.01)
        raise AssertionError(f"the terminal never left canonical mode; tail: {self.tail()!r}")

    def expect_prompt(self, prompt=r"> "):
        """The prompt is shown and the editor reads keys."""
        self.expect(prompt)
        self.wait_editing()

    def drain(self, quiet=0.3):
        """Reads until the program has written nothing for `quiet` seconds."""
        while self._read(quiet):
            pass

    def send(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def ctrl(self, ch):
        self.send(bytes([ord(ch.lower()) - ord("a") + 1]))

    def wait_exit(self, timeout=None):
        end = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                self.status = status
                return os.waitstatus_to_exitcode(status)
            self._read(0.1)
        raise AssertionError(f"program still running; tail: {self.tail()!r}")

    def tail(self, n=600):
        return self.out[-n:].decode("utf-8", "replace")

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
