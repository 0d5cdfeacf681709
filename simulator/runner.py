"""Runs a scenario: the world model and the real firmware in lockstep virtual time.

Each tick the simulator computes the world with the outputs the firmware last
set, sends the tick, waits for the firmware to finish it, then collects what
the firmware wrote on its serial line. With `speed` set, ticks are paced
against the wall clock (1.0 = real time) so a person can watch on the pty.
"""
from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from simulator import link as lk
from simulator.firmware_proc import DEFAULT_HEAP, FirmwareProcess, provision
from simulator.models.frontend import firmware_keys, make_frontend
from simulator.models.power import HoldUp
from simulator.models.world import World
from simulator.scenario import Scenario
from simulator.score import FaultScore, alarm_records, expectations, score, switching
from simulator.serial_bridge import SerialBridge


class FirmwareCrash(RuntimeError):
    """The firmware cannot boot: every try ended in a crash."""


@dataclass
class Results:
    scenario: Scenario
    ticks: int = 0
    wall_s: float = 0.0
    boots: int = 0
    crashes: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)  # serial lines that were not JSON
    observable: dict[int, int] = field(default_factory=dict)
    faults: list[FaultScore] = field(default_factory=list)
    false_alarms: list[dict] = field(default_factory=list)
    wrong_switching: list[dict] = field(default_factory=list)  # switched when it should not
    expectations: list[dict] = field(default_factory=list)  # [expect] not_raised: rightly or not
    # per tick (t, relay, dim, V, I, P, PF, temp, mains): what the sensors saw, for baselines
    trace: list[tuple] = field(default_factory=list)

    def alarms(self) -> list[dict]:
        return [r for r in self.reports if r.get("ev") == "alarm"]

    def to_dict(self) -> dict:
        sc = self.scenario
        return {
            "scenario": sc.path,
            "post": vars(sc.post),
            "start": sc.start, "end": sc.end, "seed": sc.seed,
            "ticks": self.ticks, "wall_s": round(self.wall_s, 3), "boots": self.boots,
            "crashes": self.crashes,
            "faults": [f.to_dict() for f in self.faults],
            "false_alarms": self.false_alarms,
            "wrong_switching": self.wrong_switching,
            "expectations": self.expectations,
            "reports": self.reports,
            "serial_garbage": self.garbage,
        }


def firmware_config(sc: Scenario) -> dict:
    p = sc.post
    cfg = {"id": p.id, "lamp": p.lamp, "rated_w": p.rated_w, "lat": p.latitude,
           "lon": p.longitude, "sensor": p.sensor, **firmware_keys(sc)}
    if p.photocell:
        cfg["photocell"] = True  # fitted: the firmware reads tick flag bit 1
    if p.nominal_v != 230.0 or p.hz != 50:  # a 120 V / 60 Hz or 240 V post
        cfg["nominal_v"], cfg["hz"] = p.nominal_v, p.hz
    cfg.update(getattr(sc, "firmware", {}))  # the scenario's [firmware] config keys
    return cfg


class Simulation:
    """One post through one scenario. Open it, optionally attach to .serial_path, then run()."""

    def __init__(self, sc: Scenario, flash_dir: Path | None = None, heap: str = DEFAULT_HEAP,
                 speed: float | None = None, on_line: Callable[[int, bytes], None] | None = None,
                 hold: bool = False, broker: str | None = None, net_config: dict | None = None,
                 on_tick: Callable[[int], None] | None = None, watchdog_s: float | None = None):
        self.sc = sc
        self.hold = hold  # keep running past the scenario's end until stop()
        self._t = sc.start  # the tick being run: lines drained mid-tick are stamped with it
        self._stop = threading.Event()
        self.interrupted = False  # ended by Ctrl-C (cli.py), not by the scenario's end
        self.ready = threading.Event()  # set once the firmware has booted and ticks run
        self._tmp = None
        if flash_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lamppost-flash-")
            flash_dir = Path(self._tmp.name)
        self.flash_dir = Path(flash_dir)
        self.heap = heap
        self.watchdog_s = watchdog_s  # wall s without a frame: the board's watchdog resets it
        self.speed = speed
        self.on_line = on_line
        self.world = World(sc)
        self.power = HoldUp(sc.post.holdup_s)  # the board's hold-up capacitor
        self.frontend = make_frontend(sc)  # ideal | adc | cse7766 ([post] sensor)
        self.bridge = SerialBridge()
        self.results = Results(sc)
        if not (self.flash_dir / "config.json").exists():
            provision(self.flash_dir, firmware_config(sc))
        # MQTT over a network that can fail (simulator/netsim.py), when a broker is given
        self.on_tick = on_tick
        self.net = None
        if broker:
            from simulator.broker import parse_addr
            from simulator.netsim import NetSim
            self.net = NetSim(parse_addr(broker), sc.network)
            cfg_path = self.flash_dir / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg.update({"mqtt_host": "127.0.0.1", "mqtt_port": self.net.port}, **(net_config or {}))
            cfg_path.write_text(json.dumps(cfg))

    @property
    def serial_path(self) -> str:
        """The pty a serial tool opens to talk to the firmware."""
        return self.bridge.path

    def stop(self) -> None:
        """Ask run() (in another thread) to finish after the current tick."""
        self._stop.set()

    def _boot(self, cause: str = "power-on"):
        """Power the board on until the firmware asks for its first tick: (fw, kind, out).

        cause is the reset cause the firmware reads (FirmwareProcess). A boot
        that dies before that is recorded as a crash; three in a row raise
        FirmwareCrash with the interpreter's last words.
        """
        for _ in range(3):
            self.results.boots += 1
            fw = None
            kind = b""
            try:
                fw = FirmwareProcess(self.flash_dir, self.bridge.firmware_fd, self.heap,
                                     reset_cause=cause, watchdog_s=self.watchdog_s)
                fw.link.watch = self.bridge.fds  # serve the UART while waiting for the firmware
                fw.link.serve = self._serve
                kind, out = fw.link.recv()
                if kind == b"A":
                    return fw, kind, out
            except (lk.LinkClosed, BrokenPipeError, RuntimeError):
                pass
            cause = _crash_cause(kind)
            if fw is not None:
                fw.kill()
                self.results.crashes.append(fw.output()[-2000:])
            else:
                self.results.crashes.append("the firmware died before saying hello")
        raise FirmwareCrash("the firmware crashes at boot:\n" + self.results.crashes[-1])

    def _serve(self) -> None:
        """Drain the serial line while the firmware runs a tick (it may be writing a lot)."""
        self._collect(self._t, self.bridge.pump())

    def _collect(self, t: int, lines: list[bytes]) -> None:
        for raw in lines:
            raw = raw.rstrip(b"\r")
            if self.on_line:
                self.on_line(t, raw)
            try:
                rep = json.loads(raw)
            except ValueError:
                self.results.garbage.append(raw.decode(errors="replace"))
                continue
            if isinstance(rep, dict):
                self.results.reports.append(rep)

    def run(self) -> Results:
        sc, res = self.sc, self.results
        wall0 = time.monotonic()
        fw, kind, out = self._boot()
        t = self._t = sc.start
        try:
            self.ready.set()
            while (t < sc.end or self.hold) and not self._stop.is_set():
                if self.speed:
                    lag = (t - sc.start) / self.speed - (time.monotonic() - wall0)
                    if lag > 0:
                        time.sleep(lag)
                relay, dim = bool(out[0]), out[1]
                truth, visible = self.world.step(t, relay, dim)
                for f in visible:
                    res.observable.setdefault(sc.faults.index(f), t)
                flags = lk.F_MAINS if truth.mains else 0
                if truth.dark:
                    flags |= lk.F_DARK  # the photocell reads dark ([post] photocell)
                if self.net and self.net.link_up(t):
                    flags |= 4  # F_WIFI: associated
                fe = self.frontend.frame(truth)
                mains = self._mains(t, truth.mains)
                powered = self.power.step(mains)  # recharged whenever the mains is there
                res.trace.append((t, int(relay), dim, truth.v if mains else 0.0, truth.i if mains else 0.0,
                                  truth.p if mains else 0.0, truth.pf if mains else 0.0, truth.temp,
                                  int(mains)))
                if not mains or fw is None:
                    fw, kind, out = self._holdup(fw, t, mains, powered, truth.temp, fe)
                    t += 1
                    res.ticks += 1
                    continue
                self._t = t
                try:
                    fw.link.send_tick(t, flags, truth.temp, fe)
                    kind, out = fw.link.recv()
                except (lk.LinkClosed, BrokenPipeError):
                    kind, out = b"", b""
                if self.net:
                    self.net.pump(t)
                self._collect(t, self.bridge.pump())
                if self.on_tick:
                    self.on_tick(t)
                res.ticks += 1
                t += 1
                if kind != b"A":  # crashed or asked for a reset: reboot like a board would
                    fw.kill()
                    if kind != b"X" or out[:1] != b"\x00":  # X 1: reset after an exception
                        res.crashes.append(fw.output()[-2000:])
                    fw, kind, out = self._boot(_crash_cause(kind))
        finally:
            if fw is not None:
                fw.kill()
            if self.net:
                self.net.close()
            for _ in range(3):  # the pty may hand over the last bytes a moment later
                time.sleep(0.01)
                self._collect(t, self.bridge.pump())
            self.bridge.close()
            res.wall_s = time.monotonic() - wall0
        records = alarm_records(res.reports)
        res.faults, false = score(sc.faults, res.observable, records, sc.end)
        res.false_alarms = false
        res.wrong_switching = switching(sc, res.trace)
        res.expectations = expectations(sc, records)
        return res

    def _mains(self, t: int, mains: bool) -> bool:
        """False while the world's supply or an injected mains_loss fault cuts the mains."""
        for k, f in enumerate(self.sc.faults):
            if f.kind == "mains_loss" and f.at <= t and (f.until is None or t < f.until):
                self.results.observable.setdefault(k, t)
                return False
        return mains

    def _holdup(self, fw, t: int, mains: bool, powered: bool, temp: float, fe: bytes):
        """One tick of a mains interruption: (fw, kind, out) afterwards.

        While the hold-up capacitor lasts (self.power) the firmware keeps running
        and sees flags bit 0 = 0 (it may send a last-gasp report); then the power
        is cut (the process is killed). When the mains returns the board boots again.
        """
        kind, out = b"A", b"\x00\x64"
        self._t = t
        if mains:  # power is back: boot
            fw, kind, out = self._boot()
            return fw, kind, out
        if fw is not None and powered:
            try:
                fw.link.send_tick(t, 0, temp, fe)  # the world's own zero-volt frame
                kind, out = fw.link.recv()
            except (lk.LinkClosed, BrokenPipeError):
                kind = b""
            self._collect(t, self.bridge.pump())
            if kind == b"A":
                return fw, kind, out
        if fw is not None:  # the capacitor is empty: power off
            fw.kill()
            self._collect(t, self.bridge.pump())
        return None, b"A", b"\x00\x64"

    def close(self) -> None:
        if self._tmp:
            self._tmp.cleanup()


def _crash_cause(kind: bytes) -> str:
    """The reset cause after a boot that ended without the mains going: machine.reset()
    (an "X" frame: Reboot, or an exception) reads "software", a silent death "watchdog"."""
    return "software" if kind == b"X" else "watchdog"
