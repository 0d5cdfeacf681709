"""Serial console: one `Command <payload>` a line, case-insensitive, one JSON reply a line.

Replies carry "cmd" (the command answered); unsolicited reports carry "ev".
Bytes are gathered into a fixed buffer; an overlong or undecodable line is
answered with an error and dropped, never a crash.
"""
import gc
import json
from micropython import const

MAX_LINE = const(160)
NO_MEMORY = b'{"cmd": "?", "error": "out of memory"'  # preallocated: always writable


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
        """Write d as one JSON line, "cmd" first, one top-level field at a time.

        Streaming the fields keeps the peak heap to the largest field rather
        than the whole reply; a field that does not fit is sent as "(too big)",
        and if even that fails the line is closed where it stands, so it
        stays valid JSON and the lamp keeps running.
        """
        w = self.write
        opened = False
        try:
            w(b'{"cmd": ' + json.dumps(d.get("cmd", "?")).encode())
            opened = True
            for k in d:
                if k == "cmd":
                    continue
                try:
                    piece = ", %s: %s" % (json.dumps(k), json.dumps(d[k]))
                except Exception:  # MemoryError
                    gc.collect()
                    piece = ', "%s": "(too big)"' % k
                w(piece.encode())
        except Exception:  # out of memory even for that
            gc.collect()
            if not opened:
                w(NO_MEMORY)
                return
        w(b"}\n")

    def feed(self, data):
        """Take received bytes; run every complete line."""
        for b in data:
            if b == 10 or b == 13:
                if self.overflow:
                    self.reply({"cmd": "?", "error": "line longer than %d bytes" % MAX_LINE})
                elif self.n:
                    try:
                        self.line(bytes(self.buf[: self.n]))
                    except Exception as e:  # nothing typed on the console may stop the lamp
                        gc.collect()
                        self.reply({"cmd": "?", "error": "internal: %s" % type(e).__name__})
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
