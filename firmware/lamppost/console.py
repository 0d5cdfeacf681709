"""Serial console: one `Command <payload>` a line, case-insensitive, one JSON reply a line.

Replies carry "cmd" (the command answered); unsolicited reports carry "ev".
Bytes are gathered into a fixed buffer; an overlong line or one that is not
strict UTF-8 (RFC 3629: no overlong forms, no surrogates) is answered with an
error and dropped, never a crash. Control bytes never reach the next line:
Ctrl-A..Ctrl-E (mpremote's raw-REPL requests, Ctrl-C) drop the line typed so
far and an ESC sequence (ESC x, ESC [ ... final, ESC O x) is dropped whole.
A line that arrives once this tick's UART budget is spent (the HAL's
uart_busy) is answered `busy` and not run.
"""
import gc
import json
from micropython import const

MAX_LINE = const(160)


def _strict(raw):
    """lamppost.utf8.ok(raw), the module loaded for this line only (it costs no heap otherwise)."""
    import sys
    import lamppost.utf8 as u
    try:
        return u.ok(raw)
    finally:
        sys.modules.pop("lamppost.utf8", None)
        try:
            delattr(sys.modules["lamppost"], "utf8")
        except AttributeError:
            pass


class Console:
    def __init__(self, write, execute=None, busy=None):
        self.write = write  # write(bytes) to the UART
        self.execute = execute  # execute(text) -> reply dict (lamppost.commands), else the table
        self.busy = busy  # busy() -> True once this tick's UART budget is spent (Hal.uart_busy)
        self.buf = bytearray(MAX_LINE)
        self.n = 0
        self.overflow = False
        self.esc = 0  # in an ESC sequence: 1 after ESC, 2 in its parameters ([ or O seen)
        self.commands = {}  # lower-case name -> handler(payload) -> dict

    def add(self, name, handler):
        self.commands[name.lower()] = handler

    def reply(self, d):
        """Write d as one JSON line, "cmd" first, streamed value by value.

        Nested dicts and lists are written piece by piece, so the heap never
        holds the whole reply text (a 64 KB heap has a few KB to spare);
        callable values (sections, see commands.console) are built only when
        written. A value that does not fit is sent as null; nothing here can
        stop the lamp.
        """
        w = self.write
        try:
            w(b'{"cmd": ')
            self._put(d.get("cmd", "?"), 9)
            for k in d:
                if k != "cmd":
                    w(b", ")
                    self._put(k, 9)
                    w(b": ")
                    self._put(d[k], 0)
        except Exception:  # out of memory even for a piece: end the line
            gc.collect()
        w(b"}\n")

    def _put(self, v, depth):
        w = self.write
        if callable(v):
            gc.collect()
            try:
                v = v()
            except Exception:
                v = None
        if depth < 4 and isinstance(v, dict):
            w(b"{")
            first = True
            for k in v:
                if not first:
                    w(b", ")
                first = False
                self._put(k, 9)
                w(b": ")
                self._put(v[k], depth + 1)
            w(b"}")
        elif depth < 4 and isinstance(v, (list, tuple)):
            w(b"[")
            for i in range(len(v)):
                if i:
                    w(b", ")
                self._put(v[i], depth + 1)
            w(b"]")
        else:
            try:
                w(json.dumps(v).encode())
            except Exception:  # MemoryError
                gc.collect()
                w(b"null")

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
                self.esc = 0
            elif 1 <= b <= 5:  # Ctrl-A..E: raw-REPL requests, Ctrl-C: the line so far is void
                self.n = 0
                self.overflow = False
                self.esc = 0
            elif b == 27:
                self.esc = 1
            elif self.esc:  # ESC x, or ESC [ / ESC O then parameters up to a final byte
                if self.esc == 1 and (b == 0x5B or b == 0x4F):
                    self.esc = 2
                elif self.esc == 1 or b >= 0x40 or b < 0x20:
                    self.esc = 0
            elif self.n < MAX_LINE:
                self.buf[self.n] = b
                self.n += 1
            else:
                self.overflow = True

    def line(self, raw):
        if max(raw) > 0x7F and not _strict(raw):
            self.reply({"cmd": "?", "error": "not UTF-8 text"})
            return
        text = raw.decode().strip()
        if not text:
            return
        if self.busy is not None and self.busy():  # the UART is saturated: refuse, run nothing
            self.reply({"cmd": text.partition(" ")[0].lower()[:32], "error": "busy"})
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
