"""The console command set, callable from any channel: execute(line_or_name, payload, authed) -> dict.

The UART console passes whole lines and authed=None (its own login); the MQTT client can
pass (Command, payload, True/False) for `cmnd/<id>/<Command>`. Read commands
are open; anything that changes state needs a login (the UART's Login, or authed
True). Every reply is a dict with "cmd"; failures carry "error" and change
nothing. The handlers live in cmd_now/cmd_read/cmd_cfg/cmd_ctl/cmd_tas.py, imported for one
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


# what handlers may read of the app, as c.<name> (docs/architecture.md): the config, state and
# secret key names; the HAL; Schedule, alarm Engine, SunSwitch; this tick's Reading, Meter,
# Energy, Reporter; the tick's time, the lamp's commanded on/off and dim %; the uplink or None;
# the firmware version
VIEW = ("cfg", "state", "secret", "hal", "sched", "engine", "sun", "r", "meter", "energy", "rep",
        "now", "cmd_on", "dim", "net", "fw")


class Commands:
    """The command set, and the narrow interface its handlers (cmd_*.py) get of the app.

    A handler sees the app only through Commands' own members and the names in VIEW
    (docs/architecture.md, "The commands' interface"; tests/test_cmd_interface.py keeps
    cmd_*.py to them), never the App itself. VIEW is read through the app at each access
    (__getattr__): no stale copy of now, cmd_on, dim or net (made after the Commands), and
    no resident reference or property per name (references and properties for them cost ~0.6 KB more heap).
    """

    def __init__(self, app):
        self._app = app  # private: handlers use VIEW (tests/test_cmd_interface.py)
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

    def __getattr__(self, name):
        """c.<name> for a name in VIEW: the app's, read through it each time."""
        if name in VIEW:
            return getattr(self._app, name, None)
        raise AttributeError(name)

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
            if self._app.cfg.get("selftest_boot") and self.restart == "power-on":
                lock, self._app.locked = self._app.locked, None  # the post's own, not a user's
                self.execute("selftest", "", True)  # mains is back: prove relay, lamp, driver
                self._app.locked = lock
        self.log.tick(now)
        if self.reboot_at is not None and now >= self.reboot_at:
            self._app.state["restart"] = "maintenance" if self.maint else "command"
            self._app.state["run"] = 0  # a clean end: the next boot reports no supplyLoss
            self._app.save_state()
            self.log.flush(now)
            if self.maint:
                self._app.hal.maintenance()
            self._app.hal.reset(0)

    def _log_report(self, line, f):
        ev, now = f.get("ev"), self._app.now
        if ev == "alarm":
            st = f.get("state")
            self.log.add(now, "alarm", "%s %s" % (f.get("alarm"), st), st == "raised")
        elif ev == "switch":
            self.log.add(now, "switch", "%s %s%% by %s" % (f.get("lamp"), f.get("dim"),
                                                         self._app.sched.why))
        elif ev == "boot":
            self.log.add(now, "boot", "#%s fw %s restart %s" % (
                f.get("boots"), f.get("fw"), self.restart), True)
        elif ev == "selftest":
            self.log.add(now, ev, "%s %s" % (f.get("state"), "; ".join(f.get("found") or ())), True)
        elif ev in ("error", "photocell", "override"):
            self.log.add(now, ev, str(f.get("error") or f.get("state"))[:100], ev != "override")

    def selftest_done(self, result):
        self._app.rep.emit(self._app.now, "selftest", result)

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
        now = self._app.hal.session_time(self._app.now)  # login timers' clock (hal/contract.py)
        uart = authed is None  # the UART's own login; other channels say True/False
        ok = now < self.until if uart else authed is True
        lock = self._app.locked  # the PIN could not be read: nobody may change anything
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
