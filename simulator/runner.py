"""Runs a scenario: the world model and the real firmware in lockstep virtual time.

Each tick the simulator computes the world with the outputs the firmware last
set, sends the tick, waits for the firmware to finish it, then collects what
the firmware wrote on its serial line. By default, in a plain run (no network, no
callback, no pacing: corpus, tests, bench), up to `depth` ticks are in flight: each
computed on the outputs last seen (they change a few times a day) and naming them, so the
firmware drops those that assumed wrong (simulator/link.py) and the world is undone and
computed again from there (Simulation._pipeline); a watched run computes only the next
tick while the firmware runs this one. Either way the results are lockstep's. With `speed`
set, ticks are paced against the wall clock (1.0 = real time, simulator/clock.py) so a
person can watch on the pty. The board (power, boots, the link) is simulator/board.py.
"""
from __future__ import annotations

import json
import pickle
import tempfile
import threading
import time
from collections import deque
from time import perf_counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from simulator import link as lk
from simulator.board import Board, FirmwareCrash  # noqa: F401 (FirmwareCrash: re-exported)
from simulator.clock import clock_for
from simulator.firmware_proc import DEFAULT_HEAP, provision
from simulator.models.frontend import firmware_keys, make_frontend
from simulator.models.world import World
from simulator.scenario_types import Scenario
from simulator.score import FaultScore, alarm_records, judge


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


def mark_state(obj) -> bytes:
    """Everything of a front end's that frame() may change, to go back to (restore_state):
    its attributes pickled whole, generators, blocks of draws and iterators included
    (about 25 us, 60 for the ADC's window; a deep copy took a millisecond)."""
    return pickle.dumps(vars(obj), pickle.HIGHEST_PROTOCOL)


def restore_state(obj, mark: bytes) -> None:
    """Back to a mark_state(obj), in place (whoever holds obj or its bound methods keeps
    them); the mark stays usable."""
    own = vars(obj)
    own.clear()
    own.update(pickle.loads(mark))


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
    """One post through one scenario. Open it, optionally attach to .serial_path, then run().

    The layers: the world (simulator/models/world.py) computes the truth with the outputs the
    firmware last set; the board (simulator/board.py) carries it to the firmware and back;
    the clock (simulator/clock.py) paces it or not; observe() returns what happened, raw,
    and run() adds the score (simulator/score.py judge)."""

    # the per-tick trace (Results.trace: baselines, wrong switching); a town turns it off:
    # ~300 bytes a post-second is gigabytes for 50 posts over a week
    keep_trace = True
    # a T frame's write that takes longer than this came back only after the firmware ran its
    # tick on this core (observe: then no tick is computed ahead); a write alone takes a few us
    preempted_s = 15e-6
    # T frames in flight at once in a plain run (Simulation._pipeline; 1: lockstep), and the
    # bytes of frames written but not yet read by the firmware at most: below a pipe's
    # 64 KiB, so a write never blocks (the ADC's 1.6 KB frames allow about 30)
    depth = 32
    pipe_bytes = 48 * 1024
    write_batch = 1  # frames a write takes at least (more after a preempted write: _pipeline)
    mark_every = 64  # ticks between the pipeline's marks of the world and front end (an undo replays from one)

    def __init__(self, sc: Scenario, flash_dir: Path | None = None, heap: str = DEFAULT_HEAP,
                 speed: float | None = None, on_line: Callable[[int, bytes], None] | None = None,
                 hold: bool = False, broker: str | None = None, net_config: dict | None = None,
                 on_tick: Callable[[int], None] | None = None, wall_sessions: bool = False,
                 ahead: bool = True, watchdog_s: float | None = None, depth: int | None = None):
        self.sc = sc
        # console logins and lockouts on wall seconds (lamppost-sim run --console): a person's
        # 600 s login must not end in one wall second of a --speed 600 run
        self.wall_sessions = wall_sessions
        self.hold = hold  # keep running past the scenario's end until stop()
        self._t = sc.start  # the tick being run: lines drained mid-tick are stamped with it
        self._stop = threading.Event()
        self.interrupted = False  # ended by Ctrl-C (testbed/cli.py), not by the scenario's end
        self.ready = threading.Event()  # set once the firmware has booted and ticks run
        self._tmp = None
        if flash_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lamppost-flash-")
            flash_dir = Path(self._tmp.name)
        self.flash_dir = Path(flash_dir)
        self.heap = heap
        self.watchdog_s = watchdog_s  # wall s without a frame: the board's watchdog resets it
        self.speed = speed
        self.clock = clock_for(speed)
        # compute the next tick (world, front end, T frame) while the firmware runs this one,
        # assuming the outputs stay (they change a few times a day); undone and redone when
        # they do not, with the same result (tests/test_world_twins.py). ahead=False: each tick
        # computed only once the firmware's outputs are in (bench/bench_lockstep.py times both)
        self.speculate = ahead
        if depth is not None:
            self.depth = depth
        self.on_line = on_line
        self.world = World(sc)
        self._cuts = [(k, f) for k, f in enumerate(sc.faults) if f.kind == "mains_loss"]  # _mains
        self.frontend = make_frontend(sc)  # ideal | adc | cse7766 ([post] sensor)
        self.board = Board(self.flash_dir, heap, sc.post.holdup_s, self._collect, wall_sessions,
                           watchdog_s)
        self.results = Results(sc)
        if not (self.flash_dir / "config.json").exists():
            provision(self.flash_dir, firmware_config(sc))
        # MQTT over a network that can fail (simulator/netproxy.py), when a broker is given
        self.on_tick = on_tick
        self.net = None
        if broker:
            from lamppost_common.addr import parse_addr
            from simulator.netproxy import NetSim
            self.net = NetSim(parse_addr(broker), sc.network)
            cfg_path = self.flash_dir / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg.update({"mqtt_host": "127.0.0.1", "mqtt_port": self.net.port}, **(net_config or {}))
            cfg_path.write_text(json.dumps(cfg))

    @property
    def bridge(self):
        """The UART's pty pair (simulator/serial_bridge.py)."""
        return self.board.bridge

    @property
    def serial_path(self) -> str:
        """The pty a serial tool opens to talk to the firmware."""
        return self.bridge.path

    def stop(self) -> None:
        """Ask run() (in another thread) to finish after the current tick."""
        self._stop.set()

    def _collect(self, lines: list[bytes]) -> None:
        """Serial lines from the board, stamped with the tick being run."""
        t = self._t
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
        """observe(), then the score of what was observed."""
        res = self.observe()
        v = judge(self.sc, res.observable, alarm_records(res.reports), res.trace)
        res.faults, res.false_alarms = v.faults, v.false_alarms
        res.wrong_switching, res.expectations = v.wrong_switching, v.expectations
        return res

    def observe(self) -> Results:
        """Run the scenario; the raw observations (reports, trace, visibility, boots, crashes)."""
        sc, res, board = self.sc, self.results, self.board
        world, frontend = self.world, self.frontend
        res.crashes = board.crashes
        self.clock.start(sc.start)
        try:
            board.boot()
        finally:
            res.boots = board.boots
        t = self._t = sc.start
        index = {id(f): sc.faults.index(f) for f in sc.faults}  # a visible fault's number
        # a front end whose draws do not depend on the truth frames the next tick ahead too
        reframe = getattr(frontend, "reframe", None)
        # the next tick, computed while the firmware runs this one:
        # (t, relay, dim, world snapshot, truth, visible, front-end bytes or None, T frame or None)
        ahead = None
        try:
            self.ready.set()
            if self.pipelined:
                t = self._pipeline(t, index)
            while (t < sc.end or self.hold) and not self._stop.is_set() and not self.pipelined:
                self.clock.pace(t)
                relay, dim = board.outputs
                frame = None
                if ahead is not None and ahead[0] == t and ahead[1] == relay and ahead[2] == dim:
                    _, _, _, _, truth, visible, fe, frame = ahead
                    if fe is None:
                        fe = frontend.frame(truth)
                elif ahead is not None and ahead[0] == t:  # the outputs changed: undo, step again
                    world.restore(ahead[3])
                    truth, visible = world.step(t, relay, dim)
                    fe = frontend.frame(truth) if ahead[6] is None else reframe(truth)
                else:
                    truth, visible = world.step(t, relay, dim)
                    fe = frontend.frame(truth)
                ahead = None
                mains, powered = self._settle(t, truth, visible, index)
                if not mains or not board.on:
                    self._off_tick(t, relay, dim, truth, mains, powered, fe)
                    t += 1
                    continue
                self._t = t
                if frame is None:
                    # the photocell reads dark ([post] photocell); WiFi associated (netproxy)
                    flags = lk.tick_flags(True, truth.dark, bool(self.net and self.net.link_up(t)))
                    frame = lk.tick_frame(t, flags, truth.temp, fe, relay, dim)
                sent = perf_counter()
                board.send_frame(frame)
                # the firmware runs tick t: meanwhile the record of t and the world's t + 1.
                # Not ahead when the write came back only after the firmware had run: woken on
                # this core (the other one busy), it took the core at once, its answer is in
                # and a tick computed ahead would only add its snapshot
                alone = perf_counter() - sent < self.preempted_s
                if self.keep_trace:
                    self._trace(t, relay, dim, truth, mains)
                if self.speculate and alone and (t + 1 < sc.end or self.hold):
                    ahead = self._ahead(t + 1, relay, dim, reframe is not None)
                kind = board.receive()
                if self.net:
                    self.net.pump(t)
                if self.on_tick or self.on_line or self.speed:
                    # someone watches the line or waits on the tick: its lines now. Else what
                    # the firmware wrote is taken while waiting for its next frame (Link._wait)
                    board.drain()
                if self.on_tick:
                    self.on_tick(t)
                res.ticks += 1
                t += 1
                if kind != lk.OUTPUTS:  # crashed or asked for a reset: reboot like a board would
                    board.restart()
                    res.boots = board.boots
        finally:
            board.power_off()
            if self.net:
                self.net.close()
            self._t = t
            for _ in range(3):  # the pty may hand over the last bytes a moment later
                time.sleep(0.01)
                board.drain()
            board.close()
            res.boots = board.boots
            res.wall_s = self.clock.wall_s()
        return res

    @property
    def pipelined(self) -> bool:
        """Ticks in flight (_pipeline): a plain run. Whoever watches the line, waits on a tick,
        paces the clock, types on the console or pumps a network gets one tick at a time."""
        return (self.speculate and self.depth > 1 and not (self.on_line or self.on_tick or self.speed
                or self.hold or self.net or self.wall_sessions))

    def _pipeline(self, t: int, index: dict) -> int:
        """Run ticks t.. to the scenario's end with up to `depth` T frames in flight; returns
        the end. The results are lockstep's, tick for tick:

        - tick u is computed on the outputs last seen (board.outputs) and its frame names
          them; the firmware runs it only on those outputs and as its next tick
          (firmware/hal/host.py), else drops it unanswered;
        - what a tick does to the run (visible faults, the capacitor, the trace, the count)
          is done when the firmware answers it (A with its t), in tick order;
        - an answer with other outputs than the ticks after it assumed: the frames in flight
          are void (the firmware drops them) and the world goes back to the tick after it
          (_undo) and is computed again on the new outputs; the same after a crash or reset
          (X or silence: the tick counted, the board rebooted, as in lockstep);
        - a tick without mains (or with the firmware off: boot) is held until every frame
          before it is answered, then run as lockstep runs it (_holdup).
        The supply is drawn once per t (a memo on its step), so a tick computed again sees
        the same draw; the world and front end are marked every `mark_every` ticks, and an
        undo goes back to the last mark and replays to the tick on the outputs each tick had."""
        sc, res, board, world = self.sc, self.results, self.board, self.world
        end, depth, cap, cuts = sc.end, self.depth, self.pipe_bytes, self._cuts
        every = max(depth, self.mark_every)
        supply = world.supply
        draws: dict[int, tuple] = {}
        draw = supply.step

        def memo_step(u: int) -> tuple:
            got = draws.get(u)
            if got is None:
                got = draws[u] = draw(u)
            return got
        supply.step = memo_step
        flight: deque = deque()  # sent, unanswered: (u, relay, dim, truth, visible, fe, end offset)
        held = None  # a computed tick that waits for the flight to empty (no mains, no firmware)
        used: dict[int, tuple[bool, int]] = {}  # the outputs each tick since the first mark was computed on
        self._marks = marks = [(t, world.snapshot(), mark_state(self.frontend))]
        u = t  # the next tick to compute; t: the next to commit
        sent = done = 0  # bytes for the link; of those, read by the firmware (answered)
        # frames computed, written together once there are `batch` of them (or before a wait
        # for an answer; answers there already are taken without writing):
        # 1 while writes come back at once (the firmware on the other core); doubled up to
        # depth / 2 after a write that came back only after the firmware had run on this core
        # (the other one busy: a wake-up per frame would cost two context switches a tick)
        pend: list[bytes] = []
        least = batch = max(1, min(self.write_batch, depth))
        most, slow = max(least, depth // 2), self.preempted_s

        def flush() -> None:
            nonlocal batch
            data = pend[0] if len(pend) == 1 else b"".join(pend)
            pend.clear()
            began = perf_counter()
            board.send_frame(data)  # a dead firmware shows in the next read
            if perf_counter() - began > slow:
                batch = min(most, 2 * batch)
            elif batch > least:
                batch //= 2
        step, frame_of, tick_frame, stop = world.step, self.frontend.frame, lk.tick_frame, self._stop
        dark_flags = (lk.tick_flags(True, False), lk.tick_flags(True, True))
        try:
            while True:
                if held is None and u < end and len(flight) < depth and sent - done < cap \
                        and not stop.is_set():
                    if u - marks[-1][0] >= every:
                        marks.append((u, world.snapshot(), mark_state(self.frontend)))
                    relay, dim = outputs = board.outputs
                    truth, visible = step(u, relay, dim)
                    fe = frame_of(truth)
                    used[u] = outputs
                    if truth.mains and board.on and not (cuts and any(f.active(u) for _, f in cuts)):
                        frame = tick_frame(u, dark_flags[truth.dark], truth.temp, fe, relay, dim)
                        pend.append(frame)
                        sent += len(frame)
                        flight.append((u, relay, dim, truth, visible, fe, sent))
                        if len(pend) >= batch:
                            flush()
                    else:
                        held = (u, relay, dim, truth, visible, fe, 0)
                    u += 1
                    continue
                if flight:
                    if pend and not board.fw.link.ready():
                        flush()  # before waiting on an answer: the firmware has these to run
                    rec = flight[0]
                    self._t = rec[0]  # lines drained while waiting: nothing reads their stamp here
                    kind = board.answer()
                    if kind == lk.OUTPUTS and board.answered != rec[0]:
                        raise RuntimeError(f"the firmware answered tick {board.answered}, not {rec[0]}")
                    flight.popleft()
                    done = rec[6]
                    self._commit(rec, index)
                    t = rec[0] + 1
                    if kind != lk.OUTPUTS:  # crashed or asked for a reset: reboot like a board would
                        board.restart()
                        res.boots = board.boots
                        done = sent  # what the old firmware left unread went with its pipe
                    nxt = flight[0] if flight else held
                    if kind != lk.OUTPUTS or (nxt is not None and (nxt[1], nxt[2]) != board.outputs):
                        flight.clear()  # void: the firmware drops them (or is gone)
                        pend.clear()  # never written: a rebooted firmware takes any t first
                        held = None
                        u = t
                        self._undo(t, used)
                    if len(marks) > 1 and marks[1][0] <= t:
                        self._forget(t, used, draws)
                    continue
                if held is not None and not self._stop.is_set():
                    rec, held = held, None
                    u_, relay, dim, truth, visible, fe, _ = rec
                    mains, powered = self._settle(u_, truth, visible, index)
                    self._off_tick(u_, relay, dim, truth, mains, powered, fe)
                    t = u_ + 1
                    if len(marks) > 1 and marks[1][0] <= t:
                        self._forget(t, used, draws)
                    continue
                return t
        finally:
            del supply.step  # the class's again

    def _commit(self, rec: tuple, index: dict) -> None:
        """What a tick the firmware ran does to the run, as lockstep does it (it was sent
        only with the mains there and no cut active)."""
        u, relay, dim, truth, visible = rec[:5]
        self._settle(u, truth, visible, index)
        if self.keep_trace:
            self._trace(u, relay, dim, truth, True)
        self.results.ticks += 1

    def _settle(self, t: int, truth, visible: list, index: dict) -> tuple[bool, bool]:
        """What every tick does before the firmware sees it: the faults now visible noted,
        the mains (the world's supply and injected cuts) and the hold-up capacitor, which
        recharges whenever the mains is there. Returns (mains, capacitor still powering)."""
        observable = self.results.observable
        for f in visible:
            observable.setdefault(index[id(f)], t)
        mains = self._mains(t, truth.mains) if self._cuts else truth.mains
        return mains, self.board.power.step(mains)

    def _off_tick(self, t: int, relay: bool, dim: int, truth, mains: bool, powered: bool,
                  fe: bytes) -> None:
        """A tick without mains or without a running firmware: traced, then the hold-up or
        the boot (_holdup), counted."""
        if self.keep_trace:
            self._trace(t, relay, dim, truth, mains)
        self._holdup(t, mains, powered, truth.temp, fe)
        self.results.boots = self.board.boots
        self.results.ticks += 1

    def _undo(self, t: int, used: dict) -> None:
        """The world and front end back to before tick t: the last mark at or before it, then
        its ticks again on the outputs they had (the supply's draws are kept)."""
        marks = self._marks
        while marks[-1][0] > t:
            marks.pop()
        c, snap, fe = marks[-1]
        world, frontend = self.world, self.frontend
        world.restore(snap)
        restore_state(frontend, fe)
        for v in range(c, t):
            frontend.frame(world.step(v, *used[v])[0])

    def _forget(self, t: int, used: dict, draws: dict) -> None:
        """Drop the marks no undo can go back to (every undo goes to a tick at or after t,
        the next the firmware runs), and the outputs and draws only they needed."""
        marks = self._marks
        while len(marks) > 1 and marks[1][0] <= t:
            gone = marks.pop(0)[0]
            for v in range(gone, marks[0][0]):
                used.pop(v, None)
                draws.pop(v, None)

    def _ahead(self, t: int, relay: bool, dim: int, framed: bool) -> tuple:
        """Tick t worked out on the outputs the firmware has now (they change a few times a
        day), undoable: the world's snapshot before it, its truth and visible faults, and
        with a front end that can frame it again (reframe) its bytes and, without a network
        whose link state the flags carry, the whole T frame."""
        world = self.world
        snap = world.snapshot()
        truth, visible = world.step(t, relay, dim)
        fe = frame = None
        if framed:
            fe = self.frontend.frame(truth)
            if self.net is None:
                frame = lk.tick_frame(t, lk.tick_flags(True, truth.dark), truth.temp, fe, relay, dim)
        return (t, relay, dim, snap, truth, visible, fe, frame)

    def _trace(self, t: int, relay: bool, dim: int, truth, mains: bool) -> None:
        """What the sensors saw at t (Results.trace)."""
        if mains:
            self.results.trace.append((t, int(relay), dim, truth.v, truth.i, truth.p, truth.pf,
                                       truth.temp, 1))
        else:
            self.results.trace.append((t, int(relay), dim, 0.0, 0.0, 0.0, 0.0, truth.temp, 0))

    def _mains(self, t: int, mains: bool) -> bool:
        """False while the world's supply or an injected mains_loss fault cuts the mains."""
        for k, f in self._cuts:
            if f.active(t):
                self.results.observable.setdefault(k, t)
                return False
        return mains

    def _holdup(self, t: int, mains: bool, powered: bool, temp: float, fe: bytes) -> None:
        """One tick of a mains interruption.

        While the hold-up capacitor lasts (board.power) the firmware keeps running
        and sees flags bit 0 = 0 (it may send a last-gasp report); then the power
        is cut (the process is killed). When the mains returns the board boots again.
        """
        board = self.board
        self._t = t
        if mains:  # power is back: boot
            board.boot()
            return
        if board.on and powered:
            kind = board.exchange(t, 0, temp, fe)  # the world's own zero-volt frame
            board.drain()
            if kind == lk.OUTPUTS:
                return
        self._power_cut()

    def _power_cut(self) -> None:
        """The capacitor is empty: the firmware stops; what it wrote before is collected."""
        if self.board.on:
            self.board.power_off()
            self.board.drain()
        self.board.power_off()

    def close(self) -> None:
        if self._tmp:
            self._tmp.cleanup()
