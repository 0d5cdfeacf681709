"""The post's serial line: a pty the firmware uses as its UART, bridged to a pty for people.

The firmware opens the slave of pty A as its UART. The simulator holds master
A, snoops every byte the firmware writes (so reports are timestamped in
virtual time) and forwards them to pty B, whose slave path any serial tool
(pyserial, miniterm, lampctl) can open; what that tool types goes back to the
firmware. Like a USB-serial adapter with nobody listening, bytes that find no
room are dropped rather than stalling the firmware.
"""
from __future__ import annotations

import os
import termios
import tty


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
        self._partial = b""
        self.dropped = 0

    def pump(self) -> list[bytes]:
        """Move bytes both ways; return the complete lines the firmware wrote."""
        data = self._read(self.fw_master)
        lines = []
        if data:
            try:
                os.write(self.user_master, data)
            except BlockingIOError:
                self.dropped += len(data)
            buf = self._partial + data
            *lines, self._partial = buf.split(b"\n")
        typed = self._read(self.user_master)
        if typed:
            os.write(self.fw_master, typed)
        return lines

    def send_to_firmware(self, data: bytes) -> None:
        os.write(self.fw_master, data)

    @staticmethod
    def _read(fd: int) -> bytes:
        out = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        for fd in (self.fw_master, self._fw_slave, self.user_master, self._user_slave):
            try:
                os.close(fd)
            except OSError:
                pass
