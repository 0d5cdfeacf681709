"""A throwaway MQTT broker on a free loopback port: mosquitto when installed, else amqtt.

The demo and the tests need a broker but no system service: this starts one as
a child process in a temporary directory, waits until it accepts connections,
and stops it (or kills it, for a broker-crash test). Retained messages live in
the broker's memory: a restart with `restart()` loses them, as a real
mosquitto without persistence would.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_addr(text: str) -> tuple[str, int]:
    """(host, port) of 'host:port' or 'host' (port 1883); ValueError if malformed."""
    host, _, port = text.rpartition(":")
    if not host:
        return text, 1883
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


class Broker:
    """A broker child process. kind: 'mosquitto', 'amqtt' or 'auto' (mosquitto if installed)."""

    def __init__(self, kind: str = "auto", port: int | None = None):
        if kind == "auto":
            kind = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self.kind = kind
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="lamppost-broker-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def _command(self) -> list[str]:
        d = Path(self._dir.name)
        if self.kind == "mosquitto":
            conf = d / "mosquitto.conf"
            conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                            "persistence false\nlog_dest none\nmax_inflight_messages 0\n")
            return [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)]
        conf = d / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n")
        amqtt = Path(sys.executable).parent / "amqtt"
        return [str(amqtt) if amqtt.exists() else "amqtt", "-c", str(conf)]

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {self.addr} within {timeout} s")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Crash the broker and start it again on the same port."""
        self.stop(kill=True)
        self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kind_from_env() -> str:
    """LAMPPOST_BROKER=mosquitto|amqtt forces a broker kind (tests, CI); default auto."""
    return os.environ.get("LAMPPOST_BROKER", "auto")
