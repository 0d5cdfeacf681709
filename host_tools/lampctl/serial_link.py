"""Talking to a controller's serial console: find the port, send a command, match its reply.

The console answers each `Command <payload>` line with one JSON object
carrying "cmd"; unsolicited reports carry "ev" and may arrive in between.
Every failure a person can cause (no port, busy port, silence, unplugging)
becomes a LampctlError with a message and an exit code, never a traceback.
"""
from __future__ import annotations

import json
import os
import struct
import time
from typing import Iterator

import serial
from serial.tools import list_ports

BAUD = 115200
BUSY_RETRY_S = 0.25  # a `busy` reply: the console's output budget for this tick is spent
# exit codes scripts can rely on
OK, FAILED, USAGE, NO_PORT, TIMEOUT, GONE, LOGIN = 0, 1, 2, 3, 4, 5, 6


# UUCP lock files (LCK..ttyUSB0 holding the owner's PID), as minicom, picocom and lockdev
# write them: a program that took the port this way is seen as busy even without flock
LOCK_DIRS = ("/var/lock", "/run/lock", "/var/spool/lock")


def _lock_names(port: str) -> set[str]:
    """LCK.. file names for a device path (and the device a /dev/serial/by-id link points to)."""
    names = set()
    for p in {port, os.path.realpath(port)}:
        rel = p[5:] if p.startswith("/dev/") else os.path.basename(p)
        names.add("LCK.." + rel.replace("/", "_"))
    return names


def lock_owner(port: str) -> int | None:
    """PID of a live process holding a UUCP lock file for port, else None (stale or no lock).

    Only for device paths: a URL (socket://, rfc2217://, loop://) has no lock file."""
    if "://" in port or not port.startswith("/"):
        return None
    for d in LOCK_DIRS:
        for name in _lock_names(port):
            try:
                with open(os.path.join(d, name), "rb") as fh:
                    data = fh.read(64)
            except OSError:
                continue
            try:  # ASCII PID (HDB/lockdev), else a binary int (old UUCP)
                pid = int(data.strip()) if data.strip().isdigit() else struct.unpack("=i", data[:4])[0]
            except (ValueError, struct.error):
                continue
            if pid <= 0 or pid == os.getpid():
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue  # stale: its owner is gone
            except PermissionError:
                pass  # alive, another user's
            return pid
    return None


def lock_message(port: str, pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            who = f"{fh.read().strip()} (PID {pid})"
    except OSError:
        who = f"PID {pid}"
    return f"{port}: port is busy: {who} holds its lock file; close it and try again"


class LampctlError(Exception):
    def __init__(self, msg: str, code: int = FAILED):
        super().__init__(msg)
        self.code = code


def candidates() -> list:
    """Serial ports that look like a board's USB-serial adapter (those with USB ids)."""
    return [p for p in sorted(list_ports.comports(), key=lambda p: p.device) if p.vid is not None]


def pick_port(port: str | None) -> str:
    """The port to use: --port / $LAMPCTL_PORT, else the only USB candidate."""
    port = port or os.environ.get("LAMPCTL_PORT")
    if port:
        return port
    c = candidates()
    if len(c) == 1:
        return c[0].device
    if not c:
        raise LampctlError("no serial port found: plug in the board's USB cable, or give "
                           "--port (a device path or a pyserial URL such as socket://host:port)",
                           NO_PORT)
    raise LampctlError("several serial ports: choose one with --port: "
                       + ", ".join(p.device for p in c), NO_PORT)


class Device:
    """One open console. Use as a context manager."""

    def __init__(self, port: str, timeout: float = 3.0):
        self.port = port
        self.timeout = timeout
        self.events: list[dict] = []  # unsolicited reports seen while waiting for replies
        self._buf = b""
        self._lines: list[bytes] = []
        owner = lock_owner(port)
        if owner is not None:
            raise LampctlError(lock_message(port, owner), NO_PORT)
        try:  # exclusive: flock, so a second lampctl, esptool or pyserial with exclusive=True is refused
            self.ser = serial.serial_for_url(port, baudrate=BAUD, timeout=0.05,
                                             exclusive=True, do_not_open=True)
            self.ser.open()
        except serial.SerialException as e:
            text = str(e)
            if "lock" in text.lower() or "busy" in text.lower():
                raise LampctlError(f"{port}: port is busy (another program has it open)", NO_PORT)
            raise LampctlError(f"{port}: cannot open: {_why(e)}", NO_PORT)
        except (OSError, ValueError) as e:
            raise LampctlError(f"{port}: cannot open: {_why(e)}", NO_PORT)
        try:
            self.ser.reset_input_buffer()  # drop what the console said before we came
        except (serial.SerialException, OSError, NotImplementedError):
            pass

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.ser.close()
        except (serial.SerialException, OSError):
            pass

    def send(self, line: str) -> None:
        self.send_raw(line.encode() + b"\n")

    def send_raw(self, data: bytes) -> None:
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise LampctlError(f"{self.port}: device disconnected ({_why(e)})", GONE)

    def objects(self, deadline: float) -> Iterator[dict]:
        """JSON objects the console writes until deadline (non-JSON lines are skipped)."""
        while True:
            while self._lines:  # lines already read stay here for the next caller
                raw = self._lines.pop(0)
                try:
                    obj = json.loads(raw.strip(b"\r\x00"))
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj
            if time.monotonic() >= deadline:
                return
            try:
                chunk = self.ser.read(1)  # waits up to the port timeout for the first byte
                if chunk and self.ser.in_waiting:
                    chunk += self.ser.read(self.ser.in_waiting)
            except (serial.SerialException, OSError, TypeError) as e:
                raise LampctlError(f"{self.port}: device disconnected ({_why(e)})", GONE)
            if chunk:
                self._buf += chunk
                *lines, self._buf = self._buf.split(b"\n")
                self._lines.extend(lines)

    def request(self, command: str, payload: str = "", timeout: float | None = None) -> dict:
        """Send `command payload`; the reply dict. Raises on silence; device errors are returned."""
        line = f"{command} {payload}".strip()
        self.send(line)
        want = command.strip().lower()
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for obj in self.objects(deadline):
                if obj.get("cmd") == want:
                    if obj.get("error") != "busy":
                        return obj
                    break  # the console's UART budget for this tick is spent: ask again
                if "ev" in obj:
                    self.events.append(obj)
            else:
                break
            time.sleep(BUSY_RETRY_S)
            self.send(line)
        raise LampctlError(f"{self.port}: no answer to {command} within "
                           f"{timeout or self.timeout:g} s (is this a lamppost console?)", TIMEOUT)

    def wait_event(self, ev: str, timeout: float) -> dict:
        for i, obj in enumerate(self.events):
            if obj.get("ev") == ev:
                return self.events.pop(i)
        for obj in self.objects(time.monotonic() + timeout):
            if obj.get("ev") == ev:
                return obj
            if "ev" in obj:
                self.events.append(obj)
        raise LampctlError(f"{self.port}: no {ev} report within {timeout:g} s", TIMEOUT)


def _why(e: BaseException) -> str:
    return str(e).split(": ", 1)[-1] if str(e) else type(e).__name__
