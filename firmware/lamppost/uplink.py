"""Reporting over MQTT in the Tasmota topic layout, fed by the outbox, polled every tick.

  tele/<id>/LWT      Online / Offline (retained; Offline is the will)
  tele/<id>/STATE    Uptime, Heap, Wifi, POWER (QoS 0, every tele_period)
  tele/<id>/SENSOR   ENERGY: Total, Power, Voltage, Current, Factor (QoS 0)
  stat/<id>/ALARM    alarm reports, QoS 1 from the outbox, with "dseq"
  stat/<id>/EVENT    boot, switch, error reports, QoS 1 from the outbox
  cmnd/<id>/<Cmd>    console commands; answered on stat/<id>/RESULT
  cmnd/<id>/OtaOffer, OtaData, stat/<id>/OTA  updates over the air (lamppost/ota.py)
  homeassistant/...  discovery, retained, once per boot, one entity per poll (hadisc.py)

A command runs unsigned as a console without a login: what only reads works
(Help, Status, Readings, Alarms, Log, Config [key], Relay/Dim/TelePeriod without
a value); whatever changes state must be signed (lamppost.signedcmd), so nobody
on the broker can switch a lamp. The one exception is opt-in: with config
ha_control on, an unsigned Power/Power1/Dimmer runs (Home Assistant's light), and
the post trusts its broker's ACL for who may write cmnd/<id>/, as Tasmota does.

Commands wait in a small queue (_CQ of them, _CQ_BYTES of payload) and run
while the send queue has room; one beyond it is answered {"error": "busy"}, or
dropped when even that reply has no room; both are counted (STATE MQTT.Busy,
MQTT.Dropped). A command over the client's packet limit is discarded (MQTT.Oversize)
and answered with an error. Outbox problems (a quarantined message, a full
flash) are reported once each as `ev: error`, on serial and MQTT alike.
"""
import gc
import json
from micropython import const
from lamppost import clock, mqtt, outbox, signedcmd

TYPE_CHECKING = False
if TYPE_CHECKING:  # the type checker only: MicroPython has no typing module
    from typing import Any

_CQ = const(16)  # commands queued at most; more are answered busy
_CQ_BYTES = const(2048)  # payload bytes queued at most
_RUN_TX = const(1024)  # a queued command runs only while less than this waits to be sent
_BUSY_TX = const(2048)  # a busy reply only while less than this waits; else dropped
_SWITCH = ("power", "power1", "dimmer", "relay", "dim")  # commands after which STATE goes out
_PIECE = const(128)  # bytes per piece of a reply built for publish
NET_S = 60  # the network task must finish a poll this often, or the watchdog is not fed


class _Pieces:
    """JSON (as json.dumps writes it) in bytes pieces of about _PIECE bytes for
    Client.publish: dicts and lists are written item by item."""

    def __init__(self):
        self.parts = []
        self.cur = ""

    def add(self, s):
        self.cur += s
        if len(self.cur) >= _PIECE:
            self.parts.append(self.cur.encode())
            self.cur = ""

    def dump(self, v):
        if isinstance(v, dict):
            sep = "{"
            for k in v:
                self.add(sep + json.dumps(k) + ": ")
                self.dump(v[k])
                sep = ", "
            self.add("{}" if sep == "{" else "}")
        elif isinstance(v, (list, tuple)):
            sep = "["
            for x in v:
                self.add(sep)
                self.dump(x)
                sep = ", "
            self.add("[]" if sep == "[" else "]")
        else:
            self.add(json.dumps(v))

    def done(self):
        if self.cur:
            self.parts.append(self.cur.encode())
        return self.parts


class Net:
    """The uplink. It never sees the App: the App passes in what it may use (docs/architecture.md,
    "The uplink's interface"; tests/test_uplink_interface.py): the config dict, the HAL, the
    watchdog's task list (None without a hardware watchdog), the Reporter, this tick's Reading,
    the Energy counter, the alarm Engine, the command set's execute and the firmware version.
    The time is the one poll(now) was last given; the lamp's state is what the HAL set (hal.relay,
    hal.dim). ota.py and hadisc.py get this Net and use only its public members."""

    def __init__(self, cfg, hal, health, rep, r, energy, engine, execute, fw, rx=None):
        self.cfg = cfg
        self.hal = hal
        self.health = health
        self.rep = rep
        self.r = r
        self.energy = energy
        self.engine = engine
        self.execute = execute
        self.fw = fw
        self.now = 0  # the time of the current poll
        self.id = i = cfg["id"]
        self.t_lwt = "tele/%s/LWT" % i
        self.t_cmnd = "cmnd/%s/" % i
        self.box = outbox.Outbox("outbox", cfg["outbox_max"])
        self.auth = signedcmd.Verifier(cfg["cmd_key"], i)
        self.cli = mqtt.Client(
            "lamppost-" + i, self._open, cfg["mqtt_keepalive"], cfg["mqtt_user"] or None,
            cfg["mqtt_pass"] or None, (self.t_lwt, "Offline", 1, True), 20, self._message,
            self._up, self._acked, self._pending, rx)
        # (host, port, tls, ca) as booted (a Config change applies after Reboot); one tuple,
        # not four attributes: Net's attribute table stays in its size (heap)
        self.broker = (cfg["mqtt_host"], cfg["mqtt_port"], cfg["mqtt_tls"], cfg["mqtt_ca"])
        self.period = cfg["tele_period"]
        self.head = None  # (seq, pid, packet) of the outbox head, read once
        self.next_tele = 0
        self.boot = 0
        self.disc = 0 if cfg.get("ha_discovery", True) else -1  # next discovery entry; -1 none
        self.removing = False  # Decommission: the entries go out empty, removing them
        self.link = False
        self.link_count = 0
        self.down_since = 0
        self.downtime = 0
        self.errors = 0  # outbox writes that failed (flash full)
        self.said_full = False  # "flash full" reported since the flash last worked
        self.cq = []  # (name, payload) of commands waiting to run
        self.cq_bytes = 0
        self.busy = 0  # commands answered busy
        self.dropped = 0  # commands (or replies) dropped without an answer
        self.opened = -1  # cli.connects when the last connect began: no CONNACK since -> re-resolve
        # lamppost/ota.py once an update is offered or under way (None: not loaded); 0 before the
        # first poll after boot and HA discovery, or an offer (bytes) that came before then
        self.ota: "Any" = 0
        hal.wifi_start(cfg)  # ESP32: join the AP (hal/esp32_net.py); host: a no-op

    def set_period(self, v):
        """TelePeriod: seconds between STATE/SENSOR reports, from now on."""
        self.period = v
        self.next_tele = 0
        if self.disc < 0 and self.cfg.get("ha_discovery", True):
            self.disc = 0  # HA's expire_after follows the period: announce again

    def _open(self):
        """Start a connect (the client calls this once per backoff attempt). The broker's
        address is resolved again only when the previous attempt never got a CONNACK."""
        host, port, tls, ca = self.broker
        fresh = self.cli.connects == self.opened
        self.opened = self.cli.connects
        return self.hal.net_open(host, port, tls, ca, fresh)

    def _link(self):
        return self.hal.net_up()

    # outbox -> broker
    def sink(self, line, fields):
        """Reporter sink: every unsolicited report goes to flash before anything is sent."""
        ev = fields.get("ev")
        if ev is None or ev == "tele":
            return
        alarm = ev == "alarm"
        if alarm:
            self.next_tele = 0  # STATE's Alarms (HA's binary_sensors) follow at the next poll
        topic = "stat/%s/%s" % (self.id, "ALARM" if alarm else "EVENT")
        box = self.box
        full = box.full
        box.put(topic, lambda s: line[:-1] + ', "inc": "%s", "dseq": %d}' % (box.inc, s), alarm)
        if box.full and not full:
            self.errors += 1
        if self.head is not None and (not self.box.items or self.box.items[0][0] != self.head[0]):
            self.head = None  # the head was evicted

    def _pending(self):
        if self.head is None:
            h = self.box.head()
            if h is None:
                return None
            seq, topic, payload = h
            pid = seq % 65535 + 1
            self.head = (seq, pid, mqtt.publish_packet(topic, payload, 1, False, pid))
        return self.head[1], self.head[2]

    def _ota(self):
        if not self.ota or type(self.ota) is bytes:
            gc.collect()
            from lamppost.ota import Ota
            self.ota = Ota(self)
        return self.ota

    def _acked(self):
        if self.head is not None:
            self.box.ack(self.head[0])
            self.head = None

    # session
    def _up(self):
        cli = self.cli
        cli.publish(self.t_lwt, "Online", True)
        cli.subscribe(self.t_cmnd + "+", 1)
        self.next_tele = 0  # fresh STATE/SENSOR right after (re)connecting

    def _disc_step(self):
        """Publish discovery entry self.disc (lamppost/hadisc.py), or end discovery and drop
        the module when all are out; an entry that cannot be sent now is tried next poll."""
        import sys
        from lamppost import hadisc
        if self.disc >= hadisc.count():
            self.disc = -1
            self.removing = False
            sys.modules.pop("lamppost.hadisc", None)
            try:
                delattr(sys.modules["lamppost"], "hadisc")
            except (AttributeError, KeyError):
                pass
            return
        topic, payload = hadisc.entry(self, self.disc)
        if self.cli.publish(topic, payload, True):
            self.disc += 1

    def _message(self, topic, payload):
        """From the client: queue a command, or answer busy / drop it when the queue is full.
        payload is a view into the client's buffer: what is kept is copied (a chunk of an
        update is written to flash from the view, never copied)."""
        if not topic.startswith(self.t_cmnd):
            return
        name = topic[len(self.t_cmnd):]
        low = name.lower()
        if low == "otaoffer" or low == "otadata":  # not a command: the update's own channel
            if payload is None:
                return
            o = self.ota
            if o == 0 or type(o) is bytes:  # not yet: the module waits for boot and discovery
                if low == "otaoffer":
                    self.ota = bytes(payload)  # taken up then (the heap has no room beside them)
                return
            self._ota().message(low, payload)
            return
        if payload is None:  # over the packet limit: discarded by the client
            self._reply(name, {"error": "message too large (limit 2048 bytes), discarded"})
        elif len(self.cq) < _CQ and self.cq_bytes + len(payload) <= _CQ_BYTES:
            try:
                self.cq.append((name, bytes(payload)))
            except MemoryError:
                self.dropped += 1
                return
            self.cq_bytes += len(payload)
        elif len(self.cli.tx) < _BUSY_TX:
            self.busy += 1
            self._reply(name, {"error": "busy"})
        else:
            self.dropped += 1

    def _reply(self, name, d):
        d["cmd"] = name = name.lower()[:32]
        t = "stat/%s/RESULT" % self.id
        try:
            # the reply as a list of small JSON pieces, never one string: a full Status
            # (~3 KB) then needs no large contiguous block on a fragmented heap
            w = _Pieces()
            w.dump(d)
            d = None
            ok = self.cli.publish(t, w.done())
            w = None
        except MemoryError:
            w = None
            ok = False
        if not ok and self.cli.state == mqtt.UP:
            d = None
            gc.collect()
            ok = self.cli.publish(t, '{"cmd": %s, "error": "no heap for the reply"}'
                                  % json.dumps(name))
        if not ok:
            self.dropped += 1

    def _run_queued(self):
        cli = self.cli
        while self.cq and cli.state == mqtt.UP and len(cli.tx) < _RUN_TX:
            name, payload = self.cq.pop(0)
            self.cq_bytes -= len(payload)
            try:
                text = payload.decode()
            except UnicodeError:
                text = None
            try:
                d = self.command(name.lower(), text)
            except Exception as e:  # e.g. MemoryError: the command fails, never the session
                gc.collect()
                d = {"error": "internal: %s" % type(e).__name__}
            self._reply(name, d)
            if name.lower() in _SWITCH and "error" not in d:
                self.next_tele = self.now + 1  # HA's light reads the new state from STATE

    def command(self, name, text):
        """Run a console command received over MQTT (lamppost.commands); the reply dict.

        Read commands run as sent. A payload that is a signed envelope
        {"param", "ctr", "mac"} is checked (HMAC, counter against replay) and
        its param runs with the rights of a logged-in technician.
        """
        if text is None:
            return {"error": "payload not UTF-8 text"}
        authed = False
        if text.lstrip().startswith("{"):
            text, why = self.auth.check(name, text, self.now, self.boot)
            if why:
                return {"error": why}
            authed = True
        elif name in ("power", "power1", "dimmer") and self.cfg.get("ha_control"):
            authed = True  # opt-in: Home Assistant's light; the broker's ACL decides who
        d = self.execute(name, text, authed)
        if d.get("error", "").startswith("login required"):
            d["error"] = "not authenticated: sign state-changing commands (HMAC, see docs)"
        return d

    def status(self):
        """The `Status net` section: link, broker session and outbox, no secrets."""
        cli = self.cli
        b = self.broker
        return {"broker": "%s:%d" % (b[0], b[1]), "tls": bool(b[2]),
                "wifi": "up" if self.link else "down", "mqtt": "up" if cli.state == mqtt.UP else "down",
                "connects": cli.connects, "attempts": cli.attempts, "last_error": cli.last_error,
                "link_count": self.link_count, "downtime_s": self.downtime,
                "oversize": cli.big, "busy": self.busy, "cmd_dropped": self.dropped,
                "outbox": len(self.box), "outbox_lost": self.box.lost, "outbox_ram": self.box.ram(),
                "outbox_bad": self.box.bad, "flash": "full" if self.box.full else "ok",
                "tele_period": self.period}

    # telemetry
    def wifi(self):
        """STATE's Wifi, as Tasmota's: what the HAL knows (hal.wifi_info() -> {"rssi",
        "channel", "ssid"}), null where it knows nothing; Signal is RSSI as 0..100 %."""
        w = self.hal.wifi_info() or {}
        rssi = w.get("rssi")
        return {"RSSI": rssi, "Signal": None if rssi is None else max(0, min(100, 2 * (rssi + 100))),
                "SSId": w.get("ssid") or self.cfg.get("wifi_ssid") or None,
                "Channel": w.get("channel"), "LinkCount": self.link_count,
                "Downtime": "%dT%02d:%02d:%02d" % (self.downtime // 86400, self.downtime // 3600 % 24,
                                                   self.downtime // 60 % 60, self.downtime % 60),
                "DowntimeSec": self.downtime}

    def state(self, now):
        up = now - self.boot
        gc.collect()  # Heap says what is free, not what garbage has not yet been collected
        return {"Time": clock.iso(now), "Uptime": "%dT%02d:%02d:%02d" % (
            up // 86400, up // 3600 % 24, up // 60 % 60, up % 60), "UptimeSec": up,
            "Heap": gc.mem_free() // 1024, "POWER": "ON" if self.hal.relay else "OFF",
            "Dimmer": self.hal.dim, "Alarms": self.engine.active(),
            "Wifi": self.wifi(),
            "MQTT": {"Connects": self.cli.connects, "Attempts": self.cli.attempts,
                     "LastError": self.cli.last_error, "Oversize": self.cli.big,
                     "Busy": self.busy, "Dropped": self.dropped},
            "Outbox": {"Queued": len(self.box), "Alarms": self.box.alarms(),
                       "Lost": self.box.lost, "Errors": self.errors, "Ram": self.box.ram(),
                       "Bad": self.box.bad, "FlashFull": self.box.full}}

    def _problems(self, now):
        """Report the outbox's news once each (here, not in sink: a report re-enters sink)."""
        box = self.box
        if box.full != self.said_full:
            self.said_full = box.full
            if box.full:
                self.rep.emit(now, "error", {"error": "flash full: outbox in RAM (at most "
                                             "10 messages, lost on a power cut)"})
        while box.news:
            self.rep.emit(now, "error", {"error": box.news.pop(0)})

    def sensor(self, now):
        r = self.r
        e = self.energy.fields()  # Total kWh, operatingHours, switchOnCounter
        e["Power"] = round(r.P, 1)
        e["ApparentPower"] = round(r.S, 1)
        e["Factor"] = round(r.PF, 2)
        e["Voltage"] = round(r.V, 1)
        e["Current"] = round(r.I, 3)
        return {"Time": clock.iso(now), "ENERGY": e, "Stored": self.energy.stored(),
                "Temperature": round(r.temp, 1), "TempUnit": "C"}

    def poll(self, now):
        """One tick of the network task; it beats the watchdog's health list when done."""
        self.now = now
        hh = self.health
        if not self.boot:
            self.boot = now
            if hh is not None:
                hh.watch("net", NET_S, now)
        link = self._link()
        if link != self.link:
            self.link = link
            if link:
                self.link_count += 1
                if self.down_since:
                    self.downtime += now - self.down_since
            else:
                self.down_since = now
        self._problems(now)
        cli = self.cli
        cli.poll(now, link)
        self._run_queued()
        o = self.ota
        if (o == 0 or type(o) is bytes) and self.disc < 0:  # after boot and HA discovery
            self.ota = None
            import os
            import lamppost
            try:  # a slot runs, or ota.json says an update is under way or has news
                if type(o) is bytes or lamppost.SLOT[1] or os.stat("ota.json"):
                    self._ota()
            except OSError:
                pass
            if type(o) is bytes:
                self._ota().message("otaoffer", o)
        elif o and type(o) is not bytes:
            self.ota.poll(now)
        if cli.state == mqtt.UP and now >= self.next_tele:
            self.next_tele = now + self.period
            cli.publish("tele/%s/STATE" % self.id, json.dumps(self.state(now)))
            cli.publish("tele/%s/SENSOR" % self.id, json.dumps(self.sensor(now)))
        if self.disc >= 0 and cli.state == mqtt.UP and len(cli.tx) < _RUN_TX:
            self._disc_step()  # after STATE: the first one's Heap is not lowered by hadisc
        if hh is not None:
            hh.beat("net", now)  # a poll that never ends or stops being called starves the watchdog
