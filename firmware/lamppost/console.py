"""Serial console: one `Command <payload>` a line, case-insensitive, one JSON reply a line.

Replies carry "cmd" (the command answered); unsolicited reports carry "ev".
Bytes are gathered into a fixed buffer; an overlong or undecodable line is
answered with an error and dropped, never a crash.
"""
import json
from micropython import const

MAX_LINE = const(160)


class Console:
    def __init__(self, write, execute=None):
        self.write = write  # write(bytes) to the UART
        self.execute = execute  # execute(text) -> reply dict (lamppost.commands), else the table
        self.buf = bytearray(MAX_LINE)
        self.n = 0
        self.overflow = False
        self.commands = {}  # lower-case name -> handler(payload) -> dict

    def add(self, name, handler):
        self.commands[name.lower()] = handler

    def reply(self, d):
        self.write(json.dumps(d).encode() + b"\n")

    def feed(self, data):
        """Take received bytes; run every complete line."""
        for b in data:
            if b == 10 or b == 13:
                if self.overflow:
                    self.reply({"cmd": "?", "error": "line longer than %d bytes" % MAX_LINE})
                elif self.n:
                    self.line(bytes(self.buf[: self.n]))
                self.n = 0
                self.overflow = False
            elif self.n < MAX_LINE:
                self.buf[self.n] = b
                self.n += 1
            else:
                self.overflow = True

    def line(self, raw):
        try:
            text = raw.decode().strip()
        except UnicodeError:
            self.reply({"cmd": "?", "error": "not UTF-8 text"})
            return
        if not text:
            return
        if self.execute is not None:
            self.reply(self.execute(text))
            return
        name, _, payload = text.partition(" ")
        name = name.lower()
        h = self.commands.get(name)
        if h is None:
            self.reply({"cmd": name[:32], "error": "unknown command, try Help"})
            return
        try:
            d = h(payload.strip())
        except Exception as e:  # a handler bug must not stop the lamp
            d = {"error": "internal: %s" % e}
        d["cmd"] = name
        self.reply(d)
