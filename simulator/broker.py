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


class _PortTaken(Exception):
    """The broker could not have the port it was given."""


def _listens(pid: int, port: int) -> bool | None:
    """Whether process pid holds the listening socket on 127.0.0.1:port (Linux /proc);
    None where /proc cannot tell."""
    try:
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[1] == f"0100007F:{port:04X}" and f[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{f[9]}]")
        fds = Path(f"/proc/{pid}/fd")
        return any(os.readlink(fds / fd) in inodes for fd in os.listdir(fds))
    except OSError:
        return None


class Broker:
    """A broker child process. kind: 'mosquitto', 'amqtt' or 'auto' (mosquitto if installed)."""

    def __init__(self, kind: str = "auto", port: int | None = None, tls: bool = False,
                 users: dict[str, str] | None = None, password_file: Path | None = None,
                 acl_file: Path | None = None, persistent: bool = False, extra: str = ""):
        """extra: mosquitto configuration appended as is (e.g. a bridge section).
        persistent: mosquitto keeps sessions, subscriptions and queued QoS 1 messages on disk
        across a `restart(graceful=True)` (as a production broker does).
        password_file/acl_file: mosquitto files as `lampctl provision` writes them (accounts
        and per-post ACL); users: plain user -> password, hashed here (no ACL)."""
        if kind == "auto":
            kind = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self.password_file = password_file
        self.acl_file = acl_file
        if (tls or users or password_file or acl_file) and kind != "mosquitto":
            raise RuntimeError("TLS and passwords need mosquitto (apt-get install mosquitto)")
        self.tls = tls
        self.persistent = persistent
        if persistent and kind != "mosquitto":
            raise RuntimeError("a persistent broker needs mosquitto (apt-get install mosquitto)")
        self.users = users or {}
        self.extra = extra
        if extra and kind != "mosquitto":
            raise RuntimeError("extra configuration is mosquitto's (apt-get install mosquitto)")
        self.ca_path: Path | None = None
        self.kind = kind
        self.host = "127.0.0.1"
        self._auto_port = port is None  # ours to change if another process takes it first
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
            # set_tcp_nodelay: a small packet (a PUBACK, a chunk's header) goes out at once,
            # not after the peer's delayed ACK: lockstep runs wait on every such round trip
            text = (f"listener {self.port} 127.0.0.1\nlog_dest none\nmax_inflight_messages 0\n"
                    "set_tcp_nodelay true\n"
                    + (f"persistence true\npersistence_location {d}/\nmax_queued_messages 0\n"
                       "max_queued_bytes 0\n" if self.persistent else "persistence false\n"))
            if os.geteuid() == 0:  # else mosquitto drops to its own user, who cannot read d
                text += "user root\n"
            if self.tls:
                from simulator.tls_certs import make
                p = make(d / "tls") if self.ca_path is None else {
                    "ca": d / "tls" / "ca.pem", "cert": d / "tls" / "server.pem",
                    "key": d / "tls" / "server.key"}
                self.ca_path = d / "tls" / "ca.der"  # what the firmware pins
                text += f"cafile {p['ca']}\ncertfile {p['cert']}\nkeyfile {p['key']}\n"
            if self.password_file:
                text += f"allow_anonymous false\npassword_file {self.password_file}\n"
                if self.acl_file:
                    text += f"acl_file {self.acl_file}\n"
            elif self.users:
                pw = d / "passwd"
                pw.write_text("".join(f"{u}:{v}\n" for u, v in self.users.items()))
                subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-U",
                                str(pw)], check=True, capture_output=True)
                pw.chmod(0o600)
                text += f"allow_anonymous false\npassword_file {pw}\n"
            else:
                text += "allow_anonymous true\n"
            conf.write_text(text + self.extra)  # last: a bridge section takes what follows it
            return [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)]
        conf = d / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n")
        amqtt = Path(sys.executable).parent / "amqtt"
        return [str(amqtt) if amqtt.exists() else "amqtt", "-c", str(conf)]

    def start(self, timeout: float = 30.0) -> None:
        """Start the broker and wait until it listens. A free port can be taken by another
        process (another test run on this host) between free_port() and the broker's bind:
        then the broker exits, or a connect reaches the other process's listener. Either
        way a port we chose is changed and the start tried again."""
        for _ in range(5):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                self.stop(kill=True)
                if not self._auto_port:
                    break
                self.port = free_port()
        raise RuntimeError(f"{self.kind} could not listen on {self.addr}")

    def _start_once(self, timeout: float) -> None:
        self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise _PortTaken()  # mosquitto and amqtt exit when the bind fails
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                if _listens(self.proc.pid, self.port) is not False:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {self.addr} within {timeout} s")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                # a clean stop of a persistent broker writes its sessions: give it time
                self.proc.wait(timeout=5 if kill else 60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, graceful: bool = False) -> None:
        """Crash the broker (or, graceful, stop it as an operator would: a persistent
        mosquitto then writes its sessions and queued messages to disk) and start it again
        on the same port."""
        self.stop(kill=not graceful)
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
