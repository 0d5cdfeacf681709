"""`lamppost-sim fleet-load`: many virtual posts in one process, speaking the firmware's MQTT.

Each virtual post is one MQTT 3.1.1 connection (paho-mqtt, clean session, client id
`lamppost-<id>`, will `tele/<id>/LWT` Offline retained, `Online` retained on connect,
subscribed to `cmnd/<id>/+`), as firmware/lamppost/uplink.py. Every `period` seconds of
virtual time it publishes STATE and SENSOR at QoS 0 with the payloads uplink.py builds;
ALARM and EVENT go at QoS 1 with the outbox's ids (`inc`: 8 hex digits per post,
`dseq`: 1, 2, ...), as report.py + net.sink write them, one in flight at a time and
resent (DUP) after a reconnect until acknowledged, as the outbox does. A lost
connection is retried with exponential backoff and jitter (wall clock, MIN..MAX_BACKOFF_S).

All posts run on one selector loop (paho's external-loop API: loop_read/loop_write/
loop_misc), so one process holds thousands of connections. Virtual time is compressed as
far as the broker takes it: the clock moves one period once every post's messages of the
previous one have left its socket (or `--speed` caps it). It opens sockets to the broker
given and to nothing else.

Faults come from the simulator's catalogue (simulator/scenario.py CAUSES, the alarms
the firmware raises for each): per-post faults at `fault_rate` per post and night, at
most one per cabinet (two dark posts on one cabinet are, rightly, one supply order), and
cabinet supply sags that every post on the cabinet reports. `ledger` records every QoS 1
message sent and whether the broker acknowledged it: the truth a test or the bench
compares the database with.
"""
from __future__ import annotations

import ipaddress
import json
import random
import zlib
import selectors
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from simulator.scenario import CAUSES
from testbed.timefmt import iso

MIN_BACKOFF_S, MAX_BACKOFF_S = 0.5, 8.0
# A client socket takes an ephemeral port of its source address (paho binds before it
# connects), about 28,000 per address on Linux, shared by every process on the machine.
# Posts talking to a broker on loopback are spread over this many source addresses in
# 127.1.0.0/16 (all of 127/8 is the loopback interface), so 100,000 of them fit and the
# machine's own 127.0.0.1 keeps its ports.
LOOPBACK_SOURCES = 64


def source_address(post_id: str, host: str) -> str:
    """The address a post's connection is bound to: "" (any) unless the broker is on loopback."""
    try:
        loop = ipaddress.ip_address(host)
    except ValueError:  # a name: let the resolver and the kernel choose
        return ""
    if loop.version != 4 or not loop.is_loopback:
        return ""
    return f"127.1.0.{1 + zlib.crc32(post_id.encode()) % LOOPBACK_SOURCES}"
LED_W = 40.0
# per-post faults the firmware reports at night (the photocell one is an event, not an alarm),
# with weights after the field's mix (lamp and driver failures dominate)
POST_FAULTS = {"lamp_dead": 30, "led_string_open": 20, "driver_fault_high": 8, "capacitor_failed": 8,
               "relay_open": 6, "hid_end_of_life": 4, "dimming_stuck": 4, "overheat": 4}
CABINET_FAULT = "supply_sag"


def expected_class(kind: str) -> str:
    """The order class the operations service should open for a fault (simulator.town's rule)."""
    from host_tools.ops.config import FAULT_CLASS
    alarms = CAUSES[kind]
    return "relay" if "relayFailure" in alarms else FAULT_CLASS[alarms[0]]


@dataclass
class Fault:
    kind: str
    t: int                      # virtual time it shows (the alarm's t)
    posts: list[str]            # one post, or every post of the cabinet
    cabinet: str
    expected: str = ""

    def __post_init__(self):
        self.expected = expected_class(self.kind)


@dataclass(eq=False)  # hashed by identity: kept in sets
class VPost:
    id: str
    cabinet: str
    inc: str
    client: mqtt.Client | None = None
    dseq: int = 0
    seq: int = 0
    kwh: float = 0.0
    hours: float = 0.0
    starts: int = 0
    up: bool = False
    boot_t: int = 0
    next_try: float = 0.0
    backoff: float = MIN_BACKOFF_S
    connects: int = 0
    faults: list = field(default_factory=list)  # alarms raised on this post


def plan(n_posts: int, per_cabinet: int, start: int, hours: float, fault_rate: float,
         cabinet_rate: float, seed: int) -> tuple[list[tuple[str, str]], list[Fault]]:
    """(post id, cabinet) of every post and the night's faults, from a seed."""
    rnd = random.Random(seed)
    posts = [(f"FL-{i // per_cabinet:05d}-{i % per_cabinet:02d}", f"C{i // per_cabinet:05d}")
             for i in range(n_posts)]
    cabs: dict[str, list[str]] = {}
    for p, c in posts:
        cabs.setdefault(c, []).append(p)
    end = start + int(hours * 3600)
    faults = []
    kinds, weights = zip(*POST_FAULTS.items())
    for c, members in cabs.items():
        # the faults must show early enough that persistence (15 min of post time) passes
        t = rnd.randint(start + 600, max(start + 601, end - 3600))
        if len(members) >= 2 and rnd.random() < cabinet_rate:
            faults.append(Fault(CABINET_FAULT, t, list(members), c))
        elif rnd.random() < min(1.0, fault_rate * len(members)):
            faults.append(Fault(rnd.choices(kinds, weights)[0], t, [rnd.choice(members)], c))
    return posts, faults


def register_csv(posts: list[tuple[str, str]], municipality: str = "fleet") -> str:
    """The fleet as a lamppost-ops register (CSV): cabinets, a contractor, positions."""
    lines = ["id,municipality,street,light_point,cabinet,contractor,lat,lon"]
    for i, (p, c) in enumerate(posts):
        lines.append(f"{p},{municipality},Fleetweg,LP{i},{c},citytec,{52.0 + i * 1e-4:.6f},5.1")
    return "\n".join(lines) + "\n"


def clock_at(c: list[tuple[float, int]], wall: float, start: int) -> float:
    """The virtual time at wall-clock `wall`, interpolated in (wall, virtual) samples."""
    if not c or wall <= c[0][0]:
        return c[0][1] if c else start
    for (w0, v0), (w1, v1) in zip(c, c[1:]):
        if w0 <= wall <= w1:
            return v0 + (v1 - v0) * ((wall - w0) / (w1 - w0) if w1 > w0 else 1)
    return c[-1][1]


class Fleet:
    """The virtual posts, their sockets on one selector, and the ledger of QoS 1 messages."""

    def __init__(self, host: str, port: int, posts: list[tuple[str, str]], faults: list[Fault],
                 start: int, hours: float, period: int = 300, seed: int = 1, speed: float | None = None,
                 log=None):
        self.host, self.port = host, port
        self.start, self.end, self.period, self.speed = start, start + int(hours * 3600), period, speed
        rnd = random.Random(seed ^ 0x5EED)
        self.rnd = rnd
        self.posts = [VPost(p, c, "%08x" % rnd.getrandbits(32)) for p, c in posts]
        self.by_id = {p.id: p for p in self.posts}
        self.faults = sorted(faults, key=lambda f: f.t)
        self.sel = selectors.DefaultSelector()
        self.ledger: dict[tuple[str, int, int], dict] = {}  # (post, inc, dseq) -> message + acked
        self._mids: dict[tuple[str, int], tuple] = {}
        self.now_v = start
        self.clock: list[tuple[float, int]] = []  # (wall, virtual) samples for latency mapping
        self.sent = {"state": 0, "sensor": 0, "alarm": 0, "event": 0}
        self.reconnects = 0
        self.writing: set = set()   # posts with bytes waiting for their socket
        self.down: set = set()      # posts without a session (connecting or backing off)
        self.unacked_n = 0
        self.connect_timeout = 30.0  # no post connected by then: the broker is not there
        self._last_misc = 0.0
        self._last_down = 0.0
        self._next_keep = 0.0  # keep_alive's next step (wall)
        self._misc_i = 0
        self.log = log or (lambda *_: None)

    # ---------- connections ----------
    def _client(self, p: VPost) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lamppost-" + p.id,
                        clean_session=True, userdata=p)
        c.will_set(f"tele/{p.id}/LWT", "Offline", qos=1, retain=True)
        c.max_inflight_messages_set(1)  # the outbox sends its head, then the next on PUBACK
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_socket_open = lambda cl, u, s: self.sel.register(s, selectors.EVENT_READ, cl)
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._want_write
        c.on_socket_unregister_write = self._done_writing
        return c

    def _want_write(self, cl, p: VPost, s):
        if p in self.writing:
            return
        self.writing.add(p)
        try:
            self.sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE, cl)
        except (KeyError, ValueError):
            pass

    def _done_writing(self, cl, p: VPost, s):
        self.writing.discard(p)
        try:
            self.sel.modify(s, selectors.EVENT_READ, cl)
        except (KeyError, ValueError):
            pass

    def _on_socket_close(self, cl, p, s):
        self.writing.discard(p)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass

    def _on_connect(self, c, p: VPost, flags, rc, props=None):
        if rc.is_failure:
            return
        p.up, p.backoff = True, MIN_BACKOFF_S
        self.down.discard(p)
        p.connects += 1
        c.publish(f"tele/{p.id}/LWT", "Online", qos=0, retain=True)
        c.subscribe(f"cmnd/{p.id}/+", 1)

    def _on_disconnect(self, c, p: VPost, flags, rc, props=None):
        if p.up:
            self.reconnects += 1
        p.up = False
        self.down.add(p)
        p.next_try = time.monotonic() + p.backoff * (0.5 + self.rnd.random())

    def _on_publish(self, c, p: VPost, mid, rc, props=None):
        key = self._mids.pop((p.id, mid), None)
        if key is not None:
            self.ledger[key]["acked"] = True
            self.unacked_n -= 1

    def _try_connect(self, p: VPost) -> None:
        try:
            if p.client is None:
                p.client = self._client(p)
                p.client.connect(self.host, self.port, keepalive=60,
                                 bind_address=source_address(p.id, self.host))
            else:
                p.client.reconnect()
            # no CONNACK within 30 s: try again (a broker taking thousands of connections at
            # once answers late; a retry too early only adds to its queue)
            p.next_try = time.monotonic() + 30.0
        except OSError:
            p.backoff = min(MAX_BACKOFF_S, p.backoff * 2)
            p.next_try = time.monotonic() + p.backoff * (0.5 + self.rnd.random())

    def connect_all(self, timeout: float = 300.0) -> None:
        n = len(self.posts)
        for i, p in enumerate(self.posts):
            p.boot_t = self.start
            self.down.add(p)
            self._try_connect(p)
            if i % 200 == 199:  # let the broker answer as we go (its listen backlog is finite):
                # at most 1,000 CONNECTs unanswered, else a busy broker's answers come after
                # the 30 s a post waits for them and it retries, adding to the queue
                self.pump(lambda: len(self.down) - (n - i - 1) < 1000, 30)
        first = min(timeout, self.connect_timeout)
        if not self.pump(lambda: len(self.down) < len(self.posts), first):
            raise OSError(f"no post could connect to {self.host}:{self.port} within {first:g} s")
        self.pump(lambda: not self.down, timeout)

    # ---------- the loop ----------
    def pump(self, until, timeout: float) -> bool:
        """Run the sockets until `until()` holds or timeout (wall seconds) passes. Work is
        proportional to the sockets with something to do, not to the fleet's size."""
        end = time.monotonic() + timeout
        while True:
            for key, mask in self.sel.select(0.02 if self.writing else 0.05):
                c = key.data
                if mask & selectors.EVENT_READ:
                    c.loop_read()
                if mask & selectors.EVENT_WRITE and c.socket() is not None:
                    c.loop_write()
            now = time.monotonic()
            # the posts without a session, at most every 0.1 s (a scan costs the posts down:
            # while thousands connect, a scan every select would make connecting quadratic)
            if self.down and now - self._last_down >= 0.1:
                self._last_down = now
                for p in list(self.down):
                    if now >= p.next_try and (p.client is None or not p.client.is_connected()):
                        self._try_connect(p)
            if now - self._last_misc >= 0.2:  # keepalive and retries: every post each ~5 s
                # of wall time, however seldom pump runs (a slow connect loop calls it rarely,
                # and a post without its ping for 90 s is dropped by the broker)
                n = max(1, min(len(self.posts), int(len(self.posts) * (now - self._last_misc) / 5.0)))
                self._last_misc = now
                for p in self.posts[self._misc_i:self._misc_i + n]:
                    if p.client is not None and p.up:
                        p.client.loop_misc()
                self._misc_i = (self._misc_i + n) % len(self.posts)
            if until():
                return True
            if now >= end:
                return False

    def _drained(self) -> bool:
        return not self.writing

    def unacked(self) -> int:
        return self.unacked_n

    # ---------- what a post says ----------
    def _report(self, p: VPost, t: int, ev: str, fields: dict, topic: str) -> None:
        """An outbox message: report.py's line with net.sink's inc and dseq, QoS 1."""
        p.seq += 1
        p.dseq += 1
        line = '{"t": "%s", "id": %s, "seq": %d, "ev": "%s"' % (iso(t), json.dumps(p.id), p.seq, ev)
        line += (", " + json.dumps(fields)[1:-1] if fields else "")
        payload = line + ', "inc": "%s", "dseq": %d}' % (p.inc, p.dseq)
        key = (p.id, int(p.inc, 16), p.dseq)
        self.ledger[key] = {"post": p.id, "inc": p.inc, "dseq": p.dseq, "ev": ev, "t": t,
                            "alarm": fields.get("alarm"), "state": fields.get("state"),
                            "acked": False, "wall": time.time()}
        if p.client is None:
            p.client = self._client(p)
        info = p.client.publish(topic, payload, qos=1)
        self._mids[(p.id, info.mid)] = key
        self.unacked_n += 1
        self.sent["alarm" if ev == "alarm" else "event"] += 1

    def _power(self, p: VPost) -> float:
        kinds = {k for k, _ in p.faults}
        if kinds & {"lamp_dead", "relay_open"}:
            return 0.0
        if "led_string_open" in kinds:
            return LED_W * 0.75
        if "driver_fault_high" in kinds:
            return LED_W * 1.4
        return LED_W

    def _tele(self, p: VPost, t: int) -> None:
        if not p.up:
            return
        w = self._power(p)
        v = 230.0 * (0.8 if any(k == CABINET_FAULT for k, _ in p.faults) else 1.0)
        up = t - p.boot_t
        state = {"Time": iso(t), "Uptime": "%dT%02d:%02d:%02d" % (up // 86400, up // 3600 % 24,
                 up // 60 % 60, up % 60), "UptimeSec": up, "Heap": 61, "POWER": "ON", "Dimmer": 100,
                 "Alarms": [a for _, a in p.faults],
                 "Wifi": {"RSSI": -60, "Signal": 80, "SSId": "fleet", "Channel": 6, "LinkCount": p.connects,
                          "Downtime": "0T00:00:00", "DowntimeSec": 0},
                 "MQTT": {"Connects": p.connects, "Attempts": p.connects, "LastError": "", "Oversize": 0,
                          "Busy": 0, "Dropped": 0},
                 "Outbox": {"Queued": 0, "Alarms": 0, "Lost": 0, "Errors": 0, "Ram": 0, "Bad": 0,
                            "FlashFull": False}}
        sensor = {"Time": iso(t), "ENERGY": {"Total": round(p.kwh, 4), "operatingHours": round(p.hours, 2),
                  "switchOnCounter": p.starts, "Power": round(w, 1), "ApparentPower": round(w / 0.95, 1),
                  "Factor": 0.95, "Voltage": round(v, 1), "Current": round(w / 0.95 / v, 3)},
                  "Stored": {"Total": round(p.kwh, 4), "operatingHours": round(p.hours, 2),
                             "switchOnCounter": p.starts}, "Temperature": 12.0, "TempUnit": "C"}
        p.client.publish(f"tele/{p.id}/STATE", json.dumps(state), qos=0)
        p.client.publish(f"tele/{p.id}/SENSOR", json.dumps(sensor), qos=0)
        self.sent["state"] += 1
        self.sent["sensor"] += 1

    def _raise(self, f: Fault, p: VPost) -> None:
        w = self._power(p)
        for alarm in CAUSES[f.kind]:
            p.faults.append((f.kind, alarm))
            self._report(p, f.t, "alarm", {"alarm": alarm, "state": "raised", "count": 1,
                                           "Voltage": 230.0, "Current": round(w / 230.0, 3),
                                           "Power": w, "Factor": 0.95}, f"stat/{p.id}/ALARM")

    # ---------- the night ----------
    def run(self, on_step=None, on_connected=None) -> dict:
        """Dusk: every post switches on (an EVENT); then every period STATE + SENSOR, the
        faults' alarms when they show; dawn at the end. Returns the run's figures.
        on_connected(fleet): called once every post is connected, before dusk (several
        generator processes wait there for each other, so their clocks start together)."""
        t0 = time.monotonic()
        self.connect_all()
        self.connected_s = round(time.monotonic() - t0, 2)
        if on_connected:
            on_connected(self)
        for p in self.posts:
            p.starts += 1
            self._report(p, self.start, "switch", {"lamp": "on", "dim": 100}, f"stat/{p.id}/EVENT")
        fi = 0
        t = self.start
        wall0 = time.monotonic()
        while t <= self.end:
            self.now_v = t
            self.clock.append((time.time(), t))
            while fi < len(self.faults) and self.faults[fi].t <= t:
                f = self.faults[fi]
                for pid in f.posts:
                    self._raise(f, self.by_id[pid])
                fi += 1
            for p in self.posts:
                self._tele(p, t)
            self.pump(self._drained, 600)
            if on_step:
                on_step(self, t)
            if self.speed:
                wait = wall0 + (t + self.period - self.start) / self.speed - time.monotonic()
                if wait > 0:
                    self.pump(lambda: False, wait)
            t += self.period
            for p in self.posts:
                p.kwh += self._power(p) * self.period / 3.6e6
                p.hours += self.period / 3600
        self.clock.append((time.time(), t))
        return {"posts": len(self.posts), "faults": len(self.faults), "sent": dict(self.sent),
                "reconnects": self.reconnects, "wall_s": round(time.monotonic() - t0, 2),
                "connect_s": self.connected_s,
                "virtual_s": self.end - self.start}

    def settle(self, timeout: float = 120.0) -> bool:
        """Keep the posts connected until every QoS 1 message is acknowledged."""
        return self.pump(lambda: self.unacked() == 0, timeout)

    def keep_alive(self, seconds: float) -> None:
        """Keep sending STATE every period (virtual time moves on) for `seconds` of wall time, so
        the service sees the posts' clocks pass the persistence time. At --speed at most, as
        during the night (else a big fleet floods the service), across calls."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= self._next_keep:
                t = self.now_v + self.period
                self.now_v = t
                self.clock.append((time.time(), t))
                for p in self.posts:
                    self._tele(p, t)
                self.pump(self._drained, 60)
                self._next_keep = now + max(0.2, self.period / self.speed if self.speed else 0.2)
            left = end - time.monotonic()
            if left <= 0:
                return
            self.pump(lambda: False, min(left, max(0.0, self._next_keep - time.monotonic())))

    def virtual_at(self, wall: float, cabinet: str | None = None) -> float:
        """The virtual time the fleet was at when the wall clock read `wall` (interpolated)."""
        return clock_at(self.clock, wall, self.start)

    def close(self) -> None:
        for p in self.posts:
            if p.client is not None:
                try:
                    p.client.disconnect()
                    p.client.loop_write()
                except OSError:
                    pass
                sock = p.client.socket()
                if sock is not None:
                    self._on_socket_close(p.client, p, sock)
                    sock.close()
        self.sel.close()


# ---------- `lamppost-sim fleet-load` ----------
def add_parser(sub) -> None:
    p = sub.add_parser("fleet-load", help="many virtual posts on one broker: the firmware's MQTT "
                       "protocol at fleet scale (docs/fleet.md)")
    p.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker (the only address "
                   "this opens sockets to); several, comma-separated, are taken in turn by the --procs "
                   "processes (edge brokers bridged to one core: deploy/mosquitto/edge.conf)")
    p.add_argument("--posts", type=int, default=1000, help="virtual posts (default 1000)")
    p.add_argument("--per-cabinet", type=int, default=20, help="posts per cabinet (default 20)")
    p.add_argument("--hours", type=float, default=14.0, help="virtual hours of night (default 14)")
    p.add_argument("--period", type=int, default=300, help="tele_period: seconds between STATE/SENSOR")
    p.add_argument("--start", default="2026-01-15T17:00:00Z", help="dusk, UTC (YYYY-MM-DDTHH:MM:SSZ)")
    p.add_argument("--fault-rate", type=float, default=0.001, help="per-post faults per post and night "
                   "(default 0.001: ~100x the field's rate, so a night has faults to count)")
    p.add_argument("--cabinet-rate", type=float, default=0.01, help="cabinet supply sags per cabinet "
                   "and night (default 0.01)")
    p.add_argument("--speed", type=float, help="virtual seconds per wall second at most "
                   "(default: as fast as the broker takes it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connect-timeout", type=float, default=30.0, help="give up (exit 1) when no post "
                   "has connected within this many seconds (default 30)")
    p.add_argument("--procs", type=int, default=1, help="generator processes, cabinets split between "
                   "them (one process holds as many posts as it has file descriptors and cores allow)")
    p.add_argument("--register-out", help="write the fleet's register CSV here (for "
                   "`lamppost-ops register import`) and exit")
    p.add_argument("--json", action="store_true", help="figures as JSON")
    p.set_defaults(func=cmd_fleet_load)


def _run_part(host, port, posts, faults, start, args, q) -> None:
    fleet = Fleet(host, port, posts, faults, start, args.hours, args.period, args.seed, args.speed)
    fleet.connect_timeout = args.connect_timeout
    try:
        r = fleet.run()
        r["settled"] = fleet.settle(120)
        r["unacked"] = fleet.unacked()
    except OSError as e:
        r = {"error": str(e)}
    finally:
        fleet.close()
    q.put(r)


def run_split(addrs, posts, faults, start, args, procs: int) -> dict:
    """Run the fleet in `procs` processes (whole cabinets each; process k talks to broker
    addrs[k % len(addrs)]) and add up their figures."""
    import multiprocessing as mp
    if procs == 1:
        q: list = []

        class _Q:
            put = q.append
        _run_part(*addrs[0], posts, faults, start, args, _Q)
        parts = q
    else:
        cabs = sorted({c for _, c in posts})
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        ps = []
        for k in range(procs):
            mine = set(cabs[k::procs])
            ps.append(ctx.Process(target=_run_part, args=(
                *addrs[k % len(addrs)], [x for x in posts if x[1] in mine], [f for f in faults if f.cabinet in mine],
                start, args, q)))
        for pr in ps:
            pr.start()
        parts = [q.get() for _ in ps]
        for pr in ps:
            pr.join()
    errors = [x["error"] for x in parts if "error" in x]
    if errors:
        raise OSError(errors[0])
    r = {"posts": sum(x["posts"] for x in parts), "faults": sum(x["faults"] for x in parts),
         "sent": {k: sum(x["sent"][k] for x in parts) for k in parts[0]["sent"]},
         "reconnects": sum(x["reconnects"] for x in parts), "wall_s": max(x["wall_s"] for x in parts),
         "virtual_s": parts[0]["virtual_s"], "settled": all(x["settled"] for x in parts),
         "unacked": sum(x["unacked"] for x in parts), "procs": procs}
    return r


def cmd_fleet_load(args) -> int:
    import sys
    from lamppost_common.addr import parse_addr
    try:
        addrs = [parse_addr(a.strip()) for a in args.broker.split(",") if a.strip()]
        if not addrs:
            raise ValueError("--broker: no address")
        start = int(datetime.strptime(args.start, "%Y-%m-%dT%H:%M:%SZ")
                    .replace(tzinfo=timezone.utc).timestamp())
    except ValueError as e:
        print(f"lamppost-sim fleet-load: {e}", file=sys.stderr)
        return 2
    if args.posts < 1 or args.per_cabinet < 1 or args.period < 1 or args.hours <= 0:
        print("lamppost-sim fleet-load: --posts, --per-cabinet, --period and --hours must be positive",
              file=sys.stderr)
        return 2
    posts, faults = plan(args.posts, args.per_cabinet, start, args.hours, args.fault_rate,
                         args.cabinet_rate, args.seed)
    if args.register_out:
        with open(args.register_out, "w") as f:
            f.write(register_csv(posts))
        print(f"{args.register_out}: {len(posts)} posts")
        return 0
    try:
        r = run_split(addrs, posts, faults, start, args, max(1, args.procs, len(addrs)))
    except OSError as e:
        print(f"lamppost-sim fleet-load: broker {args.broker}: {e}", file=sys.stderr)
        return 1
    r["faults_by_kind"] = {}
    for f in faults:
        r["faults_by_kind"][f.kind] = r["faults_by_kind"].get(f.kind, 0) + 1
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        s = r["sent"]
        print(f"{r['posts']} posts, {r['virtual_s'] / 3600:g} h virtual in {r['wall_s']} s wall "
              f"({r['virtual_s'] / max(r['wall_s'], 1e-9):.0f}x): sent {s['state']} STATE, {s['sensor']} SENSOR, "
              f"{s['alarm']} ALARM, {s['event']} EVENT; {r['faults']} faults; {r['reconnects']} reconnects; "
              f"unacknowledged {r['unacked']}")
    return 0 if r["settled"] else 1
