"""Run the console app with uvicorn in a background thread of the current process (serve,
the demo, the tests and the bench share it): start() returns once the port answers."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn


class ConsoleServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        cfg = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                             lifespan="on", timeout_graceful_shutdown=1, ws="none")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "ConsoleServer":
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise OSError(f"the console did not start on {self.host}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
