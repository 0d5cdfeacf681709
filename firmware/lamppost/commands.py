"""The console command set, callable from any channel: execute(line_or_name, payload, authed) -> dict.

The UART console passes whole lines and authed=None (its own login); the MQTT client can
pass (Command, payload, True/False) for `cmnd/<id>/<Command>`. Read commands
are open; anything that changes state needs a login (the UART's Login, or authed
True). Every reply is a dict with "cmd"; failures carry "error" and change
nothing. The handlers live in cmd_now/cmd_read/cmd_cfg/cmd_ctl.py, imported for one
command and dropped after it, so they cost no heap while the lamp just runs
(about 12 KB on the 64-bit unix port). This module also feeds the event log
from every report and performs the deferred Reboot, via tick(now).
"""
import gc
import sys
from lamppost.eventlog import EventLog

# command -> module holding c_<command>(cmds, payload, ok, uart)
TABLE = {"help": "cmd_read", "status": "cmd_read", "readings": "cmd_now", "alarms": "cmd_now",
         "log": "cmd_read", "config": "cmd_cfg", "calibrate": "cmd_cfg", "selftest": "cmd_ctl",
         "relay": "cmd_ctl", "dim": "cmd_ctl", "reboot": "cmd_ctl", "login": "cmd_ctl",
         "logout": "cmd_ctl", "teleperiod": "cmd_cfg", "maintenance": "cmd_ctl",
         # Tasmota's names (lamppost/cmd_tas.py maps them onto the commands above)
         "power": "cmd_tas", "power1": "cmd_tas", "dimmer": "cmd_tas", "state": "cmd_tas",
         "backlog": "cmd_tas", "decommission": "cmd_tas"}


class NeedLogin(Exception):
    pass


class Commands:
    def __init__(self, app):
        self.app = app
        self.fails = 0  # wrong PINs in a row, and the lockout they caused (lamppost/servicepin.py)
        self.locked_until = 0
        self.until = 0  # the UART is logged in while hal.session_time(now) < until
        self.idle_s = app.cfg.get("login_s", 600)
        self.log = EventLog()
        self.reboot_at = None
        self.maint = False  # the pending reboot is Maintenance: into safe mode, REPL on
        self.lazy = False  # may handlers return callables for Console.reply to expand?
        self.t_boot = None  # time of the first tick, for Status uptime
        self.in_backlog = False  # a Backlog runs its commands through execute(); no nesting
        st = app.state
        self.restart = st.pop("restart", None) or app.hal.reset_cause()
        if self.restart != "power-on":
            app.save_state()
        app.rep.sinks.append(self._log_report)
        app.sched.out = self._sched_event

    def console(self, line):
        """The UART console's entry: one line, with the UART's own session.

        The reply may hold callables (sections built while they are written,
        see Console.reply); execute() for other channels returns plain values.
        """
        self.lazy = True
        try:
            return self.execute(line, None, None)
        finally:
            self.lazy = False

    def tick(self, now):
        """Once per main-loop tick: event-log flushing, a pending Reboot or Maintenance."""
        if self.t_boot is None:
            self.t_boot = now
            if self.app.cfg.get("selftest_boot") and self.restart == "power-on":
                lock, self.app.locked = self.app.locked, None  # the post's own, not a user's
                self.execute("selftest", "", True)  # mains is back: prove relay, lamp, driver
                self.app.locked = lock
        self.log.tick(now)
        if self.reboot_at is not None and now >= self.reboot_at:
            self.app.state["restart"] = "maintenance" if self.maint else "command"
            self.app.state["run"] = 0  # a clean end: the next boot reports no supplyLoss
            self.app.save_state()
            self.log.flush(now)
            if self.maint:
                self.app.hal.maintenance()
            self.app.hal.reset(0)

    def _log_report(self, line, f):
        ev, now = f.get("ev"), self.app.now
        if ev == "alarm":
            st = f.get("state")
            self.log.add(now, "alarm", "%s %s" % (f.get("alarm"), st), st == "raised")
        elif ev == "switch":
            self.log.add(now, "switch", "%s %s%% by %s" % (f.get("lamp"), f.get("dim"),
                                                         self.app.sched.why))
        elif ev == "boot":
            self.log.add(now, "boot", "#%s fw %s restart %s" % (
                f.get("boots"), f.get("fw"), self.restart), True)
        elif ev == "selftest":
            self.log.add(now, ev, "%s %s" % (f.get("state"), "; ".join(f.get("found") or ())), True)
        elif ev in ("error", "photocell", "override"):
            self.log.add(now, ev, str(f.get("error") or f.get("state"))[:100], ev != "override")

    def selftest_done(self, result):
        self.app.rep.emit(self.app.now, "selftest", result)

    def _sched_event(self, kind, fields):
        self.app.rep.emit(self.app.now, kind, fields)

    def execute(self, line_or_name, payload=None, authed: "bool | None" = False):
        """Run one command; a dict reply with "cmd", and "error" when it failed.

        authed: True/False from a channel that authenticates itself (MQTT), or
        None for the UART, whose Login/Logout and idle timeout live here.
        """
        if payload is None:
            name, _, payload = line_or_name.strip().partition(" ")
        else:
            name = line_or_name
        name = name.strip().lower()
        payload = payload.strip()
        modname = TABLE.get(name)
        fn = name
        if modname is None:  # the error suggests the closest known name (cmd_tas.c_unknown)
            modname, fn, payload = "cmd_tas", "unknown", name
            name = name[:32]
        now = self.app.hal.session_time(self.app.now)  # login timers' clock (hal/contract.py)
        uart = authed is None  # the UART's own login; other channels say True/False
        ok = now < self.until if uart else authed is True
        lock = self.app.locked  # the PIN could not be read: nobody may change anything
        if lock:
            ok = False
            if name == "login":
                return {"cmd": name, "error": lock}
        if uart and ok:
            self.until = now + self.idle_s  # a login ends after idle_s without a command
        full = "lamppost." + modname
        gc.collect()  # a reply is built in RAM: start from an unfragmented heap
        loaded = ()
        try:
            loaded = list(sys.modules)
            mod = __import__(full, None, None, ("x",))
            d = getattr(mod, "c_" + fn)(self, payload, ok, uart)
        except NeedLogin:
            d = {"error": lock or "login required: Login <pin>"}
        except ValueError as e:
            d = {"error": str(e)}
        except Exception as e:  # a handler bug or a full heap must not stop the lamp
            d = {"error": "internal: %s %s" % (type(e).__name__, e)}
        finally:  # handlers (and what they imported: calib, selftest) are not kept
            pkg = sys.modules.get("lamppost")
            for m in list(sys.modules) if loaded else ():
                if m not in loaded:
                    sys.modules.pop(m)
                    try:
                        delattr(pkg, m[9:])
                    except (AttributeError, TypeError):
                        pass
        d["cmd"] = name
        return d


def parse_int(text, lo, hi, what):
    try:
        v = int(text)
    except ValueError:
        raise ValueError("%s must be a whole number %d-%d" % (what, lo, hi))
    if not lo <= v <= hi:
        raise ValueError("%s must be %d-%d" % (what, lo, hi))
    return v
