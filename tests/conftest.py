"""Shared fixtures: the MicroPython interpreter, calls into firmware on it, scenario helpers."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from simulator.firmware_proc import FIRMWARE_DIR, micropython_path

# Firmware tests run on MicroPython (test_firmware_on_micropython.py), not under CPython.
collect_ignore_glob = ["firmware/*", "mp/*", "esp32/*", "fakes/*"]

ROOT = Path(__file__).resolve().parent.parent
MP_DIR = Path(__file__).resolve().parent / "mp"
MP_TESTS = Path(__file__).resolve().parent / "firmware"


def mp_env(*extra: Path) -> dict:
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(str(p) for p in (FIRMWARE_DIR, MP_TESTS, MP_DIR, *extra))
    return env


class MicroPythonRPC:
    """A persistent `micropython` process that runs firmware functions for CPython tests.

    A call that kills the process (a crash, a fatal heap error, stray output on stdout)
    fails with what the process said on stderr and its exit status; the next call starts
    a fresh process, so one test's crash never fails the tests after it."""

    # 1m: the harness's heap, not a board's (the firmware's budget is tested in its own
    # processes, tests/test_heap.py): a property's request line is tens of KB (the MQTT
    # stream fuzzer's hex), read, decoded and copied while the compiled firmware modules stay
    # loaded; in 256k such a line sometimes found no room and MemoryError ended the process
    def __init__(self, heap: str = "1m"):
        self.heap = heap
        # a directory of this process's own (removed on close), where the harnesses make
        # their flash directories: two runs on one host never share a path
        self.dir = tempfile.TemporaryDirectory(prefix="lamppost-mp-")
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.err = tempfile.TemporaryFile()  # the process's stderr: the reason when it dies
        self.proc = subprocess.Popen(
            [micropython_path(), "-X", f"heapsize={self.heap}", str(MP_DIR / "rpc.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=mp_env(),
            text=True, cwd=self.dir.name,
        )

    def _stop(self) -> tuple[int | None, str]:
        """End the process (it may be dead already): its exit status and what it still wrote
        on stdout (MicroPython's unix port prints an uncaught exception's traceback there)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rest = self.proc.stdout.read()[-3000:]  # EOF: stdin closed ends the RPC loop
        except (OSError, ValueError):
            rest = ""
        self.proc.stdout.close()
        try:
            return self.proc.wait(timeout=30), rest
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30), rest

    def _died(self, what: str, why: str):
        rc, rest = self._stop()
        self.err.seek(0)
        said = self.err.read().decode(errors="replace").strip()[-3000:]
        self.err.close()
        raise RuntimeError(f"micropython RPC died in {what} ({why}; exit status {rc}); "
                           f"then on stdout: {rest.strip() or '(nothing)'}; "
                           f"on stderr: {said or '(nothing)'}")

    def call(self, module: str, func: str, *args):
        """Result of module.func(*args) computed on MicroPython; RuntimeError if it raised."""
        if self.proc.poll() is not None or self.proc.stdin.closed:  # died in an earlier call
            if not self.proc.stdin.closed:
                self._stop()
            self._start()
            self.restarts += 1
        what = f"{module}.{func}"
        try:
            self.proc.stdin.write(json.dumps({"m": module, "f": func, "a": list(args)}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            self._died(what, "broken pipe")
        if not line:
            self._died(what, "exited")
        try:
            out = json.loads(line)
        except ValueError:  # not a reply: the stream is out of step, start afresh next call
            self._died(what, f"stray output {line[:200]!r}")
        if "e" in out:
            raise RuntimeError(out["e"])
        return out["r"]

    def close(self) -> None:
        if not self.proc.stdin.closed:
            self._stop()
        self.err.close()
        self.dir.cleanup()


@pytest.fixture(scope="session")
def mp():
    rpc = MicroPythonRPC()
    yield rpc
    rpc.close()


# --- skips: a missing real part is a failure in CI -------------------------------------
# Elsewhere a test may skip when a real part (mosquitto, PostgreSQL, Chromium) is not
# installed, and its reason names what to install. With CI=true (.ci/run installs every
# part) such a skip is a failure: a green CI run never hides a test that did not run.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(binary: str, package: str, why: str = "") -> str:
    """The path of binary, or skip naming the Debian package that provides it."""
    import shutil
    path = shutil.which(binary)  # as simulator/broker.py finds it
    if path is None:
        pytest.skip(f"needs {binary}{' (' + why + ')' if why else ''}: "
                    f"apt-get install {package} (.ci/run installs it)")
    return path


def _fail_skip_in_ci(rep) -> None:
    if IN_CI and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"CI=true: a skip is a failure here ({reason})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())
