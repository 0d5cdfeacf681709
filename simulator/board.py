"""The post's controller board as the simulator sees it: power (the hold-up capacitor),
boots and crashes, the kill that is a power cut, the lockstep link and the UART.

The runner (simulator/runner.py) decides what the world does; the board turns that into
what a real board would: the firmware process started with a reset cause, a tick
exchanged over the link, a crash recorded and the board rebooted, the power cut when the
capacitor is empty. Serial lines the firmware writes go to `sink` as they arrive.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from simulator import link as lk
from simulator.firmware_proc import DEFAULT_HEAP, FirmwareProcess
from simulator.models.power import HoldUp
from simulator.serial_bridge import SerialBridge

IDLE = lk.outputs_payload(None, False, 100)  # the outputs of a board without power: relay off, dim 100
BOOT_TRIES = 3  # boots in a row that may die before the firmware asks for its first tick


class FirmwareCrash(RuntimeError):
    """The firmware cannot boot: every try ended in a crash."""


class Board:
    """One controller board. `outputs` is (relay, dim) as the firmware last set them."""

    def __init__(self, flash_dir: Path, heap: str = DEFAULT_HEAP, holdup_s: float = 2.0,
                 sink: Callable[[list[bytes]], None] | None = None, wall_sessions: bool = False,
                 watchdog_s: float | None = None):
        self.flash_dir = flash_dir
        # console logins and lockouts on wall seconds (lamppost-sim run --console; firmware_proc.py)
        self.wall_sessions = wall_sessions
        self.watchdog_s = watchdog_s  # wall s without a frame: the board's watchdog resets it
        self.heap = heap
        self.power = HoldUp(holdup_s)  # the hold-up capacitor
        self.bridge = SerialBridge()
        self.sink = sink or (lambda lines: None)
        self.fw: FirmwareProcess | None = None
        self.out = IDLE  # payload of the last A frame
        self.last: tuple[bytes, bytes] = (b"", b"")  # kind and payload of the last frame in
        self.boots = 0
        self.crashes: list[str] = []

    @property
    def on(self) -> bool:
        return self.fw is not None

    @property
    def out(self) -> bytes:
        """The payload of the last A frame (IDLE without power)."""
        return self._out

    @out.setter
    def out(self, payload: bytes) -> None:
        self._out = payload
        t, relay, dim = lk.read_outputs(payload)
        self.answered = t  # the tick the firmware ran last (None: none yet)
        self.outputs = (relay, dim)  # as the firmware last set them

    def watch(self) -> tuple[list[int], list[int]]:
        """The UART's fds with work for drain() (SerialBridge.fds), for the link's wait."""
        return self.bridge.fds()

    def drain(self) -> None:
        """Hand what the firmware wrote on its UART to the sink."""
        self.sink(self.bridge.pump())

    def boot(self, cause: str = "power-on") -> None:
        """Power on until the firmware asks for its first tick. cause is the reset cause the
        firmware reads (FirmwareProcess). A boot that dies before that is a crash; BOOT_TRIES
        in a row raise FirmwareCrash with the interpreter's last words."""
        for _ in range(BOOT_TRIES):
            self.boots += 1
            fw = None
            kind = b""
            try:
                fw = FirmwareProcess(self.flash_dir, self.bridge.firmware_fd, self.heap, reset_cause=cause,
                                     wall_sessions=self.wall_sessions, watchdog_s=self.watchdog_s)
                fw.link.watch = self.watch  # serve the UART while waiting for the firmware
                fw.link.serve = self.drain
                kind, out = fw.link.recv()
                if kind == lk.OUTPUTS:
                    self.fw, self.out = fw, out
                    return
            except (lk.LinkClosed, BrokenPipeError, RuntimeError):
                pass
            cause = crash_cause(kind)
            if fw is not None:
                fw.kill()
                self.crashes.append(fw.output()[-2000:])
            else:
                self.crashes.append("the firmware died before saying hello")
        raise FirmwareCrash("the firmware crashes at boot:\n" + self.crashes[-1])

    def exchange(self, t: int, flags: int, temp: float, frontend: bytes) -> bytes:
        """One tick over the link: T out, the firmware's answer in (its kind; b"" if the
        process went away). An A frame's outputs become `outputs`."""
        self.send(t, flags, temp, frontend)
        return self.receive()

    def send(self, t: int, flags: int, temp: float, frontend: bytes) -> None:
        """The tick's T frame, on the outputs the firmware last set; it runs the tick until
        receive()."""
        self.send_frame(lk.tick_frame(t, flags, temp, frontend, *self.outputs))

    def send_frame(self, frame: bytes) -> None:
        """A T frame packed already (link.tick_frame): one write."""
        assert self.fw is not None
        self._sent = True
        try:
            self.fw.link.send(frame)
        except (lk.LinkClosed, BrokenPipeError):
            self._sent = False

    def receive(self) -> bytes:
        """The firmware's answer to the last send(): its kind (b"" if the process went away)."""
        assert self.fw is not None
        if not self._sent:
            self.last = (b"", b"")
            return b""
        return self.answer()

    def answer(self) -> bytes:
        """The firmware's next frame: its kind (b"" if the process went away). An A frame's
        outputs become `outputs`; the frame stays in `last`."""
        assert self.fw is not None
        try:
            kind, out = self.fw.link.recv()
        except (lk.LinkClosed, BrokenPipeError):
            kind, out = b"", b""
        self.last = (kind, out)
        if kind == lk.OUTPUTS:
            self.out = out
        return kind

    def restart(self) -> None:
        """The firmware ended a tick without asking for the next (a crash, or X: a reset it
        asked for): kill it and boot again, as a board's reset would. X 0 is deliberate."""
        assert self.fw is not None
        fw, self.fw = self.fw, None
        fw.kill()
        kind, payload = self.last
        if kind != lk.RESET or payload[:1] != b"\x00":  # X 1: reset after an exception
            self.crashes.append(fw.output()[-2000:])
        self.boot(crash_cause(kind))

    def power_off(self) -> None:
        """The capacitor is empty: the firmware stops where it is (no goodbye, no flush)."""
        if self.fw is not None:
            self.fw.kill()
            self.fw = None
        self.out = IDLE

    def close(self) -> None:
        """Power off and close the UART."""
        self.power_off()
        self.bridge.close()


def crash_cause(kind: bytes) -> str:
    """The reset cause after a boot that ended without the mains going: machine.reset()
    (an "X" frame: Reboot, or an exception) reads "software", a silent death "watchdog"."""
    return "software" if kind == lk.RESET else "watchdog"
