"""The firmware's main loop: sample, switch, detect, meter, report, once a second.

A plain polled loop rather than asyncio tasks: time comes from the HAL, so on
the host the simulator's virtual clock drives every timer, and a tick costs
no scheduler allocation. Services (console, network) get a poll each tick.
The HAL (hal/contract.py) comes from main.py: the core never imports hal.*.
"""
import gc
import sys
from lamppost import clock, detect, report, store, sun
from lamppost.console import Console
from lamppost.energy import Energy
from lamppost.meter import Meter
from lamppost.reading import Reading

STATE = "state.json"
STATE_B = "state.b.json"  # its backup (lamppost/bootfiles.py)
FW_VERSION = "0.1.0"


class App:
    fw = FW_VERSION  # for Status fw: the handlers read it as c.fw (commands.VIEW)
    # set by bootfiles.boot (annotations only: MicroPython compiles them to nothing)
    cfg: dict
    state: dict
    secret: tuple

    def __init__(self, hal):
        self.hal = hal
        # every file on flash checked once at boot (lamppost/bootfiles.py, dropped after)
        from lamppost import bootfiles
        problems = bootfiles.boot(self)  # cfg, state, locked
        cfg = self.cfg
        rx = None
        if cfg.get("mqtt_host"):  # the session's receive buffer first, while the heap is whole
            gc.collect()
            from lamppost.mqtt import Parser
            rx = Parser()
        st = self.state
        st["boots"] = st.get("boots", 0) + 1
        # "run": 1 while a run is going; a last gasp (supplyLoss raised without mains) and
        # a Reboot write 0. Still 1 at a power-on boot: the last run was cut off silently
        # (no hold-up), so run() reports the supplyLoss after the fact. Rides on this
        # boot write and the alarm writes: no extra flash write.
        self.cut = st.get("run") == 1
        st["run"] = 1
        self.save_state()
        self.r = Reading()
        self.meter = Meter(cfg["sensor"], cfg["cal_v"], cfg["cal_i"], cfg["v_fs"], cfg["i_fs"],
                           cfg["ct_phase"])
        self.energy = Energy(self.state.get("kwh", 0.0), max(2.0, 0.05 * cfg["rated_w"]))
        self.sun = sun.SunSwitch(cfg["lat"], cfg["lon"], cfg["sun_elev"])
        self.engine = detect.Engine(cfg, self.state.get("alarm_counts"), self.state.get("alarms_active"))
        self.rep = report.Reporter(cfg["id"])
        self.rep.sinks.append(self._serial_sink)
        self.cmd_on = None
        self.dim = 100
        self.now = 0
        gc.collect()  # compiling from source on a 64 KB heap: start each import unfragmented
        from lamppost.schedule import Schedule
        self.sched = Schedule(cfg, self.sun, self._event)  # clock, photocell, dimming, overrides
        gc.collect()
        from lamppost.commands import Commands
        self.cmds = Commands(self)  # console command set, login, event log
        self.console = Console(hal.uart_write, self.cmds.console, hal.uart_busy)
        self._problems = problems
        self.health = None  # the watchdog's task list, on a HAL with a hardware watchdog
        if hal.watchdog:
            from lamppost.health import Watchdog
            self.health = Watchdog(hal)
        self.net = None
        if cfg.get("mqtt_host"):  # reporting over MQTT (lamppost/uplink.py): what it may use
            from lamppost.uplink import Net
            self.net = Net(cfg, hal, self.health, self.rep, self.r, self.energy, self.engine,
                           self.cmds.execute, FW_VERSION, rx)
            self.rep.sinks.append(self.net.sink)
        bootfiles.done()  # problems now holds the event log's and the auth counter's findings too

    def _event(self, kind, fields):
        """The Schedule's events (photocell fault, override end) as reports."""
        self.rep.emit(self.now, kind, fields)

    def _serial_sink(self, line, fields):
        self.hal.uart_write(line.encode() + b"\n")

    def _alarm(self, alarm, change, extra=None):
        d = {"alarm": alarm.name, "state": "raised" if change == detect.RAISED else "cleared",
             "count": alarm.count}
        if alarm.name == detect.SUPPLY_LOSS:
            d["supplyLossCount"] = alarm.count  # TALQ counter; raised = last gasp on hold-up
            self.state["run"] = 1 if self.r.mains else 0  # 0: the last gasp is on flash
        if extra:
            d.update(extra)
        self.rep.emit(self.now, "alarm", report.readings(self.r, d))
        # counts and active alarms survive a reboot (one write per alarm change)
        self.state["alarm_counts"] = self.engine.counts()
        self.state["alarms_active"] = self.engine.active()
        self.state["t"] = self.now  # the post was powered then (see _late_loss)
        self.save_state()

    def save_state(self):
        """state.json, then the same as state.b.json: one of them is readable after anything."""
        store.save(STATE, self.state)
        store.save(STATE_B, self.state)

    def _late_loss(self, now):
        """supplyLoss after the fact: the mains went and came back with no last gasp.

        The raised report says so ("lastGasp": false), when the outage ended
        ("until": this boot) and when it began as best known ("since": the last
        time the previous run left on flash, so it began after that); the
        engine clears it once the mains has been back 2 s. Serial, event log
        and MQTT outbox get it like any alarm, so it is never lost.
        """
        self.cut = False
        since = -1
        for t in (self.state.get("t"), self.energy.saved_t, self.cmds.log.last_t):
            if t is not None and since < t <= now:
                since = t
        extra = {"lastGasp": False, "until": clock.iso(now)}
        if since >= 0:
            extra["since"] = clock.iso(since)
        self.engine.supply_lost(lambda a, c: self._alarm(a, c, extra))

    def run(self):
        hal, r = self.hal, self.r
        wd = self.health
        now = hal.wait_tick(r)
        self.now = now
        if wd:
            wd.tick(now)
        self.rep.emit(now, "boot", {"fw": FW_VERSION, "boots": self.state["boots"],
                                    "restart": self.cmds.restart})
        for p in self._problems:
            self.rep.emit(now, "error", {"error": p})
        # a silent cut counts only after a power-on: not after a crash, a watchdog or a Reboot
        self.cut = self.cut and self.cmds.restart == "power-on"
        last = now
        while True:
            self.meter.decode(hal.raw, r)
            self.energy.tick(now, now - last, r)
            on, dim = self.sched.decide(now, r)
            if on != self.cmd_on or dim != self.dim:
                if on != self.cmd_on:
                    self.energy.switched(now, on)
                self.cmd_on = on
                self.dim = dim
                self.engine.switch(now)  # every on/off or dim change: no false alarms
                hal.set_lamp(on, self.dim)
                self.rep.emit(now, "switch", {"lamp": "on" if on else "off", "dim": self.dim})
            if self.cut:  # first tick after a silent power cut (readings of the mains back)
                self._late_loss(now)
            self.engine.step(now, self.cmd_on, self.dim, r, self._alarm)
            data = hal.uart_read()
            if data:
                self.console.feed(data)
            self.cmds.tick(now)
            if self.net:
                self.net.poll(now)
            last = now
            now = hal.wait_tick(r)
            self.now = now
            if wd:
                wd.tick(now)


def _ota_at_boot(hal):
    """An update's signature check the last run had no heap for (lamppost/ota.py), done
    before the App takes the heap, then a restart: the modules it loaded leave their
    interned names on the heap, which the App needs whole. Nothing is loaded when no
    update waits for a check."""
    dl = (store.load("ota.json") or {}).get("dl")
    vb = isinstance(dl, dict) and dl.get("vb") == 1
    dl = None
    gc.collect()  # the parsed ota.json goes before the App allocates: its heap stays whole
    if vb:
        from lamppost import ota
        saved = ota.verify_at_boot((store.load("config.json") or {}).get("ota_key", ""))
        ota = None
        sys.modules.pop("lamppost.ota", None)
        try:
            delattr(sys.modules["lamppost"], "ota")
        except (AttributeError, KeyError):
            pass
        if saved:  # else the flash takes no writes: run on (the update fails), never loop
            hal.reset(0)


def main(hal):
    """Run the firmware on hal (main.py picks it); a crash flushes energy and resets, counted."""
    try:
        _ota_at_boot(hal)
        a = App(hal)
        try:
            a.run()
        except Exception:
            a.energy.flush(a.now)  # a crash must not cost the energy since the last save
            raise
    except KeyboardInterrupt:
        raise
    except Exception as e:
        sys.print_exception(e)
        hal.reset(1)
