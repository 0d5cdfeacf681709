"""The console command set, callable from any channel: execute(line_or_name, payload, authed) -> dict.

The UART console passes whole lines and its auth.Session; the MQTT client can
pass (Command, payload, True/False) for `cmnd/<id>/<Command>`. Read commands
are open; anything that changes state needs a login (a Session, or authed
True). Every reply is a dict with "cmd"; failures carry "error" and change
nothing. The handlers live in cmd_read.py / cmd_set.py, imported for one
command and dropped after it, so they cost no heap while the lamp just runs
(about 12 KB on the 64-bit unix port). This module also feeds the event log
from every report and performs the deferred Reboot, via tick(now).
"""
import sys
from lamppost import store
from lamppost.auth import Auth, Session
from lamppost.eventlog import EventLog

# command -> module holding c_<command>(cmds, payload, ok, session)
TABLE = {"help": "cmd_read", "status": "cmd_read", "readings": "cmd_read", "alarms": "cmd_read",
         "log": "cmd_read", "config": "cmd_set", "calibrate": "cmd_set", "selftest": "cmd_set",
         "relay": "cmd_set", "dim": "cmd_set", "reboot": "cmd_set", "login": "cmd_set",
         "logout": "cmd_set"}


class NeedLogin(Exception):
    pass


class Commands:
    def __init__(self, app):
        self.app = app
        self.auth = Auth(lambda: app.cfg["pin"])
        self.session = Session(self.auth, app.cfg.get("login_s", 600))  # the UART's login
        self.log = EventLog()
        self.reboot_at = None
        st = app.state
        self.restart = st.pop("restart", None) or getattr(app.hal, "reset_cause", lambda: "power-on")()
        if self.restart != "power-on":
            store.save("state.json", st)
        app.rep.sinks.append(self._log_report)
        app.sched.out = self._sched_event

    def console(self, line):
        """The UART console's entry: one line, with the UART's own session."""
        return self.execute(line, None, self.session)

    def tick(self, now):
        """Once per main-loop tick: event-log flushing, a pending Reboot."""
        self.log.tick(now)
        if self.reboot_at is not None and now >= self.reboot_at:
            self.app.state["restart"] = "command"
            store.save("state.json", self.app.state)
            self.log.flush(now)
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
        elif ev in ("error", "selftest", "photocell", "override"):
            self.log.add(now, ev, line[line.find('"ev"'):][:120], ev != "override")

    def _sched_event(self, kind, fields):
        self.app.rep.emit(self.app.now, kind, fields)

    def execute(self, line_or_name, payload=None, authed=False):
        """Run one command; a dict reply with "cmd", and "error" when it failed."""
        if payload is None:
            name, _, payload = line_or_name.strip().partition(" ")
        else:
            name = line_or_name
        name = name.strip().lower()
        payload = payload.strip()
        modname = TABLE.get(name)
        if modname is None:
            return {"cmd": name[:32], "error": "unknown command, try Help"}
        now = self.app.now
        session = authed if isinstance(authed, Session) else None
        ok = session.ok(now) if session else authed is True
        if session:
            session.touch(now)
        full = "lamppost." + modname
        try:
            mod = __import__(full, None, None, ("x",))
            d = getattr(mod, "c_" + name)(self, payload, ok, session)
        except NeedLogin:
            d = {"error": "login required: Login <pin>"}
        except ValueError as e:
            d = {"error": str(e)}
        except Exception as e:  # a handler bug or a full heap must not stop the lamp
            d = {"error": "internal: %s %s" % (type(e).__name__, e)}
        finally:
            sys.modules.pop(full, None)  # handlers are loaded per command, not kept
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
