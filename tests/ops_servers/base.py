"""A threaded stdlib HTTP server with switches a test flips: down (503), lose the next answer,
answer anything (a broken server: every request gets 200 with that JSON)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, code: int, obj, ctype: str = "application/json") -> None:
        data = json.dumps(obj).encode() if ctype == "application/json" else obj
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        srv = self.server.app
        srv.calls.append((method, self.path))
        if srv.down:
            self.reply(503, {"error": "service unavailable"})
            return
        if srv.answer is not None and not self.path.startswith(srv.keep):
            self.body()
            self.reply(200, srv.answer)
            return
        code, obj = getattr(srv, method.lower())(self)
        if srv.lose_next_answer and method == "POST":
            srv.lose_next_answer = False
            self.close_connection = True  # the work is done, the answer never arrives
            self.connection.shutdown(2)
            return
        self.reply(code, obj)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PATCH(self):
        self._dispatch("PATCH")


class App:
    def __init__(self):
        self.calls: list = []
        self.down = False
        self.lose_next_answer = False
        self.answer = None
        self.keep: tuple = ()  # paths served as usual while `answer` is set
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.app = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
