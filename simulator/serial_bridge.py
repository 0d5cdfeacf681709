"""The post's serial line: a pty the firmware uses as its UART, bridged to a pty for people.

The firmware gets the slave of pty A as its UART, opened non-blocking (an
inherited descriptor, `firmware_fd`), so a UART write never blocks it for
longer than its HAL allows. The simulator holds master A, snoops every byte
the firmware writes (so reports are timestamped in virtual time) and forwards
them to pty B, whose slave path any serial tool (pyserial, miniterm, lampctl)
can open; what that tool types goes back to the firmware.

Both directions always drain (the runner serves the bridge while it waits for
the firmware's next link frame, see Link.watch):
- firmware -> tool: like a USB-serial adapter with nobody listening, bytes the
  tool's side has no room for are dropped (counted in `dropped`), never
  stalling the firmware;
- tool -> firmware: typed bytes the firmware's UART has no room for yet wait
  here (up to HOLD bytes) and go on as the firmware reads; beyond that the
  bridge stops reading the tool's side, so a writer is slowed down by the pty
  (flow control), never silently cut.
"""
from __future__ import annotations

import os
import termios
import tty

HOLD = 1 << 16  # typed bytes held for the firmware before the tool's writes are held back
READ_MAX = 1 << 20  # bytes taken from one side in one pump


def _pty(poll_read: bool = False) -> tuple[int, int, str]:
    """A raw pty pair. With poll_read, a read of the slave returns what is there, even nothing.

    MicroPython's stream readinto() loops until its buffer is full; with VMIN=0
    and VTIME=0 each read(2) returns at once, so the firmware's UART poll never blocks.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    if poll_read:
        attrs = termios.tcgetattr(slave)
        attrs[6][termios.VMIN] = 0
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class SerialBridge:
    def __init__(self):
        self.fw_master, self._fw_slave, self.firmware_path = _pty(poll_read=True)
        self.user_master, self._user_slave, self.path = _pty()
        # the firmware's end of its UART: non-blocking (a full line returns a short write, which
        # hal/host.py handles), and never the firmware's controlling terminal
        self.firmware_fd = os.open(self.firmware_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._partial = b""
        self._to_fw = bytearray()
        self.dropped = 0  # firmware output the tool's side had no room for

    def fds(self) -> tuple[list[int], list[int]]:
        """(read fds, write fds) on which pump() has work: for select() while waiting."""
        rd = [self.fw_master]
        if len(self._to_fw) < HOLD:
            rd.append(self.user_master)
        return rd, [self.fw_master] if self._to_fw else []

    def pump(self) -> list[bytes]:
        """Move bytes both ways; return the complete lines the firmware wrote."""
        data = self._read(self.fw_master, READ_MAX)
        lines = []
        if data:
            try:
                n = os.write(self.user_master, data)
            except (BlockingIOError, OSError):
                n = 0
            self.dropped += len(data) - n
            *lines, self._partial = (self._partial + data).split(b"\n")
            if len(self._partial) > HOLD:  # no line end in sight: not a report
                lines.append(self._partial)
                self._partial = b""
        if len(self._to_fw) < HOLD:
            self._to_fw += self._read(self.user_master, HOLD - len(self._to_fw))
        self._flush()
        return lines

    def send_to_firmware(self, data: bytes) -> None:
        """Type data on the firmware's UART (held here while its input buffer is full)."""
        self._to_fw += data
        self._flush()

    def _flush(self) -> None:
        while self._to_fw:
            try:
                n = os.write(self.fw_master, self._to_fw)
            except (BlockingIOError, OSError):
                return
            if n <= 0:
                return
            del self._to_fw[:n]

    @staticmethod
    def _read(fd: int, limit: int) -> bytes:
        out = b""
        while len(out) < limit:
            try:
                chunk = os.read(fd, min(65536, limit - len(out)))
            except (BlockingIOError, OSError):
                return out
            if not chunk:
                return out
            out += chunk
        return out

    def close(self) -> None:
        for fd in (self.firmware_fd, self.fw_master, self._fw_slave, self.user_master,
                   self._user_slave):
            try:
                os.close(fd)
            except OSError:
                pass
