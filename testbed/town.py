"""A town: many posts, each its own firmware process, on ONE virtual clock, feeding the
operations service over MQTT. Reference: docs/town.md.

Each post is a simulator.runner.Simulation run in its own thread (the firmware
processes then use both cores); at the end of every tick each waits on one barrier,
so no post runs a second ahead of another, and the barrier's action (one thread, all
posts stopped) is the service's clock: every ROUND_S simulated seconds the work-order
engine judges and dispatches, and the demo crew repairs at the fault's `until`.
Posts on one cabinet share its supply: each draws the cabinet's voltage sequence (one
seed per cabinet); a cabinet fault is injected into every post on it.
"""
from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulator import link as lk
from simulator.firmware_proc import DEFAULT_HEAP
from simulator.models.supply import Supply
from simulator.runner import Results, Simulation
from simulator.scenario import CAUSES
from simulator.town_scenario import CABINET_CAUSES, Town, TownFault

ROUND_S = 900  # simulated seconds between the service's judging rounds (as host_tools/ops/demo.py)
QUANTUM_S = 60  # posts meet at the barrier every this many simulated seconds (1: every tick)


def expected_class(f: TownFault) -> str | None:
    """The order class a fault should become (None: the service has no class for it)."""
    from host_tools.ops.config import FAULT_CLASS
    alarms = CAUSES[CABINET_CAUSES.get(f.kind, f.kind)]
    if "relayFailure" in alarms:
        return "relay"  # the engine folds a relay fault's lamp/dayburning alarms into one relay order
    return FAULT_CLASS.get(alarms[0])


class _Member(Simulation):
    """One post of the town: a Simulation whose every tick ends at the town's barrier."""

    keep_trace = False  # the town judges orders, not switching: no per-tick trace

    def __init__(self, town_sim: TownSim, sc, flash_dir, heap, broker, cabinet_seed):
        self.town_sim = town_sim
        super().__init__(sc, flash_dir=flash_dir, heap=heap, broker=broker, on_tick=self._tick)
        self.world.supply = Supply(cabinet_seed, sc.supply)  # the cabinet's voltage, shared

    def _tick(self, t: int) -> None:
        ts = self.town_sim
        if (t - ts.town.start) % ts.quantum == 0:
            ts.now = t
            ts.barrier.wait()

    def _holdup(self, t, mains, powered, temp, fe):
        """runner.Simulation._holdup, with the radio on while the capacitor lasts (a board's
        WiFi runs on it too) and the network pumped, so a last gasp reaches the broker."""
        board = self.board
        if mains or not board.on or not powered:
            super()._holdup(t, mains, powered, temp, fe)
        else:
            self._t = t
            kind = board.exchange(t, lk.tick_flags(mains=False, wifi=bool(self.net and self.net.link_up(t))),
                                  temp, fe)
            if self.net:
                self.net.pump(t)
            board.drain()
            if kind != lk.OUTPUTS:
                self._power_cut()  # the capacitor is empty
        self._tick(t)  # a post without mains still keeps the town's clock


@dataclass
class FaultRow:
    """One fault of the town and what the service made of it."""
    fault: TownFault
    where: str  # "post T-0001" | "cabinet C1"
    posts: list[str]
    expected: str | None
    visible_at: int | None = None
    orders: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exactly one order, in the expected class's category (lamp and relay orders share
        theirs: a post without relay sensing reports an open relay as a dead lamp)."""
        from host_tools.ops.config import CATEGORIES
        return (len(self.orders) == 1 and self.expected is not None
                and self.orders[0]["category"] == CATEGORIES[self.expected])


@dataclass
class TownResults:
    town: Town
    results: dict[str, Results]
    faults: list[FaultRow]
    stray: list[dict]  # orders that match no fault of the town
    orders: list[dict]
    wall_s: float
    errors: list[str]

    def ratio(self) -> tuple[int, int]:
        return sum(r.ok for r in self.faults), len(self.faults)


class TownSim:
    """Runs a Town with the operations service; run() -> TownResults."""

    def __init__(self, town: Town, heap: str = DEFAULT_HEAP, broker: str | None = None,
                 quantum: int = QUANTUM_S):
        from host_tools.ops.demo import VirtualService
        from testbed.mqtt_session import MqttSession
        self.town = town
        self.now = town.start
        if not 1 <= quantum <= ROUND_S or ROUND_S % quantum:
            raise ValueError(f"quantum {quantum} s must divide the service's round of {ROUND_S} s")
        self.quantum = quantum
        self.dir = tempfile.TemporaryDirectory(prefix="lamppost-town-")
        d = Path(self.dir.name)
        self.mq = MqttSession(broker)
        rows = ["id,municipality,street,light_point,cabinet,contractor,lat,lon"]
        for n, tp in enumerate(town.posts, 1):
            p = tp.scenario.post
            rows.append(f"{p.id},town,Street {tp.cabinet},LP-{n:04d},{tp.cabinet},crew,"
                        f"{p.latitude},{p.longitude}")
        self.svc = VirtualService(d, "\n".join(rows) + "\n", "town", "crew", lambda: float(self.now))
        self.engine, self.contractor = self.svc.engine, self.svc.contractor
        collect = self.mq.reg.handle
        self.mq.reg.handle = lambda topic, payload: (collect(topic, payload), self.svc.handle(topic, payload))
        self.barrier = threading.Barrier(len(town.posts), action=self._round)
        self.errors: list[str] = []
        cab_seed = {c: (town.seed * 1_000_003 + k) % 2**32 for k, c in enumerate(sorted(town.cabinets))}
        self.members = [_Member(self, tp.scenario, d / f"flash-{tp.id}", heap, self.mq.addr,
                                cab_seed[tp.cabinet]) for tp in town.posts]

    def _round(self) -> None:
        """The barrier's action: every post has finished tick `now`."""
        if (self.now - self.town.start) % ROUND_S == 0:
            self.svc.round(self.now, self._repair_time, "crew")

    def _matches(self, f: TownFault, posts: list[str], o: dict) -> bool:
        """The order holds an alarm of one of the fault's posts raised while the fault lasted."""
        end = f.until if f.until is not None else self.town.end
        pairs = o.get("alarm_times") or [(p, o["first_t"]) for p in o["posts"]]
        return any(p in posts and f.at - 60 <= t <= end for p, t in pairs)

    def _fault_posts(self, f: TownFault) -> list[str]:
        return [tp.id for tp in self.town.posts if tp.id == f.post or tp.cabinet == f.cabinet]

    def _repair_time(self, o) -> int | None:
        """The crew repairs when the fault behind the order ends (its `until`)."""
        cands = [f.until for f in self.town.faults if f.until and self._matches(f, self._fault_posts(f), o)]
        return max(cands) if cands else None

    def _run_member(self, m: _Member) -> None:
        try:
            m.run()
        except Exception as e:  # noqa: BLE001 - reported, and the others must not wait forever
            self.errors.append(f"post {m.sc.post.id}: {type(e).__name__}: {e}")
            self.barrier.abort()

    def run(self) -> TownResults:
        wall0 = time.monotonic()
        threads = [threading.Thread(target=self._run_member, args=(m,), name=f"post-{m.sc.post.id}")
                   for m in self.members]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.mq.settle()
        self.now = self.town.end - (self.town.end - self.town.start) % ROUND_S + ROUND_S
        self._round()  # a last round at the end of the run
        return self._score(time.monotonic() - wall0)

    def _score(self, wall_s: float) -> TownResults:
        from host_tools.ops import schema as S
        orders = self.engine.orders()
        with self.engine.db.connect() as c:
            pairs = c.execute(S.order_alarms.select()).mappings().all()
        for o in orders:
            o["alarm_times"] = [(a["post_id"], a["t"]) for a in pairs if a["order_id"] == o["id"]]
            tl = self.engine.timeline(o["id"])
            o["dispatched_at"] = next((int(a["at"]) for a in tl if a["to_status"] == "dispatched"), None)
        rows = []
        for f in self.town.faults:
            posts = self._fault_posts(f)
            vis = []
            for m in self.members:
                if m.sc.post.id not in posts:
                    continue
                mine = [g for g in self.town.faults if g.post == m.sc.post.id or g.cabinet == self._cab(m)]
                k = mine.index(f)
                if k in m.results.observable:
                    vis.append(m.results.observable[k])
            where = f"cabinet {f.cabinet}" if f.cabinet else f"post {f.post}"
            rows.append(FaultRow(f, where, posts, expected_class(f), min(vis) if vis else None,
                                 [o for o in orders if o["status"] != "merged" and self._matches(f, posts, o)]))
        claimed = {o["id"] for r in rows for o in r.orders}
        stray = [o for o in orders if o["status"] != "merged" and o["id"] not in claimed]
        return TownResults(self.town, {m.sc.post.id: m.results for m in self.members}, rows, stray,
                           orders, wall_s, self.errors)

    def _cab(self, m: _Member) -> str:
        return next(tp.cabinet for tp in self.town.posts if tp.id == m.sc.post.id)

    def close(self) -> None:
        for m in self.members:
            m.close()
        self.mq.close()
        self.svc.close()
        self.dir.cleanup()


def table(res: TownResults, iso) -> str:
    """Per fault: where, visible at, order id, class, dispatched at, verified; then the summary."""
    head = ("fault", "where", "visible", "order", "class", "expected", "dispatched", "after", "status")
    rows = [head]
    for r in res.faults:
        os_ = r.orders or [None]
        for o in os_:
            after = (f"{(o['dispatched_at'] - r.visible_at) / 60:.0f} min"
                     if o and o["dispatched_at"] is not None and r.visible_at is not None else "-")
            rows.append((r.fault.kind, r.where, iso(r.visible_at), str(o["id"]) if o else "NONE",
                         o["fault_class"] if o else "-", r.expected or "(none)",
                         iso(o["dispatched_at"]) if o else "-", after, o["status"] if o else "-"))
    w = [max(len(x[i]) for x in rows) for i in range(len(head))]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(x)).rstrip() for x in rows]
    out.insert(1, "  ".join("-" * x for x in w))
    ok, n = res.ratio()
    out.append(f"faults with exactly one order in the expected category: {ok}/{n}")
    out.append(f"orders for no fault of the town: {len(res.stray)}")
    out += [f"  order {o['id']}: {o['fault_class']} {o['description']}" for o in res.stray]
    verified = sum(1 for r in res.faults for o in r.orders if o["status"] == "verified")
    out.append(f"orders verified by the post: {verified}")
    out += [f"error: {e}" for e in res.errors]
    return "\n".join(out)
