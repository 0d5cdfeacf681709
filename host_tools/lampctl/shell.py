"""`lampctl shell`: an interactive console for a technician, on prompt_toolkit.

History (kept in $LAMPCTL_HISTORY, default ~/.lampctl_history), completion of the board's
commands (from its Help) and of config keys after `Config`, the board's reports printed
above the prompt as they arrive (the line being typed stays), and the login kept alive while
the shell is open (a small read command before the board's idle logout). Replies are shown
as `lampctl` shows them (units, yes/no); `exit`, `quit` or Ctrl-D leave.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from host_tools.lampctl import serial_link as sl

KEEPALIVE_S = 25.0  # wall seconds between keep-alive reads while logged in: under half the
# shortest login_s (60 s), so a late read never lets the board log the shell out


class _Complete(Completer):
    def __init__(self, commands: list[str], keys: list[str]):
        self.commands, self.keys = commands, keys

    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        words = text.split(" ")
        if len(words) == 1:
            for c in self.commands:
                if c.lower().startswith(words[0].lower()):
                    yield Completion(c, -len(words[0]))
        elif len(words) == 2 and words[0].lower() == "config":
            for k in self.keys:
                if k.startswith(words[1].lower()):
                    yield Completion(k, -len(words[1]))


class Shell:
    """The shell's state: one Device shared by the prompt and the report reader, under a lock."""

    def __init__(self, dev: sl.Device, show, input=None, output=None):
        """show(reply) prints a reply and returns its exit code; input/output: the terminal
        (prompt_toolkit's defaults) or a pipe and a dummy in tests."""
        self.dev, self.show = dev, show
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.logged_in = False
        self.last = time.monotonic()
        self.keepalive = KEEPALIVE_S
        self.out = lambda text: print(text, flush=True)  # where reports go
        help_ = dev.request("Help").get("commands") or []
        cfg = dev.request("Config").get("config") or {}
        self.completer = _Complete([c.split(" ")[0] for c in help_] + ["exit"], sorted(cfg))
        hist = os.environ.get("LAMPCTL_HISTORY") or str(Path.home() / ".lampctl_history")
        try:
            history = FileHistory(hist)
        except OSError:
            history = InMemoryHistory()
        self.session = PromptSession(history=history, input=input, output=output)

    def _reports(self):
        """Print the board's unsolicited reports while the prompt waits; keep the login alive."""
        while not self.stop.is_set():
            with self.lock:
                try:
                    for obj in self.dev.objects(time.monotonic() + 0.1):
                        if "ev" in obj:
                            self.out("report: " + json.dumps(obj))
                    for obj in self.dev.events:
                        self.out("report: " + json.dumps(obj))
                    self.dev.events = []
                    if self.logged_in and time.monotonic() - self.last > self.keepalive:
                        self.dev.request("Alarms")  # any command restarts the idle logout
                        self.last = time.monotonic()
                except sl.LampctlError as e:
                    self.out(f"lampctl: {e}")
                    self.stop.set()
                    return
            time.sleep(0.05)

    def run_line(self, line: str) -> int:
        name, _, value = line.strip().partition(" ")
        with self.lock:
            r = self.dev.request(name, value.strip())
            self.last = time.monotonic()
        if name.lower() == "login":
            self.logged_in = "error" not in r
        elif name.lower() == "logout":
            self.logged_in = False
        return self.show(r)

    def loop(self) -> int:
        reader = threading.Thread(target=self._reports, daemon=True)
        reader.start()
        try:
            with patch_stdout(raw=True):
                while not self.stop.is_set():
                    try:
                        line = self.session.prompt(f"{self.dev.port}> ", completer=self.completer)
                    except KeyboardInterrupt:
                        continue
                    except EOFError:
                        break
                    if line.strip().lower() in ("exit", "quit"):
                        break
                    if line.strip():
                        try:
                            self.run_line(line)
                        except sl.LampctlError as e:
                            print(f"lampctl: {e}")
                            if e.code == sl.GONE:
                                return e.code
        finally:
            self.stop.set()
            reader.join(2)
        return sl.OK
